// safetensors (https://github.com/huggingface/safetensors) reading and writing,
// so weights move between cae and PyTorch:
//   8 bytes   little-endian u64 N, the header size
//   N bytes   JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
//                    "__metadata__": {"key": "value"}}
//   rest      tensor data, little-endian, offsets relative to its start
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

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
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "U8" || dtype == "I8" || dtype == "BOOL") return 1;
  return 0;
}
template <typename T>
const char* dtype_name() {
  return sizeof(T) == 8 ? "F64" : "F32";
}
}  // namespace detail

class File {
 public:
  struct Entry {
    std::string dtype;
    Shape shape;
    std::size_t begin = 0, end = 0;
  };

  // Reads and validates the whole file; every problem throws IoError naming it.
  static File load(const std::string& path) { return parse(io::read_file(path), path); }

  // Validates a safetensors image held in memory; `path` names it in errors.
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
        Entry e;
        e.dtype = v["dtype"].as_string();
        const std::size_t elem = detail::dtype_size(e.dtype);
        CAE_CHECK(elem != 0, IoError, "unsupported dtype ", e.dtype);
        std::size_t count = 1;
        for (const auto& d : v["shape"].as_array()) {
          const double x = d.as_number();
          CAE_CHECK(x >= 0 && x == static_cast<double>(static_cast<index_t>(x)) && x < 1e12,
                    IoError, "bad dimension ", x);
          e.shape.push_back(static_cast<index_t>(x));
          count *= static_cast<std::size_t>(x);
        }
        const auto& off = v["data_offsets"].as_array();
        CAE_CHECK(off.size() == 2, IoError, "data_offsets needs two numbers");
        const double b0 = off[0].as_number(), b1 = off[1].as_number();
        CAE_CHECK(b0 >= 0 && b0 <= b1 && b1 <= static_cast<double>(data_size), IoError,
                  "data_offsets [", b0, ", ", b1, "] outside the data (", data_size,
                  " bytes); truncated file?");
        e.begin = static_cast<std::size_t>(b0);
        e.end = static_cast<std::size_t>(b1);
        CAE_CHECK(e.end - e.begin == count * elem, IoError, "shape ", e.shape, " of ", e.dtype,
                  " needs ", count * elem, " bytes, offsets give ", e.end - e.begin);
        f.entries_[name] = e;
      } catch (const Error& err) {
        throw IoError(str(path, ": tensor '", name, "': ", err.what()));
      }
    }
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
  template <typename T>
  static T convert(const std::string& dtype, const unsigned char* p) {
    if (dtype == "F32") { float v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
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

// Writes named tensors atomically, in the given order, as F32 or F64 (T's type).
template <typename T>
void save(const std::string& path, const std::vector<std::pair<std::string, const Tensor<T>*>>& tensors,
          const std::map<std::string, std::string>& metadata = {}) {
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
    const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(t->numel());
    header[name] = json::Value(json::Object{
        {"dtype", json::Value(detail::dtype_name<T>())},
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
    const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(t->numel());
    if (bytes) std::memcpy(p, t->data(), bytes);
    detail::to_little_endian(p, sizeof(T), static_cast<std::size_t>(t->numel()));
    p += bytes;
  }
  io::write_file_atomic(path, out.data(), out.size());
}

}  // namespace cae::safetensors
