// AdaptiveAvgPool2d and AdaptiveMaxPool2d, as torch.nn's: the output size is
// given and the windows follow from the input's (kernels/adaptive_pool.hpp).
//
//   AdaptiveAvgPool2d<float> global(1);                    // [N, C, H, W] -> [N, C, 1, 1]
//   AdaptiveAvgPool2d<float> resnet_head(AdaptiveAvgPool2dOptions({1, 1}));
//   AdaptiveMaxPool2d<float> grid(AdaptiveMaxPool2dOptions({5, 7}));
//   AdaptiveAvgPool2d<float> columns(AdaptiveAvgPool2dOptions({std::nullopt, 3}));  // keep H
//
// output_size is one number for both axes or an {h, w} pair, where an empty
// entry (PyTorch's None) keeps the input's size on that axis. Input [N, C, H, W].
// AdaptiveMaxPool2d keeps the argmax of each window (PyTorch's return_indices)
// as MaxPool2d does, read with indices(); a NaN wins its window, as in PyTorch.
#pragma once

#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cae/kernels/adaptive_pool.hpp"
#include "cae/module.hpp"

namespace cae {

namespace adaptive_pool_detail {

using OptionalPair = std::array<std::optional<index_t>, 2>;

// What both options share: the output size, remembered as given for the repr.
template <typename Derived>
class AdaptivePoolOptionsBase {
 public:
  const OptionalPair& output_size() const { return output_size_; }
  bool output_size_is_scalar() const { return scalar_; }

 protected:
  explicit AdaptivePoolOptionsBase(index_t size) : output_size_{size, size}, scalar_(true) {}
  explicit AdaptivePoolOptionsBase(OptionalPair size) : output_size_(size), scalar_(false) {}

 private:
  OptionalPair output_size_;
  bool scalar_;
};

// As PyTorch prints output_size: "1", "(5, 7)", "(None, 3)".
inline std::string output_size_str(const OptionalPair& s, bool scalar) {
  auto one = [](const std::optional<index_t>& v) { return v ? std::to_string(*v) : std::string("None"); };
  return scalar ? one(s[0]) : "(" + one(s[0]) + ", " + one(s[1]) + ")";
}

inline void check_options(const std::string& layer, const OptionalPair& s) {
  for (const auto& v : s)
    CAE_CHECK(!v || *v > 0, Error, layer, ": output_size must be positive, got ", *v);
}

// The geometry for a per-sample input [C, H, W] (printed as `shown` in errors).
inline kernels::AdaptivePool2dGeometry geometry(const std::string& layer, const Shape& input,
                                                const std::string& shown, const OptionalPair& size) {
  CAE_CHECK(input.rank() == 3 && input[0] > 0 && input[1] > 0 && input[2] > 0, ShapeError, layer,
            ": expected input [N, C, H, W] with C, H, W > 0, got ", shown);
  kernels::AdaptivePool2dGeometry g;
  g.in_h = input[1];
  g.in_w = input[2];
  g.out_h = size[0].value_or(g.in_h);
  g.out_w = size[1].value_or(g.in_w);
  CAE_CHECK(g.in_h * g.in_w <= std::numeric_limits<kernels::pool_index_t>::max(), ShapeError, layer,
            ": input planes of ", g.in_h, "x", g.in_w, " exceed 2^31 elements");
  return g;
}

}  // namespace adaptive_pool_detail

class AdaptiveAvgPool2dOptions
    : public adaptive_pool_detail::AdaptivePoolOptionsBase<AdaptiveAvgPool2dOptions> {
 public:
  AdaptiveAvgPool2dOptions(index_t output_size) : AdaptivePoolOptionsBase(output_size) {}  // NOLINT
  AdaptiveAvgPool2dOptions(adaptive_pool_detail::OptionalPair output_size)  // NOLINT
      : AdaptivePoolOptionsBase(output_size) {}
};

class AdaptiveMaxPool2dOptions
    : public adaptive_pool_detail::AdaptivePoolOptionsBase<AdaptiveMaxPool2dOptions> {
 public:
  AdaptiveMaxPool2dOptions(index_t output_size) : AdaptivePoolOptionsBase(output_size) {}  // NOLINT
  AdaptiveMaxPool2dOptions(adaptive_pool_detail::OptionalPair output_size)  // NOLINT
      : AdaptivePoolOptionsBase(output_size) {}
};

namespace adaptive_pool_detail {

// Shared plumbing of the two layers: geometry per input shape, buffers reused.
template <typename T, typename Options>
class AdaptivePool2dBase : public Module<T> {
 public:
  const Options& options() const { return options_; }

