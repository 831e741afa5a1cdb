// Reproduces paper 001: "Implementation of Convolutional Autoencoder and
// Learnings on Image Compression" (ANU, CIFAR-10).
//
// A LeNet-5-style CNN is trained on CIFAR-10 (5 epochs; the paper reports
// about 65% test accuracy). Convolutional autoencoders (conv + ReLU + 2x2 max
// pool blocks, then conv + ReLU + 2x2 nearest upsampling blocks, MSE, 5
// epochs) compress 3x32x32 images to codes 2, 4, 8 and 16 times smaller in
// width and height (the paper's "compression rate"; rate 8 is its 32x4x4
// code). For each rate the CNN classifies the reconstructed test images, and
//   ratio = accuracy on reconstructions / accuracy on originals
// measures how much class information the compression lost.
//
//   cae_cifar_rate_sweep [--rates 2,4,8,16] [--epochs 5] [--quick] ...
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cae/data/cifar.hpp"
#include "cae/data/loader.hpp"
#include "cae/data/paths.hpp"
#include "cae/figures.hpp"
#include "cae/io/file.hpp"
#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/layers/upsample.hpp"
#include "cae/losses.hpp"
#include "cae/optim/adam.hpp"
#include "cae/optim/sgd.hpp"
#include "cae/train/fit.hpp"
#include "common/autoencoder_eval.hpp"
#include "common/repro.hpp"
#include "common/sanity.hpp"

namespace {

using cae::index_t;
using cae::Tensor;
using Model = cae::Sequential<float>;

// LeNet-5 with ReLU and max pooling (the PyTorch CIFAR-10 tutorial's network).
std::unique_ptr<Model> build_lenet5() {
  auto m = std::make_unique<Model>(cae::Shape{3, 32, 32});
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(3, 6, 5)));
  m->add(cae::ReLU<float>());
  m->add(cae::MaxPool2d<float>(2));  // 6x14x14
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(6, 16, 5)));
  m->add(cae::ReLU<float>());
  m->add(cae::MaxPool2d<float>(2));  // 16x5x5
  m->add(cae::Flatten<float>());
  m->add(cae::Linear<float>(cae::LinearOptions(400, 120)));
  m->add(cae::ReLU<float>());
  m->add(cae::Linear<float>(cae::LinearOptions(120, 84)));
  m->add(cae::ReLU<float>());
  m->add(cae::Linear<float>(cae::LinearOptions(84, 10)));
  return m;
}

// Output channels of the encoder blocks for a given number of blocks: the
// rate-8 network (3 blocks) is 64, 32, 32 (a 32x4x4 code, the paper's Fig. 2);
// fewer or more blocks drop the first or add a 32 so the code keeps 32 channels.
std::vector<index_t> encoder_widths(int blocks) {
  switch (blocks) {
    case 1: return {32};
    case 2: return {64, 32};
    case 3: return {64, 32, 32};
    case 4: return {64, 32, 32, 32};
    default: throw cae::Error(cae::str("rate 2^", blocks, " is not supported; use 2, 4, 8 or 16"));
  }
}

int blocks_for_rate(int rate) {
  int b = 0;
  while ((1 << b) < rate) ++b;
  CAE_CHECK((1 << b) == rate && b >= 1 && b <= 4, cae::Error, "compression rate ", rate,
            " is not one of 2, 4, 8, 16");
  return b;
}

// The autoencoder for `rate`; its encoder is the first 3 * blocks modules.
std::unique_ptr<Model> build_cae(int rate) {
  const int blocks = blocks_for_rate(rate);
  const std::vector<index_t> widths = encoder_widths(blocks);
  auto m = std::make_unique<Model>(cae::Shape{3, 32, 32});
  index_t c = 3;
  for (index_t w : widths) {
    m->add(cae::Conv2d<float>(cae::Conv2dOptions(c, w, 3).padding(1)));
    m->add(cae::ReLU<float>());
    m->add(cae::MaxPool2d<float>(2));
    c = w;
  }
  for (int j = blocks - 1; j >= 0; --j) {  // mirror: the decoder widths are the encoder's reversed
    m->add(cae::Conv2d<float>(cae::Conv2dOptions(c, widths[static_cast<std::size_t>(j)], 3).padding(1)));
    m->add(cae::ReLU<float>());
    m->add(cae::Upsample<float>(cae::UpsampleOptions().scale_factor(2)));
    c = widths[static_cast<std::size_t>(j)];
  }
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(c, 3, 3).padding(1)));
  m->add(cae::Sigmoid<float>());
  return m;
}

