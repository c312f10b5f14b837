#pragma once
// JSON Schema `allOf` as one schema, for the converter (json_schema.cpp).
//
// The branches (and the keywords next to allOf, an implicit branch) are
// flattened through nested allOf and local $ref, then merged keyword by
// keyword: types intersect, enum/const values intersect, properties and
// required unite, numeric and length bounds take the tightest value. A
// subschema met in several branches (a property, items, additionalProperties)
// becomes {"allOf": [{"$ref": ...}, ...]} of the originals, and one met once
// a {"$ref": ...} to it, so errors inside still name the original JSON
// pointer and recursive schemas stay finite. A branch holding anyOf/oneOf is
// distributed: allOf[X, anyOf[a, b]] = anyOf[allOf[X, a], allOf[X, b]] (at
// most kMaxCombinations alternatives).
//
// What cannot be merged exactly is an error (kUnsupported) naming the keyword
// and its pointer: `pattern` or `format` in two branches (with different
// values), and additionalProperties in one branch next to properties that
// another branch declares (the branch would forbid them).
#include <nlohmann/json.hpp>
#include <string>

namespace llmchain::sampling::schema {

struct MergedAllOf {
  nlohmann::json schema;  // no allOf at the top; subschemas are local $refs into `root`
  std::string key;        // identifies the set of merged branches (for caching the rule)
};

inline constexpr size_t kMaxCombinations = 64;

// s: a schema object with "allOf", found at JSON pointer `ptr` of `root`.
MergedAllOf merge_all_of(const nlohmann::json& root, const nlohmann::json& s, const std::string& ptr);

}  // namespace llmchain::sampling::schema
