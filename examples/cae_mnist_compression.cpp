// Reproduces paper 002: S. Bhattacharya, "Image Compression using
// Convolutional Autoencoder" (MSc thesis, National College of Ireland, 2020).
//
// A 20-layer convolutional autoencoder compresses 28x28x1 images to a 7x7x1
// code (784 -> 49 values, a factor of 16) and back, with 3x3 same-padding ReLU
// convolutions, 2x2 max pooling, 2x2 nearest upsampling and a tanh output,
// trained with MSE and Adam for 20 epochs:
//   experiment 1: MNIST          (paper: loss 0.0022 after 20 epochs)
//   experiment 2: Fashion-MNIST  (paper: loss 0.0064 after 20 epochs)
//   experiment 3: a second instance of the same model (the "denoising
//                 instance") trained to map experiment 2's reconstructions back
//                 to the original Fashion-MNIST images.
// The layer-by-layer architecture and why it is this one: docs/models.md and
// docs/reproductions/compression.md.
//
//   cae_mnist_compression [--dataset mnist|fashion|both] [--epochs 20] [--quick] ...
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cae/data/idx.hpp"
#include "cae/data/loader.hpp"
#include "cae/data/paths.hpp"
#include "cae/figures.hpp"
#include "cae/io/checkpoint.hpp"
#include "cae/io/file.hpp"
#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/layers/upsample.hpp"
#include "cae/losses.hpp"
#include "cae/optim/adam.hpp"
#include "cae/train/fit.hpp"
#include "common/autoencoder_eval.hpp"
#include "common/repro.hpp"
#include "common/rows.hpp"
#include "common/sanity.hpp"

namespace {

using cae::index_t;
using cae::Tensor;
using Model = cae::Sequential<float>;

// The encoder is the first 18 modules (8 convolutions with their ReLUs and 2
// max pools: the thesis' 10 encoder layers, Keras fusing each activation into
// its convolution); the decoder the other 18.
constexpr std::size_t kEncoderModules = 18;

// The thesis' parameter counts, which no clean design reproduces exactly
// (see docs/reproductions/compression.md).
constexpr double kPaperEncoderParams = 98601, kPaperDecoderParams = 99689, kPaperParams = 198290;

void conv_relu(Model& m, index_t in, index_t out) {
  m.add(cae::Conv2d<float>(cae::Conv2dOptions(in, out, 3).padding(1)));
  m.add(cae::ReLU<float>());
}

// Channels halve 128 -> 1 in the encoder and double 1 -> 128 in the decoder.
std::unique_ptr<Model> build_cae() {
  auto m = std::make_unique<Model>(cae::Shape{1, 28, 28});
  conv_relu(*m, 1, 128);
  conv_relu(*m, 128, 64);
  m->add(cae::MaxPool2d<float>(2));  // 14x14
  conv_relu(*m, 64, 32);
  conv_relu(*m, 32, 16);
  conv_relu(*m, 16, 8);
  m->add(cae::MaxPool2d<float>(2));  // 7x7
  conv_relu(*m, 8, 4);
  conv_relu(*m, 4, 2);
  conv_relu(*m, 2, 1);  // the code, 1x7x7
  conv_relu(*m, 1, 2);
  conv_relu(*m, 2, 4);
  conv_relu(*m, 4, 8);
  m->add(cae::Upsample<float>(cae::UpsampleOptions().scale_factor(2)));  // 14x14
  conv_relu(*m, 8, 16);
  conv_relu(*m, 16, 32);
  conv_relu(*m, 32, 64);
  m->add(cae::Upsample<float>(cae::UpsampleOptions().scale_factor(2)));  // 28x28
  conv_relu(*m, 64, 128);
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(128, 1, 3).padding(1)));
  m->add(cae::Tanh<float>());
  return m;
}

struct Settings {
  int epochs = 20;
  index_t batch = 32;
  double lr = 1e-3;
  std::string init = "keras";
  std::uint64_t seed = 42;
  std::string out;
  bool checkpoints = false;  // save each stage after every epoch and resume from there
};

