// The learned image codecs' networks, laid out and named as CompressAI's
// bmshj2018-factorized (FactorizedPrior) and bmshj2018-hyperprior
// (ScaleHyperprior) so state_dicts move between the two.
//
// FactorizedPrior:
//
//   g_a: Conv2d(3, N, 5, s2, p2), GDN(N), Conv2d(N, N, ...), GDN(N), Conv2d(N, N, ...),
//        GDN(N), Conv2d(N, M, ...)                                 x [B,3,H,W] -> y [B,M,H/16,W/16]
//   g_s: the mirror with ConvTranspose2d(.., 5, s2, p2, output_padding 1) and inverse GDN
//   entropy_bottleneck: EntropyBottleneck(M), the factorized prior of y
//
// H and W must be multiples of 16 (the codec pads images to that).
// Training: forward(x) gives x_hat with the noisy latents; backward(dx_hat,
// bits_weight) back-propagates L = D(x_hat) + bits_weight * bits, where bits =
// sum -log2(likelihoods()). For CompressAI's loss lambda 255^2 MSE + bpp,
// bits_weight = 1 / (B H W).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cae/codec/entropy_models.hpp"
#include "cae/kernels/abs.hpp"
#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/gdn.hpp"
#include "cae/layers/sequential.hpp"

namespace cae::codec {

// The analysis and synthesis transforms of Ballé et al. (2018).
template <typename T>
void add_analysis(Sequential<T>& g, index_t in, index_t N, index_t M) {
  g.add(Conv2d<T>(Conv2dOptions(in, N, 5).stride(2).padding(2)));
  g.add(GDN<T>(GDNOptions(N)));
  g.add(Conv2d<T>(Conv2dOptions(N, N, 5).stride(2).padding(2)));
  g.add(GDN<T>(GDNOptions(N)));
  g.add(Conv2d<T>(Conv2dOptions(N, N, 5).stride(2).padding(2)));
  g.add(GDN<T>(GDNOptions(N)));
  g.add(Conv2d<T>(Conv2dOptions(N, M, 5).stride(2).padding(2)));
}
template <typename T>
void add_synthesis(Sequential<T>& g, index_t M, index_t N, index_t out) {
  auto deconv = [](index_t i, index_t o) {
    return ConvTranspose2d<T>(ConvTranspose2dOptions(i, o, 5).stride(2).padding(2).output_padding(1));
  };
  g.add(deconv(M, N));
  g.add(GDN<T>(GDNOptions(N).inverse(true)));
  g.add(deconv(N, N));
  g.add(GDN<T>(GDNOptions(N).inverse(true)));
  g.add(deconv(N, N));
  g.add(GDN<T>(GDNOptions(N).inverse(true)));
  g.add(deconv(N, out));
}

template <typename T>
class FactorizedPrior : public Module<T> {
 public:
  static constexpr index_t kStride = 16;

  FactorizedPrior(index_t N, index_t M, const EntropyBottleneckOptions* eb_options = nullptr)
      : N_(N), M_(M), entropy_bottleneck_(eb_options ? *eb_options : EntropyBottleneckOptions(M)) {
    CAE_CHECK(N > 0 && M > 0, Error, "FactorizedPrior: N and M must be positive, got N=", N,
              ", M=", M);
    CAE_CHECK(entropy_bottleneck_.channels() == M, Error,
              "FactorizedPrior: the entropy bottleneck needs M=", M, " channels");
    add_analysis(g_a_, 3, N, M);
    add_synthesis(g_s_, M, N, 3);
    g_a_[0].set_input_grad(false);  // nothing needs dL/dimage
  }

  index_t N() const { return N_; }
  index_t M() const { return M_; }
  Sequential<T>& g_a() { return g_a_; }
  Sequential<T>& g_s() { return g_s_; }
  EntropyBottleneck<T>& entropy_bottleneck() { return entropy_bottleneck_; }

