// Checkpoints: a model's state_dict and, optionally, its optimizer's state and
// training metadata (epoch, best loss, scheduler counters) in one file.
//
//   CheckpointMetadata meta;
//   meta.set_int("epoch", epoch);
//   save_checkpoint("run/last.caeckpt", model, optimizer, meta);
//   ...
//   CheckpointMetadata meta = load_checkpoint("run/last.caeckpt", model, optimizer);
//   int start = meta.get_int("epoch") + 1;
//
// The format is little-endian, versioned and protected by a CRC-32; it is
// described byte by byte in docs/file-format.md. Saving is atomic (a failed or
// interrupted save leaves an existing file intact). Loading checks everything
// (magic, version, size, checksum, every tensor name and shape, the optimizer
// kind) before it changes the model or the optimizer, and throws IoError
// naming the file and the problem.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cae/checked.hpp"
#include "cae/error.hpp"
#include "cae/io/crc32.hpp"
#include "cae/io/file.hpp"
#include "cae/io/state_dict.hpp"
#include "cae/module.hpp"
#include "cae/optim/optimizer.hpp"

namespace cae::io {

// Key-value metadata saved with a checkpoint. Values are strings; numbers are
// stored in decimal with enough digits to read back exactly.
class CheckpointMetadata {
 public:
  CheckpointMetadata() = default;

  CheckpointMetadata& set(const std::string& key, const std::string& value) {
    values_[key] = value;
    return *this;
  }
  CheckpointMetadata& set_int(const std::string& key, std::int64_t value) {
    return set(key, std::to_string(value));
  }
  CheckpointMetadata& set_double(const std::string& key, double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    return set(key, buf);
  }
  // Stores every entry of `values` as "<prefix>.<key>", e.g. a scheduler's state().
  CheckpointMetadata& set_doubles(const std::string& prefix,
                                  const std::map<std::string, double>& values) {
    for (const auto& [k, v] : values) set_double(prefix + "." + k, v);
    return *this;
  }

  bool contains(const std::string& key) const { return values_.count(key) > 0; }
  const std::string& get(const std::string& key) const {
    auto it = values_.find(key);
    CAE_CHECK(it != values_.end(), Error, where(), "metadata has no key '", key, "'");
    return it->second;
  }
  std::int64_t get_int(const std::string& key) const {
    const std::string& s = get(key);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    CAE_CHECK(!s.empty() && *end == '\0' && errno == 0, Error, where(), "metadata '", key,
              "' is not an integer: \"", s, "\"");
    return v;
  }
  double get_double(const std::string& key) const {
    const std::string& s = get(key);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    CAE_CHECK(!s.empty() && *end == '\0', Error, where(), "metadata '", key,
              "' is not a number: \"", s, "\"");
    return v;
  }
  // The entries stored with set_doubles(prefix, ...), keys without the prefix.
  std::map<std::string, double> get_doubles(const std::string& prefix) const {
    std::map<std::string, double> out;
    const std::string p = prefix + ".";
    for (const auto& [k, v] : values_)
      if (k.compare(0, p.size(), p) == 0) out[k.substr(p.size())] = get_double(k);
    return out;
  }

  const std::map<std::string, std::string>& items() const { return values_; }
  // The file these were read from, for error messages ("" when not read from a file).
  const std::string& source() const { return source_; }
  void set_source(const std::string& path) { source_ = path; }

 private:
  std::string where() const { return source_.empty() ? "checkpoint " : source_ + ": checkpoint "; }

