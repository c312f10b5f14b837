#include "base/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace llmchain {

MappedFile::~MappedFile() {
  if (owned_ && data_ && size_) munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      owned_(std::exchange(o.owned_, false)),
      path_(std::move(o.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    this->~MappedFile();
    new (this) MappedFile(std::move(o));
  }
  return *this;
}

Expected<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                 fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error(ErrorCode::kIo, fmt::format("{}: cannot stat: {}", path, std::strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(ErrorCode::kInvalidFile, fmt::format("{}: not a regular file", path));
  }
  MappedFile f;
  f.path_ = path;
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = mmap(nullptr, f.size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return Error(ErrorCode::kIo, fmt::format("{}: mmap failed: {}", path, std::strerror(e)));
    }
    f.data_ = static_cast<const uint8_t*>(p);
    f.owned_ = true;
  }
  ::close(fd);
  return f;
}

MappedFile MappedFile::borrow(const void* data, size_t size) {
  MappedFile f;
  f.data_ = static_cast<const uint8_t*>(data);
  f.size_ = size;
  f.owned_ = false;
  f.path_ = "<memory>";
  return f;
}

}  // namespace llmchain
