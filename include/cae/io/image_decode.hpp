// Decoding image files that may be hostile: PNG, JPEG and BMP only, the format
// found by its magic bytes and checked against the file's extension, the
// claimed size bounded before anything is allocated, and 16-bit and other
// exotic variants refused. JPEG goes to libjpeg-turbo and PNG to libpng when
// CMake found them (CAE_HAVE_LIBJPEG / CAE_HAVE_LIBPNG, set on cae::cae);
// stb_image, built with only the decoders still needed, is the fallback and
// always decodes BMP. Debian's stb 2.27 writes out of bounds on crafted JPEGs
// and reads out of bounds on 16-bit files, so it never sees a format that a
// fuzzed library can decode instead, and never sees anything unchecked.
//
//   Tensor<float> img = io::decode_image(bytes, "photo.jpg", 3);   // [3, H, W] in [0, 1]
//   std::vector<unsigned char> jpg = io::encode_jpeg(img, 75);      // with libjpeg only
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifdef CAE_HAVE_LIBJPEG
#include <jerror.h>
#include <jpeglib.h>
#endif
#ifdef CAE_HAVE_LIBPNG
#include <png.h>
#endif

// Static linkage keeps stb's implementation private to each translation unit,
// which is what a header-only library needs.
#ifndef CAE_STB_IMPLEMENTED
#define CAE_STB_IMPLEMENTED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_STDIO
#define STBI_ONLY_BMP
#ifndef CAE_HAVE_LIBPNG
#define STBI_ONLY_PNG
#endif
#ifndef CAE_HAVE_LIBJPEG
#define STBI_ONLY_JPEG
#endif
#define STBI_MAX_DIMENSIONS (1 << 20)
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

#include "cae/error.hpp"
#include "cae/tensor.hpp"

// The largest image (width x height) cae decodes: 64 megapixels, a 1 GB float
// tensor for RGBA. A fuzzer defines it lower so that each input stays fast.
#ifndef CAE_MAX_IMAGE_PIXELS
#define CAE_MAX_IMAGE_PIXELS (1LL << 26)
#endif

namespace cae::io {

enum class ImageFormat { Unknown, Png, Jpeg, Bmp };

inline const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Bmp: return "BMP";
    default: return "unknown";
  }
}

// The format by its magic bytes (PNG's 8-byte signature, JPEG's SOI + marker,
// BMP's "BM"); Unknown for anything else, GIF, PNM and TGA included.
inline ImageFormat sniff_image_format(const unsigned char* p, std::size_t n) {
  static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && std::memcmp(p, png, 8) == 0) return ImageFormat::Png;
  if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return ImageFormat::Jpeg;
  if (n >= 2 && p[0] == 'B' && p[1] == 'M') return ImageFormat::Bmp;
  return ImageFormat::Unknown;
}

// The format a file name promises (.png, .jpg/.jpeg, .bmp, any case); Unknown
// for other names, e.g. an in-memory buffer's label.
inline ImageFormat image_format_from_name(const std::string& name) {
  const std::size_t dot = name.find_last_of('.');
  const std::size_t slash = name.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return ImageFormat::Unknown;
  std::string ext = name.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "png") return ImageFormat::Png;
  if (ext == "jpg" || ext == "jpeg") return ImageFormat::Jpeg;
  if (ext == "bmp") return ImageFormat::Bmp;
  return ImageFormat::Unknown;
}

// 8-bit interleaved pixels (HWC) as a decoder returns them; 1 to 4 channels
// (grey, grey + alpha, RGB, RGBA).
struct DecodedPixels {
  int width = 0, height = 0, channels = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> data{nullptr, std::free};
};

namespace detail {

constexpr long long kMaxImagePixels = CAE_MAX_IMAGE_PIXELS;

inline std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
inline std::uint32_t le32(const unsigned char* p) {
  return (std::uint32_t(p[3]) << 24) | (std::uint32_t(p[2]) << 16) | (std::uint32_t(p[1]) << 8) | p[0];
}
inline std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }

