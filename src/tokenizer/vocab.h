#pragma once
// Internal: the loaded vocabulary (Tokenizer::Impl) and the per-family algorithms.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace llmchain::tokenizer {
namespace detail {

// llama.cpp's llama_token_attr bits.
enum Attr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrNormalized = 1u << 6,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
  kAttrSingleWord = 1u << 9,
};

enum class Family { kSpm, kBpe, kWpm };

struct TokenData {
  std::string text;
  float score = 0.0f;
  uint32_t attr = kAttrNormal;
  TokenType type = TokenType::kNormal;
};

// Byte trie over the texts of special tokens, to find quickly which ones occur in a text.
class SpecialTrie {
 public:
  void insert(std::string_view s, int32_t id);
  // Ids of the tokens that occur somewhere in text (unordered, no duplicates).
  std::vector<int32_t> occurring(std::string_view text) const;

 private:
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child node
  std::vector<int32_t> terminal_{-1};            // node -> token id or -1
};

}  // namespace detail

struct Tokenizer::Impl {
  detail::Family family = detail::Family::kSpm;
  std::string model;
  std::string pre;

  std::vector<detail::TokenData> tokens;
  // Views into tokens[i].text; tokens is never resized after it is built.
  std::unordered_map<std::string_view, int32_t> text_to_id;
  // BPE merges "left right" -> rank; key is left + '\x01' + right.
  std::unordered_map<std::string, int32_t> merge_ranks;
  std::vector<detail::Regex> regexes;  // BPE pre-tokenizer, applied in order
  int max_token_len = 0;

  int32_t bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken, sep = kNoToken,
          pad = kNoToken, mask = kNoToken;
  int32_t fim_pre = kNoToken, fim_suf = kNoToken, fim_mid = kNoToken, fim_pad = kNoToken, fim_rep = kNoToken,
          fim_sep = kNoToken;
  bool add_bos = false, add_eos = false, add_sep = false;
  bool add_space_prefix = false;                // SPM: " " before the first text fragment
  bool clean_spaces = false;                    // decode: " ," -> "," etc.
  bool ignore_merges = false;                   // BPE: a word that is a token is taken whole
  bool lowercase = true, strip_accents = true;  // WordPiece normalizer

  std::vector<int32_t> special_cache;  // control/user-defined/unknown, longest text first
  detail::SpecialTrie special_trie;
  std::vector<int32_t> eog;         // ascending
  std::vector<std::string> pieces;  // token_to_piece(id, render_special=true)

  int32_t find(std::string_view s) const {
    auto it = text_to_id.find(s);
    return it == text_to_id.end() ? kNoToken : it->second;
  }
  bool valid(int32_t id) const { return id >= 0 && id < static_cast<int32_t>(tokens.size()); }
  uint32_t attr(int32_t id) const { return valid(id) ? tokens[id].attr : 0; }
  int32_t merge_rank(std::string_view left, std::string_view right, std::string& scratch) const;
};

namespace detail {

// Builds the vocabulary from GGUF metadata; throws Error.
std::unique_ptr<Tokenizer::Impl> load_vocab(const gguf::File& f);

// Regexes and flags of one named BPE pre-tokenizer (llama.cpp's list); nullptr if unknown.
struct PreTokenizerSpec {
  std::vector<std::string> regexes;
  bool clean_spaces = true;
  bool ignore_merges = false;
  bool add_bos = false;
  bool add_sep = false;
  bool no_bos = false;  // the family has no BOS token (chatglm)
};
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
std::vector<std::string> known_pre_tokenizers();

// One piece of input after splitting out special tokens.
struct Fragment {
  int32_t token = kNoToken;  // kNoToken: raw text [offset, offset + length)
  size_t offset = 0;
  size_t length = 0;
};
std::vector<Fragment> partition_special(const Tokenizer::Impl& v, std::string_view text, bool parse_special);

void tokenize_spm(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out);
void tokenize_bpe(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out);
void tokenize_wpm(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out);

// SPM byte-fallback token for one byte: <0xAB>, else the one-byte token, else unk, else kNoToken.
int32_t spm_byte_token(const Tokenizer::Impl& v, uint8_t byte);

}  // namespace detail
}  // namespace llmchain::tokenizer
