#include "chain/json_schema.h"

#include <fmt/format.h>

#include "base/error.h"
#include "base/json_util.h"

namespace llmchain::chain {

namespace {

using Json = nlohmann::json;

bool has_type(const Json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "integer")
    return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<int64_t>(v.get<double>()));
  if (t == "number") return v.is_number();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  return true;  // unknown type names accept
}

std::optional<std::string> check(const Json& v, const Json& s, const std::string& path) {
  if (s.is_boolean()) {
    if (!s.get<bool>()) return path + ": no value allowed here";
    return std::nullopt;
  }
  if (!s.is_object()) return std::nullopt;
  if (auto it = s.find("type"); it != s.end()) {
    bool ok = false;
    if (it->is_string()) {
      ok = has_type(v, it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& t : *it) ok = ok || (t.is_string() && has_type(v, t.get<std::string>()));
    } else {
      ok = true;
    }
    if (!ok)
      return fmt::format("{}: expected {}, got {}", path, it->is_string() ? it->get<std::string>() : json_text(*it),
                         v.type_name());
  }
  if (auto it = s.find("enum"); it != s.end() && it->is_array()) {
    bool found = false;
    for (const auto& e : *it) found = found || e == v;
    if (!found) return fmt::format("{}: {} is not one of {}", path, json_text(v), json_text(*it));
  }
  if (auto it = s.find("const"); it != s.end() && *it != v) return fmt::format("{}: expected {}", path, json_text(*it));
  if (v.is_object()) {
    if (auto it = s.find("required"); it != s.end() && it->is_array()) {
      for (const auto& k : *it) {
        if (k.is_string() && !v.contains(k.get<std::string>())) {
          return fmt::format("{}: missing required property '{}'", path, k.get<std::string>());
        }
      }
    }
    const Json* props = nullptr;
    if (auto it = s.find("properties"); it != s.end() && it->is_object()) props = &*it;
    auto additional = s.find("additionalProperties");
    for (auto p = v.begin(); p != v.end(); ++p) {
      std::string sub = path + "." + p.key();
      if (props && props->contains(p.key())) {
        if (auto e = check(p.value(), (*props)[p.key()], sub)) return e;
      } else if (additional != s.end()) {
        if (additional->is_boolean() && !additional->get<bool>())
          return fmt::format("{}: unexpected property '{}'", path, p.key());
        if (auto e = check(p.value(), *additional, sub)) return e;
      }
    }
  }
  if (v.is_array()) {
    if (auto it = s.find("minItems"); it != s.end() && it->is_number() && v.size() < it->get<size_t>()) {
      return fmt::format("{}: expected at least {} items, got {}", path, it->get<size_t>(), v.size());
    }
    if (auto it = s.find("maxItems"); it != s.end() && it->is_number() && v.size() > it->get<size_t>()) {
      return fmt::format("{}: expected at most {} items, got {}", path, it->get<size_t>(), v.size());
    }
    if (auto it = s.find("items"); it != s.end() && (it->is_object() || it->is_boolean())) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (auto e = check(v[i], *it, fmt::format("{}[{}]", path, i))) return e;
      }
    }
  }
  if (v.is_string()) {
    size_t n = v.get_ref<const std::string&>().size();
    if (auto it = s.find("minLength"); it != s.end() && it->is_number() && n < it->get<size_t>()) {
      return fmt::format("{}: shorter than {} characters", path, it->get<size_t>());
    }
    if (auto it = s.find("maxLength"); it != s.end() && it->is_number() && n > it->get<size_t>()) {
      return fmt::format("{}: longer than {} characters", path, it->get<size_t>());
    }
  }
  if (v.is_number()) {
    double x = v.get<double>();
    if (auto it = s.find("minimum"); it != s.end() && it->is_number() && x < it->get<double>()) {
      return fmt::format("{}: {} is below the minimum {}", path, json_text(v), json_text(*it));
    }
    if (auto it = s.find("maximum"); it != s.end() && it->is_number() && x > it->get<double>()) {
      return fmt::format("{}: {} is above the maximum {}", path, json_text(v), json_text(*it));
    }
  }
  if (auto it = s.find("allOf"); it != s.end() && it->is_array()) {
    for (const auto& sub : *it) {
      if (auto e = check(v, sub, path)) return e;
    }
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (auto it = s.find(key); it != s.end() && it->is_array() && !it->empty()) {
      std::optional<std::string> first;
      bool any = false;
      for (const auto& sub : *it) {
        auto e = check(v, sub, path);
        if (!e) {
          any = true;
          break;
        }
        if (!first) first = e;
      }
      if (!any) return first;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> validate_json_schema(const Json& value, const Json& schema) {
  return check(value, schema, "$");
}

Json extract_json(const std::string& text) {
  std::string s = text;
  // Prefer the body of a ``` fence when there is one.
  if (auto fence = s.find("```"); fence != std::string::npos) {
    size_t body = s.find('\n', fence);
    size_t end = body == std::string::npos ? std::string::npos : s.find("```", body);
    if (end != std::string::npos) s = s.substr(body + 1, end - body - 1);
  }
  auto parsed = Json::parse(s, nullptr, false);
  if (!parsed.is_discarded()) return parsed;
  size_t start = s.find_first_of("{[");
  int budget = 64;  // parse attempts; bounds the work on long non-JSON output
  while (start != std::string::npos && budget > 0) {
    char open = s[start];
    char close = open == '{' ? '}' : ']';
    for (size_t end = s.rfind(close); end != std::string::npos && end > start && budget-- > 0;
         end = s.rfind(close, end - 1)) {
      auto p = Json::parse(s.substr(start, end - start + 1), nullptr, false);
      if (!p.is_discarded()) return p;
      if (end == 0) break;
    }
    start = s.find_first_of("{[", start + 1);
  }
  std::string shown = text.size() > 2000 ? text.substr(0, 2000) + "..." : text;
  fail(ErrorCode::kOutputParseFailed, "output parser (json): no JSON value found in model output: {}", shown);
}

}  // namespace llmchain::chain
