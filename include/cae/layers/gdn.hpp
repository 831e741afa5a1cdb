// GDN and inverse GDN (Ballé et al. 2016), as CompressAI's compressai.layers.GDN:
//
//   GDN<float> gdn(GDNOptions(128));                 // y = x / sqrt(beta + gamma x^2)
//   GDN<float> igdn(GDNOptions(128).inverse(true));  // y = x * sqrt(beta + gamma x^2)
//
// Parameters, named and stored as CompressAI's state_dict so weights move both
// ways: "beta" [C] and "gamma" [C, C], both reparametrized (kernels/gdn.hpp):
// the effective values are max(stored, bound)^2 - 2^-36. Initialization as
// CompressAI: effective beta = 1, effective gamma = gamma_init * identity.
// channels 0 means "infer from the input".
#pragma once

#include <string>
#include <vector>

#include "cae/kernels/gdn.hpp"
#include "cae/module.hpp"

namespace cae {

class GDNOptions {
 public:
  explicit GDNOptions(index_t channels = 0) : channels_(channels) {}
  GDNOptions& channels(index_t v) { channels_ = v; return *this; }
  GDNOptions& inverse(bool v) { inverse_ = v; return *this; }
  GDNOptions& beta_min(double v) { beta_min_ = v; return *this; }
  GDNOptions& gamma_init(double v) { gamma_init_ = v; return *this; }

  index_t channels() const { return channels_; }
  bool inverse() const { return inverse_; }
  double beta_min() const { return beta_min_; }
  double gamma_init() const { return gamma_init_; }

 private:
  index_t channels_;
  bool inverse_ = false;
  double beta_min_ = 1e-6;
  double gamma_init_ = 0.1;
};

template <typename T>
class GDN : public Module<T> {
 public:
  explicit GDN(const GDNOptions& options = GDNOptions()) : options_(options) {
    CAE_CHECK(options.channels() >= 0, Error, "GDN: channels must be >= 0 (0: inferred), got ",
              options.channels());
    CAE_CHECK(options.beta_min() >= 0, Error, "GDN: beta_min must be >= 0, got ",
              options.beta_min());
    CAE_CHECK(options.gamma_init() >= 0, Error, "GDN: gamma_init must be >= 0, got ",
              options.gamma_init());
    if (options.channels() > 0) create_parameters(options.channels());
  }
  explicit GDN(index_t channels) : GDN(GDNOptions(channels)) {}

  const GDNOptions& options() const { return options_; }
  index_t channels() const { return channels_; }
  Tensor<T>& beta() { return beta_; }    // stored (reparametrized) values
  Tensor<T>& gamma() { return gamma_; }
  Tensor<T>& beta_grad() { return beta_grad_; }
  Tensor<T>& gamma_grad() { return gamma_grad_; }

  // CompressAI prints GDN as a plain module; the channel count and direction are what matter.
  std::string describe() const override {
    return str("GDN(", channels_, options_.inverse() ? ", inverse=True)" : ")");
  }

  Shape build(const Shape& in) override {
    CAE_CHECK(in.rank() == 3 && in[0] > 0, ShapeError, describe(),
              ": expected a per-sample input [C, H, W], got ", in);
    if (channels_ == 0) create_parameters(in[0]);
    CAE_CHECK(in[0] == channels_, ShapeError, describe(), ": expected ", channels_,
              " channels, got per-sample input ", in);
    return in;
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->check_input(x, 4, "[N, C, H, W]");
    build(x.shape().drop_front());
    CAE_CHECK(x.dim(1) == channels_, ShapeError, describe(), ": expected ", channels_,
              " channels, got input shape ", x.shape());
    this->remember_input(x);
    const index_t C = channels_;
    beta_eff_.resize({C});
    gamma_eff_.resize({C, C});
    kernels::nonnegative_forward(beta_eff_.data(), beta_.data(), C,
                                 kernels::nonnegative_bound(options_.beta_min()));
    kernels::nonnegative_forward(gamma_eff_.data(), gamma_.data(), C * C,
                                 kernels::nonnegative_bound(0.0));
    y_.resize(x.shape());
    norm_.resize(x.shape());
    kernels::gdn_forward(y_.data(), norm_.data(), x.data(), gamma_eff_.data(), beta_eff_.data(),
                         x.dim(0), C, x.dim(2) * x.dim(3), options_.inverse());
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    const index_t N = x.dim(0), C = channels_, S = x.dim(2) * x.dim(3);
    const bool want_dx = this->input_grad_;
    if (want_dx) dx_.resize(x.shape());
    dnorm_.resize(x.shape());
    dgamma_n_.resize({N, C, C});
    dbeta_n_.resize({N, C});
    kernels::gdn_backward(want_dx ? dx_.data() : nullptr, dgamma_n_.data(), dbeta_n_.data(),
                          dnorm_.data(), dy.data(), x.data(), norm_.data(), gamma_eff_.data(), N,
                          C, S, options_.inverse());
    // Sum over images in a fixed order: the same bits for any thread count.
    dgamma_eff_.resize({C, C});
    dbeta_eff_.resize({C});
    dgamma_eff_.zero();
    dbeta_eff_.zero();
    for (index_t n = 0; n < N; ++n) {
      for (index_t k = 0; k < C * C; ++k) dgamma_eff_[k] += dgamma_n_[n * C * C + k];
      for (index_t k = 0; k < C; ++k) dbeta_eff_[k] += dbeta_n_[n * C + k];
    }
    kernels::nonnegative_backward(gamma_grad_.data(), dgamma_eff_.data(), gamma_.data(), C * C,
                                  kernels::nonnegative_bound(0.0));
    kernels::nonnegative_backward(beta_grad_.data(), dbeta_eff_.data(), beta_.data(), C,
                                  kernels::nonnegative_bound(options_.beta_min()));
    return want_dx ? dx_ : this->no_input_gradient();
  }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    if (channels_ == 0) return;
    out.push_back({this->join(prefix, "beta"), &beta_, &beta_grad_});
    out.push_back({this->join(prefix, "gamma"), &gamma_, &gamma_grad_});
  }

 private:
  void create_parameters(index_t C) {
    channels_ = C;
    beta_ = Tensor<T>({C}, static_cast<T>(kernels::nonnegative_init(1.0)));
    gamma_ = Tensor<T>({C, C}, static_cast<T>(kernels::nonnegative_init(0.0)));
    for (index_t i = 0; i < C; ++i)
      gamma_[i * C + i] = static_cast<T>(kernels::nonnegative_init(options_.gamma_init()));
    init_grad(beta_, beta_grad_);
    init_grad(gamma_, gamma_grad_);
  }

  GDNOptions options_;
  index_t channels_ = 0;
  Tensor<T> beta_, gamma_, beta_grad_, gamma_grad_;
  Tensor<T> beta_eff_, gamma_eff_, dbeta_eff_, dgamma_eff_;
  Tensor<T> y_, norm_, dx_, dnorm_, dgamma_n_, dbeta_n_;
};

}  // namespace cae
