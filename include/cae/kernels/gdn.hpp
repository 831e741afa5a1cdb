// Generalized divisive normalization (Ballé, Laparra, Simoncelli 2016), as
// CompressAI's GDN:
//   GDN:         y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)
//   inverse GDN: y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)
// at every pixel. The sum over j is a 1x1 convolution of x^2, i.e. one GEMM
// [C, C] x [C, H*W] per image.
//
// beta and gamma are stored reparametrized (CompressAI's NonNegativeParametrizer),
// so that gradient steps cannot make them negative:
//   effective = max(stored, bound)^2 - pedestal,  pedestal = 2^-36,
//   bound = sqrt(minimum + pedestal)   (minimum: 1e-6 for beta, 0 for gamma)
// The max is CompressAI's LowerBound, whose gradient passes where stored >= bound
// or where the gradient would push the value up (dL/dout < 0), so a parameter
// stuck at the bound can leave it.
#pragma once

#include <cmath>

#include <Eigen/Core>

#include "cae/tensor.hpp"

namespace cae::kernels {

constexpr double kGdnPedestal = 1.0 / 68719476736.0;  // (2^-18)^2, CompressAI's reparam_offset^2

// Stored value of a parameter whose effective value is `value` (NonNegativeParametrizer.init).
inline double nonnegative_init(double value) {
  return std::sqrt(std::max(value + kGdnPedestal, kGdnPedestal));
}
inline double nonnegative_bound(double minimum) { return std::sqrt(minimum + kGdnPedestal); }

// effective[k] = max(stored[k], bound)^2 - pedestal, for k < n.
template <typename T>
void nonnegative_forward(T* effective, const T* stored, index_t n, double bound) {
  for (index_t k = 0; k < n; ++k) {
    const double v = std::max(double(stored[k]), bound);
    effective[k] = static_cast<T>(v * v - kGdnPedestal);
  }
}
// dstored[k] += dL/deffective[k] * d effective / d stored, with LowerBound's gradient rule.
template <typename T>
void nonnegative_backward(T* dstored, const T* deffective, const T* stored, index_t n,
                          double bound) {
  for (index_t k = 0; k < n; ++k) {
    const double s = stored[k], g = deffective[k];
    // LowerBound's own gradient, dL/dmax = 2 max g, has the sign of g.
    const bool passes = s >= bound || g < 0;
    if (passes) dstored[k] += static_cast<T>(g * 2.0 * std::max(s, bound));
  }
}

// y:     [N, C, S]  output (S = H * W)
// norm:  [N, C, S]  beta_i + sum_j gamma_ij x_j^2, kept for the backward pass
// x:     [N, C, S]  input
// gamma: [C, C]     effective (non-negative) gamma, row i = output channel
// beta:  [C]        effective beta
// Images are independent, so the loop over n is parallel.
template <typename T>
void gdn_forward(T* y, T* norm, const T* x, const T* gamma, const T* beta, index_t N, index_t C,
                 index_t S, bool inverse) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<Matrix>;
  using ConstMap = Eigen::Map<const Matrix>;
  const ConstMap G(gamma, C, C);
#pragma omp parallel for schedule(static) if (N > 1)
  for (index_t n = 0; n < N; ++n) {
    const ConstMap X(x + n * C * S, C, S);
    Map D(norm + n * C * S, C, S);
    D.noalias() = G * X.cwiseAbs2();
    T* yn = y + n * C * S;
    const T* xn = x + n * C * S;
    T* dn = norm + n * C * S;
    for (index_t i = 0; i < C; ++i)
      for (index_t s = 0; s < S; ++s) {
        const index_t k = i * S + s;
        dn[k] += beta[i];
        yn[k] = inverse ? xn[k] * std::sqrt(dn[k]) : xn[k] / std::sqrt(dn[k]);
      }
  }
}

// dx:        [N, C, S]  dL/dx (written), or null when the caller needs no input
//                       gradient (the parameter gradients need only dnorm)
// dgamma_n:  [N, C, C]  per-image dL/dgamma (written), summed by the caller in image
//                       order so the result does not depend on the thread count
// dbeta_n:   [N, C]     per-image dL/dbeta (written)
// dnorm:     [N, C, S]  workspace
// dy, x, norm: as in gdn_forward; gamma: [C, C] effective gamma.
// With r = norm^(-1/2) (GDN) or norm^(1/2) (inverse), y = x r, so
//   dL/dnorm_i = dy_i x_i dr/dnorm_i,  dL/dx_j = dy_j r_j + 2 x_j sum_i gamma_ij dL/dnorm_i,
//   dL/dgamma_ij = sum_s dL/dnorm_i x_j^2,  dL/dbeta_i = sum_s dL/dnorm_i.
template <typename T>
void gdn_backward(T* dx, T* dgamma_n, T* dbeta_n, T* dnorm, const T* dy, const T* x,
                  const T* norm, const T* gamma, index_t N, index_t C, index_t S, bool inverse) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<Matrix>;
  using ConstMap = Eigen::Map<const Matrix>;
  const ConstMap G(gamma, C, C);
#pragma omp parallel for schedule(static) if (N > 1)
  for (index_t n = 0; n < N; ++n) {
    const index_t off = n * C * S;
    const T* xn = x + off;
    const T* dyn = dy + off;
    const T* nn = norm + off;
    T* gn = dnorm + off;
    T* dxn = dx ? dx + off : nullptr;
    for (index_t k = 0; k < C * S; ++k) {
      const T root = std::sqrt(nn[k]);
      if (inverse) {
        gn[k] = dyn[k] * xn[k] * T(0.5) / root;
        if (dxn) dxn[k] = dyn[k] * root;
      } else {
        gn[k] = -dyn[k] * xn[k] * T(0.5) / (nn[k] * root);
        if (dxn) dxn[k] = dyn[k] / root;
      }
    }
    const ConstMap X(xn, C, S);
    const ConstMap Gn(gn, C, S);
    if (dxn) {
      Map DX(dxn, C, S);
      // dx += 2 x (gamma^T dnorm); the product goes through a temporary of [C, S].
      DX.array() += T(2) * X.array() * (G.transpose() * Gn).array();
    }
    Map DG(dgamma_n + n * C * C, C, C);
    DG.noalias() = Gn * X.cwiseAbs2().transpose();
    for (index_t i = 0; i < C; ++i) {
      T sum = 0;
      for (index_t s = 0; s < S; ++s) sum += gn[i * S + s];
      dbeta_n[n * C + i] = sum;
    }
  }
}

}  // namespace cae::kernels
