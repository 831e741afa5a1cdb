// Figures as PNG files: image grids (original / distorted / restored rows)
// with row and column labels, feature maps as rows of grey images, and line
// plots of training curves with a title, labelled axes, "nice" ticks and a
// legend, drawn by a small built-in rasterizer, so figures exist even where
// matplotlib does not (scripts/plot_curves.py draws others from the same CSV).
//
// Text is drawn with stb_truetype (Debian's libstb-dev) in DejaVu Sans
// (Debian's fonts-dejavu-core), found at $CAE_FONT, else in the usual Debian,
// Fedora and Arch places. Where no such file exists, text falls back to
// stb_easy_font's built-in bitmap font (ASCII, blocky but readable), so a
// figure never lacks its labels; figures::font_description() says which.
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

#ifndef CAE_STB_TRUETYPE_IMPLEMENTED
#define CAE_STB_TRUETYPE_IMPLEMENTED
#define STBTT_STATIC
#define STB_TRUETYPE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <stb_easy_font.h>
#include <stb_truetype.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

namespace cae::figures {

// ---- text ----

namespace detail {

// A coverage mask: w x h values in [0, 1], row-major.
struct Mask {
  int w = 0, h = 0;
  std::vector<float> a;
};

// The 90-degree counter-clockwise turn of a mask (text reading bottom to top).
inline Mask rotate_ccw(const Mask& m) {
  Mask r;
  r.w = m.h, r.h = m.w;
  r.a.assign(static_cast<std::size_t>(r.w) * static_cast<std::size_t>(r.h), 0.f);
  for (int y = 0; y < m.h; ++y)
    for (int x = 0; x < m.w; ++x)
      r.a[static_cast<std::size_t>((m.w - 1 - x) * r.w + y)] = m.a[static_cast<std::size_t>(y * m.w + x)];
  return r;
}

class Font {
 public:
  static const Font& get() {
    static const Font font;
    return font;
  }
  bool truetype() const { return ok_; }
  const std::string& description() const { return description_; }

  // `s` (ASCII) with a line height of about `px` pixels.
  Mask render(const std::string& s, int px) const { return ok_ ? render_truetype(s, px) : render_easy(s, px); }
  int width(const std::string& s, int px) const { return render(s, px).w; }
  int height(int px) const { return render("Ag", px).h; }

 private:
  Font() {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("CAE_FONT"); env && *env) candidates.push_back(env);
    for (const char* p : {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                          "/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"})
      candidates.push_back(p);
    for (const std::string& path : candidates) {
      if (!io::file_exists(path)) continue;
      data_ = io::read_file(path);
      const int offset = stbtt_GetFontOffsetForIndex(data_.data(), 0);
      if (offset >= 0 && stbtt_InitFont(&info_, data_.data(), offset)) {
        ok_ = true;
        description_ = "TrueType " + path;
        return;
      }
    }
    description_ = "stb_easy_font (no DejaVuSans.ttf found; install fonts-dejavu-core or set CAE_FONT)";
  }