inline void check_image_size(long long w, long long h, const std::string& name, const char* format) {
  CAE_CHECK(w > 0 && h > 0, IoError, name, ": cannot decode image: ", format, " header gives size ",
            w, "x", h);
  CAE_CHECK(w <= kMaxImagePixels && h <= kMaxImagePixels && w * h <= kMaxImagePixels, IoError, name,
            ": cannot decode image: ", format, " header claims ", w, "x", h,
            " pixels, above cae's limit of ", kMaxImagePixels);
}

// PNG: the first chunk must be a 13-byte IHDR; 16-bit samples are refused
// (stb's 16-to-8 conversion reads out of bounds, and cae has no use for them).
inline void check_png_header(const unsigned char* p, std::size_t n, const std::string& name) {
  CAE_CHECK(n >= 33 && be32(p + 8) == 13 && std::memcmp(p + 12, "IHDR", 4) == 0, IoError, name,
            ": cannot decode image: PNG does not start with an IHDR chunk (truncated or corrupt)");
  const std::uint32_t w = be32(p + 16), h = be32(p + 20);
  const int depth = p[24], color = p[25], interlace = p[28];
  check_image_size(w, h, name, "PNG");
  CAE_CHECK(depth != 16, IoError, name, ": cannot decode image: 16-bit PNG is not supported "
            "(cae reads 8-bit images; convert it, e.g. `convert in.png -depth 8 out.png`)");
  const bool valid = (color == 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
                     (color == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
                     ((color == 2 || color == 4 || color == 6) && depth == 8);
  CAE_CHECK(valid && interlace <= 1, IoError, name, ": cannot decode image: invalid PNG header (bit depth ",
            depth, ", colour type ", color, ", interlace ", interlace, ")");
}

// BMP: uncompressed 1/4/8/16/24/32-bit or bit-field 16/32-bit only (no RLE,
// no embedded JPEG/PNG), and the file must hold every row it declares.
inline void check_bmp_header(const unsigned char* p, std::size_t n, const std::string& name) {
  CAE_CHECK(n >= 26, IoError, name, ": cannot decode image: BMP header truncated (", n, " bytes)");
  const std::uint32_t offset = le32(p + 10), dib = le32(p + 14);
  long long w = 0, h = 0;
  int planes = 0, bpp = 0;
  std::uint32_t compression = 0;
  if (dib == 12) {
    w = le16(p + 18);
    h = le16(p + 20);
    planes = le16(p + 22);
    bpp = le16(p + 24);
  } else {
    CAE_CHECK(dib == 40 || dib == 52 || dib == 56 || dib == 108 || dib == 124, IoError, name,
              ": cannot decode image: unsupported BMP header size ", dib);
    CAE_CHECK(n >= 14 + 40, IoError, name, ": cannot decode image: BMP header truncated (", n, " bytes)");
    w = static_cast<std::int32_t>(le32(p + 18));
    h = static_cast<std::int32_t>(le32(p + 22));
    planes = le16(p + 26);
    bpp = le16(p + 28);
    compression = le32(p + 30);
  }
  if (h < 0) h = -h;  // negative height: rows stored top-down
  check_image_size(w, h, name, "BMP");
  const bool plain = compression == 0 && (bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32);
  const bool bitfields = compression == 3 && (bpp == 16 || bpp == 32) && dib != 12;
  CAE_CHECK(planes == 1 && (plain || bitfields), IoError, name, ": cannot decode image: unsupported BMP variant (",
            bpp, " bits per pixel, compression ", compression, ", ", planes, " planes)");
  const long long row_bytes = (w * bpp + 31) / 32 * 4;
  CAE_CHECK(offset >= 14 + dib && static_cast<long long>(offset) + row_bytes * h <= static_cast<long long>(n),
            IoError, name, ": cannot decode image: BMP truncated (", w, "x", h, " at ", bpp,
            " bits per pixel needs ", row_bytes * h, " bytes from offset ", offset, ", file has ", n, ")");
}

// JPEG for the stb fallback: the first SOF segment must describe an 8-bit
// grey or YCbCr/RGB image of a bounded size, as libjpeg's path requires
// (stb would convert CMYK silently).
inline void check_jpeg_header(const unsigned char* p, std::size_t n, const std::string& name) {
  std::size_t at = 2;
  while (at + 4 <= n) {
    if (p[at] != 0xff) break;
    const int marker = p[at + 1];
    if (marker == 0xff) {  // fill byte
      ++at;
      continue;
    }
    const std::size_t len = (std::size_t(p[at + 2]) << 8) | p[at + 3];
    const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (sof) {
      CAE_CHECK(len >= 8 && at + 2 + len <= n, IoError, name, ": cannot decode image: JPEG frame header truncated");
      const int precision = p[at + 4], components = p[at + 9];
      const long long h = (p[at + 5] << 8) | p[at + 6], w = (p[at + 7] << 8) | p[at + 8];
      CAE_CHECK(precision == 8, IoError, name, ": cannot decode image: ", precision, "-bit JPEG is not supported");
      CAE_CHECK(components == 1 || components == 3, IoError, name, ": cannot decode image: JPEG (", components,
                " components: CMYK/YCCK is not supported)");
      check_image_size(w, h, name, "JPEG");
      return;
    }
    at += 2 + len;
  }
  throw IoError(str(name, ": cannot decode image: JPEG has no frame header (truncated or corrupt)"));
}

inline DecodedPixels decode_with_stb(const unsigned char* p, std::size_t n, const std::string& name,
                                     const char* format) {
  CAE_CHECK(n <= 0x7fffffff, IoError, name, ": cannot decode image: file too large");
  int w = 0, h = 0, c = 0;
  CAE_CHECK(stbi_info_from_memory(p, static_cast<int>(n), &w, &h, &c), IoError, name,
            ": cannot decode image: ", format, " (", stbi_failure_reason(), ")");
  check_image_size(w, h, name, format);
  DecodedPixels out;
  out.data.reset(stbi_load_from_memory(p, static_cast<int>(n), &w, &h, &c, 0));
  // stb allocates with malloc (STBI_MALLOC), so std::free releases it.
  CAE_CHECK(out.data != nullptr, IoError, name, ": cannot decode image: ", format, " (",
            stbi_failure_reason(), ")");
  out.width = w;
  out.height = h;
  out.channels = c;
  return out;
}

#ifdef CAE_HAVE_LIBJPEG
// libjpeg reports errors through error_exit, which must not return: it
// longjmps back into the function that called setjmp. That function and every
// libjpeg call between are plain C-style code without C++ objects, and all
// the state that setjmp/longjmp must preserve lives in this struct, owned by
// the caller's frame (locals of the setjmp frame modified after setjmp would
// be indeterminate after the jump).
struct JpegErrors {
  jpeg_error_mgr pub;  // first, so a j_common_ptr's err converts back to JpegErrors*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

inline void jpeg_fail(j_common_ptr cinfo) {
  JpegErrors* err = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
// Warnings are silent, except those that mean the data ran out: a truncated
// file would otherwise decode into grey garbage.
inline void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) {
    const int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) jpeg_fail(cinfo);
    cinfo->err->num_warnings++;
  }
}
inline void jpeg_no_output(j_common_ptr) {}

// A progressive JPEG can repeat scans without end, each a full pass over the
// image; real files have at most a few dozen (libjpeg-turbo's fuzzers stop at 500).
constexpr int kMaxJpegScans = 500;
struct JpegProgress {
  jpeg_progress_mgr pub;
  JpegErrors* errors;
};
inline void jpeg_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  const j_decompress_ptr d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    JpegProgress* p = reinterpret_cast<JpegProgress*>(cinfo->progress);
    std::snprintf(p->errors->message, sizeof p->errors->message, "more than %d progressive scans",
                  kMaxJpegScans);
    std::longjmp(p->errors->jump, 1);
  }
}

