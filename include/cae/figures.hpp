// Figures as PNG files: image grids (original / distorted / restored rows),
// feature maps as rows of grey images, and line plots of training curves drawn
// by a tiny built-in rasterizer, so curves exist even where matplotlib does not
// (scripts/plot_curves.py draws nicer ones from the same CSV).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/io/file.hpp"
#include "cae/io/image.hpp"
#include "cae/tensor.hpp"

namespace cae::figures {

// ---- image grids ----

class GridOptions {
 public:
  // Pixels of background between neighbouring cells (not around the grid).
  GridOptions& gap(int px) {
    CAE_CHECK(px >= 0, Error, "GridOptions: gap must be >= 0, got ", px);
    gap_ = px;
    return *this;
  }
  // Integer upscaling of every image (nearest neighbour), e.g. 4 for 28x28 digits.
  GridOptions& scale(int factor) {
    CAE_CHECK(factor >= 1, Error, "GridOptions: scale must be >= 1, got ", factor);
    scale_ = factor;
    return *this;
  }
  // Grey level of the gaps and of the unused area around smaller images.
  GridOptions& background(float v) {
    background_ = v;
    return *this;
  }
  int gap() const { return gap_; }
  int scale() const { return scale_; }
  float background() const { return background_; }

 private:
  int gap_ = 2, scale_ = 1;
  float background_ = 1.f;
};

namespace detail {
template <typename T>
void check_cell(const Tensor<T>& img, std::size_t r, std::size_t c) {
  CAE_CHECK((img.rank() == 2 || img.rank() == 3) && img.numel() > 0, ShapeError,
            "image_grid: cell (", r, ", ", c, ") must be a non-empty [C, H, W] or [H, W], got ",
            img.shape());
  CAE_CHECK(img.rank() == 2 || img.dim(0) == 1 || img.dim(0) == 3, ShapeError, "image_grid: cell (",
            r, ", ", c, ") has ", img.dim(0), " channels; only 1 (grey) or 3 (RGB) can be drawn");
}
}  // namespace detail

// Lays out rows[r][c] (each [C, H, W] with C = 1 or 3, or [H, W], values in
// [0, 1]) as a grid: a column is as wide as its widest image, a row as tall as
// its tallest, smaller images are centred, and `gap` background pixels separate
// the cells. Rows may have different lengths. The result is [3, H, W] if any
// image is RGB (grey images are repeated over the three channels), else [1, H, W].
template <typename T>
Tensor<float> image_grid(const std::vector<std::vector<Tensor<T>>>& rows,
                         const GridOptions& opt = {}) {
  CAE_CHECK(!rows.empty(), ShapeError, "image_grid: no rows");
  std::size_t ncols = 0;
  bool rgb = false;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    ncols = std::max(ncols, rows[r].size());
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      detail::check_cell(rows[r][c], r, c);
      rgb = rgb || (rows[r][c].rank() == 3 && rows[r][c].dim(0) == 3);
    }
  }
  CAE_CHECK(ncols > 0, ShapeError, "image_grid: every row is empty");
  const index_t s = opt.scale(), gap = opt.gap();
  std::vector<index_t> row_h(rows.size(), 0), col_w(ncols, 0);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      row_h[r] = std::max(row_h[r], rows[r][c].dim(-2) * s);
      col_w[c] = std::max(col_w[c], rows[r][c].dim(-1) * s);
    }
  index_t height = gap * static_cast<index_t>(rows.size() - 1), width = gap * static_cast<index_t>(ncols - 1);
  for (index_t h : row_h) height += h;
  for (index_t w : col_w) width += w;
  const index_t channels = rgb ? 3 : 1;
  Tensor<float> out({channels, height, width}, opt.background());
  index_t y0 = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    index_t x0 = 0;
    for (std::size_t c = 0; c < ncols; ++c) {
      if (c < rows[r].size()) {
        const Tensor<T>& img = rows[r][c];
        const index_t ih = img.dim(-2), iw = img.dim(-1);
        const index_t ic = img.rank() == 3 ? img.dim(0) : 1;
        const index_t top = y0 + (row_h[r] - ih * s) / 2, left = x0 + (col_w[c] - iw * s) / 2;
        for (index_t k = 0; k < channels; ++k) {
          const index_t src_k = ic == 1 ? 0 : k;
          for (index_t i = 0; i < ih * s; ++i)
            for (index_t j = 0; j < iw * s; ++j)
              out[(k * height + top + i) * width + left + j] =
                  static_cast<float>(img[(src_k * ih + i / s) * iw + j / s]);
        }
      }
      x0 += col_w[c] + gap;
    }
    y0 += row_h[r] + gap;
  }
  return out;
}

