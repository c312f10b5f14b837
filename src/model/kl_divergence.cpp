#include "model/kl_divergence.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>

namespace llmchain::model {
namespace {

// Round to nearest through the float's mantissa, as llama.cpp's perplexity tool does.
int nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i;
  std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

std::pair<double, double> mean_and_uncertainty(double sum, double sum2, int64_t count) {
  if (count < 1) return {0., 0.};
  const double f = sum / static_cast<double>(count);
  double df = sum2 / static_cast<double>(count) - f * f;
  df = df > 0 && count > 10 ? std::sqrt(df / static_cast<double>(count - 1)) : 0.;
  return {f, df};
}

double covariance(double suma, double sumb, double sumab, int64_t count) {
  if (count < 10) return 0.0;
  const auto n = static_cast<double>(count);
  double var = sumab / n - (suma / n) * (sumb / n);
  var /= n - 1;
  return var;
}

float percentile(const std::vector<float>& values, float fraction) {
  if (fraction <= 0) return values.front();
  if (fraction >= 1) return values.back();
  float p = fraction * static_cast<float>(values.size() - 1);
  const auto ip = static_cast<size_t>(p);
  p -= static_cast<float>(ip);
  return (1 - p) * values[ip] + p * values[std::min(ip + 1, values.size() - 1)];
}

float median(const std::vector<float>& v) {
  return v.size() % 2 == 0 ? 0.5f * (v[v.size() / 2] + v[v.size() / 2 - 1]) : v[v.size() / 2];
}

}  // namespace

double encode_log_probs(const float* logits, int32_t n_vocab, int32_t token, uint16_t* record) {
  float max_logit = logits[0], min_logit = logits[0];
  for (int32_t i = 1; i < n_vocab; ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - 16);
  double sum_exp = 0.0;
  for (int32_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const auto log_sum_exp = static_cast<float>(std::log(sum_exp));
  const float min_log_prob = min_logit - max_logit - log_sum_exp;
  const float scale = (max_logit - min_logit) / 65535.f;
  std::memcpy(record, &scale, sizeof(float));
  std::memcpy(record + 2, &min_log_prob, sizeof(float));
  uint16_t* log_prob = record + 4;
  if (scale != 0) {
    const float inv_scale = 1 / scale;
    for (int32_t i = 0; i < n_vocab; ++i) {
      log_prob[i] = logits[i] > min_logit ? static_cast<uint16_t>(nearest_int(inv_scale * (logits[i] - min_logit))) : 0;
    }
  } else {
    std::memset(log_prob, 0, sizeof(uint16_t) * static_cast<size_t>(n_vocab));
  }
  if (n_vocab % 2 != 0) log_prob[n_vocab] = 0;  // the padding
  return max_logit + log_sum_exp - logits[token];
}

// ---- writer ----

Expected<LogitsWriter> LogitsWriter::create(const std::string& path, int32_t n_ctx, int32_t n_vocab,
                                            const std::vector<int32_t>& tokens) {
  LogitsWriter w;
  w.path_ = path;
  w.n_vocab_ = n_vocab;
  w.record_.resize(static_cast<size_t>(kl_record_values(n_vocab)));
  w.out_.open(path, std::ios::binary | std::ios::trunc);
  if (!w.out_) return Error(ErrorCode::kIo, fmt::format("cannot write {}", path));
  const auto u_ctx = static_cast<uint32_t>(n_ctx);
  const auto n_chunk = static_cast<int32_t>(tokens.size() / static_cast<size_t>(n_ctx));
  w.out_.write(kLogitsMagic, 8);
  w.out_.write(reinterpret_cast<const char*>(&u_ctx), sizeof u_ctx);
  w.out_.write(reinterpret_cast<const char*>(&n_vocab), sizeof n_vocab);
  w.out_.write(reinterpret_cast<const char*>(&n_chunk), sizeof n_chunk);
  w.out_.write(reinterpret_cast<const char*>(tokens.data()),
               static_cast<std::streamsize>(sizeof(int32_t) * static_cast<size_t>(n_chunk) * n_ctx));
  return w;
}

void LogitsWriter::add(const float* logits, int32_t next_token) {
  encode_log_probs(logits, n_vocab_, next_token, record_.data());
  out_.write(reinterpret_cast<const char*>(record_.data()),
             static_cast<std::streamsize>(record_.size() * sizeof(uint16_t)));
}

Expected<bool> LogitsWriter::close() {
  out_.close();
  if (out_.fail()) return Error(ErrorCode::kIo, fmt::format("writing {} failed", path_));
  return true;
}

// ---- reader ----

Expected<LogitsReader> LogitsReader::open(const std::string& path) {
  LogitsReader r;
  r.path_ = path;
  r.in_.open(path, std::ios::binary);
  if (!r.in_) return Error(ErrorCode::kIo, fmt::format("cannot read {}", path));
  char magic[8];
  r.in_.read(magic, 8);
  if (!r.in_ || std::memcmp(magic, kLogitsMagic, 8) != 0) {
    return Error(ErrorCode::kInvalidFile, fmt::format("{} does not look like a file of log-probabilities", path));
  }
  auto& h = r.header_;
  r.in_.read(reinterpret_cast<char*>(&h.n_ctx), sizeof h.n_ctx);
  r.in_.read(reinterpret_cast<char*>(&h.n_vocab), sizeof h.n_vocab);
  r.in_.read(reinterpret_cast<char*>(&h.n_chunk), sizeof h.n_chunk);
  if (!r.in_) return Error(ErrorCode::kInvalidFile, fmt::format("{}: truncated header", path));
  if (h.n_ctx < 4 || h.n_ctx > (1u << 20) || h.n_vocab <= 0 || h.n_vocab > (1 << 24) || h.n_chunk <= 0 ||
      static_cast<int64_t>(h.n_chunk) * h.n_ctx > (int64_t{1} << 31)) {
    return Error(ErrorCode::kInvalidFile, fmt::format("{}: implausible header (n_ctx {}, n_vocab {}, n_chunk {})", path,
                                                      h.n_ctx, h.n_vocab, h.n_chunk));
  }
  h.tokens.resize(static_cast<size_t>(h.n_chunk) * h.n_ctx);
  r.in_.read(reinterpret_cast<char*>(h.tokens.data()), static_cast<std::streamsize>(h.tokens.size() * sizeof(int32_t)));
  if (!r.in_) return Error(ErrorCode::kInvalidFile, fmt::format("{}: the evaluated tokens are cut short", path));
  r.record_.resize(static_cast<size_t>(kl_record_values(h.n_vocab)));
  return r;
}

Expected<const uint16_t*> LogitsReader::next() {
  in_.read(reinterpret_cast<char*>(record_.data()), static_cast<std::streamsize>(record_.size() * sizeof(uint16_t)));
  if (!in_) return Error(ErrorCode::kInvalidFile, fmt::format("{}: the log-probabilities end early", path_));
  return static_cast<const uint16_t*>(record_.data());
}

// ---- statistics ----

void KlStats::add(const float* logits, int32_t n_vocab, const uint16_t* base_record, int32_t token) {
  float max_logit = logits[0];
  int32_t imax = 0;
  for (int32_t i = 1; i < n_vocab; ++i) {
    if (logits[i] > max_logit) {
      max_logit = logits[i];
      imax = i;
    }
  }
  double sum_exp = 0.0;
  for (int32_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const auto log_sum_exp = static_cast<float>(std::log(sum_exp));
  float scale, min_log_prob;
  std::memcpy(&scale, base_record, sizeof(float));
  std::memcpy(&min_log_prob, base_record + 2, sizeof(float));
  const uint16_t* base = base_record + 4;

  const float nll = max_logit + log_sum_exp - logits[token];
  sum_nll += nll;
  sum_nll2 += static_cast<double>(nll) * nll;
  const float nll_base = -(scale * base[token] + min_log_prob);
  sum_nll_base += nll_base;
  sum_nll_base2 += static_cast<double>(nll_base) * nll_base;
  sum_nll_nll_base += static_cast<double>(nll) * nll_base;

  max_logit += log_sum_exp;
  double sum = 0;
  int32_t imax_base = -1;
  float p_log_base_max = 0;
  for (int32_t i = 0; i < n_vocab; ++i) {
    const float p_log_base = scale * base[i] + min_log_prob;
    if (i == 0 || p_log_base > p_log_base_max) {
      p_log_base_max = p_log_base;
      imax_base = i;
    }
    if (p_log_base > -16.f) {
      const float p_base = std::exp(p_log_base);
      sum += p_base * (p_log_base - logits[i] + max_logit);
    }
  }
  sum_kld += sum;
  sum_kld2 += sum * sum;
  ++count;
  if (imax == imax_base) ++n_same_top;

  const float p_base = std::exp(-nll_base);
  const float p = std::exp(-nll);
  const float p_diff = p - p_base;
  sum_p_diff += p_diff;
  const double p_diff2 = static_cast<double>(p_diff) * p_diff;
  sum_p_diff2 += p_diff2;
  sum_p_diff4 += p_diff2 * p_diff2;
  max_p_diff = std::max(max_p_diff, std::fabs(p_diff));
  kld_values.push_back(static_cast<float>(sum));
  p_diff_values.push_back(p_diff);
}

double KlStats::ppl() const { return std::exp(mean_and_uncertainty(sum_nll, sum_nll2, count).first); }
double KlStats::ppl_base() const { return std::exp(mean_and_uncertainty(sum_nll_base, sum_nll_base2, count).first); }

std::string KlStats::report() const {
  if (count == 0) return "no positions scored\n";
  std::string out;
  auto it = std::back_inserter(out);
  std::vector<float> kld = kld_values, pd = p_diff_values;
  std::sort(kld.begin(), kld.end());
  std::sort(pd.begin(), pd.end());

  fmt::format_to(it, "====== Perplexity statistics ======\n");
  const auto log_ppl = mean_and_uncertainty(sum_nll, sum_nll2, count);
  const double ppl_val = std::exp(log_ppl.first), ppl_unc = ppl_val * log_ppl.second;
  fmt::format_to(it, "Mean PPL(Q)                   : {:10.6f} ± {:10.6f}\n", ppl_val, ppl_unc);
  const auto log_ppl_base = mean_and_uncertainty(sum_nll_base, sum_nll_base2, count);
  const double ppl_base_val = std::exp(log_ppl_base.first), ppl_base_unc = ppl_base_val * log_ppl_base.second;
  fmt::format_to(it, "Mean PPL(base)                : {:10.6f} ± {:10.6f}\n", ppl_base_val, ppl_base_unc);
  const double log_ppl_cov = covariance(sum_nll, sum_nll_base, sum_nll_nll_base, count);
  const double denom = log_ppl.second * log_ppl_base.second;
  fmt::format_to(it, "Cor(ln(PPL(Q)), ln(PPL(base))): {:6.2f}%\n", denom > 0 ? 100.0 * log_ppl_cov / denom : 100.0);
  const double log_ratio = log_ppl.first - log_ppl_base.first;
  const double log_ratio_unc = std::sqrt(
      std::max(0.0, log_ppl.second * log_ppl.second + log_ppl_base.second * log_ppl_base.second - 2.0 * log_ppl_cov));
  fmt::format_to(it, "Mean ln(PPL(Q)/PPL(base))     : {:10.6f} ± {:10.6f}\n", log_ratio, log_ratio_unc);
  const double ratio = std::exp(log_ratio);
  fmt::format_to(it, "Mean PPL(Q)/PPL(base)         : {:10.6f} ± {:10.6f}\n", ratio, ratio * log_ratio_unc);
  const double ppl_cov = ppl_val * ppl_base_val * log_ppl_cov;
  fmt::format_to(it, "Mean PPL(Q)-PPL(base)         : {:10.6f} ± {:10.6f}\n\n", ppl_val - ppl_base_val,
                 std::sqrt(std::max(0.0, ppl_unc * ppl_unc + ppl_base_unc * ppl_base_unc - 2.0 * ppl_cov)));

  fmt::format_to(it, "====== KL divergence statistics ======\n");
  const auto kl = mean_and_uncertainty(sum_kld, sum_kld2, count);
  fmt::format_to(it, "Mean    KLD: {:10.6f} ± {:10.6f}\n", kl.first, kl.second);
  fmt::format_to(it, "Maximum KLD: {:10.6f}\n", kld.back());
  for (float f : {0.999f, 0.990f, 0.950f, 0.900f})
    fmt::format_to(it, "{:4.1f}%   KLD: {:10.6f}\n", 100 * f, percentile(kld, f));
  fmt::format_to(it, "Median  KLD: {:10.6f}\n", median(kld));
  for (float f : {0.100f, 0.050f, 0.010f, 0.001f})
    fmt::format_to(it, "{:4.1f}%   KLD: {:10.6f}\n", 100 * f, percentile(kld, f));
  fmt::format_to(it, "Minimum KLD: {:10.6f}\n\n", kld.front());

  fmt::format_to(it, "====== Token probability statistics ======\n");
  const auto p_diff = mean_and_uncertainty(sum_p_diff, sum_p_diff2, count);
  fmt::format_to(it, "Mean    Δp: {:6.3f} ± {:5.3f} %\n", 100.0 * p_diff.first, 100.0 * p_diff.second);
  fmt::format_to(it, "Maximum Δp: {:6.3f}%\n", 100.0 * pd.back());
  for (float f : {0.999f, 0.990f, 0.950f, 0.900f, 0.750f})
    fmt::format_to(it, "{:4.1f}%   Δp: {:6.3f}%\n", 100 * f, 100.0 * percentile(pd, f));
  fmt::format_to(it, "Median  Δp: {:6.3f}%\n", 100.0 * median(pd));
  for (float f : {0.250f, 0.100f, 0.050f, 0.010f, 0.001f})
    fmt::format_to(it, "{:4.1f}%   Δp: {:6.3f}%\n", 100 * f, 100.0 * percentile(pd, f));
  fmt::format_to(it, "Minimum Δp: {:6.3f}%\n", 100.0 * pd.front());
  const auto p_diff_mse = mean_and_uncertainty(sum_p_diff2, sum_p_diff4, count);
  const double rms = std::sqrt(p_diff_mse.first);
  fmt::format_to(it, "RMS Δp    : {:6.3f} ± {:5.3f} %\n", 100.0 * rms,
                 rms > 0 ? 100.0 * 0.5 / rms * p_diff_mse.second : 0.0);
  const double top = same_top();
  fmt::format_to(it, "Same top p: {:6.3f} ± {:5.3f} %\n", 100.0 * top,
                 count > 1 ? 100.0 * std::sqrt(top * (1 - top) / static_cast<double>(count - 1)) : 0.0);
  return out;
}

}  // namespace llmchain::model
