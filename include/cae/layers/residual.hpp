// Residual: out = activation(body(x) + shortcut(x)), the block of ResNets.
//
//   body        a Sequential, e.g. Conv-BN-ReLU-Conv-BN (basic block) or
//               1x1 -> 3x3 -> 1x1 convolutions with BatchNorm (bottleneck);
//   shortcut    empty Sequential: the identity; otherwise a projection that maps
//               x to the body's output shape, typically a 1x1 Conv2d with the
//               body's stride followed by BatchNorm2d;
//   activation  applied to the sum; ReLU by default, nullptr for none.
//
// state_dict names follow a PyTorch module with attributes `body`,
// `shortcut` and `activation`: "body.0.weight", "shortcut.1.running_mean", ...
//
//   Sequential<float> body;
//   body.add(Conv2d<float>(Conv2dOptions(64, 128, 3).stride(2).padding(1).bias(false)));
//   body.add(BatchNorm2d<float>(128));
//   ...
//   Sequential<float> projection;
//   projection.add(Conv2d<float>(Conv2dOptions(64, 128, 1).stride(2).bias(false)));
//   projection.add(BatchNorm2d<float>(128));
//   net.add(Residual<float>(std::move(body), std::move(projection)));
// or, for the standard blocks, Residual<float>::basic_block(64, 128, 2) and
// Residual<float>::bottleneck(256, 64, 256).
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/module.hpp"
#include "cae/parallel.hpp"

namespace cae {

template <typename T>
class Residual : public Module<T> {
 public:
  // Identity shortcut, ReLU after the sum.
  explicit Residual(Sequential<T> body) : Residual(std::move(body), Sequential<T>()) {}
  // An empty shortcut is the identity; activation nullptr means none.
  Residual(Sequential<T> body, Sequential<T> shortcut,
           ModulePtr<T> activation = std::make_unique<ReLU<T>>())
      : body_(std::move(body)), shortcut_(std::move(shortcut)), activation_(std::move(activation)) {
    set_training(this->training_);
    set_scratch(std::make_shared<Scratch>());
    set_input_grad(this->input_grad_);
  }

  // ResNet-18/34's basic block: 3x3 conv (stride) - BN - ReLU - 3x3 conv - BN,
  // plus ReLU after the sum. The shortcut is the identity when the shape is
  // kept, else a 1x1 conv with the stride followed by BN. Convolutions have no
  // bias (BatchNorm's shift replaces it), as in torchvision.
  static Residual basic_block(index_t in_channels, index_t out_channels, index_t stride = 1) {
    check_block_sizes("basic_block", {in_channels, out_channels}, stride);
    Sequential<T> body;
    body.add(conv(in_channels, out_channels, 3, stride));
    body.add(BatchNorm2d<T>(out_channels));
    body.add(ReLU<T>());
    body.add(conv(out_channels, out_channels, 3, 1));
    body.add(BatchNorm2d<T>(out_channels));
    return Residual(std::move(body), projection(in_channels, out_channels, stride));
  }
  // ResNet-50's bottleneck block (torchvision's, stride on the 3x3 conv):
  // 1x1 conv to mid - BN - ReLU - 3x3 conv (stride) - BN - ReLU - 1x1 conv to
  // out - BN, plus ReLU after the sum; shortcut as in basic_block.
  static Residual bottleneck(index_t in_channels, index_t mid_channels, index_t out_channels,
                             index_t stride = 1) {
    check_block_sizes("bottleneck", {in_channels, mid_channels, out_channels}, stride);
    Sequential<T> body;
    body.add(conv(in_channels, mid_channels, 1, 1));
    body.add(BatchNorm2d<T>(mid_channels));
    body.add(ReLU<T>());
    body.add(conv(mid_channels, mid_channels, 3, stride));
    body.add(BatchNorm2d<T>(mid_channels));
    body.add(ReLU<T>());
    body.add(conv(mid_channels, out_channels, 1, 1));
    body.add(BatchNorm2d<T>(out_channels));
    return Residual(std::move(body), projection(in_channels, out_channels, stride));
  }

  Sequential<T>& body() { return body_; }
  Sequential<T>& shortcut() { return shortcut_; }
  bool identity_shortcut() const { return shortcut_.size() == 0; }
  Module<T>* activation() { return activation_.get(); }

  std::string describe() const override {
    return str("Residual(shortcut=", identity_shortcut() ? "identity" : "projection",
               ", activation=", activation_ ? activation_->describe() : std::string("None"), ")");
  }

  Shape build(const Shape& input) override {
    const Shape body_out = build_child(body_, input, "body");
    const Shape shortcut_out = identity_shortcut() ? input : build_child(shortcut_, input, "shortcut");
    CAE_CHECK(body_out == shortcut_out, ShapeError, describe(), ": for input ",
              batch_shape_str(input), " the body gives ", batch_shape_str(body_out),
              " but the shortcut", identity_shortcut() ? " (identity)" : "", " gives ",
              batch_shape_str(shortcut_out),
              "; a projection shortcut (e.g. 1x1 Conv2d with the body's stride, then BatchNorm2d)"
              " must map the input to the body's output shape");
    built_for_ = input;
    built_ = true;
    return activation_ ? activation_->build(body_out) : body_out;
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() >= 1, ShapeError, describe(), ": input of shape ", x.shape(),
              " has no batch dimension");
    if (!built_ || x.shape().drop_front() != built_for_) build(x.shape().drop_front());
    const Tensor<T>& from_body = body_.forward(x);
    const Tensor<T>& from_shortcut = identity_shortcut() ? x : shortcut_.forward(x);
    add(sum_, from_body, from_shortcut);
    forwarded_ = true;
    return activation_ ? activation_->forward(sum_) : sum_;
  }

