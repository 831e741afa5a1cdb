// Kernels of the entropy models of learned image compression (Ballé et al. 2018):
//
//  - the factorized prior's per-channel, non-parametric cumulative density
//    (appendix 6.1 of "Variational image compression with a scale hyperprior"):
//    a tiny network 1 -> f1 -> f2 -> f3 -> 1 per channel,
//        h = softplus(matrix_k) h + bias_k,  then  h += tanh(factor_k) * tanh(h)  (k < last)
//    whose output is the logit of the cumulative c(x); the likelihood of a
//    latent v is c(v + 0.5) - c(v - 0.5), computed as CompressAI does, on the
//    side of the distribution where the sigmoids are far from 1 (no cancellation);
//  - the Gaussian conditional's likelihood Phi((0.5 - |v|)/s) - Phi((-0.5 - |v|)/s);
//  - CompressAI's LowerBound (max(x, bound) whose gradient still passes where it
//    would push x up), used on likelihoods (1e-9) and scales (0.11).
//
// Latents are [N, C, S] (S = H * W). The factorized kernels loop over channels
// in parallel, and within a channel over n and s in order, so every gradient
// sum is the same for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace cae::kernels {

// The widest hidden layer of the density network that the kernels support.
constexpr index_t kMaxDensityWidth = 16;

inline double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }  // torch's threshold 20
inline double softplus_grad(double x) { return x > 20 ? 1.0 : 1.0 / (1.0 + std::exp(-x)); }
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The stored (raw) parameters of all channels, as CompressAI's EntropyBottleneck:
//   matrix[k]: [C, f[k+1], f[k]]   bias[k]: [C, f[k+1], 1]   factor[k]: [C, f[k+1], 1] (k < K-1)
// with f = (1, filters..., 1) and K = f.size() - 1 layers.
template <typename T>
struct DensityParams {
  std::vector<index_t> f;
  std::vector<const T*> matrix, bias, factor;
  index_t layers() const { return static_cast<index_t>(f.size()) - 1; }
};
template <typename T>
struct DensityGrads {
  std::vector<T*> matrix, bias, factor;  // same shapes as DensityParams; accumulated (+=)
};

struct DensityAccumulator;

// One channel's density network with its transformed parameters, in double.
// forward() keeps the activations of the last evaluation for backward().
class ChannelDensity {
 public:
  template <typename T>
  void load(const DensityParams<T>& p, index_t c) {
    f_ = p.f;
    const index_t K = p.layers();
    matrix_.assign(K, {});
    raw_matrix_.assign(K, {});
    bias_.assign(K, {});
    factor_.assign(K, {});
    raw_factor_.assign(K, {});
    for (index_t k = 0; k < K; ++k) {
      const index_t rows = f_[k + 1], cols = f_[k];
      for (index_t i = 0; i < rows * cols; ++i) {
        const double m = p.matrix[k][c * rows * cols + i];
        raw_matrix_[k].push_back(m);
        matrix_[k].push_back(softplus(m));
      }
      for (index_t i = 0; i < rows; ++i) bias_[k].push_back(p.bias[k][c * rows + i]);
      if (k + 1 < K)
        for (index_t i = 0; i < rows; ++i) {
          const double a = p.factor[k][c * rows + i];
          raw_factor_[k].push_back(a);
          factor_[k].push_back(std::tanh(a));
        }
    }
  }

  // The logit of the cumulative at x. Keeps z (pre-nonlinearity) and inputs per layer.
  double forward(double x) {
    const index_t K = static_cast<index_t>(f_.size()) - 1;
    double h[kMaxDensityWidth] = {x};
    for (index_t k = 0; k < K; ++k) {
      const index_t rows = f_[k + 1], cols = f_[k];
      double* in = input_[k];
      for (index_t j = 0; j < cols; ++j) in[j] = h[j];
      for (index_t i = 0; i < rows; ++i) {
        double z = bias_[k][i];
        for (index_t j = 0; j < cols; ++j) z += matrix_[k][i * cols + j] * in[j];
        z_[k][i] = z;
        h[i] = k + 1 < K ? z + factor_[k][i] * std::tanh(z) : z;
      }
    }
    return h[0];
  }

  // Back-propagates dlogit through the last forward(): returns dlogit/dx, and
  // adds the parameter gradients (w.r.t. the stored values) to g when g is not null.
  double backward(double dlogit, DensityAccumulator* g) const;

  const std::vector<index_t>& f() const { return f_; }

 private:
  friend struct DensityAccumulator;
  std::vector<index_t> f_;
  std::vector<std::vector<double>> matrix_, raw_matrix_, bias_, factor_, raw_factor_;
  double input_[8][kMaxDensityWidth] = {};
  double z_[8][kMaxDensityWidth] = {};
};

