// ResponsesApi: the /v1/responses handlers over a ChatBackend and the store.
#include "server/responses_api.h"

#include <fmt/format.h>

#include "base/log.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "server/openai_response.h"

namespace llmchain::server {

using nlohmann::json;

namespace {

HttpResponse bad_backend_answer() {
  return ApiError{502, "The generation backend answered in an unexpected shape.", "server_error", std::nullopt,
                  "bad_backend_response"}
      .to_response();
}

[[noreturn]] void not_found(const std::string& id) {
  throw ApiException(ApiError{404, fmt::format("Response with id '{}' not found.", id), "invalid_request_error",
                              std::nullopt, "response_not_found"});
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

// A chat-route error in Responses terms: its `param` (and the quoted name in its message)
// renamed, e.g. 'messages' -> 'input', 'tools[0].function.name' -> 'tools[0].name'.
HttpResponse renamed_error(HttpResponse res) {
  json j = json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return res;
  json& e = j["error"];
  if (e.contains("param") && e["param"].is_string()) {
    const std::string from = e["param"];
    const std::string to = responses_param(from);
    if (to != from) {
      e["param"] = to;
      if (e.contains("message") && e["message"].is_string()) {
        std::string msg = e["message"];
        replace_all(msg, "'" + from, "'" + to);
        e["message"] = msg;
      }
    }
  }
  res.body = json_text(j);
  return res;
}

// The chat-completions request of a /v1/responses request: same caller, same request id and
// client-gone signal; the headers that describe the original body do not carry over.
HttpRequest chat_request(const HttpRequest& req, const json& body) {
  HttpRequest c;
  c.method = "POST";
  c.path = "/v1/chat/completions";
  c.body = json_text(body);
  c.request_id = req.request_id;
  c.client_gone = req.client_gone;
  c.headers = req.headers;
  for (const char* h : {"content-length", "content-encoding", "transfer-encoding", "content-type"}) c.headers.erase(h);
  c.headers["content-type"] = "application/json";
  return c;
}

// What a follow-up by previous_response_id continues from: the conversation before this
// turn, this turn's input, and what the model answered.
json conversation_after(const json& before, const json& response) {
  json items = before;
  for (const auto& item : response.value("output", json::array())) items.push_back(item);
  return items;
}

void save(ResponsesStore& store, const json& response, const json& before) {
  store.put(response.at("id").get<std::string>(), response, conversation_after(before, response));
}

}  // namespace

ResponsesApi::ResponsesApi(ResponsesStoreOptions opts)
    : store_([opts]() -> Expected<std::shared_ptr<ResponsesStore>> { return ResponsesStore::open(opts); }) {}

HttpResponse ResponsesApi::create(const HttpRequest& req, const ChatBackend& chat) {
  const int64_t created_at = unix_now();
  json body = parse_json_body(req.body);
  ResponsesRequest r = parse_responses_request(body);
  json history = json::array();
  if (r.previous_response_id) {
    auto prev = store().get(*r.previous_response_id);
    if (!prev) {
      throw ApiException(ApiError{400,
                                  fmt::format("Previous response with id '{}' not found.", *r.previous_response_id),
                                  "invalid_request_error", "previous_response_id", "previous_response_not_found"});
    }
    history = prev->items;
  }
  json chat_body = chat_body_for(r, history);
  if (chat_body["messages"].empty()) {
    throw_invalid("input", "'input' must contain at least one item.", "empty_array");
  }
  json before = history;
  for (const auto& item : r.input_items) before.push_back(item);
  std::shared_ptr<ResponsesStore> st = r.store ? store_.get() : nullptr;

  // The chat route may throw its errors (the engine's handler) or return them (the gateway's
  // proxy); either way they are renamed into Responses terms.
  HttpResponse cres = respond([&] { return chat(chat_request(req, chat_body)); });
  if (cres.status != 200) return renamed_error(std::move(cres));
  json skeleton = r.skeleton;
  skeleton["id"] = make_id("resp_");
  skeleton["created_at"] = created_at;

  if (!r.stream) {
    if (cres.stream) return bad_backend_answer();
    json cj = json::parse(cres.body, nullptr, false);
    if (!cj.is_object() || !cj.contains("choices") || !cj["choices"].is_array() || cj["choices"].empty()) {
      return bad_backend_answer();
    }
    json resp = response_from_chat(skeleton, cj);
    if (st) {
      try {
        save(*st, resp, before);
      } catch (const std::exception& e) {
        // The answer is still the client's; a follow-up by its id will be a 400 (logged here).
        LLMC_LOG_ERROR("responses: could not store {}: {}", resp.value("id", ""), e.what());
      }
    }
    return json_response(resp);
  }

  if (!cres.stream) return bad_backend_answer();
  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  res.stream = [chat_stream = std::move(cres.stream), skeleton = std::move(skeleton), st,
                before = std::move(before)](const ChunkWriter& write) {
    ResponseEventWriter events(skeleton, write);
    // Stored before response.completed goes out, so a client may retrieve or continue it at once.
    if (st) events.on_final = [&](const json& resp) { save(*st, resp, before); };
    bool client_here = true;
    chat_stream([&](std::string_view bytes) {
      client_here = client_here && events.feed(bytes);
      return client_here;  // false: the chat producer cancels its generation
    });
    if (client_here) events.finish();
  };
  return res;
}

HttpResponse ResponsesApi::retrieve(const std::string& id) {
  auto s = store().get(id);
  if (!s) not_found(id);
  return json_response(s->response);
}

HttpResponse ResponsesApi::remove(const std::string& id) {
  if (!store().remove(id)) not_found(id);
  return json_response({{"id", id}, {"object", "response.deleted"}, {"deleted", true}});
}

bool ResponsesApi::handles(const std::string& path) {
  return path == "/v1/responses" || path.rfind("/v1/responses/", 0) == 0;
}

HttpResponse ResponsesApi::serve(const HttpRequest& req, std::string& route, const ChatBackend& chat) {
  const std::string& path = req.path;
  const std::string id = path.size() > 14 ? path.substr(14) : std::string();  // after "/v1/responses/"
  auto not_allowed = [&] {
    route = "method_not_allowed";
    return ApiError{405, fmt::format("Method {} is not allowed on {}.", req.method, path), "invalid_request_error",
                    std::nullopt, "method_not_allowed"}
        .to_response();
  };
  if (path == "/v1/responses") {
    route = "/v1/responses";
    if (req.method != "POST") return not_allowed();
    return respond([&] { return create(req, chat); });
  }
  if (id.empty() || id.find('/') != std::string::npos) {
    route = "not_found";
    return ApiError{404, fmt::format("Unknown endpoint: {} {}.", req.method, path), "invalid_request_error",
                    std::nullopt, "unknown_url"}
        .to_response();
  }
  route = "/v1/responses/{id}";
  if (req.method == "GET" || req.method == "HEAD") return respond([&] { return retrieve(id); });
  if (req.method == "DELETE") return respond([&] { return remove(id); });
  return not_allowed();
}

}  // namespace llmchain::server
