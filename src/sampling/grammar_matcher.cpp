#include "sampling/grammar_matcher.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <iterator>
#include <utility>

#include "base/error.h"

namespace llmchain::sampling {
namespace {

// Interned states and cached masks are bounded; past these the cache is
// dropped (keeping the current state) and rebuilt on demand.
constexpr size_t kMaxStates = 20000;
constexpr size_t kMaxMaskBytes = size_t{256} << 20;
// Completions longer than this are not spelled out as token plans (a state
// that needs one counts as having none: conservative, never unsound).
constexpr size_t kMaxPlanBytes = size_t{1} << 16;
constexpr uint32_t kInf = CompletionTable::kInf;

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
    : grammar_(std::move(grammar)),
      vocab_(std::move(vocab)),
      completion_(std::make_unique<CompletionTable>(*grammar_)) {
  none_.assign((static_cast<size_t>(vocab_->size()) + 63) / 64, 0);
  std::fill(std::begin(root_child_), std::end(root_child_), -1);
  const std::vector<TokenTrie::Node>& nodes = vocab_->trie().nodes;
  for (uint32_t c = 1; c < nodes[0].subtree_end; c = nodes[c].subtree_end) root_child_[nodes[c].byte] = c;
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
void GrammarMatcher::expand(Stack& stack, std::vector<Stack>& out, int depth) const {
  if (depth > kMaxCallDepth) {
    fail(ErrorCode::kInvalidArgument, "the output constraint calls rules nested more than {} deep", kMaxCallDepth);
  }
  if (out.size() > kMaxStacks) {
    fail(ErrorCode::kInvalidArgument,
         "the output constraint is too complex: more than {} alternatives would be open at once (fewer "
         "anyOf/enum branches or optional parts would do)",
         kMaxStacks);
  }
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
    expand(s, out, depth + 1);
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
  st->min_bytes = completion_bytes(*st, nullptr);
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
  uint32_t max_next_bytes = 0;
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
    if (end > node.token_begin) max_next_bytes = std::max(max_next_bytes, states_[next]->min_bytes);
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
  root_state.max_next_bytes = max_next_bytes;
  ++cached_masks_;
  return true;
}

void GrammarMatcher::maybe_trim_cache() {
  if (states_.size() <= kMaxStates && cached_masks_ * none_.size() * 8 + cached_cost_bytes_ <= kMaxMaskBytes) return;
  State& cur = *states_[state_];
  std::vector<Stack> stacks = std::move(cur.stacks);
  uint32_t partial = cur.partial;
  uint8_t remaining = cur.remaining, length = cur.length;
  states_.clear();
  next_.clear();
  index_.clear();
  cached_masks_ = 0;
  cached_cost_bytes_ = 0;
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
    plan_.clear();
    plan_pos_ = 0;
    return true;
  }
  const std::string& bytes = vocab_->bytes(token);
  if (bytes.empty()) return false;
  // The plan to follow after this token: the current one when the token is
  // its next step, or this state's own spelling when it starts with the token
  // (whichever is shorter), else none (the next state's own counts then).
  const bool follows = plan_pos_ < plan_.size() && plan_[plan_pos_] == token;
  const size_t follow_left = follows ? plan_.size() - plan_pos_ - 1 : SIZE_MAX;
  const State& cur = *states_[state_];
  const bool own = cur.min_tokens > 0 && cur.min_tokens != kNoCompletion && cur.plan.front() == token &&
                   cur.plan.size() - 1 < follow_left;
  std::vector<int32_t> own_rest;
  if (own) own_rest.assign(cur.plan.begin() + 1, cur.plan.end());
  if (!advance(bytes)) return false;
  if (own) {
    plan_ = std::move(own_rest);
    plan_pos_ = 0;
  } else if (follows) {
    ++plan_pos_;
  } else {
    plan_.clear();
    plan_pos_ = 0;
  }
  return true;
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
  if (!advance(bytes)) return false;
  plan_.clear();
  plan_pos_ = 0;
  return true;
}

bool GrammarMatcher::advance(std::string_view bytes) {
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

bool GrammarMatcher::can_continue() const {
  if (state_ < 0 || finished_) return false;
  const State& s = *states_[state_];
  return s.remaining > 0 || std::any_of(s.stacks.begin(), s.stacks.end(), [](const Stack& st) { return !st.empty(); });
}

// The shortest completion of a state: the cheapest stack's top character (or
// the rest of the pending UTF-8 character), then the rest of every
// alternative on the stack, innermost first. Appends it to `out` when given
// (kInf when it would pass kMaxPlanBytes).
uint32_t GrammarMatcher::completion_bytes(const State& s, std::string* out) const {
  if (s.accepting) return 0;
  const CompletionTable& t = *completion_;
  uint32_t lo = 0, hi = 0;
  if (s.remaining > 0) {  // code points the pending character may still become
    lo = s.partial << (6 * s.remaining);
    hi = lo | ((1u << (6 * s.remaining)) - 1);
    lo = std::max<uint32_t>(lo, s.length == 2 ? 0x80 : s.length == 3 ? 0x800 : 0x10000);
  }
  uint32_t best = kInf;
  const Stack* best_stack = nullptr;
  int64_t best_cp = -1;
  for (const Stack& st : s.stacks) {
    if (st.empty()) continue;
    const uint32_t top = st.back();
    const uint32_t cs = grammar_->elems[top].arg;
    int64_t cp = -1;
    uint32_t c;
    if (s.remaining == 0) {
      c = t.char_bytes(cs);
    } else {
      cp = first_match(grammar_->charsets[cs], lo, hi);
      if (cp < 0) continue;
      c = s.remaining;
    }
    c = CompletionTable::add(c, t.suffix_bytes(top + 1));
    for (size_t i = 0; i + 1 < st.size() && c < best; ++i) c = CompletionTable::add(c, t.suffix_bytes(st[i]));
    if (c < best) {
      best = c;
      best_stack = &st;
      best_cp = cp;
    }
  }
  if (!out || !best_stack) return best;
  const Stack& st = *best_stack;
  const uint32_t top = st.back();
  if (s.remaining == 0) {
    t.append_char(grammar_->elems[top].arg, *out);
  } else {
    std::string whole;
    append_utf8(static_cast<uint32_t>(best_cp), whole);
    out->append(whole, whole.size() - s.remaining, s.remaining);
  }
  bool ok = t.append_suffix(top + 1, *out, kMaxPlanBytes);
  for (size_t i = st.size() - 1; ok && i-- > 0;) ok = t.append_suffix(st[i], *out, kMaxPlanBytes);
  return ok ? best : kInf;
}

int32_t GrammarMatcher::find_child(uint32_t node, uint8_t byte) const {
  if (node == 0) return root_child_[byte];
  const std::vector<TokenTrie::Node>& nodes = vocab_->trie().nodes;
  for (uint32_t c = node + 1; c < nodes[node].subtree_end; c = nodes[c].subtree_end) {
    if (nodes[c].byte == byte) return static_cast<int32_t>(c);
  }
  return -1;
}

// The fewest tokens spelling the state's shortest completion (dynamic
// programming over its byte positions, each extended along the trie), kept
// with the spelling as the state's plan.
int32_t GrammarMatcher::state_tokens(int32_t id) {
  State& s = *states_[id];
  if (s.min_tokens >= 0) return s.min_tokens;
  s.min_tokens = kNoCompletion;
  if (s.accepting) {
    s.min_tokens = 0;
    return 0;
  }
  std::string w;
  if (s.min_bytes >= kInf || s.min_bytes > kMaxPlanBytes || completion_bytes(s, &w) >= kInf) return s.min_tokens;
  const std::vector<TokenTrie::Node>& nodes = vocab_->trie().nodes;
  const std::vector<int32_t>& node_tokens = vocab_->trie().node_tokens;
  const size_t n = w.size();
  std::vector<int32_t> dp(n + 1, kNoCompletion), from(n + 1, -1), tok(n + 1, -1);
  dp[0] = 0;
  for (size_t i = 0; i < n; ++i) {
    if (dp[i] == kNoCompletion) continue;
    int32_t node = 0;
    for (size_t j = i; j < n; ++j) {
      node = find_child(static_cast<uint32_t>(node), static_cast<uint8_t>(w[j]));
      if (node < 0) break;
      const uint32_t begin = nodes[node].token_begin;
      if (nodes[node + 1].token_begin > begin && dp[i] + 1 < dp[j + 1]) {
        dp[j + 1] = dp[i] + 1;
        from[j + 1] = static_cast<int32_t>(i);
        tok[j + 1] = node_tokens[begin];
      }
    }
  }
  if (dp[n] == kNoCompletion) return s.min_tokens;
  s.plan.resize(dp[n]);
  for (size_t j = n, k = s.plan.size(); j > 0; j = static_cast<size_t>(from[j])) s.plan[--k] = tok[j];
  s.min_tokens = dp[n];
  return s.min_tokens;
}

int32_t GrammarMatcher::min_tokens_to_complete() {
  if (state_ < 0) return kNoCompletion;
  if (finished_) return 0;
  maybe_trim_cache();
  int32_t best = state_tokens(state_);
  const uint32_t bytes = states_[state_]->min_bytes;
  if (vocab_->spells_every_byte() && bytes < kInf) best = std::min(best, static_cast<int32_t>(bytes));
  if (plan_pos_ < plan_.size()) best = std::min(best, static_cast<int32_t>(plan_.size() - plan_pos_));
  return best;
}

bool GrammarMatcher::can_accept_token_within(int32_t token, int32_t budget) {
  if (budget <= 0 || state_ < 0 || finished_ || token < 0 || token >= vocab_->size()) return false;
  if (vocab_->is_eog(token)) return accepting();
  const std::string& bytes = vocab_->bytes(token);
  if (bytes.empty()) return false;
  const uint32_t limit = static_cast<uint32_t>(budget - 1);
  const bool by_bytes = vocab_->spells_every_byte();
  if (const State& cur = *states_[state_]; !cur.mask.empty()) {
    if (!((cur.mask[token >> 6] >> (token & 63)) & 1)) return false;
    if (by_bytes && cur.max_next_bytes <= limit) return true;
    if (!cur.token_cost.empty()) return cur.token_cost[token] <= limit || plan_step_fits(token, limit);
  }
  maybe_trim_cache();
  int32_t st = state_;
  for (char c : bytes) {
    st = step(st, static_cast<uint8_t>(c));
    if (st < 0) return false;
  }
  // Some known completion of at most `limit` tokens after the token: the next
  // state's shortest one (in bytes, or spelled in tokens), or the rest of a plan.
  const uint32_t next_bytes = states_[st]->min_bytes;
  if (next_bytes >= kInf) return false;
  if (by_bytes && next_bytes <= limit) return true;
  if (state_tokens(st) <= static_cast<int32_t>(limit)) return true;
  return plan_step_fits(token, limit);
}

// The token is the next step of the plan being followed, or of this state's
// own spelling, and the rest of that plan fits in `limit`.
bool GrammarMatcher::plan_step_fits(int32_t token, uint32_t limit) {
  if (plan_pos_ < plan_.size() && plan_[plan_pos_] == token && plan_.size() - plan_pos_ - 1 <= limit) return true;
  const int32_t own = state_tokens(state_);
  const State& cur = *states_[state_];
  return own > 0 && own != kNoCompletion && cur.plan.front() == token && static_cast<uint32_t>(own - 1) <= limit;
}

// Prices every allowed token of a state: the preorder trie walk of
// compute_mask, reading at each token the tokens that certainly complete the
// document from where it leads (its spelled shortest completion, or its bytes
// when those are fewer, as in can_accept_token_within).
void GrammarMatcher::price_tokens(int32_t root_id) {
  const std::vector<TokenTrie::Node>& nodes = vocab_->trie().nodes;
  const std::vector<int32_t>& node_tokens = vocab_->trie().node_tokens;
  const uint32_t n = vocab_->trie().num_nodes();
  const bool by_bytes = vocab_->spells_every_byte();
  std::vector<uint32_t> cost(static_cast<size_t>(vocab_->size()), kInf);
  walk_.clear();
  walk_.push_back({n, root_id});
  for (uint32_t i = 1; i < n;) {
    while (i >= walk_.back().subtree_end) walk_.pop_back();
    const TokenTrie::Node& node = nodes[i];
    int32_t next = step(walk_.back().state, node.byte);
    if (next < 0) {
      i = node.subtree_end;
      continue;
    }
    const uint32_t end = nodes[i + 1].token_begin;
    if (end > node.token_begin) {
      uint32_t c = kInf;
      if (states_[next]->min_bytes < kInf) {
        const int32_t tokens = state_tokens(next);
        if (tokens != kNoCompletion) c = static_cast<uint32_t>(tokens);
        if (by_bytes) c = std::min(c, states_[next]->min_bytes);
      }
      for (uint32_t t = node.token_begin; t < end; ++t) cost[node_tokens[t]] = c;
    }
    if (node.subtree_end > i + 1) walk_.push_back({node.subtree_end, next});
    ++i;
  }
  State& s = *states_[root_id];
  for (int32_t tok : vocab_->eog_tokens()) cost[tok] = s.accepting ? 0 : kInf;
  cached_cost_bytes_ += cost.size() * sizeof(uint32_t);
  s.token_cost = std::move(cost);
}

void GrammarMatcher::tokens_within(int32_t budget, std::vector<int32_t>& out) {
  out.clear();
  if (budget <= 0 || state_ < 0 || finished_) return;
  maybe_trim_cache();
  if (states_[state_]->mask.empty()) compute_mask(state_, SIZE_MAX, SIZE_MAX);
  const std::vector<uint64_t> mask = states_[state_]->mask;  // a copy: checks below may add states
  size_t allowed = 0;
  for (uint64_t w : mask) allowed += static_cast<size_t>(std::popcount(w));
  // Few allowed tokens are checked one by one; many are priced once per state.
  if (states_[state_]->token_cost.empty() && allowed > kSmallMaskTokens) price_tokens(state_);
  const uint32_t limit = static_cast<uint32_t>(budget - 1);
  for (size_t w = 0; w < mask.size(); ++w) {
    for (uint64_t bits = mask[w]; bits != 0; bits &= bits - 1) {
      const int32_t t = static_cast<int32_t>(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
      const std::vector<uint32_t>& cost = states_[state_]->token_cost;
      if (cost.empty() ? can_accept_token_within(t, budget) : cost[t] <= limit) out.push_back(t);
    }
  }
  if (states_[state_]->token_cost.empty()) return;  // the one-by-one checks include the plans
  // The steps of the plans, which may fit by their plan alone.
  int32_t steps[2] = {plan_pos_ < plan_.size() ? plan_[plan_pos_] : -1, -1};
  if (state_tokens(state_) > 0 && state_tokens(state_) != kNoCompletion) steps[1] = states_[state_]->plan.front();
  for (int32_t t : steps) {
    if (t < 0 || states_[state_]->token_cost[t] <= limit || !plan_step_fits(t, limit)) continue;
    out.insert(std::lower_bound(out.begin(), out.end(), t), t);
    if (steps[0] == steps[1]) break;
  }
}

bool GrammarMatcher::budget_may_bind(int32_t budget) const {
  if (state_ < 0 || finished_) return false;
  const State& s = *states_[state_];
  return !(vocab_->spells_every_byte() && !s.mask.empty() && s.max_next_bytes < kInf &&
           static_cast<int64_t>(s.max_next_bytes) + 1 <= budget);
}

}  // namespace llmchain::sampling