// One channel's parameter gradients, summed in double while the channel is processed.
struct DensityAccumulator {
  std::vector<std::vector<double>> matrix, bias, factor;
  void reset(const std::vector<index_t>& f) {
    const std::size_t K = f.size() - 1;
    matrix.assign(K, {});
    bias.assign(K, {});
    factor.assign(K, {});
    for (std::size_t k = 0; k < K; ++k) {
      matrix[k].assign(static_cast<std::size_t>(f[k + 1] * f[k]), 0.0);
      bias[k].assign(static_cast<std::size_t>(f[k + 1]), 0.0);
      if (k + 1 < K) factor[k].assign(static_cast<std::size_t>(f[k + 1]), 0.0);
    }
  }
  // Adds the sums to channel c of the gradient tensors, through softplus and tanh.
  template <typename T>
  void flush(const ChannelDensity& d, const DensityGrads<T>& g, index_t c) const {
    const std::size_t K = matrix.size();
    for (std::size_t k = 0; k < K; ++k) {
      const index_t rows = d.f_[k + 1], cols = d.f_[k];
      for (index_t i = 0; i < rows * cols; ++i)
        g.matrix[k][c * rows * cols + i] +=
            static_cast<T>(matrix[k][i] * softplus_grad(d.raw_matrix_[k][i]));
      for (index_t i = 0; i < rows; ++i) g.bias[k][c * rows + i] += static_cast<T>(bias[k][i]);
      if (k + 1 < K)
        for (index_t i = 0; i < rows; ++i) {
          const double t = d.factor_[k][i];
          g.factor[k][c * rows + i] += static_cast<T>(factor[k][i] * (1 - t * t));
        }
    }
  }
};

inline double ChannelDensity::backward(double dlogit, DensityAccumulator* g) const {
  const index_t K = static_cast<index_t>(f_.size()) - 1;
  double dh[kMaxDensityWidth] = {dlogit};
  for (index_t k = K - 1; k >= 0; --k) {
    const index_t rows = f_[k + 1], cols = f_[k];
    double dz[kMaxDensityWidth];
    for (index_t i = 0; i < rows; ++i) {
      if (k + 1 < K) {
        const double t = std::tanh(z_[k][i]);
        dz[i] = dh[i] * (1 + factor_[k][i] * (1 - t * t));
        if (g) g->factor[k][i] += dh[i] * t;
      } else {
        dz[i] = dh[i];
      }
    }
    double din[kMaxDensityWidth] = {};
    for (index_t i = 0; i < rows; ++i) {
      if (g) g->bias[k][i] += dz[i];
      for (index_t j = 0; j < cols; ++j) {
        if (g) g->matrix[k][i * cols + j] += dz[i] * input_[k][j];
        din[j] += matrix_[k][i * cols + j] * dz[i];
      }
    }
    for (index_t j = 0; j < cols; ++j) dh[j] = din[j];
  }
  return dh[0];
}

// Checks that the density network fits the kernels' fixed-size buffers.
inline void check_density_filters(const std::vector<index_t>& f, const char* who) {
  CAE_CHECK(f.size() >= 2 && f.size() <= 9, Error, who, ": the density network needs 0 to 7 "
            "hidden layers, got ", f.size() - 2);
  for (index_t w : f)
    CAE_CHECK(w >= 1 && w <= kMaxDensityWidth, Error, who, ": filter widths must be in [1, ",
              kMaxDensityWidth, "], got ", w);
}

// The likelihood of v from the logits l = logit c(v - 0.5) and u = logit c(v + 0.5):
// with s = -sign(l + u), |sigmoid(s u) - sigmoid(s l)|, which takes both sigmoids
// on the side where they are small and so loses no digits to cancellation.
// dl, du: d likelihood / dl, d likelihood / du.
inline double density_likelihood(double l, double u, double* dl, double* du) {
  const double s = l + u > 0 ? -1.0 : (l + u < 0 ? 1.0 : 0.0);  // torch.sign(0) == 0
  const double su = sigmoid(s * u), sl = sigmoid(s * l);
  const double d = su - sl;
  const double sign_d = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
  if (dl) *dl = -sign_d * s * sl * (1 - sl);
  if (du) *du = sign_d * s * su * (1 - su);
  return std::abs(d);
}

