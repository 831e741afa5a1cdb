// Quantization and entropy models of learned image compression, as CompressAI's
// EntropyBottleneck (the factorized prior of Ballé et al. 2018) and
// GaussianConditional (the scale hyperprior's conditional model).
//
// Training:  y_hat = y + U(-0.5, 0.5) noise (or straight-through rounding), and the
//            likelihood of y_hat; rate in bits = sum -log2(likelihood).
// Inference: y_hat = round(y - median) + median; quantize() gives the integers
//            round(y - median) that the entropy coder writes, dequantize() adds
//            the median back.
// Coding:    update() builds, for each table t, the pmf over consecutive integers
//            offset_t, offset_t + 1, ... and its tail mass (the probability of the
//            integers outside the table). The factorized prior has one table per
//            channel; the Gaussian conditional one per entry of its scale table,
//            and build_indexes(scales) maps each latent to its table.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cae/kernels/entropy_models.hpp"
#include "cae/module.hpp"
#include "cae/random.hpp"

namespace cae {

// How a latent is quantized in training mode.
enum class TrainingQuantization {
  Noise,            // y + U(-0.5, 0.5): the differentiable proxy of Ballé et al.
  StraightThrough,  // round(y - median) + median forward, identity gradient
};

// out[k] = in[k] + u_k, u_k ~ U(-0.5, 0.5) drawn in order from rng: the same
// numbers for any thread count.
template <typename T>
void add_uniform_noise(T* out, const T* in, index_t n, Rng& rng) {
  for (index_t k = 0; k < n; ++k) out[k] = in[k] + static_cast<T>(rng.uniform() - 0.5);
}

// out = round(in - median_c) + median_c over [N, C, S] (medians [C], or null for 0).
// Rounding is half to even, as torch.round.
template <typename T>
void round_around(T* out, const T* in, const T* medians, index_t N, index_t C, index_t S) {
  for (index_t n = 0; n < N; ++n)
    for (index_t c = 0; c < C; ++c) {
      const T m = medians ? medians[c] : T(0);
      for (index_t s = 0; s < S; ++s) {
        const index_t k = (n * C + c) * S + s;
        out[k] = static_cast<T>(std::nearbyint(in[k] - m)) + m;
      }
    }
}

// symbols = round(in - median_c) as int32 over [N, C, S]; throws for values that
// are not finite or do not fit (a diverged model), naming `who`.
template <typename T>
std::vector<std::int32_t> quantize_symbols(const T* in, const T* medians, index_t N, index_t C,
                                           index_t S, const std::string& who) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(N * C * S));
  for (index_t n = 0; n < N; ++n)
    for (index_t c = 0; c < C; ++c) {
      const double m = medians ? double(medians[c]) : 0.0;
      for (index_t s = 0; s < S; ++s) {
        const index_t k = (n * C + c) * S + s;
        const double r = std::nearbyint(double(in[k]) - m);
        CAE_CHECK(std::isfinite(r) && std::abs(r) < 1073741824.0, Error, who, ": latent ", k,
                  " is ", double(in[k]), ", which cannot be quantized to a 32-bit symbol");
        out[static_cast<std::size_t>(k)] = static_cast<std::int32_t>(r);
      }
    }
  return out;
}

// out = symbols + median_c over [N, C, S].
template <typename T>
void dequantize_symbols(T* out, const std::int32_t* symbols, const T* medians, index_t N,
                        index_t C, index_t S) {
  for (index_t n = 0; n < N; ++n)
    for (index_t c = 0; c < C; ++c) {
      const T m = medians ? medians[c] : T(0);
      for (index_t s = 0; s < S; ++s) {
        const index_t k = (n * C + c) * S + s;
        out[k] = static_cast<T>(symbols[k]) + m;
      }
    }
}