  Mask render_truetype(const std::string& s, int px) const {
    const float scale = stbtt_ScaleForPixelHeight(&info_, static_cast<float>(px));
    int ascent = 0, descent = 0, gap = 0;
    stbtt_GetFontVMetrics(&info_, &ascent, &descent, &gap);
    const int baseline = static_cast<int>(std::lround(ascent * scale));
    Mask m;
    m.h = static_cast<int>(std::lround((ascent - descent) * scale)) + 1;
    double pen = 0;
    std::vector<double> starts;
    for (std::size_t i = 0; i < s.size(); ++i) {
      starts.push_back(pen);
      int advance = 0, bearing = 0;
      stbtt_GetCodepointHMetrics(&info_, static_cast<unsigned char>(s[i]), &advance, &bearing);
      pen += advance * scale;
      if (i + 1 < s.size())
        pen += scale * stbtt_GetCodepointKernAdvance(&info_, static_cast<unsigned char>(s[i]),
                                                     static_cast<unsigned char>(s[i + 1]));
    }
    m.w = static_cast<int>(std::ceil(pen)) + 1;
    m.a.assign(static_cast<std::size_t>(m.w) * static_cast<std::size_t>(m.h), 0.f);
    std::vector<unsigned char> glyph;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const int cp = static_cast<unsigned char>(s[i]);
      int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
      stbtt_GetCodepointBitmapBox(&info_, cp, scale, scale, &x0, &y0, &x1, &y1);
      const int gw = x1 - x0, gh = y1 - y0;
      if (gw <= 0 || gh <= 0) continue;
      glyph.assign(static_cast<std::size_t>(gw) * static_cast<std::size_t>(gh), 0);
      stbtt_MakeCodepointBitmap(&info_, glyph.data(), gw, gh, gw, scale, scale, cp);
      const int left = static_cast<int>(std::lround(starts[i])) + x0, top = baseline + y0;
      for (int y = 0; y < gh; ++y)
        for (int x = 0; x < gw; ++x) {
          const int X = left + x, Y = top + y;
          if (X < 0 || Y < 0 || X >= m.w || Y >= m.h) continue;
          float& a = m.a[static_cast<std::size_t>(Y * m.w + X)];
          a = std::min(1.f, a + glyph[static_cast<std::size_t>(y * gw + x)] / 255.f);
        }
    }
    return m;
  }

  // stb_easy_font draws ASCII as axis-aligned quads on a grid about 12 units
  // high per line, scaled here by a whole number.
  static Mask render_easy(const std::string& s, int px) {
    std::string text = s;
    const int k = std::max(1, px / 12);
    Mask m;
    m.w = std::max(1, stb_easy_font_width(text.data()) * k);
    m.h = 12 * k;
    m.a.assign(static_cast<std::size_t>(m.w) * static_cast<std::size_t>(m.h), 0.f);
    std::vector<float> buffer(64 + 4 * 4 * 50 * s.size());
    unsigned char colour[4] = {255, 255, 255, 255};
    const int quads = stb_easy_font_print(0, 0, text.data(), colour, buffer.data(),
                                          static_cast<int>(buffer.size() * sizeof(float)));
    for (int q = 0; q < quads; ++q) {
      const float* v = buffer.data() + q * 16;  // 4 vertices of x, y, z, colour
      const int x0 = static_cast<int>(v[0]) * k, y0 = static_cast<int>(v[1]) * k;
      const int x1 = static_cast<int>(v[8]) * k, y1 = static_cast<int>(v[9]) * k;
      for (int y = std::max(0, y0); y < std::min(m.h, y1); ++y)
        for (int x = std::max(0, x0); x < std::min(m.w, x1); ++x) m.a[static_cast<std::size_t>(y * m.w + x)] = 1.f;
    }
    return m;
  }

  bool ok_ = false;
  std::string description_;
  std::vector<unsigned char> data_;
  stbtt_fontinfo info_{};
};

// Blends `colour` into the [C, H, W] image `img` (C = 1 or 3) through the mask
// whose top-left corner goes to (x, y); pixels outside are dropped.
inline void blend(Tensor<float>& img, const Mask& m, int x, int y, const std::array<float, 3>& colour) {
  const index_t channels = img.dim(0), h = img.dim(1), w = img.dim(2);
  for (int my = 0; my < m.h; ++my)
    for (int mx = 0; mx < m.w; ++mx) {
      const float a = m.a[static_cast<std::size_t>(my * m.w + mx)];
      const index_t X = x + mx, Y = y + my;
      if (a <= 0.f || X < 0 || Y < 0 || X >= w || Y >= h) continue;
      for (index_t k = 0; k < channels; ++k) {
        float& p = img[(k * h + Y) * w + X];
        const float c = channels == 1 ? (colour[0] + colour[1] + colour[2]) / 3.f : colour[static_cast<std::size_t>(k)];
        p = p * (1.f - a) + c * a;
      }
    }
}

}  // namespace detail

