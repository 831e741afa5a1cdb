// Image files through stb_image: decoding PNG/JPEG/BMP into CHW float tensors
// in [0, 1], and writing PNGs (atomically).
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

// Static linkage keeps stb's implementation private to each translation unit,
// which is what a header-only library needs.
#ifndef CAE_STB_IMPLEMENTED
#define CAE_STB_IMPLEMENTED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb_image.h>
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

#include "cae/io/file.hpp"
#include "cae/tensor.hpp"

namespace cae::io {

// Decodes an image file into [channels, H, W] floats in [0, 1]. channels = 0
// keeps the file's own channel count; 1 or 3 converts (grey / RGB).
inline Tensor<float> load_image(const std::string& path, int channels = 0) {
  const std::vector<unsigned char> bytes = read_file(path);
  CAE_CHECK(bytes.size() <= 0x7fffffff, IoError, path, ": image file too large");
  int w = 0, h = 0, c = 0;
  // Check the claimed size before decoding, so a hostile header cannot make
  // stb allocate gigabytes.
  if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c)) {
    constexpr long long kMaxPixels = 1LL << 26;  // 64 megapixels
    CAE_CHECK(static_cast<long long>(w) * h <= kMaxPixels, IoError, path, ": image claims ", w,
              "x", h, " pixels, above cae's limit of ", kMaxPixels);
  }
  std::unique_ptr<unsigned char, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, channels),
      stbi_image_free);
  CAE_CHECK(pixels != nullptr, IoError, path, ": cannot decode image (", stbi_failure_reason(), ")");
  const int out_c = channels ? channels : c;
  Tensor<float> t({out_c, h, w});
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < out_c; ++k)
        t[(static_cast<index_t>(k) * h + y) * w + x] =
            pixels.get()[(static_cast<std::size_t>(y) * w + x) * out_c + k] / 255.0f;
  return t;
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
