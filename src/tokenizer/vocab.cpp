// Loading tokenizer.ggml.* metadata into Tokenizer::Impl, with llama.cpp's defaults
// and fix-ups (llama_vocab::impl::load): per-family special ids and add_* flags,
// EOT/EOG detection by token text, per-model token attributes.
#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "base/log.h"
#include "gguf/gguf.h"
#include "tokenizer/unicode.h"

namespace llmchain::tokenizer {
namespace detail {
namespace {

uint32_t attr_from_type(int64_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

TokenType type_from_int(int64_t type) {
  return type >= 0 && type <= 6 ? static_cast<TokenType>(type) : TokenType::kUndefined;
}

std::string unescape_whitespace(std::string s) {
  static const std::string kSpace = "\xE2\x96\x81";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      i += kSpace.size();
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// Byte-level BPE token text -> bytes (llama_decode_text, including its marker for
// code points that are not byte stand-ins).
std::string decode_bpe_text(const std::string& text) {
  std::string out;
  for (uint32_t cp : decode_utf8(text)) {
    int b = bpe_char_to_byte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    std::string utf8;
    append_utf8(utf8, cp);
    out += "[UNK_BYTE_0x";
    for (unsigned char c : utf8) out += fmt::format("{:02x}", c);
    out += text + "]";
  }
  return out;
}

uint8_t byte_of_token_text(const std::string& text) {
  // "<0xAB>": llama.cpp reads the two characters after "<0x" with strtol.
  std::string hex = text.size() >= 5 ? text.substr(3, 2) : std::string();
  return static_cast<uint8_t>(std::strtol(hex.c_str(), nullptr, 16));
}

std::string piece_of(const Tokenizer::Impl& v, int32_t id) {
  const TokenData& t = v.tokens[id];
  if (t.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return t.text;
  if (v.family == Family::kBpe) {
    if (t.attr & kAttrNormal) return decode_bpe_text(t.text);
  } else {
    if (t.attr & kAttrNormal) return unescape_whitespace(t.text);
  }
  if (t.attr & kAttrByte) return std::string(1, static_cast<char>(byte_of_token_text(t.text)));
  return {};  // unused / undefined tokens render as nothing
}

int32_t read_id(const gguf::File& f, const char* key, int32_t current, int32_t n_vocab) {
  const gguf::Value* v = f.find(key);
  if (!v) return current;
  int64_t id = v->as_int();
  if (id == 0xFFFFFFFFll || id == -1) return -1;  // LLAMA_TOKEN_NULL stored as uint32: explicitly "none"
  if (id < 0 || id >= n_vocab) {
    LLMC_LOG_WARN("tokenizer: bad special token {} = {}, keeping {}", key, id, current);
    return current;
  }
  return static_cast<int32_t>(id);
}

bool contains_any(const std::string& s, std::initializer_list<const char*> subs) {
  for (const char* sub : subs)
    if (s.find(sub) != std::string::npos) return true;
  return false;
}

void load_tokens(const gguf::File& f, Tokenizer::Impl& v) {
  const gguf::Value* list = f.find("tokenizer.ggml.tokens");
  if (!list) fail(ErrorCode::kInvalidFile, "tokenizer.ggml.tokens is missing");
  std::vector<std::string> texts = list->as_string_array();
  const size_t n = texts.size();
  if (n == 0 || n > static_cast<size_t>(INT32_MAX))
    fail(ErrorCode::kInvalidFile, "tokenizer.ggml.tokens: bad size {}", n);

  std::vector<float> scores;
  if (const gguf::Value* s = f.find("tokenizer.ggml.scores")) {
    scores = s->as_float_array();
    if (scores.size() < n) fail(ErrorCode::kInvalidFile, "tokenizer.ggml.scores has {} < {} entries", scores.size(), n);
  }
  std::vector<int64_t> types;
  if (const gguf::Value* t = f.find("tokenizer.ggml.token_type")) {
    types = t->as_int_array();
    if (types.size() < n)
      fail(ErrorCode::kInvalidFile, "tokenizer.ggml.token_type has {} < {} entries", types.size(), n);
  }

  v.tokens.resize(n);
  for (size_t i = 0; i < n; ++i) {
    TokenData& t = v.tokens[i];
    t.text = std::move(texts[i]);
    if (t.text.empty()) t.text = "[EMPTY_" + std::to_string(i) + "]";
    t.score = scores.empty() ? 0.0f : scores[i];
    t.attr = types.empty() ? kAttrNormal : attr_from_type(types[i]);
    t.type = types.empty() ? TokenType::kNormal : type_from_int(types[i]);
    v.max_token_len = std::max(v.max_token_len, static_cast<int>(t.text.size()));
  }
  v.text_to_id.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    // llama.cpp refuses duplicate texts; we keep the first id.
    if (!v.text_to_id.emplace(std::string_view(v.tokens[i].text), static_cast<int32_t>(i)).second) {
      LLMC_LOG_WARN("tokenizer: duplicate token text at id {}", i);
    }
  }
}

void load_merges(const gguf::File& f, Tokenizer::Impl& v) {
  const gguf::Value* m = f.find("tokenizer.ggml.merges");
  if (!m) fail(ErrorCode::kInvalidFile, "tokenizer.ggml.merges is missing (required by gpt2 tokenizers)");
  std::vector<std::string> merges = m->as_string_array();
  v.merge_ranks.reserve(merges.size() * 2);
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& w = merges[i];
    size_t pos = w.find(' ', 1);
    std::string key;
    if (pos != std::string::npos) {
      key = w.substr(0, pos);
      key.push_back('\x01');
      key.append(w, pos + 1);
    } else {
      key = "\x01";
    }
    v.merge_ranks.emplace(std::move(key), static_cast<int32_t>(i));
  }
}

// Tokens llama.cpp recognises by their text (EOT, EOM, FIM) and the EOG set.
void detect_special_by_text(Tokenizer::Impl& v) {
  auto force_control = [&](int32_t id) { v.tokens[id].attr |= kAttrControl; };
  // The first text of the list present in the vocab wins (llama.cpp takes whichever its
  // hash map yields first; the list puts the specific end-of-turn markers first).
  auto pick = [&](int32_t& slot, std::initializer_list<const char*> texts) {
    if (slot != kNoToken) return;
    for (const char* t : texts) {
      int32_t id = v.find(t);
      if (id != kNoToken) {
        slot = id;
        force_control(id);
        return;
      }
    }
  };
  pick(v.eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
               "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"});
  pick(v.eom, {"<|eom_id|>"});
  pick(v.fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                   "<|code_prefix|>", "<|prefix|>"});
  pick(v.fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                   "<|code_suffix|>", "<|suffix|>"});
  pick(v.fim_mid, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                   "<|code_middle|>", "<|middle|>"});
  pick(v.fim_pad, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"});
  pick(v.fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
  pick(v.fim_sep, {"<|file_sep|>"});

  for (auto& t : v.tokens) {
    if ((t.attr & kAttrControl) && !(t.attr & kAttrUnused) && t.text.find("unused") != std::string::npos) {
      t.attr |= kAttrUnused;
    }
  }

  std::vector<int32_t> eog;
  for (int32_t id : {v.fim_pad, v.fim_rep, v.fim_sep})
    if (id != kNoToken) eog.push_back(id);
  static const char* const kEogTexts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<|return|>",
                                          "<|call|>",
                                          "<|flush|>",
                                          "<|calls|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "</s>",
                                          "<|eom_id|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "[EOS]",
                                          "<|end_of_text|>",
                                          "<end_of_utterance>",
                                          "<eos>",
                                          "<turn|>",
                                          "<|tool_response>",
                                          "<｜end▁of▁sentence｜>",
                                          "[e~["};
  for (int32_t id = 0; id < static_cast<int32_t>(v.tokens.size()); ++id) {
    for (const char* t : kEogTexts) {
      if (v.tokens[id].text == t) {
        eog.push_back(id);
        force_control(id);
        break;
      }
    }
  }
  // gpt-oss: these render as text.
  for (const char* t : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    int32_t id = v.find(t);
    if (id != kNoToken) v.tokens[id].attr = kAttrUserDefined;
  }
  for (int32_t id : {v.eos, v.eot, v.eom})
    if (id != kNoToken) eog.push_back(id);
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());

