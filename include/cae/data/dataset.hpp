// Dataset: a whole labelled image set in memory, images [N, C, H, W] as floats
// in [0, 1] and one integer class label per image, plus the helpers that cut
// it up the way the experiments need (some classes only, the first n images,
// two sets joined).
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

struct Dataset {
  Tensor<float> images;                  // [N, C, H, W], values in [0, 1]
  std::vector<int> labels;               // N class indices in [0, class_names.size()),
                                         // or empty for an unlabelled set (e.g. a Kaggle test.csv)
  std::vector<std::string> class_names;  // class index -> name

  index_t size() const { return images.rank() == 0 ? 0 : images.dim(0); }
  bool labelled() const { return !labels.empty() || size() == 0; }
  int num_classes() const { return static_cast<int>(class_names.size()); }
  // [C, H, W]
  Shape sample_shape() const { return images.shape().drop_front(); }
  // A view of image i, [C, H, W].
  Tensor<float> image(index_t i) const { return images.sample(i); }

  // Throws cae::Error (naming `where`) unless the parts agree: images are
  // [N, C, H, W], there are N labels (or none), every label names a class.
  void validate(const std::string& where) const {
    CAE_CHECK(images.rank() == 4, Error, where, ": images must be [N, C, H, W], got ",
              images.shape());
    CAE_CHECK(labels.empty() || static_cast<index_t>(labels.size()) == size(), Error, where, ": ",
              size(), " images but ", labels.size(), " labels");
    for (std::size_t i = 0; i < labels.size(); ++i)
      CAE_CHECK(labels[i] >= 0 && labels[i] < num_classes(), Error, where, ": label ", labels[i],
                " of sample ", i, " is outside [0, ", num_classes(), ")");
  }
};

// Images per class: counts[c] = number of samples labelled c.
inline std::vector<index_t> class_counts(const Dataset& d) {
  std::vector<index_t> counts(d.class_names.size(), 0);
  for (int l : d.labels)
    if (l >= 0 && l < d.num_classes()) ++counts[static_cast<std::size_t>(l)];
  return counts;
}

// The index of the first sample of each class, in class order, skipping
// classes without samples: a fixed, readable choice of examples for figures.
inline std::vector<index_t> first_index_of_each_class(const Dataset& d) {
  std::vector<index_t> first(d.class_names.size(), -1);
  std::size_t missing = first.size();
  for (std::size_t i = 0; i < d.labels.size() && missing > 0; ++i) {
    const int l = d.labels[i];
    if (l >= 0 && l < d.num_classes() && first[static_cast<std::size_t>(l)] < 0) {
      first[static_cast<std::size_t>(l)] = static_cast<index_t>(i);
      --missing;
    }
  }
  first.erase(std::remove(first.begin(), first.end(), index_t{-1}), first.end());
  return first;
}

// The samples at `indices`, in that order (repeats allowed); classes unchanged.
inline Dataset subset(const Dataset& d, const std::vector<index_t>& indices) {
  Dataset out;
  out.class_names = d.class_names;
  const Shape sample = d.sample_shape();
  out.images.resize(sample.prepend(static_cast<index_t>(indices.size())));
  const index_t stride = sample.numel();
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const index_t i = indices[k];
    CAE_CHECK(i >= 0 && i < d.size(), Error, "subset: index ", i, " out of range for a dataset of ",
              d.size(), " samples");
    if (stride)
      std::memcpy(out.images.data() + static_cast<index_t>(k) * stride, d.images.data() + i * stride,
                  sizeof(float) * static_cast<std::size_t>(stride));
    if (!d.labels.empty()) out.labels.push_back(d.labels[static_cast<std::size_t>(i)]);
  }
  return out;
}

