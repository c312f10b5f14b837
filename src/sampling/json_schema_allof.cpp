#include "sampling/json_schema_allof.h"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "sampling/json_schema_keywords.h"

namespace llmchain::sampling::schema {
namespace {

using nlohmann::json;

// One conjunct: a schema object at a JSON pointer, minus the keywords in
// `skip` (allOf always: its branches are conjuncts of their own).
struct Branch {
  const json* s;
  std::string ptr;
  std::vector<std::string> skip;

  bool has(const char* kw) const { return s->contains(kw) && std::find(skip.begin(), skip.end(), kw) == skip.end(); }
  const json& at(const char* kw) const { return (*s)[kw]; }
};

json ref_to(const std::string& ptr) { return json{{"$ref", "#" + ptr}}; }

// The conjunction of the subschemas at `ptrs`.
json all_of_refs(const std::vector<std::string>& ptrs) {
  if (ptrs.size() == 1) return ref_to(ptrs[0]);
  json list = json::array();
  for (const auto& p : ptrs) list.push_back(ref_to(p));
  return json{{"allOf", list}};
}

std::set<std::string> type_set(const Branch& b) {
  std::set<std::string> out;
  const json& t = b.at("type");
  for (const auto& v : t.is_array() ? t : json::array({t})) {
    if (!v.is_string()) bad(b.ptr + "/type", "has an unknown type");
    out.insert(v.get<std::string>());
  }
  return out;
}

// Integers are numbers: {number} and {integer} have {integer} in common.
std::set<std::string> intersect_types(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  for (const auto& t : a) {
    if (b.count(t)) out.insert(t);
  }
  if ((a.count("number") && b.count("integer")) || (a.count("integer") && b.count("number"))) out.insert("integer");
  return out;
}

// A numeric bound: value, and whether it excludes the value itself.
struct Bound {
  json value;
  bool exclusive = false;
};

class Merger {
 public:
  Merger(const json& root, const std::string& ptr) : root_(root), ptr_(ptr) {}

  // Flattens `s` (at ptr) into conjuncts: through $ref and nested allOf.
  void collect(const json& s, const std::string& ptr, int depth, std::vector<Branch>& out) {
    if (depth > 32) unsupported(ptr, "allOf nested or referenced more than 32 levels deep");
    if (s.is_boolean()) {
      if (!s.get<bool>()) bad(ptr, "is the schema 'false': no value can match");
      return;
    }
    if (!s.is_object()) bad(ptr, "must be an object or a boolean");
    check_keywords(s, ptr);
    if (s.contains("$ref")) {
      for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string& k = it.key();
        if (k == "$ref" || kAnnotations.count(k) || k == "$defs" || k == "definitions") continue;
        unsupported(ptr + "/" + pointer_escape(k), fmt::format("keyword '{}' next to '$ref'", k));
      }
      if (!s["$ref"].is_string()) bad(ptr + "/$ref", "must be a string");
      std::string ref = s["$ref"].get<std::string>();
      if (ref.rfind("#", 0) != 0) unsupported(ptr + "/$ref", fmt::format("non-local $ref '{}'", ref));
      json::json_pointer jp;
      try {
        jp = json::json_pointer(ref.substr(1));
      } catch (const json::exception&) {
        bad(ptr + "/$ref", fmt::format("is not a valid JSON pointer: '{}'", ref));
      }
      if (!root_.contains(jp)) bad(ptr + "/$ref", fmt::format("points nowhere: '{}'", ref));
      collect(root_.at(jp), ref.substr(1), depth + 1, out);
      return;
    }
    if (s.contains("allOf")) {
      const json& list = s["allOf"];
      if (!list.is_array() || list.empty()) bad(ptr + "/allOf", "must be a non-empty array");
      for (size_t i = 0; i < list.size(); ++i) collect(list[i], fmt::format("{}/allOf/{}", ptr, i), depth + 1, out);
    }
    bool contributes = false;
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      contributes = contributes || !(k == "allOf" || kAnnotations.count(k) || k == "$defs" || k == "definitions");
    }
    if (contributes) out.push_back({&s, ptr, {"allOf"}});
  }