struct JpegDecodeState {
  jpeg_decompress_struct cinfo;
  JpegErrors errors;
  JpegProgress progress;
  bool created;
  unsigned char* pixels;  // malloc'd
  int width, height, channels;
};

// Returns false with state->errors.message set; frees everything it allocated.
inline bool jpeg_decode_raw(JpegDecodeState* s, const unsigned char* data, std::size_t size,
                            long long max_pixels) {
  s->created = false;
  s->pixels = nullptr;
  s->cinfo.err = jpeg_std_error(&s->errors.pub);
  s->errors.pub.error_exit = jpeg_fail;
  s->errors.pub.emit_message = jpeg_message;
  s->errors.pub.output_message = jpeg_no_output;
  s->errors.message[0] = '\0';
  if (setjmp(s->errors.jump)) {
    if (s->created) jpeg_destroy_decompress(&s->cinfo);
    std::free(s->pixels);
    s->pixels = nullptr;
    return false;
  }
  jpeg_create_decompress(&s->cinfo);
  s->created = true;
  jpeg_mem_src(&s->cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&s->cinfo, TRUE);
  const long long w = s->cinfo.image_width, h = s->cinfo.image_height;
  if (w <= 0 || h <= 0 || w * h > max_pixels) {
    std::snprintf(s->errors.message, sizeof s->errors.message,
                  "header claims %lldx%lld pixels, above cae's limit of %lld", w, h, max_pixels);
    std::longjmp(s->errors.jump, 1);
  }
  switch (s->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: s->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: s->cinfo.out_color_space = JCS_RGB; break;
    default:
      std::snprintf(s->errors.message, sizeof s->errors.message,
                    "colour space %d (CMYK/YCCK) is not supported", static_cast<int>(s->cinfo.jpeg_color_space));
      std::longjmp(s->errors.jump, 1);
  }
  // Progressive files keep every coefficient in memory: bound that as well.
  s->cinfo.mem->max_memory_to_use = static_cast<long>(std::min<long long>(max_pixels * 16, 1LL << 31));
  s->progress.pub.progress_monitor = jpeg_progress;
  s->progress.errors = &s->errors;
  s->cinfo.progress = &s->progress.pub;
  jpeg_start_decompress(&s->cinfo);
  s->width = static_cast<int>(s->cinfo.output_width);
  s->height = static_cast<int>(s->cinfo.output_height);
  s->channels = s->cinfo.output_components;
  const std::size_t stride = static_cast<std::size_t>(s->width) * static_cast<std::size_t>(s->channels);
  s->pixels = static_cast<unsigned char*>(std::malloc(stride * static_cast<std::size_t>(s->height)));
  if (!s->pixels) {
    std::snprintf(s->errors.message, sizeof s->errors.message, "out of memory");
    std::longjmp(s->errors.jump, 1);
  }
  while (s->cinfo.output_scanline < s->cinfo.output_height) {
    JSAMPROW row = s->pixels + static_cast<std::size_t>(s->cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&s->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&s->cinfo);
  jpeg_destroy_decompress(&s->cinfo);
  s->created = false;
  return true;
}

inline DecodedPixels decode_with_libjpeg(const unsigned char* p, std::size_t n, const std::string& name) {
  JpegDecodeState state;
  std::memset(&state, 0, sizeof state);
  if (!jpeg_decode_raw(&state, p, n, kMaxImagePixels))
    throw IoError(str(name, ": cannot decode image: JPEG (", state.errors.message, ")"));
  DecodedPixels out;
  out.data.reset(state.pixels);
  out.width = state.width;
  out.height = state.height;
  out.channels = state.channels;
  return out;
}

struct JpegEncodeState {
  jpeg_compress_struct cinfo;
  JpegErrors errors;
  bool created;
  unsigned char* buffer;  // malloc'd by libjpeg's memory destination
  unsigned long size;
};

// Encodes interleaved 8-bit grey or RGB pixels; 4:2:0 chroma subsampling for RGB.
inline bool jpeg_encode_raw(JpegEncodeState* s, const unsigned char* pixels, int w, int h, int c, int quality) {
  s->created = false;
  s->buffer = nullptr;
  s->size = 0;
  s->cinfo.err = jpeg_std_error(&s->errors.pub);
  s->errors.pub.error_exit = jpeg_fail;
  s->errors.pub.output_message = jpeg_no_output;
  s->errors.message[0] = '\0';
  if (setjmp(s->errors.jump)) {
    if (s->created) jpeg_destroy_compress(&s->cinfo);
    std::free(s->buffer);
    s->buffer = nullptr;
    return false;
  }
  jpeg_create_compress(&s->cinfo);
  s->created = true;
  jpeg_mem_dest(&s->cinfo, &s->buffer, &s->size);
  s->cinfo.image_width = static_cast<JDIMENSION>(w);
  s->cinfo.image_height = static_cast<JDIMENSION>(h);
  s->cinfo.input_components = c;
  s->cinfo.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&s->cinfo);
  jpeg_set_quality(&s->cinfo, quality, TRUE);
  if (c == 3) {
    s->cinfo.comp_info[0].h_samp_factor = 2;
    s->cinfo.comp_info[0].v_samp_factor = 2;
    s->cinfo.comp_info[1].h_samp_factor = s->cinfo.comp_info[1].v_samp_factor = 1;
    s->cinfo.comp_info[2].h_samp_factor = s->cinfo.comp_info[2].v_samp_factor = 1;
  }
  jpeg_start_compress(&s->cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(w) * static_cast<std::size_t>(c);
  while (s->cinfo.next_scanline < s->cinfo.image_height) {
    JSAMPROW row = const_cast<unsigned char*>(pixels) + static_cast<std::size_t>(s->cinfo.next_scanline) * stride;
    jpeg_write_scanlines(&s->cinfo, &row, 1);
  }
  jpeg_finish_compress(&s->cinfo);
  jpeg_destroy_compress(&s->cinfo);
  s->created = false;
  return true;
}
#endif  // CAE_HAVE_LIBJPEG

#ifdef CAE_HAVE_LIBPNG
// Same discipline as for libjpeg: libpng's error callback longjmps, so the
// setjmp frame holds no C++ objects and its state lives in the caller's frame.
struct PngDecodeState {
  png_structp png;
  png_infop info;
  const unsigned char* data;
  std::size_t size, pos;
  std::jmp_buf jump;
  char message[200];
  unsigned char* pixels;  // malloc'd
  png_bytep* rows;        // malloc'd
  int width, height, channels;
};

inline void png_fail(png_structp png, png_const_charp msg) {
  PngDecodeState* s = static_cast<PngDecodeState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof s->message, "%s", msg ? msg : "error");
  std::longjmp(s->jump, 1);
}
inline void png_quiet(png_structp, png_const_charp) {}
inline void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  PngDecodeState* s = static_cast<PngDecodeState*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "file ends early (truncated)");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

