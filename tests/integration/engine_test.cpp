// The whole engine path (tokenizer -> scheduler -> forward -> sampler ->
// detokenizer) against llama.cpp's goldens, plus batching, prefix-cache,
// stop-string, constraint and determinism behaviour on the shared models.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <thread>

#include "engine/generation.h"
#include "engine/local_engine.h"

namespace llmchain {
namespace {

const std::string kShared = LLMCHAIN_SHARED_DIR;

// prefix + i (not operator+: g++ 12 warns falsely on it, -Wrestrict)
std::string numbered(const char* prefix, size_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

nlohmann::json load_golden(const std::string& name) {
  std::ifstream in(kShared + "/testdata/golden/" + name + ".json");
  return nlohmann::json::parse(in);
}

std::unique_ptr<engine::LocalEngine> load(const std::string& model, int parallel = 1, int ctx = 256) {
  engine::EngineOptions o;
  o.n_parallel = parallel;
  o.n_ctx = ctx;
  o.n_threads = 2;
  auto e = engine::LocalEngine::load(kShared + "/models/" + model, o);
  EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().what());
  return std::move(*e);
}

engine::GenerateRequest greedy_request(std::vector<int32_t> prompt, int n) {
  engine::GenerateRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = n;
  r.sampling.temperature = 0;
  return r;
}

class EngineGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineGolden, TokenizeGenerateDetokenizeMatchLlamaCpp) {
  auto golden = load_golden(GetParam());
  auto eng = load(golden["model"].get<std::string>());
  for (const auto& c : golden["cases"]) {
    const std::string prompt = c["prompt"];
    auto ids = eng->tokenize(prompt, true, true);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, c["prompt_tokens"].get<std::vector<int32_t>>()) << prompt;
    auto expected = c["completion_tokens"].get<std::vector<int32_t>>();
    std::vector<int32_t> got;
    auto res =
        eng->generate(greedy_request(*ids, static_cast<int>(expected.size())), [&](const engine::TokenEvent& ev) {
          if (ev.token >= 0) got.push_back(ev.token);
          return true;
        });
    ASSERT_TRUE(res.ok()) << res.error().what();
    EXPECT_EQ(got, expected) << prompt;
    EXPECT_EQ(res->text, c["completion_text"].get<std::string>()) << prompt;
    EXPECT_EQ(res->finish_reason, engine::FinishReason::kLength);
  }
}

INSTANTIATE_TEST_SUITE_P(SharedModels, EngineGolden, ::testing::Values("stories260K", "TinyStories-656K-Q8_0"));

TEST(Engine, TopLogprobsMatchLlamaCpp) {
  auto golden = load_golden("stories260K");
  auto eng = load("stories260K.gguf");
  const auto& c = golden["cases"][1];
  auto req = greedy_request(c["prompt_tokens"].get<std::vector<int32_t>>(), 1);
  req.logprobs = 5;
  auto res = eng->generate(req, nullptr);
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->logprobs.size(), 1u);
  const auto& top = res->logprobs[0].top;
  ASSERT_EQ(top.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(top[i].token, c["first_token_top5_logprobs"][i]["id"].get<int32_t>());
    EXPECT_NEAR(top[i].logprob, c["first_token_top5_logprobs"][i]["logprob"].get<double>(), 2e-3);
  }
}

TEST(Engine, ConcurrentRequestsMatchSequentialOnes) {
  auto golden = load_golden("stories260K");
  auto eng = load("stories260K.gguf", 4);
  std::vector<std::future<std::vector<int32_t>>> futs;
  for (const auto& c : golden["cases"]) {
    auto prompt = c["prompt_tokens"].get<std::vector<int32_t>>();
    futs.push_back(std::async(std::launch::async, [&eng, prompt] {
      std::vector<int32_t> got;
      auto r = eng->generate(greedy_request(prompt, 64), [&](const engine::TokenEvent& ev) {
        got.push_back(ev.token);
        return true;
      });
      EXPECT_TRUE(r.ok());
      return got;
    }));
  }
  size_t i = 0;
  for (const auto& c : golden["cases"]) {
    EXPECT_EQ(futs[i++].get(), c["completion_tokens"].get<std::vector<int32_t>>()) << c["prompt"];
  }
}

