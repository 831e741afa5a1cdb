#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "cae/layers/conv.hpp"
#include "cae/parallel.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

namespace {

// ---- a direct, loop-by-loop convolution to check the fast paths against ----

struct NaiveConv {
  index_t kh, kw, sh, sw, ph, pw, dh, dw;
};

// y [N, Cout, Ho, Wo] = conv(x [N, Cin, H, W], w [Cout, Cin, kh, kw]) + b
Tensor<double> naive_conv(const Tensor<double>& x, const Tensor<double>& w, const Tensor<double>* b,
                          const NaiveConv& c, index_t Ho, index_t Wo) {
  const index_t N = x.dim(0), Cin = x.dim(1), H = x.dim(2), W = x.dim(3), Cout = w.dim(0);
  Tensor<double> y({N, Cout, Ho, Wo}, 0.0);
  for (index_t n = 0; n < N; ++n)
    for (index_t co = 0; co < Cout; ++co)
      for (index_t oh = 0; oh < Ho; ++oh)
        for (index_t ow = 0; ow < Wo; ++ow) {
          double s = b ? (*b)[co] : 0.0;
          for (index_t ci = 0; ci < Cin; ++ci)
            for (index_t i = 0; i < c.kh; ++i)
              for (index_t j = 0; j < c.kw; ++j) {
                const index_t ih = oh * c.sh - c.ph + i * c.dh, iw = ow * c.sw - c.pw + j * c.dw;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                  s += w[((co * Cin + ci) * c.kh + i) * c.kw + j] * x[((n * Cin + ci) * H + ih) * W + iw];
              }
          y[((n * Cout + co) * Ho + oh) * Wo + ow] = s;
        }
  return y;
}

// The adjoint of naive_conv in x: dx [N, Cin, H, W] from dy [N, Cout, Ho, Wo].
Tensor<double> naive_conv_input_grad(const Tensor<double>& dy, const Tensor<double>& w,
                                     const NaiveConv& c, index_t H, index_t W) {
  const index_t N = dy.dim(0), Cout = dy.dim(1), Ho = dy.dim(2), Wo = dy.dim(3), Cin = w.dim(1);
  Tensor<double> dx({N, Cin, H, W}, 0.0);
  for (index_t n = 0; n < N; ++n)
    for (index_t co = 0; co < Cout; ++co)
      for (index_t oh = 0; oh < Ho; ++oh)
        for (index_t ow = 0; ow < Wo; ++ow) {
          const double d = dy[((n * Cout + co) * Ho + oh) * Wo + ow];
          for (index_t ci = 0; ci < Cin; ++ci)
            for (index_t i = 0; i < c.kh; ++i)
              for (index_t j = 0; j < c.kw; ++j) {
                const index_t ih = oh * c.sh - c.ph + i * c.dh, iw = ow * c.sw - c.pw + j * c.dw;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                  dx[((n * Cin + ci) * H + ih) * W + iw] += w[((co * Cin + ci) * c.kh + i) * c.kw + j] * d;
              }
        }
  return dx;
}

// dw [Cout, Cin, kh, kw] = sum over the batch of dy (x) patches of x.
Tensor<double> naive_conv_weight_grad(const Tensor<double>& dy, const Tensor<double>& x,
                                      const NaiveConv& c) {
  const index_t N = dy.dim(0), Cout = dy.dim(1), Ho = dy.dim(2), Wo = dy.dim(3);
  const index_t Cin = x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor<double> dw({Cout, Cin, c.kh, c.kw}, 0.0);
  for (index_t n = 0; n < N; ++n)
    for (index_t co = 0; co < Cout; ++co)
      for (index_t oh = 0; oh < Ho; ++oh)
        for (index_t ow = 0; ow < Wo; ++ow) {
          const double d = dy[((n * Cout + co) * Ho + oh) * Wo + ow];
          for (index_t ci = 0; ci < Cin; ++ci)
            for (index_t i = 0; i < c.kh; ++i)
              for (index_t j = 0; j < c.kw; ++j) {
                const index_t ih = oh * c.sh - c.ph + i * c.dh, iw = ow * c.sw - c.pw + j * c.dw;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                  dw[((co * Cin + ci) * c.kh + i) * c.kw + j] += d * x[((n * Cin + ci) * H + ih) * W + iw];
              }
        }
  return dw;
}

Tensor<double> channel_sums(const Tensor<double>& dy) {
  Tensor<double> db({dy.dim(1)}, 0.0);
  for (index_t n = 0; n < dy.dim(0); ++n)
    for (index_t c = 0; c < dy.dim(1); ++c)
      for (index_t p = 0; p < dy.dim(2) * dy.dim(3); ++p) db[c] += dy[(n * dy.dim(1) + c) * dy.dim(2) * dy.dim(3) + p];
  return db;
}

// Max |a - e| relative to max |e|: float results of long sums against a double reference.
template <typename T>
double relative_error(const Tensor<T>& actual, const Tensor<double>& expected) {
  REQUIRE(actual.shape() == expected.shape());
  double scale = 1e-30, err = 0;
  for (index_t i = 0; i < expected.numel(); ++i) {
    scale = std::max(scale, std::abs(expected[i]));
    err = std::max(err, std::abs(double(actual[i]) - expected[i]));
  }
  return err / scale;
}

Tensor<double> random_tensor(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<double> t(s);
  t.fill_uniform(rng, -1.0, 1.0);
  return t;
}

// Runs forward and backward of a Conv2d in T and checks y, dx, dW, db against
// the direct loops in double.
template <typename T>
void check_conv_against_naive(const Conv2dOptions& options, const Shape& input_shape,
                              double tolerance) {
  Conv2d<T> conv(options);
  INFO(conv.describe() << " on input " << input_shape);
  const Shape out = conv.build(input_shape.drop_front());
  const Tensor<double> x = random_tensor(input_shape, 11);
  const Tensor<double> dy = random_tensor(out.prepend(input_shape[0]), 12);
  const Tensor<double> w = conv.weight().template cast<double>();
  const Tensor<double> b = options.bias() ? conv.bias().template cast<double>() : Tensor<double>();
  const NaiveConv c{options.kernel_size().h, options.kernel_size().w, options.stride().h,
                    options.stride().w, options.padding().h, options.padding().w,
                    options.dilation().h, options.dilation().w};

  const Tensor<T> xt = x.cast<T>();
  conv.zero_grad();
  const Tensor<T>& y = conv.forward(xt);
  CHECK(relative_error(y, naive_conv(x, w, options.bias() ? &b : nullptr, c, out[1], out[2])) <
        tolerance);
  const Tensor<T>& dx = conv.backward(dy.cast<T>());
  CHECK(relative_error(dx, naive_conv_input_grad(dy, w, c, input_shape[2], input_shape[3])) <
        tolerance);
  CHECK(relative_error(conv.weight_grad(), naive_conv_weight_grad(dy, x, c)) < tolerance);
  // A sum with cancellation: relative to its inputs rather than to its result.
  if (options.bias()) CHECK(relative_error(conv.bias_grad(), channel_sums(dy)) < 10 * tolerance);
}

// The same for ConvTranspose2d, whose forward is the input gradient of the
// convolution from its output back to its input (roles of x and dy swapped).
template <typename T>
void check_conv_transpose_against_naive(const ConvTranspose2dOptions& options,
                                        const Shape& input_shape, double tolerance) {
  ConvTranspose2d<T> up(options);
  INFO(up.describe() << " on input " << input_shape);
  const Shape out = up.build(input_shape.drop_front());
  const Tensor<double> x = random_tensor(input_shape, 21);
  const Tensor<double> dy = random_tensor(out.prepend(input_shape[0]), 22);
  const Tensor<double> w = up.weight().template cast<double>();
  const NaiveConv c{options.kernel_size().h, options.kernel_size().w, options.stride().h,
                    options.stride().w, options.padding().h, options.padding().w,
                    options.dilation().h, options.dilation().w};

  Tensor<double> expected_y = naive_conv_input_grad(x, w, c, out[1], out[2]);
  if (options.bias()) {
    const index_t plane = out[1] * out[2];
    for (index_t n = 0; n < input_shape[0]; ++n)
      for (index_t co = 0; co < out[0]; ++co)
        for (index_t p = 0; p < plane; ++p) expected_y[(n * out[0] + co) * plane + p] += up.bias()[co];
  }
  up.zero_grad();
  const Tensor<T> xt = x.cast<T>();  // forward keeps a pointer to its input until backward
  CHECK(relative_error(up.forward(xt), expected_y) < tolerance);
  const Tensor<T>& dx = up.backward(dy.cast<T>());
  CHECK(relative_error(dx, naive_conv(dy, w, nullptr, c, input_shape[2], input_shape[3])) <
        tolerance);
  CHECK(relative_error(up.weight_grad(), naive_conv_weight_grad(x, dy, c)) < tolerance);
  if (options.bias()) CHECK(relative_error(up.bias_grad(), channel_sums(dy)) < 10 * tolerance);
}

ExpandingPair pair_of(const testing::Fixture& f, const std::string& key) {
  const auto [h, w] = f.config_pair(key);
  return {h, w};
}

template <typename T>
bool bitwise_equal(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * a.numel()) == 0;
}