// lik:    [N, C, S]  max(c(v + 0.5) - c(v - 0.5), bound)
// values: [N, C, S]  v
// p:      the density parameters (stored values), C channels
template <typename T>
void factorized_likelihood_forward(T* lik, const T* values, index_t N, index_t C, index_t S,
                                   const DensityParams<T>& p, double bound) {
#pragma omp parallel for schedule(static)
  for (index_t c = 0; c < C; ++c) {
    ChannelDensity d;
    d.load(p, c);
    for (index_t n = 0; n < N; ++n)
      for (index_t s = 0; s < S; ++s) {
        const index_t k = (n * C + c) * S + s;
        const double v = values[k];
        const double l = d.forward(v - 0.5), u = d.forward(v + 0.5);
        lik[k] = static_cast<T>(std::max(density_likelihood(l, u, nullptr, nullptr), bound));
      }
  }
}

// dvalues: [N, C, S]  dL/dv (written)
// g:       parameter gradients (accumulated)
// dlik:    [N, C, S]  dL/dlik
// lik:     [N, C, S]  the forward's (bounded) output
// values, p, bound: as in the forward.
// The bound's gradient follows CompressAI's LowerBound: it passes where the
// likelihood is above the bound or where dL/dlik < 0 (always, for a rate loss).
template <typename T>
void factorized_likelihood_backward(T* dvalues, const DensityGrads<T>& g, const T* dlik,
                                    const T* values, index_t N, index_t C, index_t S,
                                    const DensityParams<T>& p, double bound) {
#pragma omp parallel for schedule(static)
  for (index_t c = 0; c < C; ++c) {
    ChannelDensity d;
    d.load(p, c);
    DensityAccumulator acc;
    acc.reset(d.f());
    for (index_t n = 0; n < N; ++n)
      for (index_t s = 0; s < S; ++s) {
        const index_t k = (n * C + c) * S + s;
        const double v = values[k];
        // The forward is recomputed: storing 2 x 10 activations per latent costs more.
        const double l = d.forward(v - 0.5);
        const double u0 = d.forward(v + 0.5);
        double dl, du;
        const double raw = density_likelihood(l, u0, &dl, &du);
        const double grad = dlik[k];
        if (!(raw >= bound || grad < 0)) {
          dvalues[k] = 0;
          continue;
        }
        // Activations of v + 0.5 are the ones kept: its backward first.
        double dv = d.backward(grad * du, &acc);
        d.forward(v - 0.5);
        dv += d.backward(grad * dl, &acc);
        dvalues[k] = static_cast<T>(dv);
      }
    acc.flush(d, g, c);
  }
}

// The standard normal CDF as CompressAI writes it, 0.5 erfc(-x / sqrt 2).
inline double standard_cumulative(double x) { return 0.5 * std::erfc(-x * M_SQRT1_2); }
inline double standard_density(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }

// lik:    [n]  max(Phi((0.5 - |v|)/s) - Phi((-0.5 - |v|)/s), lik_bound), s = max(scale, scale_bound)
// values: [n]  v (latents minus their means)
// scales: [n]  the predicted scales
template <typename T>
void gaussian_likelihood_forward(T* lik, const T* values, const T* scales, index_t n,
                                 double scale_bound, double lik_bound) {
#pragma omp parallel for schedule(static) if (n >= 32768)
  for (index_t k = 0; k < n; ++k) {
    const double s = std::max(double(scales[k]), scale_bound), v = std::abs(double(values[k]));
    const double p = standard_cumulative((0.5 - v) / s) - standard_cumulative((-0.5 - v) / s);
    lik[k] = static_cast<T>(std::max(p, lik_bound));
  }
}

// dvalues, dscales: [n]  (written)
// dlik:             [n]  dL/dlik
// values, scales, bounds: as in the forward. Both lower bounds pass the gradient
// as CompressAI's LowerBound does; d|v|/dv at 0 is 0, as torch.abs's.
template <typename T>
void gaussian_likelihood_backward(T* dvalues, T* dscales, const T* dlik, const T* values,
                                  const T* scales, index_t n, double scale_bound,
                                  double lik_bound) {
#pragma omp parallel for schedule(static) if (n >= 32768)
  for (index_t k = 0; k < n; ++k) {
    const double raw_s = scales[k], s = std::max(raw_s, scale_bound);
    const double x = values[k], v = std::abs(x);
    const double a = (0.5 - v) / s, b = (-0.5 - v) / s;
    const double p = standard_cumulative(a) - standard_cumulative(b);
    const double grad = dlik[k];
    if (!(p >= lik_bound || grad < 0)) {
      dvalues[k] = 0;
      dscales[k] = 0;
      continue;
    }
    const double pa = standard_density(a), pb = standard_density(b);
    const double dv_abs = (pb - pa) / s;
    const double ds = (-a * pa + b * pb) / s * grad;
    dvalues[k] = static_cast<T>(grad * dv_abs * (x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0)));
    dscales[k] = static_cast<T>(raw_s >= scale_bound || ds < 0 ? ds : 0.0);
  }
}

}  // namespace cae::kernels
