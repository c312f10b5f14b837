#include "chain/router_chain.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace llmchain::chain {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const char* RouterChain::default_classifier_prompt() {
  return "Pick the destination best suited to handle the input below.\n"
         "Destinations:\n{destinations}\n\n"
         "Answer with the destination name only, or DEFAULT if none fits.\n\n"
         "Input: {input}\nDestination:";
}

RouterChain::RouterChain(std::vector<Destination> destinations, ChainPtr default_chain, Rule rule)
    : Chain("router_chain"),
      destinations_(std::move(destinations)),
      default_(std::move(default_chain)),
      rule_(std::move(rule)) {
  if (!rule_) fail(ErrorCode::kInvalidArgument, "router chain: null rule");
  check();
}

RouterChain::RouterChain(std::vector<Destination> destinations, ChainPtr default_chain, LanguageModelPtr classifier,
                         std::string classifier_prompt, LlmParams params)
    : Chain("router_chain"),
      destinations_(std::move(destinations)),
      default_(std::move(default_chain)),
      classifier_(std::move(classifier)),
      classifier_prompt_(std::make_shared<PromptTemplate>(classifier_prompt.empty() ? default_classifier_prompt()
                                                                                    : std::move(classifier_prompt))),
      params_(std::move(params)) {
  if (!classifier_) fail(ErrorCode::kInvalidArgument, "router chain: null classifier model");
  if (!params_.temperature) params_.temperature = 0.0f;  // routing should be deterministic
  check();
}

void RouterChain::check() const {
  if (!default_) fail(ErrorCode::kInvalidArgument, "router chain: no default chain");
  if (default_->input_keys().empty()) fail(ErrorCode::kInvalidArgument, "router chain: default chain has no inputs");
  for (size_t i = 0; i < destinations_.size(); ++i) {
    const auto& d = destinations_[i];
    if (d.name.empty() || !d.chain)
      fail(ErrorCode::kInvalidArgument, "router chain: destination {} needs a name and a chain", i + 1);
    for (size_t j = 0; j < i; ++j) {
      if (destinations_[j].name == d.name)
        fail(ErrorCode::kInvalidArgument, "router chain: duplicate destination '{}'", d.name);
    }
  }
}

std::string RouterChain::match_answer(const std::string& answer) const {
  std::string a = lower(answer);
  // exact (ignoring case, spaces, quotes and trailing punctuation) first
  std::string cleaned;
  for (char c : a) {
    if (!std::strchr(" \t\r\n\"'`.:;!", c)) cleaned += c;
  }
  for (const auto& d : destinations_) {
    if (lower(d.name) == cleaned) return d.name;
  }
  // otherwise the destination named earliest in the answer, as a whole word
  size_t best = std::string::npos;
  std::string found;
  for (const auto& d : destinations_) {
    std::string n = lower(d.name);
    for (size_t pos = a.find(n); pos != std::string::npos; pos = a.find(n, pos + 1)) {
      bool left = pos == 0 || !std::isalnum(static_cast<unsigned char>(a[pos - 1]));
      size_t end = pos + n.size();
      bool right = end >= a.size() || !std::isalnum(static_cast<unsigned char>(a[end]));
      if (left && right) {
        if (pos < best) {
          best = pos;
          found = d.name;
        }
        break;
      }
    }
  }
  return found;
}

std::string RouterChain::route(const Json& input, const RunConfig& config) const {
  if (rule_) {
    std::string name = rule_(input);
    if (name.empty()) return "";
    for (const auto& d : destinations_) {
      if (d.name == name) return name;
    }
    fail(ErrorCode::kInternal, "router chain: rule chose unknown destination '{}'", name);
  }
  std::string lines;
  for (const auto& d : destinations_) lines += "- " + d.name + ": " + d.description + "\n";
  if (!lines.empty()) lines.pop_back();
  const std::string key = default_->input_keys()[0];
  Json vars = {{"destinations", lines}, {"input", input.contains(key) ? input[key] : input}};
  if (input.is_object()) {
    for (auto it = input.begin(); it != input.end(); ++it) {
      if (!vars.contains(it.key())) vars[it.key()] = it.value();
    }
  }
  auto r = classifier_->generate(LlmInput::text(classifier_prompt_->format(vars)), params_, config.cancel);
  return match_answer(r.text);
}

Json RouterChain::call(const Json& input, const ChunkCallback& on_chunk, const RunConfig& config) {
  Json in = normalize_input(input);
  std::string name = route(in, config);
  ChainPtr target = default_;
  for (const auto& d : destinations_) {
    if (d.name == name) target = d.chain;
  }
  return on_chunk ? target->stream(in, on_chunk, config) : target->invoke(in, config);
}

}  // namespace llmchain::chain
