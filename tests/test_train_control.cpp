// Training that goes wrong or is cut short: divergence, interruption,
// callbacks that stop training, learning-rate hooks, progress output and the
// history's record of what was measured.
#include <catch2/catch.hpp>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cae/layers/activation.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/losses.hpp"
#include "cae/optim/scheduler.hpp"
#include "cae/optim/sgd.hpp"
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
  const std::string p = (std::filesystem::temp_directory_path() / ("cae_test_control_" + name)).string();
  std::remove(p.c_str());
  return p;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<float> weights_of(Module<float>& net) {
  std::vector<float> w;
  for (auto& p : net.parameters()) w.insert(w.end(), p.value->begin(), p.value->end());
  return w;
}

// Everything one run needs, built the same way each time from one seed.
struct Run {
  data::Dataset train_set = separable(128, 1);
  Sequential<float> net;
  CrossEntropyLoss<float> loss;
  optim::SGD<float> sgd;
  data::DataLoader loader;
  train::Trainer<float> trainer;

  explicit Run(double lr = 0.3, std::uint64_t seed = 11)
      : net((manual_seed(seed), classifier())),
        sgd(net.parameters(), optim::SGDOptions(lr).momentum(0.9)),
        loader(train_set, data::DataLoaderOptions(16).shuffle(true).seed(9)),
        trainer(net, loss, sgd, train::classification<float>()) {}
};

train::FitOptions quiet(int epochs) { return train::FitOptions().epochs(epochs).verbose(false).progress(0); }

// Captures what the process writes to a file descriptor (stdout, stderr) while it lives.
class CaptureFd {
 public:
  explicit CaptureFd(int fd) : fd_(fd), path_(temp_path("capture" + std::to_string(fd))) {
    std::fflush(nullptr);
    saved_ = ::dup(fd_);
    FILE* f = std::fopen(path_.c_str(), "w");
    ::dup2(::fileno(f), fd_);
    std::fclose(f);
  }
  std::string finish() {
    if (saved_ >= 0) {
      std::fflush(nullptr);
      ::dup2(saved_, fd_);
      ::close(saved_);
      saved_ = -1;
    }
    const std::string text = read_text(path_);
    std::remove(path_.c_str());
    return text;
  }
  ~CaptureFd() { finish(); }

 private:
  int fd_, saved_ = -1;
  std::string path_;
};

}  // namespace

TEST_CASE("History tells a non-finite measurement from one not measured", "[fit][history]") {
  train::History h;
  train::EpochStats a;
  a.epoch = 1;
  a.train_loss = std::numeric_limits<double>::quiet_NaN();
  a.test_loss = std::numeric_limits<double>::infinity();
  a.train_accuracy = -std::numeric_limits<double>::infinity();
  a.lr = 0.5;
  a.seconds = 2.5;
  h.add(a);
  CHECK(train::measured(a.train_loss));
  CHECK_FALSE(train::measured(a.test_accuracy));
  CHECK_FALSE(train::measured(train::kNotMeasured * 100));  // derived from nothing measured stays so
  CHECK(train::measured(0.0 / std::atof("0")));            // a NaN the hardware makes is a measurement

  const std::string js = h.to_json().dump();
  CHECK_THAT(js, Catch::Contains("\"train_loss\":\"nan\"") && Catch::Contains("\"test_loss\":\"inf\"") &&
                     Catch::Contains("\"train_acc\":\"-inf\"") && Catch::Contains("\"test_acc\":null") &&
                     Catch::Contains("\"test_seconds\":null") && Catch::Contains("\"train_seconds\":2.5"));
  const train::History back = train::History::from_json(json::parse(js));
  REQUIRE(back.epochs.size() == 1);
  const train::EpochStats& b = back.last();
  CHECK((train::measured(b.train_loss) && std::isnan(b.train_loss)));
  CHECK(b.test_loss == std::numeric_limits<double>::infinity());
  CHECK(b.train_accuracy == -std::numeric_limits<double>::infinity());
  CHECK_FALSE(train::measured(b.test_accuracy));
  CHECK_FALSE(train::measured(b.test_seconds));
  CHECK(b.seconds == 2.5);
  CHECK(h.csv() ==
        "epoch,train_loss,test_loss,train_acc,test_acc,lr,train_seconds,test_seconds,images_per_s\n"
        "1,nan,inf,-inf,,0.5,2.5,,0\n");

  // Files of older versions: "seconds" was the training pass's time, no test time.
  const auto old = train::History::from_json(json::parse(
      R"([{"epoch":1,"train_loss":0.5,"test_loss":null,"seconds":3,"images_per_s":10}])"));
  CHECK(old.last().seconds == 3);
  CHECK_FALSE(train::measured(old.last().test_loss));
  CHECK_FALSE(train::measured(old.last().test_seconds));

  // A missing or unusable epoch number is refused (it was cast to int unchecked).
  for (const char* bad : {R"([{"train_loss":1}])", R"([{"epoch":"nan"}])", R"([{"epoch":1.5}])",
                          R"([{"epoch":0}])", R"([{"epoch":1e300}])"})
    CHECK_THROWS_WITH(train::History::from_json(json::parse(bad)), Catch::Contains("history entry 1: \"epoch\""));
  CHECK_THROWS_WITH(train::History::from_json(json::parse(R"([{"epoch":1},{"epoch":2,"lr":"fast"}])")),
                    Catch::Contains("history entry 2: \"lr\" is \"fast\""));
}

