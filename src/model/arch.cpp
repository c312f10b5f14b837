#include "model/arch.h"

namespace llmchain::model {

ArchSpec llama_arch();
ArchSpec qwen2_arch();
ArchSpec qwen3_arch();
ArchSpec phi3_arch();
ArchSpec qwen3moe_arch();
ArchSpec gemma2_arch();
ArchSpec bert_arch();
ArchSpec nomic_bert_arch();
ArchSpec gemma3_arch();

namespace {
const std::vector<ArchSpec>& registry() {
  static const std::vector<ArchSpec> r = {llama_arch(),  qwen2_arch(),  qwen3_arch(), qwen3moe_arch(),  phi3_arch(),
                                          gemma2_arch(), gemma3_arch(), bert_arch(),  nomic_bert_arch()};
  return r;
}
}  // namespace

const ArchSpec* find_arch(std::string_view name) {
  for (const auto& a : registry())
    if (a.name == name) return &a;
  return nullptr;
}

std::vector<std::string> supported_archs() {
  std::vector<std::string> out;
  for (const auto& a : registry()) out.push_back(a.name);
  return out;
}

}  // namespace llmchain::model