inline bool png_decode_raw(PngDecodeState* s, long long max_pixels) {
  s->png = nullptr;
  s->info = nullptr;
  s->pixels = nullptr;
  s->rows = nullptr;
  s->message[0] = '\0';
  if (setjmp(s->jump)) {
    if (s->png) png_destroy_read_struct(&s->png, s->info ? &s->info : nullptr, nullptr);
    std::free(s->pixels);
    std::free(s->rows);
    s->pixels = nullptr;
    s->rows = nullptr;
    return false;
  }
  s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, s, png_fail, png_quiet);
  if (!s->png) {
    std::snprintf(s->message, sizeof s->message, "cannot create a libpng reader");
    return false;
  }
  s->info = png_create_info_struct(s->png);
  if (!s->info) png_error(s->png, "out of memory");
  png_set_read_fn(s->png, s, png_read_memory);
  const png_uint_32 side = static_cast<png_uint_32>(std::min<long long>(max_pixels, 0x7fffffff));
  png_set_user_limits(s->png, side, side);
  png_set_chunk_malloc_max(s->png, 8u << 20);
  png_set_chunk_cache_max(s->png, 1000);
  png_read_info(s->png, s->info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0;
  png_get_IHDR(s->png, s->info, &w, &h, &depth, &color, nullptr, nullptr, nullptr);
  if (static_cast<long long>(w) * h > max_pixels) png_error(s->png, "image larger than cae's limit");
  if (depth == 16) png_error(s->png, "16-bit PNG is not supported");
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(s->png);
  if (png_get_valid(s->png, s->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(s->png);
  png_set_interlace_handling(s->png);
  png_read_update_info(s->png, s->info);
  s->width = static_cast<int>(w);
  s->height = static_cast<int>(h);
  s->channels = png_get_channels(s->png, s->info);
  const std::size_t stride = static_cast<std::size_t>(w) * static_cast<std::size_t>(s->channels);
  if (s->channels < 1 || s->channels > 4 || png_get_rowbytes(s->png, s->info) != stride)
    png_error(s->png, "unexpected row layout");
  s->pixels = static_cast<unsigned char*>(std::malloc(stride * h));
  s->rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * h));
  if (!s->pixels || !s->rows) png_error(s->png, "out of memory");
  for (png_uint_32 y = 0; y < h; ++y) s->rows[y] = s->pixels + y * stride;
  png_read_image(s->png, s->rows);
  png_destroy_read_struct(&s->png, &s->info, nullptr);
  std::free(s->rows);
  s->rows = nullptr;
  return true;
}

