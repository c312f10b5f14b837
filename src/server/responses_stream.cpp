// Chat-completions SSE chunks -> the Responses API's typed stream events.
//
// Item order follows the chat stream: text opens a `message` item (closed when a call
// starts or at the end), each new tool-call index opens a `function_call` item. Calls of the
// chat route's auto mode arrive whole at the end, forced ones stream their arguments; both
// become output_item.added (arguments "") + arguments deltas + .done + output_item.done, which
// is what the SDK's accumulator and LangChain's converter expect.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "base/log.h"
#include "server/openai_response.h"
#include "server/responses_api.h"

namespace llmchain::server {

using nlohmann::json;

namespace {

json text_part(const std::string& text) {
  return {{"type", "output_text"}, {"text", text}, {"annotations", json::array()}, {"logprobs", json::array()}};
}

json responses_usage(const json& chat_usage) {
  if (!chat_usage.is_object()) return nullptr;
  const int64_t in = chat_usage.value("prompt_tokens", int64_t{0});
  const int64_t out = chat_usage.value("completion_tokens", int64_t{0});
  int64_t cached = 0;
  if (auto d = chat_usage.find("prompt_tokens_details"); d != chat_usage.end() && d->is_object()) {
    cached = d->value("cached_tokens", int64_t{0});
  }
  return {{"input_tokens", in},
          {"input_tokens_details", {{"cached_tokens", cached}}},
          {"output_tokens", out},
          {"output_tokens_details", {{"reasoning_tokens", 0}}},
          {"total_tokens", in + out}};
}

// The `response.error.code` values the API documents; everything of ours is a server error
// except a full queue.
const char* response_error_code(const json& err) {
  return err.value("code", json(nullptr)) == json("queue_full") ? "rate_limit_exceeded" : "server_error";
}

}  // namespace

// ---- non-streaming ----

json response_from_chat(const json& skeleton, const json& chat) {
  json resp = skeleton;
  const json& choice = chat.at("choices").at(0);
  const json& msg = choice.at("message");
  std::string finish = "stop";
  if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) finish = *f;
  const bool cut = finish == "length";
  const char* item_status = cut ? "incomplete" : "completed";
  const json content = msg.value("content", json(nullptr));
  const json calls = msg.value("tool_calls", json::array());
  json output = json::array();
  const std::string text = content.is_string() ? content.get<std::string>() : std::string();
  if (!text.empty() || calls.empty()) {
    output.push_back({{"id", make_id("msg_")},
                      {"type", "message"},
                      {"status", item_status},
                      {"role", "assistant"},
                      {"content", json::array({text_part(text)})}});
  }
  for (const auto& c : calls) {
    const json& fn = c.at("function");
    output.push_back({{"id", make_id("fc_")},
                      {"type", "function_call"},
                      {"status", item_status},
                      {"call_id", c.value("id", make_id("call_"))},
                      {"name", fn.value("name", "")},
                      {"arguments", fn.value("arguments", "")}});
  }
  resp["output"] = std::move(output);
  resp["model"] = chat.value("model", resp.value("model", json(nullptr)));
  resp["usage"] = responses_usage(chat.value("usage", json(nullptr)));
  resp["status"] = cut ? "incomplete" : "completed";
  if (cut) {
    resp["incomplete_details"] = {{"reason", "max_output_tokens"}};
  } else {
    resp["completed_at"] = unix_now();
  }
  return resp;
}

// ---- streaming ----

ResponseEventWriter::ResponseEventWriter(json skeleton, const ChunkWriter& write)
    : resp_(std::move(skeleton)), write_(write) {}

bool ResponseEventWriter::emit(const char* type, json event) {
  event["type"] = type;
  event["sequence_number"] = seq_++;
  return write_(sse_event(type, event));
}

bool ResponseEventWriter::start(const json* chunk) {
  if (started_) return true;
  started_ = true;
  // The served model's id comes with the chunks (the request may name an alias, or nothing).
  if (chunk && chunk->contains("model") && (*chunk)["model"].is_string()) resp_["model"] = (*chunk)["model"];
  return emit("response.created", {{"response", resp_}}) && emit("response.in_progress", {{"response", resp_}});
}

