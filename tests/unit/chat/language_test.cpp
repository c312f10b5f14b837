// Language features: expressions, statements, scoping, whitespace control.
// Expected values are Jinja2's (with HF's trim_blocks/lstrip_blocks).
#include <ctime>

#include "test_util.h"

namespace llmchain::chat::testing {
namespace {

TEST(Expressions, Arithmetic) {
  EXPECT_EQ(render("{{ 1 + 2 }}|{{ 7 / 2 }}|{{ 4 / 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}"),
            "3|3.5|2.0|3|-4|1|2");
  EXPECT_EQ(render("{{ 2 ** 10 }}|{{ 1.5 + 1 }}|{{ 0.1 + 0.2 }}|{{ 1_000 }}|{{ 1e20 }}|{{ 2.0 * 3 }}"),
            "1024|2.5|0.30000000000000004|1000|1e+20|6.0");
  EXPECT_EQ(render("{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 2 * 3 ~ 4 }}|{{ -2 ** 2 }}|{{ -1|abs }}"), "7|9|64|4|1");
  EXPECT_EQ(render("{{ 'ab' * 2 }}|{{ [1, 2] + [3] }}|{{ 'a' ~ 1 ~ none }}|{{ 'a' + 'b' }}"),
            "abab|[1, 2, 3]|a1None|ab");
  EXPECT_EQ(render("{{ true + 1 }}|{{ -(3) }}|{{ +3 }}"), "2|-3|3");
}

TEST(Expressions, LiteralsPrintLikePython) {
  EXPECT_EQ(render("{{ true }} {{ false }} {{ none }} {{ True }} {{ None }}"), "True False None True None");
  EXPECT_EQ(render("{{ {'a': 1, 'b': 'x', 'c': [none, true, 1.0]} }}"), "{'a': 1, 'b': 'x', 'c': [None, True, 1.0]}");
  EXPECT_EQ(render("{{ [\"it's\", 'q\"'] }}"), "[\"it's\", 'q\"']");
  EXPECT_EQ(render(R"({{ 'a\nb\t\'c\'' }}|{{ "\u00e9\x41" }}|{{ 'x' 'y' }})"), "a\nb\t'c'|éA|xy");
}

TEST(Expressions, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ 'a' < 'b' }}"),
            "True False True True True True");
  EXPECT_EQ(render("{{ 'a' in 'abc' }} {{ 2 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ [1] in [[1]] }}"),
            "True False True True");
  EXPECT_EQ(render("{{ 0 or 'x' }}|{{ 1 and 'y' }}|{{ not 0 }}|{{ none or [] }}|{{ not 'a' == 'b' }}"),
            "x|y|True|[]|True");
  EXPECT_EQ(render("{{ 'a' if false else 'b' }}|{{ 'a' if false }}|{{ 'c' if 1 }}"), "b||c");
}

TEST(Expressions, SubscriptsAndSlices) {
  nlohmann::json ctx = {{"x", {{"a", {{"b", 5}}}}}, {"items", {10, 20, 30}}};
  EXPECT_EQ(render("{{ x.a.b }}|{{ x['a']['b'] }}|{{ items.0 }}|{{ items[-1] }}|{{ items[5] }}", ctx), "5|5|10|30|");
  EXPECT_EQ(render("{{ [1, 2, 3, 4][1:] }}|{{ [1, 2, 3, 4][::-1] }}|{{ [1, 2, 3, 4][1:3] }}|{{ [1, 2, 3, 4][::2] }}"),
            "[2, 3, 4]|[4, 3, 2, 1]|[2, 3]|[1, 3]");
  EXPECT_EQ(render("{{ 'hello'[1:3] }}|{{ 'hello'[-1] }}|{{ 'héllo'[1] }}|{{ 'héllo'[::-1] }}|{{ 'héllo'|length }}"),
            "el|o|é|olléh|5");
  EXPECT_EQ(render("{{ [1, 2, 3][-2:] }}|{{ [1, 2, 3][:-1] }}|{{ [1, 2, 3][10:] }}"), "[2, 3]|[1, 2]|[]");
}

TEST(Statements, IfElifElse) {
  const char* t = "{% if n > 1 %}big{% elif n == 1 %}one{% else %}small{% endif %}";
  EXPECT_EQ(render(t, {{"n", 5}}), "big");
  EXPECT_EQ(render(t, {{"n", 1}}), "one");
  EXPECT_EQ(render(t, {{"n", 0}}), "small");
}

TEST(Statements, ForLoopVariables) {
  EXPECT_EQ(render("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
                   "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}"),
            "10TrueFalse332|21FalseFalse321|32FalseTrue310|");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem if not loop.first else '-' }}{% endfor %}"), "-12");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.nextitem if not loop.last else '-' }}{% endfor %}"), "23-");
  EXPECT_EQ(render("{% for x in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}"), "aba");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for c in 'hé' %}[{{ c }}]{% endfor %}"), "[h][é]");
}

