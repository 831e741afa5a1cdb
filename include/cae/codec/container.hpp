// The .cae file: one compressed image. Layout, byte by byte, in
// docs/file-format.md ("Compressed images (.cae)").
//
//   CaeFile f;  f.model_id = model_id(model_bytes);  f.width = ...;  f.streams = {...};
//   save_cae("photo.cae", f);
//   CaeFile g = load_cae("photo.cae");          // strict: throws cae::IoError naming the file
//   check_model_id(g, model_id(model_bytes), "photo.cae");
//
// The reader treats every file as untrusted: it never reads outside the
// buffer, allocates only what the (bounded) fields and the file's own size
// justify, and checks the CRC-32 before returning, so a stream handed to the
// rANS decoder is exactly what the encoder wrote.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/io/crc32.hpp"
#include "cae/io/file.hpp"
#include "cae/shape.hpp"

namespace cae::codec {

inline constexpr unsigned char kCaeMagic[8] = {0x89, 'C', 'A', 'E', '\r', '\n', 0x1A, '\n'};
inline constexpr std::uint16_t kCaeVersion = 1;

// Limits the reader enforces (and the writer, so it never writes a file the
// reader refuses).
inline constexpr std::uint32_t kCaeMaxSide = 65535;
inline constexpr std::uint64_t kCaeMaxPixels = std::uint64_t{1} << 26;  // as io::load_image
inline constexpr int kCaeMaxLatents = 8;
inline constexpr int kCaeMaxLatentRank = 4;
inline constexpr std::uint64_t kCaeMaxLatentElements = std::uint64_t{1} << 26;  // all latents together
inline constexpr int kCaeMaxStreams = 16;
inline constexpr std::uint64_t kCaeMaxFileSize = std::uint64_t{1} << 30;

struct CaeFile {
  std::uint64_t model_id = 0;  // model_id() of the model file that encoded it
  std::uint32_t width = 0, height = 0;
  std::uint8_t channels = 0;  // 1 (grey) or 3 (RGB)
  std::uint8_t quality = 0;   // the model's quality level
  // The shapes of the coded latents (e.g. y [192, 24, 32] and z [128, 6, 8]),
  // which the decoder needs before it can decode their streams.
  std::vector<Shape> latent_shapes;
  std::vector<std::vector<std::uint8_t>> streams;
};

// FNV-1a, 64 bits, of a model file's bytes: what .cae files store to name the
// model that encoded them. Not cryptographic; it tells models apart.
inline std::uint64_t model_id(const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
inline std::uint64_t model_id(const std::vector<std::uint8_t>& bytes) {
  return model_id(bytes.data(), bytes.size());
}
inline std::uint64_t model_id_of_file(const std::string& path) { return model_id(io::read_file(path)); }

inline std::string hex64(std::uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

namespace container_detail {

// Throws ExceptionType ("source: problem") unless the fields are within the limits above.
template <typename ExceptionType>
void check_fields(const CaeFile& f, const std::string& source) {
  auto fail = [&](const std::string& what) { throw ExceptionType(source + ": " + what); };
  if (f.width < 1 || f.width > kCaeMaxSide || f.height < 1 || f.height > kCaeMaxSide)
    fail(str("image size ", f.width, "x", f.height, " outside 1..", kCaeMaxSide, " per side"));
  if (std::uint64_t{f.width} * f.height > kCaeMaxPixels)
    fail(str("image size ", f.width, "x", f.height, " above the limit of ", kCaeMaxPixels, " pixels"));
  if (f.channels != 1 && f.channels != 3)
    fail(str("channel count ", int{f.channels}, " (must be 1 or 3)"));
  if (f.latent_shapes.size() > static_cast<std::size_t>(kCaeMaxLatents))
    fail(str(f.latent_shapes.size(), " latents, above the limit of ", kCaeMaxLatents));
  if (f.streams.size() > static_cast<std::size_t>(kCaeMaxStreams))
    fail(str(f.streams.size(), " streams, above the limit of ", kCaeMaxStreams));
  std::uint64_t elements = 0;
  for (std::size_t k = 0; k < f.latent_shapes.size(); ++k) {
    const Shape& s = f.latent_shapes[k];
    if (s.rank() < 1 || s.rank() > kCaeMaxLatentRank)
      fail(str("latent ", k, " has rank ", s.rank(), " (must be 1..", kCaeMaxLatentRank, ")"));
    std::uint64_t n = 1;
    for (index_t d : s) {
      if (d < 1 || static_cast<std::uint64_t>(d) > kCaeMaxLatentElements)
        fail(str("latent ", k, " has shape ", s, ": every dimension must be in 1..",
                 kCaeMaxLatentElements));
      n *= static_cast<std::uint64_t>(d);  // both factors <= 2^26: no overflow
      if (n > kCaeMaxLatentElements)
        fail(str("latent ", k, " has shape ", s, ", above the limit of ", kCaeMaxLatentElements,
                 " elements"));
    }
    elements += n;
  }
  if (elements > kCaeMaxLatentElements)
    fail(str("latents hold ", elements, " elements together, above the limit of ",
             kCaeMaxLatentElements));
}

class Writer {
 public:
  void u8(std::uint8_t v) { bytes.push_back(v); }
  void u16(std::uint16_t v) { le(v, 2); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  std::vector<std::uint8_t> bytes;

 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
};

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size, const std::string& source)
      : data_(data), size_(size), source_(source) {}
  std::uint8_t u8(const char* what) { return static_cast<std::uint8_t>(le(1, what)); }
  std::uint16_t u16(const char* what) { return static_cast<std::uint16_t>(le(2, what)); }
  std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(le(4, what)); }
  std::uint64_t u64(const char* what) { return le(8, what); }
  std::size_t pos() const { return pos_; }

 private:
  std::uint64_t le(int n, const char* what) {
    CAE_CHECK(size_ - pos_ >= static_cast<std::size_t>(n), IoError, source_, ": truncated: the ",
              what, " at byte ", pos_, " needs ", n, " bytes but the file has ", size_, " bytes");
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& source_;
};

}  // namespace container_detail

// The bytes of a .cae file. Throws cae::Error when a field is outside the
// limits the reader enforces.
inline std::vector<std::uint8_t> write_cae(const CaeFile& f) {
  container_detail::check_fields<Error>(f, "write_cae");
  container_detail::Writer w;
  for (unsigned char c : kCaeMagic) w.u8(c);
  w.u16(kCaeVersion);
  w.u16(0);  // flags, reserved
  w.u64(f.model_id);
  w.u32(f.width);
  w.u32(f.height);
  w.u8(f.channels);
  w.u8(f.quality);
  w.u8(static_cast<std::uint8_t>(f.latent_shapes.size()));
  w.u8(static_cast<std::uint8_t>(f.streams.size()));
  for (const Shape& s : f.latent_shapes) {
    w.u8(static_cast<std::uint8_t>(s.rank()));
    for (index_t d : s) w.u32(static_cast<std::uint32_t>(d));
  }
  std::uint64_t total = w.bytes.size() + 4 * f.streams.size() + 4;
  for (const auto& s : f.streams) {
    total += s.size();
    CAE_CHECK(s.size() <= 0xFFFFFFFFu && total <= kCaeMaxFileSize, Error,
              "write_cae: streams too large (the file would exceed ", kCaeMaxFileSize, " bytes)");
    w.u32(static_cast<std::uint32_t>(s.size()));
  }
  w.bytes.reserve(static_cast<std::size_t>(total));
  for (const auto& s : f.streams) w.bytes.insert(w.bytes.end(), s.begin(), s.end());
  w.u32(io::crc32(w.bytes.data(), w.bytes.size()));
  return std::move(w.bytes);
}

// Parses and checks the bytes of a .cae file; `source` (the file name) starts
// every error message. Throws cae::IoError.
inline CaeFile parse_cae(const std::uint8_t* data, std::size_t size, const std::string& source) {
  CAE_CHECK(size >= sizeof kCaeMagic, IoError, source, ": ", size,
            " bytes, too short to be a .cae file");
  for (std::size_t i = 0; i < sizeof kCaeMagic; ++i)
    CAE_CHECK(data[i] == kCaeMagic[i], IoError, source,
              ": not a .cae file (the first 8 bytes are not \\x89CAE\\r\\n\\x1a\\n",
              i >= 4 ? "; line endings or bytes were changed in transfer" : "", ")");
  CAE_CHECK(size <= kCaeMaxFileSize, IoError, source, ": ", size,
            " bytes, above the .cae limit of ", kCaeMaxFileSize);
  container_detail::Reader r(data, size, source);
  for (std::size_t i = 0; i < sizeof kCaeMagic; ++i) r.u8("magic");
  const std::uint16_t version = r.u16("version");
  CAE_CHECK(version == kCaeVersion, IoError, source, ": format version ", version,
            ", but this reader knows only version ", kCaeVersion);
  const std::uint16_t flags = r.u16("flags");
  CaeFile f;
  f.model_id = r.u64("model id");
  f.width = r.u32("width");
  f.height = r.u32("height");
  f.channels = r.u8("channel count");
  f.quality = r.u8("quality");
  const int n_latents = r.u8("latent count");
  const int n_streams = r.u8("stream count");
  CAE_CHECK(n_latents <= kCaeMaxLatents, IoError, source, ": ", n_latents,
            " latents, above the limit of ", kCaeMaxLatents);
  CAE_CHECK(n_streams <= kCaeMaxStreams, IoError, source, ": ", n_streams,
            " streams, above the limit of ", kCaeMaxStreams);
  for (int k = 0; k < n_latents; ++k) {
    const int rank = r.u8("latent rank");
    CAE_CHECK(rank >= 1 && rank <= kCaeMaxLatentRank, IoError, source, ": latent ", k,
              " has rank ", rank, " (must be 1..", kCaeMaxLatentRank, ")");
    Shape s;
    for (int d = 0; d < rank; ++d) s.push_back(static_cast<index_t>(r.u32("latent dimension")));
    f.latent_shapes.push_back(s);
  }
  std::vector<std::uint32_t> lengths(static_cast<std::size_t>(n_streams));
  std::uint64_t payload = 0;
  for (auto& len : lengths) payload += len = r.u32("stream length");
  // Sizes first, so that a truncated file says so rather than "checksum mismatch".
  const std::uint64_t expected = r.pos() + payload + 4;
  CAE_CHECK(size >= expected, IoError, source, ": truncated: the header announces ", n_streams,
            " streams of ", payload, " bytes, so ", expected, " bytes in all, but the file has ",
            size);
  CAE_CHECK(size == expected, IoError, source, ": ", size - expected,
            " unexpected bytes after the checksum (the file should have ", expected, " bytes)");
  std::uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= static_cast<std::uint32_t>(data[size - 4 + i]) << (8 * i);
  const std::uint32_t actual = io::crc32(data, size - 4);
  CAE_CHECK(stored == actual, IoError, source, ": checksum mismatch (stored CRC-32 ", stored,
            ", computed ", actual, "): the file is corrupt");
  CAE_CHECK(flags == 0, IoError, source, ": unknown flags ", flags, " (this reader knows none)");
  container_detail::check_fields<IoError>(f, source);
  std::size_t pos = r.pos();
  for (std::uint32_t len : lengths) {
    f.streams.emplace_back(data + pos, data + pos + len);
    pos += len;
  }
  return f;
}

inline CaeFile parse_cae(const std::vector<std::uint8_t>& bytes, const std::string& source) {
  return parse_cae(bytes.data(), bytes.size(), source);
}

// Written atomically (cae/io/file.hpp): a failed save leaves the old file.
inline void save_cae(const std::string& path, const CaeFile& f) {
  const std::vector<std::uint8_t> bytes = write_cae(f);
  io::write_file_atomic(path, bytes.data(), bytes.size());
}

inline CaeFile load_cae(const std::string& path) {
  const std::vector<unsigned char> bytes = io::read_file(path);
  return parse_cae(bytes.data(), bytes.size(), path);
}

// Throws cae::IoError when the file was encoded by another model than the one
// about to decode it (its tables would decode garbage).
inline void check_model_id(const CaeFile& f, std::uint64_t expected, const std::string& source) {
  CAE_CHECK(f.model_id == expected, IoError, source, ": encoded with model ", hex64(f.model_id),
            " but the model loaded to decode it is ", hex64(expected),
            " (a different model file; decode it with the one that encoded it)");
}

}  // namespace cae::codec
