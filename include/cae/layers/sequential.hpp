// Sequential: runs its children in order, like torch.nn.Sequential.
//
// Given the per-sample input shape at construction, each added layer is built
// at once, so sizes are inferred and a misfit layer throws while the model is
// being written, naming its position. Without an input shape (e.g. a block
// nested in a Residual) building waits until the parent builds it.
#pragma once

#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cae/module.hpp"

namespace cae {

template <typename T>
class Sequential : public Module<T> {
 public:
  Sequential() = default;
  explicit Sequential(const Shape& input_shape) : input_shape_(input_shape) {}

  // Appends a layer and returns a reference to it, typed.
  template <typename Layer>
  Layer& add(Layer&& layer) {
    auto owned = std::make_unique<std::decay_t<Layer>>(std::forward<Layer>(layer));
    auto& ref = *owned;
    add(ModulePtr<T>(std::move(owned)));
    return ref;
  }
  Module<T>& add(ModulePtr<T> layer) {
    CAE_CHECK(layer != nullptr, Error, "Sequential::add: null layer");
    layers_.push_back(std::move(layer));
    if (input_shape_) {
      const Shape in = layers_.size() == 1 ? *input_shape_ : output_shape_;
      output_shape_ = build_layer(layers_.size() - 1, in);
    }
    layers_.back()->set_input_grad(layers_.size() > 1 || this->input_grad_);
    layers_.back()->set_training(this->training_);
    layers_.back()->set_scratch(scratch_);
    return *layers_.back();
  }

  std::size_t size() const { return layers_.size(); }
  Module<T>& operator[](std::size_t i) { return *layers_.at(i); }
  const std::optional<Shape>& input_shape() const { return input_shape_; }
  // Per-sample output shape for the input shape given at construction.
  Shape output_shape() {
    CAE_CHECK(input_shape_.has_value(), ShapeError,
              "Sequential::output_shape: no input shape was given");
    return build(*input_shape_);
  }

  std::string describe() const override { return "Sequential"; }

  Shape build(const Shape& input) override {
    Shape s = input;
    for (std::size_t i = 0; i < layers_.size(); ++i) s = build_layer(i, s);
    return s;
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    if (layers_.empty()) return x;
    if (input_shape_) {
      CAE_CHECK(x.rank() == input_shape_->rank() + 1 && x.shape().drop_front() == *input_shape_,
                ShapeError, "Sequential: expected input ", batch_shape_str(*input_shape_),
                ", got ", x.shape());
    }
    const Tensor<T>* h = &x;
    for (std::size_t i = 0; i < layers_.size(); ++i) h = &layers_[i]->forward(*h);
    return *h;
  }

  const Tensor<T>& backward(const Tensor<T>& grad_output) override {
    if (layers_.empty()) return grad_output;
    const Tensor<T>* g = &grad_output;
    for (std::size_t i = layers_.size(); i-- > 0;) g = &layers_[i]->backward(*g);
    return *g;
  }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    for (std::size_t i = 0; i < layers_.size(); ++i)
      layers_[i]->collect_parameters(this->join(prefix, std::to_string(i)), out);
  }
  void collect_buffers(const std::string& prefix, std::vector<Buffer<T>>& out) override {
    for (std::size_t i = 0; i < layers_.size(); ++i)
      layers_[i]->collect_buffers(this->join(prefix, std::to_string(i)), out);
  }
  void summarize(const Shape& input, int depth, std::vector<SummaryRow>& rows) override {
    Shape s = input;
    for (auto& layer : layers_) {
      layer->summarize(s, depth, rows);
      s = layer->build(s);
    }
  }
  // All layers take their per-thread temporaries from one Scratch, this
  // model's own unless the user gives another (kernels/workspace.hpp).
  void set_scratch(const std::shared_ptr<Scratch>& s) override {
    if (!s) return;
    scratch_ = s;
    for (auto& l : layers_) l->set_scratch(s);
  }
  const std::shared_ptr<Scratch>& scratch() const { return scratch_; }

  void set_training(bool on) override {
    this->training_ = on;
    for (auto& l : layers_) l->set_training(on);
  }
  void set_input_grad(bool on) override {
    this->input_grad_ = on;
    if (!layers_.empty()) layers_.front()->set_input_grad(on);
  }

  // A table of every layer's output shape and parameter count with the total,
  // like Keras' summary() or torchinfo.
  std::string summary() {
    CAE_CHECK(input_shape_.has_value(), ShapeError,
              "Sequential::summary: construct the Sequential with an input shape");
    return format_summary(*this, *input_shape_);
  }

 private:
  Shape build_layer(std::size_t i, const Shape& in) {
    try {
      return layers_[i]->build(in);
    } catch (const ShapeError& e) {
      throw ShapeError(str("Sequential layer ", i, " (", layers_[i]->describe(), ") given input ",
                           in, ": ", e.what()));
    }
  }

  std::vector<ModulePtr<T>> layers_;
  std::shared_ptr<Scratch> scratch_ = std::make_shared<Scratch>();
  std::optional<Shape> input_shape_;
  Shape output_shape_;
};

// Formats the summary of any module for a per-sample input shape.
template <typename T>
std::string format_summary(Module<T>& model, const Shape& input) {
  std::vector<SummaryRow> rows;
  model.summarize(input, 0, rows);
  std::size_t w = 30;
  for (auto& r : rows) w = std::max(w, r.layer.size() + 2 * r.depth + 2);
  w = std::min<std::size_t>(w, 80);
  std::ostringstream os;
  const std::string rule(w + 38, '-');
  os << rule << "\n"
     << std::left << std::setw(static_cast<int>(w)) << "Layer" << std::setw(24) << "Output shape"
     << std::right << std::setw(14) << "Param #" << "\n"
     << rule << "\n";
  index_t total = 0;
  for (auto& r : rows) {
    std::string name = std::string(2 * r.depth, ' ') + r.layer;
    if (name.size() > w - 1) name = name.substr(0, w - 4) + "...";
    os << std::left << std::setw(static_cast<int>(w)) << name << std::setw(24)
       << batch_shape_str(r.output) << std::right << std::setw(14) << r.num_parameters << "\n";
    total += r.num_parameters;
  }
  os << rule << "\n"
     << "Input shape: " << batch_shape_str(input) << "\n"
     << "Total params: " << total << "\n"
     << rule << "\n";
  return os.str();
}

}  // namespace cae
