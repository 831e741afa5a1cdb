#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cae/codec.hpp"
#include "cae/io/image.hpp"
#include "cae/parallel.hpp"
#include "parity.hpp"

using namespace cae;

namespace {

double numeric_derivative(const std::function<double()>& f, double& x, double eps = 1e-6) {
  const double saved = x;
  x = saved + eps;
  const double plus = f();
  x = saved - eps;
  const double minus = f();
  x = saved;
  return (plus - minus) / (2 * eps);
}

// A small hyperprior with random weights, saved where a Codec can load it.
std::string small_hyperprior(const std::string& name, std::uint64_t seed) {
  codec::ScaleHyperprior<float> m(4, 6);
  m.build({3, 64, 64});
  Rng rng(seed);
  for (auto& p : m.parameters())
    if (p.name.find("weight") != std::string::npos)
      for (index_t k = 0; k < p.value->numel(); ++k)
        (*p.value)[k] += float(rng.uniform() - 0.5) * 0.05f;
  // Latents of several units against the small scales an untrained h_s predicts:
  // some y symbols fall outside their tables and take the escape path.
  for (auto& p : m.parameters())
    if (p.name == "g_a.6.weight")
      for (index_t k = 0; k < p.value->numel(); ++k) (*p.value)[k] *= 30.0f;
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  io::save_safetensors(m, path);
  return path;
}

}  // namespace

