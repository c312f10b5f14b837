#include "server/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "chain/runnable.h"
#include "engine/rerank.h"
#include "server/cors.h"
#include "server/openai_response.h"
#include "server/responses_api.h"
#include "server/web_assets.h"

namespace llmchain::server {

using nlohmann::json;

Api::Api(engine::Engine& engine, ServerOptions opts, Metrics& metrics)
    : engine_(engine),
      opts_(std::move(opts)),
      metrics_(metrics),
      admission_(std::max(1, opts_.parallel) + std::max(0, opts_.max_queue)),
      chain_routes_(ChainRoutesOptions{opts_.chains, opts_.request_timeout_s, &admission_,
                                       [this] { metrics_.record_rejection(); },
                                       [this](const std::string& chain, const chain::GuardEvent& e) {
                                         metrics_.record_guard_event(chain, e.guard, e.action);
                                       }}),
      router_(opts_.api_key, respond) {
  using namespace std::placeholders;
  auto bind = [this](HttpResponse (Api::*fn)(const HttpRequest&)) {
    return [this, fn](const HttpRequest& r) { return (this->*fn)(r); };
  };
  add("GET", "/health", false, bind(&Api::health_ready));
  add("GET", "/health/live", false, bind(&Api::health_live));
  add("GET", "/health/ready", false, bind(&Api::health_ready));
  add("GET", "/metrics", false, bind(&Api::metrics));
  add("GET", "/v1/models", true, bind(&Api::models));
  add("GET", "/v1/models/{model:path}", true, bind(&Api::model));
  add("POST", "/v1/chat/completions", true, bind(&Api::chat_completions));
  add("POST", "/v1/completions", true, bind(&Api::completions));
  add("POST", "/v1/embeddings", true, bind(&Api::embeddings));
  add("POST", "/v1/rerank", true, bind(&Api::rerank));
  add("POST", "/rerank", true, bind(&Api::rerank));  // llama-server's path
  // The Responses API: a translation over the chat route above (responses_api.h).
  auto responses = std::make_shared<ResponsesApi>();
  auto chat = bind(&Api::chat_completions);
  add("POST", "/v1/responses", true, [responses, chat](const HttpRequest& r) { return responses->create(r, chat); });
  add("GET", "/v1/responses/{id}", true,
      [responses](const HttpRequest& r) { return responses->retrieve(r.path_params.at(0)); });
  add("DELETE", "/v1/responses/{id}", true,
      [responses](const HttpRequest& r) { return responses->remove(r.path_params.at(0)); });
  add("POST", "/tokenize", true, bind(&Api::tokenize));
  add("POST", "/detokenize", true, bind(&Api::detokenize));
  auto chains = [this](HttpResponse (ChainRoutes::*fn)(const HttpRequest&)) {
    return [this, fn](const HttpRequest& r) { return (chain_routes_.*fn)(r); };
  };
  add("GET", "/chains", true, chains(&ChainRoutes::list));
  add("POST", "/chains/{name}/invoke", true, chains(&ChainRoutes::invoke));
  add("POST", "/chains/{name}/batch", true, chains(&ChainRoutes::batch));
  add("POST", "/chains/{name}/stream", true, chains(&ChainRoutes::stream));
  add("POST", "/chains/{name}/stream_log", true, chains(&ChainRoutes::stream_log));
  add("POST", "/chains/{name}/stream_events", true, chains(&ChainRoutes::stream_events));
  add("GET", "/chains/{name}/config_schema", true, chains(&ChainRoutes::config_schema));
  add("GET", "/chains/{name}/playground", false, chains(&ChainRoutes::playground));
  add("GET", "/chains/{name}/input_schema", true, chains(&ChainRoutes::input_schema));
  add("GET", "/chains/{name}/output_schema", true, chains(&ChainRoutes::output_schema));
  if (opts_.ui) {
    add("GET", "/", false, bind(&Api::ui));
    add("GET", "/ui/{file}", false, bind(&Api::ui_asset));
  }
  // Chains' local models record under this id too (observe_generations), and its series
  // are exported at zero before the first request.
  metrics_.set_served_model(model_id());
}

Api::~Api() {
  // Jobs reference the engine and the tracker: never let them outlive us.
  jobs_.cancel_all();
  chain_routes_.cancel_all();
  jobs_.wait_idle(Clock::now() + std::chrono::seconds(30));
  chain_routes_.wait_idle(Clock::now() + std::chrono::seconds(30));
}

std::string Api::model_id() const {
  if (!opts_.model_id.empty()) return opts_.model_id;
  return opts_.model_aliases.empty() ? engine_.info().name : opts_.model_aliases.front();
}

bool Api::serves_model(const std::string& name) const {
  if (name == model_id() || name == engine_.info().name) return true;
  return std::find(opts_.model_aliases.begin(), opts_.model_aliases.end(), name) != opts_.model_aliases.end();
}

// As OpenAI: a request naming a model this server does not serve is 404 model_not_found rather
// than answered by another model. No model at all is allowed (the one model is meant).
void Api::require_served_model(const std::string& name) const {
  if (name.empty() || serves_model(name)) return;
  throw ApiException(ApiError{404,
                              fmt::format("The model '{}' does not exist; this server serves '{}'. GET /v1/models "
                                          "lists it; --alias adds other names.",
                                          name, model_id()),
                              "invalid_request_error", "model", "model_not_found"});
}

HttpResponse Api::handle(const HttpRequest& in, std::string& route) {
  HttpResponse res = route_request(in, route);
  allow_any_origin(res);
  return res;
}

HttpResponse Api::route_request(const HttpRequest& in, std::string& route) {
  if (auto pre = cors_preflight(in)) {
    route = "cors_preflight";
    return std::move(*pre);
  }
  return router_.dispatch(in, route);
}

bool Api::ready(std::string* why) const {
  auto set = [&](const char* w) {
    if (why) *why = w;
    return false;
  };
  if (shutting_down_.load()) return set("shutting down");
  if (!engine_.ready()) return set("engine not ready");
  if (!admission_.has_room()) return set("queue full");
  return true;
}

bool Api::drain(Clock::time_point deadline, Clock::time_point hard_deadline) {
  if (jobs_.wait_idle(deadline) && chain_routes_.wait_idle(deadline)) return true;
  jobs_.cancel_all();
  chain_routes_.cancel_all();
  bool jobs_done = jobs_.wait_idle(hard_deadline);
  return chain_routes_.wait_idle(hard_deadline) && jobs_done;
}

HttpResponse Api::health_live(const HttpRequest&) { return json_response({{"status", "ok"}}); }

HttpResponse Api::health_ready(const HttpRequest&) {
  std::string why;
  if (ready(&why)) return json_response({{"status", "ok"}});
  return json_response({{"status", "unavailable"}, {"reason", why}}, 503);
}

HttpResponse Api::metrics(const HttpRequest&) {
  HttpResponse res;
  res.content_type = "text/plain; version=0.0.4; charset=utf-8";
  res.body = metrics_.render(&engine_);
  return res;
}

HttpResponse Api::models(const HttpRequest&) {
  const auto& info = engine_.info();
  json m = {{"id", model_id()},
            {"object", "model"},
            {"created", 0},
            {"owned_by", "llmchain"},
            {"aliases", opts_.model_aliases},
            {"meta",
             {{"architecture", info.architecture},
              {"n_ctx", info.n_ctx},
              {"n_ctx_train", info.n_ctx_train},
              {"n_vocab", info.n_vocab},
              {"n_embd", info.n_embd}}}};
  return json_response({{"object", "list"}, {"data", json::array({m})}});
}

HttpResponse Api::model(const HttpRequest& req) {
  const std::string& id = req.path_params.at(0);
  require_served_model(id);
  return json_response({{"id", model_id()}, {"object", "model"}, {"created", 0}, {"owned_by", "llmchain"}});
}

HttpResponse Api::tokenize(const HttpRequest& req) {
  json body = parse_json_body(req.body);
  FieldReader r(body);
  auto content = r.string("content");
  if (!content) throw_invalid("content", "Missing required parameter: 'content'.", "missing_required_parameter");
  bool add_special = r.boolean("add_special").value_or(false);
  bool parse_special = r.boolean("parse_special").value_or(true);
  bool with_pieces = r.boolean("with_pieces").value_or(false);
  auto toks = engine_.tokenize(*content, add_special, parse_special);
  if (!toks) throw ApiException(api_error_from(toks.error()));
  json out = json::array();
  for (int32_t t : *toks) {
    if (with_pieces) {
      out.push_back({{"id", t}, {"piece", engine_.detokenize({t})}});
    } else {
      out.push_back(t);
    }
  }
  return json_response({{"tokens", out}});
}

HttpResponse Api::detokenize(const HttpRequest& req) {
  json body = parse_json_body(req.body);
  auto it = body.find("tokens");
  if (it == body.end() || it->is_null()) {
    throw_invalid("tokens", "Missing required parameter: 'tokens'.", "missing_required_parameter");
  }
  if (!it->is_array())
    throw_invalid("tokens", "Invalid type for 'tokens': expected an array of token ids.", "invalid_type");
  std::vector<int32_t> toks;
  int32_t n_vocab = engine_.info().n_vocab;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    if (!t.is_number_integer() && !t.is_number_unsigned()) {
      throw_invalid(fmt::format("tokens[{}]", i), fmt::format("Invalid type for 'tokens[{}]': expected an integer.", i),
                    "invalid_type");
    }
    int64_t id = t.get<int64_t>();
    if (id < 0 || (n_vocab > 0 && id >= n_vocab)) {
      throw_invalid(fmt::format("tokens[{}]", i),
                    fmt::format("Token id {} is outside the vocabulary [0, {}).", id, n_vocab));
    }
    toks.push_back(static_cast<int32_t>(id));
  }
  return json_response({{"content", engine_.detokenize(toks)}});
}

