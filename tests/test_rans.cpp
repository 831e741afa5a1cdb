// The integer CDF tables (cae/codec/cdf.hpp) and the rANS coder (cae/codec/rans.hpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "cae/codec/cdf.hpp"
#include "cae/codec/rans.hpp"

using namespace cae;
using namespace cae::codec;

namespace {

// A pmf of n symbols: flat, or a discretized Laplacian of random width (the
// shape of a learned latent's distribution), sharply peaked for small widths.
std::vector<float> random_pmf(std::mt19937_64& rng, int n, bool flat) {
  std::vector<float> p(static_cast<std::size_t>(n));
  if (flat) {
    for (float& v : p) v = 1.0f;
  } else {
    const double width = std::exp(std::uniform_real_distribution<double>(-3.0, 3.0)(rng));
    const double centre = std::uniform_real_distribution<double>(0.0, n - 1.0)(rng);
    for (int s = 0; s < n; ++s) p[s] = static_cast<float>(std::exp(-std::abs(s - centre) / width));
  }
  double sum = 0;
  for (float v : p) sum += v;
  for (float& v : p) v = static_cast<float>(v / sum);
  return p;
}

// Draws a value from table t's own frequencies, the escape giving a random
// value outside the table (sometimes at the ends of int32).
std::int32_t draw(std::mt19937_64& rng, const CdfTable& t) {
  const std::uint32_t slot = static_cast<std::uint32_t>(rng() & ((1u << t.precision) - 1));
  int s = 0;
  while (t.cdf[s + 1] <= slot) ++s;
  if (s < t.num_symbols()) return t.offset + s;
  switch (rng() % 4) {
    case 0: return t.offset - 1 - static_cast<std::int32_t>(rng() % 50);
    case 1: return static_cast<std::int32_t>(t.offset + t.num_symbols() + rng() % 1000);
    case 2: return std::numeric_limits<std::int32_t>::min();
    default: return std::numeric_limits<std::int32_t>::max();
  }
}

}  // namespace

TEST_CASE("pmf_to_cdf: exact integers, escape, every frequency >= 1", "[codec][cdf]") {
  // Hand-computed: 12 units are spread over 4 symbols after the 1 each gets:
  // 0.5 * 12 = 6, 3, 3 and 0 for the (zero) tail: frequencies 7, 4, 4, 1.
  const CdfTable t = pmf_to_cdf({0.5f, 0.25f, 0.25f}, 0.0f, -1, 4);
  CHECK(t.cdf == std::vector<std::uint32_t>{0, 7, 11, 15, 16});
  CHECK(t.offset == -1);
  CHECK(t.num_symbols() == 3);
  // Remainders: 5 symbols of weight 1/5 share 16 - 5 = 11 units: 2 each and
  // one left, which goes to the first of the equal remainders.
  CHECK(quantize_frequencies({1, 1, 1, 1, 1}, 4) == std::vector<std::uint32_t>{4, 3, 3, 3, 3});
  // All-zero weights: as even as possible.
  CHECK(quantize_frequencies({0, 0, 0}, 3) == std::vector<std::uint32_t>{3, 3, 2});
  // A table with no room to spare: every symbol gets exactly 1.
  CHECK(quantize_frequencies({5, 0, 7, 1}, 2) == std::vector<std::uint32_t>{1, 1, 1, 1});

  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int precision = 8 + trial % 9;
    const int n = 1 + static_cast<int>(rng() % std::min<std::uint64_t>(400, (1u << precision) - 2));
    const std::vector<float> pmf = random_pmf(rng, n, trial % 5 == 0);
    const float tail = trial % 3 == 0 ? 0.0f : 1e-9f * static_cast<float>(trial);
    const CdfTable c = pmf_to_cdf(pmf, tail, -n / 2, precision);
    REQUIRE(c.num_symbols() == n);
    CHECK(c.cdf.back() == (1u << precision));
    for (int s = 0; s <= n; ++s) CHECK(c.frequency(s) >= 1);
    CHECK_NOTHROW(check_cdf_table(c, "test"));
    // The same pmf gives the same integers (nothing depends on state or order).
    CHECK(pmf_to_cdf(pmf, tail, -n / 2, precision) == c);
  }
  // An empty pmf leaves only the escape: every value is coded through it.
  CHECK(pmf_to_cdf({}, 1.0f, 0).cdf == std::vector<std::uint32_t>{0, 65536});
}