// Which renderer draws the figures' text: "TrueType <path>" or the fallback.
inline std::string font_description() { return detail::Font::get().description(); }

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
  // Text left of each row ("original", "reconstructed"), above each column,
  // and above the whole grid; empty: none.
  GridOptions& row_labels(std::vector<std::string> labels) {
    row_labels_ = std::move(labels);
    return *this;
  }
  GridOptions& column_labels(std::vector<std::string> labels) {
    column_labels_ = std::move(labels);
    return *this;
  }
  GridOptions& title(std::string text) {
    title_ = std::move(text);
    return *this;
  }
  // Pixel height of the labels' text (the title's is 1.2 times that).
  GridOptions& font_px(int px) {
    CAE_CHECK(px >= 6, Error, "GridOptions: font_px must be >= 6, got ", px);
    font_px_ = px;
    return *this;
  }
  int gap() const { return gap_; }
  int scale() const { return scale_; }
  float background() const { return background_; }
  const std::vector<std::string>& row_labels() const { return row_labels_; }
  const std::vector<std::string>& column_labels() const { return column_labels_; }
  const std::string& title() const { return title_; }
  int font_px() const { return font_px_; }

 private:
  int gap_ = 2, scale_ = 1, font_px_ = 14;
  float background_ = 1.f;
  std::vector<std::string> row_labels_, column_labels_;
  std::string title_;
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
  CAE_CHECK(opt.row_labels().empty() || opt.row_labels().size() == rows.size(), ShapeError, "image_grid: ",
            opt.row_labels().size(), " row labels for ", rows.size(), " rows");
  CAE_CHECK(opt.column_labels().empty() || opt.column_labels().size() == ncols, ShapeError, "image_grid: ",
            opt.column_labels().size(), " column labels for ", ncols, " columns");
  // Margins for the labels: left of the rows, above the columns, above all.
  const detail::Font& font = detail::Font::get();
  const int px = opt.font_px(), title_px = px * 6 / 5, pad = px / 2;
  std::vector<detail::Mask> row_text, col_text;
  index_t label_w = 0, col_h = 0;
  for (const std::string& l : opt.row_labels()) {
    row_text.push_back(font.render(l, px));
    label_w = std::max<index_t>(label_w, row_text.back().w);
  }
  for (const std::string& l : opt.column_labels()) {
    col_text.push_back(font.render(l, px));
    col_h = std::max<index_t>(col_h, col_text.back().h);
  }
  const detail::Mask title = opt.title().empty() ? detail::Mask{} : font.render(opt.title(), title_px);
  const index_t left_margin = label_w > 0 ? label_w + 2 * pad : 0;
  const index_t title_h = title.h > 0 ? title.h + pad : 0, col_margin = col_h > 0 ? col_h + pad : 0;
  const index_t top_margin = title_h + col_margin + (title_h + col_margin > 0 ? pad : 0);
  index_t height = gap * static_cast<index_t>(rows.size() - 1) + top_margin,
          width = gap * static_cast<index_t>(ncols - 1) + left_margin;
  for (index_t h : row_h) height += h;
  for (index_t w : col_w) width += w;
  if (title.w > 0) width = std::max<index_t>(width, title.w + 2 * pad);
  const index_t channels = rgb ? 3 : 1;
  Tensor<float> out({channels, height, width}, opt.background());
  const float ink = opt.background() >= 0.5f ? 0.f : 1.f;
  const std::array<float, 3> text_colour{ink, ink, ink};
  if (title.w > 0) detail::blend(out, title, static_cast<int>((width - title.w) / 2), static_cast<int>(pad / 2), text_colour);
  index_t y0 = top_margin;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (!row_text.empty())
      detail::blend(out, row_text[r], static_cast<int>(left_margin - pad - row_text[r].w),
                    static_cast<int>(y0 + (row_h[r] - row_text[r].h) / 2), text_colour);
    index_t x0 = left_margin;
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
      if (r == 0 && !col_text.empty())
        detail::blend(out, col_text[c], static_cast<int>(x0 + (col_w[c] - col_text[c].w) / 2),
                      static_cast<int>(title_h + pad / 2), text_colour);
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
  std::string label;      // its legend entry; empty: not in the legend
  bool markers = false;   // a dot at every point, for curves of a few measured points
};

