// The learned image codec: a FactorizedPrior or ScaleHyperprior model file
// turned into .cae bytes and back.
//
//   cae::codec::Codec codec("model.safetensors");   // as examples/train_codec.cpp writes it
//   std::vector<std::uint8_t> bytes = codec.encode(image);   // [C, H, W] in [0, 1], C = 1 or 3
//   cae::Tensor<float> back = codec.decode(bytes, "photo.cae");
//
// The integer CDF tables come from the model file when it stores them (an
// exported model, cae/codec/export.hpp), else they are built once when the
// model is loaded; encoder and decoder use the same integers, so the decoded
// image is the synthesis of the encoder's own quantized latents (the kernels
// do not depend on the thread count).
//
// Which model a file holds is decided from its tensors: h_a.* makes it a scale
// hyperprior. A factorized-prior .cae file has one latent, y, and one stream;
// a hyperprior file has two latents, y [M, H'/16, W'/16] then z [N, H'/64, W'/64]
// (H', W' the image size padded to the model's stride), and two streams in the
// same order (CompressAI's strings [y, z]). z is coded with the factorized
// prior's per-channel tables; y with the Gaussian conditional's tables, each
// element with the table of the scale that h_s predicts from the decoded z_hat.
// The decoder recomputes those scales with the same code and kernels as the
// encoder (scale_indexes()), so both pick the same tables at any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cae/codec/cdf.hpp"
#include "cae/codec/container.hpp"
#include "cae/codec/model_file.hpp"
#include "cae/codec/models.hpp"
#include "cae/codec/rans.hpp"
#include "cae/io/file.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/io/state_dict.hpp"
#include "cae/kernels/abs.hpp"

namespace cae::codec {

enum class ModelKind { FactorizedPrior, ScaleHyperprior };

// The encoder's quantized latents: y, and for a hyperprior z (else empty).
struct QuantizedLatents {
  std::vector<std::int32_t> y, z;
  Shape y_shape, z_shape;  // [1, C, h, w]
};

class Codec {
 public:
  // The factorized prior's stride; stride() is the loaded model's (64 for a hyperprior).
  static constexpr index_t kStride = FactorizedPrior<float>::kStride;

  explicit Codec(const std::string& model_path)
      : Codec(io::read_file(model_path), model_path) {}

  // `bytes` are a safetensors model file's contents; `name` names it in errors.
  // The file is untrusted: shapes are checked before anything is allocated,
  // every weight must be finite, stored tables are validated
  // (read_stored_tables), and each problem throws IoError naming the file.
  Codec(std::vector<unsigned char> bytes, const std::string& name) : name_(name) {
    id_ = model_id(bytes.data(), bytes.size());
    const safetensors::File file = safetensors::File::parse(std::move(bytes), name);
    metadata_ = file.metadata();
    // N and M from the tensors themselves, so any FactorizedPrior / ScaleHyperprior state_dict loads.
    const index_t N = channels_from(file, name, "g_a.0.weight", 3);
    CAE_CHECK(file.contains("g_a.2.weight") && file.entry("g_a.2.weight").shape == Shape({N, N, 5, 5}),
              IoError, name, ": tensor 'g_a.2.weight' must have shape ", Shape({N, N, 5, 5}),
              " for N=", N, " (from g_a.0.weight)");
    const index_t M = channels_from(file, name, "g_a.6.weight", N);
    Module<float>* net;
    if (file.contains("h_a.0.weight")) {
      kind_ = ModelKind::ScaleHyperprior;
      hyperprior_ = std::make_unique<ScaleHyperprior<float>>(N, M);
      net = hyperprior_.get();
    } else {
      factorized_ = std::make_unique<FactorizedPrior<float>>(N, M);
      net = factorized_.get();
    }
    net->build({3, stride(), stride()});
    const auto expected = io::state_dict(*net);
    std::vector<io::detail::TensorInfo> found;
    for (const auto& n : file.names())
      if (!is_stored_table(n, "entropy_bottleneck")) found.push_back({n, file.entry(n).shape});
    io::detail::check_tensors_match(name, kind_name(), io::detail::infos(expected), found);
    for (const auto& t : expected) {
      *t.value = file.get<float>(t.name);
      for (index_t k = 0; k < t.value->numel(); ++k)
        CAE_CHECK(std::isfinite((*t.value)[k]), IoError, name, ": tensor '", t.name, "' element ", k,
                  " is ", (*t.value)[k], ", not a finite number");
    }
    quality_ = metadata_int(metadata_, kMetaQuality, 0, 255, -1, name);
    net->eval();
    tables_ = read_stored_tables(file, "entropy_bottleneck", bottleneck().channels(), name);
    tables_stored_ = !tables_.empty();
    if (!tables_stored_) {
      try {
        tables_ = factorized_cdf_tables(bottleneck());
      } catch (const Error& e) {
        throw IoError(str(name, ": cannot build the entropy coder's tables: ", e.what()));
      }
    }
    if (hyperprior_) gaussian_tables_ = gaussian_cdf_tables(hyperprior_->gaussian_conditional());
  }

