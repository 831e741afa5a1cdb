#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include "cae/layers/activation.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/losses.hpp"
#include "cae/optim/sgd.hpp"
#include "cae/optim/scheduler.hpp"
#include "cae/train/fit.hpp"

using namespace cae;

namespace {

// Two classes of 2x2 images separated by the sign of (pixel0 - pixel3).
data::Dataset separable(index_t n, std::uint64_t seed) {
  data::Dataset d;
  d.class_names = {"a", "b"};
  d.images.resize({n, 1, 2, 2});
  Rng rng(seed);
  d.images.fill_uniform(rng, 0.f, 1.f);
  for (index_t i = 0; i < n; ++i) d.labels.push_back(d.images[i * 4] > d.images[i * 4 + 3] ? 1 : 0);
  return d;
}

Sequential<float> classifier() {
  Sequential<float> net({1, 2, 2});
  net.add(Flatten<float>());
  net.add(Linear<float>(8));
  net.add(Tanh<float>());
  net.add(Linear<float>(2));
  return net;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("cae_test_fit_" + name)).string();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("fit trains a classifier and records its history", "[fit]") {
  manual_seed(3);
  auto train_set = separable(512, 1), test_set = separable(256, 2);
  data::DataLoader train(train_set, data::DataLoaderOptions(32).shuffle(true).seed(5));
  data::DataLoader test(test_set, data::DataLoaderOptions(64).shuffle(false));
  auto net = classifier();
  CrossEntropyLoss<float> loss;
  optim::SGD<float> sgd(net.parameters(), optim::SGDOptions(0.5).momentum(0.9));
  train::Trainer<float> trainer(net, loss, sgd, train::classification<float>());
  int callbacks = 0;
  trainer.on_epoch_end([&](const train::EpochStats& s) { CHECK(s.epoch == ++callbacks); });
  const std::string csv = temp_path("history.csv"), js = temp_path("history.json");
  auto history = trainer.fit(train, &test,
                             train::FitOptions().epochs(8).accuracy(true).history_csv(csv)
                                 .history_json(js).verbose(false).progress(0));
  REQUIRE(history.epochs.size() == 8);
  CHECK(callbacks == 8);
  CHECK(history.last().train_loss < 0.5 * history.epochs.front().train_loss);
  CHECK(history.last().test_accuracy > 0.95);
  CHECK(history.last().images_per_second > 0);
  CHECK(history.mean_epoch_seconds() > 0);
  train::History timed;
  for (double s : {2.0, 4.0, 9.0}) {
    train::EpochStats e;
    e.seconds = s;
    timed.add(e);
  }
  CHECK(timed.mean_epoch_seconds() == Approx(5.0));
  CHECK(train::History().mean_epoch_seconds() == 0);
  const std::string text = read_text(csv);
  CHECK(text.rfind("epoch,train_loss,test_loss,train_acc,test_acc,lr,train_seconds,test_seconds,images_per_s\n", 0) == 0);
  CHECK(std::count(text.begin(), text.end(), '\n') == 9);
  const auto parsed = train::History::from_json(json::parse(read_text(js)));
  REQUIRE(parsed.epochs.size() == 8);
  CHECK(parsed.last().test_accuracy == Approx(history.last().test_accuracy).epsilon(1e-6));
  CHECK(history.last().test_seconds >= 0);  // measured: there was a test loader
  CHECK(parsed.last().test_seconds == Approx(history.last().test_seconds).epsilon(1e-8));  // JSON keeps 9 digits
  std::remove(csv.c_str());
  std::remove(js.c_str());
}

TEST_CASE("fit resumed from a checkpoint matches an uninterrupted run exactly", "[fit][checkpoint]") {
  auto train_set = separable(256, 1);
  auto run = [&](int epochs, const std::string& ckpt, bool resume) {
    manual_seed(11);
    auto net = classifier();
    CrossEntropyLoss<float> loss;
    optim::SGD<float> sgd(net.parameters(), optim::SGDOptions(0.3).momentum(0.9));
    optim::StepLR sched(sgd, 2, 0.5);
    data::DataLoader loader(train_set, data::DataLoaderOptions(32).shuffle(true).seed(9));
    train::Trainer<float> trainer(net, loss, sgd, train::classification<float>());
    trainer.set_scheduler(sched);
    auto history = trainer.fit(loader, nullptr,
                               train::FitOptions().epochs(epochs).checkpoint(ckpt).resume(resume).verbose(false).progress(0));
    std::vector<float> weights;
    for (auto& p : net.parameters()) weights.insert(weights.end(), p.value->begin(), p.value->end());
    return std::make_pair(weights, history);
  };
  const std::string a = temp_path("a.ckpt"), b = temp_path("b.ckpt");
  std::remove(a.c_str());
  std::remove(b.c_str());
  auto [straight, h1] = run(5, a, false);
  run(2, b, false);                        // "crash" after epoch 2
  auto [resumed, h2] = run(5, b, true);    // a fresh process picks up from the file
  CHECK(straight == resumed);
  REQUIRE(h2.epochs.size() == 5);
  CHECK(h2.epochs[4].train_loss == h1.epochs[4].train_loss);
  CHECK(h2.epochs[4].lr == Approx(0.3 * 0.25));
  std::remove(a.c_str());
  std::remove(b.c_str());
}

TEST_CASE("fit refuses to resume from a checkpoint saved under another run key", "[fit][checkpoint]") {
  auto train_set = separable(64, 1);
  const std::string ckpt = temp_path("key.ckpt");
  std::remove(ckpt.c_str());
  auto weights_of = [](Sequential<float>& net) {
    std::vector<float> w;
    for (auto& p : net.parameters()) w.insert(w.end(), p.value->begin(), p.value->end());
    return w;
  };
  // Returns the history, and the weights before and after fit in `before`/`after`.
  std::vector<float> before, after;
  auto fit = [&](int epochs, const std::string& key) {
    manual_seed(3);
    auto net = classifier();
    before = weights_of(net);
    CrossEntropyLoss<float> loss;
    optim::SGD<float> sgd(net.parameters(), optim::SGDOptions(0.1));
    data::DataLoader loader(train_set, data::DataLoaderOptions(16).shuffle(true).seed(2));
    train::Trainer<float> trainer(net, loss, sgd, train::classification<float>());
    struct RecordWeights {  // runs however fit leaves, by return or by throw
      std::function<void()> fn;
      ~RecordWeights() { fn(); }
    } record{[&] { after = weights_of(net); }};
    return trainer.fit(loader, nullptr,
                       train::FitOptions().epochs(epochs).checkpoint(ckpt).resume(true).run_key(key).verbose(false).progress(0));
  };
  fit(2, "images=64 lr=0.1");
  CHECK(io::read_checkpoint_metadata(ckpt).get("run_key") == "images=64 lr=0.1");
  CHECK(before != after);

  try {
    fit(4, "images=64 lr=0.2");
    FAIL("resuming under another run key did not throw");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains(ckpt));
    CHECK_THAT(what, Catch::Contains("'images=64 lr=0.1'"));
    CHECK_THAT(what, Catch::Contains("'images=64 lr=0.2'"));
  }
  CHECK(before == after);  // the refused checkpoint was not loaded into the model
  // The same key continues after epoch 2.
  CHECK(fit(4, "images=64 lr=0.1").epochs.size() == 4);
  // A checkpoint saved without a key only resumes a run without one.
  std::remove(ckpt.c_str());
  fit(1, "");
  CHECK_THROWS_WITH(fit(2, "k"), Catch::Contains("saved with run key ''"));
  std::remove(ckpt.c_str());
}