  // o200k_harmony / solar-open: "<|end|>" is not end-of-generation there.
  auto in_eog = [&](const char* t) {
    int32_t id = v.find(t);
    return id != kNoToken && std::binary_search(eog.begin(), eog.end(), id);
  };
  bool has_call = in_eog("<|call|>") || in_eog("<|calls|>");
  if (in_eog("<|end|>") && has_call && (in_eog("<|return|>") || in_eog("<|flush|>"))) {
    int32_t end_id = v.find("<|end|>");
    eog.erase(std::find(eog.begin(), eog.end(), end_id));
    v.tokens[end_id].attr = kAttrUserDefined;
  }
  // gemma4 / paddleocr: "</s>" is a normal token when "<|tool_response>" exists.
  if (in_eog("<|tool_response>") && in_eog("</s>")) {
    int32_t s_id = v.find("</s>");
    eog.erase(std::find(eog.begin(), eog.end(), s_id));
    v.tokens[s_id].attr = kAttrNormal;
  }
  v.eog = std::move(eog);
}

void set_attrs_by_model(const gguf::File& f, Tokenizer::Impl& v) {
  std::string name = f.get_string("general.name");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string arch = f.get_string("general.architecture");
  auto set = [&](const char* text, uint32_t a, bool on) {
    int32_t id = v.find(text);
    if (id == kNoToken) return;
    if (on) {
      v.tokens[id].attr |= a;
    } else {
      v.tokens[id].attr &= ~a;
    }
  };
  if (contains_any(v.pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
      contains_any(arch, {"nomic-bert-moe", "jina-bert-v3"})) {
    set("<mask>", kAttrLstrip, true);
  } else if (contains_any(name, {"phi-3", "phi3"})) {
    for (int32_t id : v.special_cache) v.tokens[id].attr |= kAttrRstrip;
    set("</s>", kAttrRstrip, true);
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"}) set(t, kAttrRstrip, false);
  } else if (contains_any(name, {"modern-bert"})) {
    set("[MASK]", kAttrLstrip, true);
  }
}

}  // namespace

