#include "engine/rerank.h"

#include <fmt/format.h>

namespace llmchain::engine {

std::vector<int32_t> rerank_tokens(const ModelInfo& info, const std::vector<int32_t>& q,
                                   const std::vector<int32_t>& d) {
  const int32_t eos = info.eos >= 0 ? info.eos : info.sep;
  std::vector<int32_t> out;
  out.reserve(q.size() + d.size() + 4);
  if (info.add_bos && info.bos >= 0) out.push_back(info.bos);
  out.insert(out.end(), q.begin(), q.end());
  if (info.add_eos && eos >= 0) out.push_back(eos);
  if (info.add_sep && info.sep >= 0) out.push_back(info.sep);
  out.insert(out.end(), d.begin(), d.end());
  if (info.add_eos && eos >= 0) out.push_back(eos);
  return out;
}

Expected<std::vector<float>> rerank(Engine& engine, const std::string& query, const std::vector<std::string>& docs) {
  return capture([&] {
    if (engine.info().pooling != "rank")
      fail(ErrorCode::kInvalidArgument, "{} is not a reranking model (its pooling is '{}', not 'rank')",
           engine.info().name, engine.info().pooling);
    const auto q = engine.tokenize(query, false, false).value();
    std::vector<float> scores;
    scores.reserve(docs.size());
    for (const auto& doc : docs) {
      auto toks = rerank_tokens(engine.info(), q, engine.tokenize(doc, false, false).value());
      auto out = engine.embed(toks).value();
      if (out.empty()) fail(ErrorCode::kInternal, "the reranker returned no score");
      scores.push_back(out[0]);
    }
    return scores;
  });
}

}  // namespace llmchain::engine
