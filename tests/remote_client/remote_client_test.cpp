// The chain module's OpenAIClient against a live `llmchain serve -m stories260K.gguf` process on a
// free loopback port: invoke, stream, seeded sampling, stop strings, JSON schema, an LLMChain
// end to end, cancellation, and the errors a caller sees for a wrong API key and a server that
// is down.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "chain/llm_chain.h"
#include "chain/openai_client.h"
#include "chain/output_parser.h"
#include "chain/prompt_template.h"

extern char** environ;

namespace llmchain::chain {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kModel = std::string(LLMCHAIN_SHARED_DIR) + "/models/stories260K.gguf";
constexpr const char* kApiKey = "sk-remote-client-test";

// One `llmchain serve` process. Its port is read from its log ("listening on http://HOST:PORT").
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> extra) {
    char tmpl[] = "/tmp/llmchain-remote-client-XXXXXX";
    dir_ = mkdtemp(tmpl);
    log_ = dir_ + "/serve.log";
    std::vector<std::string> args = {LLMCHAIN_BIN, "serve",      "-m", kModel,       "--host",
                                     "127.0.0.1",  "--port",     "0",  "--no-ui",    "--threads",
                                     "1",          "--parallel", "2",  "--ctx-size", "2048"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      pid_ = -1;
      return;
    }
    const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+))");
    for (auto end = Clock::now() + std::chrono::seconds(60); Clock::now() < end && port_ == 0;) {
      std::smatch m;
      std::string text = log();
      if (std::regex_search(text, m, listening)) port_ = std::stoi(m[1].str());
      if (port_ == 0) {
        if (!alive()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (port_ == 0) return;
    for (auto end = Clock::now() + std::chrono::seconds(60); Clock::now() < end;) {
      httplib::Client c("127.0.0.1", port_);
      auto r = c.Get("/health/ready");
      if (r && r->status == 200) {
        ready_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~ServeProcess() {
    stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // SIGTERM, then SIGKILL after 15 s; returns the exit status (or -1).
  int stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    for (auto end = Clock::now() + std::chrono::seconds(15); Clock::now() < end;) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // A Prometheus gauge from /metrics (-1 when missing).
  double metric(const std::string& name) const {
    httplib::Client c("127.0.0.1", port_);
    auto r = c.Get("/metrics");
    if (!r) return -1;
    std::smatch m;
    if (!std::regex_search(r->body, m, std::regex("\n" + name + " ([0-9.eE+-]+)"))) return -1;
    return std::stod(m[1].str());
  }

 private:
  std::string dir_, log_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool ready_ = false;
};

class RemoteClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kModel)) return;
    server_ = new ServeProcess({"--api-key", kApiKey});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!fs::exists(kModel)) GTEST_SKIP() << "model not found: " << kModel;
    ASSERT_TRUE(server_ && server_->ready()) << "llmchain serve did not start:\n" << (server_ ? server_->log() : "");
  }

  static OpenAIOptions options(bool completions = true) {
    OpenAIOptions o;
    o.base_url = server_->base_url();
    o.api_key = kApiKey;
    o.timeout_s = 60;
    o.use_completions_endpoint = completions;
    return o;
  }
  static std::shared_ptr<OpenAIClient> client(bool completions = true) {
    return std::make_shared<OpenAIClient>(options(completions));
  }
  static LlmParams greedy(int max_tokens = 32) {
    LlmParams p;
    p.temperature = 0.0f;
    p.max_tokens = max_tokens;
    return p;
  }

  static ServeProcess* server_;
};

ServeProcess* RemoteClientTest::server_ = nullptr;

TEST_F(RemoteClientTest, InvokeOnBothEndpoints) {
  auto r = client()->generate(LlmInput::text("Once upon a time"), greedy());
  EXPECT_FALSE(r.text.empty());
  EXPECT_TRUE(r.finish_reason == FinishReason::kStop || r.finish_reason == FinishReason::kLength)
      << to_string(r.finish_reason);
  EXPECT_GT(r.prompt_tokens, 0);
  EXPECT_GT(r.completion_tokens, 0);
  EXPECT_LE(r.completion_tokens, 32);

  // Chat messages go to /v1/chat/completions (the model has no template: the server's chatml).
  auto chat = client(false)->generate(LlmInput::from_messages({Message{"user", "Tell me a story."}}), greedy());
  EXPECT_FALSE(chat.text.empty());
  EXPECT_GT(chat.prompt_tokens, r.prompt_tokens) << "the chat template adds tokens around the message";
}

