// IDX files, the format of MNIST, Fashion-MNIST and Kannada-MNIST, raw or
// gzip-compressed.
//
// Layout (all integers big-endian): two zero bytes, an element-type byte
// (0x08 = unsigned byte), a dimension count d, d 32-bit sizes, then the
// elements in row-major order. Image files are 0x00000803 ([N, H, W] bytes),
// label files 0x00000801 ([N] bytes).
//
// The parse_* functions work on bytes in memory (what the fuzzers call); the
// read_* functions read a file and name it in every error.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cae/checked.hpp"
#include "cae/data/dataset.hpp"
#include "cae/data/gzip.hpp"
#include "cae/error.hpp"
#include "cae/io/file.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

constexpr std::uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

// An unsigned-byte IDX array: its sizes and its elements in row-major order.
struct IdxArray {
  std::vector<index_t> dims;
  std::vector<unsigned char> data;
};

namespace detail {

inline std::string hex32(std::uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof(buf), "0x%08X", v);
  return buf;
}

inline std::string idx_magic_meaning(std::uint32_t magic) {
  static const char* const types[] = {"unsigned byte", "signed byte", "?",     "short",
                                      "int",           "float",       "double"};
  const unsigned type = (magic >> 8) & 0xff, dims = magic & 0xff;
  if ((magic >> 16) != 0 || type < 0x08 || type > 0x0E || type == 0x0A) return "not an IDX file";
  return str("IDX, ", types[type - 0x08], " elements, ", dims, " dimension", dims == 1 ? "" : "s");
}

inline std::string dims_str(const std::vector<index_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

// expected_magic = 0 accepts any unsigned-byte IDX file.
inline IdxArray parse_idx(const unsigned char* bytes, std::size_t size, const std::string& name,
                          std::uint32_t expected_magic) {
  ByteReader in(bytes, size, name);
  const char* what = in.compressed() ? " (after decompression)" : "";
  std::array<unsigned char, 4> head{};
  const std::size_t got = in.read(head.data(), 4);
  CAE_CHECK(got == 4, IoError, name, ": too short for an IDX header (", got, " bytes", what, ")");
  const std::uint32_t magic = (std::uint32_t(head[0]) << 24) | (std::uint32_t(head[1]) << 16) |
                              (std::uint32_t(head[2]) << 8) | head[3];
  if (expected_magic != 0)
    CAE_CHECK(magic == expected_magic, IoError, name, ": bad magic number ", hex32(magic), " (",
              idx_magic_meaning(magic), "); expected ", hex32(expected_magic), " (",
              idx_magic_meaning(expected_magic), ")");
  CAE_CHECK(head[0] == 0 && head[1] == 0, IoError, name, ": bad magic number ", hex32(magic),
            ": not an IDX file");
  CAE_CHECK(head[2] == 0x08, IoError, name, ": magic number ", hex32(magic), " (",
            idx_magic_meaning(magic), "): only unsigned-byte IDX files (type 0x08) are supported");
  const int rank = head[3];
  CAE_CHECK(rank >= 1, IoError, name, ": IDX header declares zero dimensions");

  IdxArray out;
  // Far above any real data set, far below where a product of sizes could overflow.
  constexpr index_t kMaxElements = index_t(1) << 40;
  index_t total = 1;
  for (int i = 0; i < rank; ++i) {
    std::array<unsigned char, 4> b{};
    CAE_CHECK(in.read(b.data(), 4) == 4, IoError, name, ": truncated IDX header (", rank,
              " dimensions declared, file ends after ", i, ")");
    const index_t d = (index_t(b[0]) << 24) | (index_t(b[1]) << 16) | (index_t(b[2]) << 8) | b[3];
    out.dims.push_back(d);
    index_t product = 0;
    CAE_CHECK(checked_mul(total, d, &product) && product <= kMaxElements, IoError, name,
              ": IDX header claims an implausible size ", dims_str(out.dims), "...");
    total = product;
  }
  const std::string promise =
      str(dims_str(out.dims), " = ", total, " bytes of data the header declares");
  // A raw file's length is known: check it before allocating anything.
  if (!in.compressed())
    CAE_CHECK(static_cast<index_t>(in.raw_remaining()) >= total, IoError, name,
              ": truncated: the header declares ", dims_str(out.dims), " = ", total,
              " bytes of data but only ", in.raw_remaining(), " follow it");
  // A compressed file's length is not: grow the buffer only as data arrives.
  const std::size_t want = static_cast<std::size_t>(total);
  if (!in.compressed()) out.data.reserve(want);
  std::size_t have = 0;
  while (have < want) {
    const std::size_t chunk = std::min(want - have, std::max<std::size_t>(have, 1 << 20));
    out.data.resize(have + chunk);
    const std::size_t n = in.read(out.data.data() + have, chunk);
    have += n;
    CAE_CHECK(n == chunk, IoError, name, ": truncated: the header declares ", dims_str(out.dims),
              " = ", total, " bytes of data but only ", have, " follow it", what);
  }
  in.expect_end(promise);
  return out;
}

inline std::vector<int> check_labels(const IdxArray& a, const std::string& name, int num_classes) {
  CAE_CHECK(a.dims[0] > 0, IoError, name, ": the file holds no labels");
  std::vector<int> labels(a.data.begin(), a.data.end());
  if (num_classes > 0)
    for (std::size_t i = 0; i < labels.size(); ++i)
      CAE_CHECK(labels[i] < num_classes, IoError, name, ": label ", labels[i], " at index ", i,
                " is outside [0, ", num_classes, ")");
  return labels;
}

inline Tensor<float> to_images(const IdxArray& a, const std::string& name) {
  const index_t n = a.dims[0], h = a.dims[1], w = a.dims[2];
  CAE_CHECK(n > 0, IoError, name, ": the file holds no images (header says ", dims_str(a.dims), ")");
  CAE_CHECK(h > 0 && w > 0 && h <= 65536 && w <= 65536, IoError, name,
            ": implausible image size ", h, " x ", w);
  std::array<float, 256> scale{};
  for (std::size_t v = 0; v < 256; ++v) scale[v] = static_cast<float>(v) / 255.0f;  // as ToTensor
  Tensor<float> images({n, 1, h, w});
  float* dst = images.data();
  for (std::size_t i = 0; i < a.data.size(); ++i) dst[i] = scale[a.data[i]];
  return images;
}

}  // namespace detail

