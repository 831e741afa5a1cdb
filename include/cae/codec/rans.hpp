// A range asymmetric numeral system (rANS) coder driven by integer CDF tables
// (cae/codec/cdf.hpp), with an escape path for values outside a table.
//
//   bytes   = encode_with_indexes(symbols, indexes, tables);
//   symbols = decode_with_indexes(bytes, indexes, tables);
//
// symbols[i] is an int32 value (a rounded latent minus its median) and
// indexes[i] picks the table it is coded with; the decoder must be given the
// same indexes and tables (they come from the model and, for a hyperprior,
// from the already decoded side information).
//
// Design. A 32-bit state renormalized byte-wise (Giesen's rans_byte layout):
// the state x lives in [L, 256 L) with L = 2^23. Why byte-wise and not 16-bit
// renormalization with the same 32-bit state: 16-bit output keeps x only in
// [2^16, 2^32), so with 16-bit probabilities x / frequency can fall to 1,
// where the integer division of the coding step wastes rate; byte-wise keeps
// x >= 2^7 * 2^16, and tests/test_rans.cpp measures the coded size at most
// 0.1 % plus 5 bytes above the tables' ideal code length. The
// decoder then reads at most 3 bytes per symbol, in a loop whose bound follows
// from the arithmetic (see decode_with_indexes), whatever the input bytes are.
//
// Escapes (the idea of CompressAI's coder, written anew here): a value v with
// index i = v - offset outside [0, n) is coded as the table's escape symbol n,
// then the number k - 1 of 4-bit digits (one 4-bit digit, k <= 9), then the k
// digits, least significant first, of r = -2 i - 1 for i < 0 and
// r = 2 (i - n) for i >= n. Digits are "bypass" coded: a uniform 4-bit
// distribution through the same rANS state, so they cost exactly 4 bits.
//
// Stream layout: the final encoder state as 4 little-endian bytes, then the
// renormalization bytes in the order the decoder consumes them. An empty
// symbol sequence gives just the 4 state bytes.
//
// Untrusted input: decoding never reads outside [data, data + size), never
// loops beyond a fixed bound per symbol, and allocates only the output (one
// int32 per index, a size the caller chose). It throws cae::IoError naming
// `source` when the stream is truncated, has bytes left over, does not end in
// the encoder's initial state, or holds an impossible escape. Other corruption
// can decode to wrong symbols without an error: the .cae container's CRC-32
// (cae/codec/container.hpp), checked before any stream is decoded, is what
// rejects those.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "cae/codec/cdf.hpp"
#include "cae/error.hpp"

