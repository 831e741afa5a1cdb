// |x| and its gradient, as torch.abs: the scale hyperprior's hyper-encoder sees
// the magnitudes of the latents (Ballé et al. 2018), since the scales it
// predicts do not depend on their signs.
#pragma once

#include "cae/tensor.hpp"

namespace cae::kernels {

// y: [n]  |x|
// x: [n]
template <typename T>
void abs_forward(T* y, const T* x, index_t n) {
  for (index_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? -x[i] : x[i];
}

// dx: [n]  dy * sign(x), written; sign(0) = 0 as torch.abs's backward, and NaN
//          where x is NaN (sign(NaN) is NaN in torch)
// dy: [n]
// x:  [n]  the forward's input
template <typename T>
void abs_backward(T* dx, const T* dy, const T* x, index_t n) {
  for (index_t i = 0; i < n; ++i) {
    const T s = x[i] > T(0) ? T(1) : (x[i] < T(0) ? T(-1) : (x[i] == T(0) ? T(0) : x[i]));
    dx[i] = dy[i] * s;
  }
}

}  // namespace cae::kernels
