// MaxPool2d and AvgPool2d, as torch.nn.MaxPool2d / AvgPool2d.
//
//   MaxPool2d<float> pool(2);                                        // 2x2, stride 2
//   MaxPool2d<float> big(MaxPool2dOptions(59).stride(1));            // 158x158 -> 100x100
//   MaxPool2d<float> odd(MaxPool2dOptions({3, 2}).stride({2, 1}).padding(1).ceil_mode(true));
//   AvgPool2d<float> avg(AvgPool2dOptions(3).stride(2).padding(1).count_include_pad(false));
//
// kernel_size, stride, padding and dilation take one number for both axes or
// an {h, w} pair; stride defaults to the kernel size. Output size per axis,
// PyTorch's formula:
//   floor((H + 2 padding - dilation (kernel - 1) - 1) / stride) + 1
// with ceil instead of floor in ceil_mode, dropping a last window that would
// start beyond the input and its left padding. Padding may be at most half the
// kernel. Input [N, C, H, W].
//
// MaxPool2d keeps the argmax of each window (PyTorch's `indices`) in a reused
// buffer for backward; ties go to the first maximum in row-major order, as in
// PyTorch. Large stride-1 windows use the running max (kernels/running_max.hpp),
// which gives the same results bit for bit at a cost independent of the window;
// kernels::select_max_pool_algorithm decides, and
// MaxPool2dOptions(59).algorithm(kernels::PoolAlgorithm::Direct) forces one.
#pragma once

#include <array>
#include <limits>
#include <string>
#include <vector>

#include "cae/kernels/pool.hpp"
#include "cae/kernels/running_max.hpp"
#include "cae/module.hpp"

namespace cae {

namespace pool_detail {

using Pair = std::array<index_t, 2>;

// As PyTorch prints a pooling size: "2" for (2, 2), "(3, 2)" otherwise.
inline std::string pair_str(const Pair& p) {
  return p[0] == p[1] ? std::to_string(p[0]) : str("(", p[0], ", ", p[1], ")");
}

// kernel_size, stride, padding, ceil_mode: what both pooling options share.
// Setters return Derived& so calls chain.
template <typename Derived>
class PoolOptionsBase {
 public:
  Derived& stride(index_t s) { return stride(Pair{s, s}); }
  Derived& stride(Pair s) {
    stride_ = s;
    return self();
  }
  Derived& padding(index_t p) { return padding(Pair{p, p}); }
  Derived& padding(Pair p) {
    padding_ = p;
    return self();
  }
  Derived& ceil_mode(bool on) {
    ceil_mode_ = on;
    return self();
  }

  const Pair& kernel_size() const { return kernel_size_; }
  const Pair& stride() const { return stride_; }
  const Pair& padding() const { return padding_; }
  bool ceil_mode() const { return ceil_mode_; }

 protected:
  explicit PoolOptionsBase(Pair kernel) : kernel_size_(kernel), stride_(kernel) {}
  Derived& self() { return static_cast<Derived&>(*this); }

