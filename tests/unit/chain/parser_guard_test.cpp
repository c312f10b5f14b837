#include <gtest/gtest.h>

#include "chain/guards.h"
#include "chain/json_schema.h"
#include "chain/output_parser.h"

namespace llmchain::chain {
namespace {

TEST(OutputParser, String) {
  EXPECT_EQ(StrOutputParser().parse(" a "), " a ");
  EXPECT_EQ(StrOutputParser(true).parse(" a \n"), "a");
}

TEST(OutputParser, JsonFindsValueInProseAndFences) {
  JsonOutputParser p;
  EXPECT_EQ(p.parse("{\"a\": 1}"), (Json{{"a", 1}}));
  EXPECT_EQ(p.parse("Sure! Here it is:\n```json\n{\"a\": [1, 2]}\n```\nEnjoy."), (Json{{"a", {1, 2}}}));
  EXPECT_EQ(p.parse("The answer is {\"x\": \"}\"} ok"), (Json{{"x", "}"}}));
  EXPECT_THROW(p.parse("no json here"), Error);
  EXPECT_NE(p.format_instructions().find("JSON"), std::string::npos);
}

TEST(OutputParser, JsonValidatesSchema) {
  Json schema = {{"type", "object"},
                 {"properties", {{"translation", {{"type", "string"}}}, {"confidence", {{"type", "number"}}}}},
                 {"required", {"translation"}}};
  JsonOutputParser p(schema);
  EXPECT_EQ(p.parse("{\"translation\": \"hola\"}")["translation"], "hola");
  try {
    p.parse("{\"confidence\": 0.5}");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing required property 'translation'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(p.parse("{\"translation\": 3}"), Error);
  EXPECT_EQ(*p.constraint_schema(), schema);
  EXPECT_NE(p.format_instructions().find("\"translation\""), std::string::npos);
}

TEST(JsonSchema, Keywords) {
  Json s = {{"type", "array"}, {"items", {{"type", "string"}, {"enum", {"a", "b"}}}}, {"minItems", 1}, {"maxItems", 2}};
  EXPECT_FALSE(validate_json_schema(Json{"a"}, s));
  EXPECT_TRUE(validate_json_schema(Json::array(), s));
  EXPECT_TRUE(validate_json_schema(Json{"a", "b", "a"}, s));
  EXPECT_EQ(*validate_json_schema(Json{"c"}, s), "$[0]: \"c\" is not one of [\"a\",\"b\"]");
  Json o = {{"type", "object"},
            {"properties", {{"n", {{"type", "integer"}, {"minimum", 0}}}}},
            {"additionalProperties", false}};
  EXPECT_FALSE(validate_json_schema(Json{{"n", 3}}, o));
  EXPECT_TRUE(validate_json_schema(Json{{"n", -1}}, o));
  EXPECT_TRUE(validate_json_schema(Json{{"n", 1}, {"x", 1}}, o));
  EXPECT_FALSE(validate_json_schema(Json(1), Json{{"anyOf", {{{"type", "string"}}, {{"type", "integer"}}}}}));
}

TEST(OutputParser, CommaSeparatedList) {
  CommaSeparatedListParser p;
  EXPECT_EQ(p.parse("red, green ,blue."), (Json{"red", "green", "blue"}));
  EXPECT_EQ(p.parse(""), Json::array());
  EXPECT_NE(p.format_instructions().find("comma separated"), std::string::npos);
}

TEST(OutputParser, RegexNamedGroups) {
  RegexParser p(R"(Answer: (?<answer>\w+)(, score: (?<score>\d+))?)");
  EXPECT_EQ(p.group_names(), (std::vector<std::string>{"answer", "score"}));
  EXPECT_EQ(p.parse("Answer: yes, score: 9"), (Json{{"answer", "yes"}, {"score", "9"}}));
  EXPECT_EQ(p.parse("Answer: no"), (Json{{"answer", "no"}, {"score", ""}}));
  EXPECT_THROW(p.parse("nothing"), Error);
  EXPECT_THROW(RegexParser("(no names)"), Error);
  EXPECT_THROW(RegexParser("(?<x>[unclosed)"), Error);
  // character classes and escaped parens do not count as groups
  RegexParser q(R"(\((?<a>[(]+)\)(?:x)(?<b>\d))");
  EXPECT_EQ(q.parse("((()x7"), (Json{{"a", "(("}, {"b", "7"}}));
  EXPECT_EQ(q.output_schema()["required"], (Json{"a", "b"}));
}

TEST(OutputParser, PartialJson) {
  EXPECT_EQ(parse_partial_json(R"({"name": "Jo)"), (Json{{"name", "Jo"}}));
  EXPECT_EQ(parse_partial_json(R"({"name": "Jo", "tags": ["a", "b)"), (Json{{"name", "Jo"}, {"tags", {"a", "b"}}}));
  EXPECT_EQ(parse_partial_json(R"({"name": "Jo", "ag)"), (Json{{"name", "Jo"}}));
  EXPECT_EQ(parse_partial_json(R"({"ok": tr)"), Json::object());
  EXPECT_EQ(parse_partial_json("Sure! ```json\n{\"a\": [1, 2"), (Json{{"a", {1, 2}}}));
  EXPECT_EQ(parse_partial_json(R"({"a": 1} trailing prose)"), (Json{{"a", 1}}));
  EXPECT_FALSE(parse_partial_json("no json here").has_value());
  EXPECT_FALSE(parse_partial_json(R"({"a": ])").has_value());
}

TEST(OutputParser, JsonStreamsPartialValuesListStreamsItems) {
  JsonOutputParser json_parser;
  OutputParser::StreamState st;
  std::vector<Json> got;
  std::string text;
  for (std::string piece : {"{\"a\"", ": \"x", "y\", \"b\": [1", ", 2]}"}) {
    text += piece;
    json_parser.stream_chunks(st, text, piece, nullptr, [&](const Json& c) { got.push_back(c); });
  }
  Json final_value = json_parser.parse(text);
  json_parser.stream_chunks(st, text, "", &final_value, [&](const Json& c) { got.push_back(c); });
  ASSERT_FALSE(got.empty());
  for (const auto& g : got) EXPECT_TRUE(g.is_object());
  EXPECT_EQ(got.back(), (Json{{"a", "xy"}, {"b", {1, 2}}}));

  CommaSeparatedListParser list;
  OutputParser::StreamState ls;
  std::vector<Json> items;
  text.clear();
  for (std::string piece : {"red, gr", "een, bl", "ue."}) {
    text += piece;
    list.stream_chunks(ls, text, piece, nullptr, [&](const Json& c) { items.push_back(c); });
  }
  Json all = list.parse(text);
  list.stream_chunks(ls, text, "", &all, [&](const Json& c) { items.push_back(c); });
  EXPECT_EQ(items, (std::vector<Json>{Json::array({"red"}), Json::array({"green"}), Json::array({"blue"})}));
}

// RE2: linear in the output's length (std::regex recursed per character and overflowed the
// stack on long outputs); RE2's own named-group spelling works too.
TEST(OutputParser, RegexOnLongOutputs) {
  RegexParser p(R"((?P<all>(a|b)*)c)");
  std::string text(300000, 'a');
  text += 'c';
  EXPECT_EQ(p.parse(text)["all"].get<std::string>().size(), 300000u);
  EXPECT_THROW(RegexParser(R"((?<x>a)(?=b))"), Error);  // lookahead: not RE2 syntax, a clear error
}

TEST(Guards, MaxLength) {
  MaxLengthGuard block(5, GuardAction::kBlock);
  EXPECT_EQ(block.apply("abc", GuardStage::kInput), "abc");
  try {
    block.apply("abcdefg", GuardStage::kInput);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("guard 'max_length' blocked the input"), std::string::npos) << e.what();
  }
  MaxLengthGuard cut(5, GuardAction::kRedact);
  EXPECT_EQ(cut.apply("abcdefg", GuardStage::kOutput), "abcde");
  EXPECT_EQ(cut.redacted(), 1);
}

TEST(Guards, DenyList) {
  DenyListGuard g({"darn"}, {"secret-\\d+"}, GuardAction::kRedact);
  EXPECT_EQ(g.apply("Darn, the code is secret-42. darnit", GuardStage::kOutput),
            "[REDACTED], the code is [REDACTED]. darnit");
  DenyListGuard flag({"bad"}, {}, GuardAction::kFlag);
  EXPECT_EQ(flag.apply("a bad word", GuardStage::kInput), "a bad word");
  EXPECT_EQ(flag.apply("a good word", GuardStage::kInput), "a good word");
  EXPECT_EQ(flag.flagged(), 1);
  DenyListGuard block({"bad"}, {}, GuardAction::kBlock);
  try {
    block.apply("bad", GuardStage::kOutput);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("denied term 'bad'"), std::string::npos);
  }
}

TEST(Guards, PiiRedaction) {
  PiiGuard g(GuardAction::kRedact);
  EXPECT_EQ(g.apply("mail me at ann.lee@example.co.uk or call +1 (555) 123-4567.", GuardStage::kInput),
            "mail me at [EMAIL] or call [PHONE].");
  EXPECT_EQ(g.apply("card 4111 1111 1111 1111 ok", GuardStage::kInput), "card [CARD] ok");
  // 16 digits failing Luhn is not a card (too long for a phone either way: left alone)
  EXPECT_EQ(g.apply("ref 4111 1111 1111 1112 ok", GuardStage::kInput), "ref 4111 1111 1111 1112 ok");
  EXPECT_EQ(g.apply("I am 42 years old", GuardStage::kInput), "I am 42 years old");
  EXPECT_TRUE(luhn_valid("79927398713"));
  EXPECT_FALSE(luhn_valid("79927398710"));
}

TEST(Guards, JsonValidity) {
  JsonValidityGuard g(GuardAction::kBlock);
  EXPECT_EQ(g.apply("{\"a\":1}", GuardStage::kOutput), "{\"a\":1}");
  EXPECT_THROW(g.apply("not json", GuardStage::kOutput), Error);
  EXPECT_THROW((JsonValidityGuard(GuardAction::kRedact)), Error);
  // structured values are one document, not a set of strings
  std::vector<GuardPtr> guards{std::make_shared<JsonValidityGuard>(GuardAction::kBlock)};
  EXPECT_EQ(apply_guards(guards, Json{{"a", "plain text"}}, GuardStage::kOutput), (Json{{"a", "plain text"}}));
}

TEST(Guards, GuardedRunnableAppliesToNestedStrings) {
  std::vector<GuardPtr> in{std::make_shared<PiiGuard>(GuardAction::kRedact)};
  std::vector<GuardPtr> out{
      std::make_shared<DenyListGuard>(std::vector<std::string>{"x"}, std::vector<std::string>{}, GuardAction::kRedact)};
  auto echo = lambda([](const Json& v) { return v; });
  GuardedRunnable g(echo, in, out);
  Json r = g.invoke({{"q", "me@a.io"}, {"list", {"x y"}}});
  EXPECT_EQ(r, (Json{{"q", "[EMAIL]"}, {"list", {"[REDACTED] y"}}}));
}

TEST(Guards, ParseAction) {
  EXPECT_EQ(parse_guard_action("flag"), GuardAction::kFlag);
  EXPECT_THROW(parse_guard_action("explode"), Error);
}

}  // namespace
}  // namespace llmchain::chain

namespace llmchain::chain {
namespace {

// Every guard action is reported to the run's event log (the server shows them in a chain
// response's metadata and counts them in /metrics); a clean text reports nothing.
TEST(Guards, EventsAreReportedToTheRun) {
  std::vector<GuardPtr> in{std::make_shared<PiiGuard>(GuardAction::kRedact)};
  std::vector<GuardPtr> out{std::make_shared<DenyListGuard>(std::vector<std::string>{"guarantee"},
                                                            std::vector<std::string>{}, GuardAction::kFlag)};
  auto echo = lambda([](const Json& v) { return v; });
  GuardedRunnable g(echo, in, out);
  RunConfig clean;
  g.invoke("nothing to see", clean);
  EXPECT_TRUE(clean.guard_events->events().empty());

  RunConfig rc;
  Json r = g.invoke("mail me@a.io, we guarantee it", rc);
  EXPECT_EQ(r, "mail [EMAIL], we guarantee it");  // flagged text goes through
  auto ev = rc.guard_events->events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].guard, in[0]->name());
  EXPECT_EQ(ev[0].action, "redact");
  EXPECT_EQ(ev[0].stage, "input");
  EXPECT_NE(ev[0].reason.find("e-mail"), std::string::npos) << ev[0].reason;
  EXPECT_EQ(ev[1].action, "flag");
  EXPECT_EQ(ev[1].stage, "output");
  EXPECT_NE(ev[1].reason.find("guarantee"), std::string::npos) << ev[1].reason;