std::vector<int> parse_rates(const std::string& text) {
  std::vector<int> rates;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    CAE_CHECK(!item.empty(), cae::Error, "--rates: empty item in '", text, "'");
    rates.push_back(std::stoi(item));
    blocks_for_rate(rates.back());
  }
  CAE_CHECK(!rates.empty(), cae::Error, "--rates: no rates in '", text, "'");
  return rates;
}

// CIFAR-10 from the image-folder copy (cifar10-jpg/{train,test}/<class>/*.jpg),
// keeping `per_class` images of each class (all when <= 0), or from the
// official binary release.
cae::data::Dataset load_cifar(const std::string& data, bool train, int per_class) {
  std::string dir;
  try {
    dir = cae::data::dataset_dir(cae::data::kCifar10JpgDir, data);
  } catch (const cae::IoError&) {
    const std::string bin = cae::data::dataset_dir(cae::data::kCifar10BinDir, data);
    cae::data::Dataset d = cae::data::load_cifar10(bin, train);
    if (per_class <= 0) return d;
    std::vector<index_t> keep;
    std::vector<int> taken(10, 0);
    for (index_t i = 0; i < d.size(); ++i)
      if (taken[static_cast<std::size_t>(d.labels[static_cast<std::size_t>(i)])]++ < per_class) keep.push_back(i);
    return cae::data::subset(d, keep);
  }
  return repro::load_image_folder_subset(dir + (train ? "/train" : "/test"), per_class, 3);
}

// A random permutation of the dataset (the image folder lists one class after
// another; the loaders shuffle anyway, but figures and the quick subsets want a mix).
cae::data::Dataset shuffled(const cae::data::Dataset& d, std::uint64_t seed) {
  std::vector<index_t> order(static_cast<std::size_t>(d.size()));
  for (index_t i = 0; i < d.size(); ++i) order[static_cast<std::size_t>(i)] = i;
  cae::Rng rng(seed);
  for (index_t i = d.size() - 1; i > 0; --i)
    std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint64_t>(i) + 1)]);
  return cae::data::subset(d, order);
}

// A code [C, h, w] as one grey 32x32 picture: the mean over channels,
// stretched to [0, 1], enlarged by nearest neighbour.
Tensor<float> code_picture(const Tensor<float>& code, index_t size) {
  const index_t c = code.dim(0), h = code.dim(1), w = code.dim(2);
  Tensor<float> mean({1, h, w}, 0.f);
  for (index_t k = 0; k < c; ++k)
    for (index_t i = 0; i < h * w; ++i) mean[i] += code[k * h * w + i] / static_cast<float>(c);
  const Tensor<float> stretched = cae::figures::feature_map_images(mean)[0];
  Tensor<float> out({1, size, size});
  for (index_t y = 0; y < size; ++y)
    for (index_t x = 0; x < size; ++x) out[y * size + x] = stretched[(y * h / size) * w + x * w / size];
  return out;
}

