// The distortions of "Correcting Images with Autoencoders" (Lovric et al.,
// section 1.4), which a denoising autoencoder learns to undo:
//
//   geometric  one of: vertical flip (up-down), horizontal flip (left-right),
//              rotation by 90, 180 or 270 degrees. The paper picks flip-ud,
//              flip-lr or rotation with probability 1/3 each, and the angle
//              uniformly among the three.
//   noise      one of (1/2 each): Gaussian noise, mu = 0, sigma = 30 on the
//              0..255 scale; or a brightness gradient field (below).
//   occlusion  a black rectangle, applied with probability 1/2.
//
// Images are floats in [0, 1], so the paper's 0..255 constants are divided by
// 255, and every result is clamped to [0, 1].
//
// Brightness gradient field. The paper: "a brightness gradient field across the
// image, where the position and magnitude of the maximum pixel are chosen
// randomly (where its brightness is distributed between 0 and 30). The
// brightness decreases then with distance r of the center by the factor
// (1 + 0.1 r)^-1." Our reading: the centre is a pixel (row, col) drawn
// uniformly over the whole image, the peak is uniform in [0, 30/255), r is the
// Euclidean distance in pixels, and peak / (1 + 0.1 r) is added to every
// channel (so the centre pixel brightens by exactly the peak).
//
// Occlusion patch. The paper: "The bottom left corner of the patch lies in the
// bottom left quadrant of the image and its side lengths lie between a quarter
// and half of the image side lengths." So the patch's bottom-left pixel
// (bottom row, left column) is drawn uniformly in the bottom-left quadrant
// (rows [ceil(H/2), H), columns [0, floor(W/2))), its height uniformly in
// [ceil(H/4), floor(H/2)] and its width in [ceil(W/4), floor(W/2)]; the patch
// extends up and to the right from that corner and so always lies inside the
// image (it may reach out of the quadrant).
//
// Single and multiple distortions (the paper's sections 3.4-3.5): "single"
// applies one distortion: one of the three groups with probability 1/3 each,
// then one member as above. "Multiple" is the section 1.4 protocol: one
// geometric and one noise distortion, plus the occlusion with probability 1/2,
// i.e. 2 or 3 distinct distortions, applied in that order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cae/data/transforms/image_layout.hpp"
#include "cae/error.hpp"
#include "cae/random.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

enum class Distortion {
  FlipVertical,    // up-down: row i becomes row H-1-i (np.flipud)
  FlipHorizontal,  // left-right: column j becomes column W-1-j (np.fliplr)
  Rotate90,        // counter-clockwise, as torch.rot90(x, 1, {-2, -1}) and np.rot90
  Rotate180,
  Rotate270,
  GaussianNoise,
  BrightnessGradient,
  Occlusion,
};

enum class DistortionGroup { Geometric, Noise, Occlusion };

inline const char* distortion_name(Distortion d) {
  switch (d) {
    case Distortion::FlipVertical: return "flip_vertical";
    case Distortion::FlipHorizontal: return "flip_horizontal";
    case Distortion::Rotate90: return "rotate90";
    case Distortion::Rotate180: return "rotate180";
    case Distortion::Rotate270: return "rotate270";
    case Distortion::GaussianNoise: return "gaussian_noise";
    case Distortion::BrightnessGradient: return "brightness_gradient";
    case Distortion::Occlusion: return "occlusion";
  }
  return "unknown";
}

inline DistortionGroup distortion_group(Distortion d) {
  switch (d) {
    case Distortion::GaussianNoise:
    case Distortion::BrightnessGradient: return DistortionGroup::Noise;
    case Distortion::Occlusion: return DistortionGroup::Occlusion;
    default: return DistortionGroup::Geometric;
  }
}

