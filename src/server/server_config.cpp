#include "server/server_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "chain/yaml_util.h"
#include "server/server_options.h"

namespace llmchain::server {
namespace {

nlohmann::json scalar(const YAML::Node& n) {
  const std::string s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  try {
    size_t used = 0;
    long long i = std::stoll(s, &used);
    if (used == s.size()) return i;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

}  // namespace

Expected<nlohmann::json> load_server_config(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidFile, fmt::format("config {}: {}", path, e.what()));
  }
  try {
    chain::yaml_util::check_expansion(path, root);
  } catch (const Error& e) {
    return e;
  }
  YAML::Node section = root.IsMap() && root["server"] ? root["server"] : root;
  nlohmann::json out = nlohmann::json::object();
  if (!section || section.IsNull()) return out;
  if (!section.IsMap())
    return Error(ErrorCode::kInvalidArgument, fmt::format("config {}: 'server' must be a map", path));
  static const std::set<std::string> kKeys = {"model",           "host",        "port",           "parallel",
                                              "ctx_size",        "api_key",     "log_format",     "threads",
                                              "chat_template",   "ui",          "max_body",       "max_queue",
                                              "request_timeout", "model_alias", "shutdown_grace", "max_connections",
                                              "header_timeout",  "grpc_port",   "backend"};
  for (const auto& kv : section) {
    std::string key = kv.first.as<std::string>();
    if (!kKeys.count(key)) {
      if (section == root) continue;  // top level also holds other sections (chains, models...)
      return Error(ErrorCode::kInvalidArgument, fmt::format("config {}: unknown server setting '{}'", path, key));
    }
    if (!kv.second.IsScalar()) {
      return Error(ErrorCode::kInvalidArgument, fmt::format("config {}: server.{} must be a scalar", path, key));
    }
    out[key] = scalar(kv.second);
  }
  return out;
}

http::HttpFrontOptions front_options(const ServerOptions& o, std::string role) {
  http::HttpFrontOptions f;
  f.host = o.host;
  f.port = o.port;
  f.max_body = o.max_body;
  f.log_format = o.log_format;
  f.limits.max_connections = std::max(1, o.max_connections);
  if (o.header_timeout_s > 0) f.limits.header_timeout_s = o.header_timeout_s;
  f.limits.keep_alive_timeout_s = o.keep_alive_timeout_s;
  f.role = std::move(role);
  return f;
}

}  // namespace llmchain::server
