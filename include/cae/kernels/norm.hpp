// Normalization kernels shared by BatchNorm and InstanceNorm.
//
// Every tensor is viewed as [N, C, S], S being the product of the spatial
// dimensions (1 for an [N, C] input). Elements are normalized in groups that
// share one mean and one inverse standard deviation ("statistics"):
//   per_sample == false (BatchNorm):    one group per channel c, over all n and s;
//                                       statistics arrays hold C values, index c.
//   per_sample == true  (InstanceNorm): one group per (n, c), over s;
//                                       statistics arrays hold N*C values, index n*C + c.
// The affine weight and bias are always per channel ([C]), or null when absent.
//
// Threads split the groups (channels, or (sample, channel) pairs); each group
// is reduced by one thread in a fixed order, so results do not depend on the
// thread count. Sums are accumulated in
// double so that float batches of 10^5 elements per channel keep full precision.
#pragma once

#include <cmath>

#include "cae/parallel.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

namespace detail {
template <typename T>
double sum(const T* x, index_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (index_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}
template <typename T>
double sum_squared_deviation(const T* x, index_t n, double mean) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (index_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    s += d * d;
  }
  return s;
}
inline index_t stat_index(index_t n, index_t c, index_t C, bool per_sample) {
  return per_sample ? n * C + c : c;
}
}  // namespace detail

namespace detail {
// Runs f(n0, c) for every group (first sample n0, channel c): one per channel,
// or one per (sample, channel) when per_sample. Groups are independent, so
// they are split among threads when the work is large; small inputs stay out
// of OpenMP altogether (even a region whose `if` is false allocates a team).
template <typename F>
void for_each_group(index_t N, index_t C, index_t S, bool per_sample, F f) {
  const index_t groups = per_sample ? N * C : C;
  if (N * C * S > kElementwiseGrain / 4 && groups > 1) {
#pragma omp parallel for schedule(static)
    for (index_t g = 0; g < groups; ++g) f(per_sample ? g / C : 0, g % C);
  } else {
    for (index_t g = 0; g < groups; ++g) f(per_sample ? g / C : 0, g % C);
  }
}

// The mean and biased variance of one group, as doubles: two passes (mean,
// then squared deviations) avoid the cancellation of E[x^2] - E[x]^2.
template <typename T>
void group_statistics(double& mean, double& var, const T* x, index_t n0, index_t samples,
                      index_t c, index_t C, index_t S) {
  const double count = static_cast<double>(samples * S);
  double total = 0;
  for (index_t n = n0; n < n0 + samples; ++n) total += sum(x + (n * C + c) * S, S);
  mean = total / count;
  double squares = 0;
  for (index_t n = n0; n < n0 + samples; ++n) squares += sum_squared_deviation(x + (n * C + c) * S, S, mean);
  var = squares / count;
}

// y = x * scale + shift over one group's samples.
template <typename T>
void group_affine(T* y, const T* x, index_t n0, index_t samples, index_t c, index_t C, index_t S,
                  T scale, T shift) {
  for (index_t n = n0; n < n0 + samples; ++n) {
    const T* xs = x + (n * C + c) * S;
    T* ys = y + (n * C + c) * S;
#pragma omp simd
    for (index_t s = 0; s < S; ++s) ys[s] = xs[s] * scale + shift;
  }
}
}  // namespace detail

// mean, var: [C] or [N*C] (see per_sample); x: [N, C, S].
// var is the biased variance (divided by the group size), the one that
// normalizes; running statistics want the unbiased one, var * m / (m - 1).
template <typename T>
void norm_statistics(T* mean, T* var, const T* x, index_t N, index_t C, index_t S,
                     bool per_sample) {
  const index_t samples = per_sample ? 1 : N;
  detail::for_each_group(N, C, S, per_sample, [&](index_t n0, index_t c) {
    double m, v;
    detail::group_statistics(m, v, x, n0, samples, c, C, S);
    const index_t k = detail::stat_index(n0, c, C, per_sample);
    mean[k] = static_cast<T>(m);
    var[k] = static_cast<T>(v);
  });
}

// y, x: [N, C, S]; mean, invstd: [C] or [N*C]; weight, bias: [C] or null.
// y = (x - mean) * invstd * weight + bias, folded into one multiply-add per element.
template <typename T>
void norm_forward(T* y, const T* x, const T* mean, const T* invstd, const T* weight,
                  const T* bias, index_t N, index_t C, index_t S, bool per_sample) {
  const index_t samples = per_sample ? 1 : N;
  detail::for_each_group(N, C, S, per_sample, [&](index_t n0, index_t c) {
    const index_t k = detail::stat_index(n0, c, C, per_sample);
    const T scale = invstd[k] * (weight ? weight[c] : T(1));
    const T shift = (bias ? bias[c] : T(0)) - mean[k] * scale;
    detail::group_affine(y, x, n0, samples, c, C, S, scale, shift);
  });
}