// Restores the thread count when a test ends, even by an exception.
struct ThreadCountGuard {
  int saved = num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("the convolutions' GEMM matches a direct product", "[conv][gemm]") {
  // Random shapes across the block edges (12 x 32 micro-tiles, 96 x 512 blocks),
  // strided and transposed operands, overwrite and accumulate.
  Rng rng(17);
  kernels::GemmScratch<float> scratch;
  scratch.reserve();
  int failures = 0;
  for (int trial = 0; trial < 120; ++trial) {
    const index_t m = 1 + rng.below(trial < 60 ? 40 : 150), n = 1 + rng.below(trial < 60 ? 70 : 1200);
    const index_t k = 1 + rng.below(trial < 60 ? 50 : 700);
    const bool ta = rng.bernoulli(0.5), tb = rng.bernoulli(0.5), acc = rng.bernoulli(0.5);
    const index_t lda = (ta ? m : k) + rng.below(3), ldb = (tb ? k : n) + rng.below(3), ldc = n + rng.below(3);
    std::vector<float> a((ta ? k : m) * lda), b((tb ? n : k) * ldb), c(m * ldc);
    for (auto* v : {&a, &b, &c})
      for (float& x : *v) x = static_cast<float>(rng.uniform(-1, 1));
    std::vector<float> expected = c;
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) {
        double sum = acc ? c[i * ldc + j] : 0.0;
        for (index_t p = 0; p < k; ++p)
          sum += double(ta ? a[p * lda + i] : a[i * lda + p]) * double(tb ? b[j * ldb + p] : b[p * ldb + j]);
        expected[i * ldc + j] = static_cast<float>(sum);
      }
    // The same product with A packed beforehand (a convolution's weight).
    std::vector<float> c_packed = c;
    const std::vector<float> c_before = c;
    kernels::gemm<float>(m, n, k, {a.data(), lda, ta}, {b.data(), ldb, tb}, c.data(), ldc, acc, scratch);
    kernels::PackedOperand<float> packed;
    packed.pack(m, k, {a.data(), lda, ta});
    kernels::gemm<float>(packed, n, {b.data(), ldb, tb}, c_packed.data(), ldc, acc, scratch);
    CHECK(c_packed == c);
    // ...and by all threads together: the same sums in the same order.
    std::vector<float> c_parallel = c_before;
    kernels::parallel_gemm<float>(m, n, k, {a.data(), lda, ta}, {b.data(), ldb, tb}, c_parallel.data(),
                                  ldc, acc, scratch);
    CHECK(c_parallel == c);
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < ldc; ++j) {
        // Columns past n belong to someone else and must be left alone.
        const double tol = j < n ? 1e-5 * (k + 1) : 0.0;
        if (!(std::abs(c[i * ldc + j] - expected[i * ldc + j]) <= tol)) {
          if (failures++ < 3)
            UNSCOPED_INFO("m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb
                               << " acc=" << acc << " at (" << i << ", " << j << "): "
                               << c[i * ldc + j] << " vs " << expected[i * ldc + j]);
        }
      }
  }
  CHECK(failures == 0);
}