TEST_CASE("pmf_to_cdf and check_cdf_table reject bad input", "[codec][cdf]") {
  CHECK_THROWS_WITH(pmf_to_cdf({0.5f, -0.1f}, 0.0f, 0), Catch::Contains("pmf entry 1 is -0.1"));
  CHECK_THROWS_WITH(pmf_to_cdf({std::nanf("")}, 0.0f, 0), Catch::Contains("pmf entry 0"));
  CHECK_THROWS_WITH(pmf_to_cdf({1.0f}, std::numeric_limits<float>::infinity(), 0),
                    Catch::Contains("tail mass"));
  CHECK_THROWS_WITH(pmf_to_cdf(std::vector<float>(16, 0.1f), 0.0f, 0, 4),
                    Catch::Contains("do not fit a 4-bit table"));
  CHECK_THROWS_WITH(pmf_to_cdf({1.0f}, 0.0f, 0, 17), Catch::Contains("precision must be in [1, 16]"));
  CHECK_THROWS_WITH(pmf_to_cdf({1.0f, 1.0f}, 0.0f, std::numeric_limits<std::int32_t>::max()),
                    Catch::Contains("goes beyond int32"));

  CdfTable t;
  t.precision = 4;
  t.cdf = {0, 5, 5, 16};
  CHECK_THROWS_WITH(check_cdf_table(t, "model.safetensors table 3"),
                    Catch::Contains("model.safetensors table 3: CDF is not strictly increasing at entry 2"));
  t.cdf = {0, 5, 15};
  CHECK_THROWS_WITH(check_cdf_table(t, "t"), Catch::Contains("must end at 2^4 = 16, got 15"));
  t.cdf = {1, 5, 16};
  CHECK_THROWS_WITH(check_cdf_table(t, "t"), Catch::Contains("must start at 0"));
  t.cdf = {16};
  CHECK_THROWS_WITH(check_cdf_table(t, "t"), Catch::Contains("needs between 2 and 17 entries"));
  t.cdf = {0, 16};
  t.precision = 0;
  CHECK_THROWS_WITH(check_cdf_table(t, "t"), Catch::Contains("precision must be in [1, 16]"));
}

TEST_CASE("rANS round trips random streams exactly", "[codec][rans]") {
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    std::vector<CdfTable> tables;
    const int n_tables = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n_tables; ++k) {
      const int precision = seed % 4 == 0 ? 16 : 10 + static_cast<int>(rng() % 7);
      const int n = 1 + static_cast<int>(rng() % 200);
      const bool flat = rng() % 4 == 0;
      const float tail = rng() % 3 == 0 ? 0.0f : 1e-3f;
      const std::int32_t offset = static_cast<std::int32_t>(rng() % 2001) - 1000;
      tables.push_back(pmf_to_cdf(random_pmf(rng, n, flat), tail, offset, precision));
    }
    const std::size_t count = seed % 10 == 0 ? 0 : rng() % 20000;
    std::vector<std::int32_t> symbols(count), indexes(count);
    for (std::size_t i = 0; i < count; ++i) {
      indexes[i] = static_cast<std::int32_t>(rng() % tables.size());
      symbols[i] = draw(rng, tables[indexes[i]]);
    }
    const std::vector<std::uint8_t> bytes = encode_with_indexes(symbols, indexes, tables);
    CHECK(decode_with_indexes(bytes, indexes, tables) == symbols);
    // The same input always gives the same bytes.
    CHECK(encode_with_indexes(symbols, indexes, tables) == bytes);
  }
}

TEST_CASE("rANS: empty streams, single-symbol and escape-only tables", "[codec][rans]") {
  const std::vector<CdfTable> one = {pmf_to_cdf({1.0f}, 1e-6f, 3)};
  // Nothing to code: just the 4-byte state, which decodes to nothing.
  const auto empty = encode_with_indexes({}, {}, one);
  CHECK(empty.size() == 4);
  CHECK(decode_with_indexes(empty, {}, one).empty());

  // A single-symbol table: 10,000 copies of its value cost about nothing.
  std::vector<std::int32_t> symbols(10000, 3), indexes(10000, 0);
  const auto bytes = encode_with_indexes(symbols, indexes, one);
  CHECK(bytes.size() <= 8);
  CHECK(decode_with_indexes(bytes, indexes, one) == symbols);
  // ... and values beside it escape.
  symbols[17] = 4;
  symbols[9000] = -2000000000;
  CHECK(decode_with_indexes(encode_with_indexes(symbols, indexes, one), indexes, one) == symbols);

  // A table with no symbols: every value escapes, including the ends of int32.
  const std::vector<CdfTable> none = {pmf_to_cdf({}, 1.0f, 0)};
  const std::vector<std::int32_t> values = {0, 1, -1, 15, -16, 123456,
                                            std::numeric_limits<std::int32_t>::min(),
                                            std::numeric_limits<std::int32_t>::max()};
  const std::vector<std::int32_t> zeros(values.size(), 0);
  CHECK(decode_with_indexes(encode_with_indexes(values, zeros, none), zeros, none) == values);
  // Escape cost: 4 bits for the digit count, then 4 bits per digit of r:
  // value 0 -> r = 0, 1 digit; int32 max -> r = 2 * (2^31 - 1), 8 digits.
  CHECK(ideal_code_length_bits({0}, {0}, none) == Approx(8.0));
  CHECK(ideal_code_length_bits({std::numeric_limits<std::int32_t>::max()}, {0}, none) ==
        Approx(36.0));
  // Far from an offset near int32's end, r needs all 9 digits.
  const std::vector<CdfTable> high = {pmf_to_cdf({1.0f}, 0.1f, std::numeric_limits<std::int32_t>::max())};
  const std::vector<std::int32_t> far = {std::numeric_limits<std::int32_t>::min()};
  CHECK(decode_with_indexes(encode_with_indexes(far, {0}, high), {0}, high) == far);
}

