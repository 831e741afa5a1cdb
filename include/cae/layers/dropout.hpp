// Dropout(p): inverted dropout as torch.nn.Dropout. In training each element
// is zeroed with probability p and the survivors are scaled by 1 / (1 - p), so
// eval mode is the identity and needs no rescaling.
//
// The mask comes from the layer's own Rng, seeded at construction from
// cae::global_rng() (so manual_seed() makes whole runs reproducible) or
// explicitly with seed(). freeze_mask() makes training-mode forward reuse the
// last mask instead of drawing a new one; gradient checks need that, since they
// call forward many times and compare against one backward.
#pragma once

#include <cstdint>
#include <string>

#include "cae/module.hpp"
#include "cae/random.hpp"

namespace cae {

template <typename T>
class Dropout : public Module<T> {
 public:
  explicit Dropout(double p = 0.5) : p_(p), rng_(global_rng().next_u64()) {
    CAE_CHECK(p >= 0 && p <= 1, Error, "Dropout: probability p must be in [0, 1], got ", p);
  }

  // Restarts the mask stream, e.g. to replay the masks of a run.
  Dropout& seed(std::uint64_t s) {
    rng_.seed_with(s);
    return *this;
  }
  // While frozen, training-mode forward reuses the last mask when the input
  // shape is unchanged (a new one is drawn only when there is none of that shape).
  Dropout& freeze_mask(bool on = true) {
    frozen_ = on;
    return *this;
  }
  double p() const { return p_; }
  // Per element of the last training-mode input: 0 (dropped) or 1 / (1 - p).
  const Tensor<T>& mask() const { return mask_; }

  std::string describe() const override {
    std::string p = str(p_);
    if (p.find_first_of(".e") == std::string::npos) p += ".0";  // Python prints floats as 0.0
    return "Dropout(p=" + p + ", inplace=False)";
  }
  Shape build(const Shape& input) override { return input; }

  // In eval mode (or with p = 0) the output is x itself, not a copy.
  const Tensor<T>& forward(const Tensor<T>& x) override {
    active_ = this->training_ && p_ > 0;
    if (!active_) return x;
    if (!(frozen_ && has_mask_ && mask_.shape() == x.shape())) draw_mask(x.shape());
    y_.resize(x.shape());
    const T* m = mask_.data();
    const T* xs = x.data();
    T* ys = y_.data();
    const index_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n > 32768)
    for (index_t i = 0; i < n; ++i) ys[i] = xs[i] * m[i];
    return y_;
  }

  // dx = dy * mask: the gradient flows only through the kept elements, scaled alike.
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    if (!active_) return this->input_grad_ ? dy : this->no_input_gradient();
    CAE_CHECK(dy.shape() == mask_.shape(), ShapeError, describe(), ": gradient shape ", dy.shape(),
              " does not match output shape ", mask_.shape());
    if (!this->input_grad_) return this->no_input_gradient();
    dx_.resize(dy.shape());
    const T* m = mask_.data();
    const T* g = dy.data();
    T* d = dx_.data();
    const index_t n = dy.numel();
#pragma omp parallel for simd schedule(static) if (n > 32768)
    for (index_t i = 0; i < n; ++i) d[i] = g[i] * m[i];
    return dx_;
  }

 private:
  // Drawn serially from one stream, so a seed gives the same mask on any thread count.
  void draw_mask(const Shape& shape) {
    mask_.resize(shape);
    const T keep = p_ < 1 ? static_cast<T>(1.0 / (1.0 - p_)) : T(0);
    for (T& m : mask_) m = rng_.uniform() < p_ ? T(0) : keep;
    has_mask_ = true;
  }

  double p_;
  Rng rng_;
  bool frozen_ = false, has_mask_ = false, active_ = false;
  Tensor<T> mask_, y_, dx_;
};

}  // namespace cae