// Any unsigned-byte IDX file, raw or gzip-compressed.
inline IdxArray parse_idx(const unsigned char* bytes, std::size_t size, const std::string& name) {
  return detail::parse_idx(bytes, size, name, 0);
}

// An IDX image file (magic 0x00000803) as [N, 1, H, W] floats in [0, 1].
inline Tensor<float> parse_idx_images(const unsigned char* bytes, std::size_t size,
                                      const std::string& name) {
  return detail::to_images(detail::parse_idx(bytes, size, name, kIdxImagesMagic), name);
}

// An IDX label file (magic 0x00000801). With num_classes > 0 every label must
// be below it.
inline std::vector<int> parse_idx_labels(const unsigned char* bytes, std::size_t size,
                                         const std::string& name, int num_classes = 0) {
  return detail::check_labels(detail::parse_idx(bytes, size, name, kIdxLabelsMagic), name,
                              num_classes);
}

inline Tensor<float> read_idx_images(const std::string& path) {
  const std::vector<unsigned char> bytes = io::read_file(path);
  return parse_idx_images(bytes.data(), bytes.size(), path);
}

inline std::vector<int> read_idx_labels(const std::string& path, int num_classes = 0) {
  const std::vector<unsigned char> bytes = io::read_file(path);
  return parse_idx_labels(bytes.data(), bytes.size(), path, num_classes);
}

// Images and labels from a pair of IDX files; the counts must agree.
inline Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path,
                             std::vector<std::string> class_names) {
  Dataset d;
  d.class_names = std::move(class_names);
  d.labels = read_idx_labels(labels_path, d.num_classes());
  d.images = read_idx_images(images_path);
  CAE_CHECK(static_cast<index_t>(d.labels.size()) == d.size(), IoError, labels_path, ": ",
            d.labels.size(), " labels, but ", images_path, " holds ", d.size(), " images");
  return d;
}

inline std::vector<std::string> fashion_mnist_classes() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

// The train or test split of an MNIST-style directory, found by the standard
// file names: MNIST and Fashion-MNIST's {train,t10k}-{images-idx3,labels-idx1}-ubyte,
// the {train,t10k}-images.idx3-ubyte spelling of some copies, and
// Kannada-MNIST's {X,y}_kannada_MNIST_{train,test}-idx{3,1}-ubyte; each raw or .gz.
inline Dataset load_mnist_like(const std::string& dir, bool train,
                               std::vector<std::string> class_names = numbered_classes(10)) {
  const std::string split = train ? "train" : "t10k";
  const std::string kannada = train ? "train" : "test";
  const std::vector<std::pair<std::string, std::string>> schemes = {
      {split + "-images-idx3-ubyte", split + "-labels-idx1-ubyte"},
      {split + "-images.idx3-ubyte", split + "-labels.idx1-ubyte"},
      {"X_kannada_MNIST_" + kannada + "-idx3-ubyte", "y_kannada_MNIST_" + kannada + "-idx1-ubyte"},
  };
  // Kaggle's download unpacks each file into a folder of the same name
  // (train-images-idx3-ubyte/train-images-idx3-ubyte): the file inside is used.
  auto find = [&](const std::string& stem) -> std::string {
    for (const char* suffix : {"", ".gz"}) {
      const std::string path = dir + "/" + stem + suffix;
      if (!io::file_exists(path)) continue;
      const std::string nested = path + "/" + stem + suffix;
      if (std::filesystem::is_directory(path) && io::file_exists(nested)) return nested;
      return path;
    }
    return "";
  };
  std::string tried;
  for (const auto& [images_stem, labels_stem] : schemes) {
    const std::string images = find(images_stem);
    if (images.empty()) {
      tried += "\n  " + images_stem + "[.gz]";
      continue;
    }
    const std::string labels = find(labels_stem);
    CAE_CHECK(!labels.empty(), IoError, images, ": found the images but no labels file ", dir, "/",
              labels_stem, "[.gz]");
    return load_idx_pair(images, labels, std::move(class_names));
  }
  throw IoError(str(dir, ": no MNIST-style ", train ? "training" : "test",
                    " images found; looked for", tried));
}

}  // namespace cae::data
