// Training and evaluating on in-memory image sets, for reproductions whose
// models map one image set to another (denoising / distortion-correcting
// autoencoders: noisy -> clean) or to class labels, with an optional per-batch
// preparation of the images (e.g. resizing 28x28 digits to AlexNet's 224x224).
//
//   repro::FitConfig cfg;
//   cfg.epochs = 10; cfg.batch = 128; cfg.tag = "vgg_ae";
//   auto h = repro::fit_images(model, loss, optimizer, noisy, clean, cfg, &val_noisy, &val_clean);
//   cae::Tensor<float> denoised = repro::predict(model, test_noisy);
//   auto r = repro::evaluate_classifier(classifier, images, labels);  // loss, accuracy, confusion
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "cae/data/dataset.hpp"
#include "cae/data/loader.hpp"
#include "cae/loss.hpp"
#include "cae/losses.hpp"
#include "cae/metrics.hpp"
#include "cae/module.hpp"
#include "cae/optim/optimizer.hpp"
#include "cae/train/fit.hpp"
#include "common/keras_init.hpp"
#include "common/repro.hpp"
#include "common/rows.hpp"

namespace repro {

// Turns a batch of stored images into what the model sees (or what it is
// compared with), e.g. a bilinear resize. Empty: the images as they are.
using Prepare = std::function<void(const cae::Tensor<float>& in, cae::Tensor<float>& out)>;

inline void prepare_or_copy(const Prepare& prep, const cae::Tensor<float>& in, cae::Tensor<float>& out) {
  if (prep) {
    prep(in, out);
  } else {
    out.resize(in.shape());
    std::copy(in.begin(), in.end(), out.begin());
  }
}

// One-hot rows [N, K] for labels (the targets of a softmax trained with BCE).
inline void one_hot(const std::vector<int>& labels, int num_classes, cae::Tensor<float>& out) {
  out.resize({static_cast<cae::index_t>(labels.size()), num_classes});
  out.zero();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    CAE_CHECK(labels[i] >= 0 && labels[i] < num_classes, cae::Error, "one_hot: label ", labels[i],
              " outside [0, ", num_classes, ")");
    out[static_cast<cae::index_t>(i) * num_classes + labels[i]] = 1.f;
  }
}

// The model's output for every image of `images` [N, ...], in eval mode,
// `batch` images at a time, each batch prepared by `prep` first.
inline cae::Tensor<float> predict(cae::Module<float>& model, const cae::Tensor<float>& images,
                                  cae::index_t batch = 128, const Prepare& prep = {}) {
  const bool was_training = model.is_training();
  model.eval();
  cae::Tensor<float> out, prepared;
  const cae::index_t n = images.dim(0);
  for (cae::index_t first = 0; first < n; first += batch) {
    const cae::index_t last = std::min(n, first + batch);
    const cae::Tensor<float> chunk = images.slice(first, last);
    const cae::Tensor<float>* in = &chunk;
    if (prep) {
      prep(chunk, prepared);
      in = &prepared;
    }
    const cae::Tensor<float>& y = model.forward(*in);
    if (first == 0) out.resize(y.shape().drop_front().prepend(n));
    std::memcpy(out.data() + first * (out.numel() / n), y.data(),
                sizeof(float) * static_cast<std::size_t>(y.numel()));
  }
  model.train(was_training);
  return out;
}

// Keras' "accuracy" metric for an image-to-image model with one output
// channel (binary_accuracy): the fraction of pixels whose target equals the
// output rounded to 0 or 1. Targets are pixel / 255, so only exact 0 and 1
// pixels can count; the 003 paper's ~0.88 "acc" of every autoencoder is this.
inline double binary_pixel_accuracy(const cae::Tensor<float>& targets, const cae::Tensor<float>& outputs) {
  CAE_CHECK(targets.shape() == outputs.shape(), cae::ShapeError, "binary_pixel_accuracy: shapes ",
            targets.shape(), " and ", outputs.shape(), " differ");
  cae::index_t hits = 0;
  for (cae::index_t i = 0; i < targets.numel(); ++i)
    hits += targets[i] == (outputs[i] > 0.5f ? 1.f : 0.f);  // tf.keras: y_pred > threshold
  return targets.numel() ? static_cast<double>(hits) / static_cast<double>(targets.numel()) : 0.0;
}

