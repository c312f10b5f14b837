#pragma once
// A small JSON Schema validator for chain outputs (the subset models are asked to follow):
// type (incl. arrays of types, "integer"), enum, const, properties, required,
// additionalProperties (bool or schema), items, minItems, maxItems, minLength, maxLength,
// minimum, maximum, anyOf, oneOf (treated as anyOf), allOf. Other keywords are ignored.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace llmchain::chain {

// nullopt when value satisfies schema; otherwise the first violation, e.g. "$.items[2]: expected string".
std::optional<std::string> validate_json_schema(const nlohmann::json& value, const nlohmann::json& schema);

// Finds the JSON document in model output: strips ``` fences and text around the first
// top-level object or array. Throws Error(kInternal) when there is none that parses.
nlohmann::json extract_json(const std::string& text);

}  // namespace llmchain::chain
