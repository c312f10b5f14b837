// gateway_main: the gateway role as a stand-alone test program, with the flags
// `llmchain serve --role gateway` takes. The failover test uses it when the
// llmchain binary does not have --role yet.
#include <CLI/CLI.hpp>

#include "base/log.h"
#include "server/gateway_role.h"

int main(int argc, char** argv) {
  using namespace llmchain;
  server::ServerOptions so;
  server::UpstreamPoolOptions po;
  server::GatewayOptions go;
  std::string log_format = "text";
  CLI::App app{"llmchain gateway (test program)"};
  app.add_option("--host", so.host)->capture_default_str();
  app.add_option("--port", so.port)->capture_default_str();
  app.add_option("--upstream", po.upstreams, "Engine URL (repeatable)")->required();
  app.add_option("--api-key", so.api_key);
  app.add_option("--upstream-api-key", go.upstream_api_key);
  app.add_option("--health-interval", po.health_interval_s)->capture_default_str();
  app.add_option("--resolve-interval", po.resolve_interval_s)->capture_default_str();
  app.add_option("--breaker-failures", po.breaker_failures)->capture_default_str();
  app.add_option("--breaker-open", po.breaker_open_s)->capture_default_str();
  app.add_option("--max-attempts", go.max_attempts)->capture_default_str();
  app.add_option("--request-timeout", so.request_timeout_s)->capture_default_str();
  app.add_option("--shutdown-grace", so.shutdown_grace_s)->capture_default_str();
  app.add_option("--log-format", log_format)->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);
  so.log_format = log_format == "json" ? LogFormat::kJson : LogFormat::kText;
  init_logging(so.log_format, "info");
  return server::run_gateway(so, po, go);
}
