// Writer: round trip through bytes and through a file, atomic write, and
// rejection of invalid input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "base/ggml_types.h"
#include "gguf/gguf.h"

namespace llmchain::gguf {
namespace {

std::shared_ptr<File> parse_bytes(const std::vector<uint8_t>& bytes) {
  auto f = File::parse(MappedFile::borrow(bytes.data(), bytes.size()));
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message());
  return f.ok() ? *f : nullptr;
}

Writer sample_writer(std::vector<float>& w, std::vector<uint8_t>& q) {
  Writer wr;
  wr.set_string("general.architecture", "llama");
  wr.set_u32("llama.block_count", 2);
  wr.set_i32("neg", -7);
  wr.set_u64("big", 1ull << 40);
  wr.set_i64("bigneg", -(1ll << 40));
  wr.set_f32("eps", 1e-5f);
  wr.set_bool("flag", true);
  wr.set("u8", Value::of_uint(ValueType::kUint8, 255));
  wr.set("i8", Value::of_int(ValueType::kInt8, -128));
  wr.set("u16", Value::of_uint(ValueType::kUint16, 65535));
  wr.set("i16", Value::of_int(ValueType::kInt16, -32768));
  wr.set("f64", Value::of_float(ValueType::kFloat64, 3.141592653589793));
  wr.set_string_array("tokens", {"a", "", std::string("x\0y", 3)});
  wr.set_f32_array("scores", {0.5f, -1.0f});
  wr.set_i32_array("types", {1, 2, 3});
  Array inner1{ValueType::kUint8, {Value::of_uint(ValueType::kUint8, 1)}};
  Array inner2{ValueType::kUint8, {}};
  Array outer{ValueType::kArray, {Value::of_array(inner1), Value::of_array(inner2)}};
  wr.set("nested", Value::of_array(outer));
  w.resize(64 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.25f;
  wr.add_tensor("w", static_cast<uint32_t>(GgmlType::F32), {64, 3}, w.data(), w.size() * 4);
  q.resize(34 * 2 * 5);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i * 7);
  wr.add_tensor("q", static_cast<uint32_t>(GgmlType::Q8_0), {64, 5}, q.data(), q.size());
  return wr;
}

void expect_sample(const File& f, const std::vector<float>& w, const std::vector<uint8_t>& q) {
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.architecture(), "llama");
  EXPECT_EQ(f.get_int("llama.block_count", 0), 2);
  EXPECT_EQ(f.find("llama.block_count")->type, ValueType::kUint32);
  EXPECT_EQ(f.get_int("neg", 0), -7);
  EXPECT_EQ(f.find("big")->as_uint(), 1ull << 40);
  EXPECT_EQ(f.get_int("bigneg", 0), -(1ll << 40));
  EXPECT_EQ(f.get_float("eps", 0), static_cast<double>(1e-5f));
  EXPECT_TRUE(f.get_bool("flag", false));
  EXPECT_EQ(f.get_int("u8", 0), 255);
  EXPECT_EQ(f.get_int("i8", 0), -128);
  EXPECT_EQ(f.get_int("u16", 0), 65535);
  EXPECT_EQ(f.get_int("i16", 0), -32768);
  EXPECT_EQ(f.get_float("f64", 0), 3.141592653589793);
  EXPECT_EQ(f.find("tokens")->as_string_array(), (std::vector<std::string>{"a", "", std::string("x\0y", 3)}));
  EXPECT_EQ(f.find("scores")->as_float_array(), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(f.find("types")->as_int_array(), (std::vector<int64_t>{1, 2, 3}));
  const Array& nested = f.find("nested")->as_array();
  ASSERT_EQ(nested.type, ValueType::kArray);
  ASSERT_EQ(nested.items.size(), 2u);
  EXPECT_EQ(nested.items[0].as_int_array(), (std::vector<int64_t>{1}));
  EXPECT_TRUE(nested.items[1].as_array().items.empty());
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo* tw = f.tensor("w");
  ASSERT_TRUE(tw);
  EXPECT_EQ(tw->shape, (std::vector<int64_t>{64, 3}));
  ASSERT_EQ(tw->size_bytes, w.size() * 4);
  EXPECT_EQ(std::memcmp(tw->data, w.data(), tw->size_bytes), 0);
  const TensorInfo* tq = f.tensor("q");
  ASSERT_TRUE(tq);
  EXPECT_EQ(tq->type, static_cast<uint32_t>(GgmlType::Q8_0));
  ASSERT_EQ(tq->size_bytes, q.size());
  EXPECT_EQ(std::memcmp(tq->data, q.data(), q.size()), 0);
  EXPECT_EQ(tq->offset % f.alignment(), 0u);
  EXPECT_EQ(f.data_offset() % f.alignment(), 0u);
}

TEST(GgufWriter, RoundTripBytes) {
  std::vector<float> w;
  std::vector<uint8_t> q;
  Writer wr = sample_writer(w, q);
  ASSERT_FALSE(wr.error()) << wr.error()->what();
  auto bytes = wr.to_bytes();
  auto f = parse_bytes(bytes);
  ASSERT_TRUE(f);
  expect_sample(*f, w, q);
  // Metadata comes back in insertion order.
  EXPECT_EQ(f->metadata().front().first, "general.architecture");
  EXPECT_EQ(f->metadata().back().first, "nested");
}

TEST(GgufWriter, RoundTripFileIsAtomic) {
  std::vector<float> w;
  std::vector<uint8_t> q;
  Writer wr = sample_writer(w, q);
  auto dir = std::filesystem::temp_directory_path() / ("gguf_writer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "out.gguf").string();
  auto r = wr.write(path);
  ASSERT_TRUE(r.ok()) << r.error().message();
  // Only the final file remains (no temp file left behind).
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  EXPECT_EQ(n, 1);
  {
    auto f = File::open(path);
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ((*f)->path(), path);
    expect_sample(**f, w, q);
  }
  // Writing into a missing directory fails with an error naming the path.
  auto bad = wr.write((dir / "missing" / "x.gguf").string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("x.gguf"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(GgufWriter, RewriteSharedModelIsIdentical) {
  auto src = File::open(std::string(LLMCHAIN_SHARED_DIR) + "/models/TinyStories-656K-Q8_0.gguf");
  ASSERT_TRUE(src.ok()) << src.error().message();
  Writer wr;
  wr.copy_metadata(**src);
  for (const auto& t : (*src)->tensors()) wr.add_tensor(t.name, t.type, t.shape, t.data, t.size_bytes);
  ASSERT_FALSE(wr.error());
  auto bytes = wr.to_bytes();
  auto f = parse_bytes(bytes);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->metadata().size(), (*src)->metadata().size());
  for (size_t i = 0; i < f->metadata().size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, (*src)->metadata()[i].first);
    EXPECT_EQ(format_value(f->metadata()[i].second, 1u << 20, 1u << 20),
              format_value((*src)->metadata()[i].second, 1u << 20, 1u << 20));
  }
  ASSERT_EQ(f->tensors().size(), (*src)->tensors().size());
  for (const auto& t : (*src)->tensors()) {
    const TensorInfo* u = f->tensor(t.name);
    ASSERT_TRUE(u) << t.name;
    EXPECT_EQ(u->shape, t.shape);
    EXPECT_EQ(u->type, t.type);
    ASSERT_EQ(u->size_bytes, t.size_bytes);
    EXPECT_EQ(std::memcmp(u->data, t.data, t.size_bytes), 0) << t.name;
  }
}

TEST(GgufWriter, CustomAlignment) {
  Writer wr;
  wr.set_alignment(64);
  float x[3] = {1, 2, 3};
  wr.add_tensor("a", 0, {3}, x, sizeof(x));
  wr.add_tensor("b", 0, {3}, x, sizeof(x));
  auto bytes = wr.to_bytes();
  auto f = parse_bytes(bytes);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  EXPECT_EQ(f->tensor("b")->offset, 64u);
}

TEST(GgufWriter, SetReplacesKeepingPosition) {
  Writer wr;
  wr.set_u32("a", 1);
  wr.set_u32("b", 2);
  wr.set_string("a", "x");
  auto f = parse_bytes(wr.to_bytes());
  ASSERT_TRUE(f);
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->get_string("a"), "x");
}

TEST(GgufWriter, RejectsInvalidInput) {
  float x[64] = {};
  auto expect_error = [](const Writer& wr, const char* needle) {
    ASSERT_TRUE(wr.error());
    EXPECT_NE(std::string(wr.error()->what()).find(needle), std::string::npos) << wr.error()->what();
    auto r = wr.write("/tmp/never_written.gguf");
    EXPECT_FALSE(r.ok());
    EXPECT_THROW((void)wr.to_bytes(), Error);
  };
  {
    Writer wr;
    wr.add_tensor("t", 0, {4}, x, 12);  // needs 16 bytes
    expect_error(wr, "need 16");
  }
  {
    Writer wr;
    wr.add_tensor("t", 0, {4}, x, 16);
    wr.add_tensor("t", 0, {4}, x, 16);
    expect_error(wr, "duplicate");
  }
  {
    Writer wr;
    wr.add_tensor("t", 8, {33}, x, 34);  // Q8_0 rows are multiples of 32
    expect_error(wr, "multiple");
  }
  {
    Writer wr;
    wr.add_tensor("t", 5, {32}, x, 18);  // 5 is not a ggml type
    expect_error(wr, "unknown ggml type");
  }
  {
    Writer wr;
    wr.add_tensor("t", 0, {1, 1, 1, 1, 1}, x, 4);
    expect_error(wr, "dimensions");
  }
  {
    Writer wr;
    wr.set_alignment(48);
    expect_error(wr, "power of two");
  }
  {
    Writer wr;
    Value v;
    v.type = ValueType::kString;  // but holds a uint64_t
    wr.set("k", v);
    expect_error(wr, "must hold");
  }
  {
    Writer wr;
    Value v;
    v.type = ValueType::kUint8;
    v.v = uint64_t{300};  // out of range for uint8
    wr.set("k", v);
    expect_error(wr, "does not fit");
  }
  {
    Writer wr;
    Value v;
    v.type = ValueType::kFloat32;
    v.v = 1e300;
    wr.set("k", v);
    expect_error(wr, "float32");
  }
  EXPECT_THROW(Value::of_float(ValueType::kFloat32, 1e300), Error);
  EXPECT_THROW(Value::of_uint(ValueType::kUint8, 256), Error);
  EXPECT_THROW(Value::of_int(ValueType::kInt16, 40000), Error);
  EXPECT_THROW(Value::of_array(Array{ValueType::kUint8, {Value::of_string("x")}}), Error);
}

TEST(GgufValue, AccessorsAndFormat) {
  Value u = Value::of_uint(ValueType::kUint64, ~0ull);
  EXPECT_THROW((void)u.as_int(), Error);
  EXPECT_EQ(u.as_uint(), ~0ull);
  Value n = Value::of_int(ValueType::kInt32, -1);
  EXPECT_THROW((void)n.as_uint(), Error);
  EXPECT_EQ(n.as_float(), -1.0);
  EXPECT_THROW((void)n.as_string(), Error);
  EXPECT_THROW((void)Value::of_string("x").as_int(), Error);
  EXPECT_THROW((void)Value::of_bool(true).as_float(), Error);
  EXPECT_EQ(format_value(Value::of_string("a\"b\n")), "\"a\\\"b\\n\"");
  Array a{ValueType::kInt32, {}};
  for (int i = 0; i < 10; ++i) a.items.push_back(Value::of_int(ValueType::kInt32, i));
  EXPECT_EQ(format_value(Value::of_array(a), 3), "[0, 1, 2, ... (7 more)]");
  EXPECT_STREQ(value_type_name(ValueType::kFloat64), "float64");
  // float64 values past the float range narrow to infinity (no undefined conversion).
  Array big{ValueType::kFloat64,
            {Value::of_float(ValueType::kFloat64, 1e300), Value::of_float(ValueType::kFloat64, -1e300)}};
  auto fl = Value::of_array(big).as_float_array();
  EXPECT_TRUE(std::isinf(fl[0]) && fl[0] > 0);
  EXPECT_TRUE(std::isinf(fl[1]) && fl[1] < 0);
  EXPECT_EQ(format_value(Value::of_float(ValueType::kFloat32, 1e-5)), "1e-05");
}

}  // namespace
}  // namespace llmchain::gguf
