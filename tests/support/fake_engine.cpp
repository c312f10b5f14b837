#include "support/fake_engine.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <thread>

#include "base/utf8.h"
#include "engine/generation.h"

namespace llmchain::fakes {

namespace {

constexpr int32_t kBos = 1, kEos = 2, kByteBase = 3, kVocab = 259;

const char* const kWords[] = {"once", "upon",  "a",   "time", "there", "was",   "little", "cat",
                              "who",  "liked", "to",  "play", "in",    "the",   "sun",    "and",
                              "dog",  "tree",  "big", "red",  "ball",  "happy", "friend", "park"};

nlohmann::json schema_instance(const nlohmann::json& s, int depth = 0) {
  using nlohmann::json;
  if (!s.is_object() || depth > 8) return json::object();
  if (s.contains("const")) return s["const"];
  if (s.contains("enum") && s["enum"].is_array() && !s["enum"].empty()) return s["enum"][0];
  for (const char* k : {"anyOf", "oneOf", "allOf"}) {
    if (s.contains(k) && s[k].is_array() && !s[k].empty()) return schema_instance(s[k][0], depth + 1);
  }
  std::string type;
  if (s.contains("type")) {
    const json& t = s["type"];
    if (t.is_string()) type = t.get<std::string>();
    if (t.is_array() && !t.empty() && t[0].is_string()) type = t[0].get<std::string>();
  } else if (s.contains("properties")) {
    type = "object";
  }
  if (type == "object") {
    json o = json::object();
    if (s.contains("properties") && s["properties"].is_object()) {
      for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
        o[it.key()] = schema_instance(it.value(), depth + 1);
      }
    }
    return o;
  }
  if (type == "array") {
    json a = json::array();
    int64_t n = s.value("minItems", 1);
    for (int64_t i = 0; i < n && i < 4; ++i) a.push_back(schema_instance(s.value("items", json::object()), depth + 1));
    return a;
  }
  if (type == "string") return "fake";
  if (type == "integer") return 1;
  if (type == "number") return 1.5;
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  return json::object();
}

// Longest suffix of s that is a proper prefix of some stop string.
size_t held_suffix(const std::string& s, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const auto& stop : stops) {
    for (size_t len = std::min(s.size(), stop.size() - 1); len > best; --len) {
      if (s.compare(s.size() - len, len, stop, 0, len) == 0) {
        best = len;
        break;
      }
    }
  }
  return best;
}

}  // namespace

FakeEngine::FakeEngine(FakeEngineOptions opts) : opts_(std::move(opts)) {
  info_.name = opts_.name;
  info_.architecture = "fake";
  info_.n_ctx = opts_.n_ctx;
  info_.n_ctx_train = opts_.n_ctx;
  info_.n_vocab = kVocab;
  info_.n_embd = opts_.n_embd;
  info_.bos = kBos;
  info_.eos = kEos;
  info_.has_chat_template = true;
  info_.add_bos = true;
  if (opts_.reranker) {
    info_.pooling = "rank";
    info_.sep = kEos;
    info_.add_sep = true;
  }
  token_delay_ms_.store(opts_.token_delay_ms);
}

Expected<std::vector<int32_t>> FakeEngine::tokenize(const std::string& text, bool add_special, bool) const {
  std::vector<int32_t> out;
  if (add_special) out.push_back(kBos);
  for (unsigned char c : text) out.push_back(kByteBase + c);
  return out;
}

std::string FakeEngine::detokenize(const std::vector<int32_t>& tokens) const {
  std::string s;
  for (int32_t t : tokens) {
    if (t >= kByteBase && t < kVocab) s += static_cast<char>(t - kByteBase);
  }
  return s;
}

Expected<std::string> FakeEngine::apply_chat_template(const std::vector<engine::ChatMessage>& messages,
                                                      bool add_generation_prompt, const std::string& template_name,
                                                      const nlohmann::json& tools) const {
  if (!template_name.empty() && template_name != "fake") {
    return Error(ErrorCode::kInvalidArgument, fmt::format("unknown chat template '{}'", template_name));
  }
  std::string out;
  if (tools.is_array() && !tools.empty()) out += "<|tools|>\n" + tools.dump() + "\n";
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "\n";
  if (add_generation_prompt) out += "<|assistant|>\n";
  return out;
}

std::string FakeEngine::script_for(const std::string& prompt, const engine::GenerateRequest& req) const {
  const auto& c = req.constraint;
  if (c.json_schema) return schema_instance(*c.json_schema).dump();
  if (c.json_object) return R"({"answer":"fake"})";
  size_t pos = prompt.rfind("echo:");
  if (pos != std::string::npos) {
    size_t begin = pos + 5;
    if (begin < prompt.size() && prompt[begin] == ' ') ++begin;
    size_t end = prompt.find('\n', begin);
    return prompt.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  }
  uint64_t seed = req.sampling.seed ? *req.sampling.seed : std::random_device{}();
  if (req.sampling.temperature <= 0) seed = 0;
  std::mt19937_64 rng(seed);
  size_t n = 6 + rng() % 7;
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
  }
  return s + ".";
}

// A scripted generation is a blocking loop (it sleeps between tokens to play a slow model), so
// each runs on a thread of its own: a test double's shortcut, never the real engine's way.
std::shared_ptr<engine::Generation> FakeEngine::submit(engine::GenerateRequest req) {
  auto gen = std::make_shared<engine::Generation>(req.cancel);
  std::thread([this, gen, req = std::move(req)] {
    auto r = run_script(req, [&](const engine::TokenEvent& ev) {
      if (gen->cancelled()) return false;
      gen->push(ev);
      return true;
    });
    gen->finish(std::move(r));
  }).detach();
  return gen;
}

