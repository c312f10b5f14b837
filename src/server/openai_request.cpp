#include "server/openai_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/json_util.h"
#include "base/utf8.h"

namespace llmchain::server {
namespace {

using nlohmann::json;

[[noreturn]] void wrong_type(const std::string& param, const char* expected, const json& got) {
  throw_wrong_type(param, expected, got);
}

bool is_integer(const json& j) {
  if (j.is_number_integer() || j.is_number_unsigned()) return true;
  if (j.is_number_float()) {
    double d = j.get<double>();
    return std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18;
  }
  return false;
}

std::vector<int32_t> parse_token_array(const json& arr, const std::string& param, int32_t n_vocab) {
  std::vector<int32_t> out;
  out.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& t = arr[i];
    std::string p = fmt::format("{}[{}]", param, i);
    if (!is_integer(t)) wrong_type(p, "an integer token id", t);
    int64_t id = t.get<int64_t>();
    if (id < 0 || (n_vocab > 0 && id >= n_vocab)) {
      throw_invalid(p, fmt::format("Token id {} in '{}' is outside the vocabulary [0, {}).", id, p, n_vocab));
    }
    out.push_back(static_cast<int32_t>(id));
  }
  return out;
}

// string | [string] | [int] | [[int]] -> prompts (completions prompt, embeddings input).
std::vector<PromptInput> parse_prompts(const json& v, const std::string& param, int32_t n_vocab) {
  std::vector<PromptInput> out;
  if (v.is_string()) {
    out.push_back({v.get<std::string>(), std::nullopt});
    return out;
  }
  if (!v.is_array()) wrong_type(param, "a string or an array", v);
  if (v.empty()) throw_invalid(param, fmt::format("'{}' must not be empty.", param));
  if (is_integer(v[0])) {
    out.push_back({"", parse_token_array(v, param, n_vocab)});
    return out;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const json& item = v[i];
    std::string p = fmt::format("{}[{}]", param, i);
    if (item.is_string()) {
      out.push_back({item.get<std::string>(), std::nullopt});
    } else if (item.is_array()) {
      if (item.empty()) throw_invalid(p, fmt::format("'{}' must not be an empty token array.", p));
      out.push_back({"", parse_token_array(item, p, n_vocab)});
    } else {
      wrong_type(p, "a string or an array of token ids", item);
    }
  }
  return out;
}

std::string parse_content(const json& content, const std::string& param, bool allow_null) {
  if (content.is_null()) {
    if (allow_null) return "";
    throw_invalid(param, fmt::format("'{}' is required.", param), "missing_required_parameter");
  }
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) wrong_type(param, "a string or an array of content parts", content);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string p = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) wrong_type(p, "an object", part);
    FieldReader r(part, p + ".");
    auto type = r.string("type");
    if (!type) throw_invalid(p + ".type", fmt::format("'{}.type' is required.", p), "missing_required_parameter");
    if (*type != "text") {
      throw_invalid(p + ".type",
                    fmt::format("Content part type '{}' is not supported by this model; only 'text' is.", *type),
                    "unsupported_content_type");
    }
    auto t = r.string("text");
    if (!t) throw_invalid(p + ".text", fmt::format("'{}.text' is required.", p), "missing_required_parameter");
    text += *t;
  }
  return text;
}

