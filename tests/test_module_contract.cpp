// Every layer and loss through the one contract check (module_contract.hpp).
//
// Adding a layer: one line in `layer_cases()` below. A layer class that the
// library defines but this file does not run fails "every layer class in the
// library is covered": it reads include/cae/layers/*.hpp and losses.hpp and
// lists each concrete class deriving (directly or through a base) from
// Module<T> or Loss<T>, so a new header is found without anyone registering it.
#include <dirent.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "cae/layers/activation.hpp"
#include "cae/layers/adaptive_pool.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/dropout.hpp"
#include "cae/layers/gdn.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/pixel_shuffle.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/residual.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/layers/softmax.hpp"
#include "cae/layers/upsample.hpp"
#include "cae/losses.hpp"
#include "module_contract.hpp"

using namespace cae;
using cae::testing::ContractOptions;

namespace {

struct LayerCase {
  std::string type;
  std::function<ModulePtr<double>()> make_double;
  std::function<ModulePtr<float>()> make_float;
  Shape input;
  ContractOptions options;
};

// A case from one factory written once for both element types.
template <typename Make>
LayerCase layer_case(std::string type, Make make, Shape input, ContractOptions o = {}) {
  return {std::move(type), [make] { return make.template operator()<double>(); },
          [make] { return make.template operator()<float>(); }, std::move(input), o};
}

// GDN with its stored parameters drawn away from the reparametrisation's lower
// bound: at the bound (gamma's off-diagonal at initialisation) the gradient is
// one-sided by design (CompressAI's LowerBound), which central differences cannot check.
template <typename T>
ModulePtr<T> gdn_away_from_bound(bool inverse) {
  auto g = std::make_unique<GDN<T>>(GDNOptions(3).inverse(inverse));
  Rng rng(11);
  g->beta().fill_uniform(rng, T(0.5), T(1.5));
  g->gamma().fill_uniform(rng, T(0.05), T(0.6));
  return g;
}

template <typename T>
Sequential<T> small_body() {
  Sequential<T> body;
  body.add(Conv2d<T>(Conv2dOptions(3, 3, 3).padding(1)));
  body.add(Tanh<T>());
  return body;
}

std::vector<LayerCase> layer_cases() {
  ContractOptions stochastic;
  stochastic.stochastic_in_training = true;
  return {
      layer_case("Conv2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Conv2d<T>>(Conv2dOptions(3, 4, 3).stride(2).padding(1)); }, {2, 3, 7, 6}),
      layer_case("ConvTranspose2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<ConvTranspose2d<T>>(
            ConvTranspose2dOptions(3, 2, 3).stride(2).padding(1).output_padding(1)); }, {2, 3, 4, 5}),
      layer_case("Linear", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Linear<T>>(LinearOptions(6, 4)); }, {3, 6}),
      layer_case("ReLU", []<typename T>() -> ModulePtr<T> { return std::make_unique<ReLU<T>>(); }, {2, 3, 4}),
      layer_case("LeakyReLU", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<LeakyReLU<T>>(0.1); }, {2, 3, 4}),
      layer_case("Sigmoid", []<typename T>() -> ModulePtr<T> { return std::make_unique<Sigmoid<T>>(); }, {2, 5}),
      layer_case("Tanh", []<typename T>() -> ModulePtr<T> { return std::make_unique<Tanh<T>>(); }, {2, 5}),
      layer_case("MaxPool2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<MaxPool2d<T>>(MaxPool2dOptions(3).stride(2).padding(1)); }, {2, 2, 7, 6}),
      layer_case("MaxPool2d", []<typename T>() -> ModulePtr<T> {  // the running-max path
        return std::make_unique<MaxPool2d<T>>(MaxPool2dOptions(5).stride(1)); }, {1, 2, 9, 9}),
      layer_case("AvgPool2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<AvgPool2d<T>>(AvgPool2dOptions(3).stride(2).padding(1)); }, {2, 2, 7, 6}),
      layer_case("Upsample", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Upsample<T>>(
            UpsampleOptions().scale_factor(2).mode(UpsampleMode::Bilinear)); }, {2, 2, 3, 4}),
      layer_case("BatchNorm1d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<BatchNorm1d<T>>(4); }, {5, 4}),
      layer_case("BatchNorm2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<BatchNorm2d<T>>(3); }, {2, 3, 4, 3}),
      layer_case("InstanceNorm2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<InstanceNorm2d<T>>(3); }, {2, 3, 4, 3}),
      layer_case("GDN", []<typename T>() -> ModulePtr<T> { return gdn_away_from_bound<T>(false); },
                 {2, 3, 4, 5}),
      layer_case("GDN", []<typename T>() -> ModulePtr<T> { return gdn_away_from_bound<T>(true); },
                 {2, 3, 4, 5}),
      layer_case("Softmax", []<typename T>() -> ModulePtr<T> { return std::make_unique<Softmax<T>>(1); }, {3, 5}),
      layer_case("LogSoftmax", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<LogSoftmax<T>>(1); }, {3, 5}),
      layer_case("Dropout", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Dropout<T>>(0.3); }, {3, 8}, stochastic),
      layer_case("Flatten", []<typename T>() -> ModulePtr<T> { return std::make_unique<Flatten<T>>(); }, {2, 3, 2, 2}),
      layer_case("Reshape", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Reshape<T>>(std::vector<index_t>{3, 4}); }, {2, 12}),
      layer_case("Sequential", []<typename T>() -> ModulePtr<T> {
        auto s = std::make_unique<Sequential<T>>(Shape{3, 5, 5});
        s->add(Conv2d<T>(Conv2dOptions(3, 4, 3)));
        s->add(ReLU<T>());
        s->add(Flatten<T>());
        s->add(Linear<T>(2));
        return s; }, {2, 3, 5, 5}),
      layer_case("Residual", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Residual<T>>(small_body<T>()); }, {2, 3, 4, 4}),
      layer_case("GELU", []<typename T>() -> ModulePtr<T> { return std::make_unique<GELU<T>>(); }, {2, 3, 4}),
      layer_case("GELU", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<GELU<T>>(GELUOptions().approximate("tanh")); }, {2, 3, 4}),
      layer_case("SiLU", []<typename T>() -> ModulePtr<T> { return std::make_unique<SiLU<T>>(); }, {2, 3, 4}),
      layer_case("ELU", []<typename T>() -> ModulePtr<T> { return std::make_unique<ELU<T>>(0.5); }, {2, 3, 4}),
      layer_case("SELU", []<typename T>() -> ModulePtr<T> { return std::make_unique<SELU<T>>(); }, {2, 3, 4}),
      layer_case("Softplus", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Softplus<T>>(SoftplusOptions().beta(2).threshold(1)); }, {2, 3, 4}),
      layer_case("Hardswish", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Hardswish<T>>(); }, {2, 3, 4}),
      layer_case("Hardsigmoid", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<Hardsigmoid<T>>(); }, {2, 3, 4}),
      layer_case("Mish", []<typename T>() -> ModulePtr<T> { return std::make_unique<Mish<T>>(); }, {2, 3, 4}),
      layer_case("PReLU", []<typename T>() -> ModulePtr<T> { return std::make_unique<PReLU<T>>(); }, {2, 3, 4}),
      layer_case("PReLU", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<PReLU<T>>(PReLUOptions().num_parameters(3)); }, {2, 3, 4, 2}),
      layer_case("Softmax", []<typename T>() -> ModulePtr<T> { return std::make_unique<Softmax<T>>(-1); }, {2, 3, 5}),
      layer_case("LogSoftmax", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<LogSoftmax<T>>(-2); }, {2, 3, 4, 2}),
      layer_case("PixelShuffle", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<PixelShuffle<T>>(2); }, {2, 8, 3, 2}),
      layer_case("PixelUnshuffle", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<PixelUnshuffle<T>>(2); }, {2, 2, 4, 6}),
      layer_case("AdaptiveAvgPool2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<AdaptiveAvgPool2d<T>>(AdaptiveAvgPool2dOptions({3, 2})); }, {2, 2, 7, 5}),
      layer_case("AdaptiveAvgPool2d", []<typename T>() -> ModulePtr<T> {  // global
        return std::make_unique<AdaptiveAvgPool2d<T>>(1); }, {2, 3, 4, 5}),
      layer_case("AdaptiveMaxPool2d", []<typename T>() -> ModulePtr<T> {
        return std::make_unique<AdaptiveMaxPool2d<T>>(AdaptiveMaxPool2dOptions({3, 4})); }, {2, 2, 7, 5}),
  };
}