Expected<engine::GenerateResult> FakeEngine::run_script(const engine::GenerateRequest& req,
                                                        const engine::TokenCallback& on_token) {
  calls_.fetch_add(1);
  if (req.prompt.empty()) return Error(ErrorCode::kInvalidArgument, "empty prompt");
  if (static_cast<int32_t>(req.prompt.size()) >= info_.n_ctx) {
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("prompt is {} tokens, the context is {}", req.prompt.size(), info_.n_ctx));
  }
  for (int32_t t : req.prompt) {
    if (t < 0 || t >= kVocab) return Error(ErrorCode::kInvalidArgument, fmt::format("token {} out of vocabulary", t));
  }
  auto t0 = std::chrono::steady_clock::now();
  {
    std::unique_lock lock(mu_);
    waiting_++;
    slot_cv_.wait(lock, [&] { return running_ < opts_.parallel; });
    waiting_--;
    running_++;
    kv_used_ += static_cast<int64_t>(req.prompt.size());
  }
  prompt_total_.fetch_add(static_cast<int64_t>(req.prompt.size()));

  engine::GenerateResult res;
  res.prompt_tokens = static_cast<int32_t>(req.prompt.size());
  const std::string script = script_for(detokenize(req.prompt), req);
  std::string pending;  // generated but not yet emitted (may start a stop string or a UTF-8 char)
  int32_t limit = info_.n_ctx - res.prompt_tokens;
  if (req.max_tokens >= 0) limit = std::min(limit, req.max_tokens);
  size_t pos = 0;
  bool first = true;
  std::optional<engine::FinishReason> finish;
  while (!finish) {
    if (res.completion_tokens >= limit) {
      finish = engine::FinishReason::kLength;
      break;
    }
    int delay = token_delay_ms_.load() + (first ? opts_.first_token_delay_ms : 0);
    if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    engine::TokenEvent ev;
    if (pos >= script.size()) {
      if (!req.ignore_eos) {
        finish = engine::FinishReason::kStop;
        break;
      }
      ev.token = kByteBase + ' ';
    } else {
      ev.token = kByteBase + static_cast<unsigned char>(script[pos++]);
    }
    std::string piece(1, static_cast<char>(ev.token - kByteBase));
    res.completion_tokens++;
    if (first) {
      res.time_to_first_token_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      first = false;
    }
    if (req.logprobs >= 0) {
      ev.chosen = engine::TokenLogprob{ev.token, piece, -0.25f};
      for (int32_t k = 0; k < req.logprobs; ++k) {
        int32_t tok = k == 0 ? ev.token : kByteBase + 'a' + (k % 26);
        ev.top.push_back({tok, detokenize({tok}), k == 0 ? -0.25f : -2.0f - static_cast<float>(k)});
      }
    }
    pending += piece;
    // Stop strings: cut at the first match and finish; otherwise emit all but a possible stop prefix.
    size_t cut = std::string::npos;
    for (const auto& stop : req.stop) {
      size_t at = (res.text + pending).find(stop);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      std::string all = res.text + pending;
      ev.text = all.substr(res.text.size(), cut > res.text.size() ? cut - res.text.size() : 0);
      res.text = all.substr(0, cut);
      pending.clear();
      finish = engine::FinishReason::kStop;
    } else {
      size_t hold = std::max(held_suffix(pending, req.stop), utf8::incomplete_tail(pending));
      ev.text = pending.substr(0, pending.size() - hold);
      pending.erase(0, pending.size() - hold);
      res.text += ev.text;
    }
    {
      std::lock_guard lock(mu_);
      kv_used_++;
    }
    generated_total_.fetch_add(1);
    if (req.logprobs >= 0) res.logprobs.push_back(ev);
    if (!on_token(ev)) {
      finish = engine::FinishReason::kCancelled;
      cancelled_.fetch_add(1);
      break;
    }
  }
  if (!pending.empty() && finish != engine::FinishReason::kCancelled) {
    // Generation ended with text held back for a stop string that never came.
    engine::TokenEvent flush;
    flush.text = pending;
    res.text += pending;
    on_token(flush);
  }
  res.finish_reason = *finish;
  res.total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard lock(mu_);
    running_--;
    kv_used_ -= res.prompt_tokens + res.completion_tokens;
  }
  slot_cv_.notify_one();
  return res;
}

Expected<std::vector<float>> FakeEngine::embed(const std::vector<int32_t>& tokens) {
  if (tokens.empty()) return Error(ErrorCode::kInvalidArgument, "empty input");
  if (opts_.reranker) return std::vector<float>{-static_cast<float>(tokens.size())};
  std::vector<float> v(static_cast<size_t>(info_.n_embd), 0.0f);
  for (size_t i = 0; i < tokens.size(); ++i) {
    uint64_t h = static_cast<uint64_t>(tokens[i]) * 0x9E3779B97F4A7C15ull + i;
    v[h % v.size()] += 1.0f;
  }
  float norm = 0;
  for (float x : v) norm += x * x;
  norm = std::sqrt(norm);
  for (float& x : v) x /= norm;
  return v;
}

engine::EngineStats FakeEngine::stats() const {
  std::lock_guard lock(mu_);
  engine::EngineStats s;
  s.running = running_;
  s.waiting = waiting_;
  s.prompt_tokens_total = prompt_total_.load();
  s.generated_tokens_total = generated_total_.load();
  s.kv_cells_used = static_cast<int32_t>(kv_used_);
  s.kv_cells_total = info_.n_ctx * opts_.parallel;
  return s;
}

int32_t FakeEngine::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

}  // namespace llmchain::fakes
