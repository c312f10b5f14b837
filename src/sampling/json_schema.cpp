#include "sampling/json_schema.h"

namespace llmchain::sampling {

std::string json_object_gbnf() { return "root ::= \"{}\"\n"; }

Expected<std::string> json_schema_to_gbnf(const nlohmann::json& schema) {
  return Error(ErrorCode::kUnsupported, "not yet");
}

}  // namespace llmchain::sampling