TEST_CASE("validate_with fills each epoch's test columns before the history is saved", "[fit][checkpoint]") {
  auto train_set = separable(64, 1);
  const std::string ckpt = temp_path("validate.ckpt"), csv = temp_path("validate.csv");
  std::remove(ckpt.c_str());
  auto fit = [&](int epochs) {
    manual_seed(5);
    auto net = classifier();
    CrossEntropyLoss<float> loss;
    optim::SGD<float> sgd(net.parameters(), optim::SGDOptions(0.1));
    data::DataLoader loader(train_set, data::DataLoaderOptions(16).shuffle(true).seed(2));
    train::Trainer<float> trainer(net, loss, sgd, train::classification<float>());
    trainer.validate_with([](train::EpochStats& s) {
      s.test_loss = 10.0 * s.epoch;
      s.test_accuracy = 0.25;
    });
    std::vector<double> seen;
    trainer.on_epoch_end([&](const train::EpochStats& s) { seen.push_back(s.test_loss); });
    auto h = trainer.fit(loader, nullptr,
                         train::FitOptions().epochs(epochs).checkpoint(ckpt).resume(true).history_csv(csv).verbose(false).progress(0));
    return std::make_pair(h, seen);
  };
  auto [first, seen1] = fit(2);
  CHECK(seen1 == std::vector<double>{10.0, 20.0});
  auto [resumed, seen2] = fit(3);  // epochs 1-2 come back from the checkpoint with their test columns
  CHECK(seen2 == std::vector<double>{30.0});
  REQUIRE(resumed.epochs.size() == 3);
  for (int e = 0; e < 3; ++e) {
    CHECK(resumed.epochs[static_cast<std::size_t>(e)].test_loss == 10.0 * (e + 1));
    CHECK(resumed.epochs[static_cast<std::size_t>(e)].test_accuracy == 0.25);
  }
  // test_loss and test_acc, with the train accuracy (not measured) empty between them
  const std::string text = read_text(csv);
  CHECK_THAT(text, Catch::Contains(",10,,0.25,") && Catch::Contains(",20,,0.25,") && Catch::Contains(",30,,0.25,"));
  for (const auto& e : resumed.epochs) CHECK(e.test_seconds >= 0);  // validate_with's time
  std::remove(ckpt.c_str());
  std::remove(csv.c_str());
}

TEST_CASE("fit stops with a clear message on a non-finite loss", "[fit]") {
  manual_seed(1);
  auto train_set = separable(64, 1);
  train_set.images[70] = std::nanf("");  // sample 17
  data::DataLoader loader(train_set, data::DataLoaderOptions(16).shuffle(false));
  auto net = classifier();
  CrossEntropyLoss<float> loss;
  optim::SGD<float> sgd(net.parameters(), optim::SGDOptions(0.1));
  train::Trainer<float> trainer(net, loss, sgd, train::classification<float>());
  CHECK_THROWS_WITH(trainer.fit(loader, nullptr, train::FitOptions().epochs(1).verbose(false).progress(0)),
                    Catch::Contains("loss became nan at epoch 1, batch 2 of 4"));
}