  std::string describe() const override { return str("FactorizedPrior(N=", N_, ", M=", M_, ")"); }

  Shape build(const Shape& in) override {
    check_image(in);
    Shape y = g_a_.build(in);
    entropy_bottleneck_.build(y);
    return g_s_.build(y);
  }

  // x [B, 3, H, W] in [0, 1] -> x_hat; the latents are in y_hat(), their likelihoods in likelihoods().
  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() == 4, ShapeError, describe(), ": expected images [B, 3, H, W], got ",
              x.shape());
    check_image(x.shape().drop_front());
    const Tensor<T>& y = g_a_.forward(x);
    const Tensor<T>& y_hat = entropy_bottleneck_.forward(y);
    return g_s_.forward(y_hat);
  }
  const Tensor<T>& y_hat() const { return entropy_bottleneck_.output(); }
  const Tensor<T>& likelihoods() const { return entropy_bottleneck_.likelihoods(); }
  double bits() const { return total_bits(likelihoods()); }

  const Tensor<T>& backward(const Tensor<T>& dx_hat, double bits_weight) {
    const Tensor<T>& dy_hat = g_s_.backward(dx_hat);
    const Tensor<T>& dy = entropy_bottleneck_.backward(dy_hat, bits_weight);
    return g_a_.backward(dy);
  }
  // The Module contract: the distortion path only (no rate term).
  const Tensor<T>& backward(const Tensor<T>& dx_hat) override { return backward(dx_hat, 0.0); }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    entropy_bottleneck_.collect_parameters(this->join(prefix, "entropy_bottleneck"), out);
    g_a_.collect_parameters(this->join(prefix, "g_a"), out);
    g_s_.collect_parameters(this->join(prefix, "g_s"), out);
  }
  void collect_buffers(const std::string& prefix, std::vector<Buffer<T>>& out) override {
    g_a_.collect_buffers(this->join(prefix, "g_a"), out);
    g_s_.collect_buffers(this->join(prefix, "g_s"), out);
  }
  void set_training(bool on) override {
    Module<T>::set_training(on);
    g_a_.set_training(on);
    g_s_.set_training(on);
    entropy_bottleneck_.set_training(on);
  }

 private:
  void check_image(const Shape& in) const {
    CAE_CHECK(in.rank() == 3 && in[0] == 3 && in[1] % kStride == 0 && in[2] % kStride == 0 &&
                  in[1] > 0 && in[2] > 0,
              ShapeError, describe(), ": expected RGB images [3, H, W] with H and W multiples of ",
              kStride, ", got ", in);
  }

  index_t N_, M_;
  Sequential<T> g_a_, g_s_;
  EntropyBottleneck<T> entropy_bottleneck_;
};

// The scale hyperprior of Ballé et al. (2018), CompressAI's ScaleHyperprior:
//
//   g_a, g_s: as FactorizedPrior                     x [B,3,H,W] -> y [B,M,H/16,W/16]
//   h_a: Conv2d(M, N, 3, s1, p1), ReLU, Conv2d(N, N, 5, s2, p2), ReLU, Conv2d(N, N, 5, s2, p2)
//        applied to |y|                              -> z [B,N,H/64,W/64]
//   h_s: ConvTranspose2d(N, N, 5, s2, p2, op1), ReLU, ConvTranspose2d(N, N, ...), ReLU,
//        Conv2d(N, M, 3, s1, p1), ReLU               z_hat -> scales [B,M,H/16,W/16]
//   entropy_bottleneck: EntropyBottleneck(N), the factorized prior of z
//   gaussian_conditional: y ~ N(0, scale^2) convolved with U(-0.5, 0.5), with
//        CompressAI's scale table (64 scales, exp(linspace(log 0.11, log 256))),
//        scale lower bound 0.11 and likelihood lower bound 1e-9
//
// The Gaussian conditional has no learned parameters (CompressAI's
// gaussian_conditional.* entries are buffers holding these constants), so the
// state_dict is g_a.*, g_s.*, h_a.*, h_s.* and entropy_bottleneck.*, named and
// shaped as CompressAI's. H and W must be multiples of 64.
// Training: forward(x) gives x_hat from the noisy y_hat (the scales come from
// the noisy z_hat); backward(dx_hat, bits_weight) back-propagates
// L = D(x_hat) + bits_weight * bits, bits = sum -log2 of both likelihoods.
template <typename T>
class ScaleHyperprior : public Module<T> {
 public:
  static constexpr index_t kStride = 64;

