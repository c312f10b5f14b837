#include "chain/openai_client.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/json_util.h"
#include "base/log.h"

namespace llmchain::chain {

// ---- SSE ----

void SseParser::feed(const char* data, size_t size) {
  buf_.append(data, size);
  size_t start = 0;
  for (size_t nl = buf_.find('\n', start); nl != std::string::npos; nl = buf_.find('\n', start)) {
    std::string l = buf_.substr(start, nl - start);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    line(l);
    start = nl + 1;
  }
  buf_.erase(0, start);
}

void SseParser::finish() {
  if (!buf_.empty()) {
    line(buf_);
    buf_.clear();
  }
  line("");
}

void SseParser::line(const std::string& l) {
  if (l.empty()) {  // end of event
    if (has_data_) on_event_(data_);
    data_.clear();
    has_data_ = false;
    return;
  }
  if (l[0] == ':') return;  // comment / keep-alive
  size_t colon = l.find(':');
  std::string field = l.substr(0, colon);
  std::string value = colon == std::string::npos ? "" : l.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.erase(0, 1);
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  }
}

// ---- client ----

OpenAIClient::OpenAIClient(OpenAIOptions options) : options_(std::move(options)) {
  const std::string& url = options_.base_url;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    fail(ErrorCode::kInvalidArgument, "openai client: base_url '{}' needs a scheme (http:// or https://)", url);
  }
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    fail(ErrorCode::kInvalidArgument, "openai client: base_url '{}': unsupported scheme '{}'", url, scheme);
  }
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT)
  if (scheme == "https") {
    fail(ErrorCode::kUnsupported, "openai client: https needs cpp-httplib built with CPPHTTPLIB_OPENSSL_SUPPORT");
  }
#endif
  size_t host_start = scheme_end + 3;
  size_t path_start = url.find('/', host_start);
  std::string host =
      url.substr(host_start, path_start == std::string::npos ? std::string::npos : path_start - host_start);
  if (host.empty()) fail(ErrorCode::kInvalidArgument, "openai client: base_url '{}' has no host", url);
  scheme_host_port_ = scheme + "://" + host;
  path_prefix_ = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!path_prefix_.empty() && path_prefix_.back() == '/') path_prefix_.pop_back();
  if (options_.max_retries < 0) fail(ErrorCode::kInvalidArgument, "openai client: max_retries must be >= 0");
  if (options_.timeout_s <= 0) fail(ErrorCode::kInvalidArgument, "openai client: timeout_s must be > 0");
}

Json OpenAIClient::request_body(const LlmInput& input, const LlmParams& call_params, bool stream) const {
  LlmParams p = options_.defaults.merged(call_params);
  Json body = Json::object();
  if (!options_.model.empty()) body["model"] = options_.model;
  bool completions = options_.use_completions_endpoint && !input.is_chat();
  if (completions) {
    body["prompt"] = input.prompt;
  } else if (input.is_chat()) {
    body["messages"] = messages_to_json(input.messages);
  } else {
    body["messages"] = Json::array({{{"role", "user"}, {"content", input.prompt}}});
  }
  if (p.temperature) body["temperature"] = *p.temperature;
  if (p.top_p) body["top_p"] = *p.top_p;
  if (p.max_tokens && *p.max_tokens >= 0) body["max_tokens"] = *p.max_tokens;
  if (p.stop && !p.stop->empty()) body["stop"] = *p.stop;
  if (p.seed) body["seed"] = *p.seed;
  if (p.json_schema && options_.json_schema) {
    body["response_format"] = {{"type", "json_schema"},
                               {"json_schema", {{"name", "output"}, {"schema", *p.json_schema}, {"strict", true}}}};
  }
  body["stream"] = stream;
  if (p.tools) body["tools"] = *p.tools;
  if (p.tool_choice) body["tool_choice"] = *p.tool_choice;
  return body;
}

