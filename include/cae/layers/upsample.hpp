// Upsample, as torch.nn.Upsample for 2-D inputs [N, C, H, W], modes nearest
// and bilinear.
//
//   Upsample<float> up(UpsampleOptions().scale_factor(2));                  // nearest, x2
//   Upsample<float> fit(UpsampleOptions().size({160, 160})
//                           .mode(UpsampleMode::Bilinear).align_corners(false));  // 158 -> 160
//   Upsample<float> wide(UpsampleOptions().scale_factor({1.0, 2.0}));       // per axis
//
// Give exactly one of size and scale_factor. With scale_factor the output is
// floor(in * factor) and coordinates are mapped with 1 / factor, as nn.Upsample
// does (recompute_scale_factor=None); with size they are mapped with in / out.
// See kernels/upsample.hpp for the exact rules. align_corners (default false)
// only exists for bilinear, as in PyTorch.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "cae/kernels/upsample.hpp"
#include "cae/module.hpp"

namespace cae {

enum class UpsampleMode { Nearest, Bilinear };

class UpsampleOptions {
 public:
  UpsampleOptions& size(index_t both) {
    size_ = std::array<index_t, 2>{both, both};
    size_is_scalar_ = true;
    return *this;
  }
  UpsampleOptions& size(std::array<index_t, 2> hw) {
    size_ = hw;
    size_is_scalar_ = false;
    return *this;
  }
  UpsampleOptions& scale_factor(double both) {
    scale_factor_ = std::array<double, 2>{both, both};
    scale_is_scalar_ = true;
    return *this;
  }
  UpsampleOptions& scale_factor(std::array<double, 2> hw) {
    scale_factor_ = hw;
    scale_is_scalar_ = false;
    return *this;
  }
  UpsampleOptions& mode(UpsampleMode m) {
    mode_ = m;
    return *this;
  }
  UpsampleOptions& align_corners(bool on) {
    align_corners_ = on;
    return *this;
  }

  const std::optional<std::array<index_t, 2>>& size() const { return size_; }
  const std::optional<std::array<double, 2>>& scale_factor() const { return scale_factor_; }
  UpsampleMode mode() const { return mode_; }
  const std::optional<bool>& align_corners() const { return align_corners_; }

  // As nn.Upsample's repr: "scale_factor=2.0, mode=nearest" or "size=(160, 160), mode=bilinear".
  std::string str() const {
    std::string s;
    if (scale_factor_) {
      const auto& f = *scale_factor_;
      s = "scale_factor=" + (scale_is_scalar_ ? py_float(f[0])
                                              : "(" + py_float(f[0]) + ", " + py_float(f[1]) + ")");
    } else if (size_) {
      const auto& z = *size_;
      s = "size=" + (size_is_scalar_ ? std::to_string(z[0]) : cae::str("(", z[0], ", ", z[1], ")"));
    } else {
      s = "size=None";
    }
    return s + ", mode=" + (mode_ == UpsampleMode::Nearest ? "nearest" : "bilinear");
  }

 private:
  // A double as Python's repr prints it: the shortest round-tripping digits, "2.0" not "2".
  static std::string py_float(double v) {
    char buf[32];
    for (int digits = 1; digits <= 17; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*g", digits, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
    std::string s = buf;
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }

  std::optional<std::array<index_t, 2>> size_;
  std::optional<std::array<double, 2>> scale_factor_;
  bool size_is_scalar_ = false, scale_is_scalar_ = false;
  UpsampleMode mode_ = UpsampleMode::Nearest;
  std::optional<bool> align_corners_;
};

template <typename T>
class Upsample : public Module<T> {
 public:
  explicit Upsample(const UpsampleOptions& options) : options_(options) {
    CAE_CHECK(options.size() || options.scale_factor(), Error, describe(),
              ": either size or scale_factor should be defined");
    CAE_CHECK(!(options.size() && options.scale_factor()), Error, describe(),
              ": only one of size or scale_factor should be defined");
    CAE_CHECK(!(options.align_corners() && options.mode() == UpsampleMode::Nearest), Error,
              describe(), ": align_corners can only be set with the interpolating mode bilinear");
    if (const auto& s = options.size())
      CAE_CHECK((*s)[0] > 0 && (*s)[1] > 0, Error, describe(), ": size must be positive");
    if (const auto& f = options.scale_factor())
      CAE_CHECK((*f)[0] > 0 && (*f)[1] > 0 && std::isfinite((*f)[0]) && std::isfinite((*f)[1]),
                Error, describe(), ": scale_factor must be positive and finite");
  }

