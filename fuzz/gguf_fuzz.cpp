// libFuzzer target over gguf::File::parse. Besides "no crash, no sanitizer
// report", it checks two properties of every input that parses:
//  - every tensor's bytes lie inside the input and match its shape and type;
//  - writing the file back out with gguf::Writer and parsing that gives the
//    same metadata and tensor bytes (the reader accepts all the writer makes).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/ggml_types.h"
#include "gguf/gguf.h"

namespace {

using namespace llmchain;
using namespace llmchain::gguf;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "gguf_fuzz: property violated: %s\n", what);
  std::abort();
}

void check_parsed(const File& f, const uint8_t* data, size_t size) {
  for (const auto& t : f.tensors()) {
    if (t.data < data || t.size_bytes > size || t.data + t.size_bytes > data + size) violated("tensor out of input");
    if (ggml_row_bytes(static_cast<GgmlType>(t.type), t.n_elements()) != t.size_bytes) violated("tensor size");
    if ((t.data - data) % f.alignment() != 0) violated("tensor alignment");
  }
  // Accessors must not crash whatever the types are.
  for (const auto& kv : f.metadata()) {
    const Value& v = kv.second;
    (void)format_value(v);
    (void)capture([&] { return v.as_float(); });
  }
  (void)capture([&] { return f.architecture(); });
  (void)capture([&] { return f.get_int("general.alignment", 0); });

  Writer w;
  w.copy_metadata(f);
  for (const auto& t : f.tensors()) w.add_tensor(t.name, t.type, t.shape, t.data, t.size_bytes);
  if (w.error()) violated(w.error()->what());
  std::vector<uint8_t> bytes = w.to_bytes();
  auto g = File::parse(MappedFile::borrow(bytes.data(), bytes.size()));
  if (!g.ok()) {
    std::fprintf(stderr, "%s\n", g.error().what());
    violated("writer output does not parse");
  }
  if ((*g)->metadata().size() != f.metadata().size() || (*g)->tensors().size() != f.tensors().size()) {
    violated("round trip changed counts");
  }
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    if ((*g)->metadata()[i].first != f.metadata()[i].first) violated("round trip changed a key");
    if (format_value((*g)->metadata()[i].second, 64, 256) != format_value(f.metadata()[i].second, 64, 256)) {
      violated("round trip changed a value");
    }
  }
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& a = f.tensors()[i];
    const TensorInfo& b = (*g)->tensors()[i];
    if (a.name != b.name || a.shape != b.shape || a.type != b.type || a.size_bytes != b.size_bytes ||
        std::memcmp(a.data, b.data, a.size_bytes) != 0) {
      violated("round trip changed a tensor");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = File::parse(MappedFile::borrow(data, size));
  if (f.ok()) {
    check_parsed(**f, data, size);
  } else if (std::strncmp(f.error().what(), "<memory>: ", 10) != 0) {
    violated("error does not name the file");
  }
  return 0;
}
