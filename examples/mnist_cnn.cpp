// A small CNN on MNIST: the shortest complete use of cae's training toolkit
// (IDX loading, DataLoader, Sequential with shape inference, Adam, Trainer,
// checkpoint, confusion matrix). One epoch reaches more than 97% test accuracy.
//
//   build/examples/mnist_cnn [--data DIR] [--epochs 1] [--threads N] [--out DIR] [--quick]
#include <cstdio>

#include "cae/cae.hpp"
#include "common/repro.hpp"
#include "common/sanity.hpp"

int main(int argc, char** argv) {
  return repro::run_main([&] {
    const auto args = repro::parse_args(argc, argv, "Train a small CNN on MNIST.");
    const std::string dir = cae::data::dataset_dir(cae::data::kMnistDir, args.data);
    auto train_set = cae::data::load_mnist_like(dir, true);
    auto test_set = cae::data::load_mnist_like(dir, false);
    if (args.quick) {  // a tenth of the data keeps the smoke test under a minute
      train_set = cae::data::take_first(train_set, 6000);
      test_set = cae::data::take_first(test_set, 2000);
    }
    std::printf("MNIST: %lld training and %lld test images from %s\n",
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()),
                dir.c_str());

    using namespace cae;
    Sequential<float> net({1, 28, 28});
    net.add(Conv2d<float>(Conv2dOptions(1, 16, 3).padding(1)));
    net.add(ReLU<float>());
    net.add(MaxPool2d<float>(MaxPool2dOptions(2)));
    net.add(Conv2d<float>(Conv2dOptions(16, 32, 3).padding(1)));
    net.add(ReLU<float>());
    net.add(MaxPool2d<float>(MaxPool2dOptions(2)));
    net.add(Flatten<float>());
    net.add(Linear<float>(128));  // in_features (32*7*7) is inferred
    net.add(ReLU<float>());
    net.add(Linear<float>(10));
    std::printf("%s", net.summary().c_str());

    data::DataLoader train(train_set, data::DataLoaderOptions(64).shuffle(true).seed(args.seed).prefetch(true));
    data::DataLoader test(test_set, data::DataLoaderOptions(500));
    CrossEntropyLoss<float> loss;
    optim::Adam<float> adam(net.parameters(), optim::AdamOptions(1e-3));
    train::Trainer<float> trainer(net, loss, adam, train::classification<float>());
    const auto history = trainer.fit(
        train, &test,
        train::FitOptions().epochs(args.epochs_or(1, 1)).accuracy(true).seed(args.seed)
            .history_csv(args.out + "/history.csv").checkpoint(args.out + "/mnist_cnn.ckpt"));

    // Confusion matrix of the test set.
    metrics::ConfusionMatrix confusion(10, test_set.class_names);
    net.eval();
    for (const data::Batch* b = test.next(); b; b = test.next())
      confusion.add(net.forward(b->images), b->labels);
    std::printf("\n%s\n", confusion.str().c_str());

    const double acc = 100 * history.last().test_accuracy;
    repro::Report report("mnist_cnn");
    report.compare("test accuracy after 1 epoch (target > 97)", 97.0, acc, "%");
    report.compare("training images/s", std::nullopt, history.last().images_per_second);
    std::printf("%s", report.table().c_str());
    report["history"] = history.to_json();
    report.save(args.out + "/results.json");
    if (args.quick)  // a constant class scores about 0.11 on these 2,000 digits
      repro::checks::require(repro::checks::accuracy_above_chance("MNIST test", acc / 100, test_set.labels, 0.6));
    repro::sanity(acc > (args.quick ? 80.0 : 97.0), args.quick ? "test accuracy above 80% on the 6,000-image subset"
                                                             : "test accuracy above 97%");
    return 0;
  });
}