TEST(Statements, ForUnpackingFilteringAndControl) {
  EXPECT_EQ(render("{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "b=1;a=2;");
  EXPECT_EQ(render("{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}", {{"d", {{"x", 1}, {"y", 2}}}}), "x=1;y=2;");
  EXPECT_EQ(render("{% for x in range(10) if x is odd %}{{ x }}{% endfor %}"), "13579");
  EXPECT_EQ(render("{% for x in range(10) if x > 6 %}{{ loop.index }}/{{ loop.length }} {% endfor %}"), "1/3 2/3 3/3 ");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}"
                   "{% endif %}{{ x }}{% endfor %}"),
            "0134");
  EXPECT_EQ(render("{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{% endfor %}{% endfor %}"), "1x1y2x2y");
  EXPECT_EQ(render("{% for d in dicts %}{{ d.k }}{% endfor %}", {{"dicts", {{{"k", 1}}, {{"k", 2}}}}}), "12");
}

TEST(Statements, SetScopingAndNamespace) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(2) %}{% set x = 5 %}{{ x }}{% endfor %}{{ x }}"), "551");
  EXPECT_EQ(render("{% set ns = namespace(count=0, s='') %}{% for i in range(3) %}{% set ns.count = ns.count + 1 %}"
                   "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.count }} {{ ns.s }}"),
            "3 012");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(render("{% if true %}{% set y = 'in-if' %}{% endif %}{{ y }}"), "in-if");
  EXPECT_EQ(render("{% set s %}Hello {{ 'W' }}{% endset %}{{ s|upper }}"), "HELLO W");
  EXPECT_EQ(render("{% set s | upper %}abc{% endset %}{{ s }}"), "ABC");
  EXPECT_EQ(render("{% set messages = messages[1:] %}{{ messages|length }}", {{"messages", {1, 2, 3}}}), "2");
  EXPECT_EQ(render("{% with a = 5 %}{{ a }}{% endwith %}[{{ a }}]"), "5[]");
}

TEST(Statements, Macros) {
  EXPECT_EQ(render("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}"
                   "{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(greeting='Yo', name='Cy') }}"),
            "Hello, Bob! Hi, Al! Yo, Cy!");
  EXPECT_EQ(render("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}"
                   "{{ fact(5) }}"),
            "120");
  EXPECT_EQ(render("{% macro f() %}{{ varargs|length }}{{ kwargs.k }}{% endmacro %}{{ f(1, 2, k='v') }}"), "2v");
  EXPECT_EQ(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call wrap('b') %}inner{% endcall %}"),
            "<b>inner</b>");
  EXPECT_EQ(render("{% macro m(x) %}{{ x }}{{ top }}{% endmacro %}{% set top = '!' %}{{ m(1) }}"), "1!");
  EXPECT_EQ(render("{% macro m(x) %}[{{ x }}]{% endmacro %}{% set r = m('a') %}{{ r ~ r }}"), "[a][a]");
}

TEST(Statements, FilterBlockRawCommentsGeneration) {
  EXPECT_EQ(render("{% filter upper %}abc{{ 'd' }}{% endfilter %}"), "ABCD");
  EXPECT_EQ(render("{% raw %}{{ x }}{% if %}{% endraw %}"), "{{ x }}{% if %}");
  EXPECT_EQ(render("a{# comment {{ x }} #}b"), "ab");
  EXPECT_EQ(render("{% generation %}gen{% endgeneration %}"), "gen");
}

TEST(Whitespace, ExplicitControl) {
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("x \n {%- if true -%} \n y \n {%- endif -%} \n z"), "xyz");
  EXPECT_EQ(render("a\n{#- c -#}\nb"), "ab");
}

TEST(Whitespace, TrimAndLstripBlocks) {
  EXPECT_EQ(render("{% if true %}\nA\n{% endif %}\nB"), "A\nB");
  EXPECT_EQ(render("  {% if true %}\n  A\n  {% endif %}\nB"), "  A\nB");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render("  {{ 'x' }}"), "  x");
  EXPECT_EQ(render("a {% if true %}b{% endif %}"), "a b");  // not at line start: kept
  EXPECT_EQ(render("{% for m in [1, 2] %}\n{{ m }}\n{% endfor %}"), "1\n2\n");
  EXPECT_EQ(render("a\n"), "a");
  EXPECT_EQ(render("a\n\n"), "a\n");
  EXPECT_EQ(render("a\r\nb"), "a\nb");
}

TEST(Whitespace, OptionsCanDisableTrimming) {
  TemplateOptions o;
  o.trim_blocks = false;
  o.lstrip_blocks = false;
  o.keep_trailing_newline = true;
  auto t = Template::parse("  {% if true %}\nA\n{% endif %}\n", "t", o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->render(nlohmann::json::object()), "  \nA\n\n");
}