HttpResponse Api::embeddings(const HttpRequest& req) {
  json body = parse_json_body(req.body);
  const auto& info = engine_.info();
  EmbeddingParams p = parse_embedding_request(body, info.n_vocab);
  require_served_model(p.model);
  if (p.dimensions && *p.dimensions != info.n_embd) {
    throw_invalid(
        "dimensions",
        fmt::format("'dimensions' = {} is not supported: this model's embeddings have {}.", *p.dimensions, info.n_embd),
        "unsupported_value");
  }
  json data = json::array();
  int64_t total = 0;
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    std::vector<int32_t> toks;
    if (p.inputs[i].tokens) {
      toks = *p.inputs[i].tokens;
    } else {
      auto t = engine_.tokenize(p.inputs[i].text, true, false);
      if (!t) throw ApiException(api_error_from(t.error()));
      toks = std::move(*t);
    }
    std::string param = p.inputs.size() == 1 ? "input" : fmt::format("input[{}]", i);
    if (toks.empty()) throw_invalid(param, fmt::format("'{}' is empty.", param));
    if (info.n_ctx > 0 && static_cast<int64_t>(toks.size()) > info.n_ctx) {
      throw_invalid(
          param,
          fmt::format("'{}' is {} tokens, longer than the context of {} tokens.", param, toks.size(), info.n_ctx),
          "context_length_exceeded");
    }
    total += static_cast<int64_t>(toks.size());
    auto emb = engine_.embed(toks);
    if (!emb) throw ApiException(api_error_from(emb.error()));
    json e = {{"object", "embedding"}, {"index", i}};
    if (p.base64) {
      e["embedding"] = base64_encode(emb->data(), emb->size() * sizeof(float));
    } else {
      e["embedding"] = *emb;
    }
    data.push_back(std::move(e));
  }
  return json_response({{"object", "list"},
                        {"data", data},
                        {"model", model_id()},
                        {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}});
}