bool ResponseEventWriter::add_item(json item) {
  const size_t index = resp_["output"].size();
  resp_["output"].push_back(item);
  return emit("response.output_item.added", {{"output_index", index}, {"item", std::move(item)}});
}

json ResponseEventWriter::message_item(const char* status) const {
  return {{"id", msg_id_},
          {"type", "message"},
          {"status", status},
          {"role", "assistant"},
          {"content", json::array({text_part(text_)})}};
}

json ResponseEventWriter::call_item(const Call& c, const char* status) const {
  return {{"id", c.id},           {"type", "function_call"}, {"status", status},
          {"call_id", c.call_id}, {"name", c.name},          {"arguments", c.arguments}};
}

bool ResponseEventWriter::open_message() {
  if (msg_open_) return true;
  if (!close_calls("completed")) return false;
  msg_open_ = true;
  msg_index_ = resp_["output"].size();
  msg_id_ = make_id("msg_");
  text_.clear();
  json item = {{"id", msg_id_},
               {"type", "message"},
               {"status", "in_progress"},
               {"role", "assistant"},
               {"content", json::array()}};
  return add_item(std::move(item)) &&
         emit("response.content_part.added",
              {{"item_id", msg_id_}, {"output_index", msg_index_}, {"content_index", 0}, {"part", text_part("")}});
}

bool ResponseEventWriter::close_message(const char* status) {
  if (!msg_open_) return true;
  msg_open_ = false;
  json item = message_item(status);
  resp_["output"][msg_index_] = item;
  json where = {{"item_id", msg_id_}, {"output_index", msg_index_}, {"content_index", 0}};
  json text_done = where, part_done = where;
  text_done["text"] = text_;
  text_done["logprobs"] = json::array();
  part_done["part"] = text_part(text_);
  return emit("response.output_text.done", std::move(text_done)) &&
         emit("response.content_part.done", std::move(part_done)) &&
         emit("response.output_item.done", {{"output_index", msg_index_}, {"item", std::move(item)}});
}

bool ResponseEventWriter::close_calls(const char* status) {
  for (auto& [index, c] : calls_) {
    if (!c.open) continue;
    c.open = false;
    json item = call_item(c, status);
    resp_["output"][c.output_index] = item;
    if (!emit("response.function_call_arguments.done",
              {{"item_id", c.id}, {"output_index", c.output_index}, {"name", c.name}, {"arguments", c.arguments}}) ||
        !emit("response.output_item.done", {{"output_index", c.output_index}, {"item", std::move(item)}})) {
      return false;
    }
  }
  return true;
}

bool ResponseEventWriter::close_all(const char* status) { return close_message(status) && close_calls(status); }

bool ResponseEventWriter::feed(std::string_view bytes) {
  pending_.append(bytes);
  size_t pos = 0;
  for (size_t end; (end = pending_.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
    if (!on_event(std::string_view(pending_).substr(pos, end - pos))) {
      pending_.clear();
      return false;
    }
  }
  pending_.erase(0, pos);
  return true;
}

bool ResponseEventWriter::on_event(std::string_view block) {
  if (block.empty()) return true;
  if (block.front() == ':') return write_(std::string(block) + "\n\n");  // keep-alive: finds a client that left
  std::string data;
  for (size_t pos = 0; pos < block.size();) {
    size_t eol = block.find('\n', pos);
    std::string_view line = block.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? block.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("data:", 0) != 0) continue;
    line.remove_prefix(5);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!data.empty()) data += '\n';
    data.append(line);
  }
  if (data.empty() || failed_) return true;
  if (data == "[DONE]") {
    done_seen_ = true;
    return true;
  }
  json chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object()) return true;  // not ours to judge; the chat route only sends objects
  if (auto err = chunk.find("error"); err != chunk.end()) return on_error(*err);
  return on_chunk(chunk);
}