TEST(Undefined, BehavesLikeJinjaDefault) {
  EXPECT_EQ(render("[{{ missing }}]"), "[]");
  EXPECT_EQ(render("{{ missing is defined }} {{ missing is undefined }} {{ missing|default('d') }}"), "False True d");
  EXPECT_EQ(render("[{{ {'a': 1}.b }}] {{ {'a': 1}.b is defined }} {{ {'a': 1}.a is defined }}"), "[] False True");
  EXPECT_EQ(render("{% if missing %}y{% else %}n{% endif %}{{ missing|length }}{% for x in missing %}x{% endfor %}"),
            "n0");
  EXPECT_EQ(render("[{{ none.foo }}] {{ missing == missing }} {{ missing ~ 'x' }} {{ not missing }}"),
            "[] True x True");
  EXPECT_EQ(render("{{ m.tool_calls is defined }}{% if not m.tool_calls %}-{% endif %}", {{"m", {{"role", "user"}}}}),
            "False-");
  EXPECT_EQ(render("{{ missing.attr }}"), "ERROR: template:1: 'missing' is undefined");
  EXPECT_EQ(render("{{ missing + 1 }}"), "ERROR: template:1: 'missing' is undefined");
  EXPECT_EQ(render("{{ d.a.b }}", {{"d", nlohmann::json::object()}}),
            "ERROR: template:1: 'dict object' has no attribute 'a'");
  EXPECT_EQ(render("{{ missing() }}"), "ERROR: template:1: 'missing' is undefined");
}

TEST(Methods, Strings) {
  EXPECT_EQ(render("[{{ '  a b  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '  a'.lstrip() }}][{{ 'a  '.rstrip() }}]"),
            "[a b][a][a][a]");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}"),
            "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.startswith('b') }}"),
            "True True False");
  EXPECT_EQ(
      render("{{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }}"),
      "HELLO hello Hello World Hello");
  EXPECT_EQ(render("{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'x'.join(['a', 'b']) }}"),
            "bbb bba axb");
  EXPECT_EQ(render("{{ '{} and {name} {{x}}'.format(1, name='n') }}"), "1 and n {x}");
  EXPECT_EQ(render("{{ 'abcb'.find('b') }} {{ 'abcb'.count('b') }} {{ 'a\\nb'.splitlines() }}"), "1 2 ['a', 'b']");
  EXPECT_EQ(render("{{ '%s=%d' % ('a', 3) }} {{ '%.2f' % 3.14159 }} {{ '%s%%' % 5 }}"), "a=3 3.14 5%");
}

TEST(Methods, DictsAndLists) {
  nlohmann::json ctx = {{"d", {{"a", 1}, {"b", 2}}}};
  EXPECT_EQ(render("{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list|length }}", ctx),
            "['a', 'b'] [1, 2] 2");
  EXPECT_EQ(render("{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }} {{ d['b'] }}", ctx), "1 dflt None 2");
  EXPECT_EQ(render("{{ [1, 2, 3].index(2) }} {{ [1, 1].count(1) }}"), "1 2");
}

TEST(Tests, TypeAndValueTests) {
  EXPECT_EQ(render("{{ 'a' is string }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ {} is mapping }}"
                   "{{ [] is iterable }}{{ 'a' is iterable }}{{ 1 is iterable }}{{ [] is sequence }}"),
            "TrueTrueTrueTrueTrueTrueTrueFalseTrue");
  EXPECT_EQ(render("{{ none is none }}{{ true is true }}{{ false is false }}{{ 1 is true }}{{ true is boolean }}"),
            "TrueTrueTrueFalseTrue");
  EXPECT_EQ(render("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}"
                   "{{ 'a' is in ['a'] }}{{ 1 is not string }}{{ 2 is eq 2 }}{{ 3 is gt 2 }}"),
            "TrueTrueTrueFalseTrueTrueTrueTrue");
  EXPECT_EQ(
      render("{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ range is callable }}{{ x is sameas none }}", {{"x", nullptr}}),
      "TrueTrueTrueTrue");
  EXPECT_EQ(render("{{ not x is defined and true }}", nlohmann::json::object()), "True");
}

TEST(Globals, RangeNamespaceDictJoiner) {
  EXPECT_EQ(render("{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(3, 0, -1)|list }}"),
            "[0, 1, 2] [1, 4, 7] [3, 2, 1]");
  EXPECT_EQ(render("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}"), "12");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }}"), "{'a': 1, 'b': 'x'}");
  EXPECT_EQ(render("{% set j = joiner(', ') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %}"), "a, b, c");
}

TEST(Globals, RaiseExceptionAndStrftime) {
  EXPECT_EQ(render("line1\n{{ raise_exception('bad input') }}"), "ERROR: template:2: bad input");
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char year[8];
  std::strftime(year, sizeof(year), "%Y", &tm);
  EXPECT_EQ(render("{{ strftime_now('%Y') }}"), year);
}

TEST(Context, JsonValuesConvert) {
  nlohmann::json ctx = {{"i", 3},    {"u", 4000000000u}, {"f", 1.25},     {"s", "x"},
                        {"b", true}, {"n", nullptr},     {"l", {1, "a"}}, {"o", {{"k", {1}}}}};
  EXPECT_EQ(render("{{ i }} {{ u }} {{ f }} {{ s }} {{ b }} {{ n }} {{ l }} {{ o }}", ctx),
            "3 4000000000 1.25 x True None [1, 'a'] {'k': [1]}");
}

}  // namespace
}  // namespace llmchain::chat::testing
