#include "sampling/grammar_matcher.h"

#include <algorithm>
#include <cstdint>

namespace llmchain::sampling {
namespace {

// Interned states and cached masks are bounded; past these the cache is
// dropped (keeping the current state) and rebuilt on demand.
constexpr size_t kMaxStates = 20000;
constexpr size_t kMaxMaskBytes = size_t{256} << 20;

std::string state_key(const std::vector<std::vector<uint32_t>>& stacks, uint32_t partial, uint8_t remaining) {
  std::string key;
  auto put = [&](uint32_t v) { key.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(partial);
  put(remaining);
  for (const auto& s : stacks) {
    put(static_cast<uint32_t>(s.size()));
    for (uint32_t p : s) put(p);
  }
  return key;
}

}  // namespace

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const CompiledVocab> vocab)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)) {
  none_.assign((static_cast<size_t>(vocab_->size()) + 63) / 64, 0);
  std::vector<Stack> init;
  for (uint32_t alt : grammar_->rule_alts[grammar_->root]) {
    Stack s;
    if (grammar_->elems[alt].type != ElemType::kEnd) s.push_back(alt);
    expand(s, init);
  }
  state_ = intern(std::move(init), 0, 0, 0);
}

// Resolves rule calls at the top of `stack` until every resulting stack has a
// character set (or nothing: accepted) on top. No left recursion => terminates.
void GrammarMatcher::expand(Stack& stack, std::vector<Stack>& out) const {
  if (stack.empty()) {
    out.push_back(stack);
    return;
  }
  uint32_t pos = stack.back();
  const Elem& e = grammar_->elems[pos];
  if (e.type == ElemType::kChars) {
    out.push_back(stack);
    return;
  }
  stack.pop_back();
  if (grammar_->elems[pos + 1].type != ElemType::kEnd) stack.push_back(pos + 1);
  for (uint32_t alt : grammar_->rule_alts[e.arg]) {
    Stack s = stack;
    if (grammar_->elems[alt].type != ElemType::kEnd) s.push_back(alt);
    expand(s, out);
  }
}

std::vector<GrammarMatcher::Stack> GrammarMatcher::advance(const std::vector<Stack>& stacks, uint32_t cp) const {
  std::vector<Stack> out;
  for (const Stack& s : stacks) {
    if (s.empty()) continue;
    uint32_t pos = s.back();
    if (!grammar_->charsets[grammar_->elems[pos].arg].matches(cp)) continue;
    Stack next(s.begin(), s.end() - 1);
    if (grammar_->elems[pos + 1].type != ElemType::kEnd) next.push_back(pos + 1);
    expand(next, out);
  }
  return out;
}

bool GrammarMatcher::viable(const std::vector<Stack>& stacks, uint32_t lo, uint32_t hi) const {
  for (const Stack& s : stacks) {
    if (!s.empty() && grammar_->charsets[grammar_->elems[s.back()].arg].intersects(lo, hi)) return true;
  }
  return false;
}

int32_t GrammarMatcher::intern(std::vector<Stack> stacks, uint32_t partial, uint8_t remaining, uint8_t length) {
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  if (stacks.empty()) return kDead;
  std::string key = state_key(stacks, partial, remaining);
  if (auto it = index_.find(key); it != index_.end()) return it->second;
  auto st = std::make_unique<State>();
  st->accepting = remaining == 0 && std::any_of(stacks.begin(), stacks.end(), [](const Stack& s) { return s.empty(); });
  st->stacks = std::move(stacks);
  st->partial = partial;
  st->remaining = remaining;
  st->length = length;
  int32_t id = static_cast<int32_t>(states_.size());
  states_.push_back(std::move(st));
  next_.resize(states_.size() * 256, kUnknown);
  index_.emplace(std::move(key), id);
  return id;
}

int32_t GrammarMatcher::step(int32_t state, uint8_t byte) {
  size_t at = static_cast<size_t>(state) * 256 + byte;
  int32_t n = next_[at];
  if (n == kUnknown) {
    n = compute_step(state, byte);  // may grow next_
    next_[at] = n;
  }
  return n;
}

int32_t GrammarMatcher::compute_step(int32_t id, uint8_t b) {
  const State& s = *states_[id];
  uint32_t partial;
  uint8_t remaining, length;
  if (s.remaining == 0) {
    if (b < 0x80) return intern(advance(s.stacks, b), 0, 0, 0);
    if (b >= 0xC2 && b <= 0xDF) {
      partial = b & 0x1F, remaining = 1, length = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      partial = b & 0x0F, remaining = 2, length = 3;
    } else if (b >= 0xF0 && b <= 0xF4) {
      partial = b & 0x07, remaining = 3, length = 4;
    } else {
      return kDead;  // continuation byte or invalid lead
    }
  } else {
    if ((b & 0xC0) != 0x80) return kDead;
    partial = (s.partial << 6) | (b & 0x3F);
    remaining = s.remaining - 1;
    length = s.length;
  }
  if (remaining == 0) {
    // Reject overlong forms and surrogates: the text must stay valid UTF-8.
    uint32_t cp = partial;
    uint32_t min = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kDead;
    return intern(advance(s.stacks, cp), 0, 0, 0);
  }
  // Code points this prefix could still become.
  uint32_t lo = partial << (6 * remaining);
  uint32_t hi = lo | ((1u << (6 * remaining)) - 1);
  uint32_t min = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
  lo = std::max(lo, min);
  hi = std::min<uint32_t>(hi, 0x10FFFF);
  // Surrogates are not characters: only the parts of [lo, hi] outside them count.
  bool ok = (lo <= std::min<uint32_t>(hi, 0xD7FF) && viable(s.stacks, lo, std::min<uint32_t>(hi, 0xD7FF))) ||
            (std::max<uint32_t>(lo, 0xE000) <= hi && viable(s.stacks, std::max<uint32_t>(lo, 0xE000), hi));
  if (!ok) return kDead;
  return intern(s.stacks, partial, remaining, length);
}

