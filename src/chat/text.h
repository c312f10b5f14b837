#pragma once
// String helpers with Python str semantics over UTF-8: lengths, indexes and
// slices count code points; strip() without arguments strips what Python's
// str.isspace() accepts. Case mapping is ASCII-only.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmchain::chat::text {

bool is_space(uint32_t cp);
bool is_ascii(std::string_view s);
size_t length(std::string_view s);                         // in code points
std::vector<std::string> code_points(std::string_view s);  // one string per code point

// chars empty: whitespace; otherwise any code point of chars.
std::string strip(std::string_view s, std::string_view chars = {}, bool has_chars = false);
std::string lstrip(std::string_view s, std::string_view chars = {}, bool has_chars = false);
std::string rstrip(std::string_view s, std::string_view chars = {}, bool has_chars = false);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);   // str.capitalize()
std::string py_title(std::string_view s);     // str.title()
std::string jinja_title(std::string_view s);  // the |title filter

// str.split(sep, maxsplit); sep empty and !has_sep splits on whitespace runs.
std::vector<std::string> split(std::string_view s, std::string_view sep, bool has_sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all.
std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
int64_t count(std::string_view s, std::string_view sub);
int64_t find(std::string_view s, std::string_view sub);  // code point index or -1

std::string html_escape(std::string_view s);
// Body of a JSON string literal as Python's json.dumps writes it (no quotes).
void json_escape(std::string& out, std::string_view s, bool ensure_ascii);

}  // namespace llmchain::chat::text
