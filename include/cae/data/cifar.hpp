// CIFAR-10 in its official binary format ("CIFAR-10 binary version (suitable
// for C programs)"): cifar-10-batches-bin/data_batch_{1..5}.bin and
// test_batch.bin, each a sequence of 3073-byte records: one label byte, then
// the 32x32 red plane, green plane and blue plane, row-major. That is already
// CHW order, so a record maps straight onto one [3, 32, 32] image.
// batches.meta.txt holds the class names, one per line.
#pragma once

#include <cctype>
#include <string>
#include <vector>

#include "cae/data/dataset.hpp"
#include "cae/error.hpp"
#include "cae/io/file.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

constexpr index_t kCifarImageBytes = 3 * 32 * 32;
constexpr index_t kCifarRecordBytes = 1 + kCifarImageBytes;

inline std::vector<std::string> cifar10_classes() {
  return {"airplane", "automobile", "bird", "cat", "deer",
          "dog",      "frog",       "horse", "ship", "truck"};
}

namespace detail {

// Checks a batch file's length and labels; returns its number of records.
inline index_t check_cifar(const unsigned char* bytes, std::size_t size, const std::string& name,
                           int num_classes) {
  CAE_CHECK(size > 0, IoError, name, ": empty file");
  CAE_CHECK(size % kCifarRecordBytes == 0, IoError, name, ": size ", size,
            " bytes is not a whole number of ", kCifarRecordBytes,
            "-byte CIFAR-10 records (1 label byte + 3x32x32 pixels); truncated or not a CIFAR-10 "
            "binary batch");
  const index_t n = static_cast<index_t>(size) / kCifarRecordBytes;
  for (index_t i = 0; i < n; ++i) {
    const int label = bytes[i * kCifarRecordBytes];
    CAE_CHECK(label < num_classes, IoError, name, ": record ", i, " has label ", label,
              ", outside [0, ", num_classes, ") (not a CIFAR-10 binary batch?)");
  }
  return n;
}

// Decodes n checked records into images [n, 3, 32, 32] (at `images`) and labels.
inline void decode_cifar(const unsigned char* bytes, index_t n, float* images,
                         std::vector<int>& labels) {
  float scale[256];
  for (int v = 0; v < 256; ++v) scale[v] = static_cast<float>(v) / 255.0f;
  for (index_t i = 0; i < n; ++i) {
    const unsigned char* rec = bytes + i * kCifarRecordBytes;
    labels.push_back(rec[0]);
    float* dst = images + i * kCifarImageBytes;
    for (index_t k = 0; k < kCifarImageBytes; ++k) dst[k] = scale[rec[1 + k]];
  }
}

}  // namespace detail

// One CIFAR-10 binary batch in memory, as a Dataset with the CIFAR-10 classes.
inline Dataset parse_cifar(const unsigned char* bytes, std::size_t size, const std::string& name,
                           std::vector<std::string> class_names = cifar10_classes()) {
  Dataset d;
  d.class_names = std::move(class_names);
  const index_t n = detail::check_cifar(bytes, size, name, d.num_classes());
  d.images.resize({n, 3, 32, 32});
  detail::decode_cifar(bytes, n, d.images.data(), d.labels);
  return d;
}

// Class names from batches.meta.txt: the non-blank lines, trimmed.
inline std::vector<std::string> parse_cifar_meta(const std::string& text, const std::string& name) {
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::size_t b = pos, e = end;
    while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
    if (e > b) names.push_back(text.substr(b, e - b));
    pos = end + 1;
  }
  CAE_CHECK(!names.empty(), IoError, name, ": no class names in the file");
  CAE_CHECK(names.size() <= 256, IoError, name, ": ", names.size(),
            " class names; a CIFAR label byte can name at most 256");
  return names;
}

// The train split (data_batch_1..5.bin, 50,000 images) or the test split
// (test_batch.bin, 10,000 images) of the CIFAR-10 binary release. `dir` is the
// cifar-10-batches-bin folder or the folder the archive was unpacked in.
// Class names come from batches.meta.txt when it is there.
inline Dataset load_cifar10(const std::string& dir, bool train) {
  std::string root = dir;
  const char* probe = train ? "/data_batch_1.bin" : "/test_batch.bin";
  if (!io::file_exists(root + probe) && io::file_exists(dir + "/cifar-10-batches-bin" + probe))
    root = dir + "/cifar-10-batches-bin";
  std::vector<std::string> files;
  if (train)
    for (int i = 1; i <= 5; ++i) files.push_back(root + "/data_batch_" + std::to_string(i) + ".bin");
  else
    files.push_back(root + "/test_batch.bin");

  Dataset d;
  const std::string meta = root + "/batches.meta.txt";
  if (io::file_exists(meta)) {
    const std::vector<unsigned char> text = io::read_file(meta);
    d.class_names = parse_cifar_meta(std::string(text.begin(), text.end()), meta);
  } else {
    d.class_names = cifar10_classes();
  }

  // Check every file before allocating the (600 MB for the train split) floats.
  std::vector<std::vector<unsigned char>> batches;
  std::vector<index_t> counts;
  index_t total = 0;
  for (const std::string& f : files) {
    CAE_CHECK(io::file_exists(f), IoError, f,
              ": missing (expected the CIFAR-10 binary release in ", dir, ")");
    batches.push_back(io::read_file(f));
    counts.push_back(detail::check_cifar(batches.back().data(), batches.back().size(), f,
                                         d.num_classes()));
    CAE_CHECK(!__builtin_add_overflow(total, counts.back(), &total), IoError, f, ": too many records");
  }
  d.images.resize({total, 3, 32, 32});
  index_t offset = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    detail::decode_cifar(batches[b].data(), counts[b],
                         d.images.data() + offset * kCifarImageBytes, d.labels);
    offset += counts[b];
  }
  return d;
}

}  // namespace cae::data
