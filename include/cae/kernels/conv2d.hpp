// Conv2d kernels: conv2d_forward / conv2d_backward run the algorithm that
// select_conv_algorithm (conv/select.hpp) picks, or the one forced:
//   conv/direct.hpp       direct loops, for few filters
//   conv/winograd.hpp     Winograd F(2x2, 3x3), for 3x3 stride-1 layers with many channels
//   conv/im2col_gemm.hpp  im2col + GEMM, everything else
// Every algorithm sums in an order fixed by the shapes, so results are
// bitwise identical for any number of threads.
#pragma once

#include <Eigen/Core>

#include "cae/kernels/conv/direct.hpp"
#include "cae/kernels/conv/im2col_gemm.hpp"
#include "cae/kernels/conv/select.hpp"
#include "cae/kernels/conv/winograd.hpp"
#include "cae/kernels/conv/workspace.hpp"
#include "cae/tensor.hpp"

namespace cae::kernels {

// dbias [channels] += sums of dy [batch, channels, spatial] over batch and space,
// in a fixed order.
template <typename T>
void bias_grad(T* dbias, const T* dy, index_t batch, index_t channels, index_t spatial) {
#pragma omp parallel for schedule(static) if (batch * channels * spatial > 65536)
  for (index_t c = 0; c < channels; ++c) {
    T sum = 0;
    for (index_t n = 0; n < batch; ++n)
      sum += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(dy + (n * channels + c) * spatial,
                                                                  spatial)
                 .sum();
    dbias[c] += sum;
  }
}

// y [batch, out_channels, out_h, out_w] = conv(x [batch, g.channels, g.height, g.width],
//   weight [out_channels, g.channels, kernel_h, kernel_w]) + bias [out_channels] (bias may be null)
// `algorithm`: Auto asks select_conv_algorithm; the backward pass must get the
// algorithm its forward ran with.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* weight, const T* bias, index_t batch,
                    index_t out_channels, const ConvGeometry& g, ConvWorkspace<T>& ws,
                    ConvAlgorithm algorithm = ConvAlgorithm::Auto) {
  switch (select_conv_algorithm<T>(ConvKind::Conv2d, g, out_channels, batch, algorithm).algorithm) {
    case ConvAlgorithm::Winograd:
      winograd_forward(y, x, weight, bias, batch, out_channels, g, ws.winograd);
      break;
    case ConvAlgorithm::Direct:
      direct_conv_product(y, weight, bias, x, batch, out_channels, g);
      break;
    default:
      patch_gemm(y, weight, bias, x, batch, out_channels, g, ws);
  }
}

// Given dy [batch, out_channels, out_h, out_w] and the forward's x and weight:
//   dx [batch, g.channels, g.height, g.width] = dL/dx   (skipped when dx is null)
//   dweight [out_channels, g.channels, kernel_h, kernel_w] += dL/dweight
//   dbias [out_channels] += dL/dbias                     (skipped when dbias is null)
template <typename T>
void conv2d_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight,
                     index_t batch, index_t out_channels, const ConvGeometry& g,
                     ConvWorkspace<T>& ws, ConvAlgorithm algorithm = ConvAlgorithm::Auto) {
  if (dbias) bias_grad(dbias, dy, batch, out_channels, g.positions());
  const ConvAlgorithm chosen =
      select_conv_algorithm<T>(ConvKind::Conv2d, g, out_channels, batch, algorithm).algorithm;
  if (chosen == ConvAlgorithm::Winograd) {
    winograd_weight_grad(dweight, dy, x, batch, out_channels, g, ws.winograd);
    if (dx) winograd_input_grad(dx, dy, weight, batch, out_channels, g, ws.winograd);
    return;
  }
  if (chosen == ConvAlgorithm::Direct) {
    direct_conv_weight_grad(dweight, dy, x, batch, out_channels, g, ws.weight_partials);
    if (dx) direct_conv_scatter(dx, weight, static_cast<const T*>(nullptr), dy, batch, out_channels, g);
    return;
  }
  // x is unchanged since the forward pass, whose column tiles are reused.
  patch_weight_grad(dweight, dy, x, batch, out_channels, g, ws, true);
  if (dx) patch_gemm_transposed(dx, weight, static_cast<const T*>(nullptr), dy, batch,
                                out_channels, g, ws);
}

}  // namespace cae::kernels