TEST_CASE("conv output sizes follow PyTorch's formulas", "[conv]") {
  CHECK(kernels::conv_output_size(320, 3, 2, 1, 1) == 160);
  CHECK(kernels::conv_output_size(7, 3, 2, 1, 1) == 4);
  CHECK(kernels::conv_output_size(5, 3, 1, 0, 2) == 1);
  CHECK(kernels::conv_output_size(2, 3, 1, 0, 1) == 0);
  CHECK(kernels::conv_transpose_output_size(160, 3, 2, 1, 1, 1) == 320);
  CHECK(kernels::conv_transpose_output_size(160, 3, 2, 1, 1, 0) == 319);
  CHECK(kernels::conv_transpose_output_size(4, 4, 2, 1, 1, 0) == 8);

  Conv2d<float> down(Conv2dOptions(3, 6, 3).stride(2).padding(1));
  CHECK(down.build({3, 320, 320}) == Shape{6, 160, 160});
  CHECK(down.build({3, 7, 5}) == Shape{6, 4, 3});
  Conv2d<float> asym(Conv2dOptions(2, 4, {3, 1}).stride({2, 1}).padding({0, 2}).dilation({2, 1}));
  CHECK(asym.build({2, 9, 5}) == Shape{4, 3, 9});

  ConvTranspose2d<float> up(ConvTranspose2dOptions(6, 3, 3).stride(2).padding(1).output_padding(1));
  CHECK(up.build({6, 160, 160}) == Shape{3, 320, 320});
  ConvTranspose2d<float> up_odd(ConvTranspose2dOptions(6, 3, 3).stride(2).padding(1));
  CHECK(up_odd.build({6, 160, 160}) == Shape{3, 319, 319});
  ConvTranspose2d<float> dilated(
      ConvTranspose2dOptions(2, 2, 3).dilation(2).output_padding({1, 0}));
  CHECK(dilated.build({2, 4, 4}) == Shape{2, 9, 8});

  // forward produces what build promises
  Tensor<float> x({2, 3, 7, 5}, 0.5f);
  CHECK(down.forward(x).shape() == Shape{2, 6, 4, 3});
}

TEST_CASE("conv describe() prints like PyTorch's repr", "[conv]") {
  CHECK(Conv2d<float>(Conv2dOptions(3, 6, 3).stride(2).padding(1)).describe() ==
        "Conv2d(3, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))");
  CHECK(Conv2d<float>(Conv2dOptions(3, 6, 3)).describe() ==
        "Conv2d(3, 6, kernel_size=(3, 3), stride=(1, 1))");
  CHECK(Conv2d<float>(Conv2dOptions(4, 8, {1, 3}).dilation(2).bias(false)).describe() ==
        "Conv2d(4, 8, kernel_size=(1, 3), stride=(1, 1), dilation=(2, 2), bias=False)");
  CHECK(ConvTranspose2d<float>(ConvTranspose2dOptions(12, 6, 3).stride(2).padding(1).output_padding(1))
            .describe() ==
        "ConvTranspose2d(12, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
        "output_padding=(1, 1))");
  Conv2d<float> lazy(Conv2dOptions::lazy(6, 3));
  CHECK(lazy.describe() == "Conv2d(0, 6, kernel_size=(3, 3), stride=(1, 1))");
  lazy.build({5, 8, 8});
  CHECK(lazy.describe() == "Conv2d(5, 6, kernel_size=(3, 3), stride=(1, 1))");
}

TEST_CASE("conv parameters: PyTorch names, layouts and default init", "[conv]") {
  manual_seed(7);
  Conv2d<float> conv(Conv2dOptions(3, 6, {3, 2}));
  auto params = conv.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[0].value->shape() == Shape{6, 3, 3, 2});
  CHECK(params[1].name == "bias");
  CHECK(params[1].value->shape() == Shape{6});
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3*3*2, for weight and bias.
  const float bound = 1.f / std::sqrt(18.f);
  float wmax = 0;
  for (float v : conv.weight()) wmax = std::max(wmax, std::abs(v));
  for (float v : conv.bias()) CHECK(std::abs(v) <= bound);
  CHECK(wmax <= bound);
  CHECK(wmax > 0.5f * bound);

  // ConvTranspose2d's weight is [in, out, kh, kw], so fan_in = out * kh * kw.
  ConvTranspose2d<float> up(ConvTranspose2dOptions(8, 2, 3).bias(false));
  params = up.parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].value->shape() == Shape{8, 2, 3, 3});
  const float up_bound = 1.f / std::sqrt(18.f);
  float umax = 0;
  for (float v : up.weight()) umax = std::max(umax, std::abs(v));
  CHECK(umax <= up_bound);
  CHECK(umax > 0.5f * up_bound);

  // The same seed gives the same weights.
  manual_seed(7);
  Conv2d<float> again(Conv2dOptions(3, 6, {3, 2}));
  CHECK(bitwise_equal(again.weight(), conv.weight()));
  CHECK(bitwise_equal(again.bias(), conv.bias()));

  // Inferred in_channels: no parameters until build() sees the input.
  Conv2d<float> lazy(Conv2dOptions::lazy(4, 3));
  CHECK(lazy.parameters().empty());
  CHECK(lazy.build({5, 6, 6}) == Shape{4, 4, 4});
  CHECK(lazy.weight().shape() == Shape{4, 5, 3, 3});
  const Tensor<float> w = lazy.weight();
  lazy.build({5, 6, 6});  // idempotent: the weights stay
  CHECK(bitwise_equal(w, lazy.weight()));
}