TEST_F(RemoteClientTest, StreamMatchesInvoke) {
  auto llm = client();
  auto whole = llm->generate(LlmInput::text("Once upon a time"), greedy(40));
  std::vector<std::string> pieces;
  auto streamed = llm->stream(LlmInput::text("Once upon a time"), greedy(40), [&](const std::string& piece) {
    pieces.push_back(piece);
    return true;
  });
  EXPECT_GT(pieces.size(), 3u) << "tokens arrive one by one";
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined, streamed.text);
  EXPECT_EQ(streamed.text, whole.text);
  EXPECT_EQ(streamed.finish_reason, whole.finish_reason);
}

TEST_F(RemoteClientTest, SeededSamplingRepeats) {
  auto llm = client();
  LlmParams p;
  p.temperature = 0.9f;
  p.max_tokens = 40;
  p.seed = 1234;
  auto a = llm->generate(LlmInput::text("Once upon a time"), p);
  auto b = llm->generate(LlmInput::text("Once upon a time"), p);
  EXPECT_FALSE(a.text.empty());
  EXPECT_EQ(a.text, b.text) << "same seed, same input, same settings: same text";
  std::string streamed;
  llm->stream(LlmInput::text("Once upon a time"), p, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(streamed, a.text);
  // Other seeds sample other stories (at least one of three differs).
  bool differs = false;
  for (uint64_t seed : {1u, 2u, 3u}) {
    p.seed = seed;
    differs |= llm->generate(LlmInput::text("Once upon a time"), p).text != a.text;
  }
  EXPECT_TRUE(differs);
}

TEST_F(RemoteClientTest, StopStrings) {
  auto llm = client();
  const std::string full = llm->generate(LlmInput::text("Once upon a time"), greedy(48)).text;
  // A stop string from the middle of the greedy text: the answer must end right before it.
  size_t at = full.find(' ', full.size() / 3);
  ASSERT_NE(at, std::string::npos) << full;
  const std::string stop = full.substr(at, 4);
  const std::string expected = full.substr(0, full.find(stop));
  LlmParams p = greedy(48);
  p.stop = std::vector<std::string>{stop};
  auto r = llm->generate(LlmInput::text("Once upon a time"), p);
  EXPECT_EQ(r.text, expected) << "stop '" << stop << "' in: " << full;
  EXPECT_EQ(r.finish_reason, FinishReason::kStop);
  std::string streamed;
  llm->stream(LlmInput::text("Once upon a time"), p, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(streamed, expected) << "the stop string never streams out";
}

TEST_F(RemoteClientTest, JsonSchemaConstrainsTheOutput) {
  const Json schema = {
      {"type", "object"},
      {"properties",
       {{"mood", {{"type", "string"}, {"enum", {"happy", "sad", "sleepy"}}}}, {"brave", {{"type", "boolean"}}}}},
      {"required", {"mood", "brave"}},
      {"additionalProperties", false}};
  auto llm = client();
  ASSERT_TRUE(llm->supports_json_schema());
  LlmParams p = greedy(64);
  p.json_schema = schema;
  auto r = llm->generate(LlmInput::text("Once upon a time"), p);
  ASSERT_EQ(r.finish_reason, FinishReason::kStop) << r.text;
  auto doc = Json::parse(r.text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.text;
  ASSERT_TRUE(doc.is_object()) << r.text;
  EXPECT_EQ(doc.size(), 2u) << r.text;
  ASSERT_TRUE(doc.contains("mood") && doc["mood"].is_string()) << r.text;
  EXPECT_TRUE(doc["mood"] == "happy" || doc["mood"] == "sad" || doc["mood"] == "sleepy") << r.text;
  EXPECT_TRUE(doc.contains("brave") && doc["brave"].is_boolean()) << r.text;
}

// Tools go over the wire and the server's tool calls come back in OpenAI's shape, whole or
// assembled from a stream's deltas. A named tool_choice makes the (tiny) model's reply a valid
// call whatever it would have said.
TEST_F(RemoteClientTest, ToolCallsRoundTrip) {
  auto llm = client(/*completions=*/false);
  LlmParams p = greedy(48);
  p.tools = Json::parse(R"([{"type": "function", "function": {"name": "pick_color", "parameters": {"type": "object",
    "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}}, "required": ["color"],
    "additionalProperties": false}}}])");
  p.tool_choice = Json{{"type", "function"}, {"function", {{"name", "pick_color"}}}};
  auto input = LlmInput::from_messages({{"user", "Pick a color."}});
  auto r = llm->generate(input, p);
  ASSERT_EQ(r.tool_calls.size(), 1u) << r.text;
  EXPECT_EQ(r.tool_calls[0]["function"]["name"], "pick_color");
  EXPECT_EQ(r.tool_calls[0]["id"].get<std::string>().rfind("call_", 0), 0u);
  auto args = Json::parse(r.tool_calls[0]["function"]["arguments"].get<std::string>(), nullptr, false);
  ASSERT_TRUE(args.is_object()) << r.tool_calls[0].dump();
  EXPECT_TRUE(args["color"] == "red" || args["color"] == "green" || args["color"] == "blue") << args.dump();

  std::string streamed;
  auto s = llm->stream(input, p, [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  ASSERT_EQ(s.tool_calls.size(), 1u) << s.text;
  EXPECT_EQ(s.tool_calls[0]["function"]["name"], "pick_color");
  EXPECT_EQ(s.tool_calls[0]["function"]["arguments"], r.tool_calls[0]["function"]["arguments"]) << "greedy: same call";
  EXPECT_EQ(streamed, "");

  // The next turn: the call and the tool's answer go back over the wire, and the server takes them.
  std::vector<Message> turn = input.messages;
  Message call{"assistant", ""};
  call.tool_calls = Json::array({r.tool_calls[0]});
  turn.push_back(call);
  Message result{"tool", R"({"ok": true})"};
  result.tool_call_id = r.tool_calls[0]["id"];
  turn.push_back(result);
  LlmParams next = greedy(8);
  next.tools = p.tools;
  auto after = llm->generate(LlmInput::from_messages(turn), next);
  EXPECT_TRUE(after.finish_reason == FinishReason::kStop || after.finish_reason == FinishReason::kLength ||
              after.finish_reason == FinishReason::kToolCalls);
}

TEST_F(RemoteClientTest, LLMChainEndToEnd) {
  auto llm = client();
  auto prompt = PromptTemplate::from_template("Once upon a time, {name} went to the park.");
  LLMChainOptions opts;
  opts.params = greedy(24);
  auto chain = std::make_shared<LLMChain>(llm, prompt, "story", opts);
  Json out = chain->run(Json{{"name", "Lily"}});
  ASSERT_TRUE(out.is_string()) << out.dump();
  // The prompt was rendered before it went over the wire: the same text as a direct call.
  auto direct = llm->generate(LlmInput::text("Once upon a time, Lily went to the park."), greedy(24));
  EXPECT_EQ(out.get<std::string>(), direct.text);

  // The same pipeline with |, streamed: prompt | remote model | parser.
  auto lcel = prompt | llm->bind(greedy(24)) | std::make_shared<StrOutputParser>();
  std::string chunks;
  Json streamed = lcel->stream(Json{{"name", "Lily"}}, [&](const Json& c) {
    if (c.is_string()) chunks += c.get<std::string>();
  });
  EXPECT_EQ(streamed, out);
  EXPECT_EQ(chunks, direct.text);

  // A JSON parser with a schema: constrained decoding on the server, parsed here.
  LLMChainOptions json_opts;
  json_opts.params = greedy(64);
  json_opts.parser = std::make_shared<JsonOutputParser>(
      Json{{"type", "object"},
           {"properties", {{"friend", {{"type", "string"}, {"enum", {"Tom", "Sue"}}}}}},
           {"required", {"friend"}},
           {"additionalProperties", false}});
  LLMChain json_chain(llm, prompt, "result", json_opts);
  Json parsed = json_chain.run(Json{{"name", "Lily"}});
  ASSERT_TRUE(parsed.is_object()) << parsed.dump();
  EXPECT_TRUE(parsed["friend"] == "Tom" || parsed["friend"] == "Sue") << parsed.dump();
}

// The server counts the cancelled sequence and frees its slot.
void expect_cancelled_on_server(const ServeProcess& server, double cancelled_before) {
  bool done = false;
  for (auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end && !done;) {
    done = server.metric("llmchain_requests_cancelled_total") == cancelled_before + 1 &&
           server.metric("llmchain_requests_running") == 0;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.metric("llmchain_requests_cancelled_total"), cancelled_before + 1);
  EXPECT_EQ(server.metric("llmchain_requests_running"), 0);
}

TEST_F(RemoteClientTest, StoppingAStreamCancelsTheSequence) {
  auto llm = client();
  const double before = server_->metric("llmchain_requests_cancelled_total");
  int pieces = 0;
  auto r =
      llm->stream(LlmInput::text("Once upon a time"), greedy(2000), [&](const std::string&) { return ++pieces < 3; });
  EXPECT_EQ(r.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(pieces, 3);
  expect_cancelled_on_server(*server_, before);
}

// A cancelled non-streaming call closes its connection at once; the server notices the client
// is gone (it has written nothing yet) and cancels the sequence.
TEST_F(RemoteClientTest, CancellingANonStreamingCallCancelsTheSequence) {
  auto llm = client();
  const double before = server_->metric("llmchain_requests_cancelled_total");
  CancellationToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    cancel.cancel();
  });
  auto t0 = Clock::now();
  try {
    auto r = llm->generate(LlmInput::text("Once upon a time"), greedy(2000), cancel);
    ADD_FAILURE() << "not cancelled: " << r.completion_tokens << " tokens in "
                  << std::chrono::duration<double>(Clock::now() - t0).count() << " s";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCancelled) << e.message();
  }
  canceller.join();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
  expect_cancelled_on_server(*server_, before);
}