// Training-mode forward, norm_statistics and norm_forward in one: each group is
// normalized right after its statistics, by the same thread, while it is still
// in cache (a 320x320 plane is 400 KB; the whole batch is far larger than the
// caches). The same arithmetic as the two calls with
// invstd = 1 / sqrt(var + eps), so the same bits.
template <typename T>
void norm_forward_batch_stats(T* y, T* mean, T* var, T* invstd, const T* x, const T* weight,
                              const T* bias, index_t N, index_t C, index_t S, bool per_sample,
                              double eps) {
  const index_t samples = per_sample ? 1 : N;
  detail::for_each_group(N, C, S, per_sample, [&](index_t n0, index_t c) {
    double m, v;
    detail::group_statistics(m, v, x, n0, samples, c, C, S);
    const index_t k = detail::stat_index(n0, c, C, per_sample);
    mean[k] = static_cast<T>(m);
    var[k] = static_cast<T>(v);
    invstd[k] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(var[k]) + eps));
    const T scale = invstd[k] * (weight ? weight[c] : T(1));
    const T shift = (bias ? bias[c] : T(0)) - mean[k] * scale;
    detail::group_affine(y, x, n0, samples, c, C, S, scale, shift);
  });
}

// dx: [N, C, S] or null (input gradient not wanted); dweight, dbias: [C] or null,
// accumulated (+=); dy, x: [N, C, S]; mean, invstd: the statistics forward used;
// weight: [C] or null.
// batch_stats: the statistics were computed from this x (training, or no running
// statistics), so they depend on x and dx gets the terms from their gradients:
//   dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))   over each group;
// otherwise (eval with running statistics) they are constants and
//   dx = weight * invstd * dy.
template <typename T>
void norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* mean,
                   const T* invstd, const T* weight, index_t N, index_t C, index_t S,
                   bool per_sample, bool batch_stats) {
  const index_t group_samples = per_sample ? 1 : N;
  const double count = static_cast<double>(group_samples * S);
  // One task per channel, which sums dweight and dbias over its groups in
  // order; without those (InstanceNorm's default) one task per group.
  const bool by_group = per_sample && !dweight && !dbias;
  const index_t tasks = by_group ? N * C : C;
  auto run = [&](index_t task) {
    const index_t c = task % C;
    const index_t first = by_group ? task / C : 0, last = by_group ? first + 1 : N;
    double dweight_c = 0, dbias_c = 0;
    for (index_t n0 = first; n0 < last; n0 += group_samples) {
      const index_t k = detail::stat_index(n0, c, C, per_sample);
      const double m = mean[k], istd = invstd[k];
      // sum(dy) and sum(dy * xhat) over the group.
      double sum_dy = 0, sum_dy_xc = 0;
      for (index_t n = n0; n < n0 + group_samples; ++n) {
        const T* dys = dy + (n * C + c) * S;
        const T* xs = x + (n * C + c) * S;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xc)
        for (index_t s = 0; s < S; ++s) {
          sum_dy += static_cast<double>(dys[s]);
          sum_dy_xc += static_cast<double>(dys[s]) * (static_cast<double>(xs[s]) - m);
        }
      }
      const double sum_dy_xhat = sum_dy_xc * istd;
      dweight_c += sum_dy_xhat;
      dbias_c += sum_dy;
      if (!dx) continue;
      const T scale = static_cast<T>(istd * (weight ? static_cast<double>(weight[c]) : 1.0));
      const T mean_dy = batch_stats ? static_cast<T>(sum_dy / count) : T(0);
      // xhat * mean(dy * xhat) == (x - mean) * (invstd^2 * mean(dy * (x - mean)))
      const T slope = batch_stats ? static_cast<T>(istd * sum_dy_xhat / count) : T(0);
      const T mk = mean[k];
      for (index_t n = n0; n < n0 + group_samples; ++n) {
        const T* dys = dy + (n * C + c) * S;
        const T* xs = x + (n * C + c) * S;
        T* dxs = dx + (n * C + c) * S;
#pragma omp simd
        for (index_t s = 0; s < S; ++s) dxs[s] = scale * (dys[s] - mean_dy - (xs[s] - mk) * slope);
      }
    }
    if (dweight) dweight[c] += static_cast<T>(dweight_c);
    if (dbias) dbias[c] += static_cast<T>(dbias_c);
  };
  if (N * C * S > kElementwiseGrain / 4 && tasks > 1) {
#pragma omp parallel for schedule(static)
    for (index_t task = 0; task < tasks; ++task) run(task);
  } else {
    for (index_t task = 0; task < tasks; ++task) run(task);
  }
}

}  // namespace cae::kernels