struct Stage {
  cae::train::History history;  // test_loss holds the validation MSE
  double initial_val_mse = 0;   // before training
  repro::Quality test;          // after training, on the test images
  Tensor<float> test_output;    // the model's output for every test image
  double seconds = 0;           // training wall time, all epochs (also those before a resume)
};

// Input [N, 1, H, W] and target [N, 1, H, W] as the two channels of one
// [N, 2, H, W] tensor, so that one Dataset, and so one example function,
// serves the training and the validation batches of a stage whose target is
// not its input.
Tensor<float> pair_channels(const Tensor<float>& input, const Tensor<float>& target) {
  CAE_CHECK(input.rank() == 4 && input.dim(1) == 1 && input.shape() == target.shape(), cae::ShapeError,
            "pair_channels: expected two equal [N, 1, H, W] shapes, got ", input.shape(), " and ", target.shape());
  const index_t n = input.dim(0), plane = input.numel() / n;
  Tensor<float> pairs({n, 2, input.dim(2), input.dim(3)});
  for (index_t i = 0; i < n; ++i) {
    std::copy_n(input.data() + i * plane, plane, pairs.data() + 2 * i * plane);
    std::copy_n(target.data() + i * plane, plane, pairs.data() + (2 * i + 1) * plane);
  }
  return pairs;
}

// A batch of plain images is its own target; a batch of pairs (pair_channels)
// splits into input and target.
void input_and_target(const cae::data::Batch& b, Tensor<float>& input, Tensor<float>& target, cae::Rng&) {
  if (b.images.dim(1) == 1) {
    cae::train::copy_images(b.images, input);
    cae::train::copy_images(b.images, target);
    return;
  }
  const index_t n = b.images.dim(0), plane = b.images.numel() / (2 * n);
  const cae::Shape shape{n, 1, b.images.dim(2), b.images.dim(3)};
  input.resize(shape);
  target.resize(shape);
  for (index_t i = 0; i < n; ++i) {
    std::copy_n(b.images.data() + 2 * i * plane, plane, input.data() + i * plane);
    std::copy_n(b.images.data() + (2 * i + 1) * plane, plane, target.data() + i * plane);
  }
}

cae::data::Dataset unlabelled(Tensor<float> images) {
  cae::data::Dataset d;
  d.images = std::move(images);
  return d;
}

// The two outputs any compressor must beat, on the same test images: the mean
// image (what a collapsed autoencoder outputs), and each image reduced to the
// code's 7x7 = 49 values by 4x4 averaging and scaled back up bilinearly (a
// "code" that needs no training).
struct Baselines {
  repro::Quality mean_image, downsampled;
  Tensor<float> downsampled_images;
};

Baselines trivial_baselines(const Tensor<float>& test) {
  Baselines b;
  b.mean_image = repro::quality(test, repro::checks::mean_image_output(test));
  cae::AvgPool2d<float> down(4);
  cae::Upsample<float> up(cae::UpsampleOptions().scale_factor(4).mode(cae::UpsampleMode::Bilinear));
  down.eval();
  up.eval();
  b.downsampled_images = up.forward(down.forward(test));
  b.downsampled = repro::quality(test, b.downsampled_images);
  return b;
}