int run(int argc, char** argv) {
  const repro::Args args = repro::parse_args(
      argc, argv,
      "Paper 001 (ANU): compression rate versus information loss on CIFAR-10, measured by a LeNet-5\n"
      "classifier's accuracy on convolutional-autoencoder reconstructions.",
      {{"rates", "compression rates to sweep (default 2,4,8,16)"},
       {"batch", "batch size of every training (default 32)"},
       {"lr", "Adam learning rate of every training (default 0.001)"},
       {"cnn-epochs", "epochs of the classifier (default: --epochs)"},
       {"cnn-optimizer", "adam (lr --lr, batch --batch; default) or sgd (the PyTorch CIFAR-10 tutorial's\n"
                         "                 SGD lr 0.001, momentum 0.9)"},
       {"cnn-batch", "batch size of the classifier (default: --batch)"},
       {"train-per-class", "training images per class (default all 5,000; quick 200)"},
       {"cae-train-per-class", "of those, how many per class train the autoencoders (default all)"},
       {"test-per-class", "test images per class (default all 1,000; quick 100)"}});
  const std::vector<int> rates = parse_rates(args.get("rates", "2,4,8,16"));
  const int epochs = args.epochs_or(5, 1);
  const int cnn_epochs = std::stoi(args.get("cnn-epochs", std::to_string(args.quick ? 2 : epochs)));
  const index_t batch = std::stoll(args.get("batch", "32"));
  const double lr = std::stod(args.get("lr", "0.001"));
  const std::string cnn_optimizer = args.get("cnn-optimizer", "adam");
  CAE_CHECK(cnn_optimizer == "adam" || cnn_optimizer == "sgd", cae::Error,
            "--cnn-optimizer must be adam or sgd, got '", cnn_optimizer, "'");
  const index_t cnn_batch = std::stoll(args.get("cnn-batch", std::to_string(batch)));
  const int train_per_class = std::stoi(args.get("train-per-class", args.quick ? "200" : "0"));
  const int test_per_class = std::stoi(args.get("test-per-class", args.quick ? "100" : "0"));
  const int cae_train_per_class = std::stoi(args.get("cae-train-per-class", "0"));

  repro::Report report("001: CIFAR-10 compression rate vs information loss (CAE + LeNet-5)");
  report["mode"] = cae::json::Value(args.quick ? "quick" : "full");
  report["cae_epochs"] = cae::json::Value(epochs);
  report["cnn_epochs"] = cae::json::Value(cnn_epochs);
  report["batch_size"] = cae::json::Value(static_cast<double>(batch));
  report["cnn_optimizer"] = cae::json::Value(cnn_optimizer);
  report["cnn_batch_size"] = cae::json::Value(static_cast<double>(cnn_batch));
  report["learning_rate"] = cae::json::Value(lr);
  report["threads"] = cae::json::Value(cae::num_threads());

  repro::Stopwatch load_clock;
  const cae::data::Dataset train = shuffled(load_cifar(args.data, true, train_per_class), args.seed);
  const cae::data::Dataset test = shuffled(load_cifar(args.data, false, test_per_class), args.seed + 1);
  const double load_seconds = load_clock.seconds();
  std::printf("CIFAR-10: %lld training and %lld test images, loaded in %.1f s\n",
              static_cast<long long>(train.size()), static_cast<long long>(test.size()), load_seconds);
  // The autoencoders may train on fewer images (to bound the run time); the
  // per-epoch test curves use the first 2,000 (shuffled) test images, the
  // final numbers all of them.
  cae::data::Dataset cae_train = train;
  if (cae_train_per_class > 0) {
    std::vector<index_t> keep;
    std::vector<int> taken(static_cast<std::size_t>(train.num_classes()), 0);
    for (index_t i = 0; i < train.size(); ++i)
      if (taken[static_cast<std::size_t>(train.labels[static_cast<std::size_t>(i)])]++ < cae_train_per_class)
        keep.push_back(i);
    cae_train = cae::data::subset(train, keep);
  }
  const cae::data::Dataset val = cae::data::take_first(test, 2000);
  std::printf("the autoencoders train on %lld images; per-epoch test curves use %lld test images\n",
              static_cast<long long>(cae_train.size()), static_cast<long long>(val.size()));
  report["cae_train_images"] = cae::json::Value(static_cast<double>(cae_train.size()));
  report["curve_test_images"] = cae::json::Value(static_cast<double>(val.size()));
  report["train_images"] = cae::json::Value(static_cast<double>(train.size()));
  report["test_images"] = cae::json::Value(static_cast<double>(test.size()));
  report["load_seconds"] = cae::json::Value(load_seconds);
  const auto loader_options = [&](bool shuffle) {
    return cae::data::DataLoaderOptions(batch).shuffle(shuffle).seed(args.seed).prefetch(true);
  };

  // The classifier.
  cae::manual_seed(args.seed);
  auto cnn = build_lenet5();
  std::printf("%s\n", cnn->summary().c_str());
  if (args.quick) repro::sanity(cnn->num_parameters() == 62006, "LeNet-5 has the documented 62,006 parameters");
  double cnn_accuracy = 0;
  {
    cae::data::DataLoader train_loader(train, loader_options(true).batch_size(cnn_batch));
    cae::data::DataLoader test_loader(test, loader_options(false).batch_size(256));
    cae::CrossEntropyLoss<float> loss;
    std::unique_ptr<cae::optim::Optimizer<float>> optimizer;
    if (cnn_optimizer == "sgd")
      optimizer = std::make_unique<cae::optim::SGD<float>>(cnn->parameters(), cae::optim::SGDOptions(0.001).momentum(0.9));
    else
      optimizer = std::make_unique<cae::optim::Adam<float>>(cnn->parameters(), cae::optim::AdamOptions(lr));
    cae::train::Trainer<float> trainer(*cnn, loss, *optimizer, cae::train::classification<float>());
    const std::string csv = args.out + "/cnn_history.csv";
    auto history = trainer.fit(train_loader, &test_loader,
                               cae::train::FitOptions().epochs(cnn_epochs).accuracy(true).seed(args.seed).history_csv(csv));
    cae::figures::save_history_plot(csv, args.out + "/cnn_curves.png");
    cnn_accuracy = cae::metrics::accuracy(repro::predict(*cnn, test.images), test.labels);
    report.compare("CNN test accuracy", 65, 100 * cnn_accuracy, "%");
    report.compare("CNN seconds per epoch", std::nullopt, history.mean_epoch_seconds(), "s");
    report["cnn_history"] = history.to_json();
    // 10 points over a constant class: two quick epochs reach about 0.3.
    if (args.quick)
      repro::checks::require(repro::checks::accuracy_above_chance("LeNet-5 test", cnn_accuracy, test.labels, 0.1));
  }

  // A fixed set of test images for the figures: the first of each class.
  std::vector<index_t> picks;
  for (int c = 0; c < 10; ++c)
    for (index_t i = 0; i < test.size(); ++i)
      if (test.labels[static_cast<std::size_t>(i)] == c) {
        picks.push_back(i);
        break;
      }
  std::vector<Tensor<float>> originals;
  for (index_t i : picks) originals.push_back(Tensor<float>(test.image(i)));
  std::vector<std::vector<Tensor<float>>> all_rates_rows{originals};

  std::vector<double> ratio_curve, mse_curve, rate_axis;
  cae::json::Array sweep;
  for (int rate : rates) {
    const int blocks = blocks_for_rate(rate);
    cae::manual_seed(args.seed + static_cast<std::uint64_t>(rate));
    auto model = build_cae(rate);
    const std::size_t encoder_modules = 3 * static_cast<std::size_t>(blocks);
    const Tensor<float> probe = repro::forward_layers(*model, Tensor<float>({1, 3, 32, 32}, 0.f), 0, encoder_modules);
    const cae::Shape code_shape = probe.shape().drop_front();
    std::printf("== compression rate %d: code %s (%lld values for 3,072)\n%s\n", rate,
                cae::batch_shape_str(code_shape).c_str(), static_cast<long long>(code_shape.numel()),
                model->summary().c_str());
    if (args.quick && rate == 8) {
      repro::sanity(model->num_parameters() == 68227, "rate-8 CAE has the documented 68,227 parameters");
      repro::sanity(code_shape == cae::Shape({32, 4, 4}), "rate-8 code is 32x4x4");
    }

    const double initial_mse = cae::metrics::mse(test.images, repro::predict(*model, test.images));
    cae::data::DataLoader train_loader(cae_train, loader_options(true));
    cae::data::DataLoader test_loader(val, loader_options(false));
    cae::MSELoss<float> loss;
    cae::optim::Adam<float> adam(model->parameters(), cae::optim::AdamOptions(lr));
    cae::train::Trainer<float> trainer(*model, loss, adam, cae::train::reconstruction<float>());
    const std::string tag = "rate" + std::to_string(rate);
    const std::string csv = args.out + "/" + tag + "_history.csv";
    auto history = trainer.fit(train_loader, &test_loader,
                               cae::train::FitOptions().epochs(epochs).seed(args.seed).history_csv(csv));
    cae::figures::save_history_plot(csv, args.out + "/" + tag + "_loss.png");

    const Tensor<float> recon = repro::predict(*model, test.images);
    const repro::Quality q = repro::quality(test.images, recon);
    const double acc = cae::metrics::accuracy(repro::predict(*cnn, recon), test.labels);
    const double ratio = acc / cnn_accuracy;
    std::printf("rate %d: test MSE %.5f  PSNR %.2f dB  SSIM %.4f  CNN accuracy %.2f%% -> ratio %.3f\n", rate,
                q.mse, q.psnr, q.ssim, 100 * acc, ratio);
    report.compare("rate " + std::to_string(rate) + ": CAE test MSE", rate == 8 ? std::optional<double>(0.05) : std::nullopt,
                   q.mse);
    report.compare("rate " + std::to_string(rate) + ": CNN accuracy on recon.", std::nullopt, 100 * acc, "%");
    report.compare("rate " + std::to_string(rate) + ": accuracy ratio", std::nullopt, ratio);
    report.compare("rate " + std::to_string(rate) + ": seconds per epoch", std::nullopt, history.mean_epoch_seconds(), "s");
    ratio_curve.push_back(ratio);
    mse_curve.push_back(q.mse);
    rate_axis.push_back(rate);
    sweep.push_back(cae::json::Value(cae::json::Object{
        {"rate", cae::json::Value(rate)},
        {"code_shape", cae::json::Value(cae::batch_shape_str(code_shape))},
        {"code_values", cae::json::Value(static_cast<double>(code_shape.numel()))},
        {"parameters", cae::json::Value(static_cast<double>(model->num_parameters()))},
        {"test_mse", cae::json::Value(q.mse)},
        {"test_psnr", cae::json::Value(q.psnr)},
        {"test_ssim", cae::json::Value(q.ssim)},
        {"cnn_accuracy_reconstructed", cae::json::Value(acc)},
        {"accuracy_ratio", cae::json::Value(ratio)},
        {"seconds_per_epoch", cae::json::Value(history.mean_epoch_seconds())},
        {"history", history.to_json()}}));
    if (args.quick) {
      repro::sanity(q.mse < 0.8 * initial_mse,
                    "rate " + std::to_string(rate) + ": training lowered the test MSE by over 20%");
      // 0.7: the quick epoch reaches 0.13 (rate 2) to 0.59 (rate 16) of the mean image's MSE.
      repro::checks::require(repro::checks::reconstruction_beats_mean_image(
          "rate " + std::to_string(rate) + " CAE test", q.mse, test.images, 0.7));
    }

    // Like the paper's Figures 5-8: originals, codes, reconstructions.
    const Tensor<float> codes = repro::predict(*model, test.images, 256, encoder_modules);
    std::vector<Tensor<float>> code_row, recon_row;
    for (index_t i : picks) {
      code_row.push_back(code_picture(codes.sample(i), 32));
      recon_row.push_back(Tensor<float>(recon.sample(i)));
    }
    const std::string figure = args.out + "/" + tag + "_images.png";
    cae::figures::save_image_grid(figure, std::vector<std::vector<Tensor<float>>>{originals, code_row, recon_row},
                                  cae::figures::GridOptions().scale(2));
    std::printf("figure: %s (rows: originals, codes (channel mean), reconstructions)\n", figure.c_str());
    all_rates_rows.push_back(recon_row);
  }
  report["sweep"] = cae::json::Value(std::move(sweep));
  report["cnn_test_accuracy"] = cae::json::Value(cnn_accuracy);

  cae::figures::save_line_plot(args.out + "/ratio_vs_rate.png", {cae::figures::Series{ratio_curve, rate_axis}});
  cae::figures::save_line_plot(args.out + "/mse_vs_rate.png", {cae::figures::Series{mse_curve, rate_axis}});
  cae::figures::save_image_grid(args.out + "/all_rates.png", all_rates_rows, cae::figures::GridOptions().scale(2));
  std::printf("figures: %s/ratio_vs_rate.png, mse_vs_rate.png, all_rates.png (rows: originals, then rates",
              args.out.c_str());
  for (int r : rates) std::printf(" %d", r);
  std::printf(")\n");
  if (args.quick && ratio_curve.size() >= 2)
    repro::sanity(ratio_curve.front() >= ratio_curve.back() - 0.05,
                  "the lowest rate keeps at least as much accuracy as the highest (within 0.05)");

  std::printf("\n%s", report.table().c_str());
  report.save(args.out + "/results.json");
  std::printf("results: %s/results.json\n", args.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return repro::run_main([&] { return run(argc, argv); });
}
