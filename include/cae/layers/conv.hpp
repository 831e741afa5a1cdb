// Conv2d and ConvTranspose2d, as torch.nn.Conv2d / ConvTranspose2d (groups=1,
// zero padding).
//
//   Conv2d<float> conv(Conv2dOptions(3, 6, 3).stride(2).padding(1));
//   ConvTranspose2d<float> up(ConvTranspose2dOptions(6, 3, 3).stride(2).padding(1).output_padding(1));
//
// kernel_size, stride, padding, dilation and output_padding take one int for
// both axes or an {h, w} pair. in_channels 0 means "infer it from the input in
// build()", like torch.nn.LazyConv2d: Conv2dOptions(0, 6, 3), or more readably
// Conv2dOptions::lazy(6, 3).
//
// Parameters, named and laid out as PyTorch's state_dict:
//   Conv2d           weight [out, in, kh, kw], bias [out]
//   ConvTranspose2d  weight [in, out, kh, kw], bias [out]
// initialized as torch does (init::torch_default_). Output sizes per axis:
//   Conv2d           (H + 2p - d(k-1) - 1) / s + 1   (rounded down)
//   ConvTranspose2d  (H - 1)s - 2p + d(k-1) + output_padding + 1
// where output_padding must be smaller than the stride or the dilation; it adds
// rows/columns at the bottom/right that receive only the bias.
#pragma once

#include <string>
#include <vector>

#include "cae/init.hpp"
#include "cae/kernels/conv2d.hpp"
#include "cae/kernels/conv/select.hpp"
#include "cae/kernels/conv_transpose2d.hpp"
#include "cae/module.hpp"

namespace cae {

// One size for both axes, or an {h, w} pair (libtorch's ExpandingArray<2>).
struct ExpandingPair {
  ExpandingPair(index_t both) : h(both), w(both) {}  // NOLINT: implicit, so 3 reads as (3, 3)
  ExpandingPair(index_t h_, index_t w_) : h(h_), w(w_) {}
  index_t h, w;
  bool operator==(const ExpandingPair& o) const { return h == o.h && w == o.w; }
  bool operator!=(const ExpandingPair& o) const { return !(*this == o); }
  // "(3, 3)", as Python prints a tuple.
  std::string str() const { return cae::str("(", h, ", ", w, ")"); }
};

namespace detail {

// The options both convolutions share; setters return the derived options so
// calls chain: Conv2dOptions(3, 6, 3).stride(2).padding(1).
template <typename Derived>
class ConvOptionsBase {
 public:
  Derived& stride(ExpandingPair v) { stride_ = v; return self(); }
  Derived& padding(ExpandingPair v) { padding_ = v; return self(); }
  Derived& dilation(ExpandingPair v) { dilation_ = v; return self(); }
  Derived& bias(bool v) { bias_ = v; return self(); }
  // Which algorithm runs (kernels/conv/select.hpp); Auto: the selector's choice.
  Derived& algorithm(kernels::ConvAlgorithm a) { algorithm_ = a; return self(); }

  index_t in_channels() const { return in_channels_; }
  index_t out_channels() const { return out_channels_; }
  ExpandingPair kernel_size() const { return kernel_size_; }
  ExpandingPair stride() const { return stride_; }
  ExpandingPair padding() const { return padding_; }
  ExpandingPair dilation() const { return dilation_; }
  bool bias() const { return bias_; }
  kernels::ConvAlgorithm algorithm() const { return algorithm_; }

