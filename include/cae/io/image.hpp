// Image files: decoding PNG/JPEG/BMP files into CHW float tensors in [0, 1]
// (through the checked decoders of image_decode.hpp), and writing PNGs
// (atomically, with stb_image_write).
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cae/io/file.hpp"
#include "cae/io/image_decode.hpp"
#include "cae/tensor.hpp"

namespace cae::io {

// Decodes a PNG, JPEG or BMP file into [channels, H, W] floats in [0, 1].
// channels = 0 keeps the file's own channel count; 1 to 4 converts (grey, grey
// + alpha, RGB, RGBA). The content must match the extension (see
// image_decode.hpp for what is checked before decoding).
inline Tensor<float> load_image(const std::string& path, int channels = 0) {
  return decode_image(read_file(path), path, channels);
}

// Writes [C, H, W] (C = 1 or 3) or [H, W] floats in [0, 1] as an 8-bit PNG;
// values outside [0, 1] are clamped.
template <typename T>
void save_png(const std::string& path, const Tensor<T>& image) {
  CAE_CHECK(image.rank() == 2 || image.rank() == 3, ShapeError, path,
            ": save_png needs [C, H, W] or [H, W], got ", image.shape());
  const int c = image.rank() == 3 ? static_cast<int>(image.dim(0)) : 1;
  const int h = static_cast<int>(image.dim(-2)), w = static_cast<int>(image.dim(-1));
  CAE_CHECK(c == 1 || c == 3 || c == 4, ShapeError, path, ": save_png needs 1, 3 or 4 channels, got ", c);
  std::vector<unsigned char> pixels(static_cast<std::size_t>(c) * h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) {
        const double v = image[(static_cast<index_t>(k) * h + y) * w + x];
        const double clamped = std::min(1.0, std::max(0.0, std::isfinite(v) ? v : 0.0));
        pixels[(static_cast<std::size_t>(y) * w + x) * c + k] =
            static_cast<unsigned char>(std::lround(clamped * 255.0));
      }
  int len = 0;
  unsigned char* png = stbi_write_png_to_mem(pixels.data(), w * c, w, h, c, &len);
  CAE_CHECK(png != nullptr, IoError, path, ": PNG encoding failed");
  std::unique_ptr<unsigned char, void (*)(void*)> guard(png, [](void* p) { STBIW_FREE(p); });
  write_file_atomic(path, png, static_cast<std::size_t>(len));
}

}  // namespace cae::io