TEST_CASE("an infinite test loss stops fit and leaves the last good checkpoint byte for byte",
          "[fit][divergence][checkpoint]") {
  const std::string ckpt = temp_path("inf_test.ckpt"), js = temp_path("inf_test.json");
  Run run;
  run.trainer.validate_with([](train::EpochStats& s) {
    s.test_loss = s.epoch == 2 ? std::numeric_limits<double>::infinity() : 0.5;
  });
  run.trainer.fit(run.loader, nullptr, quiet(1).checkpoint(ckpt));
  const std::string good = read_text(ckpt);
  REQUIRE(!good.empty());
  try {
    run.trainer.fit(run.loader, nullptr, quiet(3).checkpoint(ckpt).resume(true).history_json(js));
    FAIL("an infinite test loss did not stop training");
  } catch (const train::Diverged& e) {
    CHECK(e.epoch() == 2);
    CHECK(e.quantity() == "test loss");
    CHECK(e.value() == std::numeric_limits<double>::infinity());
    CHECK_THAT(std::string(e.what()), Catch::Contains("test loss became inf at epoch 2") &&
                                          Catch::Contains(ckpt + " was left as saved after epoch 1"));
    REQUIRE(e.history().epochs.size() == 2);
  }
  CHECK(read_text(ckpt) == good);
  // The history file records the infinity as such (null would mean "not measured").
  const auto h = train::History::from_json(json::parse(read_text(js)));
  REQUIRE(h.epochs.size() == 2);
  CHECK(h.epochs[1].test_loss == std::numeric_limits<double>::infinity());
  std::remove(ckpt.c_str());
  std::remove(js.c_str());
}

TEST_CASE("a NaN in a test batch is reported with its batch", "[fit][divergence]") {
  Run run;
  auto test_set = separable(64, 2);
  test_set.images[4 * 40] = std::nanf("");  // sample 40: batch 3 of 16-sample batches
  data::DataLoader test(test_set, data::DataLoaderOptions(16));
  CHECK_THROWS_WITH(run.trainer.fit(run.loader, &test, quiet(2)),
                    Catch::Contains("test loss became nan at epoch 1 (first at batch 3 of the test set"));
  const train::Evaluation e = run.trainer.evaluate(test, false);
  CHECK(e.first_nonfinite_batch == 3);
  CHECK(std::isnan(e.loss));
}

TEST_CASE("a NaN injected in training names the epoch and batch and keeps the checkpoint",
          "[fit][divergence][checkpoint]") {
  const std::string ckpt = temp_path("nan_train.ckpt"), csv = temp_path("nan_train.csv");
  Run run;
  // Sample data is clean; the NaN arrives in epoch 2's third batch only.
  auto clean = train::classification<float>();
  train::Trainer<float> trainer(run.net, run.loss, run.sgd,
                                [&](const data::Batch& b, Tensor<float>& in, Tensor<float>& target, Rng& rng) {
                                  clean(b, in, target, rng);
                                  if (b.epoch == 1 && b.index == 2) in[5] = std::nanf("");
                                });
  std::string good;
  trainer.on_epoch_end([&](const train::EpochStats&) { good = read_text(ckpt); });
  try {
    trainer.fit(run.loader, nullptr, quiet(3).checkpoint(ckpt).history_csv(csv));
    FAIL("a NaN loss did not stop training");
  } catch (const train::Diverged& e) {
    CHECK(e.epoch() == 2);
    CHECK(e.batch() == 3);
    CHECK(e.quantity() == "train loss");
    CHECK_THAT(std::string(e.what()), Catch::Contains("loss became nan at epoch 2, batch 3 of 8"));
  }
  CHECK(io::read_checkpoint_metadata(ckpt).get_int("epoch") == 1);
  CHECK(read_text(ckpt) == good);
  CHECK_THAT(read_text(csv), Catch::Contains("\n2,nan,"));
  std::remove(ckpt.c_str());
  std::remove(csv.c_str());
}

