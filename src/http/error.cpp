#include "http/error.h"

#include <random>

namespace llmchain::http {

nlohmann::json ApiError::to_json() const {
  nlohmann::json err = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (param) err["param"] = *param;
  if (code) err["code"] = *code;
  return {{"error", err}};
}

HttpResponse json_response(const nlohmann::json& j, int status) {
  HttpResponse res;
  res.status = status;
  res.body = json_text(j);
  return res;
}

HttpResponse ApiError::to_response() const { return json_response(to_json(), status); }

std::string make_id(const std::string& prefix) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return id;
}

}  // namespace llmchain::http
