#include "json_schema_validator.h"

#include <cctype>
#include <cmath>
#include <regex>

namespace llmchain::sampling::testing {
namespace {

using nlohmann::json;

std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    int n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k <= n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += n + 1;
  }
  return out;
}

bool digits(const std::string& s, size_t at, size_t n) {
  if (at + n > s.size()) return false;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}
int num(const std::string& s, size_t at, size_t n) { return std::stoi(s.substr(at, n)); }

bool valid_date(const std::string& s) {
  if (s.size() != 10 || !digits(s, 0, 4) || s[4] != '-' || !digits(s, 5, 2) || s[7] != '-' || !digits(s, 8, 2)) {
    return false;
  }
  int y = num(s, 0, 4), m = num(s, 5, 2), d = num(s, 8, 2);
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

bool valid_date_time(const std::string& s) {
  size_t t = s.find_first_of("Tt");
  if (t != 10 || !valid_date(s.substr(0, 10))) return false;
  std::string r = s.substr(11);
  if (r.size() < 8 || !digits(r, 0, 2) || r[2] != ':' || !digits(r, 3, 2) || r[5] != ':' || !digits(r, 6, 2))
    return false;
  if (num(r, 0, 2) > 23 || num(r, 3, 2) > 59 || num(r, 6, 2) > 60) return false;
  size_t i = 8;
  if (i < r.size() && r[i] == '.') {
    size_t j = ++i;
    while (i < r.size() && std::isdigit(static_cast<unsigned char>(r[i]))) ++i;
    if (i == j) return false;
  }
  std::string zone = r.substr(i);
  if (zone == "Z" || zone == "z") return true;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && digits(zone, 1, 2) && zone[3] == ':' &&
         digits(zone, 4, 2) && num(zone, 1, 2) <= 23 && num(zone, 4, 2) <= 59;
}

bool valid_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool has_type(const json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer")
    return v.is_number_integer() || (v.is_number_float() && v.get<double>() == std::floor(v.get<double>()));
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  return false;
}

}  // namespace

std::string validate_json(const json& v, const json& s, const json& root, const std::string& where) {
  auto err = [&](const std::string& what) { return (where.empty() ? "/" : where) + ": " + what; };
  if (s.is_boolean()) return s.get<bool>() ? "" : err("schema false");
  if (s.contains("$ref")) {
    std::string ref = s["$ref"];
    return validate_json(v, root.at(json::json_pointer(ref.substr(1))), root, where);
  }
  if (s.contains("type")) {
    bool ok = false;
    if (s["type"].is_array()) {
      for (const auto& t : s["type"]) ok = ok || has_type(v, t);
    } else {
      ok = has_type(v, s["type"]);
    }
    if (!ok) return err("wrong type " + std::string(v.type_name()));
  }
  if (s.contains("enum")) {
    bool ok = false;
    for (const auto& e : s["enum"]) ok = ok || e == v;
    if (!ok) return err("not in enum");
  }
  if (s.contains("const") && s["const"] != v) return err("not the const");
  if (s.contains("anyOf")) {
    bool ok = false;
    for (const auto& sub : s["anyOf"]) ok = ok || validate_json(v, sub, root, where).empty();
    if (!ok) return err("matches no anyOf branch");
  }
  if (s.contains("allOf")) {
    for (const auto& sub : s["allOf"]) {
      auto e = validate_json(v, sub, root, where);
      if (!e.empty()) return e;
    }
  }
  if (v.is_number()) {
    // Bounds compared exactly: integers as integers, otherwise as doubles.
    auto less = [](const json& a, const json& b) {
      if (a.is_number_integer() && b.is_number_integer()) {  // signed or unsigned: compare sign, then magnitude
        bool a_neg = !a.is_number_unsigned() && a.get<int64_t>() < 0;
        bool b_neg = !b.is_number_unsigned() && b.get<int64_t>() < 0;
        if (a_neg != b_neg) return a_neg;
        return a_neg ? a.get<int64_t>() < b.get<int64_t>() : a.get<uint64_t>() < b.get<uint64_t>();
      }
      return a.get<double>() < b.get<double>();
    };
    bool excl_min = s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_boolean() && s["exclusiveMinimum"];
    bool excl_max = s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_boolean() && s["exclusiveMaximum"];
    if (s.contains("minimum") && (less(v, s["minimum"]) || (excl_min && !less(s["minimum"], v))))
      return err("below the minimum " + s["minimum"].dump());
    if (s.contains("maximum") && (less(s["maximum"], v) || (excl_max && !less(v, s["maximum"]))))
      return err("above the maximum " + s["maximum"].dump());
    if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_number() && !less(s["exclusiveMinimum"], v))
      return err("not above exclusiveMinimum " + s["exclusiveMinimum"].dump());
    if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_number() && !less(v, s["exclusiveMaximum"]))
      return err("not below exclusiveMaximum " + s["exclusiveMaximum"].dump());
  }
  if (s.contains("oneOf")) {
    int n = 0;
    for (const auto& sub : s["oneOf"]) n += validate_json(v, sub, root, where).empty();
    if (n != 1) return err("matches " + std::to_string(n) + " oneOf branches");
  }
  if (v.is_string()) {
    std::string str = v;
    std::u32string cps = decode_utf8(str);
    if (s.contains("minLength") && cps.size() < s["minLength"].get<size_t>()) return err("too short");
    if (s.contains("maxLength") && cps.size() > s["maxLength"].get<size_t>()) return err("too long");
    if (s.contains("pattern")) {
      std::wstring w(cps.begin(), cps.end());
      std::u32string pat32 = decode_utf8(s["pattern"].get<std::string>());
      std::wregex re(std::wstring(pat32.begin(), pat32.end()), std::regex::ECMAScript);
      if (!std::regex_search(w, re)) return err("does not match pattern " + s["pattern"].get<std::string>());
    }
    if (s.contains("format")) {
      std::string f = s["format"];
      bool ok = f == "date"        ? valid_date(str)
                : f == "date-time" ? valid_date_time(str)
                : f == "uuid"      ? valid_uuid(str)
                                   : false;
      if (!ok) return err("bad " + f + ": " + str);
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return err("too few items");
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return err("too many items");
    if (s.contains("items")) {
      for (size_t i = 0; i < v.size(); ++i) {
        auto e = validate_json(v[i], s["items"], root, where + "/" + std::to_string(i));
        if (!e.empty()) return e;
      }
    }
  }
  if (v.is_object()) {
    if (s.contains("minProperties") && v.size() < s["minProperties"].get<size_t>()) return err("too few properties");
    if (s.contains("maxProperties") && v.size() > s["maxProperties"].get<size_t>()) return err("too many properties");
    if (s.contains("required")) {
      for (const auto& r : s["required"]) {
        if (!v.contains(r.get<std::string>())) return err("missing " + r.get<std::string>());
      }
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      const json* sub = nullptr;
      if (s.contains("properties") && s["properties"].contains(it.key())) {
        sub = &s["properties"][it.key()];
      } else if (s.contains("additionalProperties")) {
        sub = &s["additionalProperties"];
      }
      if (!sub) continue;
      auto e = validate_json(it.value(), *sub, root, where + "/" + it.key());
      if (!e.empty()) return e;
    }
  }
  return "";
}

}  // namespace llmchain::sampling::testing