TEST_CASE("weights that became non-finite are never checkpointed", "[fit][divergence][checkpoint]") {
  const std::string ckpt = temp_path("nan_weight.ckpt");
  Run run;
  run.trainer.validate_with([&](train::EpochStats& s) {
    if (s.epoch == 2) (*run.net.parameters()[2].value)[1] = std::numeric_limits<float>::infinity();
  });
  std::string good;
  run.trainer.on_epoch_end([&](const train::EpochStats&) { good = read_text(ckpt); });
  try {
    run.trainer.fit(run.loader, nullptr, quiet(3).checkpoint(ckpt));
    FAIL("an infinite weight was not caught");
  } catch (const train::Diverged& e) {
    CHECK(e.quantity() == "parameter " + run.net.parameters()[2].name);
    CHECK(e.epoch() == 2);
  }
  CHECK(read_text(ckpt) == good);
  CHECK(io::read_checkpoint_metadata(ckpt).get_int("epoch") == 1);
  std::remove(ckpt.c_str());
}

TEST_CASE("the divergence guard catches cross-entropy at lr = 1000, whose loss stays finite",
          "[fit][divergence]") {
  // Without the guard this trains garbage without a single non-finite loss.
  {
    Run run(1000.0);
    const auto h = run.trainer.fit(run.loader, nullptr, quiet(6));
    REQUIRE(h.epochs.size() == 6);
    for (const auto& e : h.epochs) CHECK(std::isfinite(e.train_loss));
  }
  SECTION("gradient norm: stops before the exploding step is applied") {
    Run run(1000.0);
    const std::string ckpt = temp_path("guard.ckpt");
    std::vector<float> before_step;
    run.trainer.on_batch_end([&](const train::BatchStats& b) {
      CHECK(train::measured(b.grad_norm));
      before_step = weights_of(run.net);
    });
    try {
      run.trainer.fit(run.loader, nullptr,
                      quiet(6).checkpoint(ckpt).divergence_guard(train::DivergenceGuard().max_grad_norm(4)));
      FAIL("the guard did not stop a run at lr = 1000");
    } catch (const train::Diverged& e) {
      CHECK(e.quantity() == "gradient norm");
      CHECK(e.value() > 4);
      CHECK(e.batch() > 1);
      CHECK_THAT(std::string(e.what()), Catch::Contains("exceeded the divergence guard's max_grad_norm 4"));
    }
    CHECK(weights_of(run.net) == before_step);  // the last step was not taken
    std::remove(ckpt.c_str());
  }
  SECTION("loss factor against the first batch") {
    // The untrained loss is about ln 2; at lr = 1000 the second batch's is far above 10 times that.
    Run run(1000.0);
    try {
      run.trainer.fit(run.loader, nullptr, quiet(6).divergence_guard(train::DivergenceGuard().loss_factor(10)));
      FAIL("the guard did not stop a run at lr = 1000");
    } catch (const train::Diverged& e) {
      CHECK(e.quantity() == "train loss");
      CHECK(e.epoch() == 1);
      CHECK(e.batch() >= 2);
      CHECK(e.value() > 5);
      CHECK_THAT(std::string(e.what()), Catch::Contains("times the first batch's"));
    }
  }
  SECTION("warn: training goes on") {
    Run run(1000.0);
    CaptureFd err(2);
    const auto h = run.trainer.fit(
        run.loader, nullptr,
        quiet(3).divergence_guard(train::DivergenceGuard().max_grad_norm(4).action(train::GuardAction::warn)));
    const std::string text = err.finish();
    CHECK(h.epochs.size() == 3);
    CHECK_THAT(text, Catch::Contains("cae: warning: the gradient norm"));
  }
  SECTION("a healthy run passes the same guard") {
    Run run(0.3);
    const auto h = run.trainer.fit(
        run.loader, nullptr, quiet(6).divergence_guard(train::DivergenceGuard().max_grad_norm(4).loss_factor(10)));
    CHECK(h.epochs.size() == 6);
  }
}