 protected:
  ConvOptionsBase(index_t in_channels, index_t out_channels, ExpandingPair kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  // Throws cae::Error naming the layer for options PyTorch would reject.
  void validate(const std::string& layer) const {
    CAE_CHECK(in_channels_ >= 0, Error, layer, ": in_channels must be >= 0 (0: inferred), got ",
              in_channels_);
    CAE_CHECK(out_channels_ > 0, Error, layer, ": out_channels must be positive, got ",
              out_channels_);
    CAE_CHECK(kernel_size_.h > 0 && kernel_size_.w > 0, Error, layer,
              ": kernel_size must be positive, got ", kernel_size_.str());
    CAE_CHECK(stride_.h > 0 && stride_.w > 0, Error, layer, ": stride must be positive, got ",
              stride_.str());
    CAE_CHECK(padding_.h >= 0 && padding_.w >= 0, Error, layer,
              ": padding must be non-negative, got ", padding_.str());
    CAE_CHECK(dilation_.h > 0 && dilation_.w > 0, Error, layer,
              ": dilation must be positive, got ", dilation_.str());
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }

  index_t in_channels_, out_channels_;
  ExpandingPair kernel_size_;
  ExpandingPair stride_ = 1, padding_ = 0, dilation_ = 1;
  bool bias_ = true;
  kernels::ConvAlgorithm algorithm_ = kernels::ConvAlgorithm::Auto;
};

}  // namespace detail

class Conv2dOptions : public detail::ConvOptionsBase<Conv2dOptions> {
 public:
  Conv2dOptions(index_t in_channels, index_t out_channels, ExpandingPair kernel_size)
      : ConvOptionsBase(in_channels, out_channels, kernel_size) {}
  // in_channels inferred from the input: Conv2dOptions::lazy(6, 3) is Conv2dOptions(0, 6, 3).
  static Conv2dOptions lazy(index_t out_channels, ExpandingPair kernel_size) {
    return Conv2dOptions(0, out_channels, kernel_size);
  }
  void validate() const { ConvOptionsBase::validate("Conv2d"); }
};

class ConvTranspose2dOptions : public detail::ConvOptionsBase<ConvTranspose2dOptions> {
 public:
  ConvTranspose2dOptions(index_t in_channels, index_t out_channels, ExpandingPair kernel_size)
      : ConvOptionsBase(in_channels, out_channels, kernel_size) {}
  // in_channels inferred from the input.
  static ConvTranspose2dOptions lazy(index_t out_channels, ExpandingPair kernel_size) {
    return ConvTranspose2dOptions(0, out_channels, kernel_size);
  }
  ConvTranspose2dOptions& output_padding(ExpandingPair v) { output_padding_ = v; return *this; }
  ExpandingPair output_padding() const { return output_padding_; }

  void validate() const {
    ConvOptionsBase::validate("ConvTranspose2d");
    const ExpandingPair op = output_padding_, s = stride(), d = dilation();
    CAE_CHECK(op.h >= 0 && op.w >= 0, Error, "ConvTranspose2d: output_padding must be non-negative, got ",
              op.str());
    CAE_CHECK((op.h < s.h || op.h < d.h) && (op.w < s.w || op.w < d.w), Error,
              "ConvTranspose2d: output_padding must be smaller than either stride or dilation, got "
              "output_padding=", op.str(), ", stride=", s.str(), ", dilation=", d.str());
  }

 private:
  ExpandingPair output_padding_ = 0;
};

namespace detail {

// What Conv2d and ConvTranspose2d share: parameters, buffers, describe(), the
// input checks and the forward/backward plumbing. The derived class supplies
// the weight shape, the geometry and the kernel calls.
template <typename T, typename Options>
class ConvLayer : public Module<T> {
 public:
  const Options& options() const { return options_; }
  index_t in_channels() const { return in_channels_; }
  index_t out_channels() const { return options_.out_channels(); }
  Tensor<T>& weight() { return weight_; }
  Tensor<T>& bias() { return bias_; }  // empty (shape [0]) without a bias
  Tensor<T>& weight_grad() { return weight_grad_; }
  Tensor<T>& bias_grad() { return bias_grad_; }

  void set_scratch(const std::shared_ptr<Scratch>& s) override { workspace_.share(s); }
  // The algorithm the last forward ran, and why (kernels::select_conv_algorithm).
  kernels::ConvChoice algorithm() const { return choice_; }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    if (in_channels_ == 0) return;
    out.push_back({this->join(prefix, "weight"), &weight_, &weight_grad_});
    if (options_.bias()) out.push_back({this->join(prefix, "bias"), &bias_, &bias_grad_});
  }

 protected:
  // transposed: the weight is [in, out, kh, kw] rather than [out, in, kh, kw].
  ConvLayer(const Options& options, const char* name, bool transposed)
      : options_(options), name_(name), transposed_(transposed) {
    options_.validate();
    if (options_.in_channels() > 0) create_parameters(options_.in_channels());
  }

  // "Conv2d(3, 6, kernel_size=(3, 3), stride=(1, 1))" plus what differs from the defaults.
  std::string describe_with(const std::string& extra) const {
    const auto& o = options_;
    std::string s = str(name_, "(", in_channels_, ", ", o.out_channels(), ", kernel_size=",
                        o.kernel_size().str(), ", stride=", o.stride().str());
    if (o.padding() != ExpandingPair(0)) s += ", padding=" + o.padding().str();
    if (o.dilation() != ExpandingPair(1)) s += ", dilation=" + o.dilation().str();
    s += extra;
    if (!o.bias()) s += ", bias=False";
    return s + ")";
  }

