// Bilinear image resizing with PyTorch's
// F.interpolate(x, size=(out_h, out_w), mode='bilinear', align_corners=False).
//
// Used to enlarge datasets before training (CIFAR-10 32 -> 320, MNIST 28 -> 224).
// A whole enlarged dataset rarely fits in memory (15,000 x 3 x 320 x 320 floats
// is 18 GB), so the usual use is per batch, through Resize, which keeps its
// output buffer between calls.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cae/error.hpp"
#include "cae/random.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

namespace detail {

// For one axis: the two source indices and weights of every output index.
template <typename T>
struct LinearTaps {
  std::vector<index_t> i0, i1;
  std::vector<T> w0, w1;
};

// PyTorch's source index with align_corners=False: src = scale * (dst + 0.5) - 0.5,
// scale = in / out rounded to T, clamped at 0 (not at in - 1: past the last
// pixel both taps read the last pixel, so the weights still sum to 1). src and
// the fractional weight are formed in double before rounding to T, as in
// PyTorch 1.13 (rounding src to float first is off by up to 1.3e-6 at
// 32 -> 320). Compiled with FMA (-march=native on x86-64) the float results are
// bit-identical to PyTorch's NCHW kernel (used for C > 1); single-channel
// tensors, which PyTorch sends through its channels-last kernel, and builds
// without FMA differ from PyTorch by a rounding or two (< 2.5e-7 on [0, 1]).
template <typename T>
LinearTaps<T> linear_taps(index_t in, index_t out) {
  LinearTaps<T> t;
  t.i0.resize(out);
  t.i1.resize(out);
  t.w0.resize(out);
  t.w1.resize(out);
  const T scale = static_cast<T>(in) / static_cast<T>(out);
  for (index_t d = 0; d < out; ++d) {
    double src = static_cast<double>(scale) * (static_cast<double>(d) + 0.5) - 0.5;
    if (src < 0) src = 0;
    const index_t i0 = static_cast<index_t>(src);
    t.i0[d] = i0;
    t.i1[d] = i0 + (i0 < in - 1 ? 1 : 0);
    t.w1[d] = static_cast<T>(src - static_cast<double>(i0));
    t.w0[d] = T(1) - t.w1[d];
  }
  return t;
}

}  // namespace detail

// out: [..., out_h, out_w] (resized here); in: [C, H, W] or [N, C, H, W].
// Every (image, channel) plane is independent: OpenMP runs over planes, so the
// result does not depend on the thread count.
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
  const detail::LinearTaps<T> ty = detail::linear_taps<T>(in_h, out_h);
  const detail::LinearTaps<T> tx = detail::linear_taps<T>(in_w, out_w);
  const T* src = in.data();
  T* dst = out.data();
#pragma omp parallel if (planes * out_h * out_w > 65536)
  {
    // Each source row is interpolated along W once (ATen's inner step), then
    // output rows blend two of those rows along H; the arithmetic per output
    // pixel is unchanged, only shared work is not repeated.
    std::vector<T> rows(static_cast<std::size_t>(in_h * out_w));
#pragma omp for schedule(static)
    for (index_t p = 0; p < planes; ++p) {
      const T* plane = src + p * in_h * in_w;
      for (index_t i = 0; i < in_h; ++i) {
        const T* r = plane + i * in_w;
        T* hr = rows.data() + i * out_w;
        for (index_t x = 0; x < out_w; ++x) hr[x] = r[tx.i0[x]] * tx.w0[x] + r[tx.i1[x]] * tx.w1[x];
      }
      T* o = dst + p * out_h * out_w;
      for (index_t y = 0; y < out_h; ++y) {
        const T* top = rows.data() + ty.i0[y] * out_w;
        const T* bottom = rows.data() + ty.i1[y] * out_w;
        const T h0 = ty.w0[y], h1 = ty.w1[y];
        T* orow = o + y * out_w;
#pragma omp simd
        for (index_t x = 0; x < out_w; ++x) orow[x] = top[x] * h0 + bottom[x] * h1;
      }
    }
  }
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
