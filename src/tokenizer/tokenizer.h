#pragma once
// Text <-> token ids, with the results of llama.cpp's llama_tokenize,
// llama_token_to_piece and llama_detokenize, for the vocabularies stored in GGUF
// `tokenizer.ggml.*` metadata:
//   llama  SentencePiece-style BPE over scores, byte fallback <0xAB>   (SPM)
//   gpt2   byte-level BPE over merges, pre-tokenizer named by tokenizer.ggml.pre
//   bert   WordPiece                                                  (WPM)
// A Tokenizer is immutable after from_gguf; every method is const and thread-safe.
//
// Invalid input is never an error:
//  - text that is not valid UTF-8: SPM tokenizes the raw bytes (byte fallback keeps
//    it lossless); BPE and WordPiece see each invalid byte as U+FFFD, as llama.cpp.
//  - a byte with no byte-fallback token in an SPM vocab (llama.cpp throws): it
//    becomes the unknown token when the vocab has one, otherwise it is dropped.
//  - ids outside [0, n_vocab) contribute no text and are skipped by decode.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace llmchain::gguf {
class File;
}

namespace llmchain::tokenizer {

inline constexpr int32_t kNoToken = -1;

// tokenizer.ggml.token_type values.
enum class TokenType {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* metadata. Unknown tokenizer models or pre-tokenizers are
  // kUnsupported; missing or malformed arrays are kInvalidFile.
  static Expected<std::shared_ptr<const Tokenizer>> from_gguf(const gguf::File& f);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: BOS/EOS (and CLS/SEP for bert) as the metadata asks.
  // parse_special: control tokens written in the text (e.g. "<|im_end|>") become
  // their ids; user-defined tokens are always matched, as in llama.cpp.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The text of one token, as llama_token_to_piece(lstrip=0). render_special=false
  // gives "" for control and unknown tokens.
  std::string token_to_piece(int32_t id, bool render_special = true) const;

  // As llama_detokenize: drops the SPM leading space, optional BOS/EOS removal,
  // clean-up of spaces before punctuation for vocabs that ask for it.
  std::string decode(const std::vector<int32_t>& ids, bool remove_special = false, bool unparse_special = true) const;

  // The bytes a token adds to generated text (token_to_piece with render_special=false):
  // empty for control/unknown tokens; may be part of a UTF-8 character (byte tokens).
  const std::string& token_bytes(int32_t id) const;

  int32_t n_vocab() const;
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;
  int32_t pad() const;
  int32_t unk() const;
  int32_t sep() const;
  int32_t mask() const;
  bool add_bos() const;
  bool add_eos() const;
  bool add_sep() const;  // a SEP token after the text (WordPiece, some BPE encoders)
  bool is_eog(int32_t id) const;
  bool is_control(int32_t id) const;
  TokenType token_type(int32_t id) const;
  std::vector<int32_t> eog_tokens() const;          // ascending
  std::string model_name() const;                   // tokenizer.ggml.model: llama | gpt2 | bert
  std::string pre() const;                          // tokenizer.ggml.pre ("default" when absent)
  const std::string& text(int32_t id) const;        // raw vocab string ("" when out of range)
  int32_t find_token(std::string_view text) const;  // exact vocab entry, kNoToken if none

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streaming detokenizer: feed ids one at a time; every returned chunk is valid
// UTF-8 and never ends inside a character. Bytes that can never form a character
// are replaced by U+FFFD. Text is the concatenation of token pieces (no SPM
// leading-space removal: generated text continues a prompt).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool render_special = false);
  std::string push(int32_t id);
  // Emits what is held back (an incomplete character becomes U+FFFD) and resets.
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool render_special_;
  std::string pending_;
};

}  // namespace llmchain::tokenizer