bool ResponseEventWriter::on_chunk(const json& chunk) {
  if (!start(&chunk)) return false;
  if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) usage_ = *u;
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return true;
  const json& choice = (*choices)[0];
  if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) finish_reason_ = *f;
  auto d = choice.find("delta");
  if (d == choice.end() || !d->is_object()) return true;
  if (auto c = d->find("content"); c != d->end() && c->is_string() && !c->get<std::string>().empty()) {
    if (!open_message()) return false;
    const std::string piece = *c;
    text_ += piece;
    if (!emit("response.output_text.delta", {{"item_id", msg_id_},
                                             {"output_index", msg_index_},
                                             {"content_index", 0},
                                             {"delta", piece},
                                             {"logprobs", json::array()}})) {
      return false;
    }
  }
  auto tcs = d->find("tool_calls");
  if (tcs == d->end() || !tcs->is_array()) return true;
  for (const auto& tc : *tcs) {
    const int index = tc.value("index", 0);
    const json fn = tc.value("function", json::object());
    auto it = std::find_if(calls_.begin(), calls_.end(), [&](const auto& e) { return e.first == index; });
    if (it == calls_.end()) {
      if (!close_message("completed")) return false;
      Call c;
      c.output_index = resp_["output"].size();
      c.id = make_id("fc_");
      c.call_id = tc.value("id", make_id("call_"));
      c.name = fn.value("name", "");
      calls_.emplace_back(index, c);
      it = std::prev(calls_.end());
      if (!add_item(call_item(c, "in_progress"))) return false;
    }
    Call& c = it->second;
    const std::string args = fn.value("arguments", "");
    if (args.empty() || !c.open) continue;
    c.arguments += args;
    if (!emit("response.function_call_arguments.delta",
              {{"item_id", c.id}, {"output_index", c.output_index}, {"delta", args}})) {
      return false;
    }
  }
  return true;
}

bool ResponseEventWriter::on_error(const json& err) {
  if (!start(nullptr)) return false;
  failed_ = true;
  const std::string message = err.value("message", std::string("The generation failed."));
  // Items cut off by the failure end incomplete; the failed response shows what was made.
  if (msg_open_) {
    msg_open_ = false;
    resp_["output"][msg_index_] = message_item("incomplete");
  }
  for (auto& [index, c] : calls_) {
    if (c.open) resp_["output"][c.output_index] = call_item(c, "incomplete");
    c.open = false;
  }
  resp_["status"] = "failed";
  resp_["error"] = {{"code", response_error_code(err)}, {"message", message}};
  resp_["usage"] = responses_usage(usage_);
  json param = err.value("param", json(nullptr));
  if (param.is_string()) param = responses_param(param.get<std::string>());
  return emit("error", {{"code", err.value("code", json(nullptr))}, {"message", message}, {"param", param}}) &&
         emit("response.failed", {{"response", resp_}});
}

bool ResponseEventWriter::finish() {
  if (finished_) return true;
  finished_ = true;
  if (failed_) return true;
  if (!done_seen_) {
    // The chat stream stopped without its end marker (the engine went away mid-answer).
    return on_error(
        {{"message", "The generation stream ended before the response was complete."}, {"code", "stream_incomplete"}});
  }
  if (!start(nullptr)) return false;
  const bool cut = finish_reason_ == "length";
  const char* item_status = cut ? "incomplete" : "completed";
  // A reply with no text and no call is still one (empty) message, as in a plain response.
  if (resp_["output"].empty() && !open_message()) return false;
  if (!close_all(item_status)) return false;
  resp_["usage"] = responses_usage(usage_);
  resp_["status"] = cut ? "incomplete" : "completed";
  if (cut) {
    resp_["incomplete_details"] = {{"reason", "max_output_tokens"}};
  } else {
    resp_["completed_at"] = unix_now();
  }
  if (on_final) {
    try {
      on_final(resp_);
    } catch (const std::exception& e) {
      LLMC_LOG_ERROR("responses: could not store {}: {}", resp_.value("id", ""), e.what());
    }
  }
  return emit(cut ? "response.incomplete" : "response.completed", {{"response", resp_}});
}

}  // namespace llmchain::server