  const UpsampleOptions& options() const { return options_; }
  std::string describe() const override { return "Upsample(" + options_.str() + ")"; }

  Shape build(const Shape& input) override {
    const auto g = geometry(input);
    return {input[0], g.out_h, g.out_w};
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->check_input(x, 4, "[N, C, H, W]");
    // Worked out (and checked) when the sample shape changes, not per batch:
    // the checks format describe(), which allocates.
    if (this->sample_shape_changed(x)) geometry_ = geometry(x.shape().drop_front());
    this->remember_input(x);
    y_.resize({x.dim(0), x.dim(1), geometry_.out_h, geometry_.out_w});
    const index_t planes = x.dim(0) * x.dim(1);
    if (bilinear()) {
      kernels::upsample_bilinear2d_forward(y_.data(), x.data(), planes, geometry_,
                                           align_corners());
    } else {
      kernels::upsample_nearest2d_forward(y_.data(), x.data(), planes, geometry_);
    }
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_forward_ran();
    const Shape& in = this->last_input_shape();
    this->check_grad_output(dy, y_);
    if (!this->input_grad()) return this->no_input_gradient();
    dx_.resize(in);
    const index_t planes = in[0] * in[1];
    if (bilinear()) {
      kernels::upsample_bilinear2d_backward(dx_.data(), dy.data(), planes, geometry_,
                                            align_corners());
    } else {
      kernels::upsample_nearest2d_backward(dx_.data(), dy.data(), planes, geometry_);
    }
    return dx_;
  }

 private:
  bool bilinear() const { return options_.mode() == UpsampleMode::Bilinear; }
  bool align_corners() const { return options_.align_corners().value_or(false); }

  kernels::Upsample2dGeometry geometry(const Shape& input) const {
    CAE_CHECK(input.rank() == 3 && input[1] > 0 && input[2] > 0, ShapeError, describe(),
              ": expected input [N, C, H, W] with H, W > 0, got ", batch_shape_str(input));
    kernels::Upsample2dGeometry g;
    g.in_h = input[1];
    g.in_w = input[2];
    if (const auto& s = options_.size()) {
      g.out_h = (*s)[0];
      g.out_w = (*s)[1];
    } else {
      // ATen's compute_output_size: the product truncated toward zero.
      const auto& f = *options_.scale_factor();
      g.scale_h = f[0];
      g.scale_w = f[1];
      g.out_h = static_cast<index_t>(static_cast<double>(g.in_h) * f[0]);
      g.out_w = static_cast<index_t>(static_cast<double>(g.in_w) * f[1]);
    }
    CAE_CHECK(g.out_h > 0 && g.out_w > 0, ShapeError, describe(), ": input ",
              batch_shape_str(input), " gives an empty output ", g.out_h, "x", g.out_w);
    return g;
  }

  UpsampleOptions options_;
  kernels::Upsample2dGeometry geometry_;
  Tensor<T> y_, dx_;
};

// Resamples x [N, C, H, W] or [C, H, W] as F.interpolate with these options
// (mode nearest or bilinear), returning a new tensor.
template <typename T>
Tensor<T> interpolate(const Tensor<T>& x, const UpsampleOptions& options) {
  CAE_CHECK(x.rank() == 3 || x.rank() == 4, ShapeError,
            "interpolate: expected [C, H, W] or [N, C, H, W], got ", x.shape());
  Upsample<T> up(options);
  up.set_input_grad(false);
  const Tensor<T> batch = x.rank() == 4 ? x.view() : x.reshape(x.shape().prepend(1));
  const Tensor<T>& y = up.forward(batch);
  Tensor<T> out(x.rank() == 4 ? y.shape() : y.shape().drop_front());
  std::copy(y.begin(), y.end(), out.begin());
  return out;
}

}  // namespace cae
