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
// The algorithm is chosen as for Conv2d (conv/select.hpp; Winograd does not
// apply); the same reproducibility rules hold.
#pragma once

#include "cae/kernels/conv2d.hpp"

namespace cae::kernels {

// y [batch, g.channels, g.height, g.width] = conv_transpose(x [batch, in_channels, g.out_h, g.out_w],
//   weight [in_channels, g.channels, kernel_h, kernel_w]) + bias [g.channels] (bias may be null)
template <typename T>
void conv_transpose2d_forward(T* y, const T* x, const T* weight, const T* bias, index_t batch,
                              index_t in_channels, const ConvGeometry& g, ConvWorkspace<T>& ws,
                              ConvAlgorithm algorithm = ConvAlgorithm::Auto) {
  if (select_conv_algorithm<T>(ConvKind::ConvTranspose2d, g, in_channels, batch, algorithm)
          .algorithm == ConvAlgorithm::Direct)
    direct_conv_scatter(y, weight, bias, x, batch, in_channels, g);
  else
    patch_gemm_transposed(y, weight, bias, x, batch, in_channels, g, ws);
}

// Given dy [batch, g.channels, g.height, g.width] and the forward's x and weight:
//   dx [batch, in_channels, g.out_h, g.out_w] = dL/dx      (skipped when dx is null)
//   dweight [in_channels, g.channels, kernel_h, kernel_w] += dL/dweight
//   dbias [g.channels] += dL/dbias                         (skipped when dbias is null)
template <typename T>
void conv_transpose2d_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x,
                               const T* weight, index_t batch, index_t in_channels,
                               const ConvGeometry& g, ConvWorkspace<T>& ws,
                               ConvAlgorithm algorithm = ConvAlgorithm::Auto) {
  if (dbias) bias_grad(dbias, dy, batch, g.channels, g.height * g.width);
  if (select_conv_algorithm<T>(ConvKind::ConvTranspose2d, g, in_channels, batch, algorithm)
          .algorithm == ConvAlgorithm::Direct) {
    direct_conv_weight_grad(dweight, x, dy, batch, in_channels, g, ws.weight_partials);
    if (dx) direct_conv_product(dx, weight, static_cast<const T*>(nullptr), dy, batch, in_channels, g);
    return;
  }
  patch_weight_grad(dweight, x, dy, batch, in_channels, g, ws);
  // The input gradient reads the same column tiles of dy as the weight gradient.
  if (dx) patch_gemm(dx, weight, static_cast<const T*>(nullptr), dy, batch, in_channels, g, ws, true);
}

}  // namespace cae::kernels