TEST_CASE("conv gradients", "[conv][gradcheck]") {
  struct Case {
    Conv2dOptions options;
    Shape input;
  };
  const std::vector<Case> cases = {
      {Conv2dOptions(2, 3, 3), {2, 2, 7, 5}},
      {Conv2dOptions(2, 3, 3).stride(2).padding(1), {2, 2, 7, 5}},
      {Conv2dOptions(3, 2, 3).stride(2).padding(1).bias(false), {3, 3, 8, 6}},
      {Conv2dOptions(2, 2, {3, 2}).stride({2, 1}).padding({1, 0}), {2, 2, 7, 5}},
      {Conv2dOptions(2, 2, 3).dilation(2).padding(2), {2, 2, 7, 6}},
      {Conv2dOptions(2, 3, {2, 3}).dilation({2, 1}).stride({1, 2}).padding({0, 1}), {1, 2, 6, 7}},
      {Conv2dOptions(4, 3, 1), {2, 4, 5, 3}},
      {Conv2dOptions(4, 3, 1).stride(2).bias(false), {2, 4, 7, 5}},
      {Conv2dOptions(2, 2, 3).stride(3).padding({2, 1}), {2, 2, 7, 5}},
      {Conv2dOptions::lazy(3, 3).padding(1), {2, 2, 5, 5}},
      {Conv2dOptions(1, 2, 5).padding(2), {5, 1, 5, 4}},  // 5 images: uneven chunks
      // More than 4 filters take im2col + GEMM instead of the direct loops.
      {Conv2dOptions(3, 6, 3).padding(1), {3, 3, 5, 4}},
      {Conv2dOptions(2, 5, {2, 3}).stride({2, 1}).dilation({1, 2}).padding(1), {2, 2, 7, 6}},
      {Conv2dOptions(6, 7, 1).bias(false), {2, 6, 3, 3}},
  };
  for (const auto& c : cases) {
    Conv2d<double> conv(c.options);
    testing::check_module_gradients(conv, c.input);
  }
}

TEST_CASE("conv transpose gradients", "[conv][gradcheck]") {
  struct Case {
    ConvTranspose2dOptions options;
    Shape input;
  };
  const std::vector<Case> cases = {
      {ConvTranspose2dOptions(3, 2, 3), {2, 3, 4, 5}},
      {ConvTranspose2dOptions(3, 2, 3).stride(2).padding(1).output_padding(1), {2, 3, 5, 3}},
      {ConvTranspose2dOptions(2, 2, 4).stride(2).padding(1).bias(false), {2, 2, 3, 4}},
      {ConvTranspose2dOptions(2, 3, {3, 2}).stride({2, 1}).padding({1, 0}).output_padding({1, 0}),
       {2, 2, 4, 5}},
      {ConvTranspose2dOptions(2, 2, 3).dilation(2).padding(1).output_padding(1), {2, 2, 4, 3}},
      {ConvTranspose2dOptions(4, 3, 1), {2, 4, 3, 5}},
      {ConvTranspose2dOptions(3, 2, 1).stride(2).output_padding(1), {2, 3, 3, 4}},
      {ConvTranspose2dOptions(2, 2, 3).stride(3).padding(2).output_padding({2, 0}), {1, 2, 4, 3}},
      {ConvTranspose2dOptions::lazy(2, 3).stride(2), {5, 3, 3, 3}},
      // More than 4 input channels take GEMM + col2im instead of the direct loops.
      {ConvTranspose2dOptions(6, 3, 3).stride(2).padding(1).output_padding(1), {2, 6, 3, 4}},
      {ConvTranspose2dOptions(5, 2, {3, 2}).dilation(2).padding({1, 0}), {3, 5, 4, 3}},
  };
  for (const auto& c : cases) {
    ConvTranspose2d<double> up(c.options);
    testing::check_module_gradients(up, c.input);
  }
}

TEST_CASE("conv parity with PyTorch", "[conv][parity]") {
  testing::check_parity_cases("conv2d", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<Conv2d<T>>(
        Conv2dOptions(f.config_int("in_channels"), f.config_int("out_channels"),
                      pair_of(f, "kernel_size"))
            .stride(pair_of(f, "stride"))
            .padding(pair_of(f, "padding"))
            .dilation(pair_of(f, "dilation"))
            .bias(f.config_bool("bias")));
  });
  testing::check_parity_cases("conv_transpose2d", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<ConvTranspose2d<T>>(
        ConvTranspose2dOptions(f.config_int("in_channels"), f.config_int("out_channels"),
                               pair_of(f, "kernel_size"))
            .stride(pair_of(f, "stride"))
            .padding(pair_of(f, "padding"))
            .output_padding(pair_of(f, "output_padding"))
            .dilation(pair_of(f, "dilation"))
            .bias(f.config_bool("bias")));
  });
}

