// PixelShuffle and PixelUnshuffle, as torch.nn.PixelShuffle(upscale_factor) /
// PixelUnshuffle(downscale_factor):
//
//   PixelShuffle<float> up(2);      // [N, 4C, H, W] -> [N, C, 2H, 2W]: sub-pixel convolution's upsampling
//   PixelUnshuffle<float> down(2);  // [N, C, 2H, 2W] -> [N, 4C, H, W]
//
// The input is [N, ..., C, H, W]: any leading dimensions are kept (PyTorch's
// [*, C, H, W]). Element order is PyTorch's (kernels/pixel_shuffle.hpp).
#pragma once

#include <string>

#include "cae/kernels/pixel_shuffle.hpp"
#include "cae/module.hpp"

namespace cae {

namespace detail {

// Shared plumbing: `up` for PixelShuffle, otherwise PixelUnshuffle.
template <typename T>
class PixelShuffleBase : public Module<T> {
 public:
  std::string describe() const override {
    return up_ ? str("PixelShuffle(upscale_factor=", r_, ")")
               : str("PixelUnshuffle(downscale_factor=", r_, ")");
  }
  index_t factor() const { return r_; }

  Shape build(const Shape& input) override { return output_shape(input, batch_shape_str(input)); }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() >= 1, ShapeError, describe(), ": expected a batch, got a scalar");
    if (this->sample_shape_changed(x)) sample_out_ = output_shape(x.shape().drop_front(), x.shape().str());
    this->remember_input(x);
    y_.resize(sample_out_.prepend(x.dim(0)));
    index_t B, C, H, W;
    small_view(B, C, H, W);
    if (up_)
      kernels::pixel_shuffle_forward(y_.data(), x.data(), B, C, H, W, r_);
    else
      kernels::pixel_unshuffle_forward(y_.data(), x.data(), B, C, H, W, r_);
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    if (!this->input_grad()) return this->no_input_gradient();
    dx_.resize(x.shape());
    index_t B, C, H, W;
    small_view(B, C, H, W);
    if (up_)
      kernels::pixel_shuffle_backward(dx_.data(), dy.data(), B, C, H, W, r_);
    else
      kernels::pixel_unshuffle_backward(dx_.data(), dy.data(), B, C, H, W, r_);
    return dx_;
  }

 protected:
  PixelShuffleBase(index_t factor, bool up) : r_(factor), up_(up) {
    CAE_CHECK(factor >= 1, Error, describe(), ": ", up ? "upscale_factor" : "downscale_factor",
              " must be positive, got ", factor);
  }

 private:
  // The per-sample output shape for the per-sample input shape `in` (printed
  // as `shown` in errors), or a ShapeError naming the layer and PyTorch's rule.
  Shape output_shape(const Shape& in, const std::string& shown) const {
    CAE_CHECK(in.rank() >= 3, ShapeError, describe(), ": expected input [N, C, H, W] (or [N, *, C, H, W]), got ",
              shown);
    const int c = in.rank() - 3;
    Shape out = in;
    if (up_) {
      CAE_CHECK(in[c] % (r_ * r_) == 0, ShapeError, describe(), ": the channels of input ", shown,
                ", ", in[c], ", are not divisible by upscale_factor^2 = ", r_ * r_);
      out[c] = in[c] / (r_ * r_);
      out[c + 1] = in[c + 1] * r_;
      out[c + 2] = in[c + 2] * r_;
    } else {
      CAE_CHECK(in[c + 1] % r_ == 0 && in[c + 2] % r_ == 0, ShapeError, describe(), ": the height and width of input ",
                shown, ", ", in[c + 1], "x", in[c + 2], ", are not divisible by downscale_factor ", r_);
      out[c] = in[c] * r_ * r_;
      out[c + 1] = in[c + 1] / r_;
      out[c + 2] = in[c + 2] / r_;
    }
    return out;
  }
  // The kernels' sizes: B leading planes, C channels of the large side, H x W the small side.
  void small_view(index_t& B, index_t& C, index_t& H, index_t& W) const {
    const Tensor<T>& large = up_ ? y_ : this->saved_input();
    const int rank = large.rank();
    C = large.dim(rank - 3);
    H = large.dim(rank - 2) / r_;
    W = large.dim(rank - 1) / r_;
    B = large.numel() / std::max<index_t>(C * H * W * r_ * r_, 1);
  }

  index_t r_;
  bool up_;
  Shape sample_out_;
  Tensor<T> y_, dx_;
};

}  // namespace detail

// [N, C r^2, H, W] -> [N, C, H r, W r]
template <typename T>
class PixelShuffle : public detail::PixelShuffleBase<T> {
 public:
  explicit PixelShuffle(index_t upscale_factor) : detail::PixelShuffleBase<T>(upscale_factor, true) {}
};

// [N, C, H r, W r] -> [N, C r^2, H, W]
template <typename T>
class PixelUnshuffle : public detail::PixelShuffleBase<T> {
 public:
  explicit PixelUnshuffle(index_t downscale_factor)
      : detail::PixelShuffleBase<T>(downscale_factor, false) {}
};

}  // namespace cae