// submit() returns at once; one thread submits every case and then drains them in turn (no
// thread per request), and each equals llama.cpp's output as when run alone.
TEST(Engine, SubmittedFromOneThreadAllMatchTheGoldens) {
  auto golden = load_golden("stories260K");
  auto eng = load("stories260K.gguf", 2);
  std::vector<std::shared_ptr<engine::Generation>> gens;
  for (const auto& c : golden["cases"]) {
    gens.push_back(eng->submit(greedy_request(c["prompt_tokens"].get<std::vector<int32_t>>(), 64)));
  }
  size_t i = 0;
  for (const auto& c : golden["cases"]) {
    std::vector<engine::TokenEvent> evs;
    while (gens[i]->next(evs) == engine::Generation::Next::kEvents) {
    }
    ASSERT_TRUE(gens[i]->result().ok());
    std::vector<int32_t> got;
    for (const auto& ev : evs)
      if (ev.token >= 0) got.push_back(ev.token);
    EXPECT_EQ(got, c["completion_tokens"].get<std::vector<int32_t>>()) << c["prompt"];
    ++i;
  }
}

// The handle cancels a running sequence within a step, and a queued one before it starts; a
// request the engine refuses comes back as a finished generation with the error.
TEST(Engine, HandleCancelsAndRefusalsAreFinishedGenerations) {
  auto eng = load("stories260K.gguf", 1, 256);
  auto ids = *eng->tokenize("Once upon a time", true, true);
  auto req = greedy_request(ids, 200);
  req.ignore_eos = true;
  auto running = eng->submit(req);
  auto queued = eng->submit(req);
  std::vector<engine::TokenEvent> evs;
  ASSERT_EQ(running->next(evs, engine::Generation::Clock::now() + std::chrono::seconds(30)),
            engine::Generation::Next::kEvents);
  queued->cancel();
  running->cancel();
  ASSERT_TRUE(running->wait(engine::Generation::Clock::now() + std::chrono::seconds(30)));
  ASSERT_TRUE(queued->wait(engine::Generation::Clock::now() + std::chrono::seconds(30)));
  ASSERT_TRUE(running->result().ok());
  EXPECT_EQ(running->result()->finish_reason, engine::FinishReason::kCancelled);
  EXPECT_LT(running->result()->completion_tokens, 200);
  ASSERT_TRUE(queued->result().ok());
  EXPECT_EQ(queued->result()->finish_reason, engine::FinishReason::kCancelled);
  EXPECT_EQ(queued->result()->completion_tokens, 0);

  auto refused = eng->submit(greedy_request({}, 4));
  EXPECT_TRUE(refused->done());
  ASSERT_FALSE(refused->result().ok());
  EXPECT_EQ(refused->result().error().code(), ErrorCode::kInvalidArgument);
}

TEST(Engine, PrefixCacheReusesKv) {
  auto eng = load("stories260K.gguf");
  auto ids = *eng->tokenize("Once upon a time there was a dog", true, true);
  auto r1 = eng->generate(greedy_request(ids, 8), nullptr);
  auto r2 = eng->generate(greedy_request(ids, 8), nullptr);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->cached_prompt_tokens, 0);
  EXPECT_EQ(r2->cached_prompt_tokens, static_cast<int32_t>(ids.size()) - 1);
  EXPECT_EQ(r1->text, r2->text);
}

TEST(Engine, PrefixCacheCopiesKvFromAnotherSlot) {
  auto eng = load("stories260K.gguf", 2);
  auto ids = *eng->tokenize("Once upon a time there was a dog named Max", true, true);
  auto alone = eng->generate(greedy_request(ids, 8), nullptr);  // also warms slot 0
  ASSERT_TRUE(alone.ok());
  // Keep the warm slot busy with a long generation of the same prompt; the second request
  // lands in the other slot and must take the prefix from the busy one.
  std::promise<void> started;
  std::atomic<bool> release{false};
  auto busy = std::async(std::launch::async, [&] {
    bool first = true;
    return eng->generate(greedy_request(ids, 200), [&](const engine::TokenEvent&) {
      if (first) started.set_value();
      first = false;
      return !release.load();
    });
  });
  started.get_future().wait();
  auto second = eng->generate(greedy_request(ids, 8), nullptr);
  release = true;
  auto cancelled = busy.get();  // stopped by its callback once released
  EXPECT_TRUE(!cancelled.ok() || cancelled->finish_reason == engine::FinishReason::kCancelled);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->cached_prompt_tokens, static_cast<int32_t>(ids.size()) - 1);
  EXPECT_EQ(second->text, alone->text);
}

TEST(Engine, StopStringIsNeverEmitted) {
  auto eng = load("stories260K.gguf");
  auto ids = *eng->tokenize("Once upon a time", true, true);
  auto req = greedy_request(ids, 64);
  req.stop = {"Lily"};
  std::string streamed;
  auto r = eng->generate(req, [&](const engine::TokenEvent& ev) {
    streamed += ev.text;
    return true;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, engine::FinishReason::kStop);
  EXPECT_EQ(r->text, ", there was a little girl named ");
  EXPECT_EQ(streamed, r->text);
}

TEST(Engine, SameSeedSameOutput) {
  auto eng = load("TinyStories-656K-Q8_0.gguf", 2);
  auto ids = *eng->tokenize("The little dog", true, true);
  engine::GenerateRequest req;
  req.prompt = ids;
  req.max_tokens = 32;
  req.sampling.temperature = 1.0f;
  req.sampling.seed = 1234;
  auto a = eng->generate(req, nullptr);
  auto b = eng->generate(req, nullptr);
  req.sampling.seed = 99;
  auto c = eng->generate(req, nullptr);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->text, b->text);
  EXPECT_NE(a->text, c->text);
}