// Trains `model` with MSE and Adam on `train` (images that are their own
// target, or pairs from pair_channels), measuring the MSE on `val` after every
// epoch, then evaluates it on the test images. With s.checkpoints the stage is
// saved to <out>/<tag>.ckpt after every epoch, and a rerun continues from there;
// `run_key` names everything else the run depends on, so that a checkpoint of
// a different run is refused rather than continued.
Stage train_stage(const std::string& tag, Model& model, const cae::data::Dataset& train,
                  const cae::data::Dataset& val, const Tensor<float>& test_in, const Tensor<float>& test_target,
                  const Settings& s, const std::string& run_key) {
  Stage st;
  cae::data::DataLoader loader(train, cae::data::DataLoaderOptions(s.batch).shuffle(true).seed(s.seed).prefetch(true));
  cae::data::DataLoader val_loader(val, cae::data::DataLoaderOptions(256));
  cae::MSELoss<float> loss;
  cae::optim::Adam<float> adam(model.parameters(), cae::optim::AdamOptions(s.lr));
  cae::train::Trainer<float> trainer(model, loss, adam, input_and_target);
  st.initial_val_mse = trainer.evaluate(val_loader, false).loss;
  std::printf("[%s] validation MSE before training: %.5f\n", tag.c_str(), st.initial_val_mse);
  trainer.on_epoch_end([&](const cae::train::EpochStats& e) {
    std::printf("[%s] epoch %d/%d  train MSE %.5f  validation MSE %.5f  %.1f s  %.0f img/s\n", tag.c_str(),
                e.epoch, s.epochs, e.train_loss, e.test_loss, e.seconds, e.images_per_second);
    std::fflush(stdout);
  });
  cae::train::FitOptions fit = cae::train::FitOptions().epochs(s.epochs).seed(s.seed).verbose(false);
  if (s.checkpoints) {
    const std::string path = s.out + "/" + tag + ".ckpt";
    fit.checkpoint(path).resume(true).run_key(run_key);
    if (cae::io::file_exists(path))
      std::printf("[%s] continuing from %s (epoch %lld)\n", tag.c_str(), path.c_str(),
                  static_cast<long long>(cae::io::read_checkpoint_metadata(path).get_int("epoch")));
  }
  st.history = trainer.fit(loader, &val_loader, fit);
  st.seconds = st.history.mean_epoch_seconds() * static_cast<double>(st.history.epochs.size());
  const std::string csv = s.out + "/" + tag + "_history.csv";
  st.history.save_csv(csv);
  cae::figures::save_history_plot(csv, s.out + "/" + tag + "_loss.png");
  st.test_output = repro::predict(model, test_in);
  st.test = repro::quality(test_target, st.test_output);
  std::printf("[%s] test MSE %.5f  PSNR %.2f dB  SSIM %.4f  (%d epochs, %.0f s)\n", tag.c_str(),
              st.test.mse, st.test.psnr, st.test.ssim, s.epochs, st.seconds);
  return st;
}

