#pragma once
// Splits template source into text and tag tokens, applying Jinja2's
// whitespace control: "-" on a tag strips whitespace on that side,
// lstrip_blocks strips spaces/tabs before a block or comment tag that starts a
// line, trim_blocks drops the first newline after a block or comment tag.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmchain::chat {

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

enum class Tok { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type;
  std::string text;  // text, name, operator, or decoded string literal
  int line = 1;
  int64_t ival = 0;
  double fval = 0;
};

// Throws llmchain::Error "name:line: message" on malformed input.
std::vector<Token> tokenize(std::string_view source, const std::string& name, const LexOptions& opts);

}  // namespace llmchain::chat
