// Linear: y = x W^T + b, as torch.nn.Linear.
//
//   Linear<float> fc(LinearOptions(400, 120));         // in_features given
//   Linear<float> head(LinearOptions(0, 10).bias(false)); // in_features inferred
//   Linear<float> out(10);                             // short for LinearOptions(0, 10)
//
// Parameters as PyTorch's state_dict: weight [out, in], bias [out], initialized
// like torch (init::torch_default_). With in_features given they are created at
// construction, like PyTorch; otherwise build() creates them from the input.
// The input is [N, *, in] (any number of middle dimensions, as in PyTorch).
#pragma once

#include <string>
#include <vector>

#include "cae/init.hpp"
#include "cae/kernels/linear.hpp"
#include "cae/module.hpp"

namespace cae {

class LinearOptions {
 public:
  // in_features 0 means "infer it from the input in build()", like torch.nn.LazyLinear.
  LinearOptions(index_t in_features, index_t out_features)
      : in_features_(in_features), out_features_(out_features) {}

  LinearOptions& bias(bool on) {
    bias_ = on;
    return *this;
  }

  index_t in_features() const { return in_features_; }
  index_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }

 private:
  index_t in_features_;
  index_t out_features_;
  bool bias_ = true;
};

template <typename T>
class Linear : public Module<T> {
 public:
  explicit Linear(const LinearOptions& options) : options_(options) {
    CAE_CHECK(options.out_features() > 0, Error, describe(), ": out_features must be positive");
    CAE_CHECK(options.in_features() >= 0, Error, describe(),
              ": in_features must be >= 0 (0: inferred from the input)");
    if (options.in_features() > 0) create_parameters(options.in_features());
  }
  // The short forms: Linear(out_features) infers in_features; Linear(in, out) as torch.
  explicit Linear(index_t out_features) : Linear(LinearOptions(0, out_features)) {}
  Linear(index_t in_features, index_t out_features)
      : Linear(LinearOptions(in_features, out_features)) {}

  const LinearOptions& options() const { return options_; }
  index_t in_features() const { return in_features_; }
  index_t out_features() const { return options_.out_features(); }

  std::string describe() const override {
    return str("Linear(in_features=", in_features_ > 0 ? std::to_string(in_features_) : "?",
               ", out_features=", options_.out_features(),
               ", bias=", options_.bias() ? "True" : "False", ")");
  }

  Shape build(const Shape& input) override {
    CAE_CHECK(input.rank() >= 1, ShapeError, describe(),
              ": needs inputs of shape [N, *, in_features], got per-sample shape ", input);
    const index_t in = input.at(-1);
    if (in_features_ == 0) {
      CAE_CHECK(in > 0, ShapeError, describe(), ": cannot infer in_features from ",
                batch_shape_str(input));
      create_parameters(in);
    }
    CAE_CHECK(in == in_features_, ShapeError, describe(), ": expected input ",
              "[-1, *, ", in_features_, "], got ", batch_shape_str(input));
    return with_last(input, options_.out_features());
  }

  void set_scratch(const std::shared_ptr<Scratch>& s) override { scratch_.share(s); }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() >= 2, ShapeError, describe(), ": expected input [N, *, in_features], got ",
              x.shape());
    if (in_features_ == 0) build(x.shape().drop_front());
    CAE_CHECK(x.dim(-1) == in_features_, ShapeError, describe(), ": expected input [N, *, ",
              in_features_, "], got ", x.shape());
    this->remember_input(x);
    y_.resize(with_last(x.shape(), options_.out_features()));
    scratch_.reserve();
    kernels::linear_forward(y_.data(), x.data(), weight_.data(),
                            options_.bias() ? bias_.data() : nullptr, rows(x), in_features_,
                            options_.out_features(), scratch_);
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    T* dx = nullptr;
    if (this->input_grad()) {
      dx_.resize(x.shape());
      dx = dx_.data();
    }
    scratch_.reserve();
    kernels::linear_backward(dx, dweight_.data(), options_.bias() ? dbias_.data() : nullptr,
                             dy.data(), x.data(), weight_.data(), rows(x),
                             in_features_, options_.out_features(), scratch_);
    return this->input_grad() ? dx_ : this->no_input_gradient();
  }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    if (in_features_ == 0) return;  // not built yet: nothing to train
    out.push_back({this->join(prefix, "weight"), &weight_, &dweight_});
    if (options_.bias()) out.push_back({this->join(prefix, "bias"), &bias_, &dbias_});
  }

  Tensor<T>& weight() { return weight_; }
  Tensor<T>& bias() { return bias_; }

 private:
  void create_parameters(index_t in) {
    in_features_ = in;
    weight_.resize({options_.out_features(), in});
    if (options_.bias()) bias_.resize({options_.out_features()});
    init::torch_default_(weight_, options_.bias() ? &bias_ : nullptr);
    init_grad(weight_, dweight_);
    if (options_.bias()) init_grad(bias_, dbias_);
  }

  static Shape with_last(Shape s, index_t last) {
    s[s.rank() - 1] = last;
    return s;
  }
  index_t rows(const Tensor<T>& x) const { return in_features_ ? x.numel() / in_features_ : 0; }

  LinearOptions options_;
  index_t in_features_ = 0;
  Tensor<T> weight_, bias_, dweight_, dbias_;
  Tensor<T> y_, dx_;
  kernels::GemmScratch<T> scratch_;  // per-thread packing memory of the products
};

}  // namespace cae