// The paper's constants, on the [0, 1] scale.
class DistortionOptions {
 public:
  // Gaussian noise standard deviation (paper: 30 / 255).
  DistortionOptions& noise_stddev(double v) { return set(noise_stddev_, v, "noise_stddev"); }
  // The brightness peak is uniform in [0, gradient_max_peak) (paper: 30 / 255).
  DistortionOptions& gradient_max_peak(double v) {
    return set(gradient_max_peak_, v, "gradient_max_peak");
  }
  // Per-pixel decay of the gradient: peak / (1 + decay * r) (paper: 0.1).
  DistortionOptions& gradient_decay(double v) { return set(gradient_decay_, v, "gradient_decay"); }
  // Probability of the occlusion in DistortionMode::Multiple (paper: 0.5).
  DistortionOptions& occlusion_probability(double v) {
    CAE_CHECK(v <= 1, Error, "DistortionOptions: occlusion_probability must be <= 1, got ", v);
    return set(occlusion_probability_, v, "occlusion_probability");
  }
  double noise_stddev() const { return noise_stddev_; }
  double gradient_max_peak() const { return gradient_max_peak_; }
  double gradient_decay() const { return gradient_decay_; }
  double occlusion_probability() const { return occlusion_probability_; }

 private:
  DistortionOptions& set(double& field, double v, const char* name) {
    CAE_CHECK(v >= 0 && std::isfinite(v), Error, "DistortionOptions: ", name,
              " must be finite and >= 0, got ", v);
    field = v;
    return *this;
  }
  double noise_stddev_ = 30.0 / 255.0;
  double gradient_max_peak_ = 30.0 / 255.0;
  double gradient_decay_ = 0.1;
  double occlusion_probability_ = 0.5;
};

// The maximum of a brightness gradient field: pixel (row, col) brightens by `peak`.
struct GradientSpot {
  index_t row = 0, col = 0;
  double peak = 0;
};

// Rows [top, top + height) and columns [left, left + width).
struct Patch {
  index_t top = 0, left = 0, height = 0, width = 0;
  index_t bottom() const { return top + height - 1; }  // last row, inclusive
};

// What was done to one image, for reports and figure captions.
struct DistortionRecord {
  std::vector<Distortion> applied;  // in the order applied
  GradientSpot gradient;            // set when BrightnessGradient was applied
  Patch patch;                      // set when Occlusion was applied

  bool has(Distortion d) const {
    for (Distortion a : applied)
      if (a == d) return true;
    return false;
  }
  // "rotate90+gaussian_noise+occlusion"
  std::string str() const {
    std::string s;
    for (Distortion a : applied) s += (s.empty() ? "" : "+") + std::string(distortion_name(a));
    return s.empty() ? "none" : s;
  }
};

// ---- deterministic primitives, on [C, H, W] or [N, C, H, W] ----

// torch.flip(x, {-2}): rows reversed.
template <typename T>
Tensor<T> flip_vertical(const Tensor<T>& x) {
  const detail::ImageLayout L = detail::image_layout(x, "flip_vertical");
  Tensor<T> y(x.shape());
  const index_t planes = L.images * L.channels, h = L.height, w = L.width;
  for (index_t p = 0; p < planes; ++p)
    for (index_t i = 0; i < h; ++i)
      std::copy_n(x.data() + (p * h + (h - 1 - i)) * w, w, y.data() + (p * h + i) * w);
  return y;
}

// torch.flip(x, {-1}): columns reversed.
template <typename T>
Tensor<T> flip_horizontal(const Tensor<T>& x) {
  detail::image_layout(x, "flip_horizontal");
  Tensor<T> y(x.shape());
  const index_t rows = x.numel() / std::max<index_t>(x.dim(-1), 1), w = x.dim(-1);
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < w; ++j) y[r * w + j] = x[r * w + (w - 1 - j)];
  return y;
}

// torch.rot90(x, k, {-2, -1}): rotation by k * 90 degrees counter-clockwise
// (negative k turns clockwise). Odd k swaps H and W.
template <typename T>
Tensor<T> rot90(const Tensor<T>& x, int k) {
  const detail::ImageLayout L = detail::image_layout(x, "rot90");
  k = ((k % 4) + 4) % 4;
  const index_t h = L.height, w = L.width, planes = L.images * L.channels;
  Shape s = x.shape();
  if (k % 2) std::swap(s[x.rank() - 2], s[x.rank() - 1]);
  Tensor<T> y(s);
  const index_t oh = s.at(-2), ow = s.at(-1);
  for (index_t p = 0; p < planes; ++p) {
    const T* in = x.data() + p * h * w;
    T* out = y.data() + p * h * w;
    for (index_t i = 0; i < oh; ++i)
      for (index_t j = 0; j < ow; ++j) {
        index_t si = i, sj = j;
        if (k == 1) si = j, sj = w - 1 - i;
        if (k == 2) si = h - 1 - i, sj = w - 1 - j;
        if (k == 3) si = h - 1 - j, sj = i;
        out[i * ow + j] = in[si * w + sj];
      }
  }
  return y;
}

