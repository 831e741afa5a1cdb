// Flatten and Reshape: change the per-sample shape without copying.
//
//   Flatten<float> flat;                              // [N, C, H, W] -> [N, C*H*W], as nn.Flatten()
//   Flatten<float> partial(FlattenOptions().start_dim(2));  // [N, C, H, W] -> [N, C, H*W]
//   Reshape<float> unflat({16, 5, 5});                // [N, 400] -> [N, 16, 5, 5]
//   Reshape<float> rows({-1, 4});                     // one -1: inferred from the others
//
// The output is a view of the input (Tensor::reshape) and the input gradient a
// view of the output gradient: no data moves in either direction.
// Dimensions are counted as in PyTorch, with the batch as dimension 0; the
// batch is never merged, so start_dim must be at least 1.
#pragma once

#include <string>
#include <vector>

#include "cae/module.hpp"

namespace cae {

namespace detail {

// Shared plumbing: forward views the input with the shape build() worked out,
// backward views the gradient with the input's shape.
template <typename T>
class ViewLayer : public Module<T> {
 public:
  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() >= 1, ShapeError, this->describe(), ": expected a batch, got a scalar");
    input_shape_ = x.shape();
    y_ = x.reshape(this->build(x.shape().drop_front()).prepend(x.dim(0)));
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_output(dy, y_);
    if (!this->input_grad()) return this->no_input_gradient();
    dx_ = dy.reshape(input_shape_);
    return dx_;
  }

 private:
  Shape input_shape_;
  Tensor<T> y_, dx_;
};

}  // namespace detail

class FlattenOptions {
 public:
  FlattenOptions& start_dim(int d) {
    start_dim_ = d;
    return *this;
  }
  FlattenOptions& end_dim(int d) {
    end_dim_ = d;
    return *this;
  }
  int start_dim() const { return start_dim_; }
  int end_dim() const { return end_dim_; }

 private:
  int start_dim_ = 1;
  int end_dim_ = -1;
};

// Merges dimensions start_dim..end_dim (both included) into one, as nn.Flatten.
template <typename T>
class Flatten : public detail::ViewLayer<T> {
 public:
  explicit Flatten(const FlattenOptions& options = {}) : options_(options) {}

  std::string describe() const override {
    return str("Flatten(start_dim=", options_.start_dim(), ", end_dim=", options_.end_dim(), ")");
  }

  Shape build(const Shape& input) override {
    const int rank = input.rank() + 1;  // counting the batch dimension, as PyTorch does
    const int start = options_.start_dim() < 0 ? options_.start_dim() + rank : options_.start_dim();
    const int end = options_.end_dim() < 0 ? options_.end_dim() + rank : options_.end_dim();
    CAE_CHECK(start >= 0 && start < rank && end >= 0 && end < rank, ShapeError, describe(),
              ": dimensions out of range for input ", batch_shape_str(input));
    CAE_CHECK(start >= 1, ShapeError, describe(),
              ": start_dim must not merge the batch dimension 0");
    CAE_CHECK(start <= end, ShapeError, describe(), ": start_dim comes after end_dim for input ",
              batch_shape_str(input));
    Shape out;
    index_t merged = 1;
    for (int d = 1; d < rank; ++d) {
      if (d < start || d > end) {
        out.push_back(input[d - 1]);
      } else {
        merged *= input[d - 1];
        if (d == end) out.push_back(merged);
      }
    }
    return out;
  }

 private:
  FlattenOptions options_;
};

// Views each sample with a fixed shape; one dimension may be -1 (inferred).
template <typename T>
class Reshape : public detail::ViewLayer<T> {
 public:
  explicit Reshape(std::vector<index_t> shape) : shape_(std::move(shape)) {
    int inferred = 0;
    for (index_t d : shape_) {
      CAE_CHECK(d >= -1, ShapeError, describe(), ": invalid dimension ", d);
      inferred += d == -1;
    }
    CAE_CHECK(inferred <= 1, ShapeError, describe(), ": only one dimension can be inferred (-1)");
    CAE_CHECK(static_cast<int>(shape_.size()) <= Shape::kMaxRank - 1, ShapeError, describe(),
              ": rank above ", Shape::kMaxRank - 1);
  }
  Reshape(std::initializer_list<index_t> shape) : Reshape(std::vector<index_t>(shape)) {}

  std::string describe() const override {
    std::string s = "Reshape(";
    for (std::size_t i = 0; i < shape_.size(); ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
    return s + ")";
  }

  Shape build(const Shape& input) override {
    index_t known = 1;
    for (index_t d : shape_)
      if (d != -1) known *= d;
    const index_t total = input.numel();
    Shape out;
    for (index_t d : shape_) {
      if (d == -1) {
        CAE_CHECK(known > 0 && total % known == 0, ShapeError, describe(), ": cannot view ",
                  batch_shape_str(input), " (", total, " elements per sample)");
        out.push_back(total / known);
      } else {
        out.push_back(d);
      }
    }
    CAE_CHECK(out.numel() == total, ShapeError, describe(), ": cannot view ", batch_shape_str(input),
              " (", total, " elements per sample) as ", batch_shape_str(out), " (", out.numel(),
              ")");
    return out;
  }

  const std::vector<index_t>& shape() const { return shape_; }

 private:
  std::vector<index_t> shape_;
};

}  // namespace cae