namespace cae::codec {

namespace rans_detail {

inline constexpr std::uint32_t kLower = 1u << 23;  // L: the state is in [L, 256 L)
inline constexpr int kBypassBits = 4;
inline constexpr std::uint32_t kBypassMask = (1u << kBypassBits) - 1;
// An escaped r is below 2^34 (|v - offset| < 2^33), so 9 digits of 4 bits suffice.
inline constexpr int kMaxBypassDigits = 9;

// One coding step, recorded in decoding order and replayed backwards by the encoder.
struct Step {
  std::uint32_t start;
  std::uint32_t freq;
  std::uint32_t precision;
};

inline void check_tables(const std::vector<CdfTable>& tables, const char* who) {
  CAE_CHECK(tables.size() <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
            Error, who, ": too many tables");
  for (std::size_t t = 0; t < tables.size(); ++t)
    check_cdf_table(tables[t], std::string(who) + ": table " + std::to_string(t));
}

inline const CdfTable& table_for(const std::vector<CdfTable>& tables,
                                 const std::vector<std::int32_t>& indexes, std::size_t i,
                                 const char* who) {
  const std::int32_t t = indexes[i];
  CAE_CHECK(t >= 0 && static_cast<std::size_t>(t) < tables.size(), Error, who, ": index ", i,
            " selects table ", t, " but there are ", tables.size(), " tables");
  return tables[static_cast<std::size_t>(t)];
}

// Appends the steps that code `value` with table t.
inline void push_value(std::vector<Step>& steps, const CdfTable& t, std::int32_t value) {
  const std::int64_t n = t.num_symbols();
  const std::int64_t i = static_cast<std::int64_t>(value) - t.offset;
  const auto p = static_cast<std::uint32_t>(t.precision);
  if (i >= 0 && i < n) {
    const auto s = static_cast<std::size_t>(i);
    steps.push_back({t.cdf[s], t.cdf[s + 1] - t.cdf[s], p});
    return;
  }
  const auto esc = static_cast<std::size_t>(n);
  steps.push_back({t.cdf[esc], t.cdf[esc + 1] - t.cdf[esc], p});
  const std::uint64_t r = i < 0 ? static_cast<std::uint64_t>(-2 * i - 1)
                                : static_cast<std::uint64_t>(2 * (i - n));
  int digits = 1;
  while (digits < kMaxBypassDigits && (r >> (kBypassBits * digits)) != 0) ++digits;
  steps.push_back({static_cast<std::uint32_t>(digits - 1), 1, kBypassBits});
  for (int d = 0; d < digits; ++d)
    steps.push_back({static_cast<std::uint32_t>((r >> (kBypassBits * d)) & kBypassMask), 1,
                     kBypassBits});
}

}  // namespace rans_detail

// Codes symbols[i] with tables[indexes[i]]; see the top of this file.
inline std::vector<std::uint8_t> encode_with_indexes(const std::vector<std::int32_t>& symbols,
                                                     const std::vector<std::int32_t>& indexes,
                                                     const std::vector<CdfTable>& tables) {
  using namespace rans_detail;
  const char* who = "encode_with_indexes";
  CAE_CHECK(symbols.size() == indexes.size(), Error, who, ": ", symbols.size(), " symbols but ",
            indexes.size(), " indexes");
  check_tables(tables, who);
  std::vector<Step> steps;
  steps.reserve(symbols.size());
  for (std::size_t i = 0; i < symbols.size(); ++i)
    push_value(steps, table_for(tables, indexes, i, who), symbols[i]);

  // rANS is last-in first-out: encode the steps backwards, collect the output
  // bytes backwards, and reverse once at the end.
  std::vector<std::uint8_t> out;
  out.reserve(steps.size() / 2 + 16);
  std::uint32_t x = kLower;
  for (std::size_t k = steps.size(); k-- > 0;) {
    const Step& s = steps[k];
    // The largest state from which coding s stays below 256 L.
    const std::uint32_t x_max = ((kLower >> s.precision) << 8) * s.freq;
    while (x >= x_max) {
      out.push_back(static_cast<std::uint8_t>(x & 0xFF));
      x >>= 8;
    }
    x = ((x / s.freq) << s.precision) + (x % s.freq) + s.start;
  }
  for (int b = 3; b >= 0; --b) out.push_back(static_cast<std::uint8_t>(x >> (8 * b)));
  std::reverse(out.begin(), out.end());
  return out;
}

// The inverse of encode_with_indexes; `source` names the stream in errors.
inline std::vector<std::int32_t> decode_with_indexes(const std::uint8_t* data, std::size_t size,
                                                     const std::vector<std::int32_t>& indexes,
                                                     const std::vector<CdfTable>& tables,
                                                     const std::string& source = "rANS stream") {
  using namespace rans_detail;
  const char* who = "decode_with_indexes";
  check_tables(tables, who);
  CAE_CHECK(size >= 4, IoError, source, ": ", size,
            " bytes, shorter than the 4-byte rANS state (truncated)");
  std::size_t pos = 4;
  std::uint32_t x = static_cast<std::uint32_t>(data[0]) | static_cast<std::uint32_t>(data[1]) << 8 |
                    static_cast<std::uint32_t>(data[2]) << 16 |
                    static_cast<std::uint32_t>(data[3]) << 24;
  CAE_CHECK(x >= kLower && x < (kLower << 8), IoError, source, ": initial rANS state ", x,
            " outside [2^23, 2^31) (corrupt stream)");

  // Every step keeps x in [L, 256 L): with x < 2^31 and frequency f <= 2^p,
  // f (x >> p) + (slot - start) < f ((x >> p) + 1) <= 2^31, and it is at
  // least x >> p >= 2^(23 - p) >= 1, so at most 3 bytes bring it back to >= L.
  auto renormalize = [&]() {
    while (x < kLower) {
      CAE_CHECK(pos < size, IoError, source, ": stream ends after ", size,
                " bytes while symbols remain (truncated)");
      x = (x << 8) | data[pos++];
    }
  };
  auto bypass = [&]() -> std::uint32_t {
    const std::uint32_t v = x & kBypassMask;
    x >>= kBypassBits;
    renormalize();
    return v;
  };

  std::vector<std::int32_t> out(indexes.size());
  for (std::size_t i = 0; i < indexes.size(); ++i) {
    const CdfTable& t = table_for(tables, indexes, i, who);
    const std::uint32_t slot = x & ((1u << t.precision) - 1);
    // The symbol whose interval [cdf[s], cdf[s + 1]) holds slot; cdf[0] = 0 and
    // cdf.back() = 2^p > slot keep s inside [0, n].
    const auto s = static_cast<std::size_t>(
        std::upper_bound(t.cdf.begin(), t.cdf.end(), slot) - t.cdf.begin() - 1);
    const std::uint32_t start = t.cdf[s], freq = t.cdf[s + 1] - start;
    x = freq * (x >> t.precision) + slot - start;
    renormalize();
    const std::int64_t n = t.num_symbols();
    std::int64_t index;
    if (static_cast<std::int64_t>(s) < n) {
      index = static_cast<std::int64_t>(s);
    } else {
      const int digits = static_cast<int>(bypass()) + 1;
      CAE_CHECK(digits <= kMaxBypassDigits, IoError, source, ": symbol ", i, " escapes with ",
                digits, " digits, more than any int32 needs (corrupt stream)");
      std::uint64_t r = 0;
      for (int d = 0; d < digits; ++d) r |= static_cast<std::uint64_t>(bypass()) << (kBypassBits * d);
      index = (r & 1) ? -static_cast<std::int64_t>((r + 1) / 2) : static_cast<std::int64_t>(r / 2) + n;
    }
    const std::int64_t value = t.offset + index;
    CAE_CHECK(value >= std::numeric_limits<std::int32_t>::min() &&
                  value <= std::numeric_limits<std::int32_t>::max(),
              IoError, source, ": symbol ", i, " decodes to ", value,
              ", outside int32 (corrupt stream)");
    out[i] = static_cast<std::int32_t>(value);
  }
  CAE_CHECK(pos == size, IoError, source, ": ", size - pos, " bytes left after the last of ",
            indexes.size(), " symbols (corrupt stream, or the wrong indexes)");
  CAE_CHECK(x == kLower, IoError, source, ": final rANS state ", x, " is not the initial ",
            kLower, " (corrupt stream, or the wrong tables or indexes)");
  return out;
}

inline std::vector<std::int32_t> decode_with_indexes(const std::vector<std::uint8_t>& bytes,
                                                     const std::vector<std::int32_t>& indexes,
                                                     const std::vector<CdfTable>& tables,
                                                     const std::string& source = "rANS stream") {
  return decode_with_indexes(bytes.data(), bytes.size(), indexes, tables, source);
}

// The ideal code length in bits of symbols under the integer tables:
// sum of -log2(frequency / 2^precision), plus 4 bits per bypass digit of each
// escape. encode_with_indexes' output is this plus a few bytes.
inline double ideal_code_length_bits(const std::vector<std::int32_t>& symbols,
                                     const std::vector<std::int32_t>& indexes,
                                     const std::vector<CdfTable>& tables) {
  using namespace rans_detail;
  const char* who = "ideal_code_length_bits";
  CAE_CHECK(symbols.size() == indexes.size(), Error, who, ": ", symbols.size(), " symbols but ",
            indexes.size(), " indexes");
  check_tables(tables, who);
  double bits = 0;
  std::vector<Step> steps;
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    steps.clear();
    push_value(steps, table_for(tables, indexes, i, who), symbols[i]);
    for (const Step& s : steps)
      bits += s.precision - std::log2(static_cast<double>(s.freq));
  }
  return bits;
}

}  // namespace cae::codec
