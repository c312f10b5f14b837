#pragma once
// The OpenAI Responses API (POST /v1/responses, GET / DELETE /v1/responses/{id}) as a
// translation layer over chat completions: a Responses request becomes a
// /v1/chat/completions body, runs on whatever serves that route (the engine's own handler,
// or the gateway's proxy to an engine), and its result (a chat.completion, or its SSE
// chunks) becomes a `response` object (or the typed response.* events). One generation
// path; this layer only reshapes JSON and keeps the store (responses_store.h).
//
// Served: input as a string or items (messages with text parts, function_call,
// function_call_output), instructions, max_output_tokens, temperature, top_p, function
// tools + tool_choice, parallel_tool_calls, text.format (text, json_object, json_schema),
// metadata, user, stream, store, previous_response_id. Refused with a 400 naming the field:
// built-in tools (web search, file search, computer use, ...), non-text content, background,
// reasoning, include (but reasoning.encrypted_content), truncation "auto", conversation,
// prompt templates.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/lazy.h"
#include "server/http_types.h"
#include "server/responses_store.h"

namespace llmchain::server {

// Runs one chat-completions request (an internal POST /v1/chat/completions, authenticated
// already) and returns that route's answer: JSON, an SSE stream, or an OpenAI error.
using ChatBackend = std::function<HttpResponse(const HttpRequest&)>;

// A Responses request, validated.
struct ResponsesRequest {
  nlohmann::json input_items = nlohmann::json::array();  // this turn's input, as items
  std::optional<std::string> instructions;
  std::optional<std::string> previous_response_id;
  bool stream = false;
  bool store = true;
  // The chat-completions body without "messages" (model, sampling, tools, response_format...).
  nlohmann::json chat = nlohmann::json::object();
  // The response object before it has an id or output: the request's settings as the API
  // echoes them (instructions, metadata, tools, tool_choice, text, temperature...).
  nlohmann::json skeleton = nlohmann::json::object();
};

// Throws ApiException (4xx) naming the Responses field for every malformed value.
ResponsesRequest parse_responses_request(const nlohmann::json& body);

// Chat messages for `items` (input items of earlier turns and this one, output items of
// earlier turns), appended to `messages`. `param` names the items in errors ("input").
void items_to_chat_messages(const nlohmann::json& items, const std::string& param, nlohmann::json& messages);

// The /v1/chat/completions body of a request: instructions (a system message), then the
// history items, then this turn's input.
nlohmann::json chat_body_for(const ResponsesRequest& r, const nlohmann::json& history);

// A finished chat.completion -> the response object (status completed, or incomplete with
// reason max_output_tokens when it stopped at the token limit).
nlohmann::json response_from_chat(const nlohmann::json& skeleton, const nlohmann::json& chat_completion);

// The Responses name of a chat-completions request parameter ("messages[2]" -> "input",
// "tools[0].function.name" -> "tools[0].name", "max_tokens" -> "max_output_tokens").
std::string responses_param(const std::string& chat_param);

// Turns a chat-completions SSE stream into the Responses events (`event: <type>` +
// `data: <json>`, each with a sequence_number): response.created, response.in_progress,
// output_item.added / content_part.added / output_text.delta / .done / content_part.done /
// output_item.done for text, output_item.added / function_call_arguments.delta / .done /
// output_item.done for calls, then response.completed (or response.incomplete); an error in
// the chat stream gives an `error` event and response.failed.
class ResponseEventWriter {
 public:
  // `skeleton`: the response object (id set); `write` sends to the client.
  ResponseEventWriter(nlohmann::json skeleton, const ChunkWriter& write);
  // Called with the final response object just before the closing event is sent (the store).
  std::function<void(const nlohmann::json& response)> on_final;

  // Bytes of the chat stream, split into SSE events here. False once the client has gone.
  bool feed(std::string_view bytes);
  // The chat stream has ended: closes the open items and sends the closing event.
  bool finish();
  // The response object as it stands (final after finish()).
  const nlohmann::json& response() const { return resp_; }

 private:
  struct Call {
    size_t output_index = 0;
    std::string id, call_id, name, arguments;
    bool open = true;
  };
  bool on_event(std::string_view block);
  bool on_chunk(const nlohmann::json& chunk);
  bool on_error(const nlohmann::json& error);
  bool emit(const char* type, nlohmann::json event);
  bool start(const nlohmann::json* chunk);
  bool add_item(nlohmann::json item);
  bool open_message();
  bool close_message(const char* status);
  bool close_calls(const char* status);
  bool close_all(const char* status);
  nlohmann::json message_item(const char* status) const;
  nlohmann::json call_item(const Call& c, const char* status) const;

  nlohmann::json resp_;
  const ChunkWriter& write_;
  std::string pending_;  // bytes of an SSE event not complete yet
  int64_t seq_ = 0;
  bool started_ = false, done_seen_ = false, failed_ = false, finished_ = false;
  std::string finish_reason_;
  nlohmann::json usage_ = nullptr;
  bool msg_open_ = false;
  size_t msg_index_ = 0;
  std::string msg_id_, text_;
  std::vector<std::pair<int, Call>> calls_;  // by the chat tool-call index, in order of arrival
};

class ResponsesApi {
 public:
  explicit ResponsesApi(ResponsesStoreOptions store = ResponsesStoreOptions::from_env());

  // POST /v1/responses, run through `chat`. Throws ApiException for client mistakes.
  HttpResponse create(const HttpRequest& req, const ChatBackend& chat);
  // GET /v1/responses/{id}; 404 for an id that is not (or no longer) stored.
  HttpResponse retrieve(const std::string& id);
  // DELETE /v1/responses/{id}: {"id", "object": "response.deleted", "deleted": true}; 404 as above.
  HttpResponse remove(const std::string& id);

  // For a server without a route table (the gateway): true for /v1/responses and below.
  static bool handles(const std::string& path);
  // Routes a path handles() accepts (405 for other methods, 404 below /{id}); never throws.
  // `route` gets the label: "/v1/responses" or "/v1/responses/{id}".
  HttpResponse serve(const HttpRequest& req, std::string& route, const ChatBackend& chat);

 private:
  ResponsesStore& store() { return *store_.get(); }
  Lazy<std::shared_ptr<ResponsesStore>> store_;  // opened on first use: no file until a response is stored
};

}  // namespace llmchain::server
