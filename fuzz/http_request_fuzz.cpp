// libFuzzer target over the HTTP request path: raw bytes in, response out. One HttpServer
// (server/http_server.h) over the FakeEngine, with a chain config (fake model, guards), is
// started once on 127.0.0.1 (a free port); each input is written to a fresh connection as
// is, the client then closes its sending side and reads until the server closes. Checked,
// besides "no crash, no sanitizer report" (in the server's threads too):
//  - the server closes the connection within 5 s of the client's end of input (no hang);
//  - whatever it answers is HTTP/1.1 with a status other than 500 (bad input is a 4xx, or
//    503 when overloaded), without library exception text in the body;
//  - afterwards it still answers GET /health/live with 200.
// Pipelined requests in one input are all answered; only the first status is checked.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "base/log.h"
#include "chain/yaml_loader.h"
#include "fuzz_util.h"
#include "server/http_server.h"
#include "support/fake_engine.h"

namespace {

using namespace llmchain;
constexpr const char* kHarness = "http_request_fuzz";

constexpr const char* kChains = R"(models:
  fake: {type: fake, responses: ['{"answer": "ok", "n": 1}']}
chains:
  echo: {model: fake, prompt: 'Say {x}.'}
  json:
    model: fake
    prompt: 'Answer {q} as JSON.'
    parser: {type: json, schema: {type: object, properties: {answer: {type: string}}}}
  guarded:
    model: fake
    prompt: 'Say {x}.'
    guards:
      input: [{type: pii, action: redact}, {type: max_length, max: 200, action: block},
              {type: deny_list, terms: [forbidden], action: block}]
      output: [{type: deny_list, terms: [ok], action: flag}]
  pair: {type: sequential, input_variables: [x], output_variables: [text], steps: [echo]}
)";

// Never destroyed: the server's threads outlive every input (and exit() runs no shutdown). Held
// here, not only by the stack frame that made them, so the leak checker sees them reachable.
fakes::FakeEngine* g_engine = nullptr;
server::HttpServer* g_server = nullptr;

int server_port() {
  static const int port = [] {
    init_logging(LogFormat::kText, "off");
    auto* engine = g_engine = new fakes::FakeEngine();
    auto cfg = chain::load_chain_config_string(kChains, "fuzz_chains.yaml");
    if (!cfg.ok()) fuzz::violated(kHarness, "chain config: " + cfg.error().message());
    server::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.chains = cfg->registry;
    o.header_timeout_s = 5;
    o.keep_alive_timeout_s = 1;
    o.request_timeout_s = 5;
    o.max_body = 1u << 20;
    auto* http = g_server = new server::HttpServer(*engine, o);
    auto p = http->start();
    if (!p.ok()) fuzz::violated(kHarness, "cannot start the server: " + p.error().message());
    return *p;
  }();
  return port;
}

// The client half-closes first, so each connection leaves its client port in TIME_WAIT for
// a minute: two connections per input at a few hundred inputs a second would use up the
// ephemeral ports of one source address (~28,000), and connect() fails with EADDRNOTAVAIL
// whatever the server does. Connections therefore come from 127.0.1.1 .. 127.0.1.254 in
// turn (all loopback), the port picked at connect() for the whole 4-tuple.
int connect_to(int port) {
  static uint32_t next_source = 0;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fuzz::violated(kHarness, std::string("socket() failed: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl((127u << 24) | (1u << 8) | (1u + next_source++ % 254u));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    fuzz::violated(kHarness, std::string("bind() to a loopback source failed: ") + std::strerror(errno));
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    ::close(fd);
    fuzz::violated(kHarness, std::string("the server no longer accepts connections: ") + std::strerror(err));
  }
  return fd;
}

// Sends `bytes`, ends the sending side, reads until the server closes. False when it does
// not close within `seconds`.
bool exchange(int port, std::string_view bytes, std::string& out, double seconds) {
  int fd = connect_to(port);
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  size_t sent = 0;
  bool closed = false;
  char buf[16384];
  if (bytes.empty()) ::shutdown(fd, SHUT_WR);
  while (std::chrono::steady_clock::now() < end) {
    short events = POLLIN | (sent < bytes.size() ? POLLOUT : 0);
    pollfd p{fd, events, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (p.revents & POLLIN || p.revents & (POLLHUP | POLLERR)) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      if (out.size() < (4u << 20)) out.append(buf, static_cast<size_t>(n));
    }
    if (sent < bytes.size() && (p.revents & POLLOUT)) {
      ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent = bytes.size();  // reset by the server
      if (sent == bytes.size()) ::shutdown(fd, SHUT_WR);
    }
  }
  ::close(fd);
  return closed;
}

bool internal_text(const std::string& body, std::string_view input) {
  for (const char* marker : {"[json.exception", "internal error:", "basic_string", "std::", "bad_alloc"}) {
    if (body.find(marker) != std::string::npos && input.find(marker) == std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int port = server_port();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string response;
  if (!exchange(port, in, response, 5.0)) {
    fuzz::violated(kHarness, "the server did not close the connection within 5 s of the end of input");
  }
  if (!response.empty()) {
    if (response.rfind("HTTP/1.1 ", 0) != 0)
      fuzz::violated(kHarness, "not an HTTP/1.1 response: " + response.substr(0, 200));
    if (response.compare(9, 3, "500") == 0) fuzz::violated(kHarness, "500 for: " + response.substr(0, 2000));
    if (internal_text(response, in)) fuzz::violated(kHarness, "library exception text: " + response.substr(0, 2000));
  }
  std::string health;
  if (!exchange(port, "GET /health/live HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n", health, 5.0) ||
      health.rfind("HTTP/1.1 200", 0) != 0) {
    fuzz::violated(kHarness, "the server stopped answering GET /health/live: " + health.substr(0, 200));
  }
  return 0;
}
