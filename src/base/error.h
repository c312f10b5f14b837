#pragma once
// Errors are values at module boundaries: public functions that can fail on
// bad input return Expected<T>. Inside a module, code may throw llmchain::Error
// and convert it at the public boundary; exceptions never cross a module's API.
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace llmchain {

enum class ErrorCode {
  kInvalidArgument,  // bad request / bad config / bad user input
  kInvalidFile,      // corrupt, truncated or hostile file
  kNotFound,
  kUnsupported,  // valid but not implemented (unknown arch, schema keyword...)
  kIo,
  kResourceExhausted,  // limits, queue full, context full
  kCancelled,
  kUnavailable,  // upstream down, not ready
  kDeadlineExceeded,
  kInternal,
  kOutputParseFailed,  // the model's output did not parse (the model failed, not the caller)
  kUpstreamBroken,     // a remote stage failed after its answer had started (not retried)
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}
  ErrorCode code() const { return code_; }
  std::string message() const { return what(); }

 private:
  ErrorCode code_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(code, fmt::format(f, std::forward<Args>(args)...));
}

// Minimal std::expected stand-in (g++ 12 has no <expected>).
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error err) : v_(std::move(err)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    if (!ok()) throw std::get<1>(v_);
    return std::get<0>(v_);
  }
  const T& value() const& {
    if (!ok()) throw std::get<1>(v_);
    return std::get<0>(v_);
  }
  T&& value() && {
    if (!ok()) throw std::get<1>(v_);
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Runs fn (which may throw llmchain::Error) and returns its result as Expected.
template <typename Fn>
auto capture(Fn&& fn) -> Expected<decltype(fn())> {
  try {
    return fn();
  } catch (const Error& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kResourceExhausted, "out of memory");
  }
}

}  // namespace llmchain
