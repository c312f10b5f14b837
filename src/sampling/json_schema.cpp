#include "sampling/json_schema.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "base/json_util.h"
#include "base/utf8.h"
#include "sampling/int_range_gbnf.h"
#include "sampling/json_schema_allof.h"
#include "sampling/json_schema_keywords.h"
#include "sampling/regex_gbnf.h"

namespace llmchain::sampling {
namespace {

using nlohmann::json;
using schema::bad;
using schema::check_keywords;
using schema::kAnnotations;
using schema::pointer_escape;
using schema::unsupported;

// Shared JSON rules. Whitespace between tokens is at most one space, or a
// newline and up to 20 spaces or tabs of indentation, so a model cannot pad
// (or burn its token budget) on layout; a
// string's \u escapes exclude surrogates (one escape = one character, which
// keeps minLength/maxLength exact); integers stay within 16 digits and
// exponents within 2 so every output parses to a finite double / int64.
const char* const kJsonRules = R"(ws ::= | " " | "\n" [ \t]{0,20}
json-hex ::= [0-9a-fA-F]
json-hex4 ::= [0-9a-cA-CeEfF] json-hex json-hex json-hex | [dD] [0-7] json-hex json-hex
json-char ::= [^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" json-hex4)
json-string ::= "\"" json-char* "\""
json-int ::= "-"? ("0" | [1-9] [0-9]{0,15})
json-number ::= json-int ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,2})?
json-bool ::= "true" | "false"
json-null ::= "null"
json-value ::= json-object | json-array | json-string | json-number | json-bool | json-null
json-member ::= json-string ws ":" ws json-value
json-object ::= "{" ws (json-member (ws "," ws json-member)* ws)? "}"
json-array ::= "[" ws (json-value (ws "," ws json-value)* ws)? "]"
json-key-char ::= [^"\\\x00-\x1F]
)";

// Date parts: days per month without Feb 29 (valid in every year), so every
// generated date is a real calendar date.
const char* const kFormatRules = R"(fmt-d2 ::= [0-9] [0-9]
fmt-day31 ::= "0" [1-9] | [12] [0-9] | "3" [01]
fmt-day30 ::= "0" [1-9] | [12] [0-9] | "30"
fmt-day28 ::= "0" [1-9] | "1" [0-9] | "2" [0-8]
fmt-date ::= [0-9]{4} "-" (("0" [13578] | "1" [02]) "-" fmt-day31 | ("0" [469] | "11") "-" fmt-day30 | "02-" fmt-day28)
fmt-hour ::= [01] [0-9] | "2" [0-3]
fmt-time ::= fmt-hour ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [-+] fmt-hour ":" [0-5] [0-9])
fmt-date-time ::= fmt-date "T" fmt-time
fmt-uuid ::= json-hex{8} "-" json-hex{4} "-" json-hex{4} "-" json-hex{4} "-" json-hex{12}
)";

const std::set<std::string> kTypes = {"object", "array", "string", "number", "integer", "boolean", "null"};

