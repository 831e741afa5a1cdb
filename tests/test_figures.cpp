#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "cae/figures.hpp"
#include "cae/io/image.hpp"

using namespace cae;
using namespace cae::figures;

namespace {

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/cae_test_figures_" + std::to_string(::getpid()) +
         "_" + name;
}

// A [1, h, w] image of one grey level, exactly representable in 8 bits.
Tensor<float> grey(index_t h, index_t w, int level) {
  return Tensor<float>({1, h, w}, static_cast<float>(level) / 255.f);
}

// Pixel (k, y, x) of a loaded PNG as an 8-bit level.
int level(const Tensor<float>& img, index_t k, index_t y, index_t x) {
  return static_cast<int>(std::lround(img.at({k, y, x}) * 255.f));
}

}  // namespace

TEST_CASE("image grid: size, cells and gaps, read back from the PNG", "[figures]") {
  // 2 rows x 3 columns of 2x3 cells, gap 2: (2 * 2 + 2) x (3 * 3 + 2 * 2).
  std::vector<std::vector<Tensor<float>>> rows(2);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) rows[r].push_back(grey(2, 3, 10 + 40 * r + 10 * c));
  const std::string path = temp_path("grid.png");
  save_image_grid(path, rows, GridOptions().gap(2).background(1.f));
  const Tensor<float> img = io::load_image(path);
  std::remove(path.c_str());
  REQUIRE(img.shape() == Shape{1, 6, 13});
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) REQUIRE(level(img, 0, r * 4 + i, c * 5 + j) == 10 + 40 * r + 10 * c);
  for (int x = 0; x < 13; ++x) {  // the gap between the rows
    CHECK(level(img, 0, 2, x) == 255);
    CHECK(level(img, 0, 3, x) == 255);
  }
  for (int y = 0; y < 6; ++y) {  // the gaps between the columns
    CHECK(level(img, 0, y, 3) == 255);
    CHECK(level(img, 0, y, 9) == 255);
  }
}

TEST_CASE("image grid: upscaling, RGB, centring of smaller images", "[figures]") {
  // A 2x2 digit upscaled 3x: each pixel becomes a 3x3 block.
  auto digit = Tensor<float>::from({2, 2}, {0.f, 1.f, 20 / 255.f, 40 / 255.f});
  Tensor<float> rgb({3, 2, 2});
  for (index_t i = 0; i < 12; ++i) rgb[i] = static_cast<float>(i * 20) / 255.f;
  const Tensor<float> g = image_grid(std::vector<std::vector<Tensor<float>>>{{digit, rgb}},
                                     GridOptions().scale(3).gap(1).background(0.f));
  REQUIRE(g.shape() == Shape{3, 6, 13});
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x) {
        // The grey digit is repeated over the three channels.
        REQUIRE(g.at({k, y, x}) == digit[(y / 3) * 2 + x / 3]);
        REQUIRE(g.at({k, y, 7 + x}) == rgb[k * 4 + (y / 3) * 2 + x / 3]);
      }
  for (int y = 0; y < 6; ++y) CHECK(g.at({1, y, 6}) == 0.f);  // the gap, in the background colour

  // Smaller images are centred in their cells: a column is as wide as its widest
  // image, a row as tall as its tallest.
  const Tensor<float> c = image_grid(
      std::vector<std::vector<Tensor<float>>>{{grey(4, 4, 100), grey(2, 2, 200)},
                                              {grey(1, 1, 50), grey(4, 4, 150)}},
      GridOptions().gap(0));
  REQUIRE(c.shape() == Shape{1, 8, 8});
  for (int y = 0; y < 4; ++y)
    for (int x = 4; x < 8; ++x) {
      const bool inside = y >= 1 && y < 3 && x >= 5 && x < 7;
      REQUIRE(c.at({0, y, x}) == (inside ? 200 / 255.f : 1.f));
    }
  for (int y = 4; y < 8; ++y)
    for (int x = 0; x < 4; ++x) REQUIRE(c.at({0, y, x}) == (y == 5 && x == 1 ? 50 / 255.f : 1.f));
  CHECK_THROWS_WITH(image_grid(std::vector<std::vector<Tensor<float>>>{{Tensor<float>({2, 3, 3})}}),
                    Catch::Contains("cell (0, 0) has 2 channels"));
  CHECK_THROWS_WITH(GridOptions().scale(0), Catch::Contains("scale must be >= 1"));
}