  std::vector<GuardPtr> block{std::make_shared<MaxLengthGuard>(3, GuardAction::kBlock)};
  GuardedRunnable b(echo, block, {});
  RunConfig brc;
  EXPECT_THROW(b.invoke("too long", brc), Error);
  ASSERT_EQ(brc.guard_events->events().size(), 1u);
  EXPECT_EQ(brc.guard_events->events()[0].action, "block");
}

}  // namespace
}  // namespace llmchain::chain

namespace llmchain::chain {
namespace {

// Deny-lists match what a reader sees: spacing, invisible characters, other scripts'
// lookalikes, fullwidth forms, separators and word forms do not get a term past.
TEST(Guards, DenyListSeesThroughDisguises) {
  DenyListGuard g({"bad word", "lawsuit", "guarantee"}, {}, GuardAction::kRedact);
  for (const std::string& text : {
           std::string("a bad  word here"),   // double space
           std::string("a bad\nword here"),   // newline
           std::string("a bad\tword"),        // tab
           std::string("a bad\xc2\xa0word"),  // NBSP
           std::string("a bad_word"),         // underscore separator
           std::string("a BAD Word"),         // case
           std::string("a b\xe2\x80\x8b"
                       "ad word"),  // zero-width space inside
           std::string("a b\xc2\xad"
                       "ad word"),  // soft hyphen inside
           std::string("a bad w\xd0\xbe"
                       "rd"),                                           // Cyrillic o
           std::string("a \xef\xbd\x82\xef\xbd\x81\xef\xbd\x84 word"),  // fullwidth "bad"
           std::string("we file lawsuits"),                             // plural
           std::string("it is guaranteed"),                             // -d form
       }) {
    auto f = g.scan(text);
    EXPECT_EQ(f.size(), 1u) << text;
  }
  // whole words only, and the redaction covers the original bytes
  EXPECT_TRUE(g.scan("badword and lawsuitable").empty());
  EXPECT_EQ(g.apply("x bad\xe2\x80\x8b word y", GuardStage::kInput), "x [REDACTED] y");
  EXPECT_EQ(g.apply("see w\xd0\xbe", GuardStage::kInput), "see w\xd0\xbe");
}

TEST(Guards, DenyListPatternsAreRe2) {
  DenyListGuard g({}, {"secret-[0-9]+"}, GuardAction::kRedact);
  EXPECT_EQ(g.apply("code SECRET-42 now", GuardStage::kInput), "code [REDACTED] now");
  // RE2 has no backreferences: such a pattern is rejected when the guard is built, naming it
  EXPECT_THROW(DenyListGuard({}, {"(a)\\1"}, GuardAction::kBlock), Error);
  try {
    DenyListGuard({}, {"(unclosed"}, GuardAction::kBlock);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(unclosed"), std::string::npos) << e.what();
  }
}

TEST(Guards, PiiSeesThroughDisguises) {
  PiiGuard g(GuardAction::kRedact);
  EXPECT_EQ(g.apply("mail me\xef\xbc\xa0"
                    "example.org",
                    GuardStage::kInput),
            "mail [EMAIL]");  // fullwidth @
  EXPECT_EQ(g.apply("call \xef\xbc\x95\xef\xbc\x95\xef\xbc\x95 123 4567", GuardStage::kInput),
            "call [PHONE]");  // fullwidth digits
  EXPECT_EQ(g.apply("call \xd9\xa5\xd9\xa5\xd9\xa5\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6\xd9\xa7",
                    GuardStage::kInput),
            "call [PHONE]");  // Arabic-Indic digits
  EXPECT_EQ(g.apply("call 555\xc2\xa0"
                    "123\xc2\xa0"
                    "4567",
                    GuardStage::kInput),
            "call [PHONE]");  // NBSP
  EXPECT_EQ(g.apply("call 555\xe2\x80\x8b"
                    "1234567 now",
                    GuardStage::kInput),
            "call [PHONE] now");  // ZWSP
  EXPECT_EQ(g.apply("call 555/123/4567", GuardStage::kInput), "call [PHONE]");
  EXPECT_EQ(g.apply("card 4111 1111 1111 1111.", GuardStage::kInput), "card [CARD].");
}

// Long inputs are scanned in linear time without recursion (the old engine recursed per
// character and overflowed the stack).
TEST(Guards, LongInputsDoNotOverflow) {
  PiiGuard pii(GuardAction::kRedact);
  DenyListGuard deny({"lawsuit"}, {"x+y"}, GuardAction::kFlag);
  std::string ones;
  for (int i = 0; i < 20000; ++i) ones += "1 ";
  for (const std::string& text :
       {std::string(50000, 'a'), ones, std::string(100000, 'x'), std::string(30000, '.') + "me@example.org"}) {
    EXPECT_NO_THROW(pii.apply(text, GuardStage::kInput));
    EXPECT_NO_THROW(deny.apply(text, GuardStage::kInput));
  }
}

// A stage's guards run cheapest first: a length limit blocks a long text before any pattern
// scans it, whatever the declared order.
TEST(Guards, CheapestFirst) {
  std::vector<GuardPtr> in{std::make_shared<PiiGuard>(GuardAction::kRedact),
                           std::make_shared<MaxLengthGuard>(100, GuardAction::kBlock)};
  auto echo = lambda([](const Json& v) { return v; });
  GuardedRunnable g(echo, in, {});
  RunConfig rc;
  EXPECT_THROW(g.invoke(std::string(1000, '1') + " me@example.org", rc), Error);
  auto ev = rc.guard_events->events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].guard, "max_length");
}

}  // namespace
}  // namespace llmchain::chain
