#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "base/log.h"
#include "base/utf8.h"
#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

namespace llmchain::tokenizer {

using detail::Family;

namespace {

const std::string kEmpty;

std::string escape_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (char c : s) {
    if (c == ' ') {
      out += "\xE2\x96\x81";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// llama_detokenize's clean-up, three in-place passes over the joined text. Each pass
// compacts t[0, n) while reading t[i - 1], which compaction never overwrites except
// where pass 2 blanks the space it drops.
std::string clean_spaces(std::string t) {
  size_t n = t.size();
  if (n == 0) return t;
  // 1: " ?", " !", " .", " ," lose the space.
  size_t total = 1;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    t[total++] = x;
  }
  // 2: " ' " -> "'".
  n = total;
  total = 1;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --total;
      t[++i] = '\0';
    }
    t[total++] = x;
  }
  // 3: " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
  n = total;
  total = 1;
  for (size_t i = 1; i < n; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < n) {
        const char x2 = t[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    t[total++] = x;
  }
  t.resize(total);
  return t;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Expected<std::shared_ptr<const Tokenizer>> Tokenizer::from_gguf(const gguf::File& f) {
  return capture([&]() -> std::shared_ptr<const Tokenizer> {
    auto impl = detail::load_vocab(f);
    return std::shared_ptr<const Tokenizer>(new Tokenizer(std::move(impl)));
  });
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& v = *impl_;
  std::vector<int32_t> out;
  std::vector<detail::Fragment> frags = detail::partition_special(v, text, parse_special);
  switch (v.family) {
    case Family::kSpm: {
      bool prev_special = true;  // the first fragment gets the space prefix
      if (add_special && v.add_bos) out.push_back(v.bos);
      for (const auto& fr : frags) {
        if (fr.token != kNoToken) {
          out.push_back(fr.token);
          prev_special = true;
          continue;
        }
        std::string raw;
        if (v.add_space_prefix && prev_special) raw.push_back(' ');
        raw.append(text.substr(fr.offset, fr.length));
        detail::tokenize_spm(v, escape_whitespace(raw), out);
        prev_special = false;
      }
      if (add_special && v.add_eos) out.push_back(v.eos);
      break;
    }
    case Family::kBpe: {
      if (add_special && v.add_bos) out.push_back(v.bos);
      for (const auto& fr : frags) {
        if (fr.token != kNoToken) {
          out.push_back(fr.token);
        } else {
          detail::tokenize_bpe(v, text.substr(fr.offset, fr.length), out);
        }
      }
      if (add_special && v.add_eos) out.push_back(v.eos);
      break;
    }
    case Family::kWpm: {
      if (add_special && v.bos != kNoToken) out.push_back(v.bos);
      for (const auto& fr : frags) {
        if (fr.token != kNoToken) {
          out.push_back(fr.token);
        } else {
          detail::tokenize_wpm(v, text.substr(fr.offset, fr.length), out);
        }
      }
      if (add_special && v.sep != kNoToken) out.push_back(v.sep);
      break;
    }
  }
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  const Impl& v = *impl_;
  if (!v.valid(id)) return {};
  if (!render_special && (v.tokens[id].attr & (detail::kAttrUnknown | detail::kAttrControl))) return {};
  return v.pieces[id];
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  const Impl& v = *impl_;
  if (!v.valid(id) || (v.tokens[id].attr & (detail::kAttrUnknown | detail::kAttrControl))) return kEmpty;
  return v.pieces[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool remove_special, bool unparse_special) const {
  const Impl& v = *impl_;
  size_t first = 0, last = ids.size();
  bool remove_space = v.add_space_prefix;
  if (remove_special && v.add_bos && last > first && ids[first] == v.bos) {
    remove_space = false;
    ++first;
  }
  if (remove_special && v.add_eos && last > first && ids[last - 1] == v.eos) --last;
  std::string text;
  for (size_t i = first; i < last; ++i) {
    const int32_t id = ids[i];
    if (!v.valid(id)) continue;  // llama.cpp would fail; we skip it entirely
    std::string_view piece;
    if (unparse_special || !(v.tokens[id].attr & (detail::kAttrUnknown | detail::kAttrControl))) piece = v.pieces[id];
    if (remove_space && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    remove_space = false;
    text.append(piece);
  }
  if (v.clean_spaces) text = clean_spaces(std::move(text));
  return text;
}

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->tokens.size()); }
int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
int32_t Tokenizer::eot() const { return impl_->eot; }
int32_t Tokenizer::pad() const { return impl_->pad; }
int32_t Tokenizer::unk() const { return impl_->unk; }
int32_t Tokenizer::sep() const { return impl_->sep; }
int32_t Tokenizer::mask() const { return impl_->mask; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::add_sep() const { return impl_->add_sep; }
bool Tokenizer::is_eog(int32_t id) const { return std::binary_search(impl_->eog.begin(), impl_->eog.end(), id); }
bool Tokenizer::is_control(int32_t id) const { return (impl_->attr(id) & detail::kAttrControl) != 0; }
TokenType Tokenizer::token_type(int32_t id) const {
  return impl_->valid(id) ? impl_->tokens[id].type : TokenType::kUndefined;
}
std::vector<int32_t> Tokenizer::eog_tokens() const { return impl_->eog; }
std::string Tokenizer::model_name() const { return impl_->model; }
std::string Tokenizer::pre() const { return impl_->pre; }
const std::string& Tokenizer::text(int32_t id) const { return impl_->valid(id) ? impl_->tokens[id].text : kEmpty; }
int32_t Tokenizer::find_token(std::string_view text) const { return impl_->find(text); }

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool render_special) : tok_(tok), render_special_(render_special) {}

std::string StreamDecoder::push(int32_t id) {
  pending_ += render_special_ ? tok_.token_to_piece(id, true) : tok_.token_bytes(id);
  size_t hold = utf8::incomplete_tail(pending_);
  std::string out = utf8::sanitize(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace llmchain::tokenizer
