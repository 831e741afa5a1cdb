// The codec's layers against PyTorch: the fixtures of tests/fixturegen/gen_codec.py
// (plain torch ops after CompressAI's definitions), in float and in double.
//   codec_gdn                 GDN / inverse GDN forward and backward, some stored
//                             gamma below the reparametrisation's bound
//   codec_entropy_bottleneck  the factorized density's likelihoods of given values,
//                             their gradients, and the rounding around the medians
//   codec_gaussian            the Gaussian conditional's likelihoods and gradients
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "cae/codec/entropy_models.hpp"
#include "cae/layers/gdn.hpp"
#include "parity.hpp"

using namespace cae;
using cae::testing::check_close;
using cae::testing::Fixture;

TEST_CASE("GDN and inverse GDN match PyTorch", "[codec][gdn][parity]") {
  testing::check_parity_cases("codec_gdn", []<typename T>(const Fixture& f) -> std::unique_ptr<Module<T>> {
    return std::make_unique<GDN<T>>(GDNOptions(f.config_int("channels")).inverse(f.config_bool("inverse")));
  });
}

namespace {

template <typename T>
void entropy_bottleneck_case(const std::string& path) {
  INFO("fixture " << path << " in " << (sizeof(T) == 8 ? "double" : "float"));
  const Fixture f(path);
  std::vector<index_t> filters;
  for (const auto& v : f.config["filters"].as_array()) filters.push_back(static_cast<index_t>(v.as_number()));
  EntropyBottleneck<T> eb(EntropyBottleneckOptions(f.config_int("channels")).filters(filters));
  const auto params = eb.parameters();
  for (auto& p : params) {
    INFO("parameter " << p.name);
    REQUIRE(f.file.contains("param." + p.name));
    *p.value = f.tensor<T>("param." + p.name);
  }
  // Every tensor the fixture holds for the density is used: none is left unread.
  std::size_t param_tensors = 0;
  for (const auto& n : f.file.names()) param_tensors += n.rfind("param.", 0) == 0;
  CHECK(param_tensors == params.size());
  eb.zero_grad();
  const Tensor<T> x = f.tensor<T>("input");
  check_close("likelihood", eb.likelihood(x), f.tensor<T>("output"));
  check_close("grad_input", eb.likelihood_backward(f.tensor<T>("grad_output")), f.tensor<T>("grad_input"));
  for (auto& p : params) check_close("grad " + p.name, *p.grad, f.tensor<T>("grad." + p.name));

  const std::vector<std::int32_t> symbols = eb.quantize(x);
  const Tensor<T> expected = f.tensor<T>("symbols");
  REQUIRE(static_cast<index_t>(symbols.size()) == expected.numel());
  for (index_t k = 0; k < expected.numel(); ++k) REQUIRE(double(symbols[k]) == double(expected[k]));
  check_close("dequantized", eb.dequantize(symbols, x.shape()), f.tensor<T>("dequantized"));
}

template <typename T>
void gaussian_case(const std::string& path) {
  INFO("fixture " << path << " in " << (sizeof(T) == 8 ? "double" : "float"));
  const Fixture f(path);
  GaussianConditional<T> gc;  // CompressAI's defaults: scale bound 0.11, likelihood bound 1e-9
  const Tensor<T> values = f.tensor<T>("values"), scales = f.tensor<T>("scales");
  check_close("likelihood", gc.likelihood(values, scales), f.tensor<T>("likelihood"));
  Tensor<T> dvalues, dscales;
  gc.likelihood_backward(f.tensor<T>("grad_output"), dvalues, dscales);
  check_close("grad_values", dvalues, f.tensor<T>("grad_values"));
  check_close("grad_scales", dscales, f.tensor<T>("grad_scales"));
}

}  // namespace

TEST_CASE("EntropyBottleneck's density, gradients and rounding match PyTorch", "[codec][parity]") {
  const auto files = testing::fixture_files("codec_entropy_bottleneck");
  REQUIRE(files.size() >= 2);
  for (const auto& path : files) {
    entropy_bottleneck_case<double>(path);
    entropy_bottleneck_case<float>(path);
  }
}

TEST_CASE("GaussianConditional's likelihood and gradients match PyTorch", "[codec][parity]") {
  const auto files = testing::fixture_files("codec_gaussian");
  REQUIRE(!files.empty());
  for (const auto& path : files) {
    gaussian_case<double>(path);
    gaussian_case<float>(path);
  }
}
