// One port, one server: a second server (engine or gateway) on a busy port fails to bind
// instead of sharing the port through SO_REUSEPORT.
#include "http/listen_socket.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include "gateway/pool.h"
#include "gateway/server.h"
#include "server/http_server.h"
#include "support/fake_engine.h"

namespace llmchain::server {
namespace {

using gateway::GatewayServer;
using gateway::UpstreamPool;
using gateway::UpstreamPoolOptions;

// A port some other process-like listener holds, bound with cpp-httplib's default options
// (SO_REUSEPORT): the case where the kernel used to split traffic between the two.
class BusyPort : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = other_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
  }
  httplib::Server other_;
  int port_ = 0;
};

TEST_F(BusyPort, BindListenerFailsWithAddressInUse) {
  httplib::Server http;
  auto port = http::bind_listener(http, "127.0.0.1", port_);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().message(), "cannot listen on 127.0.0.1:" + std::to_string(port_) + ": address already in use");
}

TEST_F(BusyPort, EngineServerDoesNotShareThePort) {
  fakes::FakeEngine engine;
  ServerOptions opts;
  opts.host = "127.0.0.1";
  opts.port = port_;
  HttpServer srv(engine, opts);
  auto port = srv.bind();
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.error().message().find("address already in use"), std::string::npos) << port.error().message();
}

TEST_F(BusyPort, GatewayDoesNotShareThePort) {
  UpstreamPoolOptions po;
  po.upstreams = {"http://127.0.0.1:9"};
  auto pool = UpstreamPool::create(po);
  ASSERT_TRUE(pool.ok()) << pool.error().message();
  ServerOptions opts;
  opts.host = "127.0.0.1";
  opts.port = port_;
  GatewayServer gw(*pool, opts);
  auto port = gw.bind();
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.error().message().find("address already in use"), std::string::npos) << port.error().message();
}

TEST(ListenSocket, AnyFreePortStillWorks) {
  httplib::Server http;
  auto port = http::bind_listener(http, "127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.error().message();
  EXPECT_GT(*port, 0);
}

}  // namespace
}  // namespace llmchain::server