namespace {
struct sigaction current_action(int sig) {
  struct sigaction sa {};
  ::sigaction(sig, nullptr, &sa);
  return sa;
}
}  // namespace

TEST_CASE("SIGINT during fit saves a checkpoint from which the run resumes bit for bit",
          "[fit][interrupt][checkpoint]") {
  const std::string straight_ckpt = temp_path("straight.ckpt"), ckpt = temp_path("interrupted.ckpt");
  // The learning rate changes every 3 batches, so the scheduler's state inside an epoch matters too.
  auto run_with = [](Run& run, optim::StepLR& sched) { run.trainer.set_scheduler(sched, train::ScheduleStep::batch); };

  Run straight;
  optim::StepLR s1(straight.sgd, 3, 0.9);
  run_with(straight, s1);
  const auto h1 = straight.trainer.fit(straight.loader, nullptr, quiet(3).checkpoint(straight_ckpt));

  const auto int_before = current_action(SIGINT), term_before = current_action(SIGTERM);
  {
    Run run;
    optim::StepLR s2(run.sgd, 3, 0.9);
    run_with(run, s2);
    run.trainer.on_batch_end([](const train::BatchStats& b) {
      if (b.epoch == 2 && b.batch == 5) std::raise(SIGINT);  // as Ctrl-C would, mid-epoch
    });
    int batches_after = 0;
    run.trainer.on_batch_end([&](const train::BatchStats& b) { batches_after += b.epoch == 2 && b.batch > 5; });
    try {
      run.trainer.fit(run.loader, nullptr, quiet(3).checkpoint(ckpt));
      FAIL("SIGINT did not stop fit");
    } catch (const train::Interrupted& e) {
      CHECK(e.signal_number() == SIGINT);
      CHECK_THAT(std::string(e.what()), Catch::Contains("interrupted by SIGINT at epoch 2, after batch 5 of 8") &&
                                            Catch::Contains("saved " + ckpt));
    }
    CHECK(batches_after == 0);  // the batch under way finished, no other began
  }
  // The handlers in place before fit are back.
  CHECK(current_action(SIGINT).sa_handler == int_before.sa_handler);
  CHECK(current_action(SIGTERM).sa_handler == term_before.sa_handler);
  const io::CheckpointMetadata meta = io::read_checkpoint_metadata(ckpt);
  CHECK(meta.get_int("epoch") == 1);
  CHECK(meta.get_int("partial.batches") == 5);

  Run resumed;  // a fresh process: same construction, then resume
  optim::StepLR s3(resumed.sgd, 3, 0.9);
  run_with(resumed, s3);
  const auto h2 = resumed.trainer.fit(resumed.loader, nullptr, quiet(3).checkpoint(ckpt).resume(true));
  CHECK(weights_of(resumed.net) == weights_of(straight.net));
  CHECK(resumed.sgd.lr() == straight.sgd.lr());
  REQUIRE(h2.epochs.size() == 3);
  CHECK(h2.epochs[1].train_loss == h1.epochs[1].train_loss);  // the interrupted epoch, exactly
  CHECK(h2.epochs[2].train_loss == h1.epochs[2].train_loss);
  CHECK(h2.epochs[1].lr == h1.epochs[1].lr);
  // And the files agree in everything but timings: same weights and optimizer state.
  const auto a = io::detail::parse_checkpoint(straight_ckpt), b = io::detail::parse_checkpoint(ckpt);
  REQUIRE(a.model.size() == b.model.size());
  CHECK(a.optimizer_steps == b.optimizer_steps);
  std::remove(straight_ckpt.c_str());
  std::remove(ckpt.c_str());
}

