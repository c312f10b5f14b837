#pragma once
// Lazy<T>: a value built on first use. The first caller runs the builder while concurrent first
// callers wait for that one build; a failed build throws its Error to the caller and is tried
// again by the next. Thread-safe.
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

#include "base/error.h"

namespace llmchain {

template <typename T>
class Lazy {
 public:
  using Builder = std::function<Expected<T>()>;
  explicit Lazy(Builder build) : build_(std::move(build)) {}

  bool ready() const {
    std::lock_guard<std::mutex> lock(mu_);
    return value_.has_value();
  }
  // The value, built now if needed; throws the builder's Error.
  const T& get() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (!value_) {
      auto built = build_();
      if (!built.ok()) throw built.error();
      value_ = std::move(*built);
    }
    return *value_;
  }

 private:
  Builder build_;
  mutable std::mutex mu_;  // held while building
  mutable std::optional<T> value_;
};

}  // namespace llmchain