inline DecodedPixels decode_with_libpng(const unsigned char* p, std::size_t n, const std::string& name) {
  PngDecodeState state;
  std::memset(&state, 0, sizeof state);
  state.data = p;
  state.size = n;
  if (!png_decode_raw(&state, kMaxImagePixels))
    throw IoError(str(name, ": cannot decode image: PNG (", state.message, ")"));
  DecodedPixels out;
  out.data.reset(state.pixels);
  out.width = state.width;
  out.height = state.height;
  out.channels = state.channels;
  return out;
}
#endif  // CAE_HAVE_LIBPNG

// Interleaved 8-bit pixels to [channels, H, W] floats in [0, 1], converting
// the channel count as stb_image does (grey = (77 R + 150 G + 29 B) >> 8,
// alpha dropped or added as opaque).
inline Tensor<float> pixels_to_tensor(const DecodedPixels& px, int channels) {
  const int src_c = px.channels, out_c = channels ? channels : src_c;
  const index_t h = px.height, w = px.width;
  Tensor<float> t({out_c, h, w});
  float scale[256];
  for (int v = 0; v < 256; ++v) scale[v] = static_cast<float>(v) / 255.0f;
  const unsigned char* src = px.data.get();
  const index_t plane = h * w;
  for (index_t i = 0; i < plane; ++i) {
    const unsigned char* s = src + i * src_c;
    const bool colour = src_c >= 3;
    const int r = s[0], g = colour ? s[1] : s[0], b = colour ? s[2] : s[0];
    const int a = src_c == 2 ? s[1] : src_c == 4 ? s[3] : 255;
    int v[4];
    if (out_c <= 2) {
      v[0] = colour ? (r * 77 + g * 150 + b * 29) >> 8 : r;
      v[1] = a;
    } else {
      v[0] = r;
      v[1] = g;
      v[2] = b;
      v[3] = a;
    }
    for (int k = 0; k < out_c; ++k) t[k * plane + i] = scale[v[k]];
  }
  return t;
}

}  // namespace detail

