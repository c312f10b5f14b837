// Built-in filters; expected values are Jinja2's (tojson is HF's override).
#include "test_util.h"

namespace llmchain::chat::testing {
namespace {

const nlohmann::json kUsers = {{"users",
                                {{{"name", "ann"}, {"age", 31}, {"admin", true}},
                                 {{"name", "Bob"}, {"age", 25}, {"admin", false}},
                                 {{"name", "cy"}, {"age", 40}, {"admin", true}}}}};

TEST(Filters, TrimLengthCase) {
  EXPECT_EQ(render("[{{ '  x \n'|trim }}][{{ 'xxhixx'|trim('x') }}][{{ '\u00a0y'|trim }}]"), "[x][hi][y]");
  EXPECT_EQ(render("{{ [1, 2, 3]|length }}{{ 'abc'|count }}{{ {'a': 1}|length }}{{ 'é'|length }}"), "3311");
  EXPECT_EQ(render("{{ 'AbC'|lower }} {{ 'AbC'|upper }} {{ 'hELLo wORLD'|capitalize }} {{ 'hello-world foo'|title }}"),
            "abc ABC Hello world Hello-World Foo");
}

TEST(Filters, ToJson) {
  EXPECT_EQ(render("{{ {'a': [1, 2.5, none, true], 'b': 'é\"\\n'}|tojson }}"),
            R"({"a": [1, 2.5, null, true], "b": "é\"\n"})");
  EXPECT_EQ(render("{{ {'a': [1, {}], 'b': []}|tojson(indent=2) }}"),
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}");
  EXPECT_EQ(render("{{ 'é😀'|tojson(ensure_ascii=true) }}"), R"("\u00e9\ud83d\ude00")");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|tojson }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}"),
            R"({"b": 1, "a": 2} {"a": 2, "b": 1})");
  EXPECT_EQ(render("{{ [1, 2]|tojson(separators=(',', ':')) }} {{ '<&>'|tojson }} {{ 1.0|tojson }}"),
            R"([1,2] "<&>" 1.0)");
  EXPECT_EQ(render("{{ t|tojson(indent=4) }}", {{"t", {{"k", {1}}}}}), "{\n    \"k\": [\n        1\n    ]\n}");
  EXPECT_EQ(render("{{ missing|tojson }}"), "ERROR: template:1: Object of type Undefined is not JSON serializable");
}

TEST(Filters, ReplaceItemsJoinFirstLast) {
  EXPECT_EQ(render("{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '+', 1) }}"), "a+b+c a+b-c");
  EXPECT_EQ(render("{% for k, v in {'x': 1, 'y': 2}|items %}{{ k }}{{ v }}{% endfor %}"), "x1y2");
  EXPECT_EQ(render("{{ [1, 2, 3]|join(', ') }}|{{ 'abc'|join('-') }}|{{ users|join(',', attribute='name') }}", kUsers),
            "1, 2, 3|a-b-c|ann,Bob,cy");
  EXPECT_EQ(render("{{ [1, 2, 3]|first }}{{ [1, 2, 3]|last }}{{ 'abc'|first }}{{ 'abc'|last }}[{{ []|first }}]"),
            "13ac[]");
}

TEST(Filters, DefaultAndConversions) {
  EXPECT_EQ(render("{{ missing|default('x') }} {{ none|default('x') }} {{ none|default('x', true) }} "
                   "{{ ''|d('e', boolean=true) }} {{ 0|default(5) }}"),
            "x None x e 0");
  EXPECT_EQ(render("{{ 3|string ~ 'x' }} {{ '42'|int + 1 }} {{ '3.7'|int }} {{ 'abc'|int }} {{ 'abc'|int(7) }} "
                   "{{ 3.9|int }} {{ 'ff'|int(base=16) }}"),
            "3x 43 3 0 7 3 255");
  EXPECT_EQ(render("{{ '2.5'|float }} {{ 3|float }} {{ 'x'|float }} {{ 'ab'|list }} {{ {'k': 1}|list }}"),
            "2.5 3.0 0.0 ['a', 'b'] ['k']");
}

