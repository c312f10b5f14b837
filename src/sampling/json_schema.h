#pragma once
// JSON Schema and JSON mode as GBNF. The conversion fails closed: any keyword
// it cannot enforce is an error (kUnsupported) naming the keyword and its JSON
// pointer, never silently dropped, so a constrained request can never fall
// back to free text.
//
// Supported: type (incl. arrays of types), properties, required,
// additionalProperties (false / true / schema; absent = no extra keys are
// generated, which is valid), minProperties (at most the number of declared
// properties: extra keys could repeat) / maxProperties, enum, const, items,
// minItems, maxItems, anyOf, oneOf (only when no value can match two branches:
// disjoint types or distinct enum/const values; otherwise rejected), allOf
// (merged into one schema, see json_schema_allof.h), $ref (local "#/...",
// incl. $defs and definitions; recursion allowed), minLength, maxLength,
// pattern (ECMAScript subset, see regex_gbnf.h), format (date, date-time,
// uuid), and on integers minimum, maximum, exclusiveMinimum, exclusiveMaximum
// (numbers or draft 4 booleans; exact, see int_range_gbnf.h; on type number
// they are rejected). Annotations are accepted: title, description, examples,
// $schema, $id, $comment, default, deprecated, readOnly, writeOnly.
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "sampling/params.h"

namespace llmchain::sampling {

// Size limits: at most kMaxSchemaRules generated rules (400 beyond: the schema is too large).
inline constexpr size_t kMaxSchemaRules = 100000;
Expected<std::string> json_schema_to_gbnf(const nlohmann::json& schema, const CompileBudget& budget = {});

// Grammar of any JSON object (OpenAI's response_format json_object).
std::string json_object_gbnf();

}  // namespace llmchain::sampling