// Decodes PNG, JPEG or BMP bytes into 8-bit interleaved pixels in the file's
// own channel count. `name` (a path or a label) names the data in errors; when
// it ends in .png, .jpg, .jpeg or .bmp the content must be of that format.
inline DecodedPixels decode_image_pixels(const unsigned char* data, std::size_t size, const std::string& name) {
  const ImageFormat found = sniff_image_format(data, size);
  const ImageFormat named = image_format_from_name(name);
  if (found == ImageFormat::Unknown) {
    std::string head;
    for (std::size_t i = 0; i < std::min<std::size_t>(size, 4); ++i) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%02x", data[i]);
      head += (i ? " " : "") + std::string(buf);
    }
    throw IoError(str(name, ": cannot decode image: not PNG, JPEG or BMP (", size, " bytes",
                      size ? ", starting " + head : std::string(), ")"));
  }
  CAE_CHECK(named == ImageFormat::Unknown || named == found, IoError, name,
            ": cannot decode image: the name says ", image_format_name(named), " but the content is ",
            image_format_name(found));
  switch (found) {
    case ImageFormat::Png:
      detail::check_png_header(data, size, name);
#ifdef CAE_HAVE_LIBPNG
      return detail::decode_with_libpng(data, size, name);
#else
      return detail::decode_with_stb(data, size, name, "PNG");
#endif
    case ImageFormat::Jpeg:
#ifdef CAE_HAVE_LIBJPEG
      return detail::decode_with_libjpeg(data, size, name);
#else
      detail::check_jpeg_header(data, size, name);
      return detail::decode_with_stb(data, size, name, "JPEG");
#endif
    default:
      detail::check_bmp_header(data, size, name);
      return detail::decode_with_stb(data, size, name, "BMP");
  }
}

