// BatchNorm1d, BatchNorm2d and InstanceNorm2d with PyTorch's semantics:
//   - training mode normalizes with the batch's biased variance but updates
//     running_var with the unbiased one: running = (1 - momentum) * running + momentum * batch;
//   - eval mode normalizes with the running statistics (when they are tracked);
//   - without running statistics (track_running_stats(false)) the batch's
//     statistics are used in both modes;
//   - momentum(std::nullopt) is PyTorch's momentum=None, a cumulative average
//     weighted by num_batches_tracked (BatchNorm only).
// Parameters "weight" (gamma, ones) and "bias" (beta, zeros) exist when affine;
// buffers "running_mean", "running_var", "num_batches_tracked" (a count stored
// as T) exist when track_running_stats. InstanceNorm2d averages the per-sample
// statistics over the batch before updating its running statistics, as PyTorch does,
// and never advances num_batches_tracked.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "cae/kernels/norm.hpp"
#include "cae/module.hpp"

namespace cae {

// Options shared by the normalization layers, e.g.
// BatchNorm2dOptions(64).eps(1e-3).momentum(0.01). num_features 0 means "infer
// it from the input's channel dimension in build()".
class NormOptions {
 public:
  NormOptions& num_features(index_t v) { num_features_ = v; return *this; }
  NormOptions& eps(double v) { eps_ = v; return *this; }
  // std::nullopt: cumulative moving average (PyTorch's momentum=None).
  NormOptions& momentum(std::optional<double> v) { momentum_ = v; return *this; }
  NormOptions& affine(bool v) { affine_ = v; return *this; }
  NormOptions& track_running_stats(bool v) { track_running_stats_ = v; return *this; }

  index_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  std::optional<double> momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_running_stats_; }

 protected:
  NormOptions(index_t num_features, bool affine, bool track_running_stats)
      : num_features_(num_features), affine_(affine), track_running_stats_(track_running_stats) {}

 private:
  index_t num_features_;
  double eps_ = 1e-5;
  std::optional<double> momentum_ = 0.1;
  bool affine_;
  bool track_running_stats_;
};

// BatchNorm defaults: affine, with running statistics.
class BatchNormOptions : public NormOptions {
 public:
  explicit BatchNormOptions(index_t num_features = 0) : NormOptions(num_features, true, true) {}
};
using BatchNorm1dOptions = BatchNormOptions;
using BatchNorm2dOptions = BatchNormOptions;

// InstanceNorm defaults: no affine parameters, no running statistics.
class InstanceNormOptions : public NormOptions {
 public:
  explicit InstanceNormOptions(index_t num_features = 0) : NormOptions(num_features, false, false) {}
};
using InstanceNorm2dOptions = InstanceNormOptions;

namespace detail {

// The whole normalization layer; the public classes only fix the name, the
// accepted input ranks and whether statistics are per sample (InstanceNorm).
template <typename T>
class Normalization : public Module<T> {
 public:
  const NormOptions& options() const { return options_; }
  index_t num_features() const { return channels_; }

  Tensor<T>& weight() { return weight_; }
  Tensor<T>& bias() { return bias_; }
  Tensor<T>& running_mean() { return running_mean_; }
  Tensor<T>& running_var() { return running_var_; }
  Tensor<T>& num_batches_tracked() { return num_batches_tracked_; }

  std::string describe() const override {
    const auto m = options_.momentum();
    std::string momentum = m ? str(*m) : std::string("None");
    if (momentum.find_first_of(".eN") == std::string::npos) momentum += ".0";  // Python's 1.0
    return str(name_, "(", channels_, ", eps=", options_.eps(), ", momentum=", momentum, ", affine=", options_.affine() ? "True" : "False",
               ", track_running_stats=", options_.track_running_stats() ? "True" : "False", ")");
  }

