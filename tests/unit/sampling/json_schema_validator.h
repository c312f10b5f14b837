#pragma once
// A small, independent JSON Schema validator for the tests: it shares no code
// with the schema -> grammar compiler (own UTF-8 decoding, std::wregex for
// `pattern`, own date/uuid checks), so it can judge the generated outputs.
#include <nlohmann/json.hpp>
#include <string>

namespace llmchain::sampling::testing {

// Empty when `instance` is valid under `schema` (whose $refs resolve in `root`);
// otherwise the first violation, with its location in the instance.
std::string validate_json(const nlohmann::json& instance, const nlohmann::json& schema, const nlohmann::json& root,
                          const std::string& where = "");

}  // namespace llmchain::sampling::testing