TEST_CASE("SIGINT during the test pass: the resumed run repeats it", "[fit][interrupt][checkpoint]") {
  const std::string ckpt = temp_path("interrupted_test_pass.ckpt");
  auto test_set = separable(64, 2);
  auto fit = [&](bool interrupt, bool resume) {
    Run run;
    data::DataLoader test(test_set, data::DataLoaderOptions(16));
    auto clean = train::classification<float>();
    train::Trainer<float> trainer(run.net, run.loss, run.sgd,
                                  [&](const data::Batch& b, Tensor<float>& in, Tensor<float>& target, Rng& rng) {
                                    clean(b, in, target, rng);
                                    if (interrupt && !run.net.is_training() && b.index == 1 && run.sgd.step_count() == 16)
                                      std::raise(SIGINT);  // epoch 2's test pass, second batch
                                  });
    auto h = trainer.fit(run.loader, &test, quiet(3).checkpoint(ckpt).resume(resume));
    return std::make_pair(h, weights_of(run.net));
  };
  const auto [h1, w1] = fit(false, false);
  std::remove(ckpt.c_str());
  CHECK_THROWS_WITH(fit(true, false), Catch::Contains("SIGINT during the test pass of epoch 2"));
  CHECK(io::read_checkpoint_metadata(ckpt).get_int("partial.batches") == 8);
  const auto [h2, w2] = fit(false, true);
  CHECK(w2 == w1);
  REQUIRE(h2.epochs.size() == 3);
  CHECK(h2.epochs[1].test_loss == h1.epochs[1].test_loss);
  CHECK(h2.epochs[1].train_loss == h1.epochs[1].train_loss);
  std::remove(ckpt.c_str());
}

TEST_CASE("SIGTERM between epochs and without a checkpoint path", "[fit][interrupt]") {
  Run run;
  run.trainer.on_epoch_end([](const train::EpochStats& s) {
    if (s.epoch == 1) std::raise(SIGTERM);
  });
  try {
    run.trainer.fit(run.loader, nullptr, quiet(3));
    FAIL("SIGTERM did not stop fit");
  } catch (const train::Interrupted& e) {
    CHECK(e.signal_number() == SIGTERM);
    CHECK_THAT(std::string(e.what()), Catch::Contains("SIGTERM after epoch 1") &&
                                          Catch::Contains("no checkpoint path was set"));
  }
  // handle_interrupts(false) leaves signals alone.
  Run other;
  other.trainer.on_batch_end([](const train::BatchStats&) {
    CHECK(current_action(SIGINT).sa_handler != train::detail::interrupt_handler);
  });
  other.trainer.fit(other.loader, nullptr, quiet(1).handle_interrupts(false));
}

TEST_CASE("a second signal ends the process at once", "[fit][interrupt]") {
  // In a child process that runs nothing but the guard (no threads, no OpenMP).
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDERR_FILENO);
    train::InterruptGuard guard;
    std::raise(SIGINT);
    if (train::InterruptGuard::pending() != SIGINT) ::_exit(3);
    std::raise(SIGINT);
    ::_exit(4);  // not reached: the second SIGINT terminates
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGINT);
  if (WIFEXITED(status)) FAIL("child exited with status " << WEXITSTATUS(status));
}

TEST_CASE("EarlyStopping stops on a plateau and restores the best weights", "[fit][callbacks]") {
  const std::string ckpt = temp_path("early.ckpt");
  const std::vector<double> losses{5, 4, 4.5, 3.9999, 4.2, 1, 1};
  auto make = [&](Run& run) {
    run.trainer.validate_with([&](train::EpochStats& s) { s.test_loss = losses[static_cast<std::size_t>(s.epoch - 1)]; });
  };
  Run run;
  make(run);
  // Each epoch's weights as its training pass left them (epoch-end callbacks see them restored).
  std::vector<std::vector<float>> after_epoch;
  run.trainer.on_batch_end([&](const train::BatchStats& b) {
    if (b.batch == b.batches) after_epoch.push_back(weights_of(run.net));
  });
  // 3.9999 does not beat 4 by more than min_delta: epochs 3, 4, 5 are bad.
  train::EarlyStopping<float> stop(
      train::EarlyStoppingOptions("test_loss").patience(3).min_delta(1e-3).restore_best_weights(true));
  run.trainer.add_callback(stop);
  const auto h = run.trainer.fit(run.loader, nullptr, quiet(7).checkpoint(ckpt));
  CHECK(h.epochs.size() == 5);
  CHECK_THAT(h.stop_reason, Catch::Contains("early stopping: test_loss has not improved on 4 (epoch 2) for 3 epochs") &&
                                Catch::Contains("restored the weights of epoch 2"));
  CHECK(stop.best_epoch() == 2);
  CHECK(stop.stopped_epoch() == 5);
  REQUIRE(after_epoch.size() == 5);
  CHECK(weights_of(run.net) == after_epoch[1]);
  CHECK(weights_of(run.net) != after_epoch[4]);
  // The checkpoint holds the restored weights and the stop: resuming does not train on.
  Run again;
  make(again);
  train::EarlyStopping<float> stop2(train::EarlyStoppingOptions("test_loss").patience(3).min_delta(1e-3));
  again.trainer.add_callback(stop2);
  int epochs_trained = 0;
  again.trainer.on_epoch_end([&](const train::EpochStats&) { ++epochs_trained; });
  const auto h2 = again.trainer.fit(again.loader, nullptr, quiet(7).checkpoint(ckpt).resume(true));
  CHECK(epochs_trained == 0);
  CHECK(h2.epochs.size() == 5);
  CHECK(h2.stop_reason == h.stop_reason);
  CHECK(weights_of(again.net) == after_epoch[1]);
  std::remove(ckpt.c_str());
}

