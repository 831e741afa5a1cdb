// Paper 000's models (examples/paper000_models.hpp) reproduce every output
// shape Tables 1-4 list, have the parameter counts docs/models.md documents,
// and run forward on real-sized inputs with those shapes.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "../examples/paper000_models.hpp"

using namespace cae;
using paper000::Model;

namespace {

void check_table(Model& m, const std::vector<paper000::TableRow>& rows, const std::vector<std::size_t>& modules) {
  REQUIRE(rows.size() == modules.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO(rows[i].name << " (module " << modules[i] << ", " << m[modules[i]].describe() << ")");
    CHECK(paper000::shape_after(m, modules[i]) == rows[i].shape);
  }
  // The last listed row is the model's output.
  CHECK(m.output_shape() == rows.back().shape);
}

}  // namespace

TEST_CASE("paper 000 autoencoders give Tables 1 and 3's shapes", "[paper000]") {
  auto d1 = paper000::design1_autoencoder();
  check_table(*d1, paper000::table1_rows(), paper000::table1_modules());
  CHECK(d1->num_parameters() == paper000::kDesign1AutoencoderParams);
  CHECK(paper000::shape_after(*d1, paper000::kDesign1EncoderLayers - 1) == Shape({6, 158, 158}));

  auto d2 = paper000::design2_autoencoder();
  check_table(*d2, paper000::table3_rows(), paper000::table3_modules());
  CHECK(d2->num_parameters() == paper000::kDesign2AutoencoderParams);
  CHECK(paper000::shape_after(*d2, paper000::kDesign2EncoderLayers - 1) == Shape({12, 77, 77}));
  // The encoder's parameters: Conv1 168 + Conv2 660 (docs/models.md).
  index_t enc = 0;
  for (std::size_t i = 0; i < paper000::kDesign2EncoderLayers; ++i) enc += (*d2)[i].num_parameters();
  CHECK(enc == 828);
}

TEST_CASE("paper 000 classifiers give Tables 2 and 4's shapes", "[paper000]") {
  auto c1 = paper000::design1_classifier();
  check_table(*c1, paper000::table2_rows(), paper000::classifier_modules());
  CHECK(c1->num_parameters() == paper000::kDesign1ClassifierParams);
  CHECK(paper000::table2_rows()[18].shape == Shape({73728}));  // "Linear1" (15, 73728)

  auto c2 = paper000::design2_classifier();
  check_table(*c2, paper000::table4_rows(), paper000::classifier_modules());
  CHECK(c2->num_parameters() == paper000::kDesign2ClassifierParams);
  CHECK(paper000::table4_rows()[18].shape == Shape({16384}));  // "Linear1" (15, 16384)

  // Fewer blocks (the quick mode's option) end earlier with the same stem.
  auto short1 = paper000::design1_classifier(4);
  CHECK(paper000::shape_after(*short1, 7) == Shape({128, 25, 25}));
  CHECK(short1->output_shape() == Shape({3}));
}

TEST_CASE("paper 000 Table 5 block: channels, kernels and parameters", "[paper000]") {
  // Block 14 of Design 1, benchmarked alone as bottleneck_000: 11,022,336 parameters.
  auto b14 = paper000::table5_block(512, 2);
  CHECK(b14.build(Shape{512, 12, 12}) == Shape({2048, 6, 6}));
  CHECK(b14.num_parameters() == 11022336);
  CHECK_FALSE(b14.identity_shortcut());
  // The strided convolutions use a 2x2 kernel so that odd sizes round down (25 -> 12, 5 -> 2).
  CHECK(b14.body()[3].describe().find("kernel_size=(2, 2), stride=(2, 2)") != std::string::npos);
  CHECK(paper000::table5_block(128, 2).build(Shape{128, 25, 25}) == Shape({512, 12, 12}));
  CHECK(paper000::table5_block(1024, 2).build(Shape{1024, 5, 5}) == Shape({4096, 2, 2}));

  // Stride 1: C -> C/2 -> C/2 -> C with an identity shortcut (Design 1, blocks 15/16: 5,251,072).
  auto b15 = paper000::table5_block(2048, 1);
  CHECK(b15.build(Shape{2048, 6, 6}) == Shape({2048, 6, 6}));
  CHECK(b15.identity_shortcut());
  CHECK(b15.num_parameters() == 5251072);
  CHECK(paper000::table5_block(32, 1).num_parameters() == 1408);
  CHECK(paper000::table5_block(8, 2).num_parameters() == 2880);

  CHECK_THROWS_WITH(paper000::table5_block(8, 3), Catch::Contains("stride must be 1 or 2, got 3"));
  CHECK_THROWS_WITH(paper000::table5_block(7, 1), Catch::Contains("in_channels must be even"));
  CHECK_THROWS_WITH(paper000::design1_classifier(17), Catch::Contains("blocks must be in [1, 16], got 17"));
}

TEST_CASE("paper 000 Table 5 block with a zeroed body is ReLU of its shortcut", "[paper000]") {
  // With the last BatchNorm's weight and bias at zero the body contributes
  // nothing, so a stride-1 block returns ReLU(x): this pins down the identity
  // shortcut and the ReLU after the sum.
  auto block = paper000::table5_block(4, 1);
  block.build(Shape{4, 3, 3});
  for (auto& p : block.parameters())
    if (p.name == "body.7.weight" || p.name == "body.7.bias") p.value->zero();
  block.eval();
  Tensor<float> x({2, 4, 3, 3});
  for (index_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 7) - 3.f;
  const Tensor<float>& y = block.forward(x);
  REQUIRE(y.shape() == x.shape());
  for (index_t i = 0; i < x.numel(); ++i) CHECK(y[i] == std::max(0.f, x[i]));
}

TEST_CASE("paper 000 models run forward at full size", "[paper000]") {
  manual_seed(3);
  auto ae = paper000::design2_autoencoder();
  Tensor<float> img({1, 3, 320, 320});
  for (index_t i = 0; i < img.numel(); ++i) img[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.f;
  const Tensor<float>& out = ae->forward(img);
  REQUIRE(out.shape() == Shape({1, 3, 320, 320}));
  // The last layers are InstanceNorm (no affine) and Sigmoid: every output
  // channel's logits have mean 0, so the mean of logit(y) per channel is ~0.
  for (index_t c = 0; c < 3; ++c) {
    double s = 0;
    index_t outside = 0;
    for (index_t i = 0; i < 320 * 320; ++i) {
      const double y = out[c * 320 * 320 + i];
      if (!(y > 0.0 && y < 1.0)) ++outside;
      else s += std::log(y / (1 - y));
    }
    CHECK(outside == 0);
    CHECK(std::abs(s / (320 * 320)) < 1e-3);
  }
  const Tensor<float>* h = &img;
  for (std::size_t i = 0; i < paper000::kDesign2EncoderLayers; ++i) h = &(*ae)[i].forward(*h);
  const Tensor<float> code = *h;
  REQUIRE(code.shape() == Shape({1, 12, 77, 77}));

  auto clf = paper000::design2_classifier();
  clf->eval();
  Tensor<float> codes({2, 12, 77, 77});
  for (index_t i = 0; i < codes.numel(); ++i) codes[i] = code[i % code.numel()] * (i < code.numel() ? 1.f : -1.f);
  const Tensor<float>& logits = clf->forward(codes);
  REQUIRE(logits.shape() == Shape({2, 3}));
  for (index_t i = 0; i < logits.numel(); ++i) CHECK(std::isfinite(logits[i]));
}