  // The gradient at the sum flows unchanged into both branches; dx is their sum.
  const Tensor<T>& backward(const Tensor<T>& grad_output) override {
    CAE_CHECK(forwarded_, Error, describe(), ": backward() before forward()");
    // With an activation, its backward checks the gradient's shape.
    CAE_CHECK(activation_ || grad_output.shape() == sum_.shape(), ShapeError, describe(),
              ": gradient shape ", grad_output.shape(), " does not match output shape ",
              sum_.shape());
    const Tensor<T>& g = activation_ ? activation_->backward(grad_output) : grad_output;
    const Tensor<T>& through_body = body_.backward(g);
    const Tensor<T>& through_shortcut = identity_shortcut() ? g : shortcut_.backward(g);
    if (!this->input_grad_) return this->no_input_gradient();
    add(dx_, through_body, through_shortcut);
    return dx_;
  }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    body_.collect_parameters(this->join(prefix, "body"), out);
    shortcut_.collect_parameters(this->join(prefix, "shortcut"), out);
    if (activation_) activation_->collect_parameters(this->join(prefix, "activation"), out);
  }
  void collect_buffers(const std::string& prefix, std::vector<Buffer<T>>& out) override {
    body_.collect_buffers(this->join(prefix, "body"), out);
    shortcut_.collect_buffers(this->join(prefix, "shortcut"), out);
    if (activation_) activation_->collect_buffers(this->join(prefix, "activation"), out);
  }

  // One row for the block, then its children one level deeper: the body's
  // layers, the shortcut's (marked "shortcut: ") and the activation.
  void summarize(const Shape& input, int depth, std::vector<SummaryRow>& rows) override {
    const Shape out = build(input);
    rows.push_back({depth, describe(), out, 0});
    body_.summarize(input, depth + 1, rows);
    label_children(rows, depth + 1, [&] { shortcut_.summarize(input, depth + 1, rows); }, "shortcut: ");
    if (activation_) {
      label_children(rows, depth + 1, [&] { activation_->summarize(body_.build(input), depth + 1, rows); },
                     "activation: ");
    }
  }

  void set_training(bool on) override {
    this->training_ = on;
    body_.set_training(on);
    shortcut_.set_training(on);
    if (activation_) activation_->set_training(on);
  }
  void set_scratch(const std::shared_ptr<Scratch>& s) override {
    body_.set_scratch(s);
    shortcut_.set_scratch(s);
    if (activation_) activation_->set_scratch(s);
  }
  void set_input_grad(bool on) override {
    this->input_grad_ = on;
    body_.set_input_grad(on);
    shortcut_.set_input_grad(on);
  }

 private:
  static Conv2d<T> conv(index_t in, index_t out, index_t kernel, index_t stride) {
    return Conv2d<T>(Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
  }
  // Empty (the identity) when the block keeps the shape.
  static Sequential<T> projection(index_t in, index_t out, index_t stride) {
    Sequential<T> shortcut;
    if (in != out || stride != 1) {
      shortcut.add(conv(in, out, 1, stride));
      shortcut.add(BatchNorm2d<T>(out));
    }
    return shortcut;
  }
  static void check_block_sizes(const char* what, std::initializer_list<index_t> channels,
                                index_t stride) {
    for (index_t c : channels)
      CAE_CHECK(c > 0, Error, "Residual::", what, ": channel counts must be positive, got ", c);
    CAE_CHECK(stride > 0, Error, "Residual::", what, ": stride must be positive, got ", stride);
  }

  Shape build_child(Sequential<T>& child, const Shape& input, const char* name) {
    try {
      return child.build(input);
    } catch (const ShapeError& e) {
      throw ShapeError(str(describe(), " ", name, ": ", e.what()));
    }
  }

  // out = a + b, element-wise.
  void add(Tensor<T>& out, const Tensor<T>& a, const Tensor<T>& b) {
    CAE_CHECK(a.shape() == b.shape(), ShapeError, describe(), ": branch outputs ", a.shape(),
              " and ", b.shape(), " differ");
    out.resize(a.shape());
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
    const index_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
    for (index_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
  }

  template <typename F>
  static void label_children(std::vector<SummaryRow>& rows, int depth, F append, const char* label) {
    const std::size_t first = rows.size();
    append();
    for (std::size_t i = first; i < rows.size(); ++i)
      if (rows[i].depth == depth) rows[i].layer = label + rows[i].layer;
  }

  Sequential<T> body_, shortcut_;
  ModulePtr<T> activation_;
  Shape built_for_;
  bool built_ = false, forwarded_ = false;
  Tensor<T> sum_, dx_;
};

}  // namespace cae