class PlotOptions {
 public:
  PlotOptions& width(int px) { return set(width_, px, 64, "width"); }
  PlotOptions& height(int px) { return set(height_, px, 48, "height"); }
  PlotOptions& line_width(int px) { return set(line_width_, px, 1, "line_width"); }
  // Text size: tick labels are 6 * font_scale + 2 pixels high (14 at the default 2).
  PlotOptions& font_scale(int s) { return set(font_scale_, s, 1, "font_scale"); }
  PlotOptions& title(std::string t) { return text(title_, std::move(t)); }
  // Axis labels, with units, e.g. "epoch", "test MSE (pixels in [0, 1])".
  PlotOptions& x_label(std::string t) { return text(x_label_, std::move(t)); }
  PlotOptions& y_label(std::string t) { return text(y_label_, std::move(t)); }
  // Ticks only at whole numbers on the x axis (epochs, rates).
  PlotOptions& integer_x(bool on) {
    integer_x_ = on;
    return *this;
  }
  // The x axis spans [lo, hi] whatever the data; points outside it are not drawn
  // (a line leaving the range breaks there), and the y axis fits the points inside.
  PlotOptions& x_range(double lo, double hi) {
    CAE_CHECK(std::isfinite(lo) && std::isfinite(hi) && hi > lo, Error,
              "PlotOptions: x_range needs finite lo < hi, got [", lo, ", ", hi, "]");
    x_range_ = {lo, hi};
    has_x_range_ = true;
    return *this;
  }
  // render_history's legend entries for the training and the evaluation curve.
  PlotOptions& legend(std::string train, std::string test) {
    legend_ = {std::move(train), std::move(test)};
    return *this;
  }
  int width() const { return width_; }
  int height() const { return height_; }
  int line_width() const { return line_width_; }
  int font_scale() const { return font_scale_; }
  int font_px() const { return 6 * font_scale_ + 2; }
  const std::string& title() const { return title_; }
  const std::string& x_label() const { return x_label_; }
  const std::string& y_label() const { return y_label_; }
  bool integer_x() const { return integer_x_; }
  // The legend in the bottom-right corner instead of the top-right one (for
  // curves that rise to the right, as rate-distortion curves do).
  PlotOptions& legend_bottom_right(bool on) {
    legend_bottom_right_ = on;
    return *this;
  }
  bool legend_bottom_right() const { return legend_bottom_right_; }
  bool has_x_range() const { return has_x_range_; }
  const std::array<double, 2>& x_range() const { return x_range_; }
  const std::array<std::string, 2>& legend() const { return legend_; }

 private:
  PlotOptions& set(int& field, int v, int min, const char* name) {
    CAE_CHECK(v >= min, Error, "PlotOptions: ", name, " must be >= ", min, ", got ", v);
    field = v;
    return *this;
  }
  PlotOptions& text(std::string& field, std::string v) {
    field = std::move(v);
    return *this;
  }
  int width_ = 640, height_ = 400, line_width_ = 2, font_scale_ = 2;
  std::string title_, x_label_, y_label_;
  bool integer_x_ = false;
  bool has_x_range_ = false, legend_bottom_right_ = false;
  std::array<double, 2> x_range_{0, 1};
  std::array<std::string, 2> legend_{"training", "test"};
};

