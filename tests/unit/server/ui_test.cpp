// The embedded playground (web/) at "/" and "/ui/*", and --no-ui.
#include "server_fixture.h"

namespace llmchain::server::test {
namespace {

class UiTest : public ServerFixture {};

TEST_F(UiTest, ServesThePageAndItsAssets) {
  start();
  auto page = get("/");
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("<script src=\"/ui/app.js\""), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  auto js = get("/ui/app.js");
  ASSERT_EQ(js->status, 200);
  EXPECT_NE(js->get_header_value("Content-Type").find("javascript"), std::string::npos);
  EXPECT_NE(js->body.find("renderMarkdown"), std::string::npos);
  // The renderer never parses model text as HTML.
  EXPECT_EQ(js->body.find(".innerHTML"), std::string::npos);
  auto css = get("/ui/style.css");
  ASSERT_EQ(css->status, 200);
  EXPECT_NE(css->get_header_value("Content-Type").find("text/css"), std::string::npos);
  EXPECT_EQ(get("/ui/nope.js")->status, 404);
  EXPECT_EQ(get("/ui/../CMakeLists.txt")->status, 404);
}

TEST_F(UiTest, PageNeedsNoKeyButTheApiDoes) {
  ServerOptions o;
  o.api_key = "k";
  start(o);
  EXPECT_EQ(get("/")->status, 200);
  EXPECT_EQ(get("/ui/app.js")->status, 200);
  EXPECT_EQ(get("/v1/models")->status, 401);
}

TEST_F(UiTest, NoUiMeans404) {
  ServerOptions o;
  o.ui = false;
  start(o);
  auto r = get("/");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "unknown_url");
  EXPECT_EQ(get("/ui/app.js")->status, 404);
}

}  // namespace
}  // namespace llmchain::server::test
