// The models of paper 000 (Myojin & Hoshino, "Performance Evaluation of a
// Combined Convolutional AutoEncoder and Image Recognition Model for Large
// Scale Images"): two convolutional autoencoders for 3x320x320 images
// (Tables 1 and 3) and the residual classifiers trained on their encoder
// outputs (Tables 2 and 4, built from the Table 5 block).
//
// The tables contradict themselves in places (kernel columns that cannot give
// the listed sizes); every choice below makes each output shape the tables list
// come out exactly. The reasons are in docs/models.md (paper 000) and
// docs/reproductions/cifar320-designs.md; benchmarks/torch_models.py builds the
// same layers in PyTorch. tests/test_paper000_shapes.cpp checks the shapes and
// parameter counts against the tables.
#pragma once

#include <memory>
#include <vector>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/residual.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/layers/upsample.hpp"

namespace paper000 {

using cae::index_t;
using cae::Shape;
using Model = cae::Sequential<float>;

constexpr index_t kImageSize = 320;  // CIFAR-10's 32x32 enlarged ten times
constexpr index_t kBatch = 15;       // the N of every table
constexpr int kClasses = 3;          // automobile, cat, bird

// Layers [0, k) of each autoencoder are its encoder; the encoder output is
// the classifier's input (6x158x158 and 12x77x77).
constexpr std::size_t kDesign1EncoderLayers = 4;
constexpr std::size_t kDesign2EncoderLayers = 8;

namespace detail {

// 3x3, stride 2, padding 1: 320 -> 160, 158 -> 79 (padding 0 would give 159, 78).
inline cae::Conv2d<float> halving_conv(index_t in, index_t out) {
  return cae::Conv2d<float>(cae::Conv2dOptions(in, out, 3).stride(2).padding(1));
}
// Table 1/3's "(4, 4)" stride-1 pool: only a 3x3 window takes 2 pixels off
// (160 -> 158, 79 -> 77), which the text confirms ("reduces the image size by 2 pixels").
inline cae::MaxPool2d<float> minus_two_pool() { return cae::MaxPool2d<float>(cae::MaxPool2dOptions(3).stride(1)); }
// "Upsampling Bilinear": +2 pixels, i.e. a bilinear resize to the listed size.
inline cae::Upsample<float> resize_to(index_t size) {
  return cae::Upsample<float>(cae::UpsampleOptions().size(size).mode(cae::UpsampleMode::Bilinear));
}
// 3x3, stride 2, padding 1, output_padding 1: (H - 1) 2 - 2 + 3 + 1 = 2H.
inline cae::ConvTranspose2d<float> doubling_deconv(index_t in, index_t out) {
  return cae::ConvTranspose2d<float>(cae::ConvTranspose2dOptions(in, out, 3).stride(2).padding(1).output_padding(1));
}

}  // namespace detail

// Table 1. 3x320x320 -> (encoder) 6x158x158 -> 3x320x320; 333 parameters.
//   0 Conv2d(3, 6, 3, s2, p1)  1 ReLU  2 MaxPool2d(3, s1)  3 InstanceNorm2d(6)       [code]
//   4 Upsample(160, bilinear)  5 ReLU  6 ConvTranspose2d(6, 3, 3, s2, p1, op1)
//   7 InstanceNorm2d(3)  8 Sigmoid (Equation 2's cross-entropy needs outputs in (0, 1))
inline std::unique_ptr<Model> design1_autoencoder() {
  auto m = std::make_unique<Model>(Shape{3, kImageSize, kImageSize});
  m->add(detail::halving_conv(3, 6));
  m->add(cae::ReLU<float>());
  m->add(detail::minus_two_pool());
  m->add(cae::InstanceNorm2d<float>(6));
  m->add(detail::resize_to(160));
  m->add(cae::ReLU<float>());
  m->add(detail::doubling_deconv(6, 3));
  m->add(cae::InstanceNorm2d<float>(3));  // Table 1's "Max" here cannot keep 320x320: left out
  m->add(cae::Sigmoid<float>());
  return m;
}

// Table 3. 3x320x320 -> (encoder) 12x77x77 -> 3x320x320; 1,647 parameters.
inline std::unique_ptr<Model> design2_autoencoder() {
  auto m = std::make_unique<Model>(Shape{3, kImageSize, kImageSize});
  m->add(detail::halving_conv(3, 6));      // 6x160x160
  m->add(cae::ReLU<float>());
  m->add(detail::minus_two_pool());        // 6x158x158
  m->add(cae::InstanceNorm2d<float>(6));
  m->add(detail::halving_conv(6, 12));     // 12x79x79
  m->add(cae::ReLU<float>());
  m->add(detail::minus_two_pool());        // 12x77x77
  m->add(cae::InstanceNorm2d<float>(12));  // [code]
  m->add(detail::resize_to(79));           // 12x79x79
  m->add(cae::ReLU<float>());
  m->add(detail::doubling_deconv(12, 6));  // 6x158x158
  m->add(cae::InstanceNorm2d<float>(6));
  m->add(detail::resize_to(160));          // 6x160x160
  m->add(cae::ReLU<float>());
  m->add(detail::doubling_deconv(6, 3));   // 3x320x320
  m->add(cae::InstanceNorm2d<float>(3));
  m->add(cae::Sigmoid<float>());
  return m;
}

// Table 5's block with input C channels and stride s (1 or 2):
//   s = 2: C -> 2C -> 2C -> 4C, projection shortcut C -> 4C (Table 5 exactly);
//   s = 1: C -> C/2 -> C/2 -> C, identity shortcut (Tables 2 and 4 keep the
//          channels of stride-1 blocks; the inner width is half the output, as
//          in the s = 2 blocks and He et al.'s bottleneck).
// body: 1x1 conv - BN - ReLU - s x s conv, stride s - BN - ReLU - 1x1 conv - BN;
// out = ReLU(body(x) + shortcut(x)). The strided convolutions have an s x s
// kernel, not Table 5's 1x1: only that maps 25 -> 12 and 5 -> 2 (floor(H/2))
// as Tables 2 and 4 list, where a strided 1x1 gives ceil(H/2) = 13 and 3.
// No biases: BatchNorm follows every convolution.
inline cae::Residual<float> table5_block(index_t in_channels, index_t stride) {
  CAE_CHECK(stride == 1 || stride == 2, cae::Error, "table5_block: stride must be 1 or 2, got ", stride);
  CAE_CHECK(in_channels >= 2 && in_channels % 2 == 0, cae::Error,
            "table5_block: in_channels must be even and >= 2, got ", in_channels);
  const index_t out = stride == 2 ? 4 * in_channels : in_channels;
  const index_t width = out / 2;
  auto conv = [](index_t i, index_t o, index_t k) {
    return cae::Conv2d<float>(cae::Conv2dOptions(i, o, k).stride(k).bias(false));
  };
  cae::Sequential<float> body;
  body.add(conv(in_channels, width, 1));
  body.add(cae::BatchNorm2d<float>(width));
  body.add(cae::ReLU<float>());
  body.add(conv(width, width, stride));
  body.add(cae::BatchNorm2d<float>(width));
  body.add(cae::ReLU<float>());
  body.add(conv(width, out, 1));
  body.add(cae::BatchNorm2d<float>(out));
  cae::Sequential<float> shortcut;
  if (stride != 1) {
    shortcut.add(conv(in_channels, out, stride));
    shortcut.add(cae::BatchNorm2d<float>(out));
  }
  return cae::Residual<float>(std::move(body), std::move(shortcut));
}

// Blocks 1, 4, 8 and 14 halve the image and quadruple the channels (stages of
// 3, 4, 6 and 3 blocks, ResNet-50's layout).
inline const std::vector<index_t>& block_strides() {
  static const std::vector<index_t> s{2, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1};
  return s;
}

// Tables 2 and 4: Conv 3x3 (same size) + ReLU, a stride-1 max pool of `pool`,
// BatchNorm, the 16 blocks (`blocks` < 16 keeps only the first ones), Flatten
// ("Linear1", whose listed shape is the flattened block output) and
// Linear(..., 3) ("Linear2"). Module 0-3 are the stem, 4 .. 4 + blocks - 1 the blocks.
inline std::unique_ptr<Model> residual_classifier(const Shape& code, index_t stem_channels,
                                                  index_t pool, int blocks = 16) {
  CAE_CHECK(blocks >= 1 && blocks <= 16, cae::Error, "residual_classifier: blocks must be in [1, 16], got ", blocks);
  auto m = std::make_unique<Model>(code);
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(code[0], stem_channels, 3).padding(1)));
  m->add(cae::ReLU<float>());
  m->add(cae::MaxPool2d<float>(cae::MaxPool2dOptions(pool).stride(1)));
  m->add(cae::BatchNorm2d<float>(stem_channels));
  index_t c = stem_channels;
  for (int b = 0; b < blocks; ++b) {
    const index_t s = block_strides()[static_cast<std::size_t>(b)];
    m->add(table5_block(c, s));
    if (s == 2) c *= 4;
  }
  m->add(cae::Flatten<float>());
  m->add(cae::Linear<float>(kClasses));
  return m;
}

