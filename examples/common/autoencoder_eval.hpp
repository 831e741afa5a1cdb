// Helpers the compression reproductions (002, 001) share: running part of a
// flat Sequential (the encoder is its first layers), predicting a whole image
// set batch by batch in eval mode, reconstruction quality (MSE, PSNR, SSIM),
// and loading only some images of an image folder (for quick runs on
// CIFAR-10's 60,000 JPEGs).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cae/data/dataset.hpp"
#include "cae/data/image_folder.hpp"
#include "cae/io/image.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/metrics.hpp"
#include "common/keras_init.hpp"

namespace repro {

// Layers [begin, end) of a flat Sequential applied to x (the layers' own
// buffers hold the result, valid until their next forward).
inline const cae::Tensor<float>& forward_layers(cae::Sequential<float>& model, const cae::Tensor<float>& x,
                                                std::size_t begin, std::size_t end) {
  CAE_CHECK(begin <= end && end <= model.size(), cae::Error, "forward_layers: layers [", begin, ", ",
            end, ") of a Sequential of ", model.size());
  const cae::Tensor<float>* h = &x;
  for (std::size_t i = begin; i < end; ++i) h = &model[i].forward(*h);
  return *h;
}

// Parameters of layers [begin, end) of a flat Sequential.
inline cae::index_t count_parameters(cae::Sequential<float>& model, std::size_t begin, std::size_t end) {
  cae::index_t n = 0;
  for (std::size_t i = begin; i < end; ++i) n += model[i].num_parameters();
  return n;
}

// The output of layers [0, end) (end = 0: the whole model) for every image of
// `images` [N, C, H, W], computed in eval mode `batch` images at a time.
inline cae::Tensor<float> predict(cae::Sequential<float>& model, const cae::Tensor<float>& images,
                                  cae::index_t batch = 256, std::size_t end = 0) {
  if (end == 0) end = model.size();
  const bool was_training = model.is_training();
  model.eval();
  cae::Tensor<float> out;
  const cae::index_t n = images.dim(0);
  for (cae::index_t first = 0; first < n; first += batch) {
    const cae::index_t last = std::min(n, first + batch);
    const cae::Tensor<float>& y = forward_layers(model, images.slice(first, last), 0, end);
    if (first == 0) out.resize(y.shape().drop_front().prepend(n));
    std::memcpy(out.data() + first * (out.numel() / n), y.data(), sizeof(float) * static_cast<std::size_t>(y.numel()));
  }
  model.train(was_training);
  return out;
}

// How close reconstructions are to the originals, both [N, C, H, W] in [0, 1]
// (reconstructions unclamped, as the loss sees them).
struct Quality {
  double mse = 0;   // mean over every pixel: what MSELoss reports
  double psnr = 0;  // 10 log10(1 / mse), from the data set's mean MSE
  double ssim = 0;  // mean over images of SSIM (Gaussian 11x11 window, sigma 1.5)
};

inline Quality quality(const cae::Tensor<float>& originals, const cae::Tensor<float>& reconstructions) {
  Quality q;
  q.mse = cae::metrics::mse(originals, reconstructions);
  q.psnr = cae::metrics::psnr(originals, reconstructions);
  q.ssim = cae::metrics::ssim(originals, reconstructions);
  return q;
}

// An image folder (root/<class>/<files>), keeping only the first
// `per_class` files of every class (all of them when per_class <= 0), in
// torchvision's order. Images are decoded in parallel.
inline cae::data::Dataset load_image_folder_subset(const std::string& root, int per_class, int channels = 3) {
  cae::data::Dataset d;
  std::vector<cae::data::ImageFile> files = cae::data::list_image_folder(root, d.class_names);
  if (per_class > 0) {
    std::vector<cae::data::ImageFile> kept;
    std::vector<int> taken(d.class_names.size(), 0);
    for (const auto& f : files)
      if (taken[static_cast<std::size_t>(f.label)]++ < per_class) kept.push_back(f);
    files.swap(kept);
  }
  const cae::index_t n = static_cast<cae::index_t>(files.size());
  const cae::Tensor<float> first = cae::io::load_image(files[0].path, channels);
  const cae::Shape sample = first.shape();
  d.images.resize(sample.prepend(n));
  d.labels.resize(files.size());
  std::vector<std::string> errors(files.size());
#pragma omp parallel for schedule(dynamic, 64)
  for (cae::index_t i = 0; i < n; ++i) {
    const auto& f = files[static_cast<std::size_t>(i)];
    d.labels[static_cast<std::size_t>(i)] = f.label;
    try {
      const cae::Tensor<float> img = cae::io::load_image(f.path, channels);
      if (img.shape() != sample)
        errors[static_cast<std::size_t>(i)] = cae::str(f.path, ": image shape ", img.shape(), " differs from ", sample);
      else
        std::copy(img.begin(), img.end(), d.images.data() + i * sample.numel());
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(i)] = e.what();
    }
  }
  for (const std::string& e : errors)
    if (!e.empty()) throw cae::IoError(e);
  return d;
}

}  // namespace repro