// Series i is drawn in matplotlib's colour C<i>: blue, orange, green, red, purple, ...
inline std::array<float, 3> series_colour(std::size_t i) {
  static const unsigned rgb[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
  const unsigned c = rgb[i % 10];
  return {((c >> 16) & 255) / 255.f, ((c >> 8) & 255) / 255.f, (c & 255) / 255.f};
}

// Axis ticks at round numbers: a step of 1, 2, 2.5 or 5 times a power of ten,
// the smallest giving at most 8 ticks over the data range, which the axis then
// spans from the tick at or below the minimum to the tick at or above the maximum.
struct Ticks {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> values;
  int decimals = 0;  // enough to tell the ticks apart
};

inline Ticks nice_ticks(double lo, double hi, bool integer = false) {
  if (!(hi > lo)) {  // one value: a range around it
    const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d, hi += d;
    if (integer) lo = std::floor(lo), hi = std::ceil(hi);
  }
  Ticks t;
  const double range = hi - lo;
  const int e0 = static_cast<int>(std::floor(std::log10(range))) - 2;
  bool found = false;
  for (int e = e0; e <= e0 + 4 && !found; ++e)
    for (double m : {1.0, 2.0, 2.5, 5.0}) {
      const double step = m * std::pow(10.0, e);
      if (integer && step < 1) continue;
      if (integer && m == 2.5 && e == 0) continue;  // 2.5 is no whole number
      const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
      if (last - first + 1 <= 8) {
        t.step = step, t.lo = first * step, t.hi = last * step;
        t.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)) + (m == 2.5 ? 1 : 0));
        for (double k = first; k <= last + 0.5; ++k) t.values.push_back(k * step);
        found = true;
        break;
      }
    }
  return t;
}

inline std::string tick_label(double v, int decimals) {
  char buf[40];
  if (std::abs(v) < 1e-12) v = 0;
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

namespace detail {

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), img_({3, h, w}, 1.f) {}
  int width() const { return w_; }
  int height() const { return h_; }
  Tensor<float>& image() { return img_; }

  void pixel(int x, int y, const std::array<float, 3>& c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    for (int k = 0; k < 3; ++k) img_[(static_cast<index_t>(k) * h_ + y) * w_ + x] = c[static_cast<std::size_t>(k)];
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
  void draw(const Mask& m, int x, int y, const std::array<float, 3>& c) { blend(img_, m, x, y, c); }

 private:
  int w_, h_;
  Tensor<float> img_;
};

}  // namespace detail