// The bits of a set of likelihoods, sum -log2(p), in double.
template <typename T>
double total_bits(const Tensor<T>& likelihoods) {
  double bits = 0;
  for (index_t k = 0; k < likelihoods.numel(); ++k) bits -= std::log2(double(likelihoods[k]));
  return bits;
}
// dL/dlikelihood for L = weight * sum -log2(p).
template <typename T>
void bits_gradient(Tensor<T>& grad, const Tensor<T>& likelihoods, double weight) {
  grad.resize(likelihoods.shape());
  const double scale = -weight / std::log(2.0);
  for (index_t k = 0; k < likelihoods.numel(); ++k)
    grad[k] = static_cast<T>(scale / double(likelihoods[k]));
}

// One table for the entropy coder: pmf[i] = P(symbol == offset + i); tail_mass is
// the probability of all symbols outside [offset, offset + pmf.size()).
struct EntropyTable {
  std::vector<double> pmf;
  std::int32_t offset = 0;
  double tail_mass = 0;
};

class EntropyBottleneckOptions {
 public:
  explicit EntropyBottleneckOptions(index_t channels) : channels_(channels) {}
  EntropyBottleneckOptions& filters(std::vector<index_t> v) { filters_ = std::move(v); return *this; }
  EntropyBottleneckOptions& init_scale(double v) { init_scale_ = v; return *this; }
  EntropyBottleneckOptions& tail_mass(double v) { tail_mass_ = v; return *this; }
  EntropyBottleneckOptions& likelihood_bound(double v) { likelihood_bound_ = v; return *this; }
  EntropyBottleneckOptions& quantization(TrainingQuantization v) { quantization_ = v; return *this; }

  index_t channels() const { return channels_; }
  const std::vector<index_t>& filters() const { return filters_; }
  double init_scale() const { return init_scale_; }
  double tail_mass() const { return tail_mass_; }
  double likelihood_bound() const { return likelihood_bound_; }
  TrainingQuantization quantization() const { return quantization_; }

 private:
  index_t channels_;
  std::vector<index_t> filters_ = {3, 3, 3};
  double init_scale_ = 10;
  double tail_mass_ = 1e-9;
  double likelihood_bound_ = 1e-9;
  TrainingQuantization quantization_ = TrainingQuantization::Noise;
};

// The factorized prior. Parameters, named as CompressAI's state_dict:
//   _matrix{k} [C, f[k+1], f[k]], _bias{k} [C, f[k+1], 1], _factor{k} [C, f[k+1], 1]
//   (k < K - 1), then quantiles [C, 1, 3] (the learned 1e-9 / median / 1 - 1e-9
//   quantiles, trained only by aux_loss(), with their own optimizer).
template <typename T>
class EntropyBottleneck : public Module<T> {
 public:
  explicit EntropyBottleneck(const EntropyBottleneckOptions& options) : options_(options) {
    const index_t C = options.channels();
    CAE_CHECK(C > 0, Error, "EntropyBottleneck: channels must be positive, got ", C);
    CAE_CHECK(options.init_scale() > 0, Error, "EntropyBottleneck: init_scale must be positive");
    CAE_CHECK(options.tail_mass() > 0 && options.tail_mass() < 1, Error,
              "EntropyBottleneck: tail_mass must be in (0, 1), got ", options.tail_mass());
    CAE_CHECK(options.likelihood_bound() >= 0, Error,
              "EntropyBottleneck: likelihood_bound must be >= 0");
    f_ = {1};
    for (index_t w : options.filters()) f_.push_back(w);
    f_.push_back(1);
    kernels::check_density_filters(f_, "EntropyBottleneck");
    const index_t K = static_cast<index_t>(f_.size()) - 1;
    const double scale = std::pow(options.init_scale(), 1.0 / double(K));
    matrix_.resize(K);
    bias_.resize(K);
    factor_.resize(K - 1);
    matrix_grad_.resize(K);
    bias_grad_.resize(K);
    factor_grad_.resize(K - 1);
    Rng& rng = global_rng();
    for (index_t k = 0; k < K; ++k) {
      // softplus(init) = 1 / scale / f[k+1]: the initial network is close to a logistic of width init_scale.
      const double init = std::log(std::expm1(1.0 / scale / double(f_[k + 1])));
      matrix_[k] = Tensor<T>({C, f_[k + 1], f_[k]}, static_cast<T>(init));
      bias_[k] = Tensor<T>({C, f_[k + 1], 1});
      bias_[k].fill_uniform(rng, T(-0.5), T(0.5));
      init_grad(matrix_[k], matrix_grad_[k]);
      init_grad(bias_[k], bias_grad_[k]);
      if (k + 1 < K) {
        factor_[k] = Tensor<T>({C, f_[k + 1], 1}, T(0));
        init_grad(factor_[k], factor_grad_[k]);
      }
    }
    quantiles_ = Tensor<T>({C, 1, 3});
    for (index_t c = 0; c < C; ++c) {
      quantiles_[3 * c] = static_cast<T>(-options.init_scale());
      quantiles_[3 * c + 1] = T(0);
      quantiles_[3 * c + 2] = static_cast<T>(options.init_scale());
    }
    init_grad(quantiles_, quantiles_grad_);
  }
  explicit EntropyBottleneck(index_t channels) : EntropyBottleneck(EntropyBottleneckOptions(channels)) {}

