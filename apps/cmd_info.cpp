// `llmchain info MODEL [--json]`: what a GGUF file holds: architecture,
// hyper-parameters (<arch>.* keys), tokenizer summary, every other metadata
// key (long arrays cut), and the tensor table with totals.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "base/ggml_types.h"
#include "gguf/gguf.h"
#include "model/model.h"

namespace llmchain::apps {
namespace {

using Json = nlohmann::ordered_json;  // keeps keys in file order
using gguf::Value;
using gguf::ValueType;

struct InfoOptions {
  std::string model;
  bool json = false;
  size_t max_array = 8;  // array items shown; 0 = all
};

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string shape_string(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

bool is_hparam(const std::string& key, const std::string& arch) {
  return !arch.empty() && key.size() > arch.size() && key.compare(0, arch.size(), arch) == 0 && key[arch.size()] == '.';
}

// Token id with its text, e.g. `1 "<s>"`, when the vocabulary has it.
std::string token_label(const gguf::File& f, const char* key, const std::vector<std::string>& tokens) {
  const Value* v = f.find(key);
  if (!v || !v->is_integer()) return "-";
  uint64_t id = v->as_uint();
  if (id < tokens.size()) return fmt::format("{} {}", id, gguf::format_value(Value::of_string(tokens[id])));
  return fmt::format("{}", id);
}

const char* kSpecialTokens[][2] = {
    {"bos", "tokenizer.ggml.bos_token_id"},       {"eos", "tokenizer.ggml.eos_token_id"},
    {"unk", "tokenizer.ggml.unknown_token_id"},   {"pad", "tokenizer.ggml.padding_token_id"},
    {"sep", "tokenizer.ggml.separator_token_id"}, {"eot", "tokenizer.ggml.eot_token_id"},
};

size_t array_len(const gguf::File& f, const char* key) {
  const Value* v = f.find(key);
  return v && v->type == ValueType::kArray ? v->as_array().items.size() : 0;
}

std::vector<std::string> vocab(const gguf::File& f) {
  const Value* v = f.find("tokenizer.ggml.tokens");
  if (!v || v->type != ValueType::kArray || v->as_array().type != ValueType::kString) return {};
  return v->as_string_array();
}

struct Totals {
  uint64_t bytes = 0;
  int64_t elements = 0;
  std::map<std::string, std::pair<int, uint64_t>> by_type;  // type -> (count, bytes)
};

Totals totals(const gguf::File& f) {
  Totals t;
  for (const auto& ti : f.tensors()) {
    t.bytes += ti.size_bytes;
    t.elements += ti.n_elements();
    auto& e = t.by_type[ggml_type_name(ti.type)];
    e.first++;
    e.second += ti.size_bytes;
  }
  return t;
}

// ---- text ----

void print_text(const gguf::File& f, const InfoOptions& o) {
  size_t max_items = o.max_array ? o.max_array : SIZE_MAX;
  size_t max_string = o.max_array ? 80 : SIZE_MAX;
  const std::string arch = f.architecture();
  fmt::print("file:         {}\n", f.path());
  fmt::print("size:         {} ({} bytes)\n", human_bytes(f.file_size()), f.file_size());
  fmt::print("format:       GGUF v{}, alignment {}, data offset {}, {} metadata keys, {} tensors\n", f.version(),
             f.alignment(), f.data_offset(), f.metadata().size(), f.tensors().size());
  fmt::print("architecture: {}\n", arch.empty() ? "(none)" : arch);
  if (f.has("general.name")) fmt::print("name:         {}\n", f.get_string("general.name"));

  fmt::print("\nhyper-parameters:\n");
  size_t width = 0;
  for (const auto& [k, v] : f.metadata()) width = std::max(width, k.size());
  int n_hparams = 0;
  for (const auto& [k, v] : f.metadata()) {
    if (!is_hparam(k, arch)) continue;
    std::string note;  // the pooling's name (llama.cpp's numbering)
    if (k == arch + ".pooling_type" && v.is_integer() && v.as_int() >= 0 && v.as_int() <= 4)
      note = fmt::format(" ({})", model::to_string(static_cast<model::Pooling>(v.as_int())));
    fmt::print("  {:<{}} = {}{}\n", k, width, gguf::format_value(v, max_items, max_string), note);
    ++n_hparams;
  }
  if (!n_hparams) fmt::print("  (none)\n");

  fmt::print("\ntokenizer:\n");
  if (!f.has("tokenizer.ggml.model")) {
    fmt::print("  (none)\n");
  } else {
    auto tokens = vocab(f);
    fmt::print("  model: {}, pre: {}, vocab: {} tokens, merges: {}\n", f.get_string("tokenizer.ggml.model"),
               f.get_string("tokenizer.ggml.pre", "-"), array_len(f, "tokenizer.ggml.tokens"),
               array_len(f, "tokenizer.ggml.merges"));
    std::string specials;
    for (const auto& [label, key] : kSpecialTokens) {
      if (f.has(key))
        specials += fmt::format("{}{}: {}", specials.empty() ? "" : ", ", label, token_label(f, key, tokens));
    }
    if (!specials.empty()) fmt::print("  {}\n", specials);
  }

  fmt::print("\nmetadata:\n");
  for (const auto& [k, v] : f.metadata()) {
    if (is_hparam(k, arch)) continue;
    std::string type = v.type == ValueType::kArray
                           ? fmt::format("{}[{}]", gguf::value_type_name(v.as_array().type), v.as_array().items.size())
                           : gguf::value_type_name(v.type);
    fmt::print("  {:<{}} {:<14} {}\n", k, width, type, gguf::format_value(v, max_items, max_string));
  }

  size_t name_w = 4;
  for (const auto& t : f.tensors()) name_w = std::max(name_w, t.name.size());
  fmt::print("\ntensors:\n  {:<{}}  {:<7} {:<22} {:>12}  {:>12}\n", "name", name_w, "type", "shape", "elements",
             "bytes");
  for (const auto& t : f.tensors()) {
    fmt::print("  {:<{}}  {:<7} {:<22} {:>12}  {:>12}\n", t.name, name_w, ggml_type_name(t.type), shape_string(t.shape),
               t.n_elements(), t.size_bytes);
  }
  Totals tot = totals(f);
  fmt::print("total: {} tensors, {} elements, {} ({} bytes)\n", f.tensors().size(), tot.elements,
             human_bytes(tot.bytes), tot.bytes);
  for (const auto& [type, e] : tot.by_type) {
    fmt::print("  {:<7} {:>4} tensors  {}\n", type, e.first, human_bytes(e.second));
  }
}

// ---- json ----

Json to_json(const Value& v, size_t max_items) {
  switch (v.type) {
    case ValueType::kBool: return v.as_bool();
    case ValueType::kString: return v.as_string();
    case ValueType::kFloat32: {
      // Through the float's shortest decimal form, so 1e-5f prints as 1e-05 and not 9.99999974737875e-06.
      float x = static_cast<float>(v.as_float());
      if (!std::isfinite(x)) return nullptr;
      return std::strtod(fmt::format("{}", x).c_str(), nullptr);
    }
    case ValueType::kFloat64: return v.as_float();
    case ValueType::kArray: {
      const auto& a = v.as_array();
      Json items = Json::array();
      size_t n = std::min(a.items.size(), max_items);
      for (size_t i = 0; i < n; ++i) items.push_back(to_json(a.items[i], max_items));
      if (n == a.items.size()) return items;
      return {{"item_type", gguf::value_type_name(a.type)}, {"count", a.items.size()}, {"head", items}};
    }
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64: return std::get<int64_t>(v.v);
    default: return std::get<uint64_t>(v.v);
  }
}

void print_json(const gguf::File& f, const InfoOptions& o) {
  size_t max_items = o.max_array ? o.max_array : SIZE_MAX;
  const std::string arch = f.architecture();
  Json j;
  j["file"] = f.path();
  j["file_size"] = f.file_size();
  j["version"] = f.version();
  j["alignment"] = f.alignment();
  j["data_offset"] = f.data_offset();
  j["architecture"] = arch;
  j["hyperparameters"] = Json::object();
  j["metadata"] = Json::object();
  for (const auto& [k, v] : f.metadata()) {
    j[is_hparam(k, arch) ? "hyperparameters" : "metadata"][k] = to_json(v, max_items);
  }
  if (f.has("tokenizer.ggml.model")) {
    Json t;
    t["model"] = f.get_string("tokenizer.ggml.model");
    t["pre"] = f.has("tokenizer.ggml.pre") ? Json(f.get_string("tokenizer.ggml.pre")) : Json(nullptr);
    t["vocab_size"] = array_len(f, "tokenizer.ggml.tokens");
    t["merges"] = array_len(f, "tokenizer.ggml.merges");
    for (const auto& [label, key] : kSpecialTokens) {
      const Value* v = f.find(key);
      if (v && v->is_integer()) t[std::string(label) + "_token_id"] = v->as_uint();
    }
    j["tokenizer"] = t;
  } else {
    j["tokenizer"] = nullptr;
  }
  Json tensors = Json::array();
  for (const auto& t : f.tensors()) {
    tensors.push_back({{"name", t.name},
                       {"type", ggml_type_name(t.type)},
                       {"shape", t.shape},
                       {"elements", t.n_elements()},
                       {"size_bytes", t.size_bytes},
                       {"offset", t.offset}});
  }
  j["tensors"] = tensors;
  Totals tot = totals(f);
  Json by_type = Json::object();
  for (const auto& [type, e] : tot.by_type) by_type[type] = {{"tensors", e.first}, {"bytes", e.second}};
  j["totals"] = {
      {"tensors", f.tensors().size()}, {"elements", tot.elements}, {"bytes", tot.bytes}, {"by_type", by_type}};
  // Token strings need not be valid UTF-8: replace bad bytes rather than fail.
  fmt::print("{}\n", j.dump(2, ' ', false, Json::error_handler_t::replace));
}

int run_info(const InfoOptions& o) {
  auto f = gguf::File::open(o.model);
  if (!f) {
    fmt::print(stderr, "error: {}\n", f.error().message());
    return 1;
  }
  try {
    if (o.json) {
      print_json(**f, o);
    } else {
      print_text(**f, o);
    }
  } catch (const Error& e) {  // a key of an unexpected type (e.g. a numeric general.architecture)
    fmt::print(stderr, "error: {}: {}\n", o.model, e.what());
    return 1;
  }
  return 0;
}

}  // namespace

LLMC_REGISTER_COMMAND(info, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<InfoOptions>();
  auto* sub = app.add_subcommand("info", "Show a GGUF file's architecture, hyper-parameters, metadata and tensors");
  sub->add_option("model", o->model, "GGUF file")->required();
  sub->add_flag("--json", o->json, "Print JSON instead of text");
  sub->add_option("--max-array", o->max_array, "Array items (and string bytes) shown; 0 = all")->capture_default_str();
  return {sub, [o] { return run_info(*o); }};
});

}  // namespace llmchain::apps
