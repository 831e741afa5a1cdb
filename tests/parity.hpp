// Golden tests against PyTorch (llm.c's idea): tests/make_fixtures.py writes,
// for each layer and configuration, a safetensors file under
// tests/fixtures/<layer>/<case>.safetensors holding, in float64:
//   input, output, grad_output, grad_input      (grad_input may be absent)
//   param.<name>        parameter values, PyTorch state_dict names
//   grad.<name>         expected parameter gradients
//   buffer.<name>       buffers before forward (BatchNorm running statistics)
//   buffer_after.<name> buffers after one forward
// and metadata "config" (a JSON object of the layer's options, plus
// "training": true/false). The layer is built from the config, the weights are
// copied in, and forward/backward are compared in float and in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <dirent.h>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "cae/io/json.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/loss.hpp"
#include "cae/module.hpp"

namespace cae::testing {

inline std::string fixture_dir() { return CAE_FIXTURE_DIR; }

// Sorted paths of tests/fixtures/<group>/*.safetensors.
inline std::vector<std::string> fixture_files(const std::string& group) {
  std::vector<std::string> out;
  const std::string dir = fixture_dir() + "/" + group;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 12 && n.substr(n.size() - 12) == ".safetensors") out.push_back(dir + "/" + n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Fixture {
  safetensors::File file;
  json::Value config;

  explicit Fixture(const std::string& path) : file(safetensors::File::load(path)) {
    auto it = file.metadata().find("config");
    config = it == file.metadata().end() ? json::Value(json::Object{})
                                         : json::parse(it->second, path + " config");
  }
  bool has(const std::string& key) const { return config.contains(key); }
  double config_double(const std::string& key) const { return config[key].as_number(); }
  int config_int(const std::string& key) const { return static_cast<int>(config[key].as_number()); }
  bool config_bool(const std::string& key) const { return config[key].as_bool(); }
  std::string config_string(const std::string& key) const { return config[key].as_string(); }
  // A number or a [h, w] pair, as PyTorch accepts for kernel_size, stride, ...
  std::pair<int, int> config_pair(const std::string& key) const {
    const json::Value& v = config[key];
    if (v.is_number()) return {static_cast<int>(v.as_number()), static_cast<int>(v.as_number())};
    return {static_cast<int>(v.as_array().at(0).as_number()),
            static_cast<int>(v.as_array().at(1).as_number())};
  }
  template <typename T>
  Tensor<T> tensor(const std::string& name) const { return file.get<T>(name); }
};

// Relative to the size of the expected values: float GEMMs of a few hundred
// terms carry errors near 1e-6 of the largest magnitude.
template <typename T>
void check_close(const std::string& what, const Tensor<T>& actual, const Tensor<T>& expected) {
  INFO(what << ": shape " << actual.shape() << " vs expected " << expected.shape());
  REQUIRE(actual.shape() == expected.shape());
  const double rtol = sizeof(T) == 4 ? 2e-5 : 1e-10;
  double scale = 0;
  for (index_t i = 0; i < expected.numel(); ++i) scale = std::max(scale, std::abs(double(expected[i])));
  index_t bad = 0, first_bad = -1;
  for (index_t i = 0; i < expected.numel(); ++i) {
    const double a = actual[i], e = expected[i];
    if (!(std::abs(a - e) <= rtol * (std::abs(e) + scale) + 1e-30)) {
      if (first_bad < 0) first_bad = i;
      ++bad;
    }
  }
  if (bad) {
    INFO(what << ": " << bad << " of " << expected.numel() << " elements differ; first at " << first_bad
              << ": " << double(actual[first_bad]) << " vs " << double(expected[first_bad]));
    CHECK(bad == 0);
  } else {
    SUCCEED();
  }
}

template <typename T>
using ModuleFactory = std::function<std::unique_ptr<Module<T>>(const Fixture&)>;

template <typename T>
void run_parity_case(const std::string& path, const ModuleFactory<T>& make) {
  INFO("fixture " << path);
  Fixture f(path);
  std::unique_ptr<Module<T>> m = make(f);
  const Tensor<T> x = f.tensor<T>("input");
  m->build(x.shape().drop_front());
  m->train(f.has("training") ? f.config_bool("training") : true);
  for (auto& p : m->parameters()) {
    INFO("parameter " << p.name);
    REQUIRE(f.file.contains("param." + p.name));
    *p.value = f.tensor<T>("param." + p.name);
  }
  for (auto& b : m->buffers()) {
    if (f.file.contains("buffer." + b.name)) *b.value = f.tensor<T>("buffer." + b.name);
  }
  m->zero_grad();
  const Tensor<T>& y = m->forward(x);
  check_close("output", y, f.tensor<T>("output"));
  for (auto& b : m->buffers()) {
    if (f.file.contains("buffer_after." + b.name))
      check_close("buffer " + b.name, *b.value, f.tensor<T>("buffer_after." + b.name));
  }
  const Tensor<T>& dx = m->backward(f.tensor<T>("grad_output"));
  if (f.file.contains("grad_input")) check_close("grad_input", dx, f.tensor<T>("grad_input"));
  for (auto& p : m->parameters()) check_close("grad " + p.name, *p.grad, f.tensor<T>("grad." + p.name));
}

// Runs every fixture of a layer group in float and in double. `make` builds the
// module from a fixture's config; it is called with T = float and T = double.
template <typename MakeFn>
void check_parity_cases(const std::string& group, MakeFn make) {
  const auto files = fixture_files(group);
  INFO("fixtures for " << group << " in " << fixture_dir());
  REQUIRE(!files.empty());
  for (const auto& path : files) {
    run_parity_case<float>(path, [&](const Fixture& f) { return make.template operator()<float>(f); });
    run_parity_case<double>(path, [&](const Fixture& f) { return make.template operator()<double>(f); });
  }
}

}  // namespace cae::testing

namespace cae::testing {

// Loss fixtures hold prediction, target, loss (a 1-element tensor) and
// grad_prediction; `make` builds the loss from the config, for T = float and double.
template <typename MakeFn>
void check_loss_parity_cases(const std::string& group, MakeFn make) {
  const auto files = fixture_files(group);
  INFO("fixtures for " << group << " in " << fixture_dir());
  REQUIRE(!files.empty());
  auto run = [&](auto tag, const std::string& path) {
    using T = typename decltype(tag)::type;
    INFO("fixture " << path);
    Fixture f(path);
    std::unique_ptr<Loss<T>> loss = make.template operator()<T>(f);
    const T value = loss->forward(f.tensor<T>("prediction"), f.tensor<T>("target"));
    Tensor<T> got({1});
    got[0] = value;
    check_close("loss", got, f.tensor<T>("loss").reshape({1}));
    check_close("grad_prediction", loss->backward(), f.tensor<T>("grad_prediction"));
  };
  for (const auto& path : files) {
    run(std::type_identity<float>{}, path);
    run(std::type_identity<double>{}, path);
  }
}

}  // namespace cae::testing
