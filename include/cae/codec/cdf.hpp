// Integer CDF tables for the entropy coder (cae/codec/rans.hpp).
//
// An entropy model (factorized prior, Gaussian conditional) describes each
// latent element by a float pmf over consecutive integer symbols
// offset, offset + 1, ..., offset + n - 1, plus the probability mass of all
// values outside that range (the tail mass). pmf_to_cdf turns that into
// integer frequencies that sum to exactly 2^precision, every symbol, and one
// extra "escape" symbol standing for any value outside the table, getting a
// frequency of at least 1, so every int32 value stays codable.
//
// Why only the first step is float: rANS decodes exactly only when encoder
// and decoder use the same integers. Float arithmetic can differ between
// machines and compiler settings (x87 vs SSE, fused multiply-add contraction
// under -march=native, vectorized sums in another order), so the float pmf is
// converted once, element by element, to a 32.32 fixed-point weight by
// multiplying with 2^32 (exact: a power of two) and rounding (exact, no
// rounding-mode dependence for llround). Everything after that (the total,
// the proportional share, the distribution of the remainder) is integer
// arithmetic with a fixed order, so a given pmf array yields the same table
// on any machine. Even so, tables are meant to be built once when a model is
// exported and stored with it (the CDF integers, not the pmf): the pmf itself
// comes from the network's float math, and only the stored integers make the
// decoder independent of it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "cae/error.hpp"

namespace cae::codec {

// The coder keeps a 32-bit state renormalized byte-wise to [2^23, 2^31); a
// precision of at most 16 bits keeps the state at least 2^7 times the
// probability range, which bounds the rate lost to rANS's integer division.
inline constexpr int kMaxCdfPrecision = 16;
inline constexpr int kDefaultCdfPrecision = 16;

// One table: cdf has num_symbols() + 2 entries, cdf[0] = 0, strictly
// increasing, cdf.back() = 2^precision. Symbol s (0 <= s < num_symbols())
// stands for the value offset + s and has frequency cdf[s + 1] - cdf[s]; the
// last interval, [cdf[n], cdf[n + 1]), is the escape symbol.
struct CdfTable {
  std::int32_t offset = 0;
  int precision = kDefaultCdfPrecision;
  std::vector<std::uint32_t> cdf;

  int num_symbols() const { return static_cast<int>(cdf.size()) - 2; }
  std::uint32_t frequency(int symbol) const { return cdf[symbol + 1] - cdf[symbol]; }
  bool operator==(const CdfTable& o) const {
    return offset == o.offset && precision == o.precision && cdf == o.cdf;
  }
};

// Throws cae::Error naming `who` when the table breaks the invariants above,
// so that a corrupt table loaded with a model cannot make the coder misbehave.
inline void check_cdf_table(const CdfTable& t, const std::string& who) {
  CAE_CHECK(t.precision >= 1 && t.precision <= kMaxCdfPrecision, Error, who,
            ": CDF precision must be in [1, ", kMaxCdfPrecision, "] bits, got ", t.precision);
  const std::uint64_t total = std::uint64_t{1} << t.precision;
  CAE_CHECK(t.cdf.size() >= 2 && t.cdf.size() <= total + 1, Error, who, ": a ", t.precision,
            "-bit CDF needs between 2 and ", total + 1, " entries, got ", t.cdf.size());
  CAE_CHECK(t.cdf.front() == 0, Error, who, ": CDF must start at 0, got ", t.cdf.front());
  CAE_CHECK(t.cdf.back() == total, Error, who, ": CDF must end at 2^", t.precision, " = ", total,
            ", got ", t.cdf.back());
  for (std::size_t i = 1; i < t.cdf.size(); ++i)
    CAE_CHECK(t.cdf[i] > t.cdf[i - 1], Error, who, ": CDF is not strictly increasing at entry ",
              i, " (", t.cdf[i - 1], " then ", t.cdf[i], "): symbol ", i - 1,
              " would have zero frequency");
  // The largest value a table represents, offset + n - 1, must be an int32
  // (the decoder returns int32 values).
  const std::int64_t last = static_cast<std::int64_t>(t.offset) + t.num_symbols() - 1;
  CAE_CHECK(last <= std::numeric_limits<std::int32_t>::max(), Error, who, ": offset ", t.offset,
            " with ", t.num_symbols(), " symbols goes beyond int32");
}

// Integer frequencies for `weights` (non-negative integers, any scale) that
// sum to exactly 2^precision with each at least 1: 1 + floor(w * R / W) with
// R = 2^precision - n and W = sum(w), then the R - sum(floor) units left over
// go one each to the largest remainders (ties to the lower index). When all
// weights are 0 the frequencies are as equal as possible.
inline std::vector<std::uint32_t> quantize_frequencies(const std::vector<std::uint64_t>& weights,
                                                       int precision) {
  const std::uint64_t n = weights.size();
  CAE_CHECK(precision >= 1 && precision <= kMaxCdfPrecision, Error,
            "quantize_frequencies: precision must be in [1, ", kMaxCdfPrecision, "], got ",
            precision);
  const std::uint64_t total = std::uint64_t{1} << precision;
  CAE_CHECK(n >= 1 && n <= total, Error, "quantize_frequencies: ", n,
            " symbols do not fit a ", precision, "-bit table (at most ", total, ")");
  std::uint64_t w_sum = 0;
  for (std::uint64_t w : weights) {
    // Callers pass weights of at most 2^33 and at most 2^16 of them; the
    // bound keeps w * R below 2^64.
    CAE_CHECK(w <= (std::uint64_t{1} << 40), Error, "quantize_frequencies: weight ", w,
              " above 2^40");
    w_sum += w;
  }
  std::vector<std::uint32_t> freq(n, 1);
  const std::uint64_t spare = total - n;
  if (spare == 0) return freq;
  if (w_sum == 0) {
    for (std::uint64_t i = 0; i < n; ++i)
      freq[i] += static_cast<std::uint32_t>(spare / n + (i < spare % n ? 1 : 0));
    return freq;
  }
  std::vector<std::uint64_t> remainder(n);
  std::uint64_t given = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t share = weights[i] * spare;
    freq[i] += static_cast<std::uint32_t>(share / w_sum);
    remainder[i] = share % w_sum;
    given += share / w_sum;
  }
  std::uint64_t left = spare - given;  // < n
  if (left > 0) {
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return remainder[a] > remainder[b];
    });
    for (std::uint64_t k = 0; k < left; ++k) ++freq[order[k]];
  }
  return freq;
}