// Decodes PNG, JPEG or BMP bytes held in memory into [channels, H, W] floats
// in [0, 1]. channels = 0 keeps the image's own count; 1 to 4 converts (grey,
// grey + alpha, RGB, RGBA).
inline Tensor<float> decode_image(const std::vector<unsigned char>& bytes, const std::string& name,
                                  int channels = 0) {
  CAE_CHECK(channels >= 0 && channels <= 4, Error, name, ": decode_image: channels must be 0 to 4, got ",
            channels);
  return detail::pixels_to_tensor(decode_image_pixels(bytes.data(), bytes.size(), name), channels);
}

// JPEG bytes into [channels, H, W] floats in [0, 1] (anything else is refused).
inline Tensor<float> decode_jpeg(const std::vector<unsigned char>& bytes, const std::string& name = "jpeg",
                                 int channels = 0) {
  CAE_CHECK(sniff_image_format(bytes.data(), bytes.size()) == ImageFormat::Jpeg, IoError, name,
            ": cannot decode image: not a JPEG");
  return decode_image(bytes, name, channels);
}

namespace detail {
// [C, H, W] (C = 1, 3 or 4) or [H, W] values in [0, 1] to interleaved 8-bit
// pixels, rounded, clamped, non-finite values as 0.
template <typename T>
std::vector<unsigned char> tensor_to_pixels(const Tensor<T>& image, const std::string& what, int& w,
                                            int& h, int& c) {
  CAE_CHECK(image.rank() == 2 || image.rank() == 3, ShapeError, what, ": needs [C, H, W] or [H, W], got ",
            image.shape());
  const index_t c64 = image.rank() == 3 ? image.dim(0) : 1;
  CAE_CHECK(c64 == 1 || c64 == 3 || c64 == 4, ShapeError, what, ": needs 1, 3 or 4 channels, got ", c64);
  CAE_CHECK(image.dim(-1) > 0 && image.dim(-2) > 0 && image.dim(-1) * image.dim(-2) <= kMaxImagePixels,
            ShapeError, what, ": image size ", image.shape(), " out of range");
  c = static_cast<int>(c64);
  h = static_cast<int>(image.dim(-2));
  w = static_cast<int>(image.dim(-1));
  std::vector<unsigned char> pixels(static_cast<std::size_t>(c) * h * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) {
        const double v = image[(static_cast<index_t>(k) * h + y) * w + x];
        const double clamped = std::min(1.0, std::max(0.0, std::isfinite(v) ? v : 0.0));
        pixels[(static_cast<std::size_t>(y) * w + x) * c + k] = static_cast<unsigned char>(std::lround(clamped * 255.0));
      }
  return pixels;
}
}  // namespace detail

#ifdef CAE_HAVE_LIBJPEG
// Encodes [C, H, W] (C = 1 or 3) or [H, W] values in [0, 1] as a baseline
// JPEG with libjpeg-turbo at `quality` (1 to 100, libjpeg's scale); colour
// images use 4:2:0 chroma subsampling, as PIL and libjpeg's cjpeg do by default.
template <typename T>
std::vector<unsigned char> encode_jpeg(const Tensor<T>& image, int quality = 75) {
  CAE_CHECK(quality >= 1 && quality <= 100, Error, "encode_jpeg: quality must be 1 to 100, got ", quality);
  int w = 0, h = 0, c = 0;
  const std::vector<unsigned char> pixels = detail::tensor_to_pixels(image, "encode_jpeg", w, h, c);
  CAE_CHECK(c != 4, ShapeError, "encode_jpeg: JPEG has no alpha channel; give 1 or 3 channels");
  CAE_CHECK(w <= 65500 && h <= 65500, ShapeError, "encode_jpeg: ", w, "x", h, " exceeds JPEG's 65500 limit");
  detail::JpegEncodeState state;
  std::memset(&state, 0, sizeof state);
  if (!detail::jpeg_encode_raw(&state, pixels.data(), w, h, c, quality))
    throw IoError(str("encode_jpeg: ", state.errors.message));
  std::vector<unsigned char> out(state.buffer, state.buffer + state.size);
  std::free(state.buffer);
  return out;
}
#endif

}  // namespace cae::io