// The concrete Module / Loss classes defined under include/cae/layers and in losses.hpp.
std::set<std::string> library_classes() {
  const std::string include = std::string(CAE_FIXTURE_DIR) + "/../../include/cae/";
  std::vector<std::string> files{include + "losses.hpp"};
  if (DIR* d = opendir((include + "layers").c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 4 && name.substr(name.size() - 4) == ".hpp") files.push_back(include + "layers/" + name);
    }
    closedir(d);
  }
  REQUIRE(files.size() > 5);
  // class Name : public [ns::]Base<...
  const std::regex declaration(R"(class\s+(\w+)(?:\s+final)?\s*:\s*public\s+(?:\w+::)*(\w+)\s*<)");
  std::map<std::string, std::string> base_of;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), declaration), end; it != end; ++it)
      base_of[(*it)[1]] = (*it)[2];
  }
  auto is_module = [&](std::string name) {
    for (int depth = 0; depth < 8; ++depth) {
      if (name == "Module" || name == "Loss") return depth > 0;
      auto it = base_of.find(name);
      if (it == base_of.end()) return false;
      name = it->second;
    }
    return false;
  };
  std::set<std::string> bases, classes;
  for (const auto& [name, base] : base_of) bases.insert(base);
  for (const auto& [name, base] : base_of)
    if (is_module(name) && !bases.count(name)) classes.insert(name);
  return classes;
}

}  // namespace

