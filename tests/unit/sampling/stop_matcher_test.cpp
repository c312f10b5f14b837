#include "sampling/stop_matcher.h"

#include <gtest/gtest.h>

namespace llmchain::sampling {
namespace {

struct StopRun {
  std::string emitted;
  bool stopped = false;
};

StopRun feed(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
  StopMatcher m(std::move(stops));
  StopRun r;
  for (const auto& p : pieces) {
    auto out = m.push(p);
    r.emitted += out.emit;
    if (out.stopped) {
      r.stopped = true;
      return r;
    }
  }
  r.emitted += m.flush();
  return r;
}

TEST(StopMatcher, EverySplitPointOfEveryStop) {
  const std::vector<std::string> stops = {"</s>", "\n\nUser:", "STOP"};
  for (const auto& stop : stops) {
    const std::string text = "hello world" + stop + "tail";
    // Split the text in two and three pieces at every pair of positions.
    for (size_t i = 0; i <= text.size(); ++i) {
      for (size_t j = i; j <= text.size(); ++j) {
        StopRun r = feed(stops, {text.substr(0, i), text.substr(i, j - i), text.substr(j)});
        ASSERT_TRUE(r.stopped) << stop << " split " << i << "," << j;
        ASSERT_EQ(r.emitted, "hello world") << stop << " split " << i << "," << j;
      }
    }
    // One byte per token.
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    StopRun r = feed(stops, bytes);
    EXPECT_TRUE(r.stopped);
    EXPECT_EQ(r.emitted, "hello world");
  }
}

TEST(StopMatcher, HoldsBackOnlyPossiblePrefixes) {
  StopMatcher m({"STOP"});
  auto out = m.push("abc ST");
  EXPECT_EQ(out.emit, "abc ");
  EXPECT_FALSE(out.stopped);
  out = m.push("X");  // "STX" cannot start STOP any more
  EXPECT_EQ(out.emit, "STX");
  out = m.push("S");
  EXPECT_EQ(out.emit, "");
  EXPECT_EQ(m.flush(), "S");  // end of generation releases the held-back prefix
}

TEST(StopMatcher, OverlappingPrefixes) {
  // "aab": after "aaa" only "aa" may still start it.
  StopRun r = feed({"aab"}, {"a", "a", "a", "b", "zzz"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "a");
  // Two overlapping stops; the earliest match in the text wins.
  r = feed({"abcd", "bc"}, {"xa", "b", "cd"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "x");
  r = feed({"abcd", "bc"}, {"xa", "b", "cX"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "xa");
  r = feed({"abc", "abd"}, {"ab", "d!"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "");
}

TEST(StopMatcher, MultipleStopsReportWhich) {
  StopMatcher m({"###", "\nQ:"});
  auto out = m.push("answer\nQ");
  EXPECT_EQ(out.emit, "answer");
  out = m.push(":more");
  EXPECT_TRUE(out.stopped);
  EXPECT_EQ(out.emit, "");
  EXPECT_EQ(out.stop, "\nQ:");
  EXPECT_TRUE(m.push("x").stopped);  // stays stopped
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, StopAtVeryStart) {
  StopRun r = feed({"<|end|>"}, {"<|end|>", "more"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "");
  r = feed({"<|end|>"}, {"<|", "end", "|>rest"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emitted, "");
}

TEST(StopMatcher, NoStopsPassesThroughButKeepsUtf8Whole) {
  StopMatcher m({});
  EXPECT_EQ(m.push("ab").emit, "ab");
  EXPECT_EQ(m.push("\xC3").emit, "");  // half of "é"
  EXPECT_EQ(m.push("\xA9!").emit, "\xC3\xA9!");
  StopRun r = feed({""}, {"x", "y"});  // empty stop strings are ignored
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.emitted, "xy");
}

TEST(StopMatcher, NonAsciiStopSplitInsideCharacter) {
  const std::string stop = "終わり";
  const std::string text = "ok" + stop;
  for (size_t i = 0; i <= text.size(); ++i) {
    StopRun r = feed({stop}, {text.substr(0, i), text.substr(i)});
    EXPECT_TRUE(r.stopped) << i;
    EXPECT_EQ(r.emitted, "ok") << i;
  }
}

}  // namespace
}  // namespace llmchain::sampling
