// safetensors (https://github.com/huggingface/safetensors) reading and writing,
// so weights move between cae and PyTorch:
//   8 bytes   little-endian u64 N, the header size
//   N bytes   JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
//                    "__metadata__": {"key": "value"}}
//   rest      tensor data, little-endian, offsets relative to its start
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cae/checked.hpp"
#include "cae/io/file.hpp"
#include "cae/io/json.hpp"
#include "cae/tensor.hpp"

namespace cae::safetensors {

namespace detail {
inline bool host_is_little_endian() {
  const std::uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}
inline void to_little_endian(unsigned char* p, std::size_t elem, std::size_t count) {
  if (host_is_little_endian()) return;
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j = 0; j < elem / 2; ++j) std::swap(p[i * elem + j], p[i * elem + elem - 1 - j]);
}
inline std::size_t dtype_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "U8" || dtype == "I8" || dtype == "BOOL") return 1;
  return 0;
}
template <typename T>
const char* dtype_name() {
  return sizeof(T) == 8 ? "F64" : "F32";
}

// IEEE 754 binary16 to float, exactly (subnormals, infinities and NaN included).
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    int e = -1;
    std::uint32_t m = mant;
    do {
      ++e;
      m <<= 1;
    } while ((m & 0x400u) == 0);
    bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((m & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
// float to binary16, rounding to nearest even as PyTorch's .half() does;
// values beyond 65504 become infinity.
inline std::uint16_t float_to_half(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to above 65504
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
    const std::uint32_t e = abs >> 23, m = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // from units of 2^(e - 150) to the subnormal unit 2^-24
    std::uint32_t v = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (v & 1u))) ++v;
    return static_cast<std::uint16_t>(sign | v);
  }
  std::uint32_t v = ((abs >> 13) - (112u << 10));
  const std::uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (v & 1u))) ++v;
  return static_cast<std::uint16_t>(sign | v);
}
inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline std::uint16_t float_to_bf16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);  // NaN stays NaN
  x += 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
  return static_cast<std::uint16_t>(x >> 16);
}

// PyTorch's BatchNorm step counter, an int64 tensor in its state_dict.
inline bool is_batch_counter(const std::string& name) {
  const std::string key = "num_batches_tracked";
  return name == key ||
         (name.size() > key.size() && name.compare(name.size() - key.size() - 1, std::string::npos, "." + key) == 0);
}

// A header number that must be an exact non-negative integer (JSON numbers
// are doubles here: above 2^53 they are no longer exact).
inline std::uint64_t header_integer(const json::Value& v, const char* what) {
  CAE_CHECK(v.is_integer(), IoError, what, " must be an integer, got ", v.is_number() ? "a fraction or exponent" : "a non-number");
  const double x = v.as_number();
  CAE_CHECK(x >= 0 && x <= 9007199254740992.0, IoError, what, " ", x, " is out of range");
  return static_cast<std::uint64_t>(x);
}
}  // namespace detail

// The element type a tensor is written with: the tensor's own (F32 for float,
// F64 for double), or half precision to halve the file (PyTorch's
// model.half() / model.bfloat16()). BatchNorm's num_batches_tracked is always
// written as I64, as PyTorch writes it.
enum class StoreAs { Native, F16, BF16 };

class File {
 public:
  struct Entry {
    std::string dtype;
    Shape shape;
    std::size_t begin = 0, end = 0;
  };

  // Reads and validates the whole file; every problem throws IoError naming it.
  static File load(const std::string& path) { return parse(io::read_file(path), path); }

  // The largest header accepted, as in the reference implementation.
  static constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;