struct FitConfig {
  int epochs = 1;
  cae::index_t batch = 32;
  std::uint64_t seed = 42;
  std::string tag = "model";   // prefix of the printed lines
  std::string history_csv;     // written after every epoch when set
  Prepare prepare_input;       // applied to every training batch's inputs
  Prepare prepare_target;      // and to its image targets
  bool verbose = true;
  std::string checkpoint;      // saved after every epoch and resumed from when set
  std::string run_key;         // what a resumed checkpoint must agree on (FitOptions::run_key)
};

namespace detail {
// Runs the trainer; `validate` (optional) gives the validation loss after each
// epoch, stored as the epoch's test_loss (and saved with the checkpoint).
inline cae::train::History run_fit(cae::train::Trainer<float>& trainer, cae::data::DataLoader& loader,
                                   const FitConfig& cfg, bool accuracy,
                                   const std::function<void(cae::train::EpochStats&)>& validate) {
  if (validate) trainer.validate_with(validate);
  trainer.on_epoch_end([&](const cae::train::EpochStats& s) {
    if (!cfg.verbose) return;
    std::printf("[%s] epoch %d/%d  train loss %.5f", cfg.tag.c_str(), s.epoch, cfg.epochs, s.train_loss);
    if (std::isfinite(s.train_accuracy)) std::printf("  train acc %.2f%%", 100 * s.train_accuracy);
    if (std::isfinite(s.test_loss)) std::printf("  val loss %.5f", s.test_loss);
    if (std::isfinite(s.test_accuracy)) std::printf("  val acc %.2f%%", 100 * s.test_accuracy);
    std::printf("  %.1f s (%.1f img/s)\n", s.seconds, s.images_per_second);
    std::fflush(stdout);
  });
  cae::train::FitOptions options =
      cae::train::FitOptions().epochs(cfg.epochs).seed(cfg.seed).accuracy(accuracy).verbose(false).progress(0);
  if (!cfg.history_csv.empty()) options.history_csv(cfg.history_csv);
  if (!cfg.checkpoint.empty()) {
    options.checkpoint(cfg.checkpoint).resume(true).run_key(cfg.run_key);
    if (cae::io::file_exists(cfg.checkpoint) && cfg.verbose)
      std::printf("[%s] continuing from %s (epoch %lld)\n", cfg.tag.c_str(), cfg.checkpoint.c_str(),
                  static_cast<long long>(cae::io::read_checkpoint_metadata(cfg.checkpoint).get_int("epoch")));
  }
  return trainer.fit(loader, nullptr, options);
}
}  // namespace detail

// Mean loss of model(prepare_input(inputs)) against prepare_target(targets), eval mode.
inline double evaluate_loss(cae::Module<float>& model, cae::Loss<float>& loss, const cae::Tensor<float>& inputs,
                            const cae::Tensor<float>& targets, const FitConfig& cfg) {
  const bool was_training = model.is_training();
  model.eval();
  double sum = 0;
  cae::Tensor<float> in, tgt;
  const cae::index_t n = inputs.dim(0);
  for (cae::index_t first = 0; first < n; first += cfg.batch) {
    const cae::index_t last = std::min(n, first + cfg.batch);
    prepare_or_copy(cfg.prepare_input, inputs.slice(first, last), in);
    prepare_or_copy(cfg.prepare_target, targets.slice(first, last), tgt);
    sum += static_cast<double>(loss.forward(model.forward(in), tgt)) * static_cast<double>(last - first);
  }
  model.train(was_training);
  return n ? sum / static_cast<double>(n) : 0.0;
}