  Shape build(const Shape& in) override {
    CAE_CHECK(in.rank() >= min_rank_ && in.rank() <= max_rank_, ShapeError, describe(),
              ": expected a per-sample shape ", sample_layout_, ", got ", in);
    CAE_CHECK(channels_ == 0 || in[0] == channels_, ShapeError, describe(), ": expected ",
              channels_, " channels, got per-sample shape ", in);
    create_parameters(in[0]);
    return in;
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() >= min_rank_ + 1 && x.rank() <= max_rank_ + 1, ShapeError, describe(),
              ": expected input ", input_layout_, ", got shape ", x.shape());
    if (channels_ == 0) build(x.shape().drop_front());
    CAE_CHECK(x.dim(1) == channels_, ShapeError, describe(), ": expected ", channels_,
              " channels, got input shape ", x.shape());
    this->remember_input(x);
    const index_t N = x.dim(0), C = channels_, S = x.numel() / std::max<index_t>(N * C, 1);
    batch_stats_ = this->training_ || !options_.track_running_stats();
    const bool per_sample = per_sample_ && batch_stats_;
    const index_t group = per_sample ? S : N * S;  // elements sharing one statistic
    if (batch_stats_) {
      CAE_CHECK(!(group <= 1 && (this->training_ || per_sample_)), ShapeError, describe(),
                ": expected more than 1 value per ", per_sample_ ? "sample and channel" : "channel",
                " to compute statistics, got input shape ", x.shape());
      mean_.resize({per_sample ? N * C : C});
      var_.resize(mean_.shape());
      invstd_.resize(mean_.shape());
      y_.resize(x.shape());
      // Statistics and normalization in one pass over each group.
      kernels::norm_forward_batch_stats(y_.data(), mean_.data(), var_.data(), invstd_.data(),
                                        x.data(), affine_weight(), affine_bias(), N, C, S,
                                        per_sample, options_.eps());
      if (this->training_ && options_.track_running_stats()) update_running_stats(N, C, group);
      return y_;
    } else {
      mean_ = running_mean_;
      invstd_.resize({C});
      for (index_t c = 0; c < C; ++c)
        invstd_[c] = static_cast<T>(1.0 / std::sqrt(double(running_var_[c]) + options_.eps()));
    }
    y_.resize(x.shape());
    kernels::norm_forward(y_.data(), x.data(), mean_.data(), invstd_.data(), affine_weight(),
                          affine_bias(), N, C, S, per_sample);
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    const index_t N = x.dim(0), C = channels_, S = x.numel() / std::max<index_t>(N * C, 1);
    T* dx = nullptr;
    if (this->input_grad_) {
      dx_.resize(x.shape());
      dx = dx_.data();
    }
    T* dweight = options_.affine() ? weight_grad_.data() : nullptr;
    T* dbias = options_.affine() ? bias_grad_.data() : nullptr;
    kernels::norm_backward(dx, dweight, dbias, dy.data(), x.data(), mean_.data(), invstd_.data(),
                           affine_weight(), N, C, S, per_sample_ && batch_stats_, batch_stats_);
    return this->input_grad_ ? dx_ : this->no_input_gradient();
  }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    if (!options_.affine() || channels_ == 0) return;
    out.push_back({this->join(prefix, "weight"), &weight_, &weight_grad_});
    out.push_back({this->join(prefix, "bias"), &bias_, &bias_grad_});
  }
  void collect_buffers(const std::string& prefix, std::vector<Buffer<T>>& out) override {
    if (!options_.track_running_stats() || channels_ == 0) return;
    out.push_back({this->join(prefix, "running_mean"), &running_mean_});
    out.push_back({this->join(prefix, "running_var"), &running_var_});
    out.push_back({this->join(prefix, "num_batches_tracked"), &num_batches_tracked_});
  }

 protected:
  Normalization(const NormOptions& options, const char* name, bool per_sample, int min_rank,
                int max_rank, const char* batch_layout, const char* sample_layout)
      : options_(options),
        name_(name),
        per_sample_(per_sample),
        min_rank_(min_rank),
        max_rank_(max_rank),
        input_layout_(batch_layout),
        sample_layout_(sample_layout) {
    CAE_CHECK(options.num_features() >= 0, ShapeError, name_, ": num_features must be >= 0, got ",
              options.num_features());
    CAE_CHECK(options.eps() > 0, Error, name_, ": eps must be positive, got ", options.eps());
    const auto m = options.momentum();
    CAE_CHECK(!m || (*m >= 0 && *m <= 1), Error, name_, ": momentum must be in [0, 1], got ",
              m ? *m : 0.0);
    CAE_CHECK(m || !per_sample, Error, name_,
              ": momentum=None (cumulative average) is supported by BatchNorm only");
    if (options.num_features() > 0) create_parameters(options.num_features());
  }

 private:
  // Creates parameters and buffers the first time the channel count is known.
  void create_parameters(index_t channels) {
    if (channels_ != 0) return;
    channels_ = channels;
    if (options_.affine()) {
      weight_ = Tensor<T>({channels}, T(1));
      bias_ = Tensor<T>({channels}, T(0));
      init_grad(weight_, weight_grad_);
      init_grad(bias_, bias_grad_);
    }
    if (options_.track_running_stats()) {
      running_mean_ = Tensor<T>({channels}, T(0));
      running_var_ = Tensor<T>({channels}, T(1));
      num_batches_tracked_ = Tensor<T>(Shape{}, T(0));  // a scalar, as in PyTorch
    }
  }

  // group: elements behind one batch statistic, for the unbiased variance.
  void update_running_stats(index_t N, index_t C, index_t group) {
    if (!per_sample_) num_batches_tracked_[0] += T(1);
    const auto m = options_.momentum();
    const double momentum = m ? *m : 1.0 / double(num_batches_tracked_[0]);
    const double unbias = double(group) / double(group - 1);
    // InstanceNorm has N statistics per channel; the running ones follow their average.
    const index_t per_channel = per_sample_ ? N : 1;
    for (index_t c = 0; c < C; ++c) {
      double mean = 0, var = 0;
      for (index_t n = 0; n < per_channel; ++n) {
        mean += mean_[n * C + c];
        var += var_[n * C + c];
      }
      mean /= double(per_channel);
      var = var / double(per_channel) * unbias;
      running_mean_[c] = static_cast<T>((1 - momentum) * running_mean_[c] + momentum * mean);
      running_var_[c] = static_cast<T>((1 - momentum) * running_var_[c] + momentum * var);
    }
  }

  const T* affine_weight() const { return options_.affine() ? weight_.data() : nullptr; }
  const T* affine_bias() const { return options_.affine() ? bias_.data() : nullptr; }

  NormOptions options_;
  std::string name_;
  bool per_sample_;
  int min_rank_, max_rank_;
  const char* input_layout_;   // e.g. "[N, C, H, W]", for messages
  const char* sample_layout_;  // e.g. "[C, H, W]"
  index_t channels_ = 0;

  Tensor<T> weight_, bias_, weight_grad_, bias_grad_;
  Tensor<T> running_mean_, running_var_, num_batches_tracked_;

  bool batch_stats_ = true;             // whether the last forward used the batch's statistics
  Tensor<T> mean_, var_, invstd_;       // statistics of the last forward
  Tensor<T> y_, dx_;
};

}  // namespace detail

