#pragma once
// Hand-assembled GGUF bytes for tests that need files the Writer refuses to make.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gguf/gguf.h"

namespace llmchain::gguf::testing {

struct RawGguf {
  std::vector<uint8_t> b;

  template <typename T>
  RawGguf& put(T x) {
    size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &x, sizeof(T));
    return *this;
  }
  RawGguf& u8(uint8_t x) { return put(x); }
  RawGguf& u32(uint32_t x) { return put(x); }
  RawGguf& u64(uint64_t x) { return put(x); }
  RawGguf& str(const std::string& s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  RawGguf& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  RawGguf& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  // One tensor info; ggml type 0 (F32) unless given.
  RawGguf& tensor(const std::string& name, std::vector<uint64_t> shape, uint64_t offset, uint32_t type = 0) {
    str(name).u32(static_cast<uint32_t>(shape.size()));
    for (uint64_t d : shape) u64(d);
    return u32(type).u64(offset);
  }
  RawGguf& pad(size_t alignment = 32) {
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  RawGguf& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
  Expected<std::shared_ptr<File>> parse() const { return File::parse(MappedFile::borrow(b.data(), b.size())); }
};

}  // namespace llmchain::gguf::testing
