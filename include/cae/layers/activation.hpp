// Element-wise activation layers: ReLU, LeakyReLU, Sigmoid, Tanh.
#pragma once

#include <string>

#include "cae/kernels/activation.hpp"
#include "cae/module.hpp"

namespace cae {

// Shared plumbing of the element-wise layers: shape passes through, the
// output buffer is reused, and the kernel pair does the work.
template <typename T, typename Derived>
class ElementwiseLayer : public Module<T> {
 public:
  Shape build(const Shape& input) override { return input; }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->remember_input(x);
    y_.resize(x.shape());
    static_cast<Derived*>(this)->kernel_forward(y_.data(), x.data(), x.numel());
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    if (!this->input_grad()) return this->no_input_gradient();
    dx_.resize(dy.shape());
    static_cast<Derived*>(this)->kernel_backward(dx_.data(), dy.data(), y_.data(), x.data(),
                                                 dy.numel());
    return dx_;
  }

 private:
  Tensor<T> y_, dx_;
};

template <typename T>
class ReLU : public ElementwiseLayer<T, ReLU<T>> {
 public:
  std::string describe() const override { return "ReLU()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::relu_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T* y, const T*, index_t n) {
    kernels::relu_backward(dx, dy, y, n);
  }
};

template <typename T>
class LeakyReLU : public ElementwiseLayer<T, LeakyReLU<T>> {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(static_cast<T>(negative_slope)) {}
  std::string describe() const override { return str("LeakyReLU(negative_slope=", slope_, ")"); }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::leaky_relu_forward(y, x, n, slope_); }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::leaky_relu_backward(dx, dy, x, n, slope_);
  }

 private:
  T slope_;
};

template <typename T>
class Sigmoid : public ElementwiseLayer<T, Sigmoid<T>> {
 public:
  std::string describe() const override { return "Sigmoid()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::sigmoid_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T* y, const T*, index_t n) {
    kernels::sigmoid_backward(dx, dy, y, n);
  }
};

template <typename T>
class Tanh : public ElementwiseLayer<T, Tanh<T>> {
 public:
  std::string describe() const override { return "Tanh()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::tanh_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T* y, const T*, index_t n) {
    kernels::tanh_backward(dx, dy, y, n);
  }
};

}  // namespace cae