std::vector<engine::ChatMessage> parse_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) {
    throw_invalid("messages", "Missing required parameter: 'messages'.", "missing_required_parameter");
  }
  if (!it->is_array()) wrong_type("messages", "an array", *it);
  if (it->empty()) throw_invalid("messages", "'messages' must contain at least one message.", "empty_array");
  std::vector<engine::ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    std::string p = fmt::format("messages[{}]", i);
    if (!m.is_object()) wrong_type(p, "an object", m);
    FieldReader r(m, p + ".");
    auto role = r.string("role");
    if (!role)
      throw_invalid(p + ".role", fmt::format("Missing required parameter: '{}.role'.", p),
                    "missing_required_parameter");
    engine::ChatMessage msg;
    if (*role == "developer") {
      msg.role = "system";
    } else if (*role == "system" || *role == "user" || *role == "assistant" || *role == "tool") {
      msg.role = *role;
    } else {
      throw_invalid(p + ".role",
                    fmt::format("Invalid value for '{}.role': '{}'. Supported values are: 'system', 'developer', "
                                "'user', 'assistant' and 'tool'.",
                                p, *role));
    }
    bool may_be_null = msg.role == "assistant" && m.contains("tool_calls");
    auto c = m.find("content");
    if (c == m.end()) {
      if (!may_be_null) {
        throw_invalid(p + ".content", fmt::format("Missing required parameter: '{}.content'.", p),
                      "missing_required_parameter");
      }
    } else {
      msg.content = parse_content(*c, p + ".content", may_be_null);
    }
    for (const char* key : {"name", "tool_calls", "tool_call_id"}) {
      auto f = m.find(key);
      if (f != m.end() && !f->is_null()) msg.extra[key] = *f;
    }
    if (auto name = r.get("name"); name && !name->is_string()) wrong_type(p + ".name", "a string", *name);
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<std::string> parse_stop(const FieldReader& r) {
  const json* v = r.get("stop");
  std::vector<std::string> out;
  if (!v) return out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > 4) {
      throw_invalid("stop", fmt::format("'stop' has {} sequences; at most 4 are allowed.", v->size()));
    }
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) wrong_type(fmt::format("stop[{}]", i), "a string", (*v)[i]);
      out.push_back((*v)[i].get<std::string>());
    }
  } else {
    wrong_type("stop", "a string or an array of strings", *v);
  }
  for (const auto& s : out) {
    if (s.empty()) throw_invalid("stop", "Stop sequences must not be empty strings.");
  }
  return out;
}

sampling::Constraint parse_response_format(const FieldReader& r) {
  sampling::Constraint c;
  const json* rf = r.get("response_format");
  if (!rf) return c;
  if (!rf->is_object()) wrong_type("response_format", "an object", *rf);
  FieldReader f(*rf, "response_format.");
  auto type = f.string("type");
  if (!type) {
    throw_invalid("response_format.type", "Missing required parameter: 'response_format.type'.",
                  "missing_required_parameter");
  }
  if (*type == "text") return c;
  if (*type == "json_object") {
    c.json_object = true;
    return c;
  }
  if (*type != "json_schema") {
    throw_invalid("response_format.type",
                  fmt::format("Invalid value for 'response_format.type': '{}'. Supported values are: 'text', "
                              "'json_object' and 'json_schema'.",
                              *type));
  }
  const json* js = f.get("json_schema");
  if (!js) {
    throw_invalid("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.",
                  "missing_required_parameter");
  }
  if (!js->is_object()) wrong_type("response_format.json_schema", "an object", *js);
  FieldReader s(*js, "response_format.json_schema.");
  auto name = s.string("name");
  if (!name) {
    throw_invalid("response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.",
                  "missing_required_parameter");
  }
  s.boolean("strict");
  const json* schema = s.get("schema");
  if (schema) {
    if (!schema->is_object() && !schema->is_boolean()) {
      wrong_type("response_format.json_schema.schema", "an object", *schema);
    }
    c.json_schema = *schema;
  } else {
    c.json_schema = json::object();  // OpenAI: absent schema means any JSON
  }
  return c;
}

constexpr int64_t kMaxChoices = 128;  // OpenAI's limit for n