TEST_CASE("conv fast paths match direct loops", "[conv]") {
  // 1x1 at stride 1: the input is used as the column matrix, no im2col.
  check_conv_against_naive<float>(Conv2dOptions(16, 24, 1), {3, 16, 9, 7}, 2e-6);
  check_conv_against_naive<double>(Conv2dOptions(16, 24, 1).bias(false), {3, 16, 9, 7}, 1e-13);
  // 1x1 at stride 2: a gather.
  check_conv_against_naive<float>(Conv2dOptions(16, 8, 1).stride(2), {2, 16, 9, 7}, 2e-6);
  // Tiny channels on a larger image (the autoencoders' first layer).
  check_conv_against_naive<float>(Conv2dOptions(3, 6, 3).stride(2).padding(1), {2, 3, 40, 36}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(3, 6, 3).padding(1), {1, 3, 33, 20}, 2e-6);
  // Many column tiles per image: tile boundaries must neither drop nor double count.
  check_conv_against_naive<float>(Conv2dOptions(16, 8, 3).padding(1), {2, 16, 40, 64}, 2e-6);
  check_conv_against_naive<double>(Conv2dOptions(16, 8, {3, 5}).stride({1, 2}).padding({2, 1}),
                                   {2, 16, 37, 120}, 1e-13);

  // Small images batched side by side into one GEMM, in uneven groups (13 = 6 + 6 + 1),
  // with the filters and the image channels split into blocks.
  check_conv_against_naive<float>(Conv2dOptions(8, 70, 3).padding(1), {13, 8, 10, 10}, 2e-6);
  check_conv_against_naive<double>(Conv2dOptions(64, 96, 1).bias(false), {7, 64, 6, 6}, 1e-13);
  check_conv_against_naive<float>(Conv2dOptions(64, 80, 2).stride(2), {5, 64, 12, 12}, 2e-6);
  // Many tiles of several images: independent tasks with single-threaded GEMMs.
  check_conv_against_naive<float>(Conv2dOptions(8, 16, 3).padding(1), {50, 8, 10, 10}, 2e-6);
  check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(16, 8, 3).padding(1),
                                            {50, 16, 10, 10}, 2e-6);

  // Few filters: direct loops (register-blocked with AVX-512 at stride 1, up to
  // 16 filters in blocks of 12, 8, 6, 4, 2, 1), also for rows wider than one
  // 64-column block and than 512 columns.
  check_conv_against_naive<float>(Conv2dOptions(6, 16, 5), {3, 6, 14, 14}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(5, 15, {3, 2}).padding(1), {2, 5, 9, 40}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(13, 7, {4, 5}).padding({1, 2}).dilation({1, 2}),
                                  {2, 13, 8, 67}, 2e-6);
  check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(11, 14, 3).padding(1),
                                            {2, 11, 7, 20}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(16, 1, 3).padding(1), {3, 16, 9, 7}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(5, 3, {3, 5}).padding({1, 2}).dilation({1, 2}),
                                  {2, 5, 6, 70}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(2, 4, 3).stride(2).padding(1), {2, 2, 9, 11}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(2, 2, 3).stride({2, 1}), {2, 2, 7, 530}, 2e-6);
  check_conv_against_naive<float>(Conv2dOptions(3, 2, {1, 7}).padding({0, 3}), {1, 3, 4, 20}, 2e-6);
  check_conv_against_naive<double>(Conv2dOptions(6, 3, 3).padding(2).dilation(2), {2, 6, 8, 9}, 1e-13);
  check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(3, 8, 3).padding(1), {2, 3, 9, 70}, 2e-6);
  check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(2, 3, 3).stride(2).output_padding(1),
                                            {2, 2, 5, 6}, 2e-6);

  check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(16, 24, 1), {3, 16, 9, 7}, 2e-6);
  check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(70, 8, 3).padding(1),
                                            {13, 70, 10, 10}, 2e-6);
  check_conv_transpose_against_naive<double>(ConvTranspose2dOptions(96, 64, 1), {7, 96, 6, 6}, 1e-13);
  check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(8, 6, 1).stride(2).output_padding(1),
                                            {2, 8, 9, 7}, 2e-6);
  check_conv_transpose_against_naive<float>(
      ConvTranspose2dOptions(6, 3, 3).stride(2).padding(1).output_padding(1), {2, 6, 20, 18}, 2e-6);
  check_conv_transpose_against_naive<double>(
      ConvTranspose2dOptions(16, 8, 3).stride(2).padding(1).output_padding(1), {2, 16, 30, 64},
      1e-13);
}

TEST_CASE("conv: the Winograd path for 3x3 stride-1 layers matches direct loops", "[conv][winograd]") {
  // Both channel counts >= 32 and at least 8 groups of tiles: F(2x2, 3x3).
  const Conv2dOptions even = Conv2dOptions(32, 33, 3).padding(1);
  REQUIRE(kernels::winograd_applies({32, 28, 28, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1}, 33, 8));
  check_conv_against_naive<float>(even, {8, 32, 28, 28}, 1e-5);
  check_conv_against_naive<double>(even, {8, 32, 28, 28}, 1e-12);
  // Odd output sizes (partial tiles) and the other paddings (the input
  // gradient runs at padding 2 - p).
  check_conv_against_naive<float>(Conv2dOptions(34, 32, 3).bias(false), {8, 34, 29, 27}, 1e-5);
  check_conv_against_naive<float>(Conv2dOptions(32, 36, 3).padding({2, 1}), {9, 32, 25, 26}, 1e-5);
  // Not taken: too few channels, stride 2, dilation 2, too few tiles.
  CHECK_FALSE(kernels::winograd_applies({16, 28, 28, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1}, 33, 8));
  CHECK_FALSE(kernels::winograd_applies({32, 28, 28, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1}, 33, 32));
  CHECK_FALSE(kernels::winograd_applies({32, 28, 28, 24, 24, 3, 3, 1, 1, 0, 0, 2, 2}, 33, 32));
  CHECK_FALSE(kernels::winograd_applies({32, 28, 28, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1}, 33, 4));
}

TEST_CASE("conv: the direct path for few filters matches the GEMM path", "[conv]") {
  // Conv2d(C, 4) runs the direct loops, Conv2d(C, 20) im2col + GEMM. With the
  // first 4 filters shared and the gradient of the other 16 outputs zero, every
  // result of the small layer is part of the large layer's.
  for (const auto& [options, input] : std::vector<std::pair<Conv2dOptions, Shape>>{
           {Conv2dOptions(6, 4, 3).padding(1), {3, 6, 12, 9}},
           {Conv2dOptions(6, 4, 3).stride(2).padding(1).dilation(2), {3, 6, 13, 17}},
           {Conv2dOptions(3, 4, {3, 5}).padding({1, 2}), {2, 3, 30, 70}}}) {
    Conv2d<float> small(options);
    constexpr index_t kWide = 20;
    Conv2d<float> wide(Conv2dOptions(options.in_channels(), kWide, options.kernel_size())
                           .stride(options.stride())
                           .padding(options.padding())
                           .dilation(options.dilation()));
    INFO(small.describe() << " vs " << wide.describe());
    std::copy(small.weight().begin(), small.weight().end(), wide.weight().begin());
    std::copy(small.bias().begin(), small.bias().end(), wide.bias().begin());
    Tensor<float> x(input);
    Rng rng(4);
    x.fill_uniform(rng, -1, 1);
    small.zero_grad();
    wide.zero_grad();
    const Tensor<float>& ys = small.forward(x);
    const Tensor<float>& yw = wide.forward(x);
    Tensor<float> dys(ys.shape()), dyw(yw.shape(), 0.f);
    dys.fill_uniform(rng, -1, 1);
    const index_t N = ys.dim(0), plane = ys.dim(2) * ys.dim(3);
    double y_err = 0;
    for (index_t n = 0; n < N; ++n)
      for (index_t c = 0; c < 4; ++c)
        for (index_t p = 0; p < plane; ++p) {
          y_err = std::max<double>(y_err, std::abs(ys[(n * 4 + c) * plane + p] - yw[(n * kWide + c) * plane + p]));
          dyw[(n * kWide + c) * plane + p] = dys[(n * 4 + c) * plane + p];
        }
    CHECK(y_err < 1e-5);
    CHECK(max_abs_diff(small.backward(dys), wide.backward(dyw)) < 1e-5);
    double w_err = 0;
    for (index_t i = 0; i < small.weight_grad().numel(); ++i)
      w_err = std::max<double>(w_err, std::abs(small.weight_grad()[i] - wide.weight_grad()[i]));
    CHECK(w_err < 1e-4);
  }
}