  // Checks the per-sample input [C, H, W] and infers in_channels (the derived
  // build() then checks the sizes and records the shape with configured()).
  void configure(const Shape& in) {
    CAE_CHECK(in.rank() == 3 && in[0] > 0, ShapeError, this->describe(),
              ": expected a per-sample input [C, H, W] with C > 0, got ", in);
    if (in_channels_ == 0) create_parameters(in[0]);
    CAE_CHECK(in[0] == in_channels_, ShapeError, this->describe(), ": expected ", in_channels_,
              " input channels, got input ", batch_shape_str(in));
  }
  // The geometry now fits per-sample inputs `in`; forward() skips build() for them.
  Shape configured(const Shape& in, const Shape& out) {
    configured_for_ = in;
    return out;
  }

  // Called on each forward: (re)configures when the input's per-sample shape
  // changed, and picks the algorithm for this batch.
  void prepare_forward(const Tensor<T>& x) {
    CAE_CHECK(x.rank() == 4, ShapeError, this->describe(),
              ": expected an input [N, C, H, W] of rank 4, got shape ", x.shape());
    const Shape in = x.shape().drop_front();
    if (in != configured_for_ || in_channels_ == 0) this->build(in);
    // The "filters" side of the products (kernels/conv/select.hpp).
    const auto kind = transposed_ ? kernels::ConvKind::ConvTranspose2d : kernels::ConvKind::Conv2d;
    const index_t filters = transposed_ ? in_channels_ : options_.out_channels();
    CAE_CHECK(kernels::conv_algorithm_supports(options_.algorithm(), kind, geometry_), Error,
              this->describe(), ": algorithm ", kernels::to_string(options_.algorithm()),
              " cannot run input ", batch_shape_str(in),
              " (Winograd: Conv2d, 3x3, stride 1, no dilation, padding <= 2, output >= 2x2)");
    choice_ = kernels::select_conv_algorithm<T>(kind, geometry_, filters, x.dim(0),
                                                options_.algorithm());
    this->remember_input(x);
  }

  // Checks dy and gives the input-gradient buffer, or null when it is switched off.
  T* prepare_backward(const Tensor<T>& dy) {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    if (!this->input_grad_) return nullptr;
    dx_.resize(x.shape());
    return dx_.data();
  }
  const Tensor<T>& input_gradient() const {
    return this->input_grad_ ? dx_ : this->no_input_gradient();
  }

  T* bias_data() { return options_.bias() ? bias_.data() : nullptr; }
  T* bias_grad_data() { return options_.bias() ? bias_grad_.data() : nullptr; }

  Options options_;
  const char* name_;
  bool transposed_;
  index_t in_channels_ = 0;
  // Empty tensors have shape [0]: a default Tensor has rank 0 and one element.
  Tensor<T> weight_, weight_grad_, bias_{Shape{0}}, bias_grad_{Shape{0}};
  Shape configured_for_;
  kernels::ConvGeometry geometry_;
  Tensor<T> y_, dx_;
  kernels::ConvWorkspace<T> workspace_;
  kernels::ConvChoice choice_{kernels::ConvAlgorithm::Auto, "no forward yet"};

 private:
  void create_parameters(index_t in_channels) {
    in_channels_ = in_channels;
    const index_t out = options_.out_channels();
    const ExpandingPair k = options_.kernel_size();
    weight_ = transposed_ ? Tensor<T>({in_channels, out, k.h, k.w})
                          : Tensor<T>({out, in_channels, k.h, k.w});
    init_grad(weight_, weight_grad_);
    if (options_.bias()) {
      bias_ = Tensor<T>({options_.out_channels()});
      init_grad(bias_, bias_grad_);
    }
    init::torch_default_(weight_, options_.bias() ? &bias_ : nullptr);
  }
};

}  // namespace detail

template <typename T>
class Conv2d : public detail::ConvLayer<T, Conv2dOptions> {
  using Base = detail::ConvLayer<T, Conv2dOptions>;

 public:
  explicit Conv2d(const Conv2dOptions& options) : Base(options, "Conv2d", false) {}

  std::string describe() const override { return this->describe_with(""); }

