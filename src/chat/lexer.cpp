#include "chat/lexer.h"

#include <cstring>

#include "base/error.h"
#include "base/utf8.h"
#include "chat/text.h"

namespace llmchain::chat {

namespace {

std::string normalize_newlines(std::string_view src, bool keep_trailing_newline) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Length of the whitespace run (Python's \s) starting at pos.
size_t ws_run(std::string_view s, size_t pos) {
  size_t i = pos;
  while (i < s.size()) {
    size_t j = i;
    uint32_t cp = utf8::decode(s, j);
    if (!text::is_space(cp)) break;
    i = j;
  }
  return i - pos;
}

int count_newlines(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string src, const std::string& name, const LexOptions& opts)
      : src_(std::move(src)), name_(name), opts_(opts) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      std::string_view text =
          std::string_view(src_).substr(pos_, (tag == std::string::npos ? src_.size() : tag) - pos_);
      if (tag == std::string::npos) {
        emit_text(text);
        break;
      }
      char kind = src_[tag + 1];  // '{', '%', '#'
      char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      bool is_raw = kind == '%' && raw_tag_at(tag, nullptr);
      std::string_view kept = text;
      if (sign == '-') {
        kept = rstrip_ws(text);
      } else if (sign != '+' && opts_.lstrip_blocks && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string_view::npos ? 0 : l_pos + 1;
        if (l_pos > 0 || line_starting) {
          bool only_blank = true;
          for (size_t i = l_pos; i < text.size(); ++i)
            if (text[i] != ' ' && text[i] != '\t') only_blank = false;
          if (only_blank) kept = text.substr(0, l_pos);
        }
      }
      emit_text(kept);
      line_ += count_newlines(text);
      pos_ = tag + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (is_raw) {
        lex_raw(tag);
      } else if (kind == '#') {
        lex_comment();
      } else {
        lex_tag(kind == '%');
      }
      line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    }
    tokens_.push_back(Token{Tok::kEof, "", line_});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(int line, const std::string& msg) {
    fail(ErrorCode::kInvalidArgument, "{}:{}: {}", name_, line, msg);
  }

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  static std::string_view rstrip_ws(std::string_view s) {
    // Walk forward to find the end of the last non-space code point.
    size_t keep = 0;
    for (size_t i = 0; i < s.size();) {
      uint32_t cp = utf8::decode(s, i);
      if (!text::is_space(cp)) keep = i;
    }
    return s.substr(0, keep);
  }

  void emit_text(std::string_view t) {
    if (t.empty()) return;
    tokens_.push_back(Token{Tok::kText, std::string(t), line_});
  }

  // Matches "{%[-+]? raw [-]?%}" at tag; sets *end past it.
  bool raw_tag_at(size_t tag, size_t* end) const { return keyword_tag_at(tag, "raw", end, nullptr); }

  bool keyword_tag_at(size_t tag, const char* word, size_t* end, bool* strip_after) const {
    size_t i = tag + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    while (i < src_.size() && std::isspace(static_cast<unsigned char>(src_[i]))) ++i;
    size_t n = std::strlen(word);
    if (src_.compare(i, n, word) != 0) return false;
    i += n;
    if (i < src_.size() && is_name_char(src_[i])) return false;
    while (i < src_.size() && std::isspace(static_cast<unsigned char>(src_[i]))) ++i;
    bool strip = false;
    if (src_.compare(i, 3, "-%}") == 0) {
      strip = true;
      i += 3;
    } else if (src_.compare(i, 2, "%}") == 0) {
      i += 2;
    } else {
      return false;
    }
    if (end) *end = i;
    if (strip_after) *strip_after = strip;
    return true;
  }

  // After a block or comment end: "-" strips all following whitespace,
  // otherwise trim_blocks drops one newline.
  void after_block_end(bool strip) {
    if (strip) {
      size_t n = ws_run(src_, pos_);
      line_ += count_newlines(std::string_view(src_).substr(pos_, n));
      pos_ += n;
    } else if (opts_.trim_blocks && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      ++line_;
    }
  }

  void lex_raw(size_t tag) {
    size_t body_start = 0;
    bool strip_after = false;
    keyword_tag_at(tag, "raw", &body_start, &strip_after);
    pos_ = body_start;
    after_block_end(strip_after);
    int start_line = line_;
    for (size_t i = find_tag(pos_); i != std::string::npos; i = find_tag(i + 1)) {
      size_t end = 0;
      bool strip = false;
      if (src_[i + 1] != '%' || !keyword_tag_at(i, "endraw", &end, &strip)) continue;
      std::string_view body = std::string_view(src_).substr(pos_, i - pos_);
      char sign = src_[i + 2];
      std::string_view kept = body;
      if (sign == '-') {
        kept = rstrip_ws(body);
      } else if (sign != '+' && opts_.lstrip_blocks) {
        size_t l_pos = body.rfind('\n');
        if (l_pos != std::string_view::npos) {
          bool only_blank = true;
          for (size_t k = l_pos + 1; k < body.size(); ++k)
            if (body[k] != ' ' && body[k] != '\t') only_blank = false;
          if (only_blank) kept = body.substr(0, l_pos + 1);
        }
      }
      emit_text(kept);
      line_ += count_newlines(body);
      pos_ = end;
      after_block_end(strip);
      return;
    }
    error(start_line, "missing end of raw directive");
  }