// Draws the series into an RGB image [3, height, width]: white background, the
// title above, a black axes box with 4-8 labelled ticks per axis at round
// numbers (nice_ticks), the axis labels, series i in series_colour(i), and a
// legend of the labelled series in the top-right corner.
inline Tensor<float> render_line_plot(const std::vector<Series>& series,
                                      const PlotOptions& opt = {}) {
  auto in_x_range = [&](double x) {
    return !opt.has_x_range() || (x >= opt.x_range()[0] && x <= opt.x_range()[1]);
  };
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const Series& se = series[s];
    CAE_CHECK(se.x.empty() || se.x.size() == se.y.size(), ShapeError, "render_line_plot: series ",
              s, " has ", se.x.size(), " x values and ", se.y.size(), " y values");
    for (std::size_t i = 0; i < se.y.size(); ++i) {
      const double x = se.x.empty() ? static_cast<double>(i + 1) : se.x[i], y = se.y[i];
      if (!std::isfinite(x) || !std::isfinite(y) || !in_x_range(x)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  }
  const bool has_data = std::isfinite(xmin);
  if (!has_data) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (opt.has_x_range()) xmin = opt.x_range()[0], xmax = opt.x_range()[1];
  const Ticks xt = nice_ticks(xmin, xmax, opt.integer_x()), yt = nice_ticks(ymin, ymax);
  const std::array<float, 3> black{0.f, 0.f, 0.f};
  const detail::Font& font = detail::Font::get();
  detail::Canvas cv(opt.width(), opt.height());
  const int px = opt.font_px(), tick = px / 3 + 2, pad = px / 3 + 2;
  std::vector<detail::Mask> ylabels, xlabels;
  int ylabel_w = 0;
  for (double v : yt.values) {
    ylabels.push_back(font.render(tick_label(v, yt.decimals), px));
    ylabel_w = std::max(ylabel_w, ylabels.back().w);
  }
  for (double v : xt.values) xlabels.push_back(font.render(tick_label(v, xt.decimals), px));
  const int text_h = font.height(px);
  const detail::Mask title = opt.title().empty() ? detail::Mask{} : font.render(opt.title(), px * 6 / 5);
  const detail::Mask xname = opt.x_label().empty() ? detail::Mask{} : font.render(opt.x_label(), px);
  const detail::Mask yname = opt.y_label().empty() ? detail::Mask{} : detail::rotate_ccw(font.render(opt.y_label(), px));
  const int left = pad + (yname.w > 0 ? yname.w + pad : 0) + ylabel_w + tick + 2;
  const int right = opt.width() - 1 - std::max(pad + 2, (xlabels.empty() ? 0 : xlabels.back().w / 2) + 2);
  const int top = pad + (title.h > 0 ? title.h + pad : text_h / 2);
  const int bottom = opt.height() - 1 - (tick + 2 + text_h + (xname.h > 0 ? xname.h + pad / 2 : 0) + pad / 2);
  CAE_CHECK(right - left >= 16 && bottom - top >= 16, Error, "render_line_plot: ", opt.width(), "x",
            opt.height(), " leaves no room for the plot");
  // The axes span the outer ticks; the box is inset by a few pixels so curves never hide under it.
  const int inset = 3 + opt.line_width();
  auto px_of = [&](double x) {
    const double t = (x - xt.lo) / (xt.hi - xt.lo);
    return left + inset + static_cast<int>(std::lround(t * (right - left - 2 * inset)));
  };
  auto py_of = [&](double y) {
    const double t = (y - yt.lo) / (yt.hi - yt.lo);
    return bottom - inset - static_cast<int>(std::lround(t * (bottom - top - 2 * inset)));
  };
  cv.line(left, top, right, top, 1, black);
  cv.line(left, bottom, right, bottom, 1, black);
  cv.line(left, top, left, bottom, 1, black);
  cv.line(right, top, right, bottom, 1, black);
  const std::array<float, 3> grid{0.88f, 0.88f, 0.88f};
  for (std::size_t i = 0; i < yt.values.size(); ++i) {
    const int y = py_of(yt.values[i]);
    cv.line(left + 1, y, right - 1, y, 1, grid);
    cv.line(left - tick, y, left, y, 1, black);
    cv.draw(ylabels[i], left - tick - 2 - ylabels[i].w, y - ylabels[i].h / 2, black);
  }
  for (std::size_t i = 0; i < xt.values.size(); ++i) {
    const int x = px_of(xt.values[i]);
    cv.line(x, top + 1, x, bottom - 1, 1, grid);
    cv.line(x, bottom, x, bottom + tick, 1, black);
    cv.draw(xlabels[i], x - xlabels[i].w / 2, bottom + tick + 2, black);
  }
  if (title.w > 0) cv.draw(title, std::max(0, (left + right - title.w) / 2), pad / 2, black);
  if (xname.w > 0) cv.draw(xname, (left + right - xname.w) / 2, bottom + tick + 2 + text_h + pad / 2, black);
  if (yname.h > 0) cv.draw(yname, pad, std::max(0, (top + bottom - yname.h) / 2), black);
  for (std::size_t s = 0; s < series.size(); ++s) {
    const auto colour = series_colour(s);
    const Series& se = series[s];
    bool have_prev = false;
    int x0 = 0, y0 = 0;
    for (std::size_t i = 0; i < se.y.size(); ++i) {
      const double x = se.x.empty() ? static_cast<double>(i + 1) : se.x[i], y = se.y[i];
      if (!std::isfinite(x) || !std::isfinite(y) || !in_x_range(x)) {
        have_prev = false;
        continue;
      }
      const int x1 = px_of(x), y1 = py_of(y);
      if (se.markers) cv.dot(x1, y1, opt.line_width() + 5, colour);
      if (have_prev) {
        cv.line(x0, y0, x1, y1, opt.line_width(), colour);
      } else {
        const bool next_finite = i + 1 < se.y.size() && std::isfinite(se.y[i + 1]) &&
                                 (se.x.empty() || (std::isfinite(se.x[i + 1]) && in_x_range(se.x[i + 1])));
        if (!next_finite) cv.dot(x1, y1, opt.line_width() + 4, colour);  // a lone point stays visible
      }
      x0 = x1, y0 = y1, have_prev = true;
    }
  }
  // The legend: a white box with a sample line and the label of each labelled series.
  std::vector<std::size_t> listed;
  int legend_w = 0;
  std::vector<detail::Mask> names;
  for (std::size_t s = 0; s < series.size(); ++s)
    if (!series[s].label.empty()) {
      listed.push_back(s);
      names.push_back(font.render(series[s].label, px));
      legend_w = std::max(legend_w, names.back().w);
    }
  if (!listed.empty()) {
    const int sample = 2 * px, row = text_h + 2;
    const int box_w = pad + sample + pad + legend_w + pad, box_h = pad + row * static_cast<int>(listed.size()) + pad / 2;
    const int bx = right - inset - box_w;
    const int by = opt.legend_bottom_right() ? bottom - inset - box_h : top + inset;
    const std::array<float, 3> white{1.f, 1.f, 1.f}, edge{0.6f, 0.6f, 0.6f};
    for (int y = by; y < by + box_h; ++y) cv.line(bx, y, bx + box_w, y, 1, white);
    cv.line(bx, by, bx + box_w, by, 1, edge);
    cv.line(bx, by + box_h, bx + box_w, by + box_h, 1, edge);
    cv.line(bx, by, bx, by + box_h, 1, edge);
    cv.line(bx + box_w, by, bx + box_w, by + box_h, 1, edge);
    for (std::size_t k = 0; k < listed.size(); ++k) {
      const int y = by + pad + row * static_cast<int>(k);
      cv.line(bx + pad, y + text_h / 2, bx + pad + sample, y + text_h / 2, opt.line_width() + 1, series_colour(listed[k]));
      cv.draw(names[k], bx + pad + sample + pad, y, black);
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
    s.label = std::string(name).rfind("train", 0) == 0 ? panel.legend()[0] : panel.legend()[1];
    return s;
  };
  auto any_finite = [](const std::vector<Series>& v) {
    for (const auto& s : v)
      for (double y : s.y)
        if (std::isfinite(y)) return true;
    return false;
  };
  std::vector<std::vector<Series>> panels;
  std::vector<PlotOptions> looks;
  const std::string prefix = panel.title().empty() ? "" : panel.title() + ": ";
  for (const auto& pair : {std::array<const char*, 2>{"train_loss", "test_loss"},
                           std::array<const char*, 2>{"train_acc", "test_acc"}}) {
    std::vector<Series> p{series_of(pair[0]), series_of(pair[1])};
    if (!any_finite(p)) continue;
    for (Series& s : p)
      if (!any_finite({s})) s.label.clear();
    const bool loss = pair[0][6] == 'l';
    PlotOptions look = panel;
    look.title(prefix + (loss ? "loss per epoch" : "accuracy per epoch"))
        .x_label("epoch")
        .y_label(loss ? (panel.y_label().empty() ? "loss" : panel.y_label()) : "accuracy (fraction correct)")
        .integer_x(true);
    panels.push_back(p);
    looks.push_back(look);
  }
  CAE_CHECK(!panels.empty(), Error,
            "render_history: none of train_loss, test_loss, train_acc, test_acc has a value");
  std::vector<std::vector<Tensor<float>>> row(1);
  for (std::size_t i = 0; i < panels.size(); ++i) row[0].push_back(render_line_plot(panels[i], looks[i]));
  return image_grid(row, GridOptions().gap(0));
}

inline void save_history_plot(const std::string& csv_path, const std::string& png_path,
                              const PlotOptions& panel = {}) {
  const std::vector<unsigned char> bytes = io::read_file(csv_path);
  const Table t = parse_csv_table(std::string(bytes.begin(), bytes.end()), csv_path);
  io::save_png(png_path, render_history(t, panel));
}

}  // namespace cae::figures