namespace {

struct Attempt {
  bool ok = false;
  bool retryable = false;
  double retry_after_s = -1;  // from a Retry-After header
  Error error{ErrorCode::kInternal, ""};
};

void set_timeouts(httplib::Client& cli, const OpenAIOptions& o) {
  auto split = [](double s, time_t* sec, time_t* usec) {
    *sec = static_cast<time_t>(s);
    *usec = static_cast<time_t>((s - static_cast<double>(*sec)) * 1e6);
  };
  time_t sec, usec;
  split(o.connect_timeout_s, &sec, &usec);
  cli.set_connection_timeout(sec, usec);
  split(o.timeout_s, &sec, &usec);
  cli.set_read_timeout(sec, usec);
  cli.set_write_timeout(sec, usec);
}

std::string upstream_message(const std::string& body) {
  auto j = Json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    const Json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

// Classifies an HTTP status: fills a.error and a.retryable.
void status_error(Attempt& a, int status, const std::string& body, const std::string& url) {
  a.retryable = status == 429 || status >= 500;
  ErrorCode code = status == 429                    ? ErrorCode::kResourceExhausted
                   : status >= 500                  ? ErrorCode::kUnavailable
                   : status == 404                  ? ErrorCode::kNotFound
                   : status == 401 || status == 403 ? ErrorCode::kInvalidArgument
                                                    : ErrorCode::kInvalidArgument;
  a.error = Error(code, fmt::format("openai client: {} returned HTTP {}: {}", url, status, upstream_message(body)));
}

void transport_error(Attempt& a, httplib::Error err, double elapsed_s, const OpenAIOptions& o, const std::string& url) {
  switch (err) {
    case httplib::Error::Canceled: a.error = Error(ErrorCode::kCancelled, "cancelled"); return;
    case httplib::Error::Read:
      if (elapsed_s >= o.timeout_s * 0.9) {
        a.error = Error(ErrorCode::kDeadlineExceeded,
                        fmt::format("openai client: {} did not answer within {:.1f} s", url, o.timeout_s));
        return;
      }
      break;
    default: break;
  }
  a.retryable = true;
  a.error = Error(ErrorCode::kUnavailable, fmt::format("openai client: {}: {}", url, httplib::to_string(err)));
}

// While in scope, a cancel aborts the client's request in flight (httplib's Client::stop() shuts
// its socket down): a call blocked waiting for the server (a non-streaming answer, or a stream's
// first byte) ends as soon as the run is cancelled, with no thread watching it.
class AbortOnCancel {
 public:
  AbortOnCancel(httplib::Client& cli, const CancellationToken& cancel)
      : callback_(cancel.token(), [&cli] { cli.stop(); }) {}

 private:
  std::stop_callback<std::function<void()>> callback_;
};

// Reads the tool calls of choices[0]: a message's whole calls, or a stream delta's pieces
// (the first piece of call `index` has its id and name; arguments come in fragments).
void read_tool_calls(const Json& c, bool delta, std::vector<Json>* calls) {
  const Json* owner =
      delta ? (c.contains("delta") ? &c["delta"] : nullptr) : (c.contains("message") ? &c["message"] : nullptr);
  if (!owner || !owner->is_object() || !owner->contains("tool_calls") || !(*owner)["tool_calls"].is_array()) return;
  for (const auto& tc : (*owner)["tool_calls"]) {
    if (!tc.is_object()) continue;
    const Json* fn = tc.contains("function") && tc["function"].is_object() ? &tc["function"] : nullptr;
    if (!delta) {
      Json call = {{"id", tc.value("id", "")},
                   {"type", "function"},
                   {"function",
                    {{"name", fn ? fn->value("name", "") : ""}, {"arguments", fn ? fn->value("arguments", "") : ""}}}};
      calls->push_back(std::move(call));
      continue;
    }
    const auto index =
        tc.contains("index") && tc["index"].is_number_unsigned() ? tc["index"].get<size_t>() : calls->size();
    if (index > calls->size() || index >= 128) continue;  // a gap or a flood: not a call we can place
    if (index == calls->size()) {
      calls->push_back({{"id", ""}, {"type", "function"}, {"function", {{"name", ""}, {"arguments", ""}}}});
    }
    Json& call = (*calls)[index];
    if (tc.contains("id") && tc["id"].is_string()) call["id"] = tc["id"];
    if (fn && fn->contains("name") && (*fn)["name"].is_string()) call["function"]["name"] = (*fn)["name"];
    if (fn && fn->contains("arguments") && (*fn)["arguments"].is_string()) {
      call["function"]["arguments"] =
          call["function"]["arguments"].get<std::string>() + (*fn)["arguments"].get<std::string>();
    }
  }
}

// Reads choices[0] of a response or stream chunk.
void read_choice(const Json& j, bool delta, std::string* text, std::optional<FinishReason>* finish,
                 std::vector<Json>* calls) {
  if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return;
  const Json& c = j["choices"][0];
  if (!c.is_object()) return;
  read_tool_calls(c, delta, calls);
  const Json* t = nullptr;
  if (c.contains("text")) {
    t = &c["text"];
  } else if (delta && c.contains("delta") && c["delta"].contains("content")) {
    t = &c["delta"]["content"];
  } else if (!delta && c.contains("message") && c["message"].contains("content")) {
    t = &c["message"]["content"];
  }
  if (t && t->is_string()) *text += t->get<std::string>();
  if (c.contains("finish_reason") && c["finish_reason"].is_string()) {
    // A word OpenAI does not have (another server's) reads as the reply having ended: stop.
    *finish = finish_reason_from(c["finish_reason"].get<std::string>()).value_or(FinishReason::kStop);
  }
}

void read_usage(const Json& j, LlmResult* r) {
  if (!j.contains("usage") || !j["usage"].is_object()) return;
  r->prompt_tokens = j["usage"].value("prompt_tokens", r->prompt_tokens);
  r->completion_tokens = j["usage"].value("completion_tokens", r->completion_tokens);
}

}  // namespace

LlmResult OpenAIClient::do_generate(const LlmInput& input, const LlmParams& params, const TokenCallback& on_token,
                                    const CancellationToken& cancel) {
  const bool stream = static_cast<bool>(on_token);
  const bool completions = options_.use_completions_endpoint && !input.is_chat();
  const std::string path = path_prefix_ + (completions ? "/completions" : "/chat/completions");
  const std::string url = scheme_host_port_ + path;
  const std::string body = json_text(request_body(input, params, stream));
  httplib::Headers headers = {{"Accept", stream ? "text/event-stream" : "application/json"}};
  if (!options_.api_key.empty()) headers.emplace("Authorization", "Bearer " + options_.api_key);
  for (const auto& [k, v] : options_.headers) headers.emplace(k, v);

  double backoff = options_.backoff_initial_s;
  for (int attempt = 0;; ++attempt) {
    cancel.throw_if_cancelled();
    httplib::Client cli(scheme_host_port_);
    set_timeouts(cli, options_);
    Attempt a;
    LlmResult result;
    std::optional<FinishReason> finish;  // as the server said
    bool emitted = false, stopped = false;
    auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

    if (!stream) {
      httplib::Result res = [&] {
        AbortOnCancel abort_on_cancel(cli, cancel);
        return cli.Post(path, headers, body, "application/json");
      }();
      cancel.throw_if_cancelled();
      if (!res) {
        transport_error(a, res.error(), elapsed(), options_, url);
      } else if (res->status != 200) {
        status_error(a, res->status, res->body, url);
        if (res->has_header("Retry-After")) a.retry_after_s = std::atof(res->get_header_value("Retry-After").c_str());
      } else {
        auto j = Json::parse(res->body, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          a.error = Error(ErrorCode::kUnavailable, fmt::format("openai client: {} returned invalid JSON", url));
        } else {
          read_choice(j, false, &result.text, &finish, &result.tool_calls);
          read_usage(j, &result);
          a.ok = true;
        }
      }
    } else {
      int status = 0;
      std::string error_body;
      std::string stream_error;
      SseParser sse([&](const std::string& data) {
        if (data == "[DONE]" || !stream_error.empty() || stopped) return;
        auto j = Json::parse(data, nullptr, false);
        if (j.is_discarded()) return;  // tolerate keep-alive junk
        if (j.contains("error")) {
          stream_error = upstream_message(data);
          return;
        }
        std::string piece;
        read_choice(j, true, &piece, &finish, &result.tool_calls);
        read_usage(j, &result);
        if (piece.empty()) return;
        result.text += piece;
        emitted = true;
        if (!on_token(piece)) stopped = true;
      });
      httplib::Request req;
      req.method = "POST";
      req.path = path;
      req.headers = headers;
      req.headers.emplace("Content-Type", "application/json");
      req.body = body;
      req.response_handler = [&](const httplib::Response& r) {
        status = r.status;
        if (r.has_header("Retry-After")) a.retry_after_s = std::atof(r.get_header_value("Retry-After").c_str());
        return true;
      };
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        if (status != 200) {
          error_body.append(data, n);
          return true;
        }
        sse.feed(data, n);
        return !stopped && stream_error.empty() && !cancel.cancelled();
      };
      httplib::Result res = [&] {
        AbortOnCancel abort_on_cancel(cli, cancel);
        return cli.send(req);
      }();
      if (status == 200) sse.finish();
      if (stopped) {
        result.finish_reason = FinishReason::kCancelled;
        return result;
      }
      cancel.throw_if_cancelled();
      if (!stream_error.empty()) {
        throw Error(ErrorCode::kUnavailable, fmt::format("openai client: {} stream error: {}", url, stream_error));
      }
      if (status != 0 && status != 200) {
        status_error(a, status, error_body.empty() && res ? res->body : error_body, url);
      } else if (!res) {
        transport_error(a, res.error(), elapsed(), options_, url);
      } else {
        a.ok = true;
      }
      if (!a.ok && emitted) a.retryable = false;  // tokens already went out: cannot replay
    }

    if (a.ok) {
      result.finish_reason = finish.value_or(FinishReason::kStop);
      return result;
    }
    if (!a.retryable || attempt >= options_.max_retries) throw a.error;
    double wait = std::min(backoff, options_.backoff_max_s);
    if (a.retry_after_s >= 0) wait = std::min(std::max(wait, a.retry_after_s), options_.backoff_max_s);
    LLMC_LOG_WARN("{} (attempt {} of {}); retrying in {:.2f} s", a.error.message(), attempt + 1,
                  options_.max_retries + 1, wait);
    cancel.sleep_for(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(wait)));
    cancel.throw_if_cancelled();
    backoff *= 2;
  }
}

}  // namespace llmchain::chain
