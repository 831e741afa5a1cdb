// The classical codecs a learned codec is measured against: JPEG through
// libjpeg-turbo (Debian libjpeg62-turbo-dev) and lossy WebP through libwebp
// (Debian libwebp-dev), from and to [C, H, W] float images in [0, 1].
//
// Images go in as 8-bit (each value rounded as io::save_png writes it), so the
// RD points are those of the 8-bit files the codecs would produce. Programs
// that include this header link libjpeg and libwebp: in cae's build, the CMake
// target cae_codec_baselines; elsewhere -ljpeg -lwebp.
#pragma once

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include "cae/codec/rd_metrics.hpp"
#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace cae::codec::baselines {

// Decoders refuse images above this many pixels (as io::load_image).
inline constexpr long long kMaxPixels = 1LL << 26;

namespace detail {

struct Image8 {
  int channels = 0, height = 0, width = 0;
  std::vector<unsigned char> pixels;  // interleaved, row-major: [H, W, C]
};

inline Image8 to_8bit(const Tensor<float>& image, const char* who) {
  CAE_CHECK(image.rank() == 3 && (image.dim(0) == 1 || image.dim(0) == 3) && image.dim(1) > 0 &&
                image.dim(2) > 0,
            ShapeError, who, ": needs an image [C, H, W] with C = 1 or 3, got ", image.shape());
  CAE_CHECK(image.dim(1) * image.dim(2) <= kMaxPixels, ShapeError, who, ": image ", image.shape(),
            " above ", kMaxPixels, " pixels");
  Image8 m;
  m.channels = static_cast<int>(image.dim(0));
  m.height = static_cast<int>(image.dim(1));
  m.width = static_cast<int>(image.dim(2));
  const index_t plane = image.dim(1) * image.dim(2);
  m.pixels.resize(static_cast<std::size_t>(plane * m.channels));
  for (index_t p = 0; p < plane; ++p)
    for (int k = 0; k < m.channels; ++k)
      m.pixels[static_cast<std::size_t>(p * m.channels + k)] =
          static_cast<unsigned char>(to_8bit_level(image[k * plane + p]));
  return m;
}

inline Tensor<float> to_tensor(const unsigned char* pixels, int channels, int height, int width) {
  Tensor<float> t({channels, height, width});
  const index_t plane = static_cast<index_t>(height) * width;
  for (index_t p = 0; p < plane; ++p)
    for (int k = 0; k < channels; ++k) t[k * plane + p] = pixels[p * channels + k] / 255.0f;
  return t;
}

// libjpeg reports errors through a callback that must not return; it jumps
// back to the setjmp in the calling function, whose frames hold no C++ object
// with a destructor (a longjmp across one would skip it).
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

inline void jpeg_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings (corrupt data the library works around) are kept, not printed.
inline void jpeg_keep_warning(j_common_ptr cinfo, int level) {
  if (level < 0) {
    auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
    if (cinfo->err->num_warnings++ == 0) (*cinfo->err->format_message)(cinfo, e->message);
  }
}

inline bool jpeg_compress_8bit(const Image8& m, int quality, bool optimize_coding,
                               unsigned char** out, unsigned long* out_size, JpegErrors& err) {
  jpeg_compress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_keep_warning;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, out, out_size);
  cinfo.image_width = static_cast<JDIMENSION>(m.width);
  cinfo.image_height = static_cast<JDIMENSION>(m.height);
  cinfo.input_components = m.channels;
  cinfo.in_color_space = m.channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  cinfo.optimize_coding = optimize_coding ? TRUE : FALSE;
  if (m.channels == 3) {  // 4:2:0: luma at full resolution, both chroma planes halved both ways
    cinfo.comp_info[0].h_samp_factor = 2;
    cinfo.comp_info[0].v_samp_factor = 2;
    for (int k = 1; k < 3; ++k) cinfo.comp_info[k].h_samp_factor = cinfo.comp_info[k].v_samp_factor = 1;
  }
  jpeg_start_compress(&cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(m.width) * m.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(m.pixels.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

// Fills *m from the JPEG; false with err.message set on failure.
inline bool jpeg_decompress_8bit(const unsigned char* data, std::size_t size, Image8* m,
                                 JpegErrors& err) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_keep_warning;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (static_cast<long long>(cinfo.image_width) * cinfo.image_height > kMaxPixels) {
    std::snprintf(err.message, sizeof err.message, "image claims %ux%u pixels, above the limit of %lld",
                  cinfo.image_width, cinfo.image_height, kMaxPixels);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  m->width = static_cast<int>(cinfo.output_width);
  m->height = static_cast<int>(cinfo.output_height);
  m->channels = cinfo.output_components;
  m->pixels.resize(static_cast<std::size_t>(m->width) * m->height * m->channels);
  const std::size_t stride = static_cast<std::size_t>(m->width) * m->channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = m->pixels.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace detail

// JPEG bytes of an image [C, H, W] (C = 1 grey, 3 RGB -> YCbCr 4:2:0) at
// libjpeg's quality 1..100 (the IJG scaling of the standard tables).
// optimize_coding: per-image Huffman tables (cjpeg -optimize), which makes
// the files a few percent smaller for the same pixels; the stronger baseline,
// so the default.
inline std::vector<std::uint8_t> jpeg_encode(const Tensor<float>& image, int quality,
                                             bool optimize_coding = true) {
  CAE_CHECK(quality >= 1 && quality <= 100, Error, "jpeg_encode: quality must be in 1..100, got ",
            quality);
  const detail::Image8 m = detail::to_8bit(image, "jpeg_encode");
  detail::JpegErrors err{};
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  const bool ok = detail::jpeg_compress_8bit(m, quality, optimize_coding, &out, &out_size, err);
  std::vector<std::uint8_t> bytes;
  if (ok) bytes.assign(out, out + out_size);
  std::free(out);
  CAE_CHECK(ok, Error, "jpeg_encode: libjpeg failed: ", err.message);
  return bytes;
}

// Decodes JPEG bytes into [C, H, W] floats in [0, 1] (C = 1 for a greyscale
// JPEG, else 3). Throws cae::IoError naming `source` on corrupt data,
// including data libjpeg would silently patch over (a truncated scan).
inline Tensor<float> jpeg_decode(const std::uint8_t* data, std::size_t size,
                                 const std::string& source = "jpeg") {
  CAE_CHECK(size > 0, IoError, source, ": empty JPEG data");
  detail::JpegErrors err{};
  detail::Image8 m;
  const bool ok = detail::jpeg_decompress_8bit(data, size, &m, err);
  CAE_CHECK(ok, IoError, source, ": cannot decode JPEG (", err.message, ")");
  CAE_CHECK(err.mgr.num_warnings == 0, IoError, source, ": corrupt JPEG data (", err.message, ")");
  return detail::to_tensor(m.pixels.data(), m.channels, m.height, m.width);
}
inline Tensor<float> jpeg_decode(const std::vector<std::uint8_t>& bytes,
                                 const std::string& source = "jpeg") {
  return jpeg_decode(bytes.data(), bytes.size(), source);
}

// Lossy WebP bytes of an image [C, H, W] at libwebp's quality 0..100
// (WebPEncodeRGB: the library's default method 4, as PIL's WebP writer uses).
// WebP has no greyscale mode: a grey image is coded as RGB with R = G = B.
// Sides are limited to 16383 pixels by the format.
inline std::vector<std::uint8_t> webp_encode(const Tensor<float>& image, float quality) {
  CAE_CHECK(quality >= 0 && quality <= 100, Error, "webp_encode: quality must be in 0..100, got ",
            quality);
  detail::Image8 m = detail::to_8bit(image, "webp_encode");
  CAE_CHECK(m.width <= WEBP_MAX_DIMENSION && m.height <= WEBP_MAX_DIMENSION, Error, "webp_encode: ",
            m.width, "x", m.height, " exceeds WebP's limit of ", WEBP_MAX_DIMENSION, " per side");
  if (m.channels == 1) {
    std::vector<unsigned char> rgb(m.pixels.size() * 3);
    for (std::size_t i = 0; i < m.pixels.size(); ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = m.pixels[i];
    m.pixels.swap(rgb);
  }
  std::uint8_t* out = nullptr;
  const std::size_t n = WebPEncodeRGB(m.pixels.data(), m.width, m.height, 3 * m.width, quality, &out);
  std::vector<std::uint8_t> bytes;
  if (n > 0) bytes.assign(out, out + n);
  WebPFree(out);
  CAE_CHECK(n > 0, Error, "webp_encode: libwebp failed on a ", m.width, "x", m.height, " image");
  return bytes;
}

// Decodes WebP bytes into [channels, H, W] floats in [0, 1]. channels = 1
// returns the rounded mean of the decoded R, G and B (for images that went in
// grey), 3 the RGB image. Throws cae::IoError naming `source`.
inline Tensor<float> webp_decode(const std::uint8_t* data, std::size_t size, int channels = 3,
                                 const std::string& source = "webp") {
  CAE_CHECK(channels == 1 || channels == 3, Error, "webp_decode: channels must be 1 or 3, got ",
            channels);
  int w = 0, h = 0;
  CAE_CHECK(size > 0 && WebPGetInfo(data, size, &w, &h), IoError, source,
            ": not a WebP image (or corrupt header)");
  CAE_CHECK(w > 0 && h > 0 && static_cast<long long>(w) * h <= kMaxPixels, IoError, source,
            ": image claims ", w, "x", h, " pixels");
  std::vector<unsigned char> rgb(static_cast<std::size_t>(w) * h * 3);
  CAE_CHECK(WebPDecodeRGBInto(data, size, rgb.data(), rgb.size(), 3 * w) != nullptr, IoError,
            source, ": cannot decode WebP data (corrupt or truncated)");
  if (channels == 3) return detail::to_tensor(rgb.data(), 3, h, w);
  std::vector<unsigned char> grey(static_cast<std::size_t>(w) * h);
  for (std::size_t i = 0; i < grey.size(); ++i)
    grey[i] = static_cast<unsigned char>((rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2] + 1) / 3);
  return detail::to_tensor(grey.data(), 1, h, w);
}
inline Tensor<float> webp_decode(const std::vector<std::uint8_t>& bytes, int channels = 3,
                                 const std::string& source = "webp") {
  return webp_decode(bytes.data(), bytes.size(), channels, source);
}

}  // namespace cae::codec::baselines