  ScaleHyperprior(index_t N, index_t M,
                  TrainingQuantization quantization = TrainingQuantization::Noise)
      : N_(N),
        M_(M),
        entropy_bottleneck_(EntropyBottleneckOptions(N > 0 ? N : 1).quantization(quantization)),
        gaussian_conditional_(GaussianConditionalOptions().quantization(quantization)) {
    CAE_CHECK(N > 0 && M > 0, Error, "ScaleHyperprior: N and M must be positive, got N=", N,
              ", M=", M);
    add_analysis(g_a_, 3, N, M);
    add_synthesis(g_s_, M, N, 3);
    g_a_[0].set_input_grad(false);  // nothing needs dL/dimage
    h_a_.add(Conv2d<T>(Conv2dOptions(M, N, 3).stride(1).padding(1)));
    h_a_.add(ReLU<T>());
    h_a_.add(Conv2d<T>(Conv2dOptions(N, N, 5).stride(2).padding(2)));
    h_a_.add(ReLU<T>());
    h_a_.add(Conv2d<T>(Conv2dOptions(N, N, 5).stride(2).padding(2)));
    auto deconv = [](index_t i, index_t o) {
      return ConvTranspose2d<T>(
          ConvTranspose2dOptions(i, o, 5).stride(2).padding(2).output_padding(1));
    };
    h_s_.add(deconv(N, N));
    h_s_.add(ReLU<T>());
    h_s_.add(deconv(N, N));
    h_s_.add(ReLU<T>());
    h_s_.add(Conv2d<T>(Conv2dOptions(N, M, 3).stride(1).padding(1)));
    h_s_.add(ReLU<T>());
  }

  index_t N() const { return N_; }
  index_t M() const { return M_; }
  Sequential<T>& g_a() { return g_a_; }
  Sequential<T>& g_s() { return g_s_; }
  Sequential<T>& h_a() { return h_a_; }
  Sequential<T>& h_s() { return h_s_; }
  EntropyBottleneck<T>& entropy_bottleneck() { return entropy_bottleneck_; }
  GaussianConditional<T>& gaussian_conditional() { return gaussian_conditional_; }

  std::string describe() const override { return str("ScaleHyperprior(N=", N_, ", M=", M_, ")"); }

  Shape build(const Shape& in) override {
    check_image(in);
    const Shape y = g_a_.build(in);
    const Shape z = h_a_.build(y);
    entropy_bottleneck_.build(z);
    const Shape scales = h_s_.build(z);
    CAE_CHECK(scales == y, ShapeError, describe(), ": h_s gives scales ", scales,
              " for latents ", y);
    return g_s_.build(y);
  }

