// Pixel CSV files as Kaggle distributes MNIST-style data (Kannada-MNIST's
// train.csv and Dig-MNIST.csv, the Digit Recognizer's train.csv): a header
// line, then one image per line, "label,pixel0,...,pixel783" with integers in
// 0..255. The competition's test.csv has an "id" column in place of the label;
// such a file loads as an unlabelled Dataset and the ids are returned apart.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "cae/data/dataset.hpp"
#include "cae/error.hpp"
#include "cae/io/file.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

struct PixelCsvOptions {
  // Labels must be below this.
  PixelCsvOptions& num_classes(int n) {
    num_classes_ = n;
    return *this;
  }
  // Image size; 0 x 0 infers a square image from the number of pixel columns.
  PixelCsvOptions& image_size(index_t height, index_t width) {
    height_ = height;
    width_ = width;
    return *this;
  }
  int num_classes() const { return num_classes_; }
  index_t height() const { return height_; }
  index_t width() const { return width_; }

 private:
  int num_classes_ = 10;
  index_t height_ = 0, width_ = 0;
};

namespace detail {

// Splits one line (without its newline) at commas; a trailing '\r' is dropped.
inline void split_csv_line(const char* b, const char* e, std::vector<std::pair<const char*, const char*>>& out) {
  out.clear();
  if (e > b && e[-1] == '\r') --e;
  const char* start = b;
  for (const char* p = b; p != e; ++p)
    if (*p == ',') {
      out.emplace_back(start, p);
      start = p + 1;
    }
  out.emplace_back(start, e);
}

inline std::string trimmed(const char* b, const char* e) {
  while (b < e && (*b == ' ' || *b == '\t' || *b == '"')) ++b;
  while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '"')) --e;
  return std::string(b, e);
}

// A non-negative decimal integer up to `max`, surrounded by optional spaces; -1 if not.
inline long long parse_small_int(const char* b, const char* e, long long max) {
  while (b < e && *b == ' ') ++b;
  while (e > b && e[-1] == ' ') --e;
  if (b == e || e - b > 18) return -1;
  long long v = 0;
  for (const char* p = b; p != e; ++p) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
  }
  return v <= max ? v : -1;
}

}  // namespace detail

// Parses CSV text in memory. For an id-first file (header "id,...") the ids go
// to *ids (when given) and the Dataset has no labels.
inline Dataset parse_pixel_csv(const char* text, std::size_t size, const std::string& name,
                               const PixelCsvOptions& options = PixelCsvOptions(),
                               std::vector<long long>* ids = nullptr) {
  const char* p = text;
  const char* end = text + size;
  auto next_line = [&](const char*& b, const char*& e) {
    b = p;
    while (p != end && *p != '\n') ++p;
    e = p;
    if (p != end) ++p;
  };
  std::vector<std::pair<const char*, const char*>> fields;
  const char *b, *e;
  next_line(b, e);
  detail::split_csv_line(b, e, fields);
  const std::string first = detail::trimmed(fields[0].first, fields[0].second);
  CAE_CHECK(first == "label" || first == "id", IoError, name,
            ": line 1: expected a header whose first column is 'label' or 'id', got '",
            first.substr(0, 40), "'");
  const bool labelled = first == "label";
  const index_t pixels = static_cast<index_t>(fields.size()) - 1;
  CAE_CHECK(pixels > 0, IoError, name, ": line 1: the header has no pixel columns");
  index_t h = options.height(), w = options.width();
  CAE_CHECK(h >= 0 && w >= 0 && h <= 65536 && w <= 65536, Error, name,
            ": PixelCsvOptions().image_size(", h, ", ", w, ") is not a valid image size");
  if (h == 0 && w == 0) {
    h = w = static_cast<index_t>(std::llround(std::sqrt(static_cast<double>(pixels))));
    CAE_CHECK(h * w == pixels, IoError, name, ": ", pixels,
              " pixel columns do not make a square image; give PixelCsvOptions().image_size(h, w)");
  }
  CAE_CHECK(h * w == pixels, IoError, name, ": ", pixels, " pixel columns, but image_size is ", h,
            " x ", w);
  const int num_classes = options.num_classes();
  CAE_CHECK(num_classes > 0, Error, name, ": PixelCsvOptions().num_classes(", num_classes,
            ") must be positive");

  std::vector<unsigned char> values;
  std::vector<int> labels;
  std::vector<long long> row_ids;
  index_t line = 1;
  while (p != end) {
    ++line;
    next_line(b, e);
    if (e == b || (e - b == 1 && *b == '\r')) continue;  // blank lines (e.g. at the end)
    detail::split_csv_line(b, e, fields);
    CAE_CHECK(static_cast<index_t>(fields.size()) == pixels + 1, IoError, name, ": line ", line,
              ": ", fields.size(), " columns, the header has ", pixels + 1);
    if (labelled) {
      const long long label = detail::parse_small_int(fields[0].first, fields[0].second, 1 << 30);
      CAE_CHECK(label >= 0 && label < num_classes, IoError, name, ": line ", line, ": label '",
                std::string(fields[0].first, fields[0].second).substr(0, 40),
                "' is not an integer in [0, ", num_classes, ")");
      labels.push_back(static_cast<int>(label));
    } else {
      const long long id = detail::parse_small_int(fields[0].first, fields[0].second,
                                                   (1LL << 62));
      CAE_CHECK(id >= 0, IoError, name, ": line ", line, ": id '",
                std::string(fields[0].first, fields[0].second).substr(0, 40),
                "' is not a non-negative integer");
      row_ids.push_back(id);
    }
    for (index_t k = 1; k <= pixels; ++k) {
      const auto& f = fields[static_cast<std::size_t>(k)];
      const long long v = detail::parse_small_int(f.first, f.second, 255);
      CAE_CHECK(v >= 0, IoError, name, ": line ", line, ", column ", k + 1, ": pixel '",
                std::string(f.first, f.second).substr(0, 40), "' is not an integer in [0, 255]");
      values.push_back(static_cast<unsigned char>(v));
    }
  }
  const index_t n = static_cast<index_t>(values.size()) / pixels;
  CAE_CHECK(n > 0, IoError, name, ": no data lines after the header");

  Dataset d;
  d.class_names = numbered_classes(num_classes);
  d.labels = std::move(labels);
  d.images.resize({n, 1, h, w});
  for (std::size_t i = 0; i < values.size(); ++i) d.images[static_cast<index_t>(i)] = values[i] / 255.0f;
  if (ids) *ids = std::move(row_ids);
  return d;
}

inline Dataset load_pixel_csv(const std::string& path,
                              const PixelCsvOptions& options = PixelCsvOptions(),
                              std::vector<long long>* ids = nullptr) {
  const std::vector<unsigned char> bytes = io::read_file(path);
  return parse_pixel_csv(reinterpret_cast<const char*>(bytes.data()), bytes.size(), path, options,
                         ids);
}

}  // namespace cae::data
