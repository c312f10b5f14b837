#pragma once
// Reranking with a cross-encoder (a model whose pooling is "rank"): each (query, document) pair
// is one token sequence, as llama.cpp's format_prompt_rerank builds it: [BOS] query [EOS] [SEP]
// document [EOS], each special token where the vocabulary adds it (EOS falls back to SEP); the
// score is the classification head's first output.
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace llmchain::engine {

// The pair's sequence from the query's and the document's tokens (tokenized without special tokens).
std::vector<int32_t> rerank_tokens(const ModelInfo& info, const std::vector<int32_t>& query,
                                   const std::vector<int32_t>& doc);

// The score of each document for the query, in the documents' order. kInvalidArgument when the
// model is not a reranker or a pair does not fit its context.
Expected<std::vector<float>> rerank(Engine& engine, const std::string& query, const std::vector<std::string>& docs);

}  // namespace llmchain::engine
