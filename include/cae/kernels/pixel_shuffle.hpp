// Pixel shuffle (sub-pixel convolution's rearrangement, Shi et al. 2016) and
// its inverse, as torch.nn.functional.pixel_shuffle / pixel_unshuffle:
//
//   small[b, c * r * r + i * r + j, h, w] == large[b, c, h * r + i, w * r + j]
//
// for a factor r, where `small` is [B, C r^2, H, W] and `large` is
// [B, C, H r, W r] (B the product of all leading dimensions). Both directions
// are pure permutations, so each backward is the other direction's forward.
// Threads split the output rows of `large`; every element is written once, so
// results do not depend on the thread count.
#pragma once

#include "cae/parallel.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

namespace pixel_shuffle_detail {

// Copies between small [B, C r^2, H, W] and large [B, C, H r, W r]:
// ToLarge: dst (large) = shuffle(src (small)); otherwise dst (small) = unshuffle(src (large)).
template <bool ToLarge, typename T>
void permute(T* dst, const T* src, index_t B, index_t C, index_t H, index_t W, index_t r) {
  const index_t rows = B * C * H * r;  // rows of `large`
  const index_t large_w = W * r, plane = H * W;
#pragma omp parallel for schedule(static) if (rows * large_w > kElementwiseGrain)
  for (index_t row = 0; row < rows; ++row) {
    const index_t bc = row / (H * r), large_h = row % (H * r);
    const index_t h = large_h / r, i = large_h % r;
    const index_t large_at = row * large_w;
    for (index_t j = 0; j < r; ++j) {
      // small's channel bc * r^2 + i * r + j, row h
      const index_t small_at = (bc * r * r + i * r + j) * plane + h * W;
      if (ToLarge) {
        for (index_t w = 0; w < W; ++w) dst[large_at + w * r + j] = src[small_at + w];
      } else {
        for (index_t w = 0; w < W; ++w) dst[small_at + w] = src[large_at + w * r + j];
      }
    }
  }
}

}  // namespace pixel_shuffle_detail

// x: [B, C r^2, H, W] -> y: [B, C, H r, W r]; C counts y's channels.
template <typename T>
void pixel_shuffle_forward(T* y, const T* x, index_t B, index_t C, index_t H, index_t W,
                           index_t r) {
  pixel_shuffle_detail::permute<true>(y, x, B, C, H, W, r);
}
// dy: [B, C, H r, W r] -> dx: [B, C r^2, H, W]
template <typename T>
void pixel_shuffle_backward(T* dx, const T* dy, index_t B, index_t C, index_t H, index_t W,
                            index_t r) {
  pixel_shuffle_detail::permute<false>(dx, dy, B, C, H, W, r);
}

// x: [B, C, H r, W r] -> y: [B, C r^2, H, W]; C counts x's channels, H and W y's size.
template <typename T>
void pixel_unshuffle_forward(T* y, const T* x, index_t B, index_t C, index_t H, index_t W,
                             index_t r) {
  pixel_shuffle_detail::permute<false>(y, x, B, C, H, W, r);
}
// dy: [B, C r^2, H, W] -> dx: [B, C, H r, W r]
template <typename T>
void pixel_unshuffle_backward(T* dx, const T* dy, index_t B, index_t C, index_t H, index_t W,
                              index_t r) {
  pixel_shuffle_detail::permute<true>(dx, dy, B, C, H, W, r);
}

}  // namespace cae::kernels