// The table for one pmf: pmf[s] is the probability of the value offset + s,
// tail_mass that of all values outside [offset, offset + pmf.size()). The
// probabilities need not sum to 1 (they are normalized); negative values and
// NaN are errors, as is a pmf longer than 2^precision - 1 symbols.
inline CdfTable pmf_to_cdf(const std::vector<float>& pmf, float tail_mass, std::int32_t offset,
                           int precision = kDefaultCdfPrecision) {
  CAE_CHECK(precision >= 1 && precision <= kMaxCdfPrecision, Error,
            "pmf_to_cdf: precision must be in [1, ", kMaxCdfPrecision, "] bits, got ", precision);
  const std::uint64_t total = std::uint64_t{1} << precision;
  CAE_CHECK(pmf.size() + 1 <= total, Error, "pmf_to_cdf: ", pmf.size(),
            " symbols and the escape do not fit a ", precision, "-bit table (at most ", total - 1,
            " symbols)");
  auto fixed_point = [](float p, const char* what, std::size_t i) -> std::uint64_t {
    CAE_CHECK(std::isfinite(p) && p >= 0.0f, Error, "pmf_to_cdf: ", what, " ", i, " is ", p,
              ", not a finite non-negative probability");
    // 2^32 fixed point; probabilities above 2 (unnormalized input) saturate.
    const double scaled = std::ldexp(static_cast<double>(std::min(p, 2.0f)), 32);
    return static_cast<std::uint64_t>(std::llround(scaled));
  };
  std::vector<std::uint64_t> weights(pmf.size() + 1);
  for (std::size_t i = 0; i < pmf.size(); ++i) weights[i] = fixed_point(pmf[i], "pmf entry", i);
  weights[pmf.size()] = fixed_point(tail_mass, "tail mass", 0);
  const std::vector<std::uint32_t> freq = quantize_frequencies(weights, precision);
  CdfTable t;
  t.offset = offset;
  t.precision = precision;
  t.cdf.resize(freq.size() + 1);
  t.cdf[0] = 0;
  for (std::size_t i = 0; i < freq.size(); ++i) t.cdf[i + 1] = t.cdf[i] + freq[i];
  check_cdf_table(t, "pmf_to_cdf");
  return t;
}

}  // namespace cae::codec
