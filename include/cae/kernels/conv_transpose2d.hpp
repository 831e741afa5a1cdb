// ConvTranspose2d kernels: the gradient of a convolution, run forward.
//
// A transposed convolution with weight [Cin, Cout, kh, kw] is the input
// gradient of the convolution that maps its output image back to its input,
// so it uses that convolution's geometry `g` (see im2col.hpp):
//   g.channels, g.height, g.width   the layer's OUTPUT image  [Cout, Ho, Wo]
//   g.out_h, g.out_w                the layer's INPUT pixels  [H, W]
// With the weight seen as a matrix W [Cin, Cout*kh*kw], for one image:
//   forward          y_n  = col2im(W^T * x_n) + bias
//   input gradient   dx_n = W * im2col(dy_n)
//   weight gradient  dW  += x_n * im2col(dy_n)^T
// The same tiles, chunks and reproducibility rules as conv2d.hpp apply.
#pragma once

#include <algorithm>

#include "cae/kernels/conv2d.hpp"

namespace cae::kernels {

// y [batch, g.channels, g.height, g.width] = conv_transpose(x [batch, in_channels, g.out_h, g.out_w],
//   weight [in_channels, g.channels, kernel_h, kernel_w]) + bias [g.channels] (bias may be null)
template <typename T>
void conv_transpose2d_forward(T* y, const T* x, const T* weight, const T* bias, index_t batch,
                              index_t in_channels, const ConvGeometry& g, ConvWorkspace<T>& ws) {
  const index_t P = g.positions(), plane = g.height * g.width;
  ws.columns.reserve(detail::tile_elements(g));
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t n = 0; n < batch; ++n) {
    T* yn = y + n * g.image_size();
    for (index_t c = 0; c < g.channels; ++c)
      std::fill(yn + c * plane, yn + (c + 1) * plane, bias ? bias[c] : T(0));
    detail::patch_scatter(yn, weight, x + n * in_channels * P, g, in_channels, ws.columns.local());
  }
}

// Given dy [batch, g.channels, g.height, g.width] and the forward's x and weight:
//   dx [batch, in_channels, g.out_h, g.out_w] = dL/dx      (skipped when dx is null)
//   dweight [in_channels, g.channels, kernel_h, kernel_w] += dL/dweight
//   dbias [g.channels] += dL/dbias                         (skipped when dbias is null)
template <typename T>
void conv_transpose2d_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x,
                               const T* weight, index_t batch, index_t in_channels,
                               const ConvGeometry& g, ConvWorkspace<T>& ws) {
  const index_t P = g.positions(), rows = detail::rows_per_tile(g);
  ws.columns.reserve(detail::tile_elements(g));
  if (dbias) detail::bias_grad(dbias, dy, batch, g.channels, g.height * g.width);
  detail::chunked_weight_grad(dweight, in_channels * g.patch_size(), batch, ws,
                              [&](index_t n, T* dw, T* scratch) {
                                detail::patch_weight_grad(dw, x + n * in_channels * P,
                                                          dy + n * g.image_size(), g, in_channels,
                                                          scratch);
                              });
  if (!dx) return;
  // Tiles write disjoint columns of dx_n, so (image, tile) pairs are independent.
  const index_t tiles = (g.out_h + rows - 1) / rows;
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t task = 0; task < batch * tiles; ++task) {
    const index_t n = task / tiles, oh = (task % tiles) * rows;
    const index_t oh_end = std::min(g.out_h, oh + rows);
    T* dxn = dx + n * in_channels * P;
    for (index_t c = 0; c < in_channels; ++c)
      std::fill(dxn + c * P + oh * g.out_w, dxn + c * P + oh_end * g.out_w, T(0));
    detail::patch_product_tile(dxn, weight, dy + n * g.image_size(), g, in_channels, oh, oh_end,
                               ws.columns.local());
  }
}

}  // namespace cae::kernels