// Trains `model` to map inputs[i] to targets[i] (both [N, ...] image sets).
// With val_inputs / val_targets, the validation loss is measured after every
// epoch (in eval mode, targets prepared like the training targets).
inline cae::train::History fit_images(cae::Module<float>& model, cae::Loss<float>& loss,
                                      cae::optim::Optimizer<float>& optimizer,
                                      const cae::Tensor<float>& inputs, const cae::Tensor<float>& targets,
                                      const FitConfig& cfg, const cae::Tensor<float>* val_inputs = nullptr,
                                      const cae::Tensor<float>* val_targets = nullptr) {
  CAE_CHECK(inputs.dim(0) == targets.dim(0), cae::Error, cfg.tag, ": ", inputs.dim(0), " inputs but ",
            targets.dim(0), " targets");
  cae::data::Dataset train;
  train.images = inputs;
  cae::data::DataLoader loader(
      train, cae::data::DataLoaderOptions(cfg.batch).shuffle(true).seed(cfg.seed).prefetch(true));
  cae::Tensor<float> rows;
  cae::train::Trainer<float> trainer(
      model, loss, optimizer,
      [&](const cae::data::Batch& b, cae::Tensor<float>& input, cae::Tensor<float>& target, cae::Rng&) {
        prepare_or_copy(cfg.prepare_input, b.images, input);
        gather_rows(targets, b.indices, rows);
        prepare_or_copy(cfg.prepare_target, rows, target);
      });
  std::function<void(cae::train::EpochStats&)> validate;
  if (val_inputs && val_targets) {
    validate = [&](cae::train::EpochStats& s) { s.test_loss = evaluate_loss(model, loss, *val_inputs, *val_targets, cfg); };
  }
  return detail::run_fit(trainer, loader, cfg, false, validate);
}

// Keras' binary_crossentropy on probabilities (e.g. a softmax output): the
// predictions are clipped to [1e-7, 1 - 1e-7] first, and clipped elements pass
// no gradient. cae::BCELoss (PyTorch's) instead clamps each log at -100 and
// keeps the gradient (p - y) / max(p (1 - p), 1e-12), which explodes once a
// softmax saturates on the wrong class.
class KerasBCELoss : public cae::Loss<float> {
 public:
  static constexpr double kEpsilon = 1e-7;  // tf.keras.backend.epsilon()
  std::string describe() const override { return "KerasBCELoss(epsilon=1e-07)"; }
  float forward(const cae::Tensor<float>& p, const cae::Tensor<float>& y) override {
    CAE_CHECK(p.shape() == y.shape() && p.numel() > 0, cae::ShapeError, describe(), ": prediction shape ",
              p.shape(), " and target shape ", y.shape(), " must be equal and non-empty");
    grad_.resize(p.shape());
    const double n = static_cast<double>(p.numel());
    double sum = 0;
    for (cae::index_t i = 0; i < p.numel(); ++i) {
      const double raw = p[i], t = y[i];
      CAE_CHECK(raw >= 0 && raw <= 1, cae::Error, describe(), ": predictions must be probabilities, got ", raw,
                " at element ", i);
      const double q = std::min(std::max(raw, kEpsilon), 1 - kEpsilon);
      sum -= t * std::log(q) + (1 - t) * std::log(1 - q);
      const bool clipped = raw < kEpsilon || raw > 1 - kEpsilon;
      grad_[i] = clipped ? 0.f : static_cast<float>((q - t) / (q * (1 - q)) / n);
    }
    computed_ = true;
    return static_cast<float>(sum / n);
  }
  const cae::Tensor<float>& backward() override {
    CAE_CHECK(computed_, cae::Error, describe(), ": backward() before forward()");
    return grad_;
  }

 private:
  cae::Tensor<float> grad_;
  bool computed_ = false;
};

// How a classifier is trained: CrossEntropyLoss on logits against class
// indices, or (Keras' "binary_crossentropy" on a softmax output, as the 004
// paper's AlexNet and ResNet-18 classifiers) BCELoss against one-hot rows.
enum class ClassifierTarget { ClassIndex, OneHot };