// Fields shared by chat and completions.
void parse_common(const json& body, CompletionParams& p, int32_t n_vocab) {
  FieldReader r(body);
  if (auto m = r.string("model")) p.model = *m;
  p.stream = r.boolean("stream").value_or(false);
  if (const json* so = r.get("stream_options")) {
    if (!so->is_object()) wrong_type("stream_options", "an object", *so);
    FieldReader sr(*so, "stream_options.");
    p.include_usage = sr.boolean("include_usage").value_or(false);
    if (!p.stream) {
      throw_invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
    }
  }
  auto max_tokens = r.integer("max_tokens", 1, std::numeric_limits<int32_t>::max());
  auto max_completion = r.integer("max_completion_tokens", 1, std::numeric_limits<int32_t>::max());
  if (max_completion) {
    p.max_tokens = static_cast<int32_t>(*max_completion);
  } else if (max_tokens) {
    p.max_tokens = static_cast<int32_t>(*max_tokens);
  }
  p.n = static_cast<int>(r.integer("n", 1, kMaxChoices).value_or(1));
  auto& s = p.sampling;
  // OpenAI defaults, not the CLI's: temperature 1, top_p 1, no top-k / min-p.
  s.temperature = static_cast<float>(r.number("temperature", 0, 2).value_or(1.0));
  s.top_p = static_cast<float>(r.number("top_p", 0, 1).value_or(1.0));
  s.top_k = static_cast<int32_t>(r.integer("top_k", 0, std::numeric_limits<int32_t>::max()).value_or(0));
  s.min_p = static_cast<float>(r.number("min_p", 0, 1).value_or(0.0));
  s.typical_p = 1.0f;
  s.repeat_penalty = static_cast<float>(r.number("repeat_penalty", 0, 10).value_or(1.0));
  s.frequency_penalty = static_cast<float>(r.number("frequency_penalty", -2, 2).value_or(0.0));
  s.presence_penalty = static_cast<float>(r.number("presence_penalty", -2, 2).value_or(0.0));
  if (auto seed = r.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
  }
  if (const json* lb = r.get("logit_bias")) {
    if (!lb->is_object()) wrong_type("logit_bias", "an object mapping token ids to numbers", *lb);
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      std::string p2 = "logit_bias." + it.key();
      int64_t id = 0;
      size_t used = 0;
      try {
        id = std::stoll(it.key(), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != it.key().size()) {
        throw_invalid("logit_bias", fmt::format("Invalid key in 'logit_bias': '{}' is not a token id.", it.key()));
      }
      if (id < 0 || (n_vocab > 0 && id >= n_vocab)) {
        throw_invalid(
            "logit_bias",
            fmt::format("Invalid key in 'logit_bias': token id {} is outside the vocabulary [0, {}).", id, n_vocab));
      }
      if (!it.value().is_number()) wrong_type(p2, "a number", it.value());
      double bias = it.value().get<double>();
      if (bias < -100 || bias > 100) {
        throw_invalid("logit_bias", fmt::format("Invalid value for '{}': {} is outside [-100, 100].", p2, bias));
      }
      s.logit_bias[static_cast<int32_t>(id)] =
          bias <= -100 ? -std::numeric_limits<float>::infinity() : static_cast<float>(bias);
    }
  }
  p.stop = parse_stop(r);
  p.constraint = parse_response_format(r);
  if (auto u = r.string("user")) p.user = *u;
}

}  // namespace

void throw_wrong_type(const std::string& param, const char* expected, const json& got) {
  throw_invalid(param, json_wrong_type_message(param, expected, got), "invalid_type");
}

const json* FieldReader::get(const std::string& key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<std::string> FieldReader::string(const std::string& key) const {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(name(key), "a string", *v);
  return v->get<std::string>();
}

std::optional<bool> FieldReader::boolean(const std::string& key) const {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name(key), "a boolean", *v);
  return v->get<bool>();
}

std::optional<int64_t> FieldReader::integer(const std::string& key, int64_t min, int64_t max) const {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!is_integer(*v)) wrong_type(name(key), "an integer", *v);
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw_invalid(name(key), fmt::format("Invalid value for '{}': integer out of range.", name(key)));
  }
  int64_t x = v->is_number_float() ? static_cast<int64_t>(v->get<double>()) : v->get<int64_t>();
  if (x < min || x > max) {
    throw_invalid(name(key), fmt::format("Invalid value for '{}': {} is outside [{}, {}].", name(key), x, min, max));
  }
  return x;
}

std::optional<double> FieldReader::number(const std::string& key, double min, double max) const {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name(key), "a number", *v);
  double x = v->get<double>();
  if (!(x >= min && x <= max)) {
    throw_invalid(name(key), fmt::format("Invalid value for '{}': {} is outside [{}, {}].", name(key), x, min, max));
  }
  return x;
}

namespace {

// nlohmann's message without its "[json.exception.parse_error.101] " tag.
std::string json_error_detail(const std::exception& e) {
  std::string what = e.what();
  if (!what.empty() && what.front() == '[') {
    auto close = what.find("] ");
    if (close != std::string::npos) what = what.substr(close + 2);
  }
  return what;
}

}  // namespace

json parse_json_body(const std::string& body) {
  if (body.empty())
    throw ApiException(ApiError{400, "The request body is empty; expected a JSON object.", "invalid_request_error",
                                std::nullopt, "invalid_json"});
  if (!utf8::is_valid(body)) {
    throw ApiException(
        ApiError{400, "The request body is not valid UTF-8.", "invalid_request_error", std::nullopt, "invalid_utf8"});
  }
  if (json_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    throw ApiException(
        ApiError{400, fmt::format("The request body nests arrays and objects more than {} levels deep.", kMaxJsonDepth),
                 "invalid_request_error", std::nullopt, "nesting_too_deep"});
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    // parse errors, and numbers out of range (1e999)
    throw ApiException(ApiError{400, fmt::format("The request body is not valid JSON: {}", json_error_detail(e)),
                                "invalid_request_error", std::nullopt, "invalid_json"});
  }
  if (!j.is_object()) {
    throw_invalid("", fmt::format("The request body must be a JSON object, not {}.", json_type_name(j)),
                  "invalid_type");
  }
  return j;
}