// Table 2: 6x158x158 -> 8x158x158 -> pool 59 -> 8x100x100 -> ... -> 2048x6x6 -> 3.
inline std::unique_ptr<Model> design1_classifier(int blocks = 16) {
  return residual_classifier(Shape{6, 158, 158}, 8, 59, blocks);
}
// Table 4: 12x77x77 -> 16x77x77 -> pool 38 -> 16x40x40 -> ... -> 4096x2x2 -> 3.
inline std::unique_ptr<Model> design2_classifier(int blocks = 16) {
  return residual_classifier(Shape{12, 77, 77}, 16, 38, blocks);
}

// ---- the shapes the paper's tables list (per sample, batch 15 dropped) ----

// One table row: its name in the paper and the per-sample output shape it lists.
struct TableRow {
  const char* name;
  Shape shape;
};

// Table 1, the outputs of Conv1, Pool1, Upsampling Bilinear1, DeConv1.
inline std::vector<TableRow> table1_rows() {
  return {{"Conv1", {6, 160, 160}}, {"Pool1", {6, 158, 158}},
          {"Upsampling Bilinear1", {6, 160, 160}}, {"DeConv1", {3, 320, 320}}};
}
// The module after which each Table 1 row's shape is measured.
inline std::vector<std::size_t> table1_modules() { return {1, 3, 5, 8}; }

