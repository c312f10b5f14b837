#pragma once
// What the Responses API tests share.
#include <nlohmann/json.hpp>

namespace llmchain::server::test {

// A strict function tool, as the SDKs send it.
inline const nlohmann::json kWeatherTool = {
    {"type", "function"},
    {"name", "get_weather"},
    {"description", "Current weather of a city"},
    {"parameters",
     {{"type", "object"},
      {"properties", {{"city", {{"type", "string"}}}, {"days", {{"type", "integer"}}}}},
      {"required", {"city", "days"}},
      {"additionalProperties", false}}},
    {"strict", true}};

}  // namespace llmchain::server::test