  Pair kernel_size_, stride_, padding_{0, 0};
  bool ceil_mode_ = false;
};

// Throws cae::Error naming the layer for options PyTorch rejects.
inline void check_options(const std::string& layer, const Pair& kernel, const Pair& stride,
                          const Pair& padding, const Pair& dilation) {
  CAE_CHECK(kernel[0] > 0 && kernel[1] > 0, Error, layer, ": kernel_size must be positive, got ",
            pair_str(kernel));
  CAE_CHECK(stride[0] > 0 && stride[1] > 0, Error, layer, ": stride must be positive, got ",
            pair_str(stride));
  CAE_CHECK(dilation[0] > 0 && dilation[1] > 0, Error, layer,
            ": dilation must be positive, got ", pair_str(dilation));
  CAE_CHECK(padding[0] >= 0 && padding[1] >= 0, Error, layer,
            ": padding must be non-negative, got ", pair_str(padding));
  CAE_CHECK(padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2, Error, layer,
            ": padding should be at most half of kernel size, got padding=", pair_str(padding),
            " and kernel_size=", pair_str(kernel));
}

// The geometry for a per-sample input [C, H, W]; throws ShapeError naming the
// layer if the input is not [C, H, W] or the output would be empty.
inline kernels::Pool2dGeometry geometry(const std::string& layer, const Shape& input,
                                        const Pair& kernel, const Pair& stride,
                                        const Pair& padding, const Pair& dilation, bool ceil_mode) {
  CAE_CHECK(input.rank() == 3 && input[0] > 0 && input[1] > 0 && input[2] > 0, ShapeError, layer,
            ": expected input [N, C, H, W] with C, H, W > 0, got ", batch_shape_str(input));
  kernels::Pool2dGeometry g;
  g.in_h = input[1];
  g.in_w = input[2];
  g.kernel_h = kernel[0];
  g.kernel_w = kernel[1];
  g.stride_h = stride[0];
  g.stride_w = stride[1];
  g.pad_h = padding[0];
  g.pad_w = padding[1];
  g.dilation_h = dilation[0];
  g.dilation_w = dilation[1];
  g.out_h = kernels::pool_output_size(g.in_h, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h,
                                      ceil_mode);
  g.out_w = kernels::pool_output_size(g.in_w, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w,
                                      ceil_mode);
  CAE_CHECK(g.out_h >= 1 && g.out_w >= 1, ShapeError, layer, ": input ", batch_shape_str(input),
            " is too small: the output would be ", g.out_h, "x", g.out_w);
  CAE_CHECK(g.in_h * g.in_w <= std::numeric_limits<kernels::pool_index_t>::max(), ShapeError,
            layer, ": input planes of ", g.in_h, "x", g.in_w, " exceed 2^31 elements");
  return g;
}

}  // namespace pool_detail

class MaxPool2dOptions : public pool_detail::PoolOptionsBase<MaxPool2dOptions> {
 public:
  MaxPool2dOptions(index_t kernel_size) : PoolOptionsBase({kernel_size, kernel_size}) {}  // NOLINT
  MaxPool2dOptions(std::array<index_t, 2> kernel_size) : PoolOptionsBase(kernel_size) {}  // NOLINT

  MaxPool2dOptions& dilation(index_t d) { return dilation(pool_detail::Pair{d, d}); }
  MaxPool2dOptions& dilation(pool_detail::Pair d) {
    dilation_ = d;
    return *this;
  }
  const pool_detail::Pair& dilation() const { return dilation_; }
  // Which algorithm runs (kernels/running_max.hpp); Auto: the selector's choice.
  MaxPool2dOptions& algorithm(kernels::PoolAlgorithm a) {
    algorithm_ = a;
    return *this;
  }
  kernels::PoolAlgorithm algorithm() const { return algorithm_; }

 private:
  pool_detail::Pair dilation_{1, 1};
  kernels::PoolAlgorithm algorithm_ = kernels::PoolAlgorithm::Auto;
};

class AvgPool2dOptions : public pool_detail::PoolOptionsBase<AvgPool2dOptions> {
 public:
  AvgPool2dOptions(index_t kernel_size) : PoolOptionsBase({kernel_size, kernel_size}) {}  // NOLINT
  AvgPool2dOptions(std::array<index_t, 2> kernel_size) : PoolOptionsBase(kernel_size) {}  // NOLINT

  // Whether padded zeros count in the divisor (PyTorch's default: yes).
  AvgPool2dOptions& count_include_pad(bool on) {
    count_include_pad_ = on;
    return *this;
  }
  // A fixed divisor for every window instead of its size; 0: none.
  AvgPool2dOptions& divisor_override(index_t d) {
    divisor_override_ = d;
    return *this;
  }
  bool count_include_pad() const { return count_include_pad_; }
  index_t divisor_override() const { return divisor_override_; }

 private:
  bool count_include_pad_ = true;
  index_t divisor_override_ = 0;
};

template <typename T>
class MaxPool2d : public Module<T> {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options) : options_(options) {
    pool_detail::check_options(describe(), options.kernel_size(), options.stride(),
                               options.padding(), options.dilation());
  }
  explicit MaxPool2d(index_t kernel_size) : MaxPool2d(MaxPool2dOptions(kernel_size)) {}

  const MaxPool2dOptions& options() const { return options_; }

  std::string describe() const override {
    using pool_detail::pair_str;
    return str("MaxPool2d(kernel_size=", pair_str(options_.kernel_size()),
               ", stride=", pair_str(options_.stride()), ", padding=", pair_str(options_.padding()),
               ", dilation=", pair_str(options_.dilation()),
               ", ceil_mode=", options_.ceil_mode() ? "True" : "False", ")");
  }