TEST_CASE("conv weight gradient of a large weight over many tiles", "[conv]") {
  // A weight too large for per-chunk partial sums (1160 x 1160) over 8 tiles of
  // 128 small images: summed tile by tile with all threads. The reference sums
  // the same batch in parts small enough for the few-tiles path.
  kernels::ConvGeometry g;
  g.channels = 290;
  g.height = g.width = 4;
  g.kernel_h = g.kernel_w = g.stride_h = g.stride_w = 2;
  g.out_h = g.out_w = 2;
  const index_t filters = 1160, batch = 1024, K = g.patch_size(), P = g.positions();
  REQUIRE(kernels::make_conv_plan(g, filters, batch).tiles == 8);
  Rng rng(8);
  Tensor<float> x({batch, g.channels, g.height, g.width}), dy({batch, filters, g.out_h, g.out_w});
  x.fill_uniform(rng, -1, 1);
  dy.fill_uniform(rng, -1, 1);
  kernels::ConvWorkspace<float> ws;
  Tensor<float> whole({filters, K}, 0.f);
  kernels::patch_weight_grad(whole.data(), dy.data(), x.data(), batch, filters, g, ws);
  Tensor<float> parts({filters, K}, 0.f);
  for (index_t n = 0; n < batch; n += 512)
    kernels::patch_weight_grad(parts.data(), dy.data() + n * filters * P, x.data() + n * g.image_size(),
                               512, filters, g, ws);
  double scale = 0, err = 0;
  for (index_t i = 0; i < whole.numel(); ++i) {
    scale = std::max(scale, std::abs(double(parts[i])));
    err = std::max(err, std::abs(double(whole[i]) - double(parts[i])));
  }
  CHECK(scale > 1);
  CHECK(err < 1e-5 * scale);
}