// The field peak / (1 + decay * r), r the distance in pixels from the spot: [H, W].
template <typename T = float>
Tensor<T> brightness_gradient_field(index_t height, index_t width, const GradientSpot& spot,
                                    double decay = 0.1) {
  Tensor<T> f({height, width});
  for (index_t i = 0; i < height; ++i)
    for (index_t j = 0; j < width; ++j) {
      const double dy = static_cast<double>(i - spot.row), dx = static_cast<double>(j - spot.col);
      f[i * width + j] = static_cast<T>(spot.peak / (1.0 + decay * std::sqrt(dy * dy + dx * dx)));
    }
  return f;
}

// Adds the brightness gradient field to every channel of every image, clamped to [0, 1].
template <typename T>
void add_brightness_gradient_(Tensor<T>& x, const GradientSpot& spot, double decay = 0.1) {
  const detail::ImageLayout L = detail::image_layout(x, "add_brightness_gradient");
  const Tensor<T> f = brightness_gradient_field<T>(L.height, L.width, spot, decay);
  const index_t plane = L.plane();
  for (index_t p = 0; p < L.images * L.channels; ++p) {
    T* q = x.data() + p * plane;
    for (index_t j = 0; j < plane; ++j) q[j] = detail::clamp01(q[j] + f[j]);
  }
}

// Sets the patch to black (0) in every channel of every image.
template <typename T>
void occlude_(Tensor<T>& x, const Patch& patch) {
  const detail::ImageLayout L = detail::image_layout(x, "occlude");
  CAE_CHECK(patch.top >= 0 && patch.left >= 0 && patch.height >= 0 && patch.width >= 0 &&
                patch.top + patch.height <= L.height && patch.left + patch.width <= L.width,
            ShapeError, "occlude: patch rows [", patch.top, ", ", patch.top + patch.height,
            ") x columns [", patch.left, ", ", patch.left + patch.width, ") outside image ",
            x.shape());
  for (index_t p = 0; p < L.images * L.channels; ++p)
    for (index_t i = patch.top; i < patch.top + patch.height; ++i)
      std::fill_n(x.data() + (p * L.height + i) * L.width + patch.left, patch.width, T(0));
}

// ---- random parameters, as the paper draws them ----

inline GradientSpot random_gradient_spot(index_t height, index_t width, Rng& rng,
                                         double max_peak = 30.0 / 255.0) {
  CAE_CHECK(height > 0 && width > 0, ShapeError, "random_gradient_spot: empty image ", height,
            "x", width);
  GradientSpot s;
  s.row = rng.integer(0, height - 1);
  s.col = rng.integer(0, width - 1);
  s.peak = rng.uniform(0.0, max_peak);
  return s;
}

inline Patch random_occlusion_patch(index_t height, index_t width, Rng& rng) {
  CAE_CHECK(height >= 2 && width >= 2, ShapeError,
            "random_occlusion_patch: image must be at least 2x2, got ", height, "x", width);
  Patch p;
  p.height = rng.integer((height + 3) / 4, height / 2);
  p.width = rng.integer((width + 3) / 4, width / 2);
  const index_t bottom = rng.integer((height + 1) / 2, height - 1);
  p.left = rng.integer(0, width / 2 - 1);
  p.top = bottom - p.height + 1;
  return p;
}

// ---- choosing and applying distortions ----

enum class DistortionMode {
  Single,    // one distortion per image
  Multiple,  // one geometric + one noise (+ occlusion with probability 1/2)
};

inline Distortion random_geometric_distortion(Rng& rng) {
  switch (rng.below(3)) {
    case 0: return Distortion::FlipVertical;
    case 1: return Distortion::FlipHorizontal;
    default: {
      const Distortion angles[] = {Distortion::Rotate90, Distortion::Rotate180,
                                   Distortion::Rotate270};
      return angles[rng.below(3)];
    }
  }
}

inline Distortion random_noise_distortion(Rng& rng) {
  return rng.below(2) == 0 ? Distortion::GaussianNoise : Distortion::BrightnessGradient;
}