  // Validates a safetensors image held in memory; `path` names it in errors.
  // Beyond the format's own rules (JSON header, known dtypes, shapes that fit
  // their byte ranges), the tensors' byte ranges must tile the data exactly:
  // no overlap (one tensor read from another's bytes), no hole, nothing after
  // the last tensor; sizes and offsets must be exact integers, and duplicate
  // keys are refused.
  static File parse(std::vector<unsigned char> bytes, const std::string& path) {
    File f;
    f.path_ = path;
    f.bytes_ = std::move(bytes);
    const auto& b = f.bytes_;
    CAE_CHECK(b.size() >= 8, IoError, path, ": too short for a safetensors file (", b.size(),
              " bytes)");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | b[static_cast<std::size_t>(i)];
    CAE_CHECK(n <= b.size() - 8, IoError, path, ": header size ", n, " exceeds the file (",
              b.size(), " bytes); truncated or not safetensors");
    CAE_CHECK(n <= kMaxHeaderBytes, IoError, path, ": header size ", n, " is above the format's limit of ",
              kMaxHeaderBytes, " bytes");
    CAE_CHECK(n > 0 && b[8] == '{', IoError, path, ": the header does not start with '{' (not safetensors)");
    const std::string header(reinterpret_cast<const char*>(b.data() + 8), n);
    const json::Value h = json::parse(header, path + " (safetensors header)");
    CAE_CHECK(h.is_object(), IoError, path, ": header is not a JSON object");
    f.data_start_ = 8 + static_cast<std::size_t>(n);
    const std::size_t data_size = b.size() - f.data_start_;
    for (const auto& [name, v] : h.as_object()) {
      if (name == "__metadata__") {
        CAE_CHECK(v.is_object(), IoError, path, ": __metadata__ is not an object");
        for (const auto& [k, s] : v.as_object()) {
          CAE_CHECK(s.is_string(), IoError, path, ": metadata value of '", k, "' is not a string");
          f.metadata_[k] = s.as_string();
        }
        continue;
      }
      try {
        CAE_CHECK(v.is_object(), IoError, "its entry is not an object");
        for (const auto& field : v.as_object())
          CAE_CHECK(field.first == "dtype" || field.first == "shape" || field.first == "data_offsets", IoError,
                    "unknown field '", field.first, "'");
        Entry e;
        e.dtype = v["dtype"].as_string();
        const std::size_t elem = detail::dtype_size(e.dtype);
        CAE_CHECK(elem != 0, IoError, "unsupported dtype ", e.dtype);
        std::int64_t count = 1;
        for (const auto& d : v["shape"].as_array()) {
          const auto dim = static_cast<index_t>(detail::header_integer(d, "a dimension"));
          e.shape.push_back(dim);
          CAE_CHECK(checked_mul(count, dim, &count), IoError, "shape ", e.shape,
                    " has more elements than fit in 64 bits");
        }
        std::uint64_t need = 0;
        CAE_CHECK(checked_mul(static_cast<std::uint64_t>(count), static_cast<std::uint64_t>(elem), &need), IoError,
                  "shape ", e.shape, " of ", e.dtype, " needs more bytes than fit in 64 bits");
        const auto& off = v["data_offsets"].as_array();
        CAE_CHECK(off.size() == 2, IoError, "data_offsets needs two numbers");
        const std::uint64_t b0 = detail::header_integer(off[0], "a data offset");
        const std::uint64_t b1 = detail::header_integer(off[1], "a data offset");
        CAE_CHECK(b0 <= b1 && b1 <= data_size, IoError, "data_offsets [", b0, ", ", b1, "] outside the data (",
                  data_size, " bytes); truncated file?");
        CAE_CHECK(b1 - b0 == need, IoError, "shape ", e.shape, " of ", e.dtype, " needs ", need,
                  " bytes, offsets give ", b1 - b0);
        e.begin = static_cast<std::size_t>(b0);
        e.end = static_cast<std::size_t>(b1);
        f.entries_[name] = e;
      } catch (const Error& err) {
        throw IoError(str(path, ": tensor '", name, "': ", err.what()));
      }
    }
    f.check_tiling(data_size);
    return f;
  }

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  const Entry& entry(const std::string& name) const {
    auto it = entries_.find(name);
    CAE_CHECK(it != entries_.end(), IoError, path_, ": no tensor named '", name, "'");
    return it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }

  // The tensor converted to T (floating and integer dtypes are accepted).
  template <typename T>
  Tensor<T> get(const std::string& name) const {
    const Entry& e = entry(name);
    Tensor<T> t(e.shape);
    const unsigned char* src = bytes_.data() + data_start_ + e.begin;
    const std::size_t elem = detail::dtype_size(e.dtype);
    for (index_t i = 0; i < t.numel(); ++i) {
      unsigned char buf[8];
      std::memcpy(buf, src + static_cast<std::size_t>(i) * elem, elem);
      detail::to_little_endian(buf, elem, 1);  // symmetric: swaps back on big-endian hosts
      t[i] = convert<T>(e.dtype, buf);
    }
    return t;
  }

 private:
  // The byte ranges, in order, must cover [0, data_size) once.
  void check_tiling(std::size_t data_size) const {
    std::vector<std::pair<std::pair<std::size_t, std::size_t>, const std::string*>> spans;
    for (const auto& [name, e] : entries_) spans.push_back({{e.begin, e.end}, &name});
    std::sort(spans.begin(), spans.end());
    std::size_t covered = 0;
    const std::string* previous = nullptr;
    for (const auto& [range, name] : spans) {
      CAE_CHECK(range.first >= covered, IoError, path_, ": tensor '", *name, "' (bytes [", range.first, ", ",
                range.second, ")) overlaps tensor '", previous ? *previous : "", "' (which ends at ", covered, ")");
      CAE_CHECK(range.first == covered, IoError, path_, ": bytes [", covered, ", ", range.first,
                ") of the data belong to no tensor (a hole before tensor '", *name, "')");
      covered = range.second;
      if (range.second > range.first) previous = name;
    }
    CAE_CHECK(covered == data_size, IoError, path_, ": ", data_size - covered,
              " bytes after the last tensor's data (the data is ", data_size, " bytes, the tensors cover ", covered,
              ")");
  }