TEST_CASE("every layer follows the module contract", "[contract]") {
  for (const auto& c : layer_cases())
    testing::check_module_contract(c.type, c.make_double, c.make_float, c.input, c.options);
}

TEST_CASE("every loss follows the loss contract", "[contract]") {
  Rng rng(4);
  Tensor<double> p({4, 3}), t({4, 3}), probabilities({4, 3}), labels({4});
  p.fill_uniform(rng, -1.0, 1.0);
  t.fill_uniform(rng, 0.1, 0.9);
  probabilities.fill_uniform(rng, 0.1, 0.9);
  for (index_t i = 0; i < 4; ++i) labels[i] = static_cast<double>(i % 3);
  {MSELoss<double> l; MSELoss<float> f; testing::check_loss_contract("MSELoss", l, f, p, t);}
  {BCELoss<double> l; BCELoss<float> f; testing::check_loss_contract("BCELoss", l, f, probabilities, t);}
  {BCEWithLogitsLoss<double> l; BCEWithLogitsLoss<float> f;
   testing::check_loss_contract("BCEWithLogitsLoss", l, f, p, t);}
  {CrossEntropyLoss<double> l; CrossEntropyLoss<float> f;
   testing::check_loss_contract("CrossEntropyLoss", l, f, p, labels);}
}

TEST_CASE("every layer class in the library is covered by the contract test", "[contract]") {
  std::set<std::string> covered{"MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss"};
  for (const auto& c : layer_cases()) covered.insert(c.type);
  const std::set<std::string> defined = library_classes();
  REQUIRE(defined.count("Conv2d") == 1);  // the scan itself works
  for (const auto& name : defined) {
    INFO(name << " is a layer of the library: add it to layer_cases() in test_module_contract.cpp");
    CHECK(covered.count(name) == 1);
  }
}