  Shape build(const Shape& input) override {
    const auto g = geometry(input);
    return {input[0], g.out_h, g.out_w};
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->check_input(x, 4, "[N, C, H, W]");
    if (this->sample_shape_changed(x)) {
      geometry_ = geometry(x.shape().drop_front());
      CAE_CHECK(kernels::pool_algorithm_supports(options_.algorithm(), geometry_), Error,
                describe(), ": algorithm ", kernels::to_string(options_.algorithm()),
                " needs dilation 1");
      choice_ = kernels::select_max_pool_algorithm(geometry_, options_.algorithm());
    }
    this->remember_input(x);
    const index_t planes = x.dim(0) * x.dim(1);
    y_.resize({x.dim(0), x.dim(1), geometry_.out_h, geometry_.out_w});
    argmax_.resize(static_cast<std::size_t>(y_.numel()));
    if (choice_.algorithm == kernels::PoolAlgorithm::RunningMax) {
      kernels::max_pool2d_running_forward(y_.data(), argmax_.data(), x.data(), planes, geometry_,
                                          *scratch_);
    } else {
      kernels::max_pool2d_forward(y_.data(), argmax_.data(), x.data(), planes, geometry_);
    }
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_forward_ran();
    this->check_grad_output(dy, y_);
    if (!this->input_grad()) return this->no_input_gradient();
    const Shape& in = this->last_input_shape();
    dx_.resize(in);
    kernels::max_pool2d_backward(dx_.data(), dy.data(), argmax_.data(), in[0] * in[1], geometry_);
    return dx_;
  }

  void set_scratch(const std::shared_ptr<Scratch>& s) override { scratch_.share(s); }
  // The algorithm the last forward ran, and why (kernels::select_max_pool_algorithm).
  kernels::PoolChoice algorithm() const { return choice_; }

  // Per output element of the last forward, the flat position ih * W + iw of
  // its max within its plane (PyTorch's return_indices).
  const std::vector<kernels::pool_index_t>& indices() const { return argmax_; }

 private:
  kernels::Pool2dGeometry geometry(const Shape& input) const {
    return pool_detail::geometry(describe(), input, options_.kernel_size(), options_.stride(),
                                 options_.padding(), options_.dilation(), options_.ceil_mode());
  }

  MaxPool2dOptions options_;
  kernels::Pool2dGeometry geometry_;
  kernels::PoolChoice choice_{kernels::PoolAlgorithm::Auto, "no forward yet"};
  ScratchHandle scratch_;
  Tensor<T> y_, dx_;
  std::vector<kernels::pool_index_t> argmax_;
};

template <typename T>
class AvgPool2d : public Module<T> {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options) : options_(options) {
    pool_detail::check_options(describe(), options.kernel_size(), options.stride(),
                               options.padding(), {1, 1});
    CAE_CHECK(options.divisor_override() >= 0, Error, describe(),
              ": divisor_override must be positive (0: none), got ", options.divisor_override());
  }
  explicit AvgPool2d(index_t kernel_size) : AvgPool2d(AvgPool2dOptions(kernel_size)) {}

  const AvgPool2dOptions& options() const { return options_; }

  std::string describe() const override {
    using pool_detail::pair_str;
    return str("AvgPool2d(kernel_size=", pair_str(options_.kernel_size()),
               ", stride=", pair_str(options_.stride()), ", padding=", pair_str(options_.padding()),
               ")");
  }

  Shape build(const Shape& input) override {
    const auto g = geometry(input);
    return {input[0], g.out_h, g.out_w};
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->check_input(x, 4, "[N, C, H, W]");
    if (this->sample_shape_changed(x)) geometry_ = geometry(x.shape().drop_front());
    this->remember_input(x);
    y_.resize({x.dim(0), x.dim(1), geometry_.out_h, geometry_.out_w});
    kernels::avg_pool2d_forward(y_.data(), x.data(), x.dim(0) * x.dim(1), geometry_,
                                options_.count_include_pad(), options_.divisor_override());
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_forward_ran();
    this->check_grad_output(dy, y_);
    if (!this->input_grad()) return this->no_input_gradient();
    const Shape& in = this->last_input_shape();
    dx_.resize(in);
    kernels::avg_pool2d_backward(dx_.data(), dy.data(), in[0] * in[1],
                                 geometry_, options_.count_include_pad(),
                                 options_.divisor_override());
    return dx_;
  }

 private:
  kernels::Pool2dGeometry geometry(const Shape& input) const {
    return pool_detail::geometry(describe(), input, options_.kernel_size(), options_.stride(),
                                 options_.padding(), {1, 1}, options_.ceil_mode());
  }

  AvgPool2dOptions options_;
  kernels::Pool2dGeometry geometry_;
  Tensor<T> y_, dx_;
};

}  // namespace cae