// Loss and accuracy of a classifier on labelled images, with the confusion matrix.
struct ClassifierScore {
  double loss = 0;
  double accuracy = 0;
  cae::metrics::ConfusionMatrix confusion{10};
};

inline ClassifierScore evaluate_classifier(cae::Module<float>& model, cae::Loss<float>& loss,
                                           ClassifierTarget target_kind, const cae::Tensor<float>& images,
                                           const std::vector<int>& labels, int num_classes,
                                           cae::index_t batch = 128, const Prepare& prep = {}) {
  const cae::Tensor<float> out = predict(model, images, batch, prep);
  ClassifierScore s;
  s.confusion = cae::metrics::ConfusionMatrix(num_classes);
  s.confusion.add(out, labels);
  s.accuracy = s.confusion.accuracy();
  cae::Tensor<float> t;
  if (target_kind == ClassifierTarget::OneHot) {
    one_hot(labels, num_classes, t);
  } else {
    t.resize({static_cast<cae::index_t>(labels.size())});
    for (std::size_t i = 0; i < labels.size(); ++i) t[static_cast<cae::index_t>(i)] = static_cast<float>(labels[i]);
  }
  s.loss = static_cast<double>(loss.forward(out, t));
  return s;
}

// Trains a classifier on labelled images; with a validation set, its loss and
// accuracy are measured after every epoch.
inline cae::train::History fit_classifier(cae::Module<float>& model, cae::Loss<float>& loss,
                                          cae::optim::Optimizer<float>& optimizer, ClassifierTarget target_kind,
                                          const cae::data::Dataset& train, const FitConfig& cfg,
                                          const cae::data::Dataset* val = nullptr) {
  cae::data::DataLoader loader(
      train, cae::data::DataLoaderOptions(cfg.batch).shuffle(true).seed(cfg.seed).prefetch(true));
  const int k = train.num_classes();
  cae::train::Trainer<float> trainer(
      model, loss, optimizer,
      [&](const cae::data::Batch& b, cae::Tensor<float>& input, cae::Tensor<float>& target, cae::Rng&) {
        prepare_or_copy(cfg.prepare_input, b.images, input);
        if (target_kind == ClassifierTarget::OneHot) one_hot(b.labels, k, target);
        else cae::train::copy_images(b.targets, target);
      });
  std::function<void(cae::train::EpochStats&)> validate;
  if (val) {
    validate = [&](cae::train::EpochStats& s) {
      const ClassifierScore v = evaluate_classifier(model, loss, target_kind, val->images, val->labels, k,
                                                    cfg.batch, cfg.prepare_input);
      s.test_loss = v.loss;
      s.test_accuracy = v.accuracy;
    };
  }
  // The trainer's running accuracy needs class-index targets.
  return detail::run_fit(trainer, loader, cfg, target_kind == ClassifierTarget::ClassIndex, validate);
}

// A confusion matrix as a grey picture: cell (t, p) is dark in proportion to
// the share of class t predicted as p (row-normalized), each cell `cell` pixels.
inline cae::Tensor<float> confusion_image(const cae::metrics::ConfusionMatrix& cm, int cell = 20) {
  const int k = cm.num_classes();
  cae::Tensor<float> img({1, static_cast<cae::index_t>(k * cell), static_cast<cae::index_t>(k * cell)}, 1.f);
  for (int t = 0; t < k; ++t) {
    cae::index_t row = 0;
    for (int p = 0; p < k; ++p) row += cm.count(t, p);
    for (int p = 0; p < k; ++p) {
      const float share = row ? static_cast<float>(cm.count(t, p)) / static_cast<float>(row) : 0.f;
      for (int i = 0; i < cell; ++i)
        for (int j = 0; j < cell; ++j) {
          const bool border = i == 0 || j == 0;
          img[(t * cell + i) * k * cell + p * cell + j] = border ? 0.75f : 1.f - share;
        }
    }
  }
  return img;
}

}  // namespace repro