TEST_CASE("batch grid: one row per batch", "[figures]") {
  Tensor<float> original({2, 1, 2, 2}, 0.25f), distorted({2, 1, 2, 2}, 0.5f), restored({2, 1, 2, 2}, 0.75f);
  restored.at({1, 0, 1, 1}) = 0.f;
  const std::string path = temp_path("batch.png");
  save_batch_grid(path, std::vector<Tensor<float>>{original, distorted, restored},
                  GridOptions().gap(1).scale(2));
  const Tensor<float> img = io::load_image(path);
  std::remove(path.c_str());
  REQUIRE(img.shape() == Shape{1, 3 * 4 + 2, 2 * 4 + 1});
  CHECK(level(img, 0, 0, 0) == 64);    // original 0
  CHECK(level(img, 0, 5, 6) == 128);   // distorted 1
  CHECK(level(img, 0, 10, 0) == 191);  // restored 0
  CHECK(level(img, 0, 12, 7) == 0);    // restored 1, pixel (1, 1) scaled 2x: rows 12-13, cols 7-8
  CHECK(level(img, 0, 13, 8) == 0);
  CHECK(level(img, 0, 11, 8) == 191);
  CHECK_THROWS_WITH(batch_grid(std::vector<Tensor<float>>{Tensor<float>({1, 2, 2})}),
                    Catch::Contains("row 0 must be a batch"));
}

TEST_CASE("feature maps become rows of normalized grey images", "[figures]") {
  auto fmap = Tensor<float>::from({3, 2, 2}, {-1, 0, 1, 2,   // stretched to 0, 1/3, 2/3, 1
                                              5, 5, 5, 5,    // constant: black
                                              0, 10, 0, 0});
  const auto maps = feature_map_images(fmap);
  REQUIRE(maps.size() == 3);
  CHECK(maps[0].shape() == Shape{1, 2, 2});
  CHECK(std::vector<float>(maps[0].begin(), maps[0].end()) ==
        std::vector<float>{0.f, 1.f / 3, 2.f / 3, 1.f});
  CHECK(std::vector<float>(maps[1].begin(), maps[1].end()) == std::vector<float>(4, 0.f));
  CHECK(maps[2][1] == 1.f);
  // An encoder output [6, 158, 158] as one row with 2-pixel gaps.
  Tensor<float> enc({1, 6, 158, 158});
  for (index_t i = 0; i < enc.numel(); ++i) enc[i] = static_cast<float>(i % 977) - 300.f;
  const std::string path = temp_path("fmap.png");
  save_feature_maps(path, enc);
  const Tensor<float> img = io::load_image(path);
  std::remove(path.c_str());
  CHECK(img.shape() == Shape{1, 158, 6 * 158 + 5 * 2});
  CHECK_THROWS_WITH(feature_map_images(Tensor<float>({2, 3, 4, 4})), Catch::Contains("[2, 3, 4, 4]"));
}

