#pragma once
// Server settings from the YAML config file (--config). Keys of the "server:"
// section (or of the top level when there is none), all optional:
//   model, host, port, parallel, ctx_size, api_key, log_format, threads,
//   chat_template, ui, max_body, max_queue, request_timeout, model_alias
// Flags and LLMCHAIN_* environment variables override the file.
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

namespace llmchain::server {

// The server section as JSON (scalars converted: true/false, numbers, strings).
// kInvalidFile for unreadable YAML, kInvalidArgument for unknown keys.
Expected<nlohmann::json> load_server_config(const std::string& path);

}  // namespace llmchain::server
