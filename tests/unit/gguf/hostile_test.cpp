// Hand-made corrupt and hostile files: each gives a clear error naming the item
// and the problem, and nothing huge is allocated.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "unit/gguf/raw_gguf.h"

namespace llmchain::gguf {
namespace {

using testing::RawGguf;

void expect_error(const RawGguf& raw, ErrorCode code, const std::vector<std::string>& needles) {
  auto f = raw.parse();
  ASSERT_FALSE(f.ok()) << "parsed a bad file";
  EXPECT_EQ(f.error().code(), code) << f.error().message();
  std::string m = f.error().message();
  EXPECT_EQ(m.rfind("<memory>: ", 0), 0u) << m;
  for (const auto& n : needles) EXPECT_NE(m.find(n), std::string::npos) << "missing '" << n << "' in: " << m;
}

TEST(GgufHostile, MinimalFilesParse) {
  RawGguf v3;
  v3.header(3, 0, 0);
  ASSERT_TRUE(v3.parse().ok());
  RawGguf v2;
  v2.header(2, 1, 1).kv_u32("a", 7).tensor("t", {8}, 0).pad().zeros(32);
  auto f = v2.parse();
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ((*f)->get_int("a", 0), 7);
  EXPECT_EQ((*f)->tensor("t")->size_bytes, 32u);
}

TEST(GgufHostile, HeaderErrors) {
  expect_error(RawGguf{}, ErrorCode::kInvalidFile, {"not a GGUF file"});
  expect_error(RawGguf{{'G', 'G', 'U'}}, ErrorCode::kInvalidFile, {"not a GGUF file"});
  expect_error(RawGguf{{'G', 'G', 'M', 'L', 0, 0, 0, 0}}, ErrorCode::kInvalidFile, {"not a GGUF file", "magic"});
  RawGguf v1;
  v1.header(1, 0, 0);
  expect_error(v1, ErrorCode::kUnsupported, {"unsupported GGUF version 1"});
  RawGguf v4;
  v4.header(4, 0, 0);
  expect_error(v4, ErrorCode::kUnsupported, {"version 4"});
  RawGguf be;
  be.header(0x03000000, 0, 0);
  expect_error(be, ErrorCode::kUnsupported, {"big-endian"});
  RawGguf truncated;
  truncated.header(3, 0, 0);
  truncated.b.resize(20);
  expect_error(truncated, ErrorCode::kInvalidFile, {"metadata count", "truncated"});
}

TEST(GgufHostile, HugeCounts) {
  RawGguf kv;
  kv.header(3, 0, uint64_t{1} << 63);
  expect_error(kv, ErrorCode::kInvalidFile, {"metadata count 9223372036854775808"});
  RawGguf tensors;
  tensors.header(3, ~uint64_t{0}, 0);
  expect_error(tensors, ErrorCode::kInvalidFile, {"tensor count"});
  for (uint32_t type : {0u, 8u, 9u, 10u}) {  // uint8, string, array, uint64
    RawGguf arr;
    arr.header(3, 0, 1).str("k").u32(9).u32(type).u64(uint64_t{1} << 63).zeros(64);
    expect_error(arr, ErrorCode::kInvalidFile, {"key 'k'", "9223372036854775808 items"});
  }
  // More items than the metadata limit, with the bytes present.
  RawGguf many;
  many.header(3, 0, 1).str("k").u32(9).u32(0).u64(kMaxMetadataItems + 1).zeros(kMaxMetadataItems + 1);
  expect_error(many, ErrorCode::kResourceExhausted, {"key 'k'", "limit"});
}

TEST(GgufHostile, StringLengths) {
  RawGguf key;
  key.header(3, 0, 1).u64(1000).u8('a').zeros(20);
  expect_error(key, ErrorCode::kInvalidFile, {"metadata #0", "key", "length 1000"});
  RawGguf val;
  val.header(3, 0, 1).str("name").u32(8).u64(~uint64_t{0});
  expect_error(val, ErrorCode::kInvalidFile, {"key 'name'", "string", "18446744073709551615"});
  RawGguf in_array;
  in_array.header(3, 0, 1).str("toks").u32(9).u32(8).u64(2).str("ok").u64(99);
  expect_error(in_array, ErrorCode::kInvalidFile, {"key 'toks'", "length 99"});
  RawGguf name;
  name.header(3, 1, 0).u64(uint64_t{1} << 40).zeros(30);
  expect_error(name, ErrorCode::kInvalidFile, {"tensor #0", "tensor name"});
}

TEST(GgufHostile, BadValues) {
  RawGguf type;
  type.header(3, 0, 1).str("k").u32(13).u32(0);
  expect_error(type, ErrorCode::kInvalidFile, {"key 'k'", "unknown value type 13"});
  RawGguf item_type;
  item_type.header(3, 0, 1).str("k").u32(9).u32(77).u64(0);
  expect_error(item_type, ErrorCode::kInvalidFile, {"unknown array item type 77"});
  RawGguf b;
  b.header(3, 0, 1).str("k").u32(7).u8(2);
  expect_error(b, ErrorCode::kInvalidFile, {"key 'k'", "bool", "must be 0 or 1"});
  RawGguf dup;
  dup.header(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2);
  expect_error(dup, ErrorCode::kInvalidFile, {"key 'k'", "duplicate key"});
  RawGguf deep;
  deep.header(3, 0, 1).str("k").u32(9);
  for (int i = 0; i < 100000; ++i) deep.u32(9).u64(1);
  deep.u32(0).u64(0);
  expect_error(deep, ErrorCode::kInvalidFile, {"key 'k'", "nested deeper"});
  RawGguf ok_nested;
  ok_nested.header(3, 0, 1).str("k").u32(9);
  for (int i = 0; i < kMaxArrayDepth - 1; ++i) ok_nested.u32(9).u64(1);
  ok_nested.u32(0).u64(1).u8(5);
  auto f = ok_nested.parse();
  ASSERT_TRUE(f.ok()) << f.error().message();
}

TEST(GgufHostile, Alignment) {
  for (uint32_t a : {0u, 3u, 48u}) {
    RawGguf r;
    r.header(3, 0, 1).kv_u32("general.alignment", a);
    expect_error(r, ErrorCode::kInvalidFile, {"general.alignment", "power of two"});
  }
  RawGguf s;
  s.header(3, 0, 1).str("general.alignment").u32(8).str("32");
  expect_error(s, ErrorCode::kInvalidFile, {"general.alignment", "integer"});
  RawGguf ok;
  ok.header(3, 1, 1).kv_u32("general.alignment", 64).tensor("t", {16}, 0).pad(64).zeros(64);
  auto f = ok.parse();
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
}

TEST(GgufHostile, TensorInfos) {
  auto one = [](std::vector<uint64_t> shape, uint64_t offset, uint32_t type, size_t data) {
    RawGguf r;
    r.header(3, 1, 0).tensor("blk.0.attn_q.weight", std::move(shape), offset, type).pad().zeros(data);
    return r;
  };
  expect_error(one({1, 1, 1, 1, 1}, 0, 0, 4), ErrorCode::kInvalidFile, {"tensor 'blk.0.attn_q.weight'", "n_dims is 5"});
  expect_error(one({}, 0, 0, 4), ErrorCode::kInvalidFile, {"n_dims is 0"});
  expect_error(one({4, 0}, 0, 0, 64), ErrorCode::kInvalidFile, {"dimension 1 is 0"});
  expect_error(one({~uint64_t{0}}, 0, 0, 64), ErrorCode::kInvalidFile, {"dimension 0"});
  expect_error(one({uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0, 64), ErrorCode::kInvalidFile, {"overflows"});
  expect_error(one({uint64_t{1} << 62}, 0, 28, 64), ErrorCode::kInvalidFile, {"byte size", "overflows"});
  expect_error(one({32}, 0, 4, 64), ErrorCode::kInvalidFile, {"unknown ggml type 4"});
  expect_error(one({33}, 0, 8, 64), ErrorCode::kInvalidFile, {"row length 33", "Q8_0", "32"});
  expect_error(one({8}, 16, 0, 64), ErrorCode::kInvalidFile, {"offset 16", "alignment 32"});
  // The header is 24 + 8+19 + 4 + 8 + 4 + 8 = 75 bytes, so data starts at 96; file size 96 + 64.
  expect_error(one({32}, 0, 0, 64), ErrorCode::kInvalidFile,
               {"tensor 'blk.0.attn_q.weight': data [96, 224) extends past end of file (size 160)"});
  expect_error(one({8}, ~uint64_t{0} - 31, 0, 64), ErrorCode::kInvalidFile, {"extends past end of file"});
  RawGguf no_data;
  no_data.header(3, 1, 0).tensor("t", {8}, 0);
  expect_error(no_data, ErrorCode::kInvalidFile, {"data section starts at 64, past end of file"});

  RawGguf dup;
  dup.header(3, 2, 0).tensor("t", {8}, 0).tensor("t", {8}, 32).pad().zeros(64);
  expect_error(dup, ErrorCode::kInvalidFile, {"tensor 't'", "duplicate tensor name"});
  RawGguf overlap;
  overlap.header(3, 2, 0).tensor("a", {16}, 0).tensor("b", {8}, 32).pad().zeros(96);
  expect_error(overlap, ErrorCode::kInvalidFile, {"tensor 'b'", "overlaps tensor 'a' [0, 64)"});
  RawGguf ok;
  ok.header(3, 2, 0).tensor("a", {16}, 32).tensor("b", {8}, 0).pad().zeros(96);
  auto f = ok.parse();
  ASSERT_TRUE(f.ok()) << f.error().message();
}

// Many tiny entries: parsing and rewriting stay linear-ish (no quadratic lookups).
TEST(GgufHostile, ManyEntriesStayFast) {
  constexpr int kKeys = 50000, kTensors = 20000;
  RawGguf r;
  r.header(3, kTensors, kKeys);
  for (int i = 0; i < kKeys; ++i) r.str(fmt::format("k{}", i)).u32(0).u8(1);
  for (int i = 0; i < kTensors; ++i) r.tensor(fmt::format("t{}", i), {1}, uint64_t{32} * i);
  r.pad().zeros(size_t{32} * kTensors);
  auto f = r.parse();
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->metadata().size(), size_t{kKeys});
  EXPECT_EQ((*f)->tensors().size(), size_t{kTensors});
  EXPECT_TRUE((*f)->tensor("t19999"));
  Writer w;
  w.copy_metadata(**f);
  for (const auto& t : (*f)->tensors()) w.add_tensor(t.name, t.type, t.shape, t.data, t.size_bytes);
  ASSERT_FALSE(w.error());
  auto bytes = w.to_bytes();
  EXPECT_EQ(bytes.size(), r.b.size());
}

}  // namespace
}  // namespace llmchain::gguf