  // The merged schema, or nullopt when no value can satisfy every branch
  // (then `impossible_` says why). A distributed alternative that nothing can
  // satisfy is left out.
  std::optional<json> merge(std::vector<Branch> branches) {
    // Distribute over the first anyOf/oneOf: allOf[X, anyOf[a, b]] = anyOf[allOf[X, a], allOf[X, b]].
    for (size_t b = 0; b < branches.size(); ++b) {
      for (const char* kw : {"anyOf", "oneOf"}) {
        if (!branches[b].has(kw)) continue;
        const json& list = branches[b].at(kw);
        const std::string at = branches[b].ptr + "/" + kw;
        if (!list.is_array() || list.empty()) bad(at, "must be a non-empty array");
        json alts = json::array();
        for (size_t j = 0; j < list.size(); ++j) {
          std::vector<Branch> next = branches;
          next[b].skip.push_back(kw);
          collect(list[j], fmt::format("{}/{}", at, j), 0, next);
          if (std::optional<json> alt = merge(std::move(next))) alts.push_back(std::move(*alt));
        }
        if (alts.empty()) return std::nullopt;
        return json{{kw, alts}};
      }
    }
    if (++combinations_ > kMaxCombinations) {
      unsupported(
          ptr_ + "/allOf",
          fmt::format("allOf whose anyOf/oneOf branches combine into more than {} alternatives", kMaxCombinations));
    }
    json out = json::object();
    if (!merge_types(branches, out) || !merge_values(branches, out) || !merge_object(branches, out)) {
      return std::nullopt;
    }
    std::vector<std::string> items;
    for (const auto& b : branches) {
      if (!b.has("items")) continue;
      if (b.at("items").is_array()) unsupported(b.ptr + "/items", "tuple form of 'items' (an array)");
      items.push_back(b.ptr + "/items");
    }
    if (!items.empty()) out["items"] = all_of_refs(items);
    for (const char* kw : {"minItems", "minLength", "minProperties"}) merge_count(branches, kw, true, out);
    for (const char* kw : {"maxItems", "maxLength", "maxProperties"}) merge_count(branches, kw, false, out);
    merge_bounds(branches, true, out);
    merge_bounds(branches, false, out);
    for (const char* kw : {"pattern", "format"}) merge_same(branches, kw, out);
    return out;
  }

 private:
  const json& root_;
  std::string ptr_;
  size_t combinations_ = 0;

 public:
  std::string impossible_;  // why the last impossible merge was

 private:
  bool merge_types(const std::vector<Branch>& branches, json& out) {
    std::optional<std::set<std::string>> types;
    for (const auto& b : branches) {
      if (!b.has("type")) continue;
      std::set<std::string> t = type_set(b);
      types = types ? intersect_types(*types, t) : t;
    }
    if (!types) return true;
    if (types->empty()) return no("has no type that every branch allows");
    out["type"] = types->size() == 1 ? json(*types->begin()) : json(*types);
    return true;
  }

  bool no(const std::string& why) {
    impossible_ = why;
    return false;
  }

  // enum and const: the values every branch allows.
  bool merge_values(const std::vector<Branch>& branches, json& out) {
    std::optional<std::vector<json>> values;
    for (const auto& b : branches) {
      for (const char* kw : {"enum", "const"}) {
        if (!b.has(kw)) continue;
        json list = std::string(kw) == "const" ? json::array({b.at(kw)}) : b.at(kw);
        if (!list.is_array() || list.empty()) bad(b.ptr + "/enum", "must be a non-empty array");
        if (!values) {
          values = std::vector<json>(list.begin(), list.end());
          continue;
        }
        std::erase_if(*values, [&](const json& v) { return std::find(list.begin(), list.end(), v) == list.end(); });
      }
    }
    if (!values) return true;
    if (values->empty()) return no("has no value that every branch's enum/const allows");
    out["enum"] = *values;
    return true;
  }

