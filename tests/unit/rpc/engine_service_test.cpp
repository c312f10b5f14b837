// The engine's gRPC service (rpc/engine_service.h) through a real gRPC channel on a loopback
// port, with the generated C++ client: streaming, cancellation and deadlines reaching the
// engine, errors as statuses with the engine's message, auth, and the health service.
#include "rpc/engine_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "llmchain/v1/engine.grpc.pb.h"
#include "support/fake_engine.h"

namespace llmchain::rpc {
namespace {

namespace pb = ::llmchain::v1;
namespace health = ::grpc::health::v1;
using fakes::FakeEngine;
using fakes::FakeEngineOptions;

class RpcTest : public ::testing::Test {
 protected:
  void serve(RpcServerOptions o = {}) {
    server_ = std::make_unique<RpcServer>(engine_, o);
    auto port = server_->start();
    ASSERT_TRUE(port.ok()) << port.error().what();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
    stub_ = pb::Engine::NewStub(channel_);
  }
  void SetUp() override { serve(); }

  // Reads a whole Generate stream.
  struct Streamed {
    std::vector<pb::GenerateResponse> messages;
    grpc::Status status;
    std::string text() const {
      std::string s;
      for (const auto& m : messages) s += m.text();
      return s;
    }
  };
  Streamed generate(const pb::GenerateRequest& req, grpc::ClientContext* ctx = nullptr) {
    grpc::ClientContext own;
    if (!ctx) ctx = &own;
    Streamed out;
    auto reader = stub_->Generate(ctx, req);
    pb::GenerateResponse m;
    while (reader->Read(&m)) out.messages.push_back(m);
    out.status = reader->Finish();
    return out;
  }
  // A generation that runs for seconds at 20 ms a token (streams to cancel or cut short).
  pb::GenerateRequest long_request() {
    engine_.set_token_delay_ms(20);
    pb::GenerateRequest req;
    req.set_prompt("a long story");
    req.set_ignore_eos(true);
    req.set_max_tokens(400);
    return req;
  }
  bool wait_cancelled(int64_t before) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < until) {
      if (engine_.cancelled_total() > before && engine_.running() == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  FakeEngine engine_{FakeEngineOptions{}};
  std::unique_ptr<RpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Engine::Stub> stub_;
};

TEST_F(RpcTest, GenerateStreamsTokensThenTheResult) {
  pb::GenerateRequest req;
  req.set_prompt("echo: hello over grpc");
  auto out = generate(req);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_GE(out.messages.size(), 2u);
  const auto& last = out.messages.back();
  EXPECT_TRUE(last.done());
  EXPECT_EQ(last.finish_reason(), pb::FINISH_REASON_STOP);
  EXPECT_EQ(last.completion(), "hello over grpc");
  EXPECT_EQ(out.text(), last.completion());  // the pieces add up to the whole
  for (size_t i = 0; i + 1 < out.messages.size(); ++i) {
    EXPECT_FALSE(out.messages[i].done());
    EXPECT_GE(out.messages[i].token(), 0);
  }
  EXPECT_EQ(last.usage().completion_tokens(), static_cast<int>(out.messages.size()) - 1);
  EXPECT_GT(last.usage().prompt_tokens(), 0);
}

TEST_F(RpcTest, ChatMaxTokensStopAndLogprobs) {
  pb::GenerateRequest req;
  auto* m = req.mutable_chat()->add_messages();
  m->set_role("user");
  m->set_content("echo: abcdefghij");
  req.set_max_tokens(4);
  req.set_logprobs(2);
  auto out = generate(req);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.messages.back().finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(out.messages.back().usage().completion_tokens(), 4);
  EXPECT_EQ(out.messages.front().top_size(), 2);
  EXPECT_EQ(out.messages.front().chosen().token(), out.messages.front().token());

  pb::GenerateRequest stop;
  stop.set_prompt("echo: one two three");
  stop.add_stop(" three");
  out = generate(stop);
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.messages.back().completion(), "one two");
}

TEST_F(RpcTest, JsonSchemaConstraintGivesJson) {
  pb::GenerateRequest req;
  req.set_prompt("give me JSON");
  req.mutable_constraint()->set_json_schema(
      R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})");
  auto out = generate(req);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  auto doc = nlohmann::json::parse(out.messages.back().completion(), nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out.messages.back().completion();
  EXPECT_TRUE(doc.at("n").is_number_integer());
}

TEST_F(RpcTest, BadRequestsAreInvalidArgumentNamingTheField) {
  struct Case {
    pb::GenerateRequest req;
    std::string field;
  };
  std::vector<Case> cases(5);
  cases[0].field = "input";
  cases[1].req.mutable_tokens()->add_ids(1 << 20);
  cases[1].field = "tokens.ids[0]";
  cases[2].req.set_prompt("x");
  cases[2].req.mutable_constraint()->set_json_schema("{not json");
  cases[2].field = "constraint.json_schema";
  cases[3].req.set_prompt("x");
  cases[3].req.set_logprobs(99);
  cases[3].field = "logprobs";
  cases[4].req.mutable_chat()->add_messages()->set_content("no role");
  cases[4].field = "role";
  for (const auto& c : cases) {
    auto out = generate(c.req);
    EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(out.status.error_message().find(c.field), std::string::npos) << out.status.error_message();
    EXPECT_TRUE(out.messages.empty());
  }
}

TEST_F(RpcTest, CancellingTheCallCancelsTheSequence) {
  const pb::GenerateRequest req = long_request();
  const int64_t before = engine_.cancelled_total();
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, req);
  pb::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  ASSERT_TRUE(reader->Read(&m));
  ctx.TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(wait_cancelled(before)) << "the engine kept generating for a cancelled call";
}

TEST_F(RpcTest, DeadlineCancelsTheSequence) {
  const pb::GenerateRequest req = long_request();
  const int64_t before = engine_.cancelled_total();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  auto out = generate(req, &ctx);
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_FALSE(out.messages.empty());
  EXPECT_TRUE(wait_cancelled(before));
}

TEST_F(RpcTest, ManyConcurrentStreams) {
  engine_.set_token_delay_ms(1);
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int i = 0; i < 16; ++i) {
    clients.emplace_back([&, i] {
      pb::GenerateRequest req;
      req.set_prompt("echo: client " + std::to_string(i));
      auto out = generate(req);
      if (out.status.ok() && out.messages.back().completion() == "client " + std::to_string(i)) ++good;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(good.load(), 16);
}

TEST_F(RpcTest, TokenizeDetokenizeInfoEmbed) {
  grpc::ClientContext c1;
  pb::TokenizeRequest tr;
  tr.set_text("héllo");
  tr.set_add_special(true);
  tr.set_with_pieces(true);
  pb::TokenizeResponse tokens;
  ASSERT_TRUE(stub_->Tokenize(&c1, tr, &tokens).ok());
  ASSERT_EQ(tokens.tokens_size(), 7);  // BOS + one token per byte
  EXPECT_EQ(tokens.tokens(0), 1);
  EXPECT_EQ(tokens.pieces(2), std::string(1, '\xc3'));  // a piece may be part of a character

  grpc::ClientContext c2;
  pb::DetokenizeRequest dr;
  dr.mutable_tokens()->CopyFrom(tokens.tokens());
  pb::DetokenizeResponse text;
  ASSERT_TRUE(stub_->Detokenize(&c2, dr, &text).ok());
  EXPECT_NE(text.text().find("héllo"), std::string::npos);

  grpc::ClientContext c3;
  dr.add_tokens(-5);
  auto st = stub_->Detokenize(&c3, dr, &text);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("tokens[7]"), std::string::npos) << st.error_message();

  grpc::ClientContext c4;
  pb::InfoResponse info;
  ASSERT_TRUE(stub_->Info(&c4, pb::InfoRequest(), &info).ok());
  EXPECT_EQ(info.model(), "fake-model");
  EXPECT_EQ(info.n_ctx(), 512);
  EXPECT_TRUE(info.ready());

  grpc::ClientContext c5;
  pb::EmbedRequest er;
  er.add_inputs("one");
  er.add_inputs("two");
  pb::EmbedResponse emb;
  ASSERT_TRUE(stub_->Embed(&c5, er, &emb).ok());
  ASSERT_EQ(emb.embeddings_size(), 2);
  EXPECT_EQ(emb.embeddings(0).values_size(), 16);

  grpc::ClientContext c6;
  auto empty = stub_->Embed(&c6, pb::EmbedRequest(), &emb);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(empty.error_message().find("inputs"), std::string::npos);
}

TEST_F(RpcTest, HealthFollowsTheEngine) {
  auto h = health::Health::NewStub(channel_);
  auto check = [&](const std::string& service) {
    grpc::ClientContext ctx;
    health::HealthCheckRequest req;
    req.set_service(service);
    health::HealthCheckResponse resp;
    auto st = h->Check(&ctx, req, &resp);
    return st.ok() ? resp.status() : health::HealthCheckResponse::UNKNOWN;
  };
  EXPECT_EQ(check(""), health::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("llmchain.v1.Engine"), health::HealthCheckResponse::SERVING);
  server_->set_serving(false);
  EXPECT_EQ(check(""), health::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("llmchain.v1.Engine"), health::HealthCheckResponse::NOT_SERVING);
}

TEST_F(RpcTest, ApiKeyGuardsTheEngineButNotHealth) {
  RpcServerOptions o;
  o.api_key = "sekret";
  serve(o);
  pb::GenerateRequest req;
  req.set_prompt("echo: hi");
  auto out = generate(req);
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(engine_.generate_calls(), 0);

  grpc::ClientContext wrong;
  wrong.AddMetadata("authorization", "Bearer sekret2");
  EXPECT_EQ(generate(req, &wrong).status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext ok;
  ok.AddMetadata("authorization", "Bearer sekret");
  out = generate(req, &ok);
  EXPECT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.messages.back().completion(), "hi");

  grpc::ClientContext info_ctx;
  pb::InfoResponse info;
  EXPECT_EQ(stub_->Info(&info_ctx, pb::InfoRequest(), &info).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  auto h = health::Health::NewStub(channel_);
  grpc::ClientContext hc;
  health::HealthCheckResponse resp;
  EXPECT_TRUE(h->Check(&hc, health::HealthCheckRequest(), &resp).ok());
  EXPECT_EQ(resp.status(), health::HealthCheckResponse::SERVING);
}

TEST_F(RpcTest, OversizedRequestIsRefused) {
  RpcServerOptions o;
  o.max_message_bytes = 1024;
  serve(o);
  pb::GenerateRequest req;
  req.set_prompt(std::string(4096, 'x'));
  auto out = generate(req);
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(RpcTest, ShutdownEndsStreamsInFlight) {
  const pb::GenerateRequest req = long_request();
  grpc::ClientContext ctx;
  auto reader = stub_->Generate(&ctx, req);
  pb::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  const auto t0 = std::chrono::steady_clock::now();
  server_->shutdown(0.2);
  while (reader->Read(&m)) {
  }
  EXPECT_FALSE(reader->Finish().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

}  // namespace
}  // namespace llmchain::rpc