  const EntropyBottleneckOptions& options() const { return options_; }
  index_t channels() const { return options_.channels(); }
  Tensor<T>& quantiles() { return quantiles_; }
  Tensor<T>& quantiles_grad() { return quantiles_grad_; }
  // The training noise comes from this generator; reseed it per step for reproducible runs.
  Rng& noise_rng() { return noise_rng_; }

  std::string describe() const override { return str("EntropyBottleneck(", channels(), ")"); }

  Shape build(const Shape& in) override {
    CAE_CHECK(in.rank() >= 1 && in[0] == channels(), ShapeError, describe(),
              ": expected a per-sample input [", channels(), ", ...], got ", in);
    return in;
  }

  // medians [C] = quantiles[:, 0, 1].
  Tensor<T> medians() const {
    Tensor<T> m({channels()});
    for (index_t c = 0; c < channels(); ++c) m[c] = quantiles_[3 * c + 1];
    return m;
  }

  // y [N, C, ...] -> y_hat (noisy in training, rounded around the medians in
  // eval); the likelihoods of y_hat are then in likelihoods().
  const Tensor<T>& forward(const Tensor<T>& y) override {
    check(y);
    const index_t N = y.dim(0), C = channels(), S = y.numel() / (N * C);
    y_hat_.resize(y.shape());
    if (this->training_ && options_.quantization() == TrainingQuantization::Noise) {
      add_uniform_noise(y_hat_.data(), y.data(), y.numel(), noise_rng_);
    } else {
      const Tensor<T> m = medians();
      round_around(y_hat_.data(), y.data(), m.data(), N, C, S);
    }
    likelihood(y_hat_);
    return y_hat_;
  }
  const Tensor<T>& likelihoods() const { return lik_; }
  const Tensor<T>& output() const { return y_hat_; }

  // The likelihoods of given values [N, C, ...] (no quantization); kept for likelihood_backward.
  const Tensor<T>& likelihood(const Tensor<T>& values) {
    check(values);
    values_ = &values;
    const index_t N = values.dim(0), C = channels(), S = values.numel() / (N * C);
    lik_.resize(values.shape());
    kernels::factorized_likelihood_forward(lik_.data(), values.data(), N, C, S, params(),
                                           options_.likelihood_bound());
    return lik_;
  }
  // dL/dvalues from dL/dlikelihoods of the last likelihood(); adds the density parameters' gradients.
  const Tensor<T>& likelihood_backward(const Tensor<T>& dlik) {
    CAE_CHECK(values_ != nullptr, Error, describe(), ": likelihood_backward() before likelihood()");
    CAE_CHECK(dlik.shape() == lik_.shape(), ShapeError, describe(), ": gradient shape ",
              dlik.shape(), " does not match the likelihoods' shape ", lik_.shape());
    const Tensor<T>& v = *values_;
    const index_t N = v.dim(0), C = channels(), S = v.numel() / (N * C);
    dvalues_.resize(v.shape());
    kernels::factorized_likelihood_backward(dvalues_.data(), grads(), dlik.data(), v.data(), N, C,
                                            S, params(), options_.likelihood_bound());
    return dvalues_;
  }