TEST(Engine, CancelFromCallbackStopsSequence) {
  auto eng = load("stories260K.gguf");
  auto ids = *eng->tokenize("Once upon a time", true, true);
  int n = 0;
  auto r = eng->generate(greedy_request(ids, 64), [&](const engine::TokenEvent&) { return ++n < 3; });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, engine::FinishReason::kCancelled);
  EXPECT_EQ(r->completion_tokens, 3);
}

// GenerateRequest::cancel stops a sequence wherever it is: generating (no callback involved),
// or still waiting in the queue for a slot.
TEST(Engine, StopTokenCancelsRunningAndQueuedSequences) {
  auto eng = load("stories260K.gguf", 1, 256);
  auto ids = *eng->tokenize("Once upon a time", true, true);
  std::stop_source running_stop, queued_stop;
  auto running_req = greedy_request(ids, 200);
  running_req.ignore_eos = true;
  running_req.cancel = running_stop.get_token();
  std::atomic<int> tokens{0};
  auto running = std::async(std::launch::async, [&] {
    return eng->generate(running_req, [&](const engine::TokenEvent&) {
      ++tokens;
      return true;
    });
  });
  while (tokens.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // One slot: this one waits in the queue until it is cancelled there.
  auto queued_req = greedy_request(ids, 8);
  queued_req.cancel = queued_stop.get_token();
  auto queued = std::async(std::launch::async, [&] { return eng->generate(queued_req, nullptr); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  queued_stop.request_stop();
  auto q = queued.get();
  ASSERT_TRUE(q.ok()) << q.error().what();
  EXPECT_EQ(q->finish_reason, engine::FinishReason::kCancelled);
  EXPECT_EQ(q->completion_tokens, 0);
  running_stop.request_stop();
  auto r = running.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, engine::FinishReason::kCancelled);
  EXPECT_LT(r->completion_tokens, 200);
}

// A constraint too complex for one decode step is refused up front, and compiling it never
// holds up the sequences already generating.
TEST(Engine, TooComplexConstraintIsRejectedBeforeDecoding) {
  auto eng = load("stories260K.gguf");
  nlohmann::json any = nlohmann::json::array();
  for (int i = 0; i < 20000; ++i) any.push_back({{"const", numbered("v", i)}});
  auto req = greedy_request({1}, 8);
  req.constraint.json_schema = nlohmann::json{{"anyOf", any}};
  auto r = eng->generate(req, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Engine, JsonSchemaOutputIsValidJson) {
  auto eng = load("stories260K.gguf");
  auto ids = *eng->tokenize("Once upon a time", true, true);
  auto req = greedy_request(ids, 200);
  req.sampling.temperature = 0.8f;
  req.sampling.seed = 7;
  req.constraint.json_schema = nlohmann::json::parse(
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false})");
  auto r = eng->generate(req, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().what();
  auto j = nlohmann::json::parse(r->text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r->text;
  EXPECT_TRUE(j["name"].is_string());
  EXPECT_TRUE(j["age"].is_number_integer());
}

TEST(Engine, UnsupportedSchemaKeywordIsRejected) {
  auto eng = load("stories260K.gguf");
  auto req = greedy_request({1}, 8);
  req.constraint.json_schema = nlohmann::json::parse(R"({"type":"integer","minimum":3,"fancyKeyword":1})");
  auto r = eng->generate(req, nullptr);
  ASSERT_FALSE(r.ok());
}

TEST(Engine, PromptLongerThanContextIsAnError) {
  auto eng = load("stories260K.gguf", 1, 32);
  std::vector<int32_t> ids(40, 403);
  auto r = eng->generate(greedy_request(ids, 4), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.error().what()).find("context"), std::string::npos);
}

TEST(Engine, EmbeddingIsNormalised) {
  auto eng = load("stories260K.gguf");
  auto e = eng->embed(*eng->tokenize("hello world", true, true));
  ASSERT_TRUE(e.ok());
  double n = 0;
  for (float v : *e) n += v * v;
  EXPECT_NEAR(n, 1.0, 1e-4);
  EXPECT_EQ(e->size(), 64u);
}

}  // namespace
}  // namespace llmchain
