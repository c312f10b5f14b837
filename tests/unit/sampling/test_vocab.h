#pragma once
// Vocabularies for the sampling tests.
#include <memory>
#include <string>
#include <vector>

#include "sampling/vocab.h"

namespace llmchain::sampling::testing {

// Tokens exactly as given; eog ids appended at the end as empty (control) tokens.
std::shared_ptr<const CompiledVocab> make_vocab(std::vector<std::string> pieces, int n_eog = 1);

// ~5000 byte strings: all 256 single bytes, JSON punctuation runs, digits and
// numbers, words with and without a leading space, whitespace runs, multi-byte
// UTF-8 characters and words; deterministic. The last token is EOG.
std::shared_ptr<const CompiledVocab> realistic_vocab(size_t target = 5000);

}  // namespace llmchain::sampling::testing