  // in: [C, H, W]. Returns [out_channels, Ho, Wo].
  Shape build(const Shape& in) override {
    this->configure(in);
    const auto& o = this->options_;
    kernels::ConvGeometry g;  // kept only once it passes the checks
    g.channels = in[0];
    g.height = in[1];
    g.width = in[2];
    g.kernel_h = o.kernel_size().h;
    g.kernel_w = o.kernel_size().w;
    g.stride_h = o.stride().h;
    g.stride_w = o.stride().w;
    g.pad_h = o.padding().h;
    g.pad_w = o.padding().w;
    g.dilation_h = o.dilation().h;
    g.dilation_w = o.dilation().w;
    const index_t padded_h = g.height + 2 * g.pad_h, padded_w = g.width + 2 * g.pad_w;
    const index_t extent_h = g.dilation_h * (g.kernel_h - 1) + 1;
    const index_t extent_w = g.dilation_w * (g.kernel_w - 1) + 1;
    CAE_CHECK(g.height > 0 && g.width > 0 && padded_h >= extent_h && padded_w >= extent_w, ShapeError, describe(), ": input ",
              batch_shape_str(in), " is too small: padded to ", padded_h, "x", padded_w,
              " it is smaller than the kernel's extent ", extent_h, "x", extent_w,
              " (kernel_size with dilation)");
    g.out_h = kernels::conv_output_size(g.height, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h);
    g.out_w = kernels::conv_output_size(g.width, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w);
    this->geometry_ = g;
    return this->configured(in, {o.out_channels(), g.out_h, g.out_w});
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->prepare_forward(x);
    const auto& g = this->geometry_;
    const index_t N = x.dim(0);
    this->y_.resize({N, this->out_channels(), g.out_h, g.out_w});
    kernels::conv2d_forward(this->y_.data(), x.data(), this->weight_.data(), this->bias_data(), N,
                            this->out_channels(), g, this->workspace_, this->choice_.algorithm);
    return this->y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    T* dx = this->prepare_backward(dy);
    kernels::conv2d_backward(dx, this->weight_grad_.data(), this->bias_grad_data(), dy.data(),
                             this->saved_input().data(), this->weight_.data(), dy.dim(0),
                             this->out_channels(), this->geometry_, this->workspace_,
                             this->choice_.algorithm);
    return this->input_gradient();
  }
};

template <typename T>
class ConvTranspose2d : public detail::ConvLayer<T, ConvTranspose2dOptions> {
  using Base = detail::ConvLayer<T, ConvTranspose2dOptions>;

 public:
  explicit ConvTranspose2d(const ConvTranspose2dOptions& options)
      : Base(options, "ConvTranspose2d", true) {}

  std::string describe() const override {
    const ExpandingPair op = this->options_.output_padding();
    return this->describe_with(op != ExpandingPair(0) ? ", output_padding=" + op.str() : "");
  }

  // in: [C, H, W]. Returns [out_channels, Ho, Wo].
  Shape build(const Shape& in) override {
    this->configure(in);
    const auto& o = this->options_;
    // The geometry of the convolution this layer is the transpose of: its
    // image is our output, its positions our input pixels. Kept only once it
    // passes the checks.
    kernels::ConvGeometry g;
    g.channels = o.out_channels();
    g.out_h = in[1];
    g.out_w = in[2];
    g.kernel_h = o.kernel_size().h;
    g.kernel_w = o.kernel_size().w;
    g.stride_h = o.stride().h;
    g.stride_w = o.stride().w;
    g.pad_h = o.padding().h;
    g.pad_w = o.padding().w;
    g.dilation_h = o.dilation().h;
    g.dilation_w = o.dilation().w;
    g.height = kernels::conv_transpose_output_size(in[1], g.kernel_h, g.stride_h, g.pad_h,
                                                   g.dilation_h, o.output_padding().h);
    g.width = kernels::conv_transpose_output_size(in[2], g.kernel_w, g.stride_w, g.pad_w,
                                                  g.dilation_w, o.output_padding().w);
    CAE_CHECK(in[1] > 0 && in[2] > 0 && g.height > 0 && g.width > 0, ShapeError, describe(),
              ": input ", batch_shape_str(in), " gives an output of ", g.height, "x", g.width,
              ", which is not positive");
    this->geometry_ = g;
    return this->configured(in, {o.out_channels(), g.height, g.width});
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->prepare_forward(x);
    const auto& g = this->geometry_;
    const index_t N = x.dim(0);
    this->y_.resize({N, g.channels, g.height, g.width});
    kernels::conv_transpose2d_forward(this->y_.data(), x.data(), this->weight_.data(),
                                      this->bias_data(), N, this->in_channels_, g,
                                      this->workspace_, this->choice_.algorithm);
    return this->y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    T* dx = this->prepare_backward(dy);
    kernels::conv_transpose2d_backward(dx, this->weight_grad_.data(), this->bias_grad_data(),
                                       dy.data(), this->saved_input().data(),
                                       this->weight_.data(), dy.dim(0), this->in_channels_,
                                       this->geometry_, this->workspace_, this->choice_.algorithm);
    return this->input_gradient();
  }
};

}  // namespace cae