HttpResponse Api::rerank(const HttpRequest& req) {
  json body = parse_json_body(req.body);
  RerankParams p = parse_rerank_request(body);
  require_served_model(p.model);
  const auto& info = engine_.info();
  if (info.pooling != "rank") {
    throw_invalid("model",
                  fmt::format("'{}' is not a reranking model (its pooling is '{}'); serve a cross-encoder "
                              "(pooling 'rank') to use /v1/rerank.",
                              model_id(), info.pooling),
                  "model_not_supported");
  }
  auto query = engine_.tokenize(p.query, false, false);
  if (!query) throw ApiException(api_error_from(query.error()));
  std::vector<float> scores;
  int64_t total = 0;
  for (size_t i = 0; i < p.documents.size(); ++i) {
    auto doc = engine_.tokenize(p.documents[i], false, false);
    if (!doc) throw ApiException(api_error_from(doc.error()));
    const std::vector<int32_t> toks = engine::rerank_tokens(info, *query, *doc);
    if (info.n_ctx > 0 && static_cast<int64_t>(toks.size()) > info.n_ctx) {
      throw_invalid(fmt::format("documents[{}]", i),
                    fmt::format("The query and 'documents[{}]' are {} tokens, longer than the context of {} tokens.", i,
                                toks.size(), info.n_ctx),
                    "context_length_exceeded");
    }
    total += static_cast<int64_t>(toks.size());
    auto out = engine_.embed(toks);
    if (!out) throw ApiException(api_error_from(out.error()));
    scores.push_back(out->empty() ? 0.0f : (*out)[0]);
  }
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  if (p.top_n && static_cast<size_t>(*p.top_n) < order.size()) order.resize(static_cast<size_t>(*p.top_n));
  json results = json::array();
  for (size_t i : order) {
    json r = {{"index", i}, {"relevance_score", scores[i]}};
    if (p.return_documents) r["document"] = {{"text", p.documents[i]}};
    results.push_back(std::move(r));
  }
  return json_response({{"object", "list"},
                        {"model", model_id()},
                        {"results", results},
                        {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}});
}

namespace {

HttpResponse asset_response(const WebAsset& a) {
  HttpResponse res;
  res.content_type = a.content_type;
  res.body.assign(reinterpret_cast<const char*>(a.data), a.size);
  // The page builds every model-controlled string with textContent; the policy is the second
  // line of defence: no inline script, nothing loaded from elsewhere.
  res.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Cache-Control", "no-cache");
  return res;
}

}  // namespace

HttpResponse Api::ui(const HttpRequest&) {
  const WebAsset* a = find_web_asset("index.html");
  if (!a)
    throw ApiException(ApiError{404, "The playground is not part of this build.", "invalid_request_error", std::nullopt,
                                "unknown_url"});
  return asset_response(*a);
}

HttpResponse Api::ui_asset(const HttpRequest& req) {
  const WebAsset* a = find_web_asset(req.path_params.at(0));
  if (!a) {
    throw ApiException(ApiError{404, fmt::format("Unknown endpoint: GET {}.", req.path), "invalid_request_error",
                                std::nullopt, "unknown_url"});
  }
  return asset_response(*a);
}

}  // namespace llmchain::server