inline std::vector<Distortion> choose_distortions(DistortionMode mode, Rng& rng,
                                                  const DistortionOptions& opt = {}) {
  if (mode == DistortionMode::Single) {
    switch (rng.below(3)) {
      case 0: return {random_geometric_distortion(rng)};
      case 1: return {random_noise_distortion(rng)};
      default: return {Distortion::Occlusion};
    }
  }
  std::vector<Distortion> out{random_geometric_distortion(rng)};
  out.push_back(random_noise_distortion(rng));
  if (rng.bernoulli(opt.occlusion_probability())) out.push_back(Distortion::Occlusion);
  return out;
}

// Applies one distortion to a single image [C, H, W] in place, drawing its
// random parameters from rng and noting them in `record`.
template <typename T>
void apply_distortion_(Tensor<T>& image, Distortion d, Rng& rng, DistortionRecord& record,
                       const DistortionOptions& opt = {}) {
  CAE_CHECK(image.rank() == 3, ShapeError, "apply_distortion: needs one image [C, H, W], got ",
            image.shape());
  const index_t h = image.dim(1), w = image.dim(2);
  switch (d) {
    case Distortion::FlipVertical: image = flip_vertical(image); break;
    case Distortion::FlipHorizontal: image = flip_horizontal(image); break;
    case Distortion::Rotate90:
    case Distortion::Rotate270:
      CAE_CHECK(h == w, ShapeError, "apply_distortion: ", distortion_name(d),
                " would change the shape of the non-square image ", image.shape());
      image = rot90(image, d == Distortion::Rotate90 ? 1 : 3);
      break;
    case Distortion::Rotate180: image = rot90(image, 2); break;
    case Distortion::GaussianNoise: {
      const double s = opt.noise_stddev();
      for (T& v : image) v = detail::clamp01(static_cast<T>(v + rng.normal(0.0, s)));
      break;
    }
    case Distortion::BrightnessGradient:
      record.gradient = random_gradient_spot(h, w, rng, opt.gradient_max_peak());
      add_brightness_gradient_(image, record.gradient, opt.gradient_decay());
      break;
    case Distortion::Occlusion:
      record.patch = random_occlusion_patch(h, w, rng);
      occlude_(image, record.patch);
      break;
  }
  record.applied.push_back(d);
}

// Applies the given distortions, in order, to one image [C, H, W].
template <typename T>
DistortionRecord apply_distortions_(Tensor<T>& image, const std::vector<Distortion>& which,
                                    Rng& rng, const DistortionOptions& opt = {}) {
  DistortionRecord record;
  for (Distortion d : which) apply_distortion_(image, d, rng, record, opt);
  return record;
}

// Distorts every image of [N, C, H, W] (or one image [C, H, W]) in place with
// randomly chosen distortions; returns what was applied to each image. Images
// are processed in parallel with per-image generators seeded in order from rng,
// so the result depends only on rng's state, not on the thread count.
template <typename T>
std::vector<DistortionRecord> distort_(Tensor<T>& images, DistortionMode mode, Rng& rng,
                                       const DistortionOptions& opt = {}) {
  const detail::ImageLayout L = detail::image_layout(images, "distort");
  // Checked up front: otherwise a random rotation would fail on some images only.
  CAE_CHECK(L.height == L.width, ShapeError,
            "distort: images must be square (90-degree rotations keep the shape only then), got ",
            images.shape());
  CAE_CHECK(L.height >= 2, ShapeError, "distort: images must be at least 2x2, got ",
            images.shape());
  const std::vector<std::uint64_t> seeds = detail::image_seeds(rng, L.images);
  std::vector<DistortionRecord> records(static_cast<std::size_t>(L.images));
  const Tensor<T> batch = images.rank() == 4
                              ? images.view()
                              : images.reshape(Shape{1, L.channels, L.height, L.width});
#pragma omp parallel for schedule(dynamic) if (L.images > 1)
  for (index_t i = 0; i < L.images; ++i) {
    Rng local(seeds[static_cast<std::size_t>(i)]);
    Tensor<T> view = batch.sample(i);
    Tensor<T> work = view;  // a private copy: rotations replace the tensor
    const std::vector<Distortion> which = choose_distortions(mode, local, opt);
    records[static_cast<std::size_t>(i)] = apply_distortions_(work, which, local, opt);
    view.copy_from(work);  // writes into `images`
  }
  return records;
}

}  // namespace cae::data
