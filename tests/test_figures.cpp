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

TEST_CASE("digit font draws tick labels", "[figures][plot]") {
  // A single constant value gives one tick label per axis: "1" (x) and "0.5" (y).
  Series s;
  s.y = {0.5};
  const Tensor<float> img = render_line_plot({s}, PlotOptions().width(120).height(90).font_scale(1));
  // Layout at font scale 1: the box's left edge is at 17 (width of "0.5") + 4 + 6 = 27, the
  // y tick spans x 24..27 and the label x 5..21; the box bottom is at 89 - (7 + 4 + 4) = 74,
  // the x tick spans y 74..77 and the label y 79..85.
  int dark_left = 0, dark_below = 0;
  for (int y = 0; y < 90; ++y)
    for (int x = 0; x < 120; ++x) {
      if (img.at({0, y, x}) != 0.f || img.at({1, y, x}) != 0.f || img.at({2, y, x}) != 0.f) continue;
      if (x < 24) ++dark_left;
      if (y >= 79) ++dark_below;
    }
  // Lit pixels of the 5x7 glyphs: '0' 19, '.' 4, '5' 17; '1' 10.
  CHECK(dark_left == 19 + 4 + 17);
  CHECK(dark_below == 10);
  CHECK(img.at({0, 74, 27}) == 0.f);  // the box's bottom-left corner
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