TEST_F(RemoteClientTest, WrongApiKeyIsAClearErrorWithoutRetries) {
  OpenAIOptions o = options();
  o.api_key = "sk-wrong";
  o.backoff_initial_s = 2;  // a retry would show in the elapsed time
  OpenAIClient llm(o);
  auto t0 = Clock::now();
  try {
    llm.generate(LlmInput::text("Once upon a time"), greedy(8));
    FAIL() << "a wrong API key must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(e.message().find("HTTP 401"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("Incorrect API key"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find(server_->base_url()), std::string::npos) << "names the server: " << e.message();
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.5) << "401 is not retried";

  o.api_key.clear();
  try {
    OpenAIClient(o).generate(LlmInput::text("Once upon a time"), greedy(8));
    FAIL() << "a missing API key must fail";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("HTTP 401"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("didn't provide an API key"), std::string::npos) << e.message();
  }
}

// Its own server: stopped, then called.
TEST(RemoteClientDown, ServerDownIsAClearErrorAfterRetries) {
  if (!fs::exists(kModel)) GTEST_SKIP() << "model not found: " << kModel;
  ServeProcess server({});
  ASSERT_TRUE(server.ready()) << server.log();
  OpenAIOptions o;
  o.base_url = server.base_url();
  o.use_completions_endpoint = true;
  o.max_retries = 2;
  o.backoff_initial_s = 0.1;
  o.connect_timeout_s = 2;
  OpenAIClient llm(o);
  LlmParams p;
  p.max_tokens = 16;
  EXPECT_FALSE(llm.generate(LlmInput::text("Once upon a time"), p).text.empty()) << "up at first";
  int status = server.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM is a clean shutdown";

  auto t0 = Clock::now();
  try {
    llm.generate(LlmInput::text("Once upon a time"), p);
    FAIL() << "a stopped server must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_NE(e.message().find(server.base_url()), std::string::npos) << "names the server: " << e.message();
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(elapsed, 0.3 * 0.95) << "two retries after 0.1 s and 0.2 s of backoff";
  EXPECT_LT(elapsed, 5.0);

  // Streaming fails the same way.
  try {
    llm.stream(LlmInput::text("Once upon a time"), p, [](const std::string&) { return true; });
    FAIL() << "a stopped server must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
  }
}

}  // namespace
}  // namespace llmchain::chain
