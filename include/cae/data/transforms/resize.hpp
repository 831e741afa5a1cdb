// Bilinear image resizing with PyTorch's
// F.interpolate(x, size=(out_h, out_w), mode='bilinear', align_corners=False).
//
// Used to enlarge datasets before training (CIFAR-10 32 -> 320, MNIST 28 -> 224).
// A whole enlarged dataset rarely fits in memory (15,000 x 3 x 320 x 320 floats
// is 18 GB), so the usual use is per batch, through Resize, which keeps its
// output buffer between calls.
#pragma once

#include <string>
#include <utility>

#include "cae/error.hpp"
#include "cae/kernels/upsample.hpp"
#include "cae/random.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

// out: [..., out_h, out_w] (resized here); in: [C, H, W] or [N, C, H, W].
// The arithmetic is the Upsample layer's kernel (kernels/upsample.hpp): the
// source coordinate and weights formed in double and rounded to T, as ATen
// does, then interpolation along W and along H in PyTorch's order. Compiled
// with FMA (-march=native on x86-64), float results are bit-identical to
// PyTorch's NCHW kernel (used for C > 1); single-channel tensors, which PyTorch
// sends through its channels-last kernel, and builds without FMA differ from
// PyTorch by a rounding or two (< 2.5e-7 on [0, 1]). Planes are independent,
// so the result does not depend on the thread count.
template <typename T>
void resize_bilinear(Tensor<T>& out, const Tensor<T>& in, index_t out_h, index_t out_w) {
  CAE_CHECK(in.rank() == 3 || in.rank() == 4, ShapeError,
            "resize_bilinear: needs [C, H, W] or [N, C, H, W], got ", in.shape());
  CAE_CHECK(out_h > 0 && out_w > 0, ShapeError, "resize_bilinear: output size ", out_h, "x",
            out_w, " must be positive");
  const index_t in_h = in.dim(-2), in_w = in.dim(-1);
  CAE_CHECK(in_h > 0 && in_w > 0, ShapeError, "resize_bilinear: empty input image ", in.shape());
  CAE_CHECK(&out != &in, ShapeError, "resize_bilinear: out and in must be different tensors");
  Shape out_shape = in.shape();
  out_shape[in.rank() - 2] = out_h;
  out_shape[in.rank() - 1] = out_w;
  out.resize(out_shape);
  const index_t planes = in.numel() / (in_h * in_w);
  kernels::bilinear_resize(out.data(), in.data(), planes, in_h, in_w, out_h, out_w,
                           /*align_corners=*/false);
}

template <typename T>
Tensor<T> resize_bilinear(const Tensor<T>& in, index_t out_h, index_t out_w) {
  Tensor<T> out;
  resize_bilinear(out, in, out_h, out_w);
  return out;
}

// A per-batch resize for a data loader's transform hook: Resize(320, 320)(batch)
// returns a buffer that is reused by the next call.
template <typename T = float>
class Resize {
 public:
  Resize(index_t height, index_t width) : height_(height), width_(width) {
    CAE_CHECK(height > 0 && width > 0, ShapeError, "Resize: size ", height, "x", width,
              " must be positive");
  }
  explicit Resize(index_t size) : Resize(size, size) {}

  const Tensor<T>& operator()(const Tensor<T>& images) {
    resize_bilinear(out_, images, height_, width_);
    return out_;
  }
  // Replaces `images` by its resized version (the old storage is reused when it
  // is large enough and not shared).
  void apply(Tensor<T>& images) {
    resize_bilinear(out_, images, height_, width_);
    Tensor<T> old = std::move(images);
    images = std::move(out_);
    // A view cannot be resized, so it is not kept as the next output buffer.
    out_ = old.is_view() ? Tensor<T>() : std::move(old);
  }

  // The DataLoader's BatchTransform signature: Resize(320) can be passed as is.
  void operator()(Tensor<T>& images, Rng&) { apply(images); }

  std::string describe() const {
    return str("Resize(size=(", height_, ", ", width_, "), mode='bilinear', align_corners=False)");
  }

 private:
  index_t height_, width_;
  Tensor<T> out_;
};

}  // namespace cae::data