// Batch normalization of [N, C] or [N, C, L] input over N (and L) per channel.
template <typename T>
class BatchNorm1d : public detail::Normalization<T> {
 public:
  explicit BatchNorm1d(const NormOptions& options = BatchNorm1dOptions())
      : detail::Normalization<T>(options, "BatchNorm1d", false, 1, 2, "[N, C] or [N, C, L]",
                                  "[C] or [C, L]") {}
  explicit BatchNorm1d(index_t num_features) : BatchNorm1d(BatchNorm1dOptions(num_features)) {}
};

// Batch normalization of [N, C, H, W] input over N, H and W per channel.
template <typename T>
class BatchNorm2d : public detail::Normalization<T> {
 public:
  explicit BatchNorm2d(const NormOptions& options = BatchNorm2dOptions())
      : detail::Normalization<T>(options, "BatchNorm2d", false, 3, 3, "[N, C, H, W]",
                                  "[C, H, W]") {}
  explicit BatchNorm2d(index_t num_features) : BatchNorm2d(BatchNorm2dOptions(num_features)) {}
};

// Instance normalization of [N, C, H, W] input over H and W per sample and channel.
template <typename T>
class InstanceNorm2d : public detail::Normalization<T> {
 public:
  explicit InstanceNorm2d(const NormOptions& options = InstanceNorm2dOptions())
      : detail::Normalization<T>(options, "InstanceNorm2d", true, 3, 3, "[N, C, H, W]",
                                  "[C, H, W]") {}
  explicit InstanceNorm2d(index_t num_features)
      : InstanceNorm2d(InstanceNorm2dOptions(num_features)) {}
};

}  // namespace cae
