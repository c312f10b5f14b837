#pragma once
// The playground's files (web/*), embedded at build time by src/server/embed_web.cmake
// into web_assets.cpp in the build folder.
#include <cstddef>
#include <string_view>

namespace llmchain::server {

struct WebAsset {
  const char* name;  // file name under web/, e.g. "app.js"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

// nullptr for an unknown name.
const WebAsset* find_web_asset(std::string_view name);

}  // namespace llmchain::server