  // The Gaussian conditional's integer tables: a function of its scale table
  // and tail mass only (constants), not of any trained weight.
  static std::vector<CdfTable> gaussian_cdf_tables(const GaussianConditional<float>& gc) {
    std::vector<CdfTable> out;
    for (const EntropyTable& t : gc.tables())
      out.push_back(pmf_to_cdf(std::vector<float>(t.pmf.begin(), t.pmf.end()),
                               static_cast<float>(t.tail_mass), t.offset));
    return out;
  }

  std::uint64_t id() const { return id_; }
  int quality() const { return quality_; }
  ModelKind kind() const { return kind_; }
  const char* kind_name() const {
    return kind_ == ModelKind::ScaleHyperprior ? "ScaleHyperprior" : "FactorizedPrior";
  }
  // Images are padded to a multiple of this before the analysis transform.
  index_t stride() const {
    return kind_ == ModelKind::ScaleHyperprior ? ScaleHyperprior<float>::kStride : kStride;
  }
  FactorizedPrior<float>& model() {
    CAE_CHECK(factorized_ != nullptr, Error, name_,
              ": a scale-hyperprior model (use Codec::hyperprior())");
    return *factorized_;
  }
  ScaleHyperprior<float>& hyperprior() {
    CAE_CHECK(hyperprior_ != nullptr, Error, name_,
              ": a factorized-prior model (use Codec::model())");
    return *hyperprior_;
  }
  // The factorized tables: y's for a factorized prior, z's for a hyperprior.
  const std::vector<CdfTable>& tables() const { return tables_; }
  // The Gaussian conditional's tables (empty for a factorized prior).
  const std::vector<CdfTable>& gaussian_tables() const { return gaussian_tables_; }
  // True when the tables came from the file (an exported model), false when
  // they were computed at load time (a training output).
  bool tables_stored() const { return tables_stored_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& name() const { return name_; }

  // image [C, H, W] in [0, 1] (C = 1 or 3) -> the bytes of a .cae file.
  std::vector<std::uint8_t> encode(const Tensor<float>& image, int quality = -1) {
    if (quality < 0) quality = std::max(quality_, 0);  // 0: a model file without a quality level
    CAE_CHECK(quality >= 0 && quality <= 255, Error, "Codec::encode: quality ", quality,
              " outside 0..255");
    CAE_CHECK(quality_ < 0 || quality == quality_, Error, "Codec::encode: ", name_,
              " is a quality-", quality_, " model, not quality ", quality);
    const QuantizedLatents q = quantize(image);
    CaeFile f;
    f.model_id = id_;
    f.height = static_cast<std::uint32_t>(image.dim(1));
    f.width = static_cast<std::uint32_t>(image.dim(2));
    f.channels = static_cast<std::uint8_t>(image.dim(0));
    f.quality = static_cast<std::uint8_t>(quality);
    f.latent_shapes = {q.y_shape.drop_front()};
    if (kind_ == ModelKind::FactorizedPrior) {
      f.streams = {encode_with_indexes(q.y, indexes(q.y_shape), tables_)};
    } else {
      f.latent_shapes.push_back(q.z_shape.drop_front());
      // y's tables come from z_hat, computed as the decoder will.
      const Tensor<float> z_hat = bottleneck().dequantize(q.z, q.z_shape);
      f.streams = {encode_with_indexes(q.y, scale_indexes(z_hat), gaussian_tables_),
                   encode_with_indexes(q.z, indexes(q.z_shape), tables_)};
    }
    return write_cae(f);
  }

  // The encoder's quantized latents of an image [C, H, W] (C = 1 or 3): what encode() codes.
  QuantizedLatents quantize(const Tensor<float>& image) {
    CAE_CHECK(image.rank() == 3 && (image.dim(0) == 1 || image.dim(0) == 3) && image.dim(1) > 0 &&
                  image.dim(2) > 0,
              ShapeError, "Codec::encode: expected an image [1 or 3, H, W], got ", image.shape());
    const Tensor<float> x = padded(image, stride());
    QuantizedLatents q;
    if (kind_ == ModelKind::FactorizedPrior) {
      const Tensor<float>& y = factorized_->g_a().forward(x);
      q.y = factorized_->entropy_bottleneck().quantize(y);
      q.y_shape = y.shape();
      return q;
    }
    const Tensor<float>& y = hyperprior_->g_a().forward(x);
    q.y = hyperprior_->gaussian_conditional().quantize(y);
    q.y_shape = y.shape();
    Tensor<float> y_abs(y.shape());
    kernels::abs_forward(y_abs.data(), y.data(), y.numel());
    const Tensor<float>& z = hyperprior_->h_a().forward(y_abs);
    q.z = hyperprior_->entropy_bottleneck().quantize(z);
    q.z_shape = z.shape();
    return q;
  }

  // What decode(encode(image)) gives, computed on the encoder's side.
  Tensor<float> reconstruct(const Tensor<float>& image) {
    const QuantizedLatents q = quantize(image);
    return synthesize(q.y, q.y_shape, image.dim(0), image.dim(1), image.dim(2));
  }

  // The bytes of a .cae file (named `source` in errors) -> the image [C, H, W] in [0, 1].
  Tensor<float> decode(const std::vector<std::uint8_t>& bytes, const std::string& source) {
    const CaeFile f = parse_cae(bytes, source);
    check_model_id(f, id_, source);
    const index_t Hp = padded_size(f.height), Wp = padded_size(f.width);
    const Shape y_latent{latent_channels(), Hp / 16, Wp / 16};
    if (kind_ == ModelKind::FactorizedPrior) {
      CAE_CHECK(f.latent_shapes.size() == 1 && f.streams.size() == 1 &&
                    f.latent_shapes[0] == y_latent,
                IoError, source, ": expected one latent of shape ", y_latent,
                " and one stream for a ", f.width, "x", f.height, " image, got ",
                f.latent_shapes.size(), " latents and ", f.streams.size(), " streams");
      const Shape shape{1, y_latent[0], y_latent[1], y_latent[2]};
      const std::vector<std::int32_t> symbols =
          decode_with_indexes(f.streams[0], indexes(shape), tables_, source);
      return synthesize(symbols, shape, f.channels, f.height, f.width);
    }
    const Shape z_latent{hyperprior_->N(), Hp / 64, Wp / 64};
    CAE_CHECK(f.latent_shapes.size() == 2 && f.streams.size() == 2 &&
                  f.latent_shapes[0] == y_latent && f.latent_shapes[1] == z_latent,
              IoError, source, ": expected two latents of shapes ", y_latent, " and ", z_latent,
              " and two streams for a ", f.width, "x", f.height, " image, got ",
              f.latent_shapes.size(), " latents and ", f.streams.size(), " streams");
    const Shape z_shape{1, z_latent[0], z_latent[1], z_latent[2]};
    const Shape y_shape{1, y_latent[0], y_latent[1], y_latent[2]};
    const std::vector<std::int32_t> z =
        decode_with_indexes(f.streams[1], indexes(z_shape), tables_, source + " (z stream)");
    const Tensor<float> z_hat = bottleneck().dequantize(z, z_shape);
    const std::vector<std::int32_t> y =
        decode_with_indexes(f.streams[0], scale_indexes(z_hat), gaussian_tables_,
                            source + " (y stream)");
    return synthesize(y, y_shape, f.channels, f.height, f.width);
  }

  // Which Gaussian table codes each element of y: from the scales h_s predicts
  // for z_hat [1, N, h, w]. Encoder and decoder both call this.
  std::vector<std::int32_t> scale_indexes(const Tensor<float>& z_hat) {
    const Tensor<float>& scales = hyperprior().h_s().forward(z_hat);
    return hyperprior_->gaussian_conditional().build_indexes(scales);
  }

  // The decoder's image from quantized latents y [1, M, h, w]: synthesis, crop, clamp, channels.
  Tensor<float> synthesize(const std::vector<std::int32_t>& symbols, const Shape& shape,
                           index_t channels, index_t H, index_t W) {
    const Tensor<float> y_hat = kind_ == ModelKind::FactorizedPrior
                                    ? factorized_->entropy_bottleneck().dequantize(symbols, shape)
                                    : hyperprior_->gaussian_conditional().dequantize(symbols, shape);
    const Tensor<float>& x = kind_ == ModelKind::FactorizedPrior ? factorized_->g_s().forward(y_hat)
                                                                 : hyperprior_->g_s().forward(y_hat);
    const index_t Hp = x.dim(2), Wp = x.dim(3);
    Tensor<float> out({channels, H, W});
    for (index_t c = 0; c < channels; ++c)
      for (index_t i = 0; i < H; ++i)
        for (index_t j = 0; j < W; ++j) {
          float v;
          if (channels == 3) {
            v = x[(c * Hp + i) * Wp + j];
          } else {  // grey was replicated to RGB: back as the mean of the three
            v = (x[i * Wp + j] + x[(Hp + i) * Wp + j] + x[(2 * Hp + i) * Wp + j]) / 3.0f;
          }
          out[(c * H + i) * W + j] = std::min(1.0f, std::max(0.0f, v));
        }
    return out;
  }

  // [1, 3, H', W'] with H', W' multiples of `stride`: grey replicated, edges replicated.
  static Tensor<float> padded(const Tensor<float>& image, index_t stride = kStride) {
    const index_t C = image.dim(0), H = image.dim(1), W = image.dim(2);
    const index_t Hp = (H + stride - 1) / stride * stride, Wp = (W + stride - 1) / stride * stride;
    Tensor<float> x({1, 3, Hp, Wp});
    for (index_t c = 0; c < 3; ++c)
      for (index_t i = 0; i < Hp; ++i)
        for (index_t j = 0; j < Wp; ++j) {
          const float v = image[((C == 3 ? c : 0) * H + std::min(i, H - 1)) * W + std::min(j, W - 1)];
          CAE_CHECK(std::isfinite(v), Error, "Codec::encode: image value ", v, " is not finite");
          x[(c * Hp + i) * Wp + j] = v;
        }
    return x;
  }

 private:
  index_t padded_size(index_t n) const { return (n + stride() - 1) / stride() * stride(); }
  index_t latent_channels() const { return factorized_ ? factorized_->M() : hyperprior_->M(); }
  EntropyBottleneck<float>& bottleneck() {
    return factorized_ ? factorized_->entropy_bottleneck() : hyperprior_->entropy_bottleneck();
  }
  // The output channels C of a 5x5 convolution weight [C, in, 5, 5]. With
  // g_a.2.weight checked to be [N, N, 5, 5], the file itself holds N^2 25 and
  // M N 25 weights, so a hostile header cannot make the model allocate more
  // than a small multiple of the file's size.
  static index_t channels_from(const safetensors::File& file, const std::string& name,
                               const char* tensor, index_t in) {
    CAE_CHECK(file.contains(tensor), IoError, name, ": not a factorized-prior or scale-hyperprior model (no tensor '",
              tensor, "')");
    const Shape& s = file.entry(tensor).shape;
    CAE_CHECK(s.rank() == 4 && s[0] >= 1 && s[0] <= kMaxChannels && s[1] == in && s[2] == 5 && s[3] == 5,
              IoError, name, ": tensor '", tensor, "' has shape ", s, ", expected [C, ", in,
              ", 5, 5] with 1 <= C <= ", kMaxChannels);
    return s[0];
  }
  static constexpr index_t kMaxChannels = 1024;
  // Latent [1, C, h, w] coded with the factorized prior: each element with its channel's table.
  static std::vector<std::int32_t> indexes(const Shape& shape) {
    const index_t M = shape[1], S = shape[2] * shape[3];
    std::vector<std::int32_t> out(static_cast<std::size_t>(M * S));
    for (index_t c = 0; c < M; ++c)
      std::fill(out.begin() + c * S, out.begin() + (c + 1) * S, static_cast<std::int32_t>(c));
    return out;
  }

  std::string name_;
  std::uint64_t id_ = 0;
  int quality_ = -1;
  std::map<std::string, std::string> metadata_;
  ModelKind kind_ = ModelKind::FactorizedPrior;
  std::unique_ptr<FactorizedPrior<float>> factorized_;
  std::unique_ptr<ScaleHyperprior<float>> hyperprior_;
  std::vector<CdfTable> tables_, gaussian_tables_;
  bool tables_stored_ = false;
};

}  // namespace cae::codec