  // Backward of forward() for L = f(y_hat) + bits_weight * sum -log2(likelihoods):
  // dy_hat = dL/dy_hat through the decoder. Noise and straight-through rounding
  // both pass the gradient to y unchanged.
  const Tensor<T>& backward(const Tensor<T>& dy_hat, double bits_weight) {
    CAE_CHECK(dy_hat.shape() == y_hat_.shape(), ShapeError, describe(), ": gradient shape ",
              dy_hat.shape(), " does not match output shape ", y_hat_.shape());
    dy_.resize(dy_hat.shape());
    dy_.copy_from(dy_hat);
    if (bits_weight != 0) {
      bits_gradient(dlik_, lik_, bits_weight);
      const Tensor<T>& dv = likelihood_backward(dlik_);
      for (index_t k = 0; k < dy_.numel(); ++k) dy_[k] += dv[k];
    }
    return dy_;
  }
  // The Module contract: the gradient through y_hat only, without the rate term.
  const Tensor<T>& backward(const Tensor<T>& dy_hat) override { return backward(dy_hat, 0.0); }

  // CompressAI's auxiliary loss, sum |logit c(quantiles) - (-t, 0, t)| with
  // t = log(2 / tail_mass - 1): it moves the quantiles to where the density
  // puts tail_mass / 2, 1/2 and 1 - tail_mass / 2. Adds its gradient to the
  // quantiles only (the density parameters are held fixed) and returns it.
  double aux_loss() {
    const double target = std::log(2.0 / options_.tail_mass() - 1.0);
    const auto p = params();
    double loss = 0;
    for (index_t c = 0; c < channels(); ++c) {
      kernels::ChannelDensity d;
      d.load(p, c);
      for (int j = 0; j < 3; ++j) {
        const double q = quantiles_[3 * c + j];
        const double logit = d.forward(q) - (j - 1) * target;
        loss += std::abs(logit);
        const double sign = logit > 0 ? 1.0 : (logit < 0 ? -1.0 : 0.0);
        quantiles_grad_[3 * c + j] += static_cast<T>(d.backward(sign, nullptr));
      }
    }
    return loss;
  }

  // The coder's tables, one per channel, as CompressAI's update(): channel c
  // covers median_c + i for i in [-ceil(median - q_low), ceil(q_high - median)],
  // clamped to include 0, with pmf = c(x + 0.5) - c(x - 0.5) (unbounded) and the
  // tail mass c(first - 0.5) + 1 - c(last + 0.5).
  std::vector<EntropyTable> tables() const {
    const auto p = params();
    std::vector<EntropyTable> out(static_cast<std::size_t>(channels()));
    for (index_t c = 0; c < channels(); ++c) {
      const double low = quantiles_[3 * c], median = quantiles_[3 * c + 1],
                   high = quantiles_[3 * c + 2];
      const double minima = std::max(0.0, std::ceil(median - low));
      const double maxima = std::max(0.0, std::ceil(high - median));
      CAE_CHECK(std::isfinite(minima) && std::isfinite(maxima) && minima + maxima < 1e6, Error,
                describe(), ": channel ", c, " has quantiles (", low, ", ", median, ", ", high,
                ") too far apart for a table (train the quantiles with aux_loss)");
      kernels::ChannelDensity d;
      d.load(p, c);
      EntropyTable& t = out[static_cast<std::size_t>(c)];
      t.offset = -static_cast<std::int32_t>(minima);
      const index_t length = static_cast<index_t>(minima + maxima) + 1;
      double first_lower = 0, last_upper = 0;
      for (index_t i = 0; i < length; ++i) {
        const double x = median - minima + double(i);
        const double l = d.forward(x - 0.5), u = d.forward(x + 0.5);
        t.pmf.push_back(kernels::density_likelihood(l, u, nullptr, nullptr));
        if (i == 0) first_lower = l;
        last_upper = u;
      }
      t.tail_mass = kernels::sigmoid(first_lower) + kernels::sigmoid(-last_upper);
    }
    return out;
  }