void SpecialTrie::insert(std::string_view s, int32_t id) {
  int32_t node = 0;
  for (unsigned char c : s) {
    uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
    auto it = edges_.find(key);
    if (it == edges_.end()) {
      int32_t child = static_cast<int32_t>(terminal_.size());
      terminal_.push_back(-1);
      it = edges_.emplace(key, child).first;
    }
    node = it->second;
  }
  terminal_[node] = id;
}

std::vector<int32_t> SpecialTrie::occurring(std::string_view text) const {
  std::vector<int32_t> found;
  if (edges_.empty()) return found;
  std::vector<bool> seen(terminal_.size(), false);
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[j]));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[node] >= 0 && !seen[node]) {
        seen[node] = true;
        found.push_back(terminal_[node]);
      }
    }
  }
  return found;
}

std::unique_ptr<Tokenizer::Impl> load_vocab(const gguf::File& f) {
  auto vp = std::make_unique<Tokenizer::Impl>();
  Tokenizer::Impl& v = *vp;
  if (!f.has("tokenizer.ggml.model")) fail(ErrorCode::kInvalidFile, "tokenizer.ggml.model is missing");
  v.model = f.get_string("tokenizer.ggml.model");
  v.pre = f.get_string("tokenizer.ggml.pre");

  if (v.model == "llama") {
    v.family = Family::kSpm;
    v.bos = 1, v.eos = 2, v.unk = 0;
    v.add_space_prefix = true;
    v.clean_spaces = false;
    v.add_bos = true;
  } else if (v.model == "bert") {
    v.family = Family::kWpm;
    v.bos = 101, v.unk = 100, v.sep = 102, v.pad = 0, v.mask = 103;
    v.clean_spaces = true;
    v.add_bos = true;
    v.add_sep = true;
  } else if (v.model == "gpt2") {
    v.family = Family::kBpe;
    v.bos = 11, v.eos = 11;
    v.clean_spaces = true;
    if (v.pre.empty()) {
      LLMC_LOG_WARN("tokenizer: no tokenizer.ggml.pre, using 'default' (quality may suffer)");
    }
    const PreTokenizerSpec* spec = find_pre_tokenizer(v.pre.empty() ? "default" : v.pre);
    if (!spec) fail(ErrorCode::kUnsupported, "unknown pre-tokenizer '{}'", v.pre);
    v.clean_spaces = spec->clean_spaces;
    v.ignore_merges = spec->ignore_merges;
    if (spec->add_bos) v.add_bos = true;
    if (spec->add_sep) v.add_sep = true;
    if (spec->no_bos) v.bos = kNoToken;
    for (const auto& r : spec->regexes) v.regexes.emplace_back(r);
  } else {
    fail(ErrorCode::kUnsupported, "unsupported tokenizer model '{}' (supported: llama, gpt2, bert)", v.model);
  }
  if (v.pre.empty()) v.pre = "default";
  v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);

  load_tokens(f, v);
  if (v.family == Family::kBpe) load_merges(f, v);
  const int32_t n = static_cast<int32_t>(v.tokens.size());

  for (int32_t* id : {&v.bos, &v.eos, &v.unk, &v.sep, &v.pad, &v.mask}) {
    if (*id >= n) *id = kNoToken;  // default out of range: disabled
  }
  v.bos = read_id(f, "tokenizer.ggml.bos_token_id", v.bos, n);
  v.eos = read_id(f, "tokenizer.ggml.eos_token_id", v.eos, n);
  v.eot = read_id(f, "tokenizer.ggml.eot_token_id", v.eot, n);
  v.eom = read_id(f, "tokenizer.ggml.eom_token_id", v.eom, n);
  v.unk = read_id(f, "tokenizer.ggml.unknown_token_id", v.unk, n);
  v.sep = read_id(f, "tokenizer.ggml.seperator_token_id", v.sep, n);
  v.pad = read_id(f, "tokenizer.ggml.padding_token_id", v.pad, n);
  v.mask = read_id(f, "tokenizer.ggml.mask_token_id", v.mask, n);
  v.fim_pre = read_id(f, "tokenizer.ggml.fim_pre_token_id", v.fim_pre, n);
  v.fim_suf = read_id(f, "tokenizer.ggml.fim_suf_token_id", v.fim_suf, n);
  v.fim_mid = read_id(f, "tokenizer.ggml.fim_mid_token_id", v.fim_mid, n);
  v.fim_pad = read_id(f, "tokenizer.ggml.fim_pad_token_id", v.fim_pad, n);
  v.fim_rep = read_id(f, "tokenizer.ggml.fim_rep_token_id", v.fim_rep, n);
  v.fim_sep = read_id(f, "tokenizer.ggml.fim_sep_token_id", v.fim_sep, n);
  v.fim_pre = read_id(f, "tokenizer.ggml.prefix_token_id", v.fim_pre, n);
  v.fim_suf = read_id(f, "tokenizer.ggml.suffix_token_id", v.fim_suf, n);
  v.fim_mid = read_id(f, "tokenizer.ggml.middle_token_id", v.fim_mid, n);

  v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", v.add_eos);
  v.add_sep = f.get_bool("tokenizer.ggml.add_sep_token", v.add_sep);
  if (v.add_bos && v.bos == kNoToken) fail(ErrorCode::kInvalidFile, "add_bos_token is true but there is no BOS token");
  if (v.add_eos && v.eos == kNoToken) fail(ErrorCode::kInvalidFile, "add_eos_token is true but there is no EOS token");
  if (v.add_sep && v.sep == kNoToken) fail(ErrorCode::kInvalidFile, "add_sep_token is true but there is no SEP token");
  v.lowercase = f.get_bool("tokenizer.ggml.normalizer.lowercase", true);
  v.strip_accents = f.get_bool("tokenizer.ggml.normalizer.strip_accents", v.lowercase);

  detect_special_by_text(v);

  for (int32_t id = 0; id < n; ++id) {
    if (v.tokens[id].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v.special_cache.push_back(id);
  }
  std::stable_sort(v.special_cache.begin(), v.special_cache.end(),
                   [&](int32_t a, int32_t b) { return v.tokens[a].text.size() > v.tokens[b].text.size(); });
  for (int32_t id : v.special_cache) v.special_trie.insert(v.tokens[id].text, id);

  v.pieces.resize(n);
  for (int32_t id = 0; id < n; ++id) v.pieces[id] = piece_of(v, id);

  set_attrs_by_model(f, v);
  return vp;
}

}  // namespace detail

int32_t Tokenizer::Impl::merge_rank(std::string_view left, std::string_view right, std::string& scratch) const {
  scratch.assign(left);
  scratch.push_back('\x01');
  scratch.append(right);
  auto it = merge_ranks.find(scratch);
  return it == merge_ranks.end() ? -1 : it->second;
}

}  // namespace llmchain::tokenizer