TEST_CASE("line plot rasterizer", "[figures][plot]") {
  // Blue rises from bottom-left to top-right, orange falls: same bounding box, mirrored.
  Series up, down;
  up.y = {0.0, 1.0};
  down.y = {1.0, 0.0};
  const Tensor<float> img = render_line_plot({up, down}, PlotOptions().width(200).height(150));
  REQUIRE(img.shape() == Shape{3, 150, 200});
  auto is = [&](int y, int x, const std::array<float, 3>& c) {
    return img.at({0, y, x}) == c[0] && img.at({1, y, x}) == c[1] && img.at({2, y, x}) == c[2];
  };
  const auto blue = series_colour(0), orange = series_colour(1);
  CHECK(blue == std::array<float, 3>{0x1f / 255.f, 0x77 / 255.f, 0xb4 / 255.f});
  int bx0 = 1000, bx1 = -1, by0 = 1000, by1 = -1, ox0 = 1000, ox1 = -1, oy0 = 1000, oy1 = -1;
  for (int y = 0; y < 150; ++y)
    for (int x = 0; x < 200; ++x) {
      if (is(y, x, blue)) bx0 = std::min(bx0, x), bx1 = std::max(bx1, x), by0 = std::min(by0, y), by1 = std::max(by1, y);
      if (is(y, x, orange)) ox0 = std::min(ox0, x), ox1 = std::max(ox1, x), oy0 = std::min(oy0, y), oy1 = std::max(oy1, y);
    }
  REQUIRE(bx1 > bx0 + 50);
  REQUIRE(by1 > by0 + 50);
  CHECK(bx0 == ox0);
  CHECK(bx1 == ox1);
  CHECK(by0 == oy0);
  CHECK(by1 == oy1);
  CHECK(is(by1, bx0, blue));    // blue starts at the bottom left (y grows upwards)
  CHECK(is(by0, bx1, blue));    // and ends at the top right
  CHECK(is(oy0, ox0, orange));  // orange starts at the top left
  // The axes box is black and encloses the curves.
  const std::array<float, 3> black{0, 0, 0};
  int box_left = -1;
  for (int x = 0; x < bx0 && box_left < 0; ++x)
    if (is((by0 + by1) / 2, x, black)) box_left = x;
  CHECK(box_left >= 0);
  CHECK(is(by0 - 3, box_left, black));
  // Written as a PNG of the same size.
  const std::string path = temp_path("plot.png");
  save_line_plot(path, {up, down}, PlotOptions().width(200).height(150));
  const Tensor<float> back = io::load_image(path);
  std::remove(path.c_str());
  CHECK(back.shape() == Shape{3, 150, 200});
  CHECK(level(back, 2, by1, bx0) == 0xb4);

  // A non-finite value breaks a line; a series with x of the wrong length is refused.
  Series gap;
  gap.y = {1.0, std::nan(""), 1.0};
  CHECK_NOTHROW(render_line_plot({gap}, PlotOptions().width(100).height(80)));
  Series bad;
  bad.y = {1, 2};
  bad.x = {1};
  CHECK_THROWS_WITH(render_line_plot({bad}), Catch::Contains("1 x values and 2 y values"));
  CHECK_THROWS_WITH(render_line_plot({up}, PlotOptions().width(64).height(48).font_scale(8)),
                    Catch::Contains("no room"));
}

TEST_CASE("nice ticks: 4-8 round numbers spanning the data", "[figures][plot]") {
  const Ticks t = nice_ticks(0.0022, 0.0134);
  CHECK(t.step == Approx(0.002));
  CHECK(t.values.size() == 7);  // 0.002, 0.004, ..., 0.014
  CHECK(t.lo == Approx(0.002));
  CHECK(t.hi == Approx(0.014));
  CHECK(tick_label(t.values[1], t.decimals) == "0.004");
  for (const auto& [lo, hi] : {std::pair<double, double>{0, 1}, {1, 20}, {-3.5, 7.25}, {0.9, 0.991}, {1e-4, 3e-4}, {5, 5}}) {
    const Ticks u = nice_ticks(lo, hi);
    CAPTURE(lo, hi, u.step);
    CHECK(u.values.size() >= 4);
    CHECK(u.values.size() <= 8);
    CHECK(u.lo <= lo);
    CHECK(u.hi >= hi);
  }
  // Whole numbers only, for epochs.
  const Ticks e = nice_ticks(1, 20, true);
  for (double v : e.values) CHECK(v == std::floor(v));
  CHECK(tick_label(e.values[0], e.decimals).find('.') == std::string::npos);
}