  // The integers round(y - median) of y [N, C, ...], and back.
  std::vector<std::int32_t> quantize(const Tensor<T>& y) const {
    check(y);
    const Tensor<T> m = medians();
    const index_t N = y.dim(0), C = channels();
    return quantize_symbols(y.data(), m.data(), N, C, y.numel() / (N * C), describe());
  }
  Tensor<T> dequantize(const std::vector<std::int32_t>& symbols, const Shape& shape) const {
    Tensor<T> out(shape);
    check(out);
    CAE_CHECK(static_cast<index_t>(symbols.size()) == out.numel(), ShapeError, describe(),
              ": ", symbols.size(), " symbols for shape ", shape);
    const Tensor<T> m = medians();
    const index_t N = shape[0], C = channels();
    dequantize_symbols(out.data(), symbols.data(), m.data(), N, C, out.numel() / (N * C));
    return out;
  }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    const std::size_t K = matrix_.size();
    for (std::size_t k = 0; k < K; ++k) {
      out.push_back({this->join(prefix, str("_matrix", k)), &matrix_[k], &matrix_grad_[k]});
      out.push_back({this->join(prefix, str("_bias", k)), &bias_[k], &bias_grad_[k]});
      if (k + 1 < K)
        out.push_back({this->join(prefix, str("_factor", k)), &factor_[k], &factor_grad_[k]});
    }
    out.push_back({this->join(prefix, "quantiles"), &quantiles_, &quantiles_grad_});
  }

 private:
  void check(const Tensor<T>& y) const {
    CAE_CHECK(y.rank() >= 2 && y.dim(1) == channels() && y.dim(0) > 0, ShapeError, describe(),
              ": expected an input [N, ", channels(), ", ...], got shape ", y.shape());
  }
  kernels::DensityParams<T> params() const {
    kernels::DensityParams<T> p;
    p.f = f_;
    for (std::size_t k = 0; k < matrix_.size(); ++k) {
      p.matrix.push_back(matrix_[k].data());
      p.bias.push_back(bias_[k].data());
      p.factor.push_back(k < factor_.size() ? factor_[k].data() : nullptr);
    }
    return p;
  }
  kernels::DensityGrads<T> grads() {
    kernels::DensityGrads<T> g;
    for (std::size_t k = 0; k < matrix_.size(); ++k) {
      g.matrix.push_back(matrix_grad_[k].data());
      g.bias.push_back(bias_grad_[k].data());
      g.factor.push_back(k < factor_grad_.size() ? factor_grad_[k].data() : nullptr);
    }
    return g;
  }

  EntropyBottleneckOptions options_;
  std::vector<index_t> f_;
  std::vector<Tensor<T>> matrix_, bias_, factor_, matrix_grad_, bias_grad_, factor_grad_;
  Tensor<T> quantiles_, quantiles_grad_;
  Rng noise_rng_{0x9015eULL};
  const Tensor<T>* values_ = nullptr;
  Tensor<T> y_hat_, lik_, dlik_, dvalues_, dy_;
};

class GaussianConditionalOptions {
 public:
  GaussianConditionalOptions() {
    // exp(linspace(log 0.11, log 256, 64)), the scale table of CompressAI's hyperprior models.
    const int n = 64;
    for (int i = 0; i < n; ++i)
      scale_table_.push_back(std::exp(std::log(0.11) + (std::log(256.0) - std::log(0.11)) * i / (n - 1)));
  }
  GaussianConditionalOptions& scale_table(std::vector<double> v) { scale_table_ = std::move(v); return *this; }
  GaussianConditionalOptions& scale_bound(double v) { scale_bound_ = v; return *this; }
  GaussianConditionalOptions& tail_mass(double v) { tail_mass_ = v; return *this; }
  GaussianConditionalOptions& likelihood_bound(double v) { likelihood_bound_ = v; return *this; }
  GaussianConditionalOptions& quantization(TrainingQuantization v) { quantization_ = v; return *this; }

