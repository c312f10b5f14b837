#include "chain/jinja_bridge.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "base/error.h"
#include "chat/template.h"

namespace llmchain::chain {

std::shared_ptr<const void> jinja_parse(const std::string& source) {
  auto t = chat::Template::parse(source);
  if (!t.ok()) fail(ErrorCode::kInvalidArgument, "jinja prompt template: {}", t.error().message());
  return std::make_shared<const chat::Template>(std::move(*t));
}

std::string jinja_render(const std::shared_ptr<const void>& tmpl, const nlohmann::json& ctx) {
  auto out = static_cast<const chat::Template*>(tmpl.get())->render(ctx);
  if (!out.ok()) fail(ErrorCode::kInvalidArgument, "jinja prompt template: {}", out.error().message());
  return std::move(*out);
}

std::vector<std::string> jinja_variables(const std::string& s) {
  static const std::set<std::string> kKeywords = {
      "if",   "elif",    "else",   "endif",     "for",  "endfor", "in",      "not",       "and",  "or",     "is",
      "set",  "endset",  "true",   "false",     "True", "False",  "none",    "None",      "loop", "macro",  "endmacro",
      "call", "endcall", "filter", "endfilter", "raw",  "endraw", "defined", "recursive", "with", "endwith"};
  std::vector<std::string> out;
  std::set<std::string> bound;  // loop variables and set targets
  size_t pos = 0;
  while (true) {
    size_t open = s.find('{', pos);
    if (open == std::string::npos || open + 1 >= s.size()) break;
    char kind = s[open + 1];
    if (kind != '{' && kind != '%') {
      pos = open + 1;
      continue;
    }
    std::string closer = kind == '{' ? "}}" : "%}";
    size_t close = s.find(closer, open + 2);
    if (close == std::string::npos) break;
    std::string body = s.substr(open + 2, close - open - 2);
    pos = close + 2;
    std::string prev_word;
    char prev_sig = 0;  // last non-space character before the current token
    for (size_t i = 0; i < body.size();) {
      char c = body[i];
      if (c == '"' || c == '\'') {
        size_t end = body.find(c, i + 1);
        i = end == std::string::npos ? body.size() : end + 1;
        prev_sig = c;
        continue;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t j = i;
        while (j < body.size() && (std::isalnum(static_cast<unsigned char>(body[j])) || body[j] == '_')) ++j;
        std::string word = body.substr(i, j - i);
        size_t k = j;
        while (k < body.size() && body[k] == ' ') ++k;
        bool is_call = k < body.size() && body[k] == '(';
        bool defines = prev_word == "for" || prev_word == "set" || (prev_sig == ',' && prev_word.empty());
        if (prev_word == "for" || prev_word == "set") {
          bound.insert(word);
        } else if (!kKeywords.count(word) && !is_call && prev_sig != '.' && prev_sig != '|' && !bound.count(word) &&
                   !defines) {
          if (std::find(out.begin(), out.end(), word) == out.end()) out.push_back(word);
        }
        prev_word = word;
        prev_sig = 'a';
        i = j;
        continue;
      }
      if (c != ' ') {
        prev_sig = c;
        prev_word.clear();
      }
      ++i;
    }
  }
  return out;
}

}  // namespace llmchain::chain