  void lex_comment() {
    int start_line = line_;
    size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) error(start_line, "missing end of comment tag");
    bool strip = end > pos_ && src_[end - 1] == '-';
    line_ += count_newlines(std::string_view(src_).substr(pos_, end - pos_));
    pos_ = end + 2;
    after_block_end(strip);
  }

  void lex_tag(bool block) {
    int start_line = line_;
    tokens_.push_back(Token{block ? Tok::kBlockBegin : Tok::kVarBegin, "", line_});
    std::vector<char> balance;
    const char* close = block ? "%}" : "}}";
    while (true) {
      // Whitespace inside tags.
      while (pos_ < src_.size() && std::isspace(static_cast<unsigned char>(src_[pos_]))) {
        if (src_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ >= src_.size())
        error(start_line,
              block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'");
      if (balance.empty()) {
        if (src_[pos_] == '-' && src_.compare(pos_ + 1, 2, close) == 0) {
          pos_ += 3;
          tokens_.push_back(Token{block ? Tok::kBlockEnd : Tok::kVarEnd, "", line_});
          if (block) {
            after_block_end(true);
          } else {
            size_t n = ws_run(src_, pos_);
            line_ += count_newlines(std::string_view(src_).substr(pos_, n));
            pos_ += n;
          }
          return;
        }
        if (src_.compare(pos_, 2, close) == 0) {
          pos_ += 2;
          tokens_.push_back(Token{block ? Tok::kBlockEnd : Tok::kVarEnd, "", line_});
          if (block) after_block_end(false);
          return;
        }
      }
      lex_token(balance);
    }
  }

  void lex_token(std::vector<char>& balance) {
    char c = src_[pos_];
    if (c == '\'' || c == '"') {
      lex_string(c);
      return;
    }
    if (is_digit(c)) {
      lex_number();
      return;
    }
    if (is_name_start(c)) {
      size_t b = pos_;
      while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
      tokens_.push_back(Token{Tok::kName, src_.substr(b, pos_ - b), line_});
      return;
    }
    static const char* two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : two) {
      if (src_.compare(pos_, 2, op) == 0) {
        tokens_.push_back(Token{Tok::kOp, op, line_});
        pos_ += 2;
        return;
      }
    }
    if (std::strchr("+-/*%~[](){}><=.:|,;", c) != nullptr) {
      if (c == '(' || c == '[' || c == '{') {
        balance.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
      } else if (c == ')' || c == ']' || c == '}') {
        if (balance.empty()) error(line_, fmt::format("unexpected '{}'", c));
        if (balance.back() != c) error(line_, fmt::format("unexpected '{}', expected '{}'", c, balance.back()));
        balance.pop_back();
      }
      tokens_.push_back(Token{Tok::kOp, std::string(1, c), line_});
      ++pos_;
      return;
    }
    error(line_, fmt::format("unexpected char '{}'", c));
  }

  void lex_number() {
    size_t b = pos_;
    auto digits = [&] {
      while (pos_ < src_.size() &&
             (is_digit(src_[pos_]) || (src_[pos_] == '_' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1]))))
        ++pos_;
    };
    digits();
    bool is_float = false;
    bool after_dot = !tokens_.empty() && tokens_.back().type == Tok::kOp && tokens_.back().text == ".";
    if (!after_dot && pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      digits();
    }
    if (!after_dot && pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t save = pos_;
      ++pos_;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (pos_ < src_.size() && is_digit(src_[pos_])) {
        is_float = true;
        digits();
      } else {
        pos_ = save;
      }
    }
    std::string lit;
    for (size_t i = b; i < pos_; ++i)
      if (src_[i] != '_') lit += src_[i];
    Token t{is_float ? Tok::kFloat : Tok::kInt, lit, line_};
    if (is_float) {
      t.fval = std::strtod(lit.c_str(), nullptr);
    } else {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(lit.c_str(), &end, 10);
      if (errno == ERANGE) error(line_, "integer literal too large");
      t.ival = v;
    }
    tokens_.push_back(std::move(t));
  }

  void lex_string(char quote) {
    int start_line = line_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) error(start_line, "unterminated string literal");
      char c = src_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c == '\n') ++line_;
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= src_.size()) error(start_line, "unterminated string literal");
      char e = src_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\n': ++line_; break;  // line continuation
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
          uint32_t v = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k)
            v = v * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
          utf8::append(out, v);
          break;
        }
        case 'x':
        case 'u':
        case 'U': {
          int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t v = 0;
          for (int k = 0; k < n; ++k) {
            if (pos_ >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos_])))
              error(line_, fmt::format("truncated \\{} escape in string literal", e));
            char h = src_[pos_++];
            v = v * 16 + static_cast<uint32_t>(is_digit(h) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (v > 0x10FFFF) error(line_, "illegal Unicode character in string literal");
          utf8::append(out, v);
          break;
        }
        default:  // unknown escapes keep their backslash, as in Python
          out += '\\';
          out += e;
          if (e == '\n') ++line_;
      }
    }
    tokens_.push_back(Token{Tok::kString, std::move(out), start_line});
  }

  std::string src_;
  const std::string& name_;
  LexOptions opts_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& name, const LexOptions& opts) {
  Lexer lexer(normalize_newlines(source, opts.keep_trailing_newline), name, opts);
  return lexer.run();
}

}  // namespace llmchain::chat