  // x [B, 3, H, W] in [0, 1] -> x_hat. The latents are in y_hat() and z_hat(),
  // the predicted scales in scales(), the likelihoods in y_likelihoods() and
  // z_likelihoods().
  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() == 4, ShapeError, describe(), ": expected images [B, 3, H, W], got ",
              x.shape());
    check_image(x.shape().drop_front());
    const Tensor<T>& y = g_a_.forward(x);
    y_ = &y;
    y_abs_.resize(y.shape());
    kernels::abs_forward(y_abs_.data(), y.data(), y.numel());
    const Tensor<T>& z = h_a_.forward(y_abs_);
    const Tensor<T>& z_hat = entropy_bottleneck_.forward(z);
    const Tensor<T>& scales = h_s_.forward(z_hat);
    const Tensor<T>& y_hat = gaussian_conditional_.forward(y, scales);
    return g_s_.forward(y_hat);
  }
  const Tensor<T>& y_hat() const { return gaussian_conditional_.output(); }
  const Tensor<T>& z_hat() const { return entropy_bottleneck_.output(); }
  const Tensor<T>& y_likelihoods() const { return gaussian_conditional_.likelihoods(); }
  const Tensor<T>& z_likelihoods() const { return entropy_bottleneck_.likelihoods(); }
  double y_bits() const { return total_bits(y_likelihoods()); }
  double z_bits() const { return total_bits(z_likelihoods()); }
  double bits() const { return y_bits() + z_bits(); }

  const Tensor<T>& backward(const Tensor<T>& dx_hat, double bits_weight) {
    const Tensor<T>& dy_hat = g_s_.backward(dx_hat);
    // dL/dy gets the distortion and y's rate; dL/dscales goes up the hyper-decoder.
    gaussian_conditional_.backward(dy_hat, bits_weight, dy_, dscales_);
    const Tensor<T>& dz_hat = h_s_.backward(dscales_);
    const Tensor<T>& dz = entropy_bottleneck_.backward(dz_hat, bits_weight);
    const Tensor<T>& dy_abs = h_a_.backward(dz);
    CAE_CHECK(y_ != nullptr, Error, describe(), ": backward() before forward()");
    const Tensor<T>& y = *y_;
    dy_from_abs_.resize(y.shape());
    kernels::abs_backward(dy_from_abs_.data(), dy_abs.data(), y.data(), y.numel());
    for (index_t k = 0; k < dy_.numel(); ++k) dy_[k] += dy_from_abs_[k];
    return g_a_.backward(dy_);
  }
  // The Module contract: the distortion path only (no rate term).
  const Tensor<T>& backward(const Tensor<T>& dx_hat) override { return backward(dx_hat, 0.0); }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    entropy_bottleneck_.collect_parameters(this->join(prefix, "entropy_bottleneck"), out);
    g_a_.collect_parameters(this->join(prefix, "g_a"), out);
    g_s_.collect_parameters(this->join(prefix, "g_s"), out);
    h_a_.collect_parameters(this->join(prefix, "h_a"), out);
    h_s_.collect_parameters(this->join(prefix, "h_s"), out);
  }
  void collect_buffers(const std::string& prefix, std::vector<Buffer<T>>& out) override {
    g_a_.collect_buffers(this->join(prefix, "g_a"), out);
    g_s_.collect_buffers(this->join(prefix, "g_s"), out);
    h_a_.collect_buffers(this->join(prefix, "h_a"), out);
    h_s_.collect_buffers(this->join(prefix, "h_s"), out);
  }
  void set_training(bool on) override {
    Module<T>::set_training(on);
    g_a_.set_training(on);
    g_s_.set_training(on);
    h_a_.set_training(on);
    h_s_.set_training(on);
    entropy_bottleneck_.set_training(on);
    gaussian_conditional_.set_training(on);
  }

 private:
  void check_image(const Shape& in) const {
    CAE_CHECK(in.rank() == 3 && in[0] == 3 && in[1] % kStride == 0 && in[2] % kStride == 0 &&
                  in[1] > 0 && in[2] > 0,
              ShapeError, describe(), ": expected RGB images [3, H, W] with H and W multiples of ",
              kStride, ", got ", in);
  }

  index_t N_, M_;
  Sequential<T> g_a_, g_s_, h_a_, h_s_;
  EntropyBottleneck<T> entropy_bottleneck_;
  GaussianConditional<T> gaussian_conditional_;
  const Tensor<T>* y_ = nullptr;  // g_a's output, kept for the gradient of |y|
  Tensor<T> y_abs_, dy_, dscales_, dy_from_abs_;
};

}  // namespace cae::codec
