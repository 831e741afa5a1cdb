// Writes what tests/cli/cae_codec.sh runs cae-codec on, into DIR:
//   model_a.safetensors, model_b.safetensors   two small FactorizedPrior models
//       (N=8, M=8) laid out as examples/train_codec writes a training output,
//       quality 3, with different random weights (so their files differ)
//   images/grey_37x53.png     a greyscale PNG of an odd size
//   images/rgb_201x171.bmp    an RGB BMP large enough for MS-SSIM (> 160 per side)
//   images/rgb_33x21.jpg      a tiny RGB JPEG (stb writes JPEGs as three components)
// Made at test time so that CI needs no trained model and no ../shared.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cae/codec/models.hpp"
#include "cae/io/file.hpp"
#include "cae/io/image.hpp"
#include "cae/io/state_dict.hpp"

using namespace cae;

namespace {

void write_model(const std::string& path, std::uint64_t seed) {
  manual_seed(seed);
  codec::FactorizedPrior<float> m(8, 8);
  m.build({3, 16, 16});
  // Away from the initialization, so that the two models (and their codes) differ.
  Rng rng(seed);
  for (auto& p : m.parameters())
    if (p.name.find("weight") != std::string::npos)
      for (index_t k = 0; k < p.value->numel(); ++k) (*p.value)[k] += float(rng.uniform() - 0.5) * 0.05f;
  io::save_safetensors(m, path,
                       {{"model", "bmshj2018-factorized"}, {"N", "8"}, {"M", "8"}, {"quality", "3"},
                        {"lambda", "0.0067"}, {"steps", "0"}});
}

// Smooth gradients and a few edges: something a codec has to work for.
std::vector<unsigned char> pattern(int w, int h, int c) {
  std::vector<unsigned char> px(static_cast<std::size_t>(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) {
        const double v = 127.5 + 80 * std::sin(0.11 * x + 0.7 * k) * std::cos(0.07 * y) + ((x / 9 + y / 7) % 2 ? 30 : -30);
        px[(static_cast<std::size_t>(y) * w + x) * c + k] =
            static_cast<unsigned char>(std::lround(std::fmin(255.0, std::fmax(0.0, v))));
      }
  return px;
}

void append(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_codec_test_files DIR\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir + "/images");
    write_model(dir + "/model_a.safetensors", 1);
    write_model(dir + "/model_b.safetensors", 2);
    std::vector<unsigned char> px = pattern(37, 53, 1);
    Tensor<float> grey({1, 53, 37});
    for (index_t i = 0; i < grey.numel(); ++i) grey[i] = px[static_cast<std::size_t>(i)] / 255.0f;
    io::save_png(dir + "/images/grey_37x53.png", grey);
    std::vector<unsigned char> bytes;
    px = pattern(201, 171, 3);
    CAE_CHECK(stbi_write_bmp_to_func(append, &bytes, 201, 171, 3, px.data()), Error, "BMP encoding failed");
    io::write_file_atomic(dir + "/images/rgb_201x171.bmp", bytes.data(), bytes.size());
    bytes.clear();
    px = pattern(33, 21, 3);
    CAE_CHECK(stbi_write_jpg_to_func(append, &bytes, 33, 21, 3, px.data(), 90), Error, "JPEG encoding failed");
    io::write_file_atomic(dir + "/images/rgb_33x21.jpg", bytes.data(), bytes.size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_codec_test_files: %s\n", e.what());
    return 1;
  }
}