// One grid row per batch: batches[r] is [N, C, H, W] and its images fill row r,
// e.g. {originals, distorted, restored} for the usual comparison figure.
template <typename T>
Tensor<float> batch_grid(const std::vector<Tensor<T>>& batches, const GridOptions& opt = {}) {
  std::vector<std::vector<Tensor<T>>> rows;
  for (std::size_t r = 0; r < batches.size(); ++r) {
    CAE_CHECK(batches[r].rank() == 4, ShapeError, "batch_grid: row ", r,
              " must be a batch [N, C, H, W], got ", batches[r].shape());
    rows.emplace_back();
    for (index_t i = 0; i < batches[r].dim(0); ++i) rows.back().push_back(batches[r].sample(i));
  }
  return image_grid(rows, opt);
}

// A feature map [C, H, W] (or [1, C, H, W]), e.g. an encoder's [6, 158, 158]
// output, as C grey images [1, H, W], each stretched to [0, 1] by its own
// minimum and maximum (a constant channel becomes black).
template <typename T>
std::vector<Tensor<float>> feature_map_images(const Tensor<T>& fmap) {
  CAE_CHECK(fmap.rank() == 3 || (fmap.rank() == 4 && fmap.dim(0) == 1), ShapeError,
            "feature_map_images: needs [C, H, W] or [1, C, H, W], got ", fmap.shape());
  const index_t c = fmap.dim(-3), h = fmap.dim(-2), w = fmap.dim(-1);
  std::vector<Tensor<float>> out;
  for (index_t k = 0; k < c; ++k) {
    const T* p = fmap.data() + k * h * w;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (index_t i = 0; i < h * w; ++i)
      if (std::isfinite(static_cast<double>(p[i]))) lo = std::min<double>(lo, p[i]), hi = std::max<double>(hi, p[i]);
    Tensor<float> img({1, h, w}, 0.f);
    if (hi > lo)
      for (index_t i = 0; i < h * w; ++i)
        img[i] = std::isfinite(static_cast<double>(p[i])) ? static_cast<float>((p[i] - lo) / (hi - lo)) : 0.f;
    out.push_back(std::move(img));
  }
  return out;
}

template <typename T>
void save_image_grid(const std::string& path, const std::vector<std::vector<Tensor<T>>>& rows,
                     const GridOptions& opt = {}) {
  io::save_png(path, image_grid(rows, opt));
}

template <typename T>
void save_batch_grid(const std::string& path, const std::vector<Tensor<T>>& batches,
                     const GridOptions& opt = {}) {
  io::save_png(path, batch_grid(batches, opt));
}

// The channels of a feature map side by side, as one row.
template <typename T>
void save_feature_maps(const std::string& path, const Tensor<T>& fmap, const GridOptions& opt = {}) {
  io::save_png(path, image_grid(std::vector<std::vector<Tensor<float>>>{feature_map_images(fmap)}, opt));
}

// ---- line plots ----

// One curve. Points with a non-finite y (a value not measured) break the line.
struct Series {
  std::vector<double> y;
  std::vector<double> x;  // empty: 1, 2, ..., y.size() (epochs)
};