  template <typename T>
  static T convert(const std::string& dtype, const unsigned char* p) {
    if (dtype == "F32") { float v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
    if (dtype == "F16" || dtype == "BF16") {
      const auto bits = static_cast<std::uint16_t>(p[0] | (p[1] << 8));
      return static_cast<T>(dtype == "F16" ? detail::half_to_float(bits) : detail::bf16_to_float(bits));
    }
    if (dtype == "I16") { std::int16_t v; std::memcpy(&v, p, 2); return static_cast<T>(v); }
    if (dtype == "U16") { std::uint16_t v; std::memcpy(&v, p, 2); return static_cast<T>(v); }
    if (dtype == "U32") { std::uint32_t v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
    if (dtype == "U64") { std::uint64_t v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
    if (dtype == "F64") { double v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
    if (dtype == "I64") { std::int64_t v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
    if (dtype == "I32") { std::int32_t v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
    if (dtype == "I8") { std::int8_t v; std::memcpy(&v, p, 1); return static_cast<T>(v); }
    return static_cast<T>(*p);  // U8, BOOL
  }

  std::string path_;
  std::vector<unsigned char> bytes_;
  std::size_t data_start_ = 0;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes named tensors atomically, in the given order, as F32 or F64 (T's
// type) or, on request, F16 / BF16; names ending in num_batches_tracked as I64,
// and the names in `int32_names` as I32 (integer tables, e.g. a codec's CDFs:
// each value must be an integer in int32's range).
template <typename T>
void save(const std::string& path, const std::vector<std::pair<std::string, const Tensor<T>*>>& tensors,
          const std::map<std::string, std::string>& metadata = {}, StoreAs store = StoreAs::Native,
          const std::vector<std::string>& int32_names = {}) {
  auto dtype_of = [&](const std::string& name) -> std::string {
    if (detail::is_batch_counter(name)) return "I64";
    if (std::find(int32_names.begin(), int32_names.end(), name) != int32_names.end()) return "I32";
    if (store == StoreAs::F16) return "F16";
    if (store == StoreAs::BF16) return "BF16";
    return detail::dtype_name<T>();
  };
  json::Object header;
  if (!metadata.empty()) {
    json::Object meta;
    for (const auto& [k, v] : metadata) meta[k] = json::Value(v);
    header["__metadata__"] = json::Value(std::move(meta));
  }
  std::size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    CAE_CHECK(!header.count(name), Error, path, ": duplicate tensor name '", name, "'");
    json::Array shape;
    for (index_t d : t->shape()) shape.push_back(json::Value(static_cast<long long>(d)));
    const std::string dtype = dtype_of(name);
    const std::size_t bytes = checked_bytes(t->numel(), detail::dtype_size(dtype), "safetensors::save");
    header[name] = json::Value(json::Object{
        {"dtype", json::Value(dtype)},
        {"shape", json::Value(std::move(shape))},
        {"data_offsets", json::Value(json::Array{json::Value(static_cast<long long>(offset)),
                                                 json::Value(static_cast<long long>(offset + bytes))})}});
    offset += bytes;
  }
  std::string h = json::Value(std::move(header)).dump();
  while ((8 + h.size()) % 8 != 0) h += ' ';  // keeps the data 8-byte aligned, as the format suggests
  std::vector<unsigned char> out(8 + h.size() + offset);
  std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n >> (8 * i));
  std::memcpy(out.data() + 8, h.data(), h.size());
  unsigned char* p = out.data() + 8 + h.size();
  for (const auto& [name, t] : tensors) {
    const std::string dtype = dtype_of(name);
    const std::size_t count = static_cast<std::size_t>(t->numel());
    if (dtype == "I64") {
      for (std::size_t i = 0; i < count; ++i) {
        const double v = static_cast<double>((*t)[static_cast<index_t>(i)]);
        CAE_CHECK(std::isfinite(v) && std::abs(v) < 9.2e18, Error, path, ": tensor '", name, "' holds ", v,
                  ", not an integer count");
        const std::int64_t c = std::llround(v);
        for (int k = 0; k < 8; ++k) p[i * 8 + k] = static_cast<unsigned char>(static_cast<std::uint64_t>(c) >> (8 * k));
      }
      p += 8 * count;
    } else if (dtype == "I32") {
      for (std::size_t i = 0; i < count; ++i) {
        const double v = static_cast<double>((*t)[static_cast<index_t>(i)]);
        CAE_CHECK(v == std::floor(v) && v >= -2147483648.0 && v <= 2147483647.0, Error, path,
                  ": tensor '", name, "' holds ", v, ", not an int32");
        const auto c = static_cast<std::uint32_t>(static_cast<std::int32_t>(v));
        for (int k = 0; k < 4; ++k) p[i * 4 + k] = static_cast<unsigned char>(c >> (8 * k));
      }
      p += 4 * count;
    } else if (dtype == "F16" || dtype == "BF16") {
      for (std::size_t i = 0; i < count; ++i) {
        const float v = static_cast<float>((*t)[static_cast<index_t>(i)]);
        const std::uint16_t bits = dtype == "F16" ? detail::float_to_half(v) : detail::float_to_bf16(v);
        p[2 * i] = static_cast<unsigned char>(bits);
        p[2 * i + 1] = static_cast<unsigned char>(bits >> 8);
      }
      p += 2 * count;
    } else {
      const std::size_t bytes = sizeof(T) * count;
      if (bytes) std::memcpy(p, t->data(), bytes);
      detail::to_little_endian(p, sizeof(T), count);
      p += bytes;
    }
  }
  io::write_file_atomic(path, out.data(), out.size());
}

}  // namespace cae::safetensors