TEST_CASE("abs kernel pair: |x| and dy * sign(x), sign(0) = 0", "[hyperprior][gradcheck]") {
  std::vector<double> x = {-2.5, -1e-3, 0.0, 0.7, 3.0};
  std::vector<double> y(x.size()), dy = {0.3, -1.0, 2.0, 0.5, -0.25}, dx(x.size());
  kernels::abs_forward(y.data(), x.data(), index_t(x.size()));
  kernels::abs_backward(dx.data(), dy.data(), x.data(), index_t(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK(y[i] == std::abs(x[i]));
    if (x[i] == 0) {
      CHECK(dx[i] == 0.0);  // torch.abs's subgradient at 0
      continue;
    }
    auto loss = [&]() {
      std::vector<double> out(x.size());
      kernels::abs_forward(out.data(), x.data(), index_t(x.size()));
      double s = 0;
      for (std::size_t j = 0; j < x.size(); ++j) s += dy[j] * out[j];
      return s;
    };
    CHECK(dx[i] == Approx(numeric_derivative(loss, x[i])).margin(1e-9));
  }
}

TEST_CASE("ScaleHyperprior has CompressAI's state_dict names and shapes", "[hyperprior]") {
  codec::ScaleHyperprior<float> m(8, 12);
  CHECK(m.build({3, 128, 64}) == Shape{3, 128, 64});
  std::map<std::string, Shape> got;
  for (const auto& t : io::state_dict(m)) got[t.name] = t.value->shape();
  CHECK(got.at("g_a.0.weight") == Shape{8, 3, 5, 5});
  CHECK(got.at("g_a.6.weight") == Shape{12, 8, 5, 5});
  CHECK(got.at("g_a.1.gamma") == Shape{8, 8});
  CHECK(got.at("g_s.0.weight") == Shape{12, 8, 5, 5});
  CHECK(got.at("g_s.6.weight") == Shape{8, 3, 5, 5});
  CHECK(got.at("h_a.0.weight") == Shape{8, 12, 3, 3});
  CHECK(got.at("h_a.2.weight") == Shape{8, 8, 5, 5});
  CHECK(got.at("h_a.4.weight") == Shape{8, 8, 5, 5});
  CHECK(got.at("h_s.0.weight") == Shape{8, 8, 5, 5});
  CHECK(got.at("h_s.2.weight") == Shape{8, 8, 5, 5});
  CHECK(got.at("h_s.4.weight") == Shape{12, 8, 3, 3});
  CHECK(got.at("h_s.4.bias") == Shape{12});
  CHECK(got.at("entropy_bottleneck._matrix0") == Shape{8, 3, 1});
  CHECK(got.at("entropy_bottleneck.quantiles") == Shape{8, 1, 3});
  // 7 + 7 layers with weight and bias or beta and gamma, 3 + 3 convolutions, 12 density tensors.
  CHECK(got.size() == 14 * 2 + 6 * 2 + 12);
  CHECK_THROWS_AS(m.build({3, 96, 64}), ShapeError);  // 96 is not a multiple of 64
}

TEST_CASE("ScaleHyperprior rate-distortion gradients", "[hyperprior][gradcheck]") {
  manual_seed(4);
  codec::ScaleHyperprior<double> model(3, 4);
  model.build({3, 64, 64});
  Rng rng(2);
  for (auto& p : model.parameters()) {
    if (p.name.find("gamma") != std::string::npos) p.value->fill_uniform(rng, 0.05, 0.4);
    // Scales well above the 0.11 bound, where its one-sided gradient is the true one.
    if (p.name == "h_s.4.bias") p.value->fill_uniform(rng, 0.8, 1.2);
  }
  Tensor<double> x({1, 3, 64, 64});
  x.fill_uniform(rng, 0, 1);
  const double w = 1.0 / 4096;
  auto seed_noise = [&]() {
    model.entropy_bottleneck().noise_rng().seed_with(5);
    model.gaussian_conditional().noise_rng().seed_with(6);
  };
  auto loss = [&]() {
    seed_noise();
    const Tensor<double>& xh = model.forward(x);
    double mse = 0;
    for (index_t k = 0; k < xh.numel(); ++k) mse += (xh[k] - x[k]) * (xh[k] - x[k]);
    return 10 * mse / double(xh.numel()) + w * model.bits();
  };
  seed_noise();
  const Tensor<double>& xh = model.forward(x);
  Tensor<double> xh_grad(xh.shape());
  for (index_t k = 0; k < xh.numel(); ++k) xh_grad[k] = 20 * (xh[k] - x[k]) / double(xh.numel());
  CHECK(model.y_bits() > 0);
  CHECK(model.z_bits() > 0);
  model.zero_grad();
  model.backward(xh_grad, w);
  int checked = 0;
  for (auto& p : model.parameters()) {
    if (p.name == "entropy_bottleneck.quantiles") continue;
    const Tensor<double> g = *p.grad;
    for (index_t k = 0; k < g.numel(); k += std::max<index_t>(1, g.numel() / 4)) {
      const double n = numeric_derivative(loss, (*p.value)[k]);
      INFO(p.name << "[" << k << "]");
      CHECK(g[k] == Approx(n).margin(1e-6).epsilon(1e-4));
      ++checked;
    }
  }
  CHECK(checked > 100);
}

namespace {
template <typename T>
void hyperprior_parity(const std::string& path) {
  INFO("fixture " << path << (sizeof(T) == 4 ? " (float)" : " (double)"));
  testing::Fixture f(path);
  const index_t N = f.config_int("N"), M = f.config_int("M");
  codec::ScaleHyperprior<T> model(N, M, TrainingQuantization::StraightThrough);
  const Tensor<T> x = f.tensor<T>("input");
  model.build(x.shape().drop_front());
  for (auto& p : model.parameters()) {
    INFO("parameter " << p.name);
    REQUIRE(f.file.contains("param." + p.name));
    *p.value = f.tensor<T>("param." + p.name);
  }
  model.train();
  model.zero_grad();
  const Tensor<T>& xh = model.forward(x);
  testing::check_close("x_hat", xh, f.tensor<T>("x_hat"));
  testing::check_close("y_likelihoods", model.y_likelihoods(), f.tensor<T>("y_likelihoods"));
  testing::check_close("z_likelihoods", model.z_likelihoods(), f.tensor<T>("z_likelihoods"));
  const index_t pixels = x.dim(0) * x.dim(2) * x.dim(3);
  const double rd = f.config_double("lambda") * 255.0 * 255.0;
  Tensor<T> dxh(xh.shape());
  double se = 0;
  for (index_t k = 0; k < xh.numel(); ++k) {
    const double d = double(xh[k]) - double(x[k]);
    se += d * d;
    dxh[k] = static_cast<T>(rd * 2 * d / double(xh.numel()));
  }
  const double loss = rd * se / double(xh.numel()) + model.bits() / double(pixels);
  CHECK(loss == Approx(f.tensor<double>("loss")[0]).epsilon(sizeof(T) == 4 ? 1e-5 : 1e-10));
  model.backward(dxh, 1.0 / double(pixels));
  for (auto& p : model.parameters())
    testing::check_close("grad " + p.name, *p.grad, f.tensor<T>("grad." + p.name));
}
}  // namespace

TEST_CASE("ScaleHyperprior matches PyTorch: likelihoods, x_hat, RD-loss gradients", "[hyperprior]") {
  const auto files = testing::fixture_files("codec_hyperprior");
  REQUIRE(!files.empty());
  for (const auto& path : files) {
    hyperprior_parity<double>(path);
    hyperprior_parity<float>(path);
  }
}

TEST_CASE("Gaussian conditional integer tables are the committed constants", "[hyperprior]") {
  // The tables depend only on the scale table and the tail mass; pinning their
  // hash makes a libm or compiler that would give other integers (and so
  // files no other build decodes) fail here rather than in the field.
  const std::vector<codec::CdfTable> tables =
      codec::Codec::gaussian_cdf_tables(GaussianConditional<float>());
  REQUIRE(tables.size() == 64);
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](std::uint64_t v) {
    for (int b = 0; b < 8; ++b) {
      h ^= (v >> (8 * b)) & 0xFF;
      h *= 0x100000001b3ull;
    }
  };
  std::size_t entries = 0;
  for (const auto& t : tables) {
    codec::check_cdf_table(t, "gaussian table");
    mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(t.offset)));
    for (std::uint32_t c : t.cdf) mix(c);
    entries += t.cdf.size();
  }
  CHECK(tables.front().offset == -1);   // ceil(0.11 * 6.11) = 1
  CHECK(tables.back().offset == -1565);  // ceil(256 * 6.1094)
  CHECK(entries == 27256);               // as CompressAI's: sum of 2 c + 1 symbols, + 2 each
  CHECK(codec::hex64(h) == "0xab50cdcd4e1ed615");
}