TEST_CASE("EarlyStopping's counters survive a resume; modes and bad monitors", "[fit][callbacks]") {
  const std::string ckpt = temp_path("early_resume.ckpt");
  const std::vector<double> acc{0.5, 0.6, 0.55, 0.58, 0.59, 0.9};
  auto make = [&](Run& run, train::EarlyStopping<float>& stop) {
    run.trainer.validate_with([&](train::EpochStats& s) {
      s.test_accuracy = acc[static_cast<std::size_t>(s.epoch - 1)];
      s.test_loss = 1;
    });
    run.trainer.add_callback(stop);
  };
  auto options = train::EarlyStoppingOptions("test_acc").patience(3);  // max mode, from the name
  {
    Run run;
    train::EarlyStopping<float> stop(options);
    make(run, stop);
    run.trainer.fit(run.loader, nullptr, quiet(3).checkpoint(ckpt));  // 0.5, 0.6 best, 0.55 (wait 1)
  }
  Run run;
  train::EarlyStopping<float> stop(options);
  make(run, stop);
  const auto h = run.trainer.fit(run.loader, nullptr, quiet(6).checkpoint(ckpt).resume(true));
  CHECK(h.epochs.size() == 5);  // 0.58 (wait 2), 0.59 (wait 3): stop before 0.9
  CHECK(stop.best() == 0.6);
  CHECK(stop.best_epoch() == 2);
  std::remove(ckpt.c_str());

  CHECK_THROWS_WITH(train::EarlyStoppingOptions("val_loss"), Catch::Contains("cannot monitor 'val_loss'"));
  Run no_test;
  train::EarlyStopping<float> needs_test(train::EarlyStoppingOptions("test_loss"));
  no_test.trainer.add_callback(needs_test);
  CHECK_THROWS_WITH(no_test.trainer.fit(no_test.loader, nullptr, quiet(2)),
                    Catch::Contains("EarlyStopping monitors test_loss, which epoch 1 did not measure"));
  Run twice;
  train::EarlyStopping<float> a(options), b(options);
  twice.trainer.add_callback(a);
  twice.trainer.add_callback(b);
  CHECK_THROWS_WITH(twice.trainer.fit(twice.loader, nullptr, quiet(1)), Catch::Contains("two callbacks are named"));
}