class PlotOptions {
 public:
  PlotOptions& width(int px) { return set(width_, px, 64, "width"); }
  PlotOptions& height(int px) { return set(height_, px, 48, "height"); }
  PlotOptions& line_width(int px) { return set(line_width_, px, 1, "line_width"); }
  // Size of the tick-label digits: 1 draws the 5x7 font as is, 2 doubles it.
  PlotOptions& font_scale(int s) { return set(font_scale_, s, 1, "font_scale"); }
  int width() const { return width_; }
  int height() const { return height_; }
  int line_width() const { return line_width_; }
  int font_scale() const { return font_scale_; }

 private:
  PlotOptions& set(int& field, int v, int min, const char* name) {
    CAE_CHECK(v >= min, Error, "PlotOptions: ", name, " must be >= ", min, ", got ", v);
    field = v;
    return *this;
  }
  int width_ = 640, height_ = 400, line_width_ = 2, font_scale_ = 2;
};

// Series i is drawn in matplotlib's colour C<i>: blue, orange, green, red, purple, ...
inline std::array<float, 3> series_colour(std::size_t i) {
  static const unsigned rgb[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
  const unsigned c = rgb[i % 10];
  return {((c >> 16) & 255) / 255.f, ((c >> 8) & 255) / 255.f, (c & 255) / 255.f};
}

namespace detail {

// 5x7 glyphs, one byte per row, bit 4 the leftmost pixel.
inline const unsigned char* glyph(char ch) {
  static const unsigned char digits[10][7] = {
      {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
      {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
      {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
      {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
      {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}};
  static const unsigned char dot[7] = {0, 0, 0, 0, 0, 0x0C, 0x0C};
  static const unsigned char minus[7] = {0, 0, 0, 0x1F, 0, 0, 0};
  static const unsigned char plus[7] = {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0};
  static const unsigned char e[7] = {0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E};
  static const unsigned char blank[7] = {0, 0, 0, 0, 0, 0, 0};
  if (ch >= '0' && ch <= '9') return digits[ch - '0'];
  switch (ch) {
    case '.': return dot;
    case '-': return minus;
    case '+': return plus;
    case 'e': return e;
    default: return blank;
  }
}

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), img_({3, h, w}, 1.f) {}
  int width() const { return w_; }
  int height() const { return h_; }
  Tensor<float>& image() { return img_; }

  void pixel(int x, int y, const std::array<float, 3>& c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    for (int k = 0; k < 3; ++k) img_[(static_cast<index_t>(k) * h_ + y) * w_ + x] = c[k];
  }
  void dot(int x, int y, int size, const std::array<float, 3>& c) {
    const int lo = -(size - 1) / 2;
    for (int dy = lo; dy < lo + size; ++dy)
      for (int dx = lo; dx < lo + size; ++dx) pixel(x + dx, y + dy, c);
  }
  // Bresenham, with a square brush of `size` pixels.
  void line(int x0, int y0, int x1, int y1, int size, const std::array<float, 3>& c) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    while (true) {
      dot(x0, y0, size, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Text whose top-left corner is (x, y); returns its width in pixels.
  int text(int x, int y, const std::string& s, int scale, const std::array<float, 3>& c) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const unsigned char* g = glyph(s[i]);
      for (int r = 0; r < 7; ++r)
        for (int b = 0; b < 5; ++b)
          if (g[r] & (0x10 >> b))
            for (int u = 0; u < scale; ++u)
              for (int v = 0; v < scale; ++v)
                pixel(x + static_cast<int>(i) * 6 * scale + b * scale + v, y + r * scale + u, c);
    }
    return text_width(s, scale);
  }
  static int text_width(const std::string& s, int scale) {
    return s.empty() ? 0 : (static_cast<int>(s.size()) * 6 - 1) * scale;
  }

 private:
  int w_, h_;
  Tensor<float> img_;
};

inline std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace detail

// Draws the series into an RGB image [3, height, width]: white background, a
// black axes box, tick marks and digit labels at the minimum and maximum of
// each axis (the data range), and series i in series_colour(i).
inline Tensor<float> render_line_plot(const std::vector<Series>& series,
                                      const PlotOptions& opt = {}) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const Series& se = series[s];
    CAE_CHECK(se.x.empty() || se.x.size() == se.y.size(), ShapeError, "render_line_plot: series ",
              s, " has ", se.x.size(), " x values and ", se.y.size(), " y values");
    for (std::size_t i = 0; i < se.y.size(); ++i) {
      const double x = se.x.empty() ? static_cast<double>(i + 1) : se.x[i], y = se.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  }
  const bool has_data = std::isfinite(xmin);
  if (!has_data) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  const std::array<float, 3> black{0.f, 0.f, 0.f};
  detail::Canvas cv(opt.width(), opt.height());
  const int fs = opt.font_scale(), char_h = 7 * fs;
  const std::string y_lo = detail::tick_label(ymin), y_hi = detail::tick_label(ymax);
  const std::string x_lo = detail::tick_label(xmin), x_hi = detail::tick_label(xmax);
  const int left = std::max(detail::Canvas::text_width(y_lo, fs), detail::Canvas::text_width(y_hi, fs)) + 4 * fs + 6;
  const int right = opt.width() - 1 - std::max(8, detail::Canvas::text_width(x_hi, fs) / 2 + 2);
  const int top = char_h / 2 + 4, bottom = opt.height() - 1 - (char_h + 4 * fs + 4);
  CAE_CHECK(right - left >= 16 && bottom - top >= 16, Error, "render_line_plot: ", opt.width(), "x",
            opt.height(), " leaves no room for the plot");
  // The data range maps onto the box inset by a few pixels, so curves never hide under it.
  const int inset = 3 + opt.line_width();
  auto px = [&](double x) {
    const double t = xmax > xmin ? (x - xmin) / (xmax - xmin) : 0.5;
    return left + inset + static_cast<int>(std::lround(t * (right - left - 2 * inset)));
  };
  auto py = [&](double y) {
    const double t = ymax > ymin ? (y - ymin) / (ymax - ymin) : 0.5;
    return bottom - inset - static_cast<int>(std::lround(t * (bottom - top - 2 * inset)));
  };
  cv.line(left, top, right, top, 1, black);
  cv.line(left, bottom, right, bottom, 1, black);
  cv.line(left, top, left, bottom, 1, black);
  cv.line(right, top, right, bottom, 1, black);
  if (has_data) {
    const int tick = 2 * fs + 1;
    for (double y : {ymin, ymax}) {
      cv.line(left - tick, py(y), left, py(y), 1, black);
      const std::string s = detail::tick_label(y);
      cv.text(left - tick - 2 - detail::Canvas::text_width(s, fs), py(y) - char_h / 2, s, fs, black);
      if (ymax == ymin) break;
    }
    for (double x : {xmin, xmax}) {
      cv.line(px(x), bottom, px(x), bottom + tick, 1, black);
      const std::string s = detail::tick_label(x);
      cv.text(px(x) - detail::Canvas::text_width(s, fs) / 2, bottom + tick + 2, s, fs, black);
      if (xmax == xmin) break;
    }
  }
  for (std::size_t s = 0; s < series.size(); ++s) {
    const auto colour = series_colour(s);
    const Series& se = series[s];
    bool have_prev = false;
    int x0 = 0, y0 = 0;
    for (std::size_t i = 0; i < se.y.size(); ++i) {
      const double x = se.x.empty() ? static_cast<double>(i + 1) : se.x[i], y = se.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) {
        have_prev = false;
        continue;
      }
      const int x1 = px(x), y1 = py(y);
      if (have_prev) {
        cv.line(x0, y0, x1, y1, opt.line_width(), colour);
      } else {
        const bool next_finite = i + 1 < se.y.size() && std::isfinite(se.y[i + 1]) &&
                                 (se.x.empty() || std::isfinite(se.x[i + 1]));
        if (!next_finite) cv.dot(x1, y1, opt.line_width() + 2, colour);  // a lone point stays visible
      }
      x0 = x1, y0 = y1, have_prev = true;
    }
  }
  return std::move(cv.image());
}

inline void save_line_plot(const std::string& path, const std::vector<Series>& series,
                           const PlotOptions& opt = {}) {
  io::save_png(path, render_line_plot(series, opt));
}

// ---- training history ----

// A CSV with a header row, numbers or empty cells (missing values, read as NaN):
// the History::save_csv format (epoch,train_loss,test_loss,train_acc,test_acc,...).
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> values;  // values[column][row]

  bool has(const std::string& name) const {
    return std::find(columns.begin(), columns.end(), name) != columns.end();
  }
  const std::vector<double>& column(const std::string& name) const {
    const auto it = std::find(columns.begin(), columns.end(), name);
    CAE_CHECK(it != columns.end(), Error, "Table: no column '", name, "'");
    return values[static_cast<std::size_t>(it - columns.begin())];
  }
};

inline Table parse_csv_table(const std::string& text, const std::string& where = "csv") {
  Table t;
  std::istringstream in(text);
  std::string line;
  auto split = [](const std::string& l) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream ls(l);
    while (std::getline(ls, cell, ',')) {
      while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
      while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
      cells.push_back(cell);
    }
    if (!l.empty() && l.back() == ',') cells.push_back("");
    return cells;
  };
  CAE_CHECK(std::getline(in, line), IoError, where, ": empty file, expected a header row");
  t.columns = split(line);
  t.values.resize(t.columns.size());
  int row = 1;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = split(line);
    CAE_CHECK(cells.size() <= t.columns.size(), IoError, where, ": row ", row, " has ",
              cells.size(), " cells for ", t.columns.size(), " columns");
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      double v = std::numeric_limits<double>::quiet_NaN();
      if (c < cells.size() && !cells[c].empty() && cells[c] != "nan" && cells[c] != "NaN") {
        char* end = nullptr;
        v = std::strtod(cells[c].c_str(), &end);
        CAE_CHECK(end && *end == '\0', IoError, where, ": row ", row, ", column '", t.columns[c],
                  "': '", cells[c], "' is not a number");
      }
      t.values[c].push_back(v);
    }
  }
  return t;
}