  std::map<std::string, std::string> values_;
  std::string source_;
};

namespace checkpoint_format {
// Bytes 0-7 of every checkpoint. The first byte has its high bit set so that
// a text file is never mistaken for one.
inline constexpr unsigned char kMagic[8] = {0x89, 'C', 'A', 'E', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint32_t kFlagOptimizer = 1;  // an optimizer section follows the model
inline constexpr std::size_t kHeaderSize = 24;      // magic, version, flags, payload size
inline constexpr std::size_t kTrailerSize = 4;      // CRC-32
inline constexpr std::uint8_t kFloat32 = 1, kFloat64 = 2;
}  // namespace checkpoint_format

namespace detail {

// Appends little-endian values.
class ByteWriter {
 public:
  void u8(std::uint8_t v) { bytes_.push_back(v); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void f64(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    u64(bits);
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void string(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  template <typename T>
  void tensor(const std::string& name, const Tensor<T>& t) {
    string(name);
    u8(sizeof(T) == 4 ? checkpoint_format::kFloat32 : checkpoint_format::kFloat64);
    u8(static_cast<std::uint8_t>(t.rank()));
    for (index_t d : t.shape()) u64(static_cast<std::uint64_t>(d));
    const std::size_t at = bytes_.size();
    raw(t.data(), sizeof(T) * static_cast<std::size_t>(t.numel()));
    safetensors::detail::to_little_endian(bytes_.data() + at, sizeof(T),
                                          static_cast<std::size_t>(t.numel()));
  }
  template <typename T>
  void tensor_table(const std::vector<std::pair<std::string, const Tensor<T>*>>& tensors) {
    u32(static_cast<std::uint32_t>(tensors.size()));
    for (const auto& [name, t] : tensors) tensor(name, *t);
  }
  void patch_u64(std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_[at + i] = static_cast<unsigned char>(v >> (8 * i));
  }
  std::vector<unsigned char>& bytes() { return bytes_; }

 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  std::vector<unsigned char> bytes_;
};

// Reads little-endian values with bounds checks; every failure names the file.
class ByteReader {
 public:
  ByteReader(const unsigned char* data, std::size_t size, std::size_t base, std::string path)
      : p_(data), size_(size), base_(base), path_(std::move(path)) {}

  std::uint8_t u8(const char* what) { return static_cast<std::uint8_t>(le(1, what)); }
  std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(le(4, what)); }
  std::uint64_t u64(const char* what) { return le(8, what); }
  double f64(const char* what) {
    const std::uint64_t bits = u64(what);
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
  }
  std::string string(const char* what) {
    const std::uint32_t n = u32(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  const unsigned char* take(std::size_t n, const char* what) {
    need(n, what);
    const unsigned char* at = p_ + pos_;
    pos_ += n;
    return at;
  }
  std::size_t remaining() const { return size_ - pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw IoError(str(path_, ": corrupt checkpoint at byte ", base_ + pos_, ": ", why));
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (n > size_ - pos_)
      fail(str("needs ", n, " bytes for ", what, ", only ", size_ - pos_, " left"));
  }
  std::uint64_t le(int n, const char* what) {
    const unsigned char* b = take(static_cast<std::size_t>(n), what);
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  const unsigned char* p_;
  std::size_t size_, pos_ = 0, base_;
  std::string path_;
};

// A tensor as stored: its values stay in the file's bytes until copied out.
struct StoredTensor {
  std::string name;
  std::uint8_t dtype;
  Shape shape;
  const unsigned char* data;

  template <typename T>
  void copy_to(Tensor<T>& out) const {
    const std::size_t elem = dtype == checkpoint_format::kFloat32 ? 4 : 8;
    for (index_t i = 0; i < out.numel(); ++i) {
      unsigned char b[8];
      std::memcpy(b, data + static_cast<std::size_t>(i) * elem, elem);
      safetensors::detail::to_little_endian(b, elem, 1);  // swaps back on big-endian hosts
      if (elem == 4) {
        float v;
        std::memcpy(&v, b, 4);
        out[i] = static_cast<T>(v);
      } else {
        double v;
        std::memcpy(&v, b, 8);
        out[i] = static_cast<T>(v);
      }
    }
  }
};

inline std::vector<StoredTensor> read_tensor_table(ByteReader& r, const char* section) {
  const std::uint32_t count = r.u32("a tensor count");
  std::vector<StoredTensor> out;
  std::set<std::string> seen;
  for (std::uint32_t i = 0; i < count; ++i) {
    StoredTensor t;
    t.name = r.string("a tensor name");
    if (!seen.insert(t.name).second) r.fail(str(section, " tensor '", t.name, "' appears twice"));
    t.dtype = r.u8("a dtype");
    if (t.dtype != checkpoint_format::kFloat32 && t.dtype != checkpoint_format::kFloat64)
      r.fail(str(section, " tensor '", t.name, "' has unknown dtype code ", int(t.dtype)));
    const int rank = r.u8("a rank");
    if (rank > Shape::kMaxRank)
      r.fail(str(section, " tensor '", t.name, "' has rank ", rank, " (at most ", Shape::kMaxRank,
                 ")"));
    // Every dimension must be a valid index_t and their product (in Shape's
    // order, so Shape::numel cannot overflow later) must fit, even when a
    // later dimension is 0: [0, 2^63 + 5] is refused, not read as empty.
    std::int64_t count = 1;
    for (int d = 0; d < rank; ++d) {
      const std::uint64_t dim = r.u64("a dimension");
      if (dim > static_cast<std::uint64_t>(INT64_MAX) ||
          !checked_mul(count, static_cast<std::int64_t>(dim), &count))
        r.fail(str(section, " tensor '", t.name, "' has an impossible shape (dimension ", d, " is ", dim,
                   ", the element count overflows 64 bits)"));
      t.shape.push_back(static_cast<index_t>(dim));
    }
    std::uint64_t bytes = 0;
    if (!checked_mul(static_cast<std::uint64_t>(count), std::uint64_t(t.dtype == checkpoint_format::kFloat32 ? 4 : 8),
                     &bytes))
      r.fail(str(section, " tensor '", t.name, "' has an impossible shape ", t.shape,
                 " (its byte count overflows 64 bits)"));
    t.data = r.take(static_cast<std::size_t>(bytes), "tensor data");
    out.push_back(std::move(t));
  }
  return out;
}

struct ParsedCheckpoint {
  std::vector<unsigned char> bytes;  // the file; StoredTensor::data points into it
  CheckpointMetadata metadata;
  std::vector<StoredTensor> model;
  bool has_optimizer = false;
  std::string optimizer_name;
  double optimizer_lr = 0;
  std::int64_t optimizer_steps = 0;
  std::vector<StoredTensor> optimizer;
};

inline std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
  return buf;
}

// Parses a checkpoint held in memory; `path` names it in error messages.
inline ParsedCheckpoint parse_checkpoint_bytes(std::vector<unsigned char> bytes,
                                               const std::string& path) {
  namespace fmt = checkpoint_format;
  ParsedCheckpoint c;
  c.bytes = std::move(bytes);
  const std::vector<unsigned char>& b = c.bytes;
  CAE_CHECK(b.size() >= fmt::kHeaderSize + fmt::kTrailerSize, IoError, path,
            ": not a cae checkpoint (", b.size(), " bytes, shorter than the ",
            fmt::kHeaderSize + fmt::kTrailerSize, "-byte header and checksum)");
  CAE_CHECK(std::memcmp(b.data(), fmt::kMagic, 8) == 0, IoError, path,
            ": not a cae checkpoint (wrong magic bytes)");
  ByteReader header(b.data(), fmt::kHeaderSize, 0, path);
  header.take(8, "magic");
  const std::uint32_t version = header.u32("the version");
  CAE_CHECK(version == fmt::kVersion, IoError, path, ": checkpoint format version ", version,
            " is not supported; this build of cae reads version ", fmt::kVersion,
            version > fmt::kVersion ? " (the file was written by a newer cae)" : "");
  const std::uint32_t flags = header.u32("the flags");
  const std::uint64_t payload = header.u64("the payload size");
  const std::uint64_t expected = fmt::kHeaderSize + payload + fmt::kTrailerSize;
  CAE_CHECK(payload <= b.size() && expected == b.size(), IoError, path,
            ": checkpoint is ", b.size() < expected ? "truncated" : "longer than its header says",
            " (header says ", expected, " bytes, file has ", b.size(), ")");
  const std::size_t body = fmt::kHeaderSize + static_cast<std::size_t>(payload);
  std::uint32_t stored = 0;
  for (int i = 3; i >= 0; --i) stored = (stored << 8) | b[body + static_cast<std::size_t>(i)];
  const std::uint32_t computed = crc32(b.data(), body);
  CAE_CHECK(stored == computed, IoError, path, ": checkpoint checksum mismatch (stored ",
            hex32(stored), ", computed ", hex32(computed), "); the file is corrupt");
  CAE_CHECK((flags & ~fmt::kFlagOptimizer) == 0, IoError, path, ": checkpoint has unknown flags ",
            hex32(flags));

  ByteReader r(b.data() + fmt::kHeaderSize, static_cast<std::size_t>(payload), fmt::kHeaderSize,
               path);
  const std::uint32_t entries = r.u32("the metadata count");
  for (std::uint32_t i = 0; i < entries; ++i) {
    std::string key = r.string("a metadata key");
    std::string value = r.string("a metadata value");
    if (c.metadata.contains(key)) r.fail(str("metadata key '", key, "' appears twice"));
    c.metadata.set(key, value);
  }
  c.metadata.set_source(path);
  c.model = read_tensor_table(r, "model");
  c.has_optimizer = (flags & fmt::kFlagOptimizer) != 0;
  if (c.has_optimizer) {
    c.optimizer_name = r.string("the optimizer name");
    c.optimizer_lr = r.f64("the learning rate");
    const std::uint64_t steps = r.u64("the step count");
    if (steps > static_cast<std::uint64_t>(INT64_MAX)) r.fail(str("step count ", steps));
    c.optimizer_steps = static_cast<std::int64_t>(steps);
    c.optimizer = read_tensor_table(r, "optimizer");
  }
  if (r.remaining() != 0) r.fail(str(r.remaining(), " unexpected bytes after the last section"));
  return c;
}

inline ParsedCheckpoint parse_checkpoint(const std::string& path) {
  return parse_checkpoint_bytes(read_file(path), path);
}

inline std::vector<TensorInfo> infos(const std::vector<StoredTensor>& tensors) {
  std::vector<TensorInfo> out;
  for (const auto& t : tensors) out.push_back({t.name, t.shape});
  return out;
}
template <typename T>
std::vector<TensorInfo> infos(const std::vector<Buffer<T>>& tensors) {
  std::vector<TensorInfo> out;
  for (const auto& t : tensors) out.push_back({t.name, t.value->shape()});
  return out;
}

// Copies stored tensors into same-named targets (already checked to match).
template <typename T, typename Named>
void copy_tensors(const std::vector<StoredTensor>& stored, const std::vector<Named>& targets) {
  std::map<std::string, const StoredTensor*> by_name;
  for (const auto& t : stored) by_name[t.name] = &t;
  for (const auto& t : targets) by_name.at(t.name)->copy_to(*t.value);
}

template <typename T>
void save_checkpoint_impl(const std::string& path, Module<T>& model,
                          optim::Optimizer<T>* optimizer, const CheckpointMetadata& metadata) {
  namespace fmt = checkpoint_format;
  ByteWriter w;
  w.raw(fmt::kMagic, 8);
  w.u32(fmt::kVersion);
  w.u32(optimizer ? fmt::kFlagOptimizer : 0);
  w.u64(0);  // payload size, patched below
  w.u32(static_cast<std::uint32_t>(metadata.items().size()));
  for (const auto& [k, v] : metadata.items()) {
    w.string(k);
    w.string(v);
  }
  std::vector<std::pair<std::string, const Tensor<T>*>> model_tensors;
  for (const auto& t : state_dict(model)) model_tensors.push_back({t.name, t.value});
  w.tensor_table(model_tensors);
  if (optimizer) {
    w.string(optimizer->name());
    w.f64(optimizer->lr());
    w.u64(static_cast<std::uint64_t>(optimizer->step_count()));
    std::vector<std::pair<std::string, const Tensor<T>*>> state;
    for (const auto& t : optimizer->state()) state.push_back({t.name, t.value});
    w.tensor_table(state);
  }
  w.patch_u64(16, w.bytes().size() - fmt::kHeaderSize);
  const std::uint32_t crc = crc32(w.bytes().data(), w.bytes().size());
  w.u32(crc);
  write_file_atomic(path, w.bytes().data(), w.bytes().size());
}

template <typename T>
CheckpointMetadata load_checkpoint_impl(const std::string& path, Module<T>& model,
                                        optim::Optimizer<T>* optimizer) {
  const ParsedCheckpoint c = parse_checkpoint(path);
  const auto model_tensors = state_dict(model);
  check_tensors_match(path, "model", infos(model_tensors), infos(c.model));
  std::vector<Buffer<T>> state;
  if (optimizer) {
    CAE_CHECK(c.has_optimizer, IoError, path, ": checkpoint holds no optimizer state (it was "
              "saved without an optimizer)");
    CAE_CHECK(c.optimizer_name == optimizer->name(), IoError, path, ": checkpoint holds ",
              c.optimizer_name, " state, but the optimizer is ", optimizer->describe());
    CAE_CHECK(std::isfinite(c.optimizer_lr) && c.optimizer_lr >= 0, IoError, path,
              ": checkpoint has an invalid learning rate ", c.optimizer_lr);
    state = optimizer->state();
    check_tensors_match(path, optimizer->name() + " state", infos(state), infos(c.optimizer));
  }
  // Everything fits: only now change the model and the optimizer.
  copy_tensors<T>(c.model, model_tensors);
  if (optimizer) {
    copy_tensors<T>(c.optimizer, state);
    optimizer->set_lr(c.optimizer_lr);
    optimizer->set_step_count(c.optimizer_steps);
  }
  return c.metadata;
}

}  // namespace detail

// Saves the model's parameters and buffers, and the metadata.
template <typename T>
void save_checkpoint(const std::string& path, Module<T>& model,
                     const CheckpointMetadata& metadata = {}) {
  detail::save_checkpoint_impl<T>(path, model, nullptr, metadata);
}
// Saves the model, the optimizer's state (lr, step count, state tensors) and the metadata.
template <typename T>
void save_checkpoint(const std::string& path, Module<T>& model, optim::Optimizer<T>& optimizer,
                     const CheckpointMetadata& metadata = {}) {
  detail::save_checkpoint_impl<T>(path, model, &optimizer, metadata);
}

// Restores the model (any optimizer state in the file is ignored) and returns the metadata.
template <typename T>
CheckpointMetadata load_checkpoint(const std::string& path, Module<T>& model) {
  return detail::load_checkpoint_impl<T>(path, model, nullptr);
}
// Restores the model and the optimizer (which must be of the saved kind, over
// parameters of the same names and shapes) and returns the metadata.
template <typename T>
CheckpointMetadata load_checkpoint(const std::string& path, Module<T>& model,
                                   optim::Optimizer<T>& optimizer) {
  return detail::load_checkpoint_impl<T>(path, model, &optimizer);
}

// Reads only the metadata, e.g. to decide which checkpoint to resume from.
inline CheckpointMetadata read_checkpoint_metadata(const std::string& path) {
  return detail::parse_checkpoint(path).metadata;
}

}  // namespace cae::io