// One preorder pass over the trie: `walk_` holds the states of the open
// ancestors; a dead byte skips its whole subtree. Gives up (false, nothing
// stored) past max_tokens allowed tokens or max_nodes visited nodes.
bool GrammarMatcher::compute_mask(int32_t root_id, size_t max_tokens, size_t max_nodes) {
  const std::vector<TokenTrie::Node>& nodes = vocab_->trie().nodes;
  const std::vector<int32_t>& node_tokens = vocab_->trie().node_tokens;
  const uint32_t n = vocab_->trie().num_nodes();
  std::vector<uint64_t> mask(none_.size(), 0);
  size_t n_tokens = 0, n_nodes = 0;
  walk_.clear();
  walk_.push_back({n, root_id});
  for (uint32_t i = 1; i < n;) {
    if (++n_nodes > max_nodes) return false;
    while (i >= walk_.back().subtree_end) walk_.pop_back();
    const TokenTrie::Node& node = nodes[i];
    int32_t next = step(walk_.back().state, node.byte);
    if (next < 0) {
      i = node.subtree_end;
      continue;
    }
    const uint32_t end = nodes[i + 1].token_begin;
    n_tokens += end - node.token_begin;
    if (n_tokens > max_tokens) return false;
    for (uint32_t t = node.token_begin; t < end; ++t) {
      int32_t tok = node_tokens[t];
      mask[tok >> 6] |= uint64_t{1} << (tok & 63);
    }
    if (node.subtree_end > i + 1) walk_.push_back({node.subtree_end, next});
    ++i;
  }
  State& root_state = *states_[root_id];
  for (int32_t tok : vocab_->eog_tokens()) {
    if (root_state.accepting) {
      mask[tok >> 6] |= uint64_t{1} << (tok & 63);
    } else {
      mask[tok >> 6] &= ~(uint64_t{1} << (tok & 63));
    }
  }
  root_state.mask = std::move(mask);
  ++cached_masks_;
  return true;
}

void GrammarMatcher::maybe_trim_cache() {
  if (states_.size() <= kMaxStates && cached_masks_ * none_.size() * 8 <= kMaxMaskBytes) return;
  State& cur = *states_[state_];
  std::vector<Stack> stacks = std::move(cur.stacks);
  uint32_t partial = cur.partial;
  uint8_t remaining = cur.remaining, length = cur.length;
  states_.clear();
  next_.clear();
  index_.clear();
  cached_masks_ = 0;
  state_ = intern(std::move(stacks), partial, remaining, length);
}

const std::vector<uint64_t>& GrammarMatcher::allowed_tokens() {
  if (state_ < 0 || finished_) return none_;
  maybe_trim_cache();
  if (states_[state_]->mask.empty()) compute_mask(state_, SIZE_MAX, SIZE_MAX);
  return states_[state_]->mask;
}

bool GrammarMatcher::mask_ready() const { return state_ < 0 || finished_ || !states_[state_]->mask.empty(); }

bool GrammarMatcher::small_mask() {
  if (mask_ready()) return true;
  maybe_trim_cache();
  State& s = *states_[state_];
  if (s.large_mask) return false;
  if (compute_mask(state_, kSmallMaskTokens, kSmallMaskNodes)) return true;
  s.large_mask = true;
  return false;
}

bool GrammarMatcher::accept_token(int32_t token) {
  if (state_ < 0 || finished_ || token < 0 || token >= vocab_->size()) return false;
  if (vocab_->is_eog(token)) {
    if (!accepting()) return false;
    finished_ = true;
    return true;
  }
  const std::string& bytes = vocab_->bytes(token);
  if (bytes.empty()) return false;
  return accept_bytes(bytes);
}

bool GrammarMatcher::can_accept_token(int32_t token) {
  if (state_ < 0 || finished_ || token < 0 || token >= vocab_->size()) return false;
  if (vocab_->is_eog(token)) return accepting();
  const std::string& bytes = vocab_->bytes(token);
  if (bytes.empty()) return false;
  if (const std::vector<uint64_t>& mask = states_[state_]->mask; !mask.empty()) {
    return (mask[token >> 6] >> (token & 63)) & 1;
  }
  maybe_trim_cache();
  int32_t st = state_;
  for (char c : bytes) {
    st = step(st, static_cast<uint8_t>(c));
    if (st < 0) return false;
  }
  return true;
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (state_ < 0 || finished_) return false;
  maybe_trim_cache();
  int32_t st = state_;
  for (char c : bytes) {
    st = step(st, static_cast<uint8_t>(c));
    if (st < 0) return false;
  }
  state_ = st;
  return true;
}

bool GrammarMatcher::accepting() const { return state_ >= 0 && states_[state_]->accepting; }

}  // namespace llmchain::sampling