// Loss curves (train_loss blue, test_loss orange) on the left and accuracy
// curves (train_acc blue, test_acc orange) on the right, from a history CSV;
// columns that are absent or empty are left out, and a panel with no data at
// all is dropped. Each panel is panel_width x panel_height.
inline Tensor<float> render_history(const Table& t, const PlotOptions& panel = {}) {
  std::vector<double> x;
  if (t.has("epoch")) x = t.column("epoch");
  auto series_of = [&](const char* name) {
    Series s;
    if (t.has(name)) s.y = t.column(name), s.x = x;
    return s;
  };
  auto any_finite = [](const std::vector<Series>& v) {
    for (const auto& s : v)
      for (double y : s.y)
        if (std::isfinite(y)) return true;
    return false;
  };
  std::vector<std::vector<Series>> panels;
  for (const auto& pair : {std::array<const char*, 2>{"train_loss", "test_loss"},
                           std::array<const char*, 2>{"train_acc", "test_acc"}}) {
    std::vector<Series> p{series_of(pair[0]), series_of(pair[1])};
    if (any_finite(p)) panels.push_back(p);
  }
  CAE_CHECK(!panels.empty(), Error,
            "render_history: none of train_loss, test_loss, train_acc, test_acc has a value");
  std::vector<std::vector<Tensor<float>>> row(1);
  for (const auto& p : panels) row[0].push_back(render_line_plot(p, panel));
  return image_grid(row, GridOptions().gap(0));
}

inline void save_history_plot(const std::string& csv_path, const std::string& png_path,
                              const PlotOptions& panel = {}) {
  const std::vector<unsigned char> bytes = io::read_file(csv_path);
  const Table t = parse_csv_table(std::string(bytes.begin(), bytes.end()), csv_path);
  io::save_png(png_path, render_history(t, panel));
}

}  // namespace cae::figures
