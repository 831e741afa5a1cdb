// The codec's model files (safetensors): what a released model carries beside
// the network's weights, and how the loader checks it. Layout in
// docs/file-format.md ("Codec model files").
//
// The integer CDF tables are stored as CompressAI's state_dict stores them
// after update(), all int32:
//   entropy_bottleneck._quantized_cdf  [M, L]  row c: the table's CDF, then zeros up to L
//   entropy_bottleneck._offset         [M]     the value of row c's first symbol
//   entropy_bottleneck._cdf_length     [M]     how many entries of row c are the CDF
// Why stored: the tables come from the density network's float math (exp,
// log, softplus); another libm, compiler or instruction set could round one
// pmf entry differently and give the decoder other integers than the encoder
// used, and rANS would then decode garbage. Integers read from the file are
// the same everywhere. A training output (no tables) still loads: its tables
// are computed at load time, which is exact only on the machine that encodes
// and decodes.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "cae/codec/cdf.hpp"
#include "cae/codec/entropy_models.hpp"
#include "cae/error.hpp"
#include "cae/io/safetensors.hpp"

namespace cae::codec {

// Metadata keys the codec itself reads or the export writes; --info may not set them.
inline constexpr const char* kMetaArchitecture = "model";
inline constexpr const char* kMetaQuality = "quality";
inline constexpr const char* kMetaCdfPrecision = "cdf_precision";
inline constexpr const char* kMetaWeights = "weights_dtype";
inline constexpr const char* kMetaFormat = "format";
inline constexpr const char* kModelFileFormat = "cae-codec-model/1";

struct StoredTableNames {
  std::string cdf, offset, length;
};
// The three tensor names of the tables of the entropy model at `prefix`
// ("entropy_bottleneck").
inline StoredTableNames stored_table_names(const std::string& prefix) {
  return {prefix + "._quantized_cdf", prefix + "._offset", prefix + "._cdf_length"};
}
inline bool is_stored_table(const std::string& tensor, const std::string& prefix) {
  const StoredTableNames n = stored_table_names(prefix);
  return tensor == n.cdf || tensor == n.offset || tensor == n.length;
}

// A metadata value that must be a decimal integer in [low, high] (no sign, no
// spaces, at most 9 digits); `fallback` when the key is absent.
inline int metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key,
                        int low, int high, int fallback, const std::string& file) {
  const auto it = metadata.find(key);
  if (it == metadata.end()) return fallback;
  const std::string& v = it->second;
  bool digits = !v.empty() && v.size() <= 9;
  for (char c : v) digits = digits && c >= '0' && c <= '9';
  CAE_CHECK(digits, IoError, file, ": metadata '", key, "' is \"", v.substr(0, 40),
            v.size() > 40 ? "..." : "", "\", not a whole number");
  const long long n = std::stoll(v);
  CAE_CHECK(n >= low && n <= high, IoError, file, ": metadata '", key, "' is ", n, ", outside ", low,
            "..", high);
  return static_cast<int>(n);
}

// The integer tables for an entropy bottleneck's current parameters (its
// update()): one per channel, `precision` bits.
template <typename T>
std::vector<CdfTable> factorized_cdf_tables(const EntropyBottleneck<T>& eb,
                                            int precision = kDefaultCdfPrecision) {
  std::vector<CdfTable> out;
  for (const EntropyTable& t : eb.tables())
    out.push_back(pmf_to_cdf(std::vector<float>(t.pmf.begin(), t.pmf.end()),
                             static_cast<float>(t.tail_mass), t.offset, precision));
  return out;
}

