#pragma once
// Read-only memory map of a whole file. Move-only; unmaps on destruction.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"

namespace llmchain {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  static Expected<MappedFile> open(const std::string& path);
  // Wraps caller-owned memory (not unmapped); for tests and fuzzers.
  static MappedFile borrow(const void* data, size_t size);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = false;
  std::string path_;
};

}  // namespace llmchain
