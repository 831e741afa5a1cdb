// libFuzzer target: image decoding (io::decode_image, what load_image and
// load_image_folder call). Every input must either decode into a [C, H, W]
// tensor of values in [0, 1] within cae's size limit, or throw cae::Error.
// The name given to the decoder follows the content's magic bytes, except for
// one input size in seven, which claims PNG whatever the content is, so the
// extension check is exercised too; the size also picks the channel count.
// Decoded images are re-encoded as JPEG (when built with libjpeg) and decoded
// again, which fuzzes the encoder on every shape the decoders produce.
#include <cstddef>
#include <cstdint>
#include <vector>

#define CAE_MAX_IMAGE_PIXELS (1LL << 22)  // keeps each input fast; the checks are the same
#include "cae/io/image_decode.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<unsigned char> bytes(data, data + size);
  const char* name = "fuzz.bin";
  switch (cae::io::sniff_image_format(data, size)) {
    case cae::io::ImageFormat::Png: name = "fuzz.png"; break;
    case cae::io::ImageFormat::Jpeg: name = "fuzz.jpg"; break;
    case cae::io::ImageFormat::Bmp: name = "fuzz.BMP"; break;
    default: break;
  }
  if (size % 7 == 0) name = "fuzz.png";
  const int channels = static_cast<int>(size % 5);
  try {
    const cae::Tensor<float> t = cae::io::decode_image(bytes, name, channels);
    if (t.rank() != 3 || (channels && t.dim(0) != channels) || t.dim(0) < 1 || t.dim(0) > 4 ||
        t.dim(1) * t.dim(2) > CAE_MAX_IMAGE_PIXELS)
      __builtin_trap();
    for (float v : t)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
#ifdef CAE_HAVE_LIBJPEG
    if ((t.dim(0) == 1 || t.dim(0) == 3) && t.dim(1) * t.dim(2) <= 4096) {
      const std::vector<unsigned char> jpg = cae::io::encode_jpeg(t, 1 + static_cast<int>(size % 100));
      const cae::Tensor<float> back = cae::io::decode_jpeg(jpg, "reencoded.jpg", static_cast<int>(t.dim(0)));
      if (back.shape() != t.shape()) __builtin_trap();
    }
#endif
  } catch (const cae::Error&) {
  }
  return 0;
}
