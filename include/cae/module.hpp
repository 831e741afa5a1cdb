// Module<T>: the contract every layer follows, written down once.
//
//   build(in)        Called with the per-sample input shape (no batch dimension)
//                    before the first forward, and again whenever a container
//                    re-infers shapes; must be idempotent. It infers every size
//                    the user did not give (in_channels, in_features), creates
//                    and initializes parameters the first time, throws
//                    ShapeError naming the layer if `in` cannot work, and
//                    returns the per-sample output shape.
//   forward(x)       x is [N, ...in]. Returns a reference to an output buffer the
//                    module owns and reuses (no allocation per batch in steady
//                    state). The module may keep a pointer to x: x must stay alive
//                    and unchanged until backward() has run.
//   backward(dy)     dy has the shape of the last output. Accumulates (+=) the
//                    gradients of the parameters and returns dL/dx in a buffer
//                    the module owns. When input gradients are switched off
//                    (set_input_grad(false), used for a network's first layer)
//                    it may skip dL/dx and return an empty tensor.
//   parameters()     (value, gradient) pairs in PyTorch's registration order,
//                    named as in PyTorch's state_dict ("0.weight", "body.1.bias").
//   buffers()        Non-trained state (BatchNorm running statistics).
//   set_scratch(s)   Take per-thread temporary memory from the Scratch s
//                    (kernels/workspace.hpp); containers pass it to children.
//
// What every layer repeats is done by the protected helpers below, once:
//   remember_input(x) / saved_input()  the input kept for backward, and the
//                    "backward() before forward()" error
//   check_grad_output(dy, y)           dy has the output's shape
//   no_input_gradient()                what backward returns with input
//                    gradients off: an empty tensor, the input gradient not computed
//   sample_shape_changed(x)            whether per-shape work (a geometry) must be redone
// tests/test_module_contract.cpp checks every layer against this contract.
//
// Modules are used through pointers (runtime polymorphism) rather than nested
// templates, which keeps compile times to seconds.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/kernels/workspace.hpp"
#include "cae/tensor.hpp"

namespace cae {

template <typename T>
struct Parameter {
  std::string name;
  Tensor<T>* value;
  Tensor<T>* grad;
};

template <typename T>
struct Buffer {
  std::string name;
  Tensor<T>* value;
};

// One line of a model summary.
struct SummaryRow {
  int depth;               // nesting level, for indentation
  std::string layer;       // e.g. "Conv2d(3, 6, kernel_size=(3, 3), stride=(1, 1))"
  Shape output;            // per-sample output shape
  index_t num_parameters;  // parameters owned by this layer itself (not children)
};

template <typename T>
class Module {
 public:
  virtual ~Module() = default;

  // The layer as PyTorch prints it, e.g. "Conv2d(3, 6, kernel_size=(3, 3), stride=(1, 1))".
  virtual std::string describe() const = 0;
  virtual Shape build(const Shape& input) = 0;
  virtual const Tensor<T>& forward(const Tensor<T>& x) = 0;
  virtual const Tensor<T>& backward(const Tensor<T>& grad_output) = 0;

  // Containers override these three to recurse into their children.
  virtual void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) {
    (void)prefix;
    (void)out;
  }
  virtual void collect_buffers(const std::string& prefix, std::vector<Buffer<T>>& out) {
    (void)prefix;
    (void)out;
  }
  virtual void summarize(const Shape& input, int depth, std::vector<SummaryRow>& rows) {
    std::vector<Parameter<T>> own;
    collect_parameters("", own);
    index_t n = 0;
    for (auto& p : own) n += p.value->numel();
    rows.push_back({depth, describe(), build(input), n});
  }
  virtual void set_training(bool on) { training_ = on; }
  // Layers with kernels that need scratch memory override this; containers
  // recurse. The default: a layer that needs none.
  virtual void set_scratch(const std::shared_ptr<Scratch>& scratch) { (void)scratch; }
  virtual void set_input_grad(bool on) { input_grad_ = on; }

  void train(bool on = true) { set_training(on); }
  void eval() { set_training(false); }
  bool is_training() const { return training_; }
  bool input_grad() const { return input_grad_; }

  std::vector<Parameter<T>> parameters() {
    std::vector<Parameter<T>> out;
    collect_parameters("", out);
    return out;
  }
  std::vector<Buffer<T>> buffers() {
    std::vector<Buffer<T>> out;
    collect_buffers("", out);
    return out;
  }
  index_t num_parameters() {
    index_t n = 0;
    for (auto& p : parameters()) n += p.value->numel();
    return n;
  }
  void zero_grad() {
    for (auto& p : parameters()) p.grad->zero();
  }

 protected:
  // Joins a state_dict prefix and a local name: join("body.0", "weight") == "body.0.weight".
  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }
  // Throws ShapeError if x is not a batch of `expected` per-sample shape.
  void check_input(const Tensor<T>& x, int rank, const char* what) const {
    CAE_CHECK(x.rank() == rank, ShapeError, describe(), ": expected a ", what, " input of rank ",
              rank, ", got shape ", x.shape());
  }

  // Keeps x for backward (x must stay alive until then, see the contract).
  void remember_input(const Tensor<T>& x) { input_ = &x; }
  // Throws unless forward() has run (remember_input() was called).
  void check_forward_ran() const {
    CAE_CHECK(input_ != nullptr, Error, describe(), ": backward() before forward()");
  }
  // The input of the last forward; throws if there was none.
  const Tensor<T>& saved_input() const {
    check_forward_ran();
    return *input_;
  }
  // Throws ShapeError naming the layer unless dy has the shape of the output y.
  void check_grad_output(const Tensor<T>& dy, const Tensor<T>& y) const {
    CAE_CHECK(dy.shape() == y.shape(), ShapeError, describe(), ": gradient shape ", dy.shape(),
              " does not match output shape ", y.shape());
  }
  // backward()'s result when input gradients are off.
  const Tensor<T>& no_input_gradient() const { return no_input_gradient_; }
  // Whether x's per-sample shape differs from the previous call's (true on the
  // first): per-shape work, e.g. checking and caching a geometry, is redone
  // only then, since its checks format describe(), which allocates.
  bool sample_shape_changed(const Tensor<T>& x) {
    const bool changed =
        last_shape_.rank() != x.rank() || x.rank() == 0 || x.shape().drop_front() != last_shape_.drop_front();
    last_shape_ = x.shape();
    return changed;
  }
  // The full shape [N, ...] of the last input given to sample_shape_changed().
  const Shape& last_input_shape() const { return last_shape_; }

  bool training_ = true;
  bool input_grad_ = true;

 private:
  const Tensor<T>* input_ = nullptr;
  Shape last_shape_;
  Tensor<T> no_input_gradient_{Shape{0}};
};

template <typename T>
using ModulePtr = std::unique_ptr<Module<T>>;

// Allocates and zeroes a gradient buffer of the same shape as `value`.
template <typename T>
void init_grad(const Tensor<T>& value, Tensor<T>& grad) {
  grad.resize(value.shape());
  grad.zero();
}

}  // namespace cae