// Samples [begin, end).
inline Dataset slice(const Dataset& d, index_t begin, index_t end) {
  CAE_CHECK(0 <= begin && begin <= end && end <= d.size(), Error, "slice: samples [", begin, ", ",
            end, ") of a dataset of ", d.size());
  std::vector<index_t> idx;
  for (index_t i = begin; i < end; ++i) idx.push_back(i);
  return subset(d, idx);
}
// The first n samples (all of them when n >= size()).
inline Dataset take_first(const Dataset& d, index_t n) {
  CAE_CHECK(n >= 0, Error, "take_first: negative count ", n);
  return slice(d, 0, std::min(n, d.size()));
}
// The last n samples (all of them when n >= size()).
inline Dataset take_last(const Dataset& d, index_t n) {
  CAE_CHECK(n >= 0, Error, "take_last: negative count ", n);
  return slice(d, d.size() - std::min(n, d.size()), d.size());
}

// Only the samples of the given classes, relabelled 0, 1, ... in the order the
// classes are listed: select_classes(cifar, {3, 5}) makes cat = 0, dog = 1.
// Sample order is kept.
inline Dataset select_classes(const Dataset& d, const std::vector<int>& classes) {
  CAE_CHECK(!d.labels.empty() || d.size() == 0, Error,
            "select_classes: the dataset has no labels");
  std::vector<int> new_label(d.class_names.size(), -1);
  std::vector<std::string> names;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const int c = classes[k];
    CAE_CHECK(c >= 0 && c < d.num_classes(), Error, "select_classes: class ", c,
              " out of range; the dataset has ", d.num_classes(), " classes");
    CAE_CHECK(new_label[static_cast<std::size_t>(c)] < 0, Error, "select_classes: class ", c,
              " listed twice");
    new_label[static_cast<std::size_t>(c)] = static_cast<int>(k);
    names.push_back(d.class_names[static_cast<std::size_t>(c)]);
  }
  std::vector<index_t> keep;
  for (std::size_t i = 0; i < d.labels.size(); ++i) {
    const int l = d.labels[i];
    CAE_CHECK(l >= 0 && l < d.num_classes(), Error, "select_classes: label ", l, " of sample ", i,
              " is outside [0, ", d.num_classes(), ")");
    if (new_label[static_cast<std::size_t>(l)] >= 0) keep.push_back(static_cast<index_t>(i));
  }
  Dataset out = subset(d, keep);
  for (int& l : out.labels) l = new_label[static_cast<std::size_t>(l)];
  out.class_names = names;
  return out;
}

// The same by class name, e.g. select_classes(cifar, {"cat", "dog"}).
inline Dataset select_classes(const Dataset& d, const std::vector<std::string>& names) {
  std::vector<int> classes;
  for (const std::string& name : names) {
    auto it = std::find(d.class_names.begin(), d.class_names.end(), name);
    if (it == d.class_names.end()) {
      std::string known;
      for (const std::string& n : d.class_names) known += (known.empty() ? "" : ", ") + n;
      throw Error(str("select_classes: no class named '", name, "'; the classes are ", known));
    }
    classes.push_back(static_cast<int>(it - d.class_names.begin()));
  }
  return select_classes(d, classes);
}

// a's samples followed by b's. Both must have the same image shape and the
// same classes.
inline Dataset concat(const Dataset& a, const Dataset& b) {
  if (a.size() == 0 && a.images.rank() != 4) return b;
  if (b.size() == 0 && b.images.rank() != 4) return a;
  CAE_CHECK(a.sample_shape() == b.sample_shape(), Error, "concat: image shapes ", a.sample_shape(),
            " and ", b.sample_shape(), " differ");
  CAE_CHECK(a.class_names == b.class_names, Error, "concat: the datasets have different classes");
  CAE_CHECK(a.labelled() == b.labelled(), Error,
            "concat: one dataset has labels and the other has not");
  Dataset out;
  out.class_names = a.class_names;
  out.images.resize(a.sample_shape().prepend(a.size() + b.size()));
  std::copy(a.images.begin(), a.images.end(), out.images.begin());
  std::copy(b.images.begin(), b.images.end(), out.images.begin() + a.images.numel());
  out.labels = a.labels;
  out.labels.insert(out.labels.end(), b.labels.begin(), b.labels.end());
  return out;
}

// "0", "1", ..., "n-1": the class names of digit datasets.
inline std::vector<std::string> numbered_classes(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

}  // namespace cae::data