TEST_CASE("BestCheckpoint saves only when the monitored loss improves", "[fit][callbacks][checkpoint]") {
  const std::string best_path = temp_path("best.ckpt");
  const std::vector<double> losses{3, 2, 2.5, 1, 1.5};
  Run run;
  run.trainer.validate_with([&](train::EpochStats& s) { s.test_loss = losses[static_cast<std::size_t>(s.epoch - 1)]; });
  train::BestCheckpoint<float> best(best_path, train::MonitorOptions("test_loss"));
  run.trainer.add_callback(best);
  std::vector<std::string> files;
  std::vector<std::vector<float>> weights;
  run.trainer.on_epoch_end([&](const train::EpochStats&) {
    files.push_back(read_text(best_path));
    weights.push_back(weights_of(run.net));
  });
  run.trainer.fit(run.loader, nullptr, quiet(5));
  REQUIRE(files.size() == 5);
  CHECK(files[2] == files[1]);  // epoch 3 did not improve: the file is untouched
  CHECK(files[3] != files[1]);
  CHECK(files[4] == files[3]);
  const auto meta = io::read_checkpoint_metadata(best_path);
  CHECK(meta.get_int("epoch") == 4);
  CHECK(meta.get("monitor") == "test_loss");
  CHECK(meta.get_double("best") == 1);
  // It is a checkpoint fit can resume from, holding epoch 4's weights.
  Run from_best;
  from_best.trainer.validate_with([&](train::EpochStats& s) { s.test_loss = 1; });
  io::load_checkpoint(best_path, from_best.net, from_best.sgd);
  CHECK(weights_of(from_best.net) == weights[3]);
  std::remove(best_path.c_str());
}

TEST_CASE("a batch callback can stop training; schedulers step per batch", "[fit][callbacks]") {
  Run run;
  optim::StepLR sched(run.sgd, 3, 0.5);
  run.trainer.set_scheduler(sched, train::ScheduleStep::batch);
  std::vector<double> lrs;
  run.trainer.on_batch_end([&](const train::BatchStats& b) {
    lrs.push_back(run.sgd.lr());
    if (b.epoch == 2 && b.batch == 2) run.trainer.stop_training("enough");
  });
  const auto h = run.trainer.fit(run.loader, nullptr, quiet(5));
  REQUIRE(lrs.size() == 10);  // 8 batches of epoch 1, 2 of epoch 2
  CHECK(lrs[1] == 0.3);
  CHECK(lrs[2] == 0.15);      // after the third step
  CHECK(lrs[5] == 0.075);
  CHECK(h.epochs.size() == 1);
  CHECK(h.stop_reason == "enough");
  CHECK(h.epochs[0].lr == 0.3);
}

TEST_CASE("progress goes to stderr, plain when stderr is not a terminal", "[fit][progress]") {
  if (train::stderr_is_terminal()) {
    CHECK(train::progress_mode(-1, true) == train::ProgressMode::live);
    return;  // the plain form needs stderr redirected, as under ctest
  }
  CHECK(train::progress_mode(0, false) == train::ProgressMode::off);
  CHECK(train::progress_mode(1, true) == train::ProgressMode::plain);
  CHECK(train::progress_mode(-1, false) == train::ProgressMode::plain);
  CHECK(train::progress_mode(-1, true) == train::ProgressMode::off);  // verbose prints the one line already
  Run run;
  CaptureFd out(1), err(2);
  run.trainer.fit(run.loader, nullptr, train::FitOptions().epochs(2).verbose(true).progress(1));
  const std::string stderr_text = err.finish(), stdout_text = out.finish();
  CHECK_THAT(stderr_text, Catch::Contains("epoch 1: 8/8 batches in 0:0") && Catch::Contains("epoch 2: 8/8 batches"));
  CHECK(stderr_text.find('\r') == std::string::npos);
  CHECK_THAT(stdout_text, Catch::StartsWith("epoch 1/2  train loss ") && Catch::Contains("\nepoch 2/2  train loss "));
  CHECK(stdout_text.find('\r') == std::string::npos);
}

TEST_CASE("format_epoch_line writes what was measured", "[fit][progress]") {
  train::History h;
  train::EpochStats e;
  e.epoch = 3;
  e.train_loss = 0.25;
  e.test_loss = std::nan("");
  e.test_accuracy = 0.9788;
  e.lr = 0.001;
  e.seconds = 21.94;
  e.images_per_second = 2745.2;
  h.add(e);
  CHECK(train::format_epoch_line(h, 3, 10) ==
        "epoch 3/10  train loss 0.25  test loss nan  test acc 97.88%  lr 0.001  21.9s  2745 img/s");
  h.epochs[0].test_seconds = 1.25;
  CHECK_THAT(train::format_epoch_line(h, 3), Catch::StartsWith("epoch 3  train loss") && Catch::EndsWith("img/s  test 1.2s"));
  CHECK_THROWS_WITH(train::format_epoch_line(h, 4), Catch::Contains("no epoch 4"));
  CHECK(train::format_duration(3725) == "1:02:05");
  CHECK(train::format_duration(-1) == "--:--");
}