// A GBNF literal for raw bytes (UTF-8 passes through).
std::string literal(std::string_view bytes) {
  std::string out = "\"";
  for (char ch : bytes) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += fmt::format("\\x{:02X}", c);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

class SchemaConverter {
 public:
  SchemaConverter(const json& root, const CompileBudget& budget) : root_(root), budget_(budget) {}

  std::string convert() {
    std::string root_expr = visit(root_, "", "root");
    // Definitions are checked even when unused: an unsupported keyword anywhere
    // in the schema is reported, never ignored.
    if (root_.is_object()) {
      for (const char* defs : {"$defs", "definitions"}) {
        if (!root_.contains(defs)) continue;
        const json& d = root_[defs];
        if (!d.is_object()) bad(fmt::format("/{}", defs), "must be an object");
        for (auto it = d.begin(); it != d.end(); ++it)
          ref_rule(fmt::format("#/{}/{}", defs, pointer_escape(it.key())), "");
      }
    }
    std::string out = "root ::= " + root_expr + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    out += kJsonRules;
    if (need_formats_) out += kFormatRules;
    return out;
  }

 private:
  const json& root_;
  const CompileBudget& budget_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> names_;
  std::map<std::string, int> next_suffix_;  // base name -> the next suffix to try
  static constexpr int kMaxDepth = 256;
  int depth_ = 0;                              // visit() calls open
  std::map<std::string, std::string> refs_;    // "#/..." -> rule name
  std::map<std::string, std::string> merged_;  // MergedAllOf::key -> rule name
  bool need_formats_ = false;

  std::string new_rule(const std::string& hint, const std::string& body) {
    std::string base;
    for (char c : hint) base += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    if (base.empty() || base == "root") base = "r";
    base = "s-" + base.substr(0, 40);
    if (rules_.size() >= kMaxSchemaRules) {
      fail(ErrorCode::kInvalidArgument, "JSON schema: too large (it needs more than {} grammar rules)",
           kMaxSchemaRules);
    }
    if ((rules_.size() & 255) == 0) budget_.check();
    std::string name = base;
    // Suffixes continue from the last one taken for this base (a linear scan from 1 would make
    // a schema of n similar members cost n^2).
    for (int& i = next_suffix_[base]; names_.count(name); ++i) name = base + "-" + std::to_string(i);
    names_.insert(name);
    rules_.emplace_back(name, body);
    return name;
  }

  std::string ref_rule(const std::string& ref, const std::string& ptr) {
    if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
    if (ref.rfind("#", 0) != 0) unsupported(ptr + "/$ref", fmt::format("non-local $ref '{}'", ref));
    json::json_pointer jp;
    try {
      jp = json::json_pointer(ref.substr(1));
    } catch (const json::exception&) {
      bad(ptr + "/$ref", fmt::format("is not a valid JSON pointer: '{}'", ref));
    }
    if (!root_.contains(jp)) bad(ptr + "/$ref", fmt::format("points nowhere: '{}'", ref));
    // A chain of bare $refs that returns to where it started describes no document.
    {
      std::set<std::string> seen{ref};
      const json* target = &root_.at(jp);
      while (target->is_object() && target->size() == 1 && target->contains("$ref") && (*target)["$ref"].is_string()) {
        std::string next = (*target)["$ref"].get<std::string>();
        if (!seen.insert(next).second) {
          unsupported(ptr + "/$ref",
                      fmt::format("'{}' is a $ref cycle with nothing in between (it describes no document)", ref));
        }
        if (next.rfind("#", 0) != 0) break;
        json::json_pointer np;
        try {
          np = json::json_pointer(next.substr(1));
        } catch (const json::exception&) {
          break;  // reported where it is resolved
        }
        if (!root_.contains(np)) break;
        target = &root_.at(np);
      }
    }
    // Reserve the name first so recursive references resolve to it.
    std::string name = new_rule(ref.substr(ref.rfind('/') + 1), "");
    const size_t index = rules_.size() - 1;
    refs_[ref] = name;
    std::string body = visit(root_.at(jp), ref.substr(1), name);
    rules_[index].second = std::move(body);
    return name;
  }

  // allOf: one merged schema (json_schema_allof.h), whose rule is reserved
  // before its body is built, like a $ref, so recursion through it ends.
  std::string all_of_rule(const json& s, const std::string& ptr, const std::string& hint) {
    schema::MergedAllOf m = schema::merge_all_of(root_, s, ptr);
    if (auto it = merged_.find(m.key); it != merged_.end()) return it->second;
    std::string name = new_rule(hint, "");
    const size_t index = rules_.size() - 1;
    merged_[m.key] = name;
    rules_[index].second = visit(m.schema, ptr, name);
    return name;
  }

  // Keywords next to anyOf/oneOf/$ref/enum/const would intersect with them;
  // we do not, so they are rejected (`allowed` lists the harmless ones).
  void check_alone(const json& s, const std::string& ptr, const std::string& kw, const std::set<std::string>& allowed) {
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      if (k == kw || kAnnotations.count(k) || k == "$defs" || k == "definitions" || allowed.count(k)) continue;
      unsupported(ptr + "/" + pointer_escape(k), fmt::format("keyword '{}' next to '{}'", k, kw));
    }
  }

  static std::string alternatives(const std::vector<std::string>& alts) {
    std::string out;
    for (size_t i = 0; i < alts.size(); ++i) {
      if (i) out += " | ";
      out += alts[i];
    }
    return alts.size() > 1 ? "(" + out + ")" : out;
  }

  static bool type_matches(const json& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer")
      return v.is_number_integer() ||
             (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())));
    if (t == "boolean") return v.is_boolean();
    return v.is_null();
  }

  std::vector<std::string> types_of(const json& s, const std::string& ptr) {
    std::vector<std::string> types;
    if (!s.contains("type")) return types;
    const json& t = s["type"];
    auto add = [&](const json& v) {
      if (!v.is_string() || !kTypes.count(v.get<std::string>())) bad(ptr + "/type", "has an unknown type");
      types.push_back(v.get<std::string>());
    };
    if (t.is_array()) {
      for (const auto& v : t) add(v);
      if (types.empty()) bad(ptr + "/type", "is an empty list");
    } else {
      add(t);
    }
    return types;
  }

  // Returns a GBNF expression for values valid under schema s (at pointer ptr).
  std::string visit(const json& s, const std::string& ptr, const std::string& hint) {
    // Subschemas (and $ref chains) nest at most kMaxDepth deep: the converter recurses per level.
    struct Depth {
      int& d;
      explicit Depth(int& x) : d(++x) {}
      ~Depth() { --d; }
    } depth(depth_);
    if (depth_ > kMaxDepth) {
      fail(ErrorCode::kInvalidArgument, "JSON schema: nested more than {} levels deep (through $ref too) at '{}'",
           kMaxDepth, ptr.empty() ? "/" : ptr);
    }
    if (s.is_boolean()) {
      if (!s.get<bool>()) bad(ptr, "is the schema 'false': no value can match");
      return "json-value";
    }
    if (!s.is_object()) bad(ptr, "must be an object or a boolean");
    check_keywords(s, ptr);
    if (s.contains("$ref")) {
      check_alone(s, ptr, "$ref", {});
      if (!s["$ref"].is_string()) bad(ptr + "/$ref", "must be a string");
      return ref_rule(s["$ref"].get<std::string>(), ptr);
    }
    if (s.contains("allOf")) return all_of_rule(s, ptr, hint);
    for (const char* kw : {"anyOf", "oneOf"}) {
      if (!s.contains(kw)) continue;
      check_alone(s, ptr, kw, {});
      const json& list = s[kw];
      if (!list.is_array() || list.empty()) bad(ptr + "/" + kw, "must be a non-empty array");
      if (std::string(kw) == "oneOf") check_disjoint(list, ptr + "/oneOf");
      std::vector<std::string> alts;
      for (size_t i = 0; i < list.size(); ++i) {
        alts.push_back(visit(list[i], fmt::format("{}/{}/{}", ptr, kw, i), hint + "-" + std::to_string(i)));
      }
      return new_rule(hint, alternatives(alts));
    }
    std::vector<std::string> types = types_of(s, ptr);
    if (s.contains("enum") || s.contains("const")) {
      const char* kw = s.contains("enum") ? "enum" : "const";
      check_alone(s, ptr, kw, {"type"});
      if (s.contains("enum") && s.contains("const")) unsupported(ptr + "/const", "keyword 'const' next to 'enum'");
      json values = s.contains("enum") ? s["enum"] : json::array({s["const"]});
      if (!values.is_array() || values.empty()) bad(ptr + "/enum", "must be a non-empty array");
      std::vector<std::string> alts;
      for (const auto& v : values) {
        bool ok = types.empty();
        for (const auto& t : types) ok = ok || type_matches(v, t);
        if (ok) alts.push_back(literal(json_text(v)));
      }
      if (alts.empty()) bad(ptr + "/" + kw, "has no value of the allowed type");
      return new_rule(hint, alternatives(alts));
    }
    if (types.empty()) types.push_back(infer_type(s));
    std::vector<std::string> alts;
    for (const auto& t : types) alts.push_back(visit_type(s, ptr, hint, t));
    return new_rule(hint, alternatives(alts));
  }

  // The JSON types a branch can produce (bit per type; integer counts as
  // number), following $ref; all types when unknown.
  uint32_t branch_types(const json& s, int depth = 0) const {
    static const std::vector<std::string> order = {"object", "array", "string", "number", "boolean", "null"};
    constexpr uint32_t kAll = 0x3F;
    if (!s.is_object() || depth > 32) return kAll;
    if (s.contains("$ref") && s["$ref"].is_string() && s["$ref"].get<std::string>().rfind("#", 0) == 0) {
      try {
        json::json_pointer jp(s["$ref"].get<std::string>().substr(1));
        return root_.contains(jp) ? branch_types(root_.at(jp), depth + 1) : kAll;
      } catch (const json::exception&) {
        return kAll;
      }
    }
    auto bit = [&](std::string t) -> uint32_t {
      if (t == "integer") t = "number";
      auto it = std::find(order.begin(), order.end(), t);
      return it == order.end() ? kAll : 1u << (it - order.begin());
    };
    if (s.contains("enum") || s.contains("const")) {
      uint32_t m = 0;
      json values = s.contains("enum") ? s["enum"] : json::array({s["const"]});
      for (const auto& v : values) {
        m |= bit(v.is_number() ? "number" : v.type_name());
      }
      return m;
    }
    if (!s.contains("type")) return kAll;
    uint32_t m = 0;
    for (const auto& t : s["type"].is_array() ? s["type"] : json::array({s["type"]})) {
      m |= t.is_string() ? bit(t.get<std::string>()) : kAll;
    }
    return m;
  }

  // oneOf needs exactly one branch to match; we generate from any branch, which
  // is only exact when no value can match two. Accept branches that produce
  // disjoint JSON types or distinct enum/const values; reject the rest.
  void check_disjoint(const json& list, const std::string& ptr) const {
    std::vector<uint32_t> masks;
    for (const auto& b : list) masks.push_back(branch_types(b));
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        if ((masks[i] & masks[j]) == 0) continue;
        auto values = [](const json& b) -> std::optional<json> {
          if (!b.is_object()) return std::nullopt;
          if (b.contains("const")) return json::array({b["const"]});
          if (b.contains("enum") && b["enum"].is_array()) return b["enum"];
          return std::nullopt;
        };
        auto vi = values(list[i]), vj = values(list[j]);
        bool disjoint = vi && vj;
        for (size_t a = 0; disjoint && a < vi->size(); ++a) {
          for (const auto& y : *vj) disjoint = disjoint && (*vi)[a] != y;
        }
        if (!disjoint) {
          unsupported(ptr, fmt::format("oneOf whose branches {} and {} may both match (use anyOf)", i, j));
        }
      }
    }
  }

  static std::string infer_type(const json& s) {
    if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties") ||
        s.contains("minProperties") || s.contains("maxProperties")) {
      return "object";
    }
    if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) return "array";
    if (s.contains("minLength") || s.contains("maxLength") || s.contains("pattern") || s.contains("format")) {
      return "string";
    }
    return "any";
  }

  static uint64_t count(const json& s, const char* kw, const std::string& ptr, uint64_t dflt) {
    if (!s.contains(kw)) return dflt;
    const json& v = s[kw];
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
      bad(ptr + "/" + kw, "must be a non-negative integer");
    }
    uint64_t n = v.get<uint64_t>();
    if (n > 10000) unsupported(ptr + "/" + kw, fmt::format("{} above 10000", kw));
    return n;
  }

  std::string visit_type(const json& s, const std::string& ptr, const std::string& hint, const std::string& type) {
    if (type == "any" || type == "number") {
      // Bounds on numbers that may have a fraction or an exponent are not enforced.
      for (const auto& kw : schema::kNumberBounds) {
        if (!s.contains(kw)) continue;
        unsupported(ptr + "/" + kw, type == "number"
                                        ? fmt::format("keyword '{}' on type 'number' (only integers are bounded)", kw)
                                        : fmt::format("keyword '{}' without type 'integer'", kw));
      }
    }
    if (type == "any") return "json-value";
    if (type == "string") return string_rule(s, ptr);
    if (type == "number") return "json-number";
    if (type == "integer") return integer_rule(s, ptr);
    if (type == "boolean") return "json-bool";
    if (type == "null") return "json-null";
    if (type == "array") return array_rule(s, ptr, hint);
    return object_rule(s, ptr, hint);
  }

  // minimum / maximum / exclusiveMinimum / exclusiveMaximum (numbers, or
  // draft 4's booleans that make minimum / maximum exclusive), within the
  // 16-digit integers that json-int generates.
  std::string integer_rule(const json& s, const std::string& ptr) {
    bool bounded = false;
    for (const auto& kw : schema::kNumberBounds) bounded = bounded || s.contains(kw);
    if (!bounded) return "json-int";
    constexpr int64_t kLimit = 9999999999999999;  // json-int: at most 16 digits
    int64_t lo = -kLimit, hi = kLimit;
    auto flag = [&](const char* kw) {
      if (!s.contains(kw) || !s[kw].is_boolean()) return false;
      return s[kw].get<bool>();
    };
    // The smallest (lower) or largest (upper) integer the bound v lets through.
    auto bound = [&](const char* kw, bool lower, bool exclusive) -> int64_t {
      const json& v = s[kw];
      if (!v.is_number()) bad(ptr + "/" + kw, "must be a number");
      constexpr int64_t kOut = kLimit + 1;  // past the generated integers: the range is clamped or empty
      int64_t x;
      if (v.is_number_float()) {
        double d = v.get<double>();
        if (!std::isfinite(d)) bad(ptr + "/" + kw, "must be finite");
        double r =
            lower ? (exclusive ? std::floor(d) + 1 : std::ceil(d)) : (exclusive ? std::ceil(d) - 1 : std::floor(d));
        x = r > static_cast<double>(kOut) ? kOut : r < -static_cast<double>(kOut) ? -kOut : static_cast<int64_t>(r);
      } else {
        int64_t i = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(kOut)
                        ? kOut
                        : std::clamp<int64_t>(v.get<int64_t>(), -kOut, kOut);
        x = exclusive ? (lower ? i + 1 : i - 1) : i;
      }
      return x;
    };
    for (const char* kw : {"exclusiveMinimum", "exclusiveMaximum"}) {
      if (s.contains(kw) && !s[kw].is_boolean() && !s[kw].is_number()) bad(ptr + "/" + kw, "must be a number");
    }
    if (s.contains("minimum")) lo = std::max(lo, bound("minimum", true, flag("exclusiveMinimum")));
    if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_number()) {
      lo = std::max(lo, bound("exclusiveMinimum", true, true));
    }
    if (s.contains("maximum")) hi = std::min(hi, bound("maximum", false, flag("exclusiveMaximum")));
    if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_number()) {
      hi = std::min(hi, bound("exclusiveMaximum", false, true));
    }
    if (lo > kLimit || hi < -kLimit) {
      const char* kw = lo > kLimit ? (s.contains("minimum") ? "minimum" : "exclusiveMinimum")
                                   : (s.contains("maximum") ? "maximum" : "exclusiveMaximum");
      unsupported(ptr + "/" + kw, fmt::format("'{}' beyond the 16-digit integers that are generated", kw));
    }
    if (lo > hi) bad(ptr, "allows no integer: its minimum is above its maximum");
    return int_range_gbnf(lo, hi);
  }

  std::string string_rule(const json& s, const std::string& ptr) {
    if (s.contains("format")) {
      for (const char* kw : {"pattern", "minLength", "maxLength"}) {
        if (s.contains(kw)) unsupported(ptr + "/" + kw, fmt::format("keyword '{}' next to 'format'", kw));
      }
      const json& f = s["format"];
      std::string name = f.is_string() ? f.get<std::string>() : json_text(f);
      if (name != "date" && name != "date-time" && name != "uuid")
        unsupported(ptr + "/format", fmt::format("format '{}'", name));
      need_formats_ = true;
      return "\"\\\"\" fmt-" + name + " \"\\\"\"";
    }
    if (s.contains("pattern")) {
      for (const char* kw : {"minLength", "maxLength"}) {
        if (s.contains(kw)) unsupported(ptr + "/" + kw, fmt::format("keyword '{}' next to 'pattern'", kw));
      }
      if (!s["pattern"].is_string()) bad(ptr + "/pattern", "must be a string");
      return "\"\\\"\" " + regex_to_gbnf(s["pattern"].get<std::string>(), "json-char", ptr + "/pattern") + " \"\\\"\"";
    }
    uint64_t min = count(s, "minLength", ptr, 0);
    bool has_max = s.contains("maxLength");
    uint64_t max = count(s, "maxLength", ptr, 0);
    if (has_max && max < min) bad(ptr, "has maxLength < minLength");
    if (min == 0 && !has_max) return "json-string";
    std::string rep = has_max ? fmt::format("{{{},{}}}", min, max) : fmt::format("{{{},}}", min);
    return "\"\\\"\" json-char" + rep + " \"\\\"\"";
  }

  std::string array_rule(const json& s, const std::string& ptr, const std::string& hint) {
    std::string item = "json-value";
    if (s.contains("items")) {
      if (s["items"].is_array()) unsupported(ptr + "/items", "tuple form of 'items' (an array)");
      item = visit(s["items"], ptr + "/items", hint + "-item");
    }
    uint64_t min = count(s, "minItems", ptr, 0);
    bool has_max = s.contains("maxItems");
    uint64_t max = count(s, "maxItems", ptr, 0);
    if (has_max && max < min) bad(ptr, "has maxItems < minItems");
    if (has_max && max == 0) return "\"[\" ws \"]\"";
    std::string more;  // repetitions of the ", item" tail
    uint64_t lo = min > 0 ? min - 1 : 0;
    more = has_max ? fmt::format("{{{},{}}}", lo, max - 1) : fmt::format("{{{},}}", lo);
    std::string items = item + " (ws \",\" ws " + item + ")" + more;
    if (min == 0) return "\"[\" ws (" + items + " ws)? \"]\"";
    return "\"[\" ws " + items + " ws \"]\"";
  }

  // Keys of additional properties: unescaped characters only, never one of
  // `names` (a declared key must not reappear under the additional schema).
  std::string key_not_in(const std::vector<std::string>& names, const std::string& hint) {
    if (names.empty()) return "(\"\\\"\" json-key-char* \"\\\"\")";
    struct Node {
      std::map<uint32_t, size_t> kids;
      bool terminal = false;
    };
    std::vector<Node> trie(1);
    for (const auto& n : names) {
      size_t cur = 0;
      for (uint32_t cp : utf8::to_codepoints(n)) {
        auto it = trie[cur].kids.find(cp);
        if (it == trie[cur].kids.end()) {
          trie.push_back({});
          it = trie[cur].kids.emplace(cp, trie.size() - 1).first;
        }
        cur = it->second;
      }
      trie[cur].terminal = true;
    }
    // rest(n): the key's remaining characters and closing quote, given that
    // the prefix spelled by node n has been written.
    std::vector<std::string> rule(trie.size());
    for (size_t i = trie.size(); i-- > 0;) {
      std::vector<std::string> alts;
      if (!trie[i].terminal) alts.push_back("\"\\\"\"");
      std::string other = "[^\"\\\\\\x00-\\x1F";
      for (auto [cp, kid] : trie[i].kids) {
        if (cp < 0x20 || cp == '"' || cp == '\\') continue;  // never written unescaped anyway
        std::string ch = utf8::from_codepoints({cp});
        other += fmt::format("\\U{:08X}", cp);
        alts.push_back(literal(ch) + " " + rule[kid]);
      }
      alts.push_back(other + "] json-key-char* \"\\\"\"");
      rule[i] = new_rule(hint + "-key", alternatives(alts));
    }
    return "(\"\\\"\" " + rule[0] + ")";
  }

  struct Prop {
    std::string name, value;  // value: the GBNF expression of its schema
    bool required;
  };

  // Members with minProperties / maxProperties: the rule for "properties i..
  // to go, c written" is generated for each reachable (i, c), and extra keys
  // (extra_kv, may be empty) only up to maxProperties. minProperties may not
  // need extra keys: the grammar cannot keep them distinct, and a repeated key
  // would not count.
  std::string counted_members(const json& s, const std::string& ptr, const std::string& hint,
                              const std::vector<Prop>& props, const std::string& extra_kv) {
    const size_t n = props.size();
    const uint64_t min = count(s, "minProperties", ptr, 0);
    const bool has_max = s.contains("maxProperties");
    const uint64_t max = count(s, "maxProperties", ptr, 0);
    if (has_max && max < min) bad(ptr, "has maxProperties < minProperties");
    if (min > n) {
      unsupported(ptr + "/minProperties",
                  fmt::format("minProperties above the {} declared properties (extra keys could repeat)", n));
    }
    std::map<std::pair<size_t, size_t>, std::optional<std::string>> memo;
    std::function<std::optional<std::string>(size_t, size_t)> members = [&](size_t i, size_t c) {
      if (auto it = memo.find({i, c}); it != memo.end()) return it->second;
      std::optional<std::string> out;
      const std::string comma = c > 0 ? "ws \",\" ws " : "";
      if (i == n) {
        if (c >= min) {
          if (extra_kv.empty() || (has_max && c >= max)) {
            out = "\"\"";
          } else {
            std::string more = "(ws \",\" ws " + extra_kv + ")";
            out = c > 0 ? more + (has_max ? fmt::format("{{0,{}}}", max - c) : "*")
                        : "(" + extra_kv + " " + more + (has_max ? fmt::format("{{0,{}}}", max - 1) : "*") + ")?";
          }
        }
      } else {
        std::vector<std::string> alts;
        if (!has_max || c < max) {
          if (auto next = members(i + 1, c + 1)) {
            alts.push_back(comma + literal(json_text(json(props[i].name))) + " ws \":\" ws " + props[i].value + " " +
                           *next);
          }
        }
        if (!props[i].required) {
          if (auto next = members(i + 1, c)) alts.push_back(*next);
        }
        if (!alts.empty()) out = new_rule(hint + "-members", alternatives(alts));
      }
      memo[{i, c}] = out;
      return out;
    };
    std::optional<std::string> body = members(0, 0);
    if (!body) bad(ptr, "allows no object: its required properties do not fit minProperties / maxProperties");
    return "\"{\" ws " + *body + " ws \"}\"";
  }

  std::string object_rule(const json& s, const std::string& ptr, const std::string& hint) {
    bool has_props = s.contains("properties"), has_req = s.contains("required"),
         has_add = s.contains("additionalProperties");
    bool has_count = s.contains("minProperties") || s.contains("maxProperties");
    if (!has_props && !has_req && !has_add && !has_count) return "json-object";
    std::vector<Prop> props;
    std::set<std::string> required;
    if (has_req) {
      if (!s["required"].is_array()) bad(ptr + "/required", "must be an array");
      for (const auto& r : s["required"]) {
        if (!r.is_string()) bad(ptr + "/required", "must list strings");
        required.insert(r.get<std::string>());
      }
    }
    if (has_props) {
      if (!s["properties"].is_object()) bad(ptr + "/properties", "must be an object");
      for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
        std::string v = visit(it.value(), ptr + "/properties/" + pointer_escape(it.key()), hint + "-" + it.key());
        props.push_back({it.key(), v, required.count(it.key()) > 0});
      }
    }
    // Extra keys: additionalProperties false or absent -> none are generated
    // (absent allows them, but never requires them).
    std::string extra_value;
    if (has_add) {
      const json& a = s["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>())) extra_value = visit(a, ptr + "/additionalProperties", hint + "-extra");
    } else if (!has_props && !has_req) {
      extra_value = "json-value";  // only a property count: any members
    }
    for (const auto& r : required) {
      if (s.contains("properties") && s["properties"].contains(r)) continue;
      if (has_add && s["additionalProperties"] == false)
        bad(ptr + "/required", fmt::format("requires '{}', which additionalProperties forbids", r));
      props.push_back({r, extra_value.empty() ? "json-value" : extra_value, true});
    }
    std::vector<std::string> names;
    for (const auto& p : props) names.push_back(p.name);
    std::string extra_kv;
    if (!extra_value.empty()) extra_kv = key_not_in(names, hint) + " ws \":\" ws " + extra_value;

    if (has_count) return counted_members(s, ptr, hint, props, extra_kv);
    // first[i]: nothing written yet, properties i.. to go; rest[i]: something written.
    size_t n = props.size();
    std::vector<std::string> first(n + 1), rest(n + 1);
    if (extra_kv.empty()) {
      first[n] = rest[n] = "\"\"";
    } else {
      rest[n] = new_rule(hint + "-more", "(ws \",\" ws " + extra_kv + ")*");
      first[n] = new_rule(hint + "-any", "(" + extra_kv + " " + rest[n] + ")?");
    }
    for (size_t i = n; i-- > 0;) {
      std::string kv = literal(json_text(json(props[i].name))) + " ws \":\" ws " + props[i].value;
      std::string r = "ws \",\" ws " + kv + " " + rest[i + 1];
      rest[i] = new_rule(hint + "-rest", props[i].required ? r : r + " | " + rest[i + 1]);
      std::string f = kv + " " + rest[i + 1];
      first[i] = new_rule(hint + "-first", props[i].required ? f : f + " | " + first[i + 1]);
    }
    return "\"{\" ws " + first[0] + " ws \"}\"";
  }
};

}  // namespace

std::string json_object_gbnf() { return std::string("root ::= json-object\n") + kJsonRules; }

Expected<std::string> json_schema_to_gbnf(const nlohmann::json& schema, const CompileBudget& budget) {
  return capture([&]() -> std::string {
    try {
      return SchemaConverter(schema, budget).convert();
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorCode::kInvalidArgument, "JSON schema: {}", e.what());
    }
  });
}

}  // namespace llmchain::sampling
