#include "chain/yaml_util.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <regex>

#include "base/error.h"

namespace llmchain::chain::yaml_util {

namespace {

const char* kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "nothing";
    default: return "nothing";
  }
}

std::string scalar_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string(kind(n)); }

}  // namespace

void fail_at(const Loc& loc, const YAML::Node& n, const std::string& message) {
  std::string path = loc.path.empty() ? "" : loc.path + ": ";
  if (n.IsDefined()) {
    auto m = n.Mark();
    if (!m.is_null())
      fail(ErrorCode::kInvalidArgument, "{}:{}:{}: {}{}", loc.file, m.line + 1, m.column + 1, path, message);
  }
  fail(ErrorCode::kInvalidArgument, "{}: {}{}", loc.file, path, message);
}

void expect_map(const Loc& loc, const YAML::Node& n) {
  if (!n.IsMap()) fail_at(loc, n, fmt::format("type mismatch: expected a mapping, got {}", kind(n)));
}

void expect_seq(const Loc& loc, const YAML::Node& n) {
  if (!n.IsSequence()) fail_at(loc, n, fmt::format("type mismatch: expected a sequence, got {}", kind(n)));
}

void check_keys(const Loc& loc, const YAML::Node& map, std::initializer_list<const char*> known) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string k = it->first.as<std::string>();
    bool ok = false;
    for (const char* c : known) ok = ok || k == c;
    if (!ok) fail_at(loc.child(k), it->first, fmt::format("unknown key '{}' (known: {})", k, fmt::join(known, ", ")));
  }
}

std::string get_string(const Loc& loc, const YAML::Node& map, const char* key, const std::string& def, bool required) {
  YAML::Node v = map[key];
  if (!v) {
    if (required) fail_at(loc, map, fmt::format("missing key '{}'", key));
    return def;
  }
  if (!v.IsScalar()) fail_at(loc.child(key), v, fmt::format("type mismatch: expected a string, got {}", kind(v)));
  return v.Scalar();
}

int64_t get_int(const Loc& loc, const YAML::Node& map, const char* key, int64_t def) {
  YAML::Node v = map[key];
  if (!v) return def;
  static const std::regex re(R"([+-]?\d+)");
  if (!v.IsScalar() || !std::regex_match(v.Scalar(), re)) {
    fail_at(loc.child(key), v, fmt::format("type mismatch: expected an integer, got '{}'", scalar_text(v)));
  }
  return std::strtoll(v.Scalar().c_str(), nullptr, 10);
}

double get_double(const Loc& loc, const YAML::Node& map, const char* key, double def) {
  YAML::Node v = map[key];
  if (!v) return def;
  if (v.IsScalar()) {
    char* end = nullptr;
    double d = std::strtod(v.Scalar().c_str(), &end);
    if (!v.Scalar().empty() && end && *end == '\0') return d;
  }
  fail_at(loc.child(key), v, fmt::format("type mismatch: expected a number, got '{}'", scalar_text(v)));
}

bool get_bool(const Loc& loc, const YAML::Node& map, const char* key, bool def) {
  YAML::Node v = map[key];
  if (!v) return def;
  if (v.IsScalar()) {
    const std::string& s = v.Scalar();
    if (s == "true" || s == "True" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "False" || s == "no" || s == "off") return false;
  }
  fail_at(loc.child(key), v, fmt::format("type mismatch: expected true or false, got '{}'", scalar_text(v)));
}

std::vector<std::string> get_string_list(const Loc& loc, const YAML::Node& map, const char* key) {
  YAML::Node v = map[key];
  std::vector<std::string> out;
  if (!v || v.IsNull()) return out;
  if (v.IsScalar()) return {v.Scalar()};
  if (!v.IsSequence())
    fail_at(loc.child(key), v, fmt::format("type mismatch: expected a list of strings, got {}", kind(v)));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].IsScalar()) {
      fail_at(loc.child(key).index(i), v[i], fmt::format("type mismatch: expected a string, got {}", kind(v[i])));
    }
    out.push_back(v[i].Scalar());
  }
  return out;
}

void check_expansion(const std::string& file, const YAML::Node& root, size_t max_nodes, size_t max_depth) {
  std::vector<std::pair<YAML::Node, size_t>> stack{{root, 0}};
  size_t seen = 0;
  while (!stack.empty()) {
    auto [n, depth] = std::move(stack.back());
    stack.pop_back();
    if (++seen > max_nodes) {
      fail_at(
          {file, ""}, n,
          fmt::format("more than {} nodes once aliases are expanded (aliases repeated inside aliases?)", max_nodes));
    }
    if (depth > max_depth) {
      fail_at({file, ""}, n, fmt::format("nested deeper than {} levels (an alias that refers to itself?)", max_depth));
    }
    if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        stack.push_back({it->first, depth + 1});
        stack.push_back({it->second, depth + 1});
      }
    } else if (n.IsSequence()) {
      for (auto it = n.begin(); it != n.end(); ++it) stack.push_back({*it, depth + 1});
    }
  }
}

nlohmann::json to_json(const YAML::Node& n) {
  using nlohmann::json;
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.as<std::string>()] = to_json(it->second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      static const std::regex int_re(R"([+-]?\d+)");
      static const std::regex float_re(R"([+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?)");
      if (std::regex_match(s, int_re)) return std::strtoll(s.c_str(), nullptr, 10);
      if (std::regex_match(s, float_re)) return std::strtod(s.c_str(), nullptr);
      return s;
    }
    default: return nullptr;
  }
}

LlmParams params_from(const Loc& loc, const YAML::Node& n) {
  expect_map(loc, n);
  try {
    return LlmParams::from_json(to_json(n));
  } catch (const Error& e) {
    // "params.max_tokens: ..." -> point at the key when there is one
    std::string msg = e.message();
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (msg.find("params." + k + ":") == 0 || msg.find("'" + k + "'") != std::string::npos) {
        fail_at(loc.child(k), it->second.IsDefined() ? it->second : it->first, msg.substr(msg.find(':') + 2));
      }
    }
    fail_at(loc, n, msg);
  }
}

}  // namespace llmchain::chain::yaml_util