// The tables of the entropy model at `prefix` as stored in `file` (named
// `name` in errors), `channels` of them; empty when the file stores none (a
// training output). Everything is untrusted: dtypes, shapes, lengths, every
// CDF (0 first, 2^precision last, strictly increasing), the padding (zeros),
// and the offsets (each table's values must include 0, as update() makes
// them). Throws IoError naming the file and the tensor.
inline std::vector<CdfTable> read_stored_tables(const safetensors::File& file, const std::string& prefix,
                                                index_t channels, const std::string& name) {
  const StoredTableNames n = stored_table_names(prefix);
  const bool has_cdf = file.contains(n.cdf), has_offset = file.contains(n.offset),
             has_length = file.contains(n.length);
  if (!has_cdf && !has_offset && !has_length) return {};
  for (const std::string* t : {&n.cdf, &n.offset, &n.length})
    CAE_CHECK(file.contains(*t), IoError, name, ": tensor '", *t,
              "' is missing (a model file stores all three of ", n.cdf, ", ", n.offset, ", ",
              n.length, " or none)");
  const int precision =
      metadata_int(file.metadata(), kMetaCdfPrecision, 1, kMaxCdfPrecision, kDefaultCdfPrecision, name);
  const std::int64_t max_length = (std::int64_t{1} << precision) + 1;
  auto check_entry = [&](const std::string& t, const Shape& want) {
    const safetensors::File::Entry& e = file.entry(t);
    CAE_CHECK(e.dtype == "I32", IoError, name, ": tensor '", t, "' is ", e.dtype, ", not I32");
    CAE_CHECK(e.shape == want, IoError, name, ": tensor '", t, "' has shape ", e.shape, ", expected ", want);
  };
  const Shape& cdf_shape = file.entry(n.cdf).shape;
  CAE_CHECK(cdf_shape.rank() == 2 && cdf_shape[0] == channels && cdf_shape[1] >= 2 &&
                cdf_shape[1] <= max_length,
            IoError, name, ": tensor '", n.cdf, "' has shape ", cdf_shape, ", expected [", channels,
            ", L] with 2 <= L <= ", max_length, " (", precision, "-bit tables)");
  check_entry(n.cdf, cdf_shape);
  check_entry(n.offset, Shape{channels});
  check_entry(n.length, Shape{channels});
  const index_t L = cdf_shape[1];
  // int32 values are exact in double.
  const Tensor<double> cdf = file.get<double>(n.cdf), offset = file.get<double>(n.offset),
                       length = file.get<double>(n.length);
  std::vector<CdfTable> out(static_cast<std::size_t>(channels));
  for (index_t c = 0; c < channels; ++c) {
    const std::string row = str(name, ": tensor '", n.cdf, "' row ", c);
    const double len = length[c];
    CAE_CHECK(len >= 2 && len <= double(L), IoError, name, ": tensor '", n.length, "' entry ", c, " is ",
              len, ", outside 2..", L);
    CdfTable& t = out[static_cast<std::size_t>(c)];
    t.precision = precision;
    t.offset = static_cast<std::int32_t>(offset[c]);
    for (index_t i = 0; i < L; ++i) {
      const double v = cdf[c * L + i];
      if (i < static_cast<index_t>(len)) {
        CAE_CHECK(v >= 0, IoError, row, ": entry ", i, " is negative (", v, ")");
        t.cdf.push_back(static_cast<std::uint32_t>(v));
      } else {
        CAE_CHECK(v == 0, IoError, row, ": entry ", i, " is ", v, " after the CDF's ", len,
                  " entries (the padding must be 0)");
      }
    }
    try {
      check_cdf_table(t, row);
    } catch (const IoError&) {
      throw;
    } catch (const Error& e) {
      throw IoError(e.what());
    }
    const std::int64_t first = t.offset, last = first + t.num_symbols() - 1;
    CAE_CHECK(first <= 0 && last >= 0, IoError, name, ": tensor '", n.offset, "' entry ", c, " is ",
              t.offset, ": with ", t.num_symbols(), " symbols the table covers ", first, "..", last,
              ", which must include 0");
  }
  return out;
}

// The three int32 tensors of `tables` (the layout above), as float tensors
// holding integers (exact: CDF values are at most 2^16, offsets at most 2^16
// in size) to be written with safetensors::save(..., int32_names).
struct TableTensors {
  Tensor<float> cdf, offset, length;
};
inline TableTensors table_tensors(const std::vector<CdfTable>& tables) {
  CAE_CHECK(!tables.empty(), Error, "table_tensors: no tables");
  index_t L = 0;
  for (const CdfTable& t : tables) L = std::max(L, static_cast<index_t>(t.cdf.size()));
  const index_t C = static_cast<index_t>(tables.size());
  TableTensors out{Tensor<float>({C, L}), Tensor<float>({C}), Tensor<float>({C})};
  out.cdf.zero();
  for (index_t c = 0; c < C; ++c) {
    const CdfTable& t = tables[static_cast<std::size_t>(c)];
    check_cdf_table(t, str("table_tensors: table ", c));
    CAE_CHECK(t.precision == tables[0].precision, Error, "table_tensors: table ", c, " has ",
              t.precision, "-bit precision, table 0 ", tables[0].precision);
    for (std::size_t i = 0; i < t.cdf.size(); ++i) out.cdf[c * L + static_cast<index_t>(i)] = static_cast<float>(t.cdf[i]);
    out.offset[c] = static_cast<float>(t.offset);
    out.length[c] = static_cast<float>(t.cdf.size());
  }
  return out;
}

}  // namespace cae::codec
