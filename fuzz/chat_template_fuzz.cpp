// libFuzzer target over the Jinja chat-template engine (chat/template.h, chat_template.h).
// Input: template source, optionally followed by a line "{#messages#}" (a Jinja comment, so
// seeds stay valid templates) and a JSON text: an array of messages, or an object with
// "messages" and optionally "tools", "add_generation_prompt", "bos_token", "eos_token" and
// "extra" (ChatOptions). Without it, a small conversation is rendered.
// Checked, besides "no crash, no sanitizer report, no exception escaping, rendering ends
// (the engine's own limits, TemplateOptions, bound every loop and recursion)":
// The limits are the engine's, scaled down (scaled_limits()): at the defaults one render may take
// a million loop iterations, ~2.5 s in a release build and over a minute under the
// sanitizers, so every input reaching them would be a timeout. Work out of proportion to
// the limits still shows as a libFuzzer timeout (-timeout=10).
//  - parse and render errors are Error values;
//  - rendering is deterministic (twice the same output; templates calling strftime_now
//    excepted).
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "chat/chat_template.h"
#include "chat/template.h"
#include "fuzz_util.h"

namespace {

using namespace llmchain;
using nlohmann::json;
constexpr const char* kHarness = "chat_template_fuzz";

// The defaults divided by 16 (output, list items, work) and by 100 (loop iterations); the
// call depth as shipped.
chat::TemplateOptions scaled_limits() {
  chat::TemplateOptions o;
  o.max_output_bytes = 1u << 20;
  o.max_list_items = 1u << 16;
  o.max_loop_iterations = 10'000;
  o.max_work = 1ull << 24;
  return o;
}

const json& default_messages() {
  static const json m = json::parse(R"([
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": [{"type": "text", "text": "2+2?"}]}])");
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto [source, rest] = fuzz::split_at(in, "\n{#messages#}\n");
  json messages = default_messages();
  chat::ChatOptions opts;
  opts.bos_token = "<s>";
  opts.eos_token = "</s>";
  if (!rest.empty()) {
    if (fuzz::json_depth(rest, fuzz::kMaxJsonDepth) > fuzz::kMaxJsonDepth) return 0;  // the server refuses these
    json j = json::parse(rest, nullptr, false);
    if (j.is_discarded()) return 0;
    if (j.is_object()) {
      messages = j.value("messages", json::array());
      if (j.contains("tools")) opts.tools = j["tools"];
      if (j.contains("add_generation_prompt") && j["add_generation_prompt"].is_boolean()) {
        opts.add_generation_prompt = j["add_generation_prompt"].get<bool>();
      }
      if (j.contains("bos_token") && j["bos_token"].is_string()) opts.bos_token = j["bos_token"];
      if (j.contains("eos_token") && j["eos_token"].is_string()) opts.eos_token = j["eos_token"];
      if (j.contains("extra") && j["extra"].is_object()) opts.extra = j["extra"];
    } else {
      messages = std::move(j);
    }
  }

  auto t = chat::Template::parse(std::string(source), "fuzz", scaled_limits());
  if (!t.ok()) {
    if (std::string(t.error().what()).rfind("fuzz", 0) != 0) {
      fuzz::violated(kHarness, std::string("a syntax error that does not name the template: ") + t.error().what());
    }
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  auto out = chat::apply_chat_template(*t, messages, opts);
  const auto took = std::chrono::steady_clock::now() - start;
  if (!out.ok()) return 0;
  if (took < std::chrono::milliseconds(50) && source.find("strftime_now") == std::string_view::npos) {
    auto again = chat::apply_chat_template(*t, messages, opts);
    if (!again.ok() || *again != *out) fuzz::violated(kHarness, "rendering twice gave different results");
  }
  return 0;
}