inline std::vector<TableRow> table3_rows() {
  return {{"Conv1", {6, 160, 160}},  {"Pool1", {6, 158, 158}},      {"Conv2", {12, 79, 79}},
          {"Pool2", {12, 77, 77}},   {"Upsampling1", {12, 79, 79}}, {"Deconv1", {6, 158, 158}},
          {"Upsampling2", {6, 160, 160}}, {"DeConv2", {3, 320, 320}}};
}
inline std::vector<std::size_t> table3_modules() { return {1, 3, 5, 7, 9, 11, 13, 16}; }

// Tables 2 and 4: Conv1, Pool1, Residual Block1..16, Linear1, Linear2 (module
// indices 1, 3, 4..19, 20, 21).
inline std::vector<TableRow> classifier_rows(index_t stem, index_t stem_size, index_t pooled, index_t c1,
                                             const std::vector<index_t>& sizes) {
  static const char* names[] = {"Residual Block1",  "Residual Block2",  "Residual Block3",  "Residual Block4",
                                "Residual Block5",  "Residual Block6",  "Residual Block7",  "Residual Block8",
                                "Residual Block9",  "Residual Block10", "Residual Block11", "Residual Block12",
                                "Residual Block13", "Residual Block14", "Residual Block15", "Residual Block16"};
  std::vector<TableRow> rows{{"Conv1", {stem, stem_size, stem_size}}, {"Pool1", {stem, pooled, pooled}}};
  index_t c = c1;
  std::size_t stage = 0;
  for (std::size_t b = 0; b < 16; ++b) {
    if (b > 0 && block_strides()[b] == 2) c *= 4, ++stage;
    rows.push_back({names[b], {c, sizes[stage], sizes[stage]}});
  }
  const index_t flat = c * sizes.back() * sizes.back();
  rows.push_back({"Linear1", {flat}});
  rows.push_back({"Linear2", {kClasses}});
  return rows;
}
inline std::vector<TableRow> table2_rows() { return classifier_rows(8, 158, 100, 32, {50, 25, 12, 6}); }
inline std::vector<TableRow> table4_rows() { return classifier_rows(16, 77, 40, 64, {20, 10, 5, 2}); }
inline std::vector<std::size_t> classifier_modules() {
  std::vector<std::size_t> m{1, 3};
  for (std::size_t b = 0; b < 16; ++b) m.push_back(4 + b);
  m.push_back(20);
  m.push_back(21);
  return m;
}

// The per-sample output shape after module `index` of a flat Sequential built
// with an input shape (no forward pass: build() infers it).
inline Shape shape_after(Model& m, std::size_t index) {
  Shape s = *m.input_shape();
  for (std::size_t i = 0; i <= index; ++i) s = m[i].build(s);
  return s;
}

// Documented parameter counts (docs/models.md, checked by torch_models.py).
constexpr index_t kDesign1AutoencoderParams = 333;
constexpr index_t kDesign2AutoencoderParams = 1647;
constexpr index_t kDesign1ClassifierParams = 24198411;
constexpr index_t kDesign2ClassifierParams = 95868531;

}  // namespace paper000
