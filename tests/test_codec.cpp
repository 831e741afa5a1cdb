#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "cae/codec.hpp"
#include "cae/io/image.hpp"
#include "cae/parallel.hpp"

using namespace cae;

namespace {
std::string small_model(const std::string& name, std::uint64_t seed) {
  codec::FactorizedPrior<float> m(4, 6);
  m.build({3, 16, 16});
  Rng rng(seed);
  for (auto& p : m.parameters())
    if (p.name.find("weight") != std::string::npos)
      for (index_t k = 0; k < p.value->numel(); ++k) (*p.value)[k] += float(rng.uniform() - 0.5) * 0.05f;
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  io::save_safetensors(m, path);
  return path;
}
}  // namespace

TEST_CASE("Codec decodes exactly the encoder's synthesis at any thread count", "[codec]") {
  const std::string path = small_model("cae_test_codec_a.safetensors", 1);
  codec::Codec c(path);
  Tensor<float> grey({1, 37, 53});
  for (index_t k = 0; k < grey.numel(); ++k) grey[k] = float(k % 97) / 97.0f;
  for (const Tensor<float>& img :
       {io::load_image(std::string(CAE_FIXTURE_DIR) + "/../data/photos/BytheWater.png", 3), grey}) {
    for (int enc_threads : {1, 2}) {
      set_num_threads(enc_threads);
      const std::vector<std::uint8_t> bytes = c.encode(img);
      const Tensor<float>& y = c.model().g_a().forward(codec::Codec::padded(img));
      const std::vector<std::int32_t> symbols = c.model().entropy_bottleneck().quantize(y);
      const Tensor<float> own = c.synthesize(symbols, y.shape(), img.dim(0), img.dim(1), img.dim(2));
      set_num_threads(3 - enc_threads);
      const Tensor<float> decoded = c.decode(bytes, "a.cae");
      REQUIRE(decoded.shape() == img.shape());
      for (index_t k = 0; k < own.numel(); ++k) REQUIRE(decoded[k] == own[k]);
      CHECK(codec::bits_per_pixel(bytes.size(), img.dim(2), img.dim(1)) ==
            8.0 * double(bytes.size()) / double(img.dim(1) * img.dim(2)));
    }
  }
  set_num_threads(2);
}

TEST_CASE("Codec rejects truncated, corrupt and other-model files naming them", "[codec]") {
  codec::Codec a(small_model("cae_test_codec_b.safetensors", 2));
  codec::Codec b(small_model("cae_test_codec_c.safetensors", 3));
  Tensor<float> img({3, 20, 24});
  for (index_t k = 0; k < img.numel(); ++k) img[k] = float(k % 13) / 13.0f;
  std::vector<std::uint8_t> bytes = a.encode(img);
  auto expect_error = [&](const std::vector<std::uint8_t>& bad, codec::Codec& c) {
    try {
      c.decode(bad, "bad.cae");
      FAIL("no exception");
    } catch (const cae::Error& e) {
      CHECK(std::string(e.what()).find("bad.cae") != std::string::npos);
    }
  };
  expect_error(std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 3), a);
  std::vector<std::uint8_t> flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x10;
  expect_error(flipped, a);
  expect_error(bytes, b);
}