int run(int argc, char** argv) {
  const repro::Args args = repro::parse_args(
      argc, argv,
      "Paper 002 (Bhattacharya 2020): a 20-layer convolutional autoencoder compressing 28x28 MNIST\n"
      "and Fashion-MNIST images to a 7x7 code, plus a second 'denoising' instance.",
      {{"dataset", "mnist, fashion or both (default both); experiment 3 runs with fashion"},
       {"batch", "batch size (default 32, Keras' default; quick: 16)"},
       {"lr", "Adam learning rate (default 0.001)"},
       {"train-images", "use only the first N training images (default: all 60,000; quick: 4,000, or all 2,400 of tests/data's Fashion-MNIST sample)"},
       {"val-images", "validation images measured after every epoch (default 2,000; quick: 200)"},
       {"test-images", "test images for the final metrics (default 10,000; quick: 500)"},
       {"denoise-epochs", "epochs of the denoising instance (default: --epochs; 0 skips experiment 3)"},
       {"init", "keras (glorot_uniform, zero bias; default) or torch (PyTorch's default init)"},
       {"checkpoint", "yes: save each model after every epoch in --out and resume from there (default no)"}});
  const std::string which = args.get("dataset", "both");
  CAE_CHECK(which == "mnist" || which == "fashion" || which == "both", cae::Error,
            "--dataset must be mnist, fashion or both, got '", which, "'");
  Settings s;
  s.epochs = args.epochs_or(20, 1);
  s.batch = std::stoll(args.get("batch", args.quick ? "16" : "32"));
  s.lr = std::stod(args.get("lr", "0.001"));
  s.init = args.get("init", "keras");
  CAE_CHECK(s.init == "keras" || s.init == "torch", cae::Error, "--init must be keras or torch, got '", s.init, "'");
  s.seed = args.seed;
  s.out = args.out;
  const std::string ckpt = args.get("checkpoint", "no");
  CAE_CHECK(ckpt == "yes" || ckpt == "no", cae::Error, "--checkpoint must be yes or no, got '", ckpt, "'");
  s.checkpoints = ckpt == "yes";
  const int denoise_epochs = std::stoi(args.get("denoise-epochs", std::to_string(s.epochs)));
  // Quick: 250 updates of batch 16 (one epoch of 4,000 images), the fewest
  // after which both data sets reliably escape the mean image (1,000 images
  // at batch 32, 31 updates, did not). Fashion-MNIST's sample in tests/data
  // holds 2,400 training images, so its quick epoch is 150 updates: test MSE
  // 0.0344, 0.39 x the mean image's 0.0873 (2026-12-07, seed 1), under the
  // check's 0.5.
  const index_t train_images = std::stoll(args.get("train-images", args.quick ? "4000" : "60000"));
  // The thesis validated on 2,000 images; the final numbers use the whole test set.
  const index_t val_images = std::stoll(args.get("val-images", args.quick ? "200" : "2000"));
  const index_t test_images = std::stoll(args.get("test-images", args.quick ? "500" : "10000"));

  repro::Report report("002: 20-layer convolutional autoencoder, 28x28x1 -> 7x7x1 -> 28x28x1");
  report["mode"] = cae::json::Value(args.quick ? "quick" : "full");
  report["epochs"] = cae::json::Value(s.epochs);
  report["denoise_epochs"] = cae::json::Value(denoise_epochs);
  report["batch_size"] = cae::json::Value(static_cast<double>(s.batch));
  report["learning_rate"] = cae::json::Value(s.lr);
  report["init"] = cae::json::Value(s.init);
  report["train_images"] = cae::json::Value(static_cast<double>(train_images));
  report["validation_images"] = cae::json::Value(static_cast<double>(val_images));
  report["test_images"] = cae::json::Value(static_cast<double>(test_images));
  report["threads"] = cae::json::Value(cae::num_threads());
  const std::string reduced = repro::reduced_against_paper(
      {{"training images", 60000, static_cast<double>(train_images)},
       {"epochs", 20, static_cast<double>(s.epochs)},
       {"batch size", 32, static_cast<double>(s.batch)},
       {"test images", 10000, static_cast<double>(test_images)}});
  std::printf("%s\n", reduced.c_str());
  report["reduced_against_paper"] = cae::json::Value(reduced);

  // The architecture, once.
  {
    auto m = build_cae();
    std::printf("%s\n", m->summary().c_str());
    const index_t enc = repro::count_parameters(*m, 0, kEncoderModules);
    const index_t total = m->num_parameters();
    const Tensor<float> code = repro::forward_layers(*m, Tensor<float>({1, 1, 28, 28}, 0.f), 0, kEncoderModules);
    std::printf("encoder: modules 0..%zu, code %s, %lld parameters; decoder %lld parameters\n\n",
                kEncoderModules - 1, cae::batch_shape_str(code.shape().drop_front()).c_str(),
                static_cast<long long>(enc), static_cast<long long>(total - enc));
    report.compare("parameters, total", kPaperParams, static_cast<double>(total));
    report.compare("parameters, encoder", kPaperEncoderParams, static_cast<double>(enc));
    report.compare("parameters, decoder", kPaperDecoderParams, static_cast<double>(total - enc));
    report.compare("code values (7x7x1)", 49, static_cast<double>(code.numel()));
    report.compare("compression factor 784/code", 16, 784.0 / static_cast<double>(code.numel()));
    if (args.quick) {
      repro::sanity(total == 199410, "parameter count is the documented 199,410");
      repro::sanity(code.shape() == cae::Shape({1, 1, 7, 7}), "the code is 1x7x7");
    }
  }

  struct Experiment {
    std::string tag, name, dir;
    std::vector<std::string> classes;
    double paper_loss;
  };
  std::vector<Experiment> experiments;
  if (which != "fashion")
    experiments.push_back({"mnist", "MNIST", cae::data::kMnistDir, cae::data::numbered_classes(10), 0.0022});
  if (which != "mnist")
    experiments.push_back({"fashion", "Fashion-MNIST", cae::data::kFashionMnistDir,
                           cae::data::fashion_mnist_classes(), 0.0064});

  cae::json::Object timings;
  for (const Experiment& ex : experiments) {
    repro::Stopwatch load_clock;
    const std::string dir = cae::data::dataset_dir(ex.dir, args.data);
    const cae::data::Dataset train_all = cae::data::load_mnist_like(dir, true, ex.classes);
    const cae::data::Dataset test_all = cae::data::load_mnist_like(dir, false, ex.classes);
    const cae::data::Dataset train = cae::data::take_first(train_all, train_images);
    const cae::data::Dataset test = cae::data::take_first(test_all, test_images);
    const cae::data::Dataset val = cae::data::take_first(test_all, val_images);
    std::printf("== %s (%s): %lld training, %lld validation, %lld test images, loaded in %.1f s\n",
                ex.name.c_str(), dir.c_str(), static_cast<long long>(train.size()),
                static_cast<long long>(val.size()), static_cast<long long>(test.size()), load_clock.seconds());

    cae::manual_seed(s.seed);
    auto model = build_cae();
    if (s.init == "keras") repro::keras_init(*model);
    // What a stage's checkpoint must agree on, besides its epoch count.
    const std::string run_key = cae::str("002 ", ex.tag, " train=", train.size(), " val=", val.size(),
                                         " batch=", s.batch, " lr=", s.lr, " init=", s.init, " seed=", s.seed);
    Stage st = train_stage(ex.tag, *model, unlabelled(train.images), unlabelled(val.images), test.images,
                           test.images, s, run_key);
    const auto& last = st.history.last();
    report.compare(ex.name + " train MSE, last epoch", ex.paper_loss, last.train_loss);
    report.compare(ex.name + " validation MSE, last epoch", std::nullopt, last.test_loss);
    report.compare(ex.name + " test MSE", std::nullopt, st.test.mse);
    report.compare(ex.name + " test PSNR", std::nullopt, st.test.psnr, "dB");
    report.compare(ex.name + " test SSIM", std::nullopt, st.test.ssim);
    report.compare(ex.name + " seconds per epoch", std::nullopt, st.history.mean_epoch_seconds(), "s");
    timings[ex.tag + "_seconds_per_epoch"] = cae::json::Value(st.history.mean_epoch_seconds());
    report[ex.tag + "_history"] = st.history.to_json();
    const Baselines base = trivial_baselines(test.images);
    report.compare(ex.name + " test MSE, baseline: the mean image", std::nullopt, base.mean_image.mse);
    report.compare(ex.name + " test MSE, baseline: 7x7 average, upsampled", std::nullopt, base.downsampled.mse);
    std::printf("[%s] on the %lld test images:          MSE      PSNR      SSIM\n"
                "  this autoencoder (49-value code)    %.5f  %5.2f dB  %.4f\n"
                "  baseline: the mean image            %.5f  %5.2f dB  %.4f\n"
                "  baseline: 7x7 average, upsampled    %.5f  %5.2f dB  %.4f\n",
                ex.tag.c_str(), static_cast<long long>(test.size()), st.test.mse, st.test.psnr, st.test.ssim,
                base.mean_image.mse, base.mean_image.psnr, base.mean_image.ssim, base.downsampled.mse,
                base.downsampled.psnr, base.downsampled.ssim);
    for (const auto& [key, q] : {std::pair<std::string, const repro::Quality*>{"mean_image", &base.mean_image},
                                 {"downsampled", &base.downsampled}}) {
      report[ex.tag + "_baseline_" + key + "_mse"] = cae::json::Value(q->mse);
      report[ex.tag + "_baseline_" + key + "_psnr"] = cae::json::Value(q->psnr);
      report[ex.tag + "_baseline_" + key + "_ssim"] = cae::json::Value(q->ssim);
    }
    // Half the mean image's MSE: collapse scores 1, one quick epoch about 0.3.
    if (args.quick)
      repro::checks::require(repro::checks::reconstruction_beats_mean_image(ex.name + " test", st.test.mse,
                                                                            test.images, 0.5));

    // Originals, codes (each stretched to its own range) and reconstructions.
    const std::vector<index_t> picks = cae::data::first_index_of_each_class(test);
    const Tensor<float> codes = repro::predict(*model, test.images, 256, kEncoderModules);
    std::vector<Tensor<float>> code_row;
    for (index_t i : picks) code_row.push_back(cae::figures::feature_map_images(codes.sample(i))[0]);
    const std::string figure = args.out + "/" + ex.tag + "_reconstructions.png";
    cae::figures::save_image_grid(figure,
                                  std::vector<std::vector<Tensor<float>>>{repro::samples_at(test.images, picks), code_row,
                                                                          repro::samples_at(st.test_output, picks)},
                                  cae::figures::GridOptions().scale(3));
    std::printf("figure: %s (rows: originals, 7x7 codes, reconstructions)\n", figure.c_str());
    report[ex.tag + "_test_mse"] = cae::json::Value(st.test.mse);
    report[ex.tag + "_test_psnr"] = cae::json::Value(st.test.psnr);
    report[ex.tag + "_test_ssim"] = cae::json::Value(st.test.ssim);
    report[ex.tag + "_figure"] = cae::json::Value(figure);

    if (ex.tag != "fashion" || denoise_epochs == 0) continue;

    // Experiment 3: a fresh instance learns reconstruction -> original.
    std::printf("== experiment 3: denoising instance on %s reconstructions\n", ex.name.c_str());
    const Tensor<float> train_recon = repro::predict(*model, train.images);
    const Tensor<float> val_recon = repro::predict(*model, val.images);
    cae::manual_seed(s.seed + 1);
    auto second = build_cae();
    if (s.init == "keras") repro::keras_init(*second);
    Settings s2 = s;
    s2.epochs = denoise_epochs;
    Stage dn = train_stage("denoise", *second, unlabelled(pair_channels(train_recon, train.images)),
                           unlabelled(pair_channels(val_recon, val.images)), st.test_output, test.images, s2,
                           cae::str(run_key, " stage1_epochs=", s.epochs));
    report.compare("denoising instance loss", 0.124, dn.history.last().train_loss);
    report.compare("Fashion test MSE, stage 1 only", std::nullopt, st.test.mse);
    report.compare("Fashion test MSE, stage 1 + 2", std::nullopt, dn.test.mse);
    report.compare("stage 2 change in test MSE", std::nullopt,
                   100.0 * (dn.test.mse - st.test.mse) / st.test.mse, "%");
    report.compare("Fashion test PSNR, stage 1 + 2", std::nullopt, dn.test.psnr, "dB");
    report.compare("Fashion test SSIM, stage 1 + 2", std::nullopt, dn.test.ssim);
    timings["denoise_seconds_per_epoch"] = cae::json::Value(dn.history.mean_epoch_seconds());
    report["denoise_history"] = dn.history.to_json();
    report["denoise_test_mse"] = cae::json::Value(dn.test.mse);
    report["denoise_test_psnr"] = cae::json::Value(dn.test.psnr);
    report["denoise_test_ssim"] = cae::json::Value(dn.test.ssim);
    // Printed, not asserted: this second instance, trained on blurry inputs,
    // stays at the mean image for its first thousands of updates (the 2-epoch
    // run of docs/reproductions/compression.md; the quick mode's 250 too) and
    // in the full run does not beat stage 1; that is the finding, not a bug.
    const repro::checks::Check stage2 = repro::checks::reconstruction_beats_mean_image(
        "denoising instance, Fashion-MNIST test", dn.test.mse, test.images, 0.5);
    std::printf("collapse check (reported only): %s: %s\n", stage2.what.c_str(), stage2.ok ? "no collapse" : "collapsed");
    report["denoise_collapsed"] = cae::json::Value(!stage2.ok);
    const std::string dfig = args.out + "/fashion_denoising.png";
    cae::figures::save_image_grid(dfig,
                                  std::vector<std::vector<Tensor<float>>>{repro::samples_at(test.images, picks),
                                                                          repro::samples_at(st.test_output, picks),
                                                                          repro::samples_at(dn.test_output, picks)},
                                  cae::figures::GridOptions().scale(3));
    std::printf("figure: %s (rows: originals, stage-1 reconstructions, stage-2 outputs)\n", dfig.c_str());
    report["denoise_figure"] = cae::json::Value(dfig);
  }
  report["timings"] = cae::json::Value(std::move(timings));
  std::printf("\n%s", report.table().c_str());
  report.save(args.out + "/results.json");
  std::printf("results: %s/results.json\n", args.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return repro::run_main([&] { return run(argc, argv); });
}
