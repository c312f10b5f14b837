#include "chat/text.h"

#include "base/utf8.h"

namespace llmchain::chat::text {

bool is_space(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f);
  return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    utf8::decode(s, i);
    ++n;
  }
  return n;
}

std::vector<std::string> code_points(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    utf8::decode(s, i);
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

namespace {

// Byte ranges [begin, end) of each code point, decoded.
struct Cp {
  uint32_t cp;
  size_t begin, end;
};

std::vector<Cp> decode_all(std::string_view s) {
  std::vector<Cp> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t b = i;
    uint32_t cp = utf8::decode(s, i);
    out.push_back({cp, b, i});
  }
  return out;
}

bool in_set(uint32_t cp, const std::vector<Cp>& set, std::string_view chars) {
  for (const auto& c : set)
    if (c.cp == cp) return true;
  (void)chars;
  return false;
}

std::string strip_impl(std::string_view s, std::string_view chars, bool has_chars, bool left, bool right) {
  auto cps = decode_all(s);
  auto set = decode_all(chars);
  auto strip_it = [&](uint32_t cp) { return has_chars ? in_set(cp, set, chars) : is_space(cp); };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b].cp)) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1].cp)) --e;
  if (b == e) return {};
  return std::string(s.substr(cps[b].begin, cps[e - 1].end - cps[b].begin));
}

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::string strip(std::string_view s, std::string_view chars, bool has_chars) {
  return strip_impl(s, chars, has_chars, true, true);
}
std::string lstrip(std::string_view s, std::string_view chars, bool has_chars) {
  return strip_impl(s, chars, has_chars, true, false);
}
std::string rstrip(std::string_view s, std::string_view chars, bool has_chars) {
  return strip_impl(s, chars, has_chars, false, true);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_upper(c);
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out = lower(s);
  if (!out.empty()) out[0] = ascii_upper(out[0]);
  return out;
}

std::string py_title(std::string_view s) {
  std::string out(s);
  bool prev_cased = false;
  for (char& c : out) {
    if (ascii_alpha(c)) {
      c = prev_cased ? ascii_lower(c) : ascii_upper(c);
      prev_cased = true;
    } else {
      prev_cased = static_cast<unsigned char>(c) >= 0x80 && prev_cased;
    }
  }
  return out;
}

std::string jinja_title(std::string_view s) {
  // Words start after whitespace or one of -([{< ; first letter upper, rest lower.
  std::string out(s);
  bool word_start = true;
  for (char& c : out) {
    bool sep = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '-' || c == '(' ||
               c == '{' || c == '[' || c == '<';
    if (sep) {
      word_start = true;
    } else if (word_start) {
      c = ascii_upper(c);
      word_start = false;
    } else {
      c = ascii_lower(c);
    }
  }
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep, bool has_sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (!has_sep) {
    auto cps = decode_all(s);
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && is_space(cps[i].cp)) ++i;
      if (i == cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        // Remainder, with trailing whitespace stripped.
        std::string rest(s.substr(cps[i].begin));
        out.push_back(rstrip(rest));
        return out;
      }
      size_t b = i;
      while (i < cps.size() && !is_space(cps[i].cp)) ++i;
      out.emplace_back(s.substr(cps[b].begin, cps[i - 1].end - cps[b].begin));
    }
    return out;
  }
  size_t pos = 0;
  while (true) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
    size_t hit = s.find(sep, pos);
    if (hit == std::string_view::npos) break;
    out.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

std::vector<std::string> splitlines(std::string_view s) {
  std::vector<std::string> out;
  auto cps = decode_all(s);
  size_t start = 0;  // byte offset
  for (size_t i = 0; i < cps.size(); ++i) {
    uint32_t c = cps[i].cp;
    bool brk = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85 ||
               c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    out.emplace_back(s.substr(start, cps[i].begin - start));
    if (c == '\r' && i + 1 < cps.size() && cps[i + 1].cp == '\n') ++i;
    start = cps[i].end;
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` before every code point and at the end.
    auto cps = code_points(s);
    int64_t done = 0;
    for (const auto& cp : cps) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += cp;
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return n;
}

int64_t find(std::string_view s, std::string_view sub) {
  size_t pos = s.find(sub);
  if (pos == std::string_view::npos) return -1;
  return static_cast<int64_t>(length(s.substr(0, pos)));
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

void json_escape(std::string& out, std::string_view s, bool ensure_ascii) {
  static const char* hex = "0123456789abcdef";
  auto u_escape = [&](uint32_t v) {
    out += "\\u";
    for (int sh = 12; sh >= 0; sh -= 4) out += hex[(v >> sh) & 0xf];
  };
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t b = i;
      uint32_t cp = utf8::decode(s, i);
      if (!ensure_ascii) {
        out.append(s.substr(b, i - b));
      } else if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        u_escape(0xd800 + (v >> 10));
        u_escape(0xdc00 + (v & 0x3ff));
      } else {
        u_escape(cp);
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          u_escape(c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

}  // namespace llmchain::chat::text