TEST_CASE("conv results do not depend on the thread count", "[conv][threads]") {
  ThreadCountGuard guard;
  auto run = [](Module<float>& m, const Tensor<float>& x, int threads) {
    set_num_threads(threads);
    m.zero_grad();
    const Tensor<float> y = m.forward(x);
    Rng rng(5);
    Tensor<float> dy(y.shape());
    dy.fill_uniform(rng, -1, 1);
    std::vector<Tensor<float>> out{y, m.backward(dy)};
    for (auto& p : m.parameters()) out.push_back(*p.grad);
    return out;
  };
  auto check = [&](Module<float>& m, const Shape& input) {
    INFO(m.describe() << " on input " << input);
    Rng rng(3);
    Tensor<float> x(input);
    x.fill_uniform(rng, -1, 1);
    const auto one = run(m, x, 1);
    const auto two = run(m, x, 2);
    const auto three = run(m, x, 3);
    REQUIRE(one.size() == two.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
      INFO("result " << i << " (output, input grad, parameter grads)");
      CHECK(one[i].numel() > 0);
      CHECK(bitwise_equal(one[i], two[i]));
      CHECK(bitwise_equal(one[i], three[i]));
    }
  };
  Conv2d<float> tiny(Conv2dOptions(3, 6, 3).stride(2).padding(1));
  check(tiny, {6, 3, 64, 48});
  Conv2d<float> few_filters(Conv2dOptions(8, 2, 3).padding(1));
  check(few_filters, {11, 8, 20, 24});
  Conv2d<float> tiled(Conv2dOptions(16, 8, 3).padding(1));
  check(tiled, {5, 16, 24, 64});
  Conv2d<float> pointwise(Conv2dOptions(64, 32, 1));
  check(pointwise, {9, 64, 6, 6});
  Conv2d<float> grouped(Conv2dOptions(8, 70, 3).padding(1));
  check(grouped, {13, 8, 10, 10});
  Conv2d<float> winograd(Conv2dOptions(32, 32, 3).padding(1));
  REQUIRE(kernels::winograd_applies({32, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 32, 32));
  check(winograd, {32, 32, 16, 16});
  ConvTranspose2d<float> up(ConvTranspose2dOptions(12, 6, 3).stride(2).padding(1).output_padding(1));
  check(up, {4, 12, 20, 16});
  ConvTranspose2d<float> up_grouped(ConvTranspose2dOptions(70, 8, 3).padding(1));
  check(up_grouped, {13, 70, 10, 10});
}

TEST_CASE("conv backward accumulates, skips the input gradient on request, reuses buffers",
          "[conv]") {
  Conv2d<double> conv(Conv2dOptions(2, 3, 3).padding(1));
  const Tensor<double> x = random_tensor({2, 2, 5, 5}, 1);
  const Tensor<double> dy = random_tensor({2, 3, 5, 5}, 2);
  conv.zero_grad();
  const Tensor<double>& y1 = conv.forward(x);
  const double* y_data = y1.data();
  const Tensor<double> dx1 = conv.backward(dy);
  const Tensor<double> w1 = conv.weight_grad(), b1 = conv.bias_grad();
  const Tensor<double>& y2 = conv.forward(x);
  CHECK(y2.data() == y_data);  // the output buffer is reused
  conv.backward(dy);
  for (index_t i = 0; i < w1.numel(); ++i) CHECK(conv.weight_grad()[i] == Approx(2 * w1[i]));
  for (index_t i = 0; i < b1.numel(); ++i) CHECK(conv.bias_grad()[i] == Approx(2 * b1[i]));

  conv.set_input_grad(false);
  conv.zero_grad();
  conv.forward(x);
  CHECK(conv.backward(dy).empty());
  CHECK(bitwise_equal(conv.weight_grad(), w1));  // parameter gradients are still computed
  CHECK(max_abs_diff(dx1, naive_conv_input_grad(dy, conv.weight(), {3, 3, 1, 1, 1, 1, 1, 1}, 5, 5)) <
        1e-12);

  ConvTranspose2d<double> up(ConvTranspose2dOptions(3, 2, 3).stride(2));
  up.set_input_grad(false);
  up.zero_grad();
  const Tensor<double>& yu = up.forward(dy);
  CHECK(up.backward(yu).empty());
  CHECK(max_abs_diff(up.bias_grad(), channel_sums(yu)) < 1e-12);
}

TEST_CASE("conv rebuilds its column tiles when the input changes in place", "[conv]") {
  // Layers big enough that column tiles are shared between tasks and kept from
  // forward to backward; a second batch in the same buffer must not see them.
  auto check = [](auto make, const Shape& input) {
    auto layer = make();
    auto fresh = make();
    *fresh.parameters()[0].value = *layer.parameters()[0].value;
    Tensor<float> x(input);
    Rng rng(9);
    x.fill_uniform(rng, -1, 1);
    const Tensor<float> dy = layer.forward(x);
    layer.backward(dy);
    x.fill_uniform(rng, -1, 1);  // new data, same buffer
    layer.zero_grad();
    const Tensor<float> y = layer.forward(x);
    const Tensor<float> dx = layer.backward(dy);
    const Tensor<float> w = layer.weight_grad();
    Tensor<float> x_copy = x;
    fresh.zero_grad();
    CHECK(bitwise_equal(fresh.forward(x_copy), y));
    CHECK(bitwise_equal(fresh.backward(dy), dx));
    CHECK(bitwise_equal(fresh.weight_grad(), w));
  };
  check([] { return Conv2d<float>(Conv2dOptions(8, 70, 3).padding(1).bias(false)); }, {13, 8, 10, 10});
  check([] { return ConvTranspose2d<float>(ConvTranspose2dOptions(70, 8, 3).padding(1).bias(false)); },
        {13, 70, 10, 10});
}

TEST_CASE("conv errors name the layer and the offending shape", "[conv][errors]") {
  using Catch::Contains;
  Conv2d<float> conv(Conv2dOptions(3, 6, 3).stride(2).padding(1));
  const std::string name = "Conv2d(3, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))";

  REQUIRE_THROWS_AS(conv.build({4, 32, 32}), ShapeError);
  CHECK_THROWS_WITH(conv.build({4, 32, 32}), Contains(name) && Contains("expected 3 input channels") &&
                                                 Contains("[-1, 4, 32, 32]"));
  CHECK_THROWS_WITH(conv.forward(Tensor<float>({2, 4, 8, 8})),
                    Contains(name) && Contains("[-1, 4, 8, 8]"));
  CHECK_THROWS_WITH(conv.forward(Tensor<float>({3, 8, 8})),
                    Contains(name) && Contains("rank 4") && Contains("[3, 8, 8]"));
  CHECK_THROWS_WITH(conv.build({3, 8}), Contains(name) && Contains("[3, 8]"));

  Conv2d<float> big(Conv2dOptions(3, 6, 5).dilation(2));
  REQUIRE_THROWS_AS(big.build({3, 8, 12}), ShapeError);
  CHECK_THROWS_WITH(big.build({3, 8, 12}), Contains("Conv2d(3, 6, kernel_size=(5, 5)") &&
                                                Contains("[-1, 3, 8, 12]") && Contains("too small") &&
                                                Contains("9x9"));
  CHECK(big.build({3, 9, 12}) == Shape{6, 1, 4});
  // A failed build leaves the layer working for the shape it had.
  Tensor<float> fits({1, 3, 9, 12}, 1.f);
  CHECK(big.forward(fits).shape() == Shape{1, 6, 1, 4});
  CHECK_THROWS_AS(big.build({3, 8, 12}), ShapeError);
  CHECK(big.forward(fits).shape() == Shape{1, 6, 1, 4});
  CHECK_THROWS_WITH(big.forward(Tensor<float>({1, 3, 8, 8})), Contains("too small"));
  CHECK(big.forward(fits).shape() == Shape{1, 6, 1, 4});
  CHECK_THROWS_WITH(Conv2d<float>(Conv2dOptions::lazy(6, 3)).build({0, 8, 8}), Contains("C > 0"));

  Conv2d<float> unbuilt(Conv2dOptions(3, 6, 3));
  CHECK_THROWS_WITH(unbuilt.backward(Tensor<float>({1, 6, 2, 2})), Contains("before forward"));
  Tensor<float> x({1, 3, 4, 4}, 1.f);
  unbuilt.forward(x);
  CHECK_THROWS_WITH(unbuilt.backward(Tensor<float>({1, 6, 3, 2})),
                    Contains("[1, 6, 3, 2]") && Contains("[1, 6, 2, 2]"));

  REQUIRE_THROWS_AS(ConvTranspose2d<float>(ConvTranspose2dOptions(4, 2, 3).stride(2).output_padding(2)),
                    Error);
  CHECK_THROWS_WITH(ConvTranspose2d<float>(ConvTranspose2dOptions(4, 2, 3).stride(2).output_padding(2)),
                    Contains("ConvTranspose2d") && Contains("output_padding") &&
                        Contains("smaller than either stride or dilation") && Contains("(2, 2)"));
  CHECK_THROWS_WITH(ConvTranspose2d<float>(ConvTranspose2dOptions(4, 2, 3).output_padding({0, 1})),
                    Contains("output_padding=(0, 1)"));
  CHECK_NOTHROW(ConvTranspose2d<float>(ConvTranspose2dOptions(4, 2, 3).dilation(2).output_padding(1)));

  ConvTranspose2d<float> shrink(ConvTranspose2dOptions(2, 2, 3).padding(3));
  REQUIRE_THROWS_AS(shrink.build({2, 2, 5}), ShapeError);
  CHECK_THROWS_WITH(shrink.build({2, 2, 5}), Contains("ConvTranspose2d(2, 2") &&
                                                 Contains("[-1, 2, 2, 5]") &&
                                                 Contains("not positive"));
  CHECK_THROWS_WITH(ConvTranspose2d<float>(ConvTranspose2dOptions(3, 2, 3))
                        .build({4, 5, 5}),
                    Contains("expected 3 input channels") && Contains("[-1, 4, 5, 5]"));

  CHECK_THROWS_WITH(Conv2d<float>(Conv2dOptions(3, 0, 3)), Contains("out_channels"));
  CHECK_THROWS_WITH(Conv2d<float>(Conv2dOptions(3, 6, 3).stride(0)), Contains("stride"));
  CHECK_THROWS_WITH(Conv2d<float>(Conv2dOptions(3, 6, {3, 0})), Contains("kernel_size"));
  CHECK_THROWS_WITH(Conv2d<float>(Conv2dOptions(3, 6, 3).padding(-1)), Contains("padding"));
}

// Every algorithm, forced, on every shape it supports, forward and backward,
// against the naive loops in double. The shapes cover what the selector tells
// apart: few and many filters, strides, dilation, padding, 1x1 and 3x3 kernels,
// small and large batches.
TEST_CASE("conv: every algorithm matches the naive loops on every shape it supports",
          "[conv][algorithms]") {
  using kernels::ConvAlgorithm;
  const ConvAlgorithm algorithms[] = {ConvAlgorithm::Direct, ConvAlgorithm::Winograd,
                                      ConvAlgorithm::Im2colGemm};
  struct Case {
    Conv2dOptions options;
    Shape input;
  };
  const std::vector<Case> cases = {
      {Conv2dOptions(3, 4, 3), {2, 3, 8, 9}},
      {Conv2dOptions(16, 8, 3).padding(1), {2, 16, 14, 14}},
      {Conv2dOptions(32, 32, 3).padding(1), {16, 32, 10, 10}},
      {Conv2dOptions(5, 7, 3).padding(2).bias(false), {3, 5, 7, 6}},
      {Conv2dOptions(6, 9, 3).stride(2).padding(1), {4, 6, 11, 9}},
      {Conv2dOptions(4, 6, {3, 5}).dilation({2, 1}).padding({2, 2}), {2, 4, 9, 12}},
      {Conv2dOptions(16, 24, 1), {3, 16, 9, 7}},
      {Conv2dOptions(40, 36, 3).padding(1), {2, 40, 12, 12}},
  };
  for (const auto& c : cases)
    for (ConvAlgorithm a : algorithms) {
      Conv2dOptions options = c.options;
      options.algorithm(a);
      Conv2d<float> probe(c.options);
      const Shape out = probe.build(c.input.drop_front());
      (void)out;
      kernels::ConvGeometry g;
      g.kernel_h = c.options.kernel_size().h, g.kernel_w = c.options.kernel_size().w;
      g.stride_h = c.options.stride().h, g.stride_w = c.options.stride().w;
      g.pad_h = c.options.padding().h, g.pad_w = c.options.padding().w;
      g.dilation_h = c.options.dilation().h, g.dilation_w = c.options.dilation().w;
      g.out_h = out[1], g.out_w = out[2];
      if (!kernels::conv_algorithm_supports(a, kernels::ConvKind::Conv2d, g)) continue;
      INFO("algorithm " << kernels::to_string(a));
      check_conv_against_naive<float>(options, c.input, 2e-5);
      check_conv_against_naive<double>(options, c.input, 1e-12);
      Conv2d<float> forced(options);
      Tensor<float> x(c.input);
      x.fill(0.5f);
      forced.forward(x);
      CHECK(forced.algorithm().algorithm == a);
    }
  for (ConvAlgorithm a : {ConvAlgorithm::Direct, ConvAlgorithm::Im2colGemm}) {
    INFO("algorithm " << kernels::to_string(a));
    check_conv_transpose_against_naive<float>(
        ConvTranspose2dOptions(8, 4, 3).stride(2).padding(1).output_padding(1).algorithm(a),
        {3, 8, 7, 7}, 2e-5);
    check_conv_transpose_against_naive<float>(ConvTranspose2dOptions(16, 2, 3).algorithm(a),
                                              {2, 16, 9, 9}, 2e-5);
    check_conv_transpose_against_naive<double>(
        ConvTranspose2dOptions(12, 10, {3, 2}).dilation(2).padding(1).algorithm(a), {2, 12, 6, 7},
        1e-12);
  }
}

TEST_CASE("conv: the selector's choices, and a forced algorithm that cannot run",
          "[conv][algorithms]") {
  using kernels::ConvAlgorithm;
  auto chosen = [](Conv2dOptions o, Shape in) {
    Conv2d<float> c(o);
    Tensor<float> x(in);
    x.fill(1);
    c.forward(x);
    return c.algorithm();
  };
  CHECK(chosen(Conv2dOptions(3, 4, 3), {2, 3, 8, 8}).algorithm == ConvAlgorithm::Direct);
  CHECK(chosen(Conv2dOptions(32, 32, 3).padding(1), {32, 32, 16, 16}).algorithm ==
        ConvAlgorithm::Winograd);
  CHECK(chosen(Conv2dOptions(8, 32, 3).stride(2), {8, 8, 16, 16}).algorithm ==
        ConvAlgorithm::Im2colGemm);
  // 16 filters take the direct loops only where the AVX-512 ones can run: a runtime fact.
  CHECK((chosen(Conv2dOptions(16, 8, 3).padding(1), {4, 16, 14, 14}).algorithm ==
         ConvAlgorithm::Direct) == kernels::cpu_has_avx512());
  CHECK_THAT(chosen(Conv2dOptions(3, 4, 3), {2, 3, 8, 8}).reason, Catch::Contains("4 filters"));
  Conv2d<float> wrong(Conv2dOptions(3, 4, 3).stride(2).algorithm(ConvAlgorithm::Winograd));
  Tensor<float> x({1, 3, 8, 8});
  CHECK_THROWS_WITH(wrong.forward(x), Catch::Contains("Conv2d(3, 4") && Catch::Contains("winograd"));
}