CompletionParams parse_chat_request(const json& body, int32_t n_vocab) {
  CompletionParams p;
  p.chat = true;
  p.messages = parse_messages(body);
  parse_common(body, p, n_vocab);
  FieldReader r(body);
  bool want = r.boolean("logprobs").value_or(false);
  auto top = r.integer("top_logprobs", 0, 20);
  if (top && !want) throw_invalid("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
  if (want) p.logprobs = static_cast<int32_t>(top.value_or(0));
  p.tools = parse_tool_request(body);
  // A forced call is valid JSON for the function's parameters; it takes the place of response_format.
  if (auto c = tool_constraint(p.tools); !c.empty()) p.constraint = std::move(c);
  return p;
}

CompletionParams parse_completion_request(const json& body, int32_t n_vocab) {
  CompletionParams p;
  p.chat = false;
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) {
    throw_invalid("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter");
  }
  p.prompts = parse_prompts(*it, "prompt", n_vocab);
  parse_common(body, p, n_vocab);
  FieldReader r(body);
  if (auto lp = r.integer("logprobs", 0, 20)) p.logprobs = static_cast<int32_t>(*lp);
  p.echo = r.boolean("echo").value_or(false);
  if (auto bo = r.integer("best_of", 1, 1000); bo && *bo != 1) {
    throw_invalid("best_of", "'best_of' other than 1 is not supported.", "unsupported_value");
  }
  if (auto sfx = r.string("suffix"); sfx && !sfx->empty()) {
    throw_invalid("suffix", "'suffix' (insertion) is not supported by this server.", "unsupported_value");
  }
  return p;
}

EmbeddingParams parse_embedding_request(const json& body, int32_t n_vocab) {
  EmbeddingParams p;
  auto it = body.find("input");
  if (it == body.end() || it->is_null()) {
    throw_invalid("input", "Missing required parameter: 'input'.", "missing_required_parameter");
  }
  p.inputs = parse_prompts(*it, "input", n_vocab);
  FieldReader r(body);
  if (auto m = r.string("model")) p.model = *m;
  if (auto enc = r.string("encoding_format")) {
    if (*enc == "base64") {
      p.base64 = true;
    } else if (*enc != "float") {
      throw_invalid("encoding_format",
                    fmt::format("Invalid value for 'encoding_format': '{}'. Supported values are: 'float' and "
                                "'base64'.",
                                *enc));
    }
  }
  p.dimensions = r.integer("dimensions", 1, std::numeric_limits<int32_t>::max());
  r.string("user");
  return p;
}

RerankParams parse_rerank_request(const json& body) {
  RerankParams p;
  FieldReader r(body);
  if (auto m = r.string("model")) p.model = *m;
  auto q = r.string("query");
  if (!q) throw_invalid("query", "Missing required parameter: 'query'.", "missing_required_parameter");
  p.query = *q;
  const char* key = body.contains("documents") ? "documents" : "texts";
  const json* docs = r.get(key);
  if (!docs) throw_invalid("documents", "Missing required parameter: 'documents'.", "missing_required_parameter");
  if (!docs->is_array() || docs->empty())
    throw_invalid(key, fmt::format("'{}' must be a non-empty array of strings.", key));
  constexpr size_t kMaxDocuments = 1000;
  if (docs->size() > kMaxDocuments)
    throw_invalid(key, fmt::format("'{}' has {} entries; at most {} are allowed.", key, docs->size(), kMaxDocuments));
  for (size_t i = 0; i < docs->size(); ++i) {
    const json& d = (*docs)[i];
    const json* text = d.is_object() && d.contains("text") ? &d["text"] : &d;
    if (!text->is_string())
      throw_invalid(fmt::format("{}[{}]", key, i),
                    fmt::format("'{}[{}]' must be a string (or an object with a string 'text').", key, i));
    p.documents.push_back(text->get<std::string>());
  }
  p.top_n = r.integer("top_n", 1, std::numeric_limits<int32_t>::max());
  p.return_documents = r.boolean("return_documents").value_or(false);
  return p;
}

}  // namespace llmchain::server
