// The BPE pre-tokenizers llama.cpp knows by tokenizer.ggml.pre: the split regexes
// (applied one after the other, each on the pieces of the previous) and the
// per-family flags. The patterns are those of the models' tokenizer.json files,
// in the form llama.cpp adapted them to (no possessive quantifiers, no (?i:)).
#include <map>

#include "tokenizer/vocab.h"

namespace llmchain::tokenizer::detail {
namespace {

const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const kContractions = R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))";

std::string llama3_like(const char* numbers) {
  return std::string(kContractions) + R"(|[^\r\n\p{L}\p{N}]?\p{L}+|)" + numbers +
         R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}

std::string gpt4o_like(const char* numbers) {
  const std::string upper = R"(((?=[\p{L}])([^a-z])))";
  const std::string lower = R"(((?=[\p{L}])([^A-Z])))";
  const std::string c = std::string(kContractions) + "?";
  return R"([^\r\n\p{L}\p{N}]?)" + upper + "*" + lower + "+" + c + R"(|[^\r\n\p{L}\p{N}]?)" + upper + "+" + lower +
         "*" + c + "|" + numbers + R"(| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}

struct Entry {
  std::vector<const char*> names;
  PreTokenizerSpec spec;
};

std::vector<Entry> build_table() {
  std::vector<Entry> t;
  auto add = [&](std::vector<const char*> names, std::vector<std::string> regexes, bool clean_spaces,
                 bool ignore_merges = false, bool add_bos = false) {
    Entry e;
    e.names = std::move(names);
    e.spec.regexes = std::move(regexes);
    e.spec.clean_spaces = clean_spaces;
    e.spec.ignore_merges = ignore_merges;
    e.spec.add_bos = add_bos;
    t.push_back(std::move(e));
    return &t.back().spec;
  };
  const std::string llama3 = llama3_like(R"(\p{N}{1,3})");
  const std::string qwen2 = llama3_like(R"(\p{N})");

  add({"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", R"([0-9][0-9][0-9])"}, true);
  add({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
      {llama3}, true, /*ignore_merges=*/true, /*add_bos=*/true);
  add({"dbrx", "smaug-bpe"}, {llama3}, true);
  add({"jais-2"},
      {std::string(kContractions) +
       R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})"},
      true);
  add({"deepseek-llm"},
      {"[\r\n]",
       R"(\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+)",
       R"(\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+)", R"(\s+$)",
       R"([\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+)", R"(\p{N}+)"},
      false);
  add({"deepseek-coder"},
      {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", R"([\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+)",
       R"(\p{N})"},
      false);
  const std::string ds3_tail =
      R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  add({"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"},
      {R"(\p{N}{1,3})", R"([\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+)", ds3_tail}, false);
  add({"spark2_5"},
      {R"(\p{N}{1,3})", R"([\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+)",
       R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+)",
       R"(\p{N})"},
      false);
  add({"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, R"([0-9][0-9][0-9])"}, true);
  add({"starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"}, {R"(\p{N})", kGpt2}, true);
  add({"command-r", "smollm"}, {R"(\p{N})", kGpt2}, false);
  add({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
       "modern-bert", "exaone4", "mpt", "olmo", "jais"},
      {kGpt2}, true);
  add({"jina-v1-en", "jina-v2-code", "roberta-bpe"}, {kGpt2}, true)->add_sep = true;
  add({"trillion", "granite-docling"}, {kGpt2}, false);
  add({"stablelm2"}, {qwen2}, true);
  add({"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open"}, {qwen2}, false);
  add({"megrez"}, {qwen2}, true);
  add({"qwen35"},
      {std::string(kContractions) +
       R"(|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
      false);
  add({"poro-chat"}, {R"( ?[^(\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+)"}, false);
  add({"bloom", "gpt3-finnish"}, {R"( ?[^(\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+)"}, true);
  add({"glm4", "chatglm-bpe"}, {llama3}, true)->no_bos = true;
  add({"viking"}, {R"( ?[^(\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+)", R"(\p{N})"}, false);
  add({"tekken"},
      {R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
      false, /*ignore_merges=*/true, /*add_bos=*/true);
  add({"chameleon"},
      {R"(<sentinel:[0-9]+>)", R"((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)", "([\\t\\n]|    |  )", R"(\p{N})",
       R"([\p{P}!-/:-@\[-`{-~])", kGpt2},
      false, false, /*add_bos=*/true);
  add({"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {gpt4o_like(R"(\p{N}{1,3})")}, false);
  add({"tiny_aya", "cohere2moe"}, {R"(\d{1,3}(?=(?:\d{3})*\b))", gpt4o_like(R"(\p{N}{1,3})")}, false);
  add({"superbpe"}, {R"(\p{N}+)", R"((?=(\d{3})+(?!\d)))"}, false);
  add({"bailingmoe", "bailingmoe2", "llada-moe"},
      {R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)"},
      false);
  add({"seed-coder"},
      {std::string(kContractions) +
       R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)"},
      false);
  add({"grok-2"}, {qwen2}, false);
  add({"ufakzeka"}, {R"([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}, false);
  add({"laguna"}, {R"([^\n]+|[\n]+)", qwen2}, false);
  add({"exaone-moe"},
      {std::string(kContractions) +
       R"(|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)"},
      true);
  add({"minicpm5"}, {R"(\p{N}{1,3})", llama3_like(R"(\p{N}+)")}, true, /*ignore_merges=*/true);
  return t;
}

const std::vector<Entry>& table() {
  static const std::vector<Entry> t = build_table();
  return t;
}

}  // namespace

const PreTokenizerSpec* find_pre_tokenizer(std::string_view name) {
  for (const auto& e : table()) {
    for (const char* n : e.names) {
      if (name == n) return &e.spec;
    }
  }
  return nullptr;
}

std::vector<std::string> known_pre_tokenizers() {
  std::vector<std::string> out;
  for (const auto& e : table())
    for (const char* n : e.names) out.emplace_back(n);
  return out;
}

}  // namespace llmchain::tokenizer::detail