  // properties, required and additionalProperties. A branch's
  // additionalProperties applies to every key that branch does not declare,
  // including keys that other branches declare.
  bool merge_object(const std::vector<Branch>& branches, json& out) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::string>> props;  // key -> subschemas it must satisfy
    for (const auto& b : branches) {
      if (!b.has("properties")) continue;
      if (!b.at("properties").is_object()) bad(b.ptr + "/properties", "must be an object");
      for (auto it = b.at("properties").begin(); it != b.at("properties").end(); ++it) {
        if (!props.count(it.key())) order.push_back(it.key());
        props[it.key()].push_back(b.ptr + "/properties/" + pointer_escape(it.key()));
      }
    }
    std::vector<std::string> required;
    for (const auto& b : branches) {
      if (!b.has("required")) continue;
      if (!b.at("required").is_array()) bad(b.ptr + "/required", "must be an array");
      for (const auto& r : b.at("required")) {
        if (!r.is_string()) bad(b.ptr + "/required", "must list strings");
        if (std::find(required.begin(), required.end(), r.get<std::string>()) == required.end())
          required.push_back(r.get<std::string>());
      }
    }
    std::vector<std::string> extra;  // additionalProperties subschemas
    bool no_extra = false;
    std::set<std::string> dropped;
    for (const auto& b : branches) {
      if (!b.has("additionalProperties")) continue;
      const json& a = b.at("additionalProperties");
      if (a == true) continue;
      const std::string at = b.ptr + "/additionalProperties";
      std::set<std::string> declared;
      if (b.has("properties")) {
        for (auto it = b.at("properties").begin(); it != b.at("properties").end(); ++it) declared.insert(it.key());
      }
      for (const auto& key : order) {
        if (declared.count(key)) continue;
        if (a == false) {
          if (std::find(required.begin(), required.end(), key) != required.end()) {
            return no(fmt::format("has '{}' required by one branch and forbidden by the additionalProperties at '{}'",
                                  key, at));
          }
          dropped.insert(key);  // may not appear at all
        } else {
          props[key].push_back(at);
        }
      }
      if (a == false) {
        no_extra = true;
      } else {
        extra.push_back(at);
      }
    }
    if (!order.empty()) {
      json p = json::object();
      for (const auto& key : order) {
        if (!dropped.count(key)) p[key] = all_of_refs(props[key]);
      }
      out["properties"] = p;
    }
    if (!required.empty()) out["required"] = required;
    if (no_extra) {
      out["additionalProperties"] = false;
    } else if (!extra.empty()) {
      out["additionalProperties"] = all_of_refs(extra);
    }
    return true;
  }

  void merge_count(const std::vector<Branch>& branches, const char* kw, bool lower, json& out) const {
    for (const auto& b : branches) {
      if (!b.has(kw)) continue;
      const json& v = b.at(kw);
      if (!v.is_number()) bad(b.ptr + "/" + kw, "must be a non-negative integer");
      if (!out.contains(kw) || (lower ? out[kw] < v : v < out[kw])) out[kw] = v;
    }
  }

  // The tightest lower (or upper) bound, from minimum / exclusiveMinimum (a
  // number, or draft 4's boolean that makes minimum exclusive).
  void merge_bounds(const std::vector<Branch>& branches, bool lower, json& out) const {
    const char* inclusive = lower ? "minimum" : "maximum";
    const char* exclusive = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    std::optional<Bound> best;
    auto consider = [&](const Bound& c) {
      bool tighter = !best || (lower ? best->value < c.value : c.value < best->value) ||
                     (c.value == best->value && c.exclusive && !best->exclusive);
      if (tighter) best = c;
    };
    for (const auto& b : branches) {
      bool excl_flag = false;
      if (b.has(exclusive)) {
        const json& e = b.at(exclusive);
        if (e.is_boolean()) {
          excl_flag = e.get<bool>();
        } else if (e.is_number()) {
          consider({e, true});
        } else {
          bad(b.ptr + "/" + exclusive, "must be a number");
        }
      }
      if (b.has(inclusive)) {
        if (!b.at(inclusive).is_number()) bad(b.ptr + "/" + inclusive, "must be a number");
        consider({b.at(inclusive), excl_flag});
      }
    }
    if (best) out[best->exclusive ? exclusive : inclusive] = best->value;
  }

  // pattern and format: at most one distinct value across the branches.
  void merge_same(const std::vector<Branch>& branches, const char* kw, json& out) const {
    for (const auto& b : branches) {
      if (!b.has(kw)) continue;
      if (out.contains(kw) && out[kw] != b.at(kw)) {
        unsupported(b.ptr + "/" + kw, fmt::format("'{}' in more than one allOf branch", kw));
      }
      out[kw] = b.at(kw);
    }
  }
};

}  // namespace

MergedAllOf merge_all_of(const nlohmann::json& root, const nlohmann::json& s, const std::string& ptr) {
  Merger m(root, ptr);
  std::vector<Branch> branches;
  m.collect(s, ptr, 0, branches);
  std::vector<std::string> ids;
  for (const auto& b : branches) ids.push_back(b.ptr);
  std::sort(ids.begin(), ids.end());
  MergedAllOf out;
  out.key = "allOf";
  for (const auto& id : ids) out.key += "|#" + id;
  std::optional<json> merged = m.merge(std::move(branches));
  if (!merged) bad(ptr + "/allOf", m.impossible_);
  out.schema = std::move(*merged);
  return out;
}

}  // namespace llmchain::sampling::schema