TEST_CASE("plots draw a title, axis labels and a legend in a real font", "[figures][plot]") {
  INFO(font_description());
  Series a, b;
  a.y = {0.5, 0.3, 0.2};
  a.label = "training";
  b.y = {0.6, 0.4, 0.35};
  b.label = "validation";
  const PlotOptions bare = PlotOptions().width(400).height(300);
  const Tensor<float> plain = render_line_plot({Series{a.y, {}, ""}, Series{b.y, {}, ""}}, bare);
  const Tensor<float> full =
      render_line_plot({a, b}, PlotOptions(bare).title("MSE per epoch").x_label("epoch").y_label("MSE"));
  auto dark = [](const Tensor<float>& img, int x0, int x1, int y0, int y1) {
    int n = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) n += img.at({0, y, x}) < 0.5f && img.at({1, y, x}) < 0.5f && img.at({2, y, x}) < 0.5f;
    return n;
  };
  // The title adds ink in the top strip, the x label in the bottom rows (the
  // plain plot has only ticks there).
  CHECK(dark(full, 120, 280, 0, 14) > dark(plain, 120, 280, 0, 14) + 30);
  CHECK(dark(full, 150, 250, 280, 300) > dark(plain, 150, 250, 280, 300) + 10);
  if (std::string(font_description()).rfind("TrueType", 0) == 0) {
    // Anti-aliased text has grey levels between ink and paper.
    bool grey = false;
    for (int y = 0; y < 14 && !grey; ++y)
      for (int x = 120; x < 280 && !grey; ++x) grey = full.at({0, y, x}) > 0.2f && full.at({0, y, x}) < 0.8f;
    CHECK(grey);
  }
}

TEST_CASE("image grids label their rows and columns", "[figures]") {
  const std::vector<std::vector<Tensor<float>>> rows{{grey(10, 10, 0), grey(10, 10, 0)}, {grey(10, 10, 255), grey(10, 10, 255)}};
  const Tensor<float> bare = image_grid(rows, GridOptions().gap(2).background(1.f));
  CHECK(bare.shape() == Shape{1, 22, 22});
  const Tensor<float> labelled =
      image_grid(rows, GridOptions().gap(2).row_labels({"original", "restored"}).column_labels({"a", "b"}));
  REQUIRE(labelled.dim(2) > 22 + 30);  // room for "original" at 14 px
  REQUIRE(labelled.dim(1) > 22 + 10);  // and for the column labels
  const index_t margin = labelled.dim(2) - 22;
  int ink = 0;
  for (index_t y = 0; y < labelled.dim(1); ++y)
    for (index_t x = 0; x < margin - 2; ++x) ink += labelled.at({0, y, x}) < 0.5f;
  CHECK(ink > 30);
  CHECK_THROWS_WITH(image_grid(rows, GridOptions().row_labels({"only one"})), Catch::Contains("1 row labels for 2 rows"));
  CHECK_THROWS_WITH(image_grid(rows, GridOptions().column_labels({"a", "b", "c"})),
                    Catch::Contains("3 column labels for 2 columns"));
}

TEST_CASE("history CSV to curves", "[figures][plot]") {
  const std::string csv =
      "epoch,train_loss,test_loss,train_acc,test_acc,lr,seconds,images_per_s\n"
      "1,0.9,1.1,,,0.001,2.5,100\n"
      "2,0.5,0.8,,,0.001,2.5,100\n"
      "3,0.3,,,,0.001,2.5,100\n";
  const Table t = parse_csv_table(csv);
  REQUIRE(t.columns.size() == 8);
  CHECK(t.column("train_loss") == std::vector<double>{0.9, 0.5, 0.3});
  CHECK(std::isnan(t.column("test_loss")[2]));
  CHECK(std::isnan(t.column("train_acc")[0]));
  // No accuracy values: only the loss panel.
  CHECK(render_history(t, PlotOptions().width(300).height(200)).shape() == Shape{3, 200, 300});
  const Table both = parse_csv_table("epoch,train_loss,test_acc\r\n1,0.5,0.7\r\n2,0.4,0.8\r\n");
  CHECK(both.column("test_acc") == std::vector<double>{0.7, 0.8});
  CHECK(render_history(both, PlotOptions().width(300).height(200)).shape() == Shape{3, 200, 600});
  const std::string csv_path = temp_path("history.csv"), png_path = temp_path("history.png");
  io::write_file_atomic(csv_path, csv);
  save_history_plot(csv_path, png_path);
  CHECK(io::load_image(png_path).shape() == Shape{3, 400, 640});
  std::remove(csv_path.c_str());
  std::remove(png_path.c_str());
  CHECK_THROWS_WITH(parse_csv_table("a,b\n1,x\n", "h.csv"),
                    Catch::Contains("h.csv: row 2, column 'b': 'x' is not a number"));
  CHECK_THROWS_WITH(render_history(parse_csv_table("epoch,lr\n1,0.1\n")),
                    Catch::Contains("none of train_loss"));
}