  const std::vector<double>& scale_table() const { return scale_table_; }
  double scale_bound() const { return scale_bound_; }
  double tail_mass() const { return tail_mass_; }
  double likelihood_bound() const { return likelihood_bound_; }
  TrainingQuantization quantization() const { return quantization_; }

 private:
  std::vector<double> scale_table_;
  double scale_bound_ = 0.11;
  double tail_mass_ = 1e-9;
  double likelihood_bound_ = 1e-9;
  TrainingQuantization quantization_ = TrainingQuantization::Noise;
};

// The conditional model of the scale hyperprior: each latent is a zero-mean
// Gaussian of its predicted scale convolved with U(-0.5, 0.5). No parameters.
template <typename T>
class GaussianConditional {
 public:
  explicit GaussianConditional(const GaussianConditionalOptions& options = {}) : options_(options) {
    const auto& t = options.scale_table();
    CAE_CHECK(!t.empty(), Error, "GaussianConditional: empty scale table");
    for (std::size_t i = 0; i < t.size(); ++i)
      CAE_CHECK(t[i] > 0 && (i == 0 || t[i] > t[i - 1]), Error,
                "GaussianConditional: the scale table must be positive and increasing");
    CAE_CHECK(options.scale_bound() > 0, Error, "GaussianConditional: scale_bound must be positive");
    CAE_CHECK(options.tail_mass() > 0 && options.tail_mass() < 1, Error,
              "GaussianConditional: tail_mass must be in (0, 1)");
  }
  const GaussianConditionalOptions& options() const { return options_; }
  void set_training(bool on) { training_ = on; }
  bool is_training() const { return training_; }
  Rng& noise_rng() { return noise_rng_; }

  // y, scales: same shape. Returns y_hat (y + noise in training, round(y) in eval)
  // and keeps its likelihoods.
  const Tensor<T>& forward(const Tensor<T>& y, const Tensor<T>& scales) {
    CAE_CHECK(y.shape() == scales.shape() && y.numel() > 0, ShapeError,
              "GaussianConditional: latents ", y.shape(), " and scales ", scales.shape(),
              " must have the same, non-empty shape");
    scales_ = &scales;
    y_hat_.resize(y.shape());
    if (training_ && options_.quantization() == TrainingQuantization::Noise)
      add_uniform_noise(y_hat_.data(), y.data(), y.numel(), noise_rng_);
    else
      round_around<T>(y_hat_.data(), y.data(), nullptr, 1, 1, y.numel());
    likelihood(y_hat_, scales);
    return y_hat_;
  }
  const Tensor<T>& output() const { return y_hat_; }
  const Tensor<T>& likelihoods() const { return lik_; }

  const Tensor<T>& likelihood(const Tensor<T>& values, const Tensor<T>& scales) {
    CAE_CHECK(values.shape() == scales.shape(), ShapeError, "GaussianConditional: values ",
              values.shape(), " and scales ", scales.shape(), " differ in shape");
    values_ = &values;
    scales_ = &scales;
    lik_.resize(values.shape());
    kernels::gaussian_likelihood_forward(lik_.data(), values.data(), scales.data(), values.numel(),
                                         options_.scale_bound(), options_.likelihood_bound());
    return lik_;
  }
  // Writes dL/dvalues and dL/dscales from dL/dlikelihoods of the last likelihood().
  void likelihood_backward(const Tensor<T>& dlik, Tensor<T>& dvalues, Tensor<T>& dscales) const {
    CAE_CHECK(values_ != nullptr, Error, "GaussianConditional: backward before forward");
    CAE_CHECK(dlik.shape() == lik_.shape(), ShapeError, "GaussianConditional: gradient shape ",
              dlik.shape(), " does not match the likelihoods' shape ", lik_.shape());
    dvalues.resize(dlik.shape());
    dscales.resize(dlik.shape());
    kernels::gaussian_likelihood_backward(dvalues.data(), dscales.data(), dlik.data(),
                                          values_->data(), scales_->data(), dlik.numel(),
                                          options_.scale_bound(), options_.likelihood_bound());
  }
  // Backward of forward() for L = f(y_hat) + bits_weight * sum -log2(likelihoods):
  // writes dL/dy (dy_hat plus the rate term) and dL/dscales.
  void backward(const Tensor<T>& dy_hat, double bits_weight, Tensor<T>& dy, Tensor<T>& dscales) {
    CAE_CHECK(dy_hat.shape() == y_hat_.shape(), ShapeError, "GaussianConditional: gradient shape ",
              dy_hat.shape(), " does not match output shape ", y_hat_.shape());
    bits_gradient(dlik_, lik_, bits_weight);
    likelihood_backward(dlik_, dy, dscales);
    for (index_t k = 0; k < dy.numel(); ++k) dy[k] += dy_hat[k];
  }

