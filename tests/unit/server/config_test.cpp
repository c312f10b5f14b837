// YAML server config (--config) and request-parsing units that need no sockets.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/server_config.h"

namespace llmchain::server {
namespace {

// A YAML file of its own, removed with the object: ctest -j runs each TEST as a separate
// process, all writing into the same TempDir().
class TempYaml {
 public:
  explicit TempYaml(const std::string& text) : path_(::testing::TempDir() + "/server_config_test_XXXXXX.yaml") {
    int fd = ::mkstemps(path_.data(), 5);  // 5: ".yaml"
    EXPECT_GE(fd, 0) << path_;
    if (fd >= 0) ::close(fd);
    std::ofstream(path_) << text;
  }
  ~TempYaml() { std::remove(path_.c_str()); }
  TempYaml(const TempYaml&) = delete;
  TempYaml& operator=(const TempYaml&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ServerConfig, ReadsServerSection) {
  auto cfg = load_server_config(TempYaml("server:\n  port: 9000\n  api_key: \"123\"\n  ui: false\n"
                                         "  request_timeout: 2.5\nchains: {}\n")
                                    .path());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  EXPECT_EQ((*cfg)["port"], 9000);
  EXPECT_EQ((*cfg)["api_key"], "123");  // quoted stays a string
  EXPECT_EQ((*cfg)["ui"], false);
  EXPECT_DOUBLE_EQ((*cfg)["request_timeout"].get<double>(), 2.5);
}

TEST(ServerConfig, RejectsUnknownKeysAndBadFiles) {
  auto bad = load_server_config(TempYaml("server:\n  prot: 1\n").path());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("prot"), std::string::npos);
  EXPECT_FALSE(load_server_config("/nonexistent/x.yaml").ok());
  EXPECT_FALSE(load_server_config(TempYaml("server: [1, 2\n").path()).ok());
}

TEST(OpenAiRequest, OpenAiDefaultsNotCliDefaults) {
  auto p = parse_chat_request(nlohmann::json::parse(R"({"messages":[{"role":"user","content":"x"}]})"), 100);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 1.0f);
  EXPECT_EQ(p.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.0f);
  EXPECT_FALSE(p.max_tokens.has_value());
  EXPECT_EQ(p.logprobs, -1);
}

TEST(OpenAiRequest, MapsSamplingFields) {
  auto p = parse_completion_request(
      nlohmann::json::parse(R"({"prompt":"x","temperature":0,"top_k":5,"min_p":0.1,"seed":3,"max_tokens":9,
        "max_completion_tokens":7,"logit_bias":{"4":-100,"5":2},"frequency_penalty":0.5,"presence_penalty":-1})"),
      100);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.0f);
  EXPECT_EQ(p.sampling.top_k, 5);
  EXPECT_EQ(p.sampling.seed, 3u);
  EXPECT_EQ(*p.max_tokens, 7);
  EXPECT_TRUE(std::isinf(p.sampling.logit_bias.at(4)));
  EXPECT_FLOAT_EQ(p.sampling.logit_bias.at(5), 2.0f);
  EXPECT_FLOAT_EQ(p.sampling.frequency_penalty, 0.5f);
}

TEST(OpenAiResponse, Base64) {
  EXPECT_EQ(base64_encode("Man", 3), "TWFu");
  EXPECT_EQ(base64_encode("Ma", 2), "TWE=");
  EXPECT_EQ(base64_encode("M", 1), "TQ==");
}

}  // namespace
}  // namespace llmchain::server
