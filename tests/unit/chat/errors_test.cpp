// Error messages carry the template name and line; hostile templates fail
// cleanly (no crash, no hang) within the configured limits.
#include <chrono>
#include <thread>

#include "chat/chat_template.h"
#include "test_util.h"

namespace llmchain::chat::testing {
namespace {

std::string parse_error(const std::string& src, const std::string& name = "template") {
  auto t = Template::parse(src, name);
  return t.ok() ? "parsed" : t.error().message();
}

TEST(Errors, SyntaxErrorsHaveNameAndLine) {
  EXPECT_EQ(parse_error("line1\nline2\n{{ x | foo }}"), "template:3: unknown filter 'foo'");
  EXPECT_EQ(parse_error("{{ x is frobbed }}", "my.jinja"), "my.jinja:1: unknown test 'frobbed'");
  EXPECT_EQ(parse_error("a\n{% foo %}"), "template:2: unknown tag 'foo'");
  EXPECT_EQ(parse_error("{% if x %}\nabc"),
            "template:2: unexpected end of template; expected 'elif' or 'else' or 'endif' (block opened on line 1)");
  EXPECT_EQ(parse_error("{% for x in y %}{% endif %}"), "template:1: unexpected 'endif'");
  EXPECT_EQ(parse_error("\n\n{# never closed"), "template:3: missing end of comment tag");
  EXPECT_EQ(parse_error("{{ 'abc }}"), "template:1: unterminated string literal");
  EXPECT_EQ(parse_error("{{ }}"), "template:1: unexpected '}}'");
  EXPECT_EQ(parse_error("{{ (1 + 2 }}"), "template:1: unexpected '}', expected ')'");
  EXPECT_EQ(parse_error("{{ f(1 2) }}"), "template:1: expected ')', got number '2'");
  EXPECT_EQ(parse_error("{{ 1 + 2"), "template:1: unexpected end of template, expected '}}'");
  EXPECT_EQ(parse_error("{% break %}"), "template:1: 'break' outside of a loop");
  EXPECT_EQ(parse_error("{% include 'x' %}"), "template:1: 'include' is not supported (templates are standalone)");
  EXPECT_EQ(parse_error("{{ a ] }}"), "template:1: unexpected ']'");
  EXPECT_EQ(parse_error("{{ x @ y }}"), "template:1: unexpected char '@'");
}

// A macro calling itself twice per level stays within the depth limit yet is exponential: the
// render stops at the call budget (found by chat_template_fuzz).
TEST(Errors, ExponentialMacrosStopAtTheCallBudget) {
  std::string r =
      render("{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(r.find("macro call limit"), std::string::npos) << r.substr(0, 200);
}

// Appending to a string in a loop copies it each time: the bytes built in all are bounded.
TEST(Errors, QuadraticStringBuildingStops) {
  std::string r = render(
      "{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ "
      "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% "
      "endfor %}{{ ns.s | length }}");
  // the string-building or the work limit, whichever is reached first
  EXPECT_NE(r.find("limit"), std::string::npos) << r.substr(0, 200);
  EXPECT_NE(r.find("exceeded"), std::string::npos) << r.substr(0, 200);
}

// Size limits alone do not bound time: small values repeated by reference, or one big
// string scanned in every iteration, do work out of proportion to any size. One render's
// work is budgeted (chat/value.h WorkBudget) and ends with an error, not minutes later.
TEST(Errors, WorkOutOfProportionToSizesStops) {
  for (const char* t : {
           "{% set a = [range(60000)|list] * 60000 %}{{ a == a }}",           // deep equality
           "{% set a = [range(60000)|list] * 60000 %}{{ a|tojson|length }}",  // 7 GB of JSON
           "{% set a = [range(60000)|list] * 60000 %}{{ a|string|length }}",  // and of repr
           "{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{{ 'y' in s }}{% endfor %}",
           "{% set s = 'x' * 1000000 %}{% set f = s.find %}{% for i in range(100000) %}{{ f('y') }}{% endfor %}",
           "{% set b = range(60000)|list %}{% for i in range(100000) %}{{ 5 in b }}{% endfor %}",
           "{% set b = range(60000)|list %}{% for i in range(100000) %}{% for y in b %}{% break %}{% endfor %}"
           "{% endfor %}",
       }) {
    const auto start = std::chrono::steady_clock::now();
    std::string r = render(t);
    EXPECT_NE(r.find("limit"), std::string::npos) << t << " -> " << r.substr(0, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20)) << t;
  }
  // a conversation of real size stays far inside the budget
  EXPECT_EQ(render("{% set s = 'x' * 100000 %}{% for i in range(100) %}{{ 'y' in s }}{% endfor %}").substr(0, 5),
            "False");
}

TEST(Errors, RuntimeErrorsHaveLine) {
  EXPECT_EQ(render("a\nb\n{{ 1 // 0 }}"), "ERROR: template:3: integer division or modulo by zero");
  EXPECT_EQ(render("\n{{ 'a' + 1 }}"), "ERROR: template:2: unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(render("{% for x in 5 %}{% endfor %}"), "ERROR: template:1: 'int' object is not iterable");
  EXPECT_EQ(render("{% set d = {} %}\n{% set d.x = 1 %}"),
            "ERROR: template:2: cannot assign attribute on non-namespace object");
  EXPECT_EQ(render("{% set l = [] %}{{ l.append(1) }}"),
            "ERROR: template:1: access to attribute 'append' of 'list' object is unsafe");
  EXPECT_EQ(render("{{ 'x'|int(1, 2, 3) }}"),
            "ERROR: template:1: int() takes at most 2 positional argument(s) (3 given)");
  EXPECT_EQ(render("{{ 1 < 'a' }}"), "ERROR: template:1: '<' not supported between instances of 'int' and 'str'");
  EXPECT_EQ(render("{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
            "ERROR: template:1: too many values to unpack (expected 2, got 3)");
  // The innermost failing line is reported, also from inside a macro.
  EXPECT_EQ(render("{% macro m() %}\n\n{{ raise_exception('deep') }}{% endmacro %}\n{{ m() }}"),
            "ERROR: template:3: deep");
}

TEST(Errors, ErrorCodes) {
  auto t = Template::parse("{{ raise_exception('x') }}");
  ASSERT_TRUE(t.ok());
  auto r = t->render(nlohmann::json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  auto bad_ctx = t->render(nlohmann::json::array());
  ASSERT_FALSE(bad_ctx.ok());
  EXPECT_EQ(bad_ctx.error().message(), "template: render context must be a JSON object");
}

std::pair<ErrorCode, std::string> limit_error(const std::string& src, TemplateOptions opts = TemplateOptions()) {
  auto t = Template::parse(src, "template", opts);
  if (!t.ok()) return {t.error().code(), t.error().message()};
  auto r = t->render(nlohmann::json::object());
  if (r.ok()) return {ErrorCode::kInternal, "rendered " + std::to_string(r->size()) + " bytes"};
  return {r.error().code(), r.error().message()};
}

TEST(Limits, HostileTemplatesFailCleanly) {
  auto e = limit_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted);
  EXPECT_NE(e.second.find("maximum macro recursion depth (64) exceeded"), std::string::npos) << e.second;

  e = limit_error("{% for i in range(100000000) %}{% endfor %}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << e.second;

  TemplateOptions small;
  small.max_loop_iterations = 10000;
  e = limit_error("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", small);
  EXPECT_EQ(e.second, "template:1: loop iteration limit (10000) exceeded");

  e = limit_error("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << e.second;
  EXPECT_NE(e.second.find("output size limit"), std::string::npos) << e.second;

  e = limit_error("{{ 'x' * 100000000000 }}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << e.second;
  e = limit_error("{{ [1] * 100000000000 }}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << e.second;

  // Strings are shared by the values that hold them: a list of one big string repeated is
  // a list of references (the fuzzer's 24 GB copy), and comparing it is charged as work.
  auto big = Template::parse("{% set a = [range(60000)~'x'] * 60000 %}{{ a|length }}", "template");
  ASSERT_TRUE(big.ok());
  auto rendered = big->render(nlohmann::json::object());
  ASSERT_TRUE(rendered.ok()) << rendered.error().message();
  EXPECT_EQ(*rendered, "60000");
  // Nothing repeated many times is nothing, at once.
  e = limit_error("{% set a = [] * 608796440 %}{% set b = '' * 608796440 %}{{ a|length }}{{ b|length }}");
  EXPECT_EQ(e.second, "rendered 2 bytes");
  for (const char* expr : {"a == a", "a|sort", "a|map('upper')|list"}) {
    e = limit_error(std::string("{% set a = [range(60000)~'x'] * 60000 %}{{ ") + expr + " }}");
    EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << expr << ": " << e.second;
  }

  TemplateOptions tiny;
  tiny.max_output_bytes = 100;
  e = limit_error("{% for i in range(1000) %}xxxxxxxxxx{% endfor %}", tiny);
  EXPECT_EQ(e.second, "template:1: output size limit (100 bytes) exceeded");
}

TEST(Limits, DeepNestingDoesNotCrash) {
  std::string parens = "{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}";
  EXPECT_EQ(limit_error(parens).second, "template:1: template nesting too deep");
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  EXPECT_EQ(limit_error(ifs).second, "template:1: template nesting too deep");
  std::string lists = "{{ " + std::string(10000, '[') + std::string(10000, ']') + " }}";
  EXPECT_EQ(limit_error(lists).second, "template:1: template nesting too deep");

  auto e = limit_error("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << e.second;
  EXPECT_NE(e.second.find("value nesting exceeds 256 levels"), std::string::npos) << e.second;

  // A namespace that contains itself: printing and tojson stop at the depth limit.
  e = limit_error("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns|tojson }}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << e.second;
  e = limit_error("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}");
  EXPECT_EQ(e.first, ErrorCode::kResourceExhausted) << e.second;

  nlohmann::json deep = 1;
  for (int i = 0; i < 1000; ++i) deep = nlohmann::json::array({deep});
  auto t = Template::parse("{{ x }}");
  ASSERT_TRUE(t.ok());
  auto r = t->render({{"x", deep}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
}

TEST(Limits, GarbageInputNeverCrashes) {
  // Every prefix of a real template either parses or fails with a located error.
  std::string src = read_data("qwen2_5.jinja");
  for (size_t n = 0; n < src.size(); n += 7) {
    auto t = Template::parse(src.substr(0, n));
    if (!t.ok()) {
      EXPECT_EQ(t.error().message().rfind("template:", 0), 0u) << t.error().message();
      continue;
    }
    auto r = t->render({{"messages", nlohmann::json::array()}});
    (void)r;
  }
}

TEST(Concurrency, RenderIsThreadSafe) {
  auto t = builtin_template("llama3");
  ASSERT_TRUE(t.ok());
  nlohmann::json msgs = nlohmann::json::parse(read_data("conversation.json"));
  ChatOptions opts;
  opts.bos_token = "<|begin_of_text|>";
  std::string want = read_data("llama3.gen.expected");
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 200; ++k) {
        auto r = apply_chat_template(*t, msgs, opts);
        if (!r.ok() || *r != want) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace llmchain::chat::testing