TEST(Filters, MapSelectReject) {
  EXPECT_EQ(render("{{ users|map(attribute='name')|join(',') }} {{ ['a', 'b']|map('upper')|list }}", kUsers),
            "ann,Bob,cy ['A', 'B']");
  EXPECT_EQ(render("{{ users|map(attribute='missing', default='-')|join }}", kUsers), "---");
  EXPECT_EQ(render("{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} "
                   "{{ [0, 1, '', 'x']|select|list }}"),
            "[1, 3] [2, 4] [1, 'x']");
  EXPECT_EQ(render("{{ ['a', 'code_interpreter']|reject('equalto', 'code_interpreter')|list }} "
                   "{{ [1, 5, 9]|select('gt', 4)|list }}"),
            "['a'] [5, 9]");
  EXPECT_EQ(render("{{ users|selectattr('admin')|map(attribute='name')|join }} "
                   "{{ users|rejectattr('admin')|map(attribute='name')|join }} "
                   "{{ users|selectattr('name', 'equalto', 'cy')|list|length }} "
                   "{{ users|selectattr('age', 'gt', 30)|map(attribute='age')|sum }}",
                   kUsers),
            "anncy Bob 1 71");
}

TEST(Filters, SortUniqueMinMax) {
  EXPECT_EQ(render("{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} "
                   "{{ [3, 1, 2]|sort(reverse=true) }}"),
            "[1, 2, 3] ['A', 'b', 'c'] ['A', 'b', 'c'] [3, 2, 1]");
  EXPECT_EQ(render("{{ users|sort(attribute='age')|map(attribute='name')|join(' ') }} "
                   "{{ users|sort(attribute='name')|map(attribute='name')|join(' ') }}",
                   kUsers),
            "Bob ann cy ann Bob cy");
  EXPECT_EQ(render("{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }}"),
            "['a', 'b'] ['a', 'A']");
  EXPECT_EQ(render("{{ [1, 5, 3]|max }} {{ [4, 2]|min }} {{ users|max(attribute='age')|attr('name') }}", kUsers),
            "5 2 cy");
}

TEST(Filters, IndentEscapeMisc) {
  EXPECT_EQ(
      render("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}"),
      "a\n  b\n\n  c|  a\n  b|a\n  \n  b");
  EXPECT_EQ(render("{{ 'a\\nb'|indent('> ') }}"), "a\n> b");
  EXPECT_EQ(render("{{ '<a href=\"x\">&\\'</a>'|e }} {{ '<b>'|escape }} {{ '<b>'|safe }}"),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; &lt;b&gt; <b>");
  EXPECT_EQ(render("{{ -3|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 3|round }} {{ 2.1|round(method='ceil') }}"),
            "3 2.57 2.0 3 3.0");
  EXPECT_EQ(render("{{ [1, 2, 3]|sum }} {{ [1, 2]|sum(start=10) }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }}"),
            "6 13 [2, 1] cba");
  EXPECT_EQ(render("{{ [1, 2, 3]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }}"), "[[1, 2], [3]] [[1, 2], [3, 0]]");
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}|dictsort %}{{ k }}{{ v }}{% endfor %}"), "a2b1");
  EXPECT_EQ(render("{{ '%s-%d'|format('a', 3) }}|{{ 'x'|center(5) }}|{{ 'one two three'|wordcount }}"), "a-3|  x  |3");
  EXPECT_EQ(render("{{ 'hello world foo'|truncate(9, leeway=0) }}|{{ 'hello world'|truncate(8, true, '..', 0) }}"),
            "hello...|hello ..");
  EXPECT_EQ(render("{{ {'a': 1}|pprint }} {{ 'x'|attr('upper') is callable }}"), "{'a': 1} True");
}

}  // namespace
}  // namespace llmchain::chat::testing

namespace llmchain::chat::testing {
namespace {

TEST(Filters, ToJsonKeepsOrderedContextKeyOrder) {
  auto t = Template::parse("{{ tool|tojson }}");
  ASSERT_TRUE(t.ok());
  nlohmann::ordered_json ctx;
  ctx["tool"]["type"] = "function";
  ctx["tool"]["function"]["name"] = "f";
  EXPECT_EQ(*t->render_ordered(ctx), R"({"type": "function", "function": {"name": "f"}})");
  nlohmann::json sorted = nlohmann::json::parse(ctx.dump());
  EXPECT_EQ(*t->render(sorted), R"({"function": {"name": "f"}, "type": "function"})");
}

}  // namespace
}  // namespace llmchain::chat::testing