  // Table t: the integers -c..c, c = ceil(scale_t * -ndtri(tail_mass / 2)), as CompressAI's update().
  std::vector<EntropyTable> tables() const {
    const double multiplier = -inverse_standard_cumulative(options_.tail_mass() / 2);
    std::vector<EntropyTable> out;
    for (double s : options_.scale_table()) {
      EntropyTable t;
      const index_t center = static_cast<index_t>(std::ceil(s * multiplier));
      t.offset = -static_cast<std::int32_t>(center);
      for (index_t i = -center; i <= center; ++i) {
        const double v = std::abs(double(i));
        t.pmf.push_back(kernels::standard_cumulative((0.5 - v) / s) -
                        kernels::standard_cumulative((-0.5 - v) / s));
      }
      t.tail_mass = 2 * kernels::standard_cumulative((-0.5 - double(center)) / s);
      out.push_back(std::move(t));
    }
    return out;
  }
  // The table of each scale: the first entry >= max(scale, scale_bound), or the last.
  std::vector<std::int32_t> build_indexes(const Tensor<T>& scales) const {
    const auto& table = options_.scale_table();
    std::vector<std::int32_t> out(static_cast<std::size_t>(scales.numel()));
    for (index_t k = 0; k < scales.numel(); ++k) {
      const double s = std::max(double(scales[k]), options_.scale_bound());
      std::int32_t i = static_cast<std::int32_t>(table.size()) - 1;
      for (std::size_t j = 0; j + 1 < table.size(); ++j)
        if (s <= table[j]) i -= 1;
      out[static_cast<std::size_t>(k)] = i;
    }
    return out;
  }
  std::vector<std::int32_t> quantize(const Tensor<T>& y) const {
    return quantize_symbols<T>(y.data(), nullptr, 1, 1, y.numel(), "GaussianConditional");
  }
  // The latents of decoded symbols (zero means: the symbols themselves).
  Tensor<T> dequantize(const std::vector<std::int32_t>& symbols, const Shape& shape) const {
    Tensor<T> out(shape);
    CAE_CHECK(static_cast<index_t>(symbols.size()) == out.numel(), ShapeError,
              "GaussianConditional: ", symbols.size(), " symbols for shape ", shape);
    dequantize_symbols<T>(out.data(), symbols.data(), nullptr, 1, 1, out.numel());
    return out;
  }

 private:
  // Phi^-1 by bisection in double: only used for the handful of table sizes.
  static double inverse_standard_cumulative(double p) {
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; ++i) {
      const double mid = 0.5 * (lo + hi);
      (kernels::standard_cumulative(mid) < p ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
  }

  GaussianConditionalOptions options_;
  bool training_ = true;
  Rng noise_rng_{0x6a055ULL};
  const Tensor<T>* values_ = nullptr;
  const Tensor<T>* scales_ = nullptr;
  Tensor<T> y_hat_, lik_, dlik_;
};

}  // namespace cae
