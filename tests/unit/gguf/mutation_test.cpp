// Mutation test: the shared models truncated at many offsets, with bytes
// flipped at many (seeded) positions, and with every kind of count, length and
// type field set to hostile values. Each case must give an error or a valid
// file, never a crash, hang or out-of-bounds read (this also runs under
// ASan+UBSan: each case parses an exactly sized heap copy).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>

#include "base/ggml_types.h"
#include "gguf/gguf.h"

namespace llmchain::gguf {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every fixed-size field of a valid file, found by an independent walk.
struct Field {
  size_t pos;
  int bytes;  // 4 or 8
};

class FieldWalker {
 public:
  explicit FieldWalker(const std::vector<uint8_t>& b) : b_(b) {}

  std::vector<Field> walk() {
    pos_ = 8;
    uint64_t n_tensors = u64();
    uint64_t n_kv = u64();
    for (uint64_t i = 0; i < n_kv; ++i) {
      str();
      value(static_cast<uint32_t>(u32()));
    }
    for (uint64_t i = 0; i < n_tensors; ++i) {
      str();
      uint64_t n_dims = u32();
      for (uint64_t d = 0; d < n_dims; ++d) u64();
      u32();
      u64();
    }
    return fields_;
  }

 private:
  uint64_t get(int n) {
    uint64_t x = 0;
    std::memcpy(&x, b_.data() + pos_, n);
    fields_.push_back({pos_, n});
    pos_ += n;
    return x;
  }
  uint64_t u32() { return get(4); }
  uint64_t u64() { return get(8); }
  void str() { pos_ += u64(); }
  void value(uint32_t t) {
    if (t == 8) {
      str();
    } else if (t == 9) {
      uint32_t it = static_cast<uint32_t>(u32());
      uint64_t n = u64();
      for (uint64_t i = 0; i < n; ++i) value(it);
    } else {
      pos_ += value_type_size(static_cast<ValueType>(t));
    }
  }
  const std::vector<uint8_t>& b_;
  size_t pos_ = 0;
  std::vector<Field> fields_;
};

// Parses an exact copy of bytes; on success touches every tensor byte and value.
void check_case(const std::vector<uint8_t>& bytes, const char* what, size_t where) {
  auto f = File::parse(MappedFile::borrow(bytes.data(), bytes.size()));
  if (!f.ok()) {
    const std::string m = f.error().message();
    ASSERT_EQ(m.rfind("<memory>: ", 0), 0u) << what << " at " << where << ": " << m;
    ASSERT_GT(m.size(), 12u) << what << " at " << where;
    return;
  }
  uint64_t sum = 0;
  for (const auto& t : (*f)->tensors()) {
    ASSERT_GE(t.data, bytes.data());
    ASSERT_LE(t.data + t.size_bytes, bytes.data() + bytes.size());
    sum += t.data[0] + t.data[t.size_bytes - 1];
    ASSERT_EQ(ggml_row_bytes(static_cast<GgmlType>(t.type), t.n_elements()), t.size_bytes);
  }
  for (const auto& [k, v] : (*f)->metadata()) sum += format_value(v).size();
  EXPECT_GT(sum + 1, 0u);
}

class GgufMutation : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    bytes_ = read_file(std::string(LLMCHAIN_SHARED_DIR) + GetParam());
    ASSERT_GT(bytes_.size(), 1000u);
    auto f = File::parse(MappedFile::borrow(bytes_.data(), bytes_.size()));
    ASSERT_TRUE(f.ok()) << f.error().message();
    header_end_ = static_cast<size_t>((*f)->data_offset());
  }
  std::vector<uint8_t> bytes_;
  size_t header_end_ = 0;  // metadata and tensor infos end here; tensor data follows
};

TEST_P(GgufMutation, Truncation) {
  std::mt19937_64 rng(1234);
  std::vector<size_t> cuts;
  for (size_t i = 0; i < 128; ++i) cuts.push_back(i);
  for (int i = 0; i < 200; ++i) cuts.push_back(rng() % header_end_);
  for (int i = 0; i < 10; ++i) cuts.push_back(header_end_ + rng() % (bytes_.size() - header_end_));
  cuts.push_back(header_end_);
  cuts.push_back(bytes_.size() - 1);
  for (size_t n : cuts) {
    std::vector<uint8_t> cut(bytes_.begin(), bytes_.begin() + static_cast<ptrdiff_t>(n));
    check_case(cut, "truncated", n);
    auto f = File::parse(MappedFile::borrow(cut.data(), cut.size()));
    EXPECT_FALSE(f.ok()) << "a file truncated at " << n << " parsed";
  }
}

TEST_P(GgufMutation, ByteFlips) {
  std::mt19937_64 rng(42);
  std::vector<uint8_t> work = bytes_;
  for (int i = 0; i < 600; ++i) {
    size_t pos = rng() % header_end_;
    int n = 1 + static_cast<int>(rng() % 4);
    std::vector<std::pair<size_t, uint8_t>> saved;
    for (int k = 0; k < n && pos + k < work.size(); ++k) {
      saved.emplace_back(pos + k, work[pos + k]);
      work[pos + k] = static_cast<uint8_t>(rng() % 3 == 0 ? 0xff : rng());
    }
    check_case(work, "flip", pos);
    for (auto [p, b] : saved) work[p] = b;
  }
}

TEST_P(GgufMutation, HostileFieldValues) {
  std::vector<Field> fields = FieldWalker(bytes_).walk();
  ASSERT_GT(fields.size(), 100u);
  std::mt19937_64 rng(7);
  std::shuffle(fields.begin() + 2, fields.end(), rng);
  fields.resize(std::min<size_t>(fields.size(), 250));  // both header counts plus a sample
  std::vector<uint8_t> work = bytes_;
  const uint64_t size = bytes_.size();
  for (const Field& fd : fields) {
    uint64_t orig = 0;
    std::memcpy(&orig, work.data() + fd.pos, fd.bytes);
    std::vector<uint64_t> values = {0, 1, orig + 1, orig - 1, orig * 2};
    if (fd.bytes == 8) {
      for (uint64_t v : {uint64_t{1} << 63, ~uint64_t{0}, uint64_t{1} << 32, size, size + 1, size / 8}) {
        values.push_back(v);
      }
    } else {
      for (uint64_t v : {5ull, 9ull, 13ull, 0xffffffffull, 0x80000000ull}) values.push_back(v);
    }
    for (uint64_t v : values) {
      std::memcpy(work.data() + fd.pos, &v, fd.bytes);
      check_case(work, "field", fd.pos);
    }
    std::memcpy(work.data() + fd.pos, &orig, fd.bytes);
  }
}

INSTANTIATE_TEST_SUITE_P(SharedModels, GgufMutation,
                         ::testing::Values("/models/stories260K.gguf", "/models/TinyStories-656K-Q8_0.gguf"),
                         [](const auto& info) { return info.index == 0 ? "stories260K" : "TinyStoriesQ8"; });

}  // namespace
}  // namespace llmchain::gguf