  std::string describe() const override {
    return str(name_, "(output_size=",
               output_size_str(options_.output_size(), options_.output_size_is_scalar()), ")");
  }

  Shape build(const Shape& input) override {
    const auto g = geometry(describe(), input, batch_shape_str(input), options_.output_size());
    return {input[0], g.out_h, g.out_w};
  }

 protected:
  AdaptivePool2dBase(const Options& options, const char* name) : options_(options), name_(name) {
    check_options(describe(), options.output_size());
  }
  // Checks x and redoes the geometry when its per-sample shape changed; sizes y_.
  void prepare(const Tensor<T>& x) {
    this->check_input(x, 4, "[N, C, H, W]");
    if (this->sample_shape_changed(x))
      geometry_ = geometry(describe(), x.shape().drop_front(), x.shape().str(), options_.output_size());
    this->remember_input(x);
    y_.resize({x.dim(0), x.dim(1), geometry_.out_h, geometry_.out_w});
  }

  Options options_;
  const char* name_;
  kernels::AdaptivePool2dGeometry geometry_;
  Tensor<T> y_, dx_;
};

}  // namespace adaptive_pool_detail

template <typename T>
class AdaptiveAvgPool2d
    : public adaptive_pool_detail::AdaptivePool2dBase<T, AdaptiveAvgPool2dOptions> {
  using Base = adaptive_pool_detail::AdaptivePool2dBase<T, AdaptiveAvgPool2dOptions>;

 public:
  explicit AdaptiveAvgPool2d(const AdaptiveAvgPool2dOptions& options)
      : Base(options, "AdaptiveAvgPool2d") {}

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->prepare(x);
    kernels::adaptive_avg_pool2d_forward(this->y_.data(), x.data(), x.dim(0) * x.dim(1), this->geometry_);
    return this->y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_forward_ran();
    this->check_grad_output(dy, this->y_);
    if (!this->input_grad()) return this->no_input_gradient();
    const Shape& in = this->last_input_shape();
    this->dx_.resize(in);
    kernels::adaptive_avg_pool2d_backward(this->dx_.data(), dy.data(), in[0] * in[1], this->geometry_);
    return this->dx_;
  }
};

template <typename T>
class AdaptiveMaxPool2d
    : public adaptive_pool_detail::AdaptivePool2dBase<T, AdaptiveMaxPool2dOptions> {
  using Base = adaptive_pool_detail::AdaptivePool2dBase<T, AdaptiveMaxPool2dOptions>;

 public:
  explicit AdaptiveMaxPool2d(const AdaptiveMaxPool2dOptions& options)
      : Base(options, "AdaptiveMaxPool2d") {}

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->prepare(x);
    argmax_.resize(static_cast<std::size_t>(this->y_.numel()));
    kernels::adaptive_max_pool2d_forward(this->y_.data(), argmax_.data(), x.data(), x.dim(0) * x.dim(1),
                                         this->geometry_);
    return this->y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_forward_ran();
    this->check_grad_output(dy, this->y_);
    if (!this->input_grad()) return this->no_input_gradient();
    const Shape& in = this->last_input_shape();
    this->dx_.resize(in);
    kernels::adaptive_max_pool2d_backward(this->dx_.data(), dy.data(), argmax_.data(), in[0] * in[1],
                                          this->geometry_);
    return this->dx_;
  }

  // Per output element of the last forward, the flat position ih * W + iw of
  // its max within its plane (PyTorch's return_indices).
  const std::vector<kernels::pool_index_t>& indices() const { return argmax_; }

 private:
  std::vector<kernels::pool_index_t> argmax_;
};

}  // namespace cae
