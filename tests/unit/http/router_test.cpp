// Route templates, 404 / 405, HEAD as GET, labels and bearer auth (http/router.h), as both
// roles (the engine's Api and the gateway's proxy) route.
#include "http/router.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "http/error.h"

namespace llmchain::http {
namespace {

HttpRequest request(const std::string& method, const std::string& path, const std::string& auth = "") {
  HttpRequest r;
  r.method = method;
  r.path = path;
  if (!auth.empty()) r.headers.emplace("authorization", auth);
  return r;
}

std::string code_of(const HttpResponse& res) { return nlohmann::json::parse(res.body)["error"]["code"]; }

Router make_router(const std::string& key = "") {
  Router r(key);
  auto echo = [](const HttpRequest& req) {
    HttpResponse res;
    for (const auto& p : req.path_params) res.body += "[" + p + "]";
    return res;
  };
  r.add("GET", "/v1/models", true, echo);
  r.add("GET", "/v1/models/{model:path}", true, echo);
  r.add("POST", "/chains/{name}/invoke", true, echo);
  r.add("GET", "/health", false, echo);
  return r;
}

TEST(Router, TemplatesBindParamsAndLabelTheRoute) {
  const Router r = make_router();
  std::string route;
  auto res = r.dispatch(request("POST", "/chains/greet/invoke"), route);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "[greet]");
  EXPECT_EQ(route, "/chains/{name}/invoke");
  res = r.dispatch(request("GET", "/v1/models/org/model-7b"), route);  // {p:path} takes slashes
  EXPECT_EQ(res.body, "[org/model-7b]");
  EXPECT_EQ(route, "/v1/models/{model}");
  EXPECT_EQ(r.dispatch(request("HEAD", "/health"), route).status, 200);  // HEAD is GET
  EXPECT_TRUE(r.knows("/chains/x/invoke"));
  EXPECT_FALSE(r.knows("/chains/x/y/invoke"));  // {p} is one segment
}

TEST(Router, UnknownPathIs404OtherMethod405) {
  const Router r = make_router();
  std::string route;
  auto res = r.dispatch(request("GET", "/nope"), route);
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(code_of(res), "unknown_url");
  EXPECT_EQ(route, "not_found");
  res = r.dispatch(request("DELETE", "/v1/models"), route);
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(code_of(res), "method_not_allowed");
  EXPECT_EQ(route, "method_not_allowed");
}

TEST(Router, KeyedRoutesWantTheBearerKey) {
  const Router r = make_router("s3cret");
  std::string route;
  auto res = r.dispatch(request("GET", "/v1/models"), route);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(code_of(res), "invalid_api_key");
  bool bearer = false;
  for (const auto& [k, v] : res.headers) bearer |= k == "WWW-Authenticate" && v == "Bearer";
  EXPECT_TRUE(bearer);
  EXPECT_EQ(r.dispatch(request("GET", "/v1/models", "Bearer wrong!"), route).status, 401);
  EXPECT_EQ(r.dispatch(request("GET", "/v1/models", "s3cret"), route).status, 401);  // no "Bearer "
  EXPECT_EQ(r.dispatch(request("GET", "/v1/models", "Bearer s3cret"), route).status, 200);
  EXPECT_EQ(r.dispatch(request("GET", "/health"), route).status, 200);  // open route
  EXPECT_TRUE(make_router().authorized(request("GET", "/v1/models")));  // no key set: open
}

TEST(Router, HandlersRunThroughTheGuard) {
  // The server's guard (respond(), server/api_error.h) turns what a handler throws into an answer.
  Router r("", [](const std::function<HttpResponse()>& run) {
    try {
      return run();
    } catch (const Error& e) {
      return ApiError{400, e.message(), "invalid_request_error", std::nullopt, "bad"}.to_response();
    }
  });
  r.add("GET", "/boom", false,
        [](const HttpRequest&) -> HttpResponse { throw Error(ErrorCode::kInvalidArgument, "bad thing"); });
  std::string route;
  const auto res = r.dispatch(request("GET", "/boom"), route);
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("bad thing"), std::string::npos);
  EXPECT_EQ(route, "/boom");
}

}  // namespace
}  // namespace llmchain::http
