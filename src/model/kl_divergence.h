#pragma once
// KL divergence between two models' next-token distributions, in llama.cpp's way and with its
// file format, so a base file written by llmchain is read by llama-perplexity --kl-divergence
// and the reverse:
//   "_logits_", n_ctx (u32), n_vocab (i32), n_chunk (i32), the evaluated tokens
//   (n_chunk * n_ctx i32), then for every scored position (the second half of each chunk but
//   its last token, as perplexity scores) one record of 2 * ((n_vocab + 1) / 2) + 4 u16: two
//   floats (scale, minimum log-probability) and each token's log-probability as
//   round((log p - min) / scale), 16 bits over the top 16 nats (below: 0).
// Little-endian, as llama.cpp writes it on x86-64 and ARM.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"

namespace llmchain::model {

inline constexpr char kLogitsMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

// u16 values per record (two floats + the log-probabilities, padded to an even count).
inline int64_t kl_record_values(int32_t n_vocab) { return 2 * ((int64_t{n_vocab} + 1) / 2) + 4; }

// One record from logits; returns the negative log-likelihood of `token` (llama.cpp's log_softmax).
double encode_log_probs(const float* logits, int32_t n_vocab, int32_t token, uint16_t* record);

// Writes a base file (perplexity --kl-divergence-base FILE with a text).
class LogitsWriter {
 public:
  static Expected<LogitsWriter> create(const std::string& path, int32_t n_ctx, int32_t n_vocab,
                                       const std::vector<int32_t>& tokens);
  // The next scored position.
  void add(const float* logits, int32_t next_token);
  Expected<bool> close();

 private:
  std::string path_;
  std::ofstream out_;
  int32_t n_vocab_ = 0;
  std::vector<uint16_t> record_;
};

// What a base file holds before its records.
struct LogitsFileHeader {
  uint32_t n_ctx = 0;
  int32_t n_vocab = 0;
  int32_t n_chunk = 0;
  std::vector<int32_t> tokens;  // n_chunk * n_ctx
};

// llama.cpp's KL statistics, accumulated position by position.
struct KlStats {
  double sum_nll = 0, sum_nll2 = 0, sum_nll_base = 0, sum_nll_base2 = 0, sum_nll_nll_base = 0;
  double sum_kld = 0, sum_kld2 = 0, sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
  float max_p_diff = 0;
  int64_t n_same_top = 0, count = 0;
  std::vector<float> kld_values, p_diff_values;

  void add(const float* logits, int32_t n_vocab, const uint16_t* base_record, int32_t token);
  // llama-perplexity's three sections (perplexity, KL divergence, token probability).
  std::string report() const;
  double mean_kld() const { return count ? sum_kld / static_cast<double>(count) : 0; }
  double same_top() const { return count ? static_cast<double>(n_same_top) / static_cast<double>(count) : 0; }
  double ppl() const;
  double ppl_base() const;
};

// Reads a base file record by record (perplexity --kl-divergence).
class LogitsReader {
 public:
  static Expected<LogitsReader> open(const std::string& path);
  const LogitsFileHeader& header() const { return header_; }
  // The next record; kInvalidFile when the file ends early.
  Expected<const uint16_t*> next();

 private:
  std::string path_;
  std::ifstream in_;
  LogitsFileHeader header_;
  std::vector<uint16_t> record_;
};

}  // namespace llmchain::model
