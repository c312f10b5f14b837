#include "test_util.h"

namespace llmchain::chat::testing {
namespace {

TEST(ChatSmoke, HelloWorld) { EXPECT_EQ(render("Hello {{ name }}!", {{"name", "World"}}), "Hello World!"); }

}  // namespace
}  // namespace llmchain::chat::testing