TEST_CASE("rANS coding cost is within 0.1 % of the tables' ideal code length", "[codec][rans]") {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(100 + seed);
    std::vector<CdfTable> tables;
    for (int k = 0; k < 8; ++k)
      tables.push_back(pmf_to_cdf(random_pmf(rng, 1 + static_cast<int>(rng() % 100), k == 0),
                                  1e-4f, -50, 16));
    const std::size_t count = 50000;
    std::vector<std::int32_t> symbols(count), indexes(count);
    for (std::size_t i = 0; i < count; ++i) {
      indexes[i] = static_cast<std::int32_t>(rng() % tables.size());
      symbols[i] = draw(rng, tables[indexes[i]]);
    }
    const double ideal = ideal_code_length_bits(symbols, indexes, tables);
    const double actual = 8.0 * static_cast<double>(encode_with_indexes(symbols, indexes, tables).size());
    // Upper: 0.1 % plus the 32-bit final state and a byte (measured: 24 to 31
    // bits above the ideal 100 to 165 kbit). Lower: rANS cannot beat the ideal
    // length by more than the state it carries.
    CHECK(actual <= 1.001 * ideal + 40);
    CHECK(actual >= ideal - 32);
  }
}

TEST_CASE("rANS decoding rejects corrupt and truncated streams", "[codec][rans]") {
  std::mt19937_64 rng(5);
  std::vector<CdfTable> tables;
  for (int k = 0; k < 4; ++k) tables.push_back(pmf_to_cdf(random_pmf(rng, 40, false), 1e-3f, -20));
  std::vector<std::int32_t> symbols(3000), indexes(3000);
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    indexes[i] = static_cast<std::int32_t>(i % tables.size());
    symbols[i] = draw(rng, tables[indexes[i]]);
  }
  const auto bytes = encode_with_indexes(symbols, indexes, tables);

  // Too short, cut anywhere, or with a byte too many: always an error.
  CHECK_THROWS_AS(decode_with_indexes(bytes.data(), 3, indexes, tables, "s"), IoError);
  CHECK_THROWS_WITH(decode_with_indexes(bytes.data(), 0, indexes, tables, "img.cae stream 0"),
                    Catch::Contains("img.cae stream 0: 0 bytes, shorter than the 4-byte rANS state"));
  for (std::size_t cut = 4; cut < bytes.size(); cut += 1 + cut / 8)
    CHECK_THROWS_AS(decode_with_indexes(bytes.data(), cut, indexes, tables, "s"), IoError);
  auto longer = bytes;
  longer.push_back(0);
  CHECK_THROWS_WITH(decode_with_indexes(longer, indexes, tables, "s"),
                    Catch::Contains("1 bytes left after the last of 3000 symbols"));
  // Too few indexes: bytes are left over or the final state is wrong.
  std::vector<std::int32_t> fewer(indexes.begin(), indexes.end() - 1);
  CHECK_THROWS_AS(decode_with_indexes(bytes, fewer, tables, "s"), IoError);

  // Random byte corruption: never a crash; almost always detected by the
  // coder itself (the .cae container's CRC catches the rest).
  int detected = 0, trials = 300;
  for (int k = 0; k < trials; ++k) {
    auto bad = bytes;
    bad[rng() % bad.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
    try {
      const auto out = decode_with_indexes(bad, indexes, tables, "s");
      CHECK(out.size() == symbols.size());
    } catch (const IoError&) {
      ++detected;
    }
  }
  CHECK(detected >= trials * 95 / 100);
  // A state outside [2^23, 2^31) in the first 4 bytes.
  auto bad_state = bytes;
  bad_state[3] = 0x80;
  CHECK_THROWS_WITH(decode_with_indexes(bad_state, indexes, tables, "s"),
                    Catch::Contains("initial rANS state"));
}

TEST_CASE("rANS rejects inconsistent arguments", "[codec][rans]") {
  const std::vector<CdfTable> tables = {pmf_to_cdf({0.5f, 0.5f}, 0.01f, 0)};
  CHECK_THROWS_WITH(encode_with_indexes({0, 1}, {0}, tables), Catch::Contains("2 symbols but 1 indexes"));
  CHECK_THROWS_WITH(encode_with_indexes({0, 1}, {0, 1}, tables),
                    Catch::Contains("index 1 selects table 1 but there are 1 tables"));
  CHECK_THROWS_WITH(encode_with_indexes({0}, {-1}, tables), Catch::Contains("selects table -1"));
  const auto bytes = encode_with_indexes({0, 1}, {0, 0}, tables);
  CHECK_THROWS_WITH(decode_with_indexes(bytes, {0, 3}, tables),
                    Catch::Contains("index 1 selects table 3"));
  std::vector<CdfTable> broken = tables;
  broken[0].cdf[1] = 0;
  CHECK_THROWS_WITH(encode_with_indexes({0}, {0}, broken),
                    Catch::Contains("encode_with_indexes: table 0: CDF is not strictly increasing"));
  CHECK_THROWS_WITH(decode_with_indexes(bytes, {0, 0}, broken), Catch::Contains("table 0"));
}
