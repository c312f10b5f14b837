#pragma once
// Helpers shared by the chat tests.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "chat/template.h"

namespace llmchain::chat::testing {

// Renders source with context; returns the output or "ERROR: <message>".
inline std::string render(const std::string& source, const nlohmann::json& context = nlohmann::json::object()) {
  auto t = Template::parse(source);
  if (!t.ok()) return "ERROR: " + t.error().message();
  auto r = t->render(context);
  if (!r.ok()) return "ERROR: " + r.error().message();
  return *r;
}

inline std::string read_data(const std::string& name) {
  std::ifstream in(std::string(LLMCHAIN_SOURCE_DIR) + "/tests/data/chat/" + name, std::ios::binary);
  if (!in) return "<missing " + name + ">";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace llmchain::chat::testing