TEST_CASE("Hyperprior Codec: two streams, decoded bit-exactly at 1 and 2 threads",
          "[hyperprior][codec]") {
  codec::Codec c(small_hyperprior("cae_test_hyperprior_a.safetensors", 1));
  REQUIRE(c.kind() == codec::ModelKind::ScaleHyperprior);
  CHECK(c.stride() == 64);
  Tensor<float> grey({1, 37, 53});
  for (index_t k = 0; k < grey.numel(); ++k) grey[k] = float(k % 97) / 97.0f;
  const std::string photos = std::string(CAE_FIXTURE_DIR) + "/../data/photos/";
  int escapes = 0;
  for (const Tensor<float>& img : {io::load_image(photos + "BytheWater.png", 3),
                                   io::load_image(photos + "ColorfulCups.png", 3), grey}) {
    for (int enc_threads : {1, 2}) {
      set_num_threads(enc_threads);
      const std::vector<std::uint8_t> bytes = c.encode(img);
      const Tensor<float> own = c.reconstruct(img);
      const codec::CaeFile f = codec::parse_cae(bytes, "a.cae");
      REQUIRE(f.latent_shapes.size() == 2);
      REQUIRE(f.streams.size() == 2);
      const index_t Hp = (img.dim(1) + 63) / 64 * 64, Wp = (img.dim(2) + 63) / 64 * 64;
      CHECK(f.latent_shapes[0] == Shape{6, Hp / 16, Wp / 16});
      CHECK(f.latent_shapes[1] == Shape{4, Hp / 64, Wp / 64});
      // The escape path is exercised: some y symbols fall outside their table.
      const codec::QuantizedLatents q = c.quantize(img);
      const Tensor<float> z_hat = c.hyperprior().entropy_bottleneck().dequantize(q.z, q.z_shape);
      const std::vector<std::int32_t> idx = c.scale_indexes(z_hat);
      for (std::size_t i = 0; i < q.y.size(); ++i) {
        const codec::CdfTable& t = c.gaussian_tables()[static_cast<std::size_t>(idx[i])];
        escapes += q.y[i] < t.offset || q.y[i] >= t.offset + t.num_symbols();
      }
      set_num_threads(3 - enc_threads);
      const Tensor<float> decoded = c.decode(bytes, "a.cae");
      REQUIRE(decoded.shape() == img.shape());
      for (index_t k = 0; k < own.numel(); ++k) REQUIRE(decoded[k] == own[k]);
      // Also bit-exact against the other thread count's encoder.
      CHECK(c.encode(img) == bytes);
    }
  }
  CHECK(escapes > 0);
  set_num_threads(2);
}

TEST_CASE("Hyperprior Codec rejects broken and mismatched files naming them", "[hyperprior][codec]") {
  codec::Codec a(small_hyperprior("cae_test_hyperprior_b.safetensors", 2));
  Tensor<float> img({3, 40, 70});
  for (index_t k = 0; k < img.numel(); ++k) img[k] = float(k % 13) / 13.0f;
  const std::vector<std::uint8_t> bytes = a.encode(img);
  auto expect_error = [&](const std::vector<std::uint8_t>& bad, const char* what) {
    INFO(what);
    try {
      a.decode(bad, "bad.cae");
      FAIL("no exception");
    } catch (const cae::Error& e) {
      CHECK(std::string(e.what()).find("bad.cae") != std::string::npos);
    }
  };
  expect_error(std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 3), "truncated");
  std::vector<std::uint8_t> flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x10;
  expect_error(flipped, "flipped byte");
  // A one-latent file with this model's id: the shapes are checked before any decoding.
  codec::CaeFile f = codec::parse_cae(bytes, "ok.cae");
  f.latent_shapes.pop_back();
  f.streams.pop_back();
  expect_error(codec::write_cae(f), "one latent");
  CHECK_THROWS_AS(a.model(), Error);  // not a factorized prior
}
