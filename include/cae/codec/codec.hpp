// The learned image codec: a FactorizedPrior model file turned into .cae bytes and back.
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

namespace cae::codec {

class Codec {
 public:
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
    const index_t N = channels_from(file, name, "g_a.0.weight", 3);
    CAE_CHECK(file.contains("g_a.2.weight") && file.entry("g_a.2.weight").shape == Shape({N, N, 5, 5}),
              IoError, name, ": tensor 'g_a.2.weight' must have shape ", Shape({N, N, 5, 5}),
              " for N=", N, " (from g_a.0.weight)");
    const index_t M = channels_from(file, name, "g_a.6.weight", N);
    model_ = std::make_unique<FactorizedPrior<float>>(N, M);
    model_->build({3, kStride, kStride});
    const auto expected = io::state_dict(*model_);
    std::vector<io::detail::TensorInfo> found;
    for (const auto& n : file.names())
      if (!is_stored_table(n, "entropy_bottleneck")) found.push_back({n, file.entry(n).shape});
    io::detail::check_tensors_match(name, "FactorizedPrior", io::detail::infos(expected), found);
    for (const auto& t : expected) {
      *t.value = file.get<float>(t.name);
      for (index_t k = 0; k < t.value->numel(); ++k)
        CAE_CHECK(std::isfinite((*t.value)[k]), IoError, name, ": tensor '", t.name, "' element ", k,
                  " is ", (*t.value)[k], ", not a finite number");
    }
    quality_ = metadata_int(metadata_, kMetaQuality, 0, 255, -1, name);
    model_->eval();
    tables_ = read_stored_tables(file, "entropy_bottleneck", M, name);
    tables_stored_ = !tables_.empty();
    if (!tables_stored_) {
      try {
        tables_ = factorized_cdf_tables(model_->entropy_bottleneck());
      } catch (const Error& e) {
        throw IoError(str(name, ": cannot build the entropy coder's tables: ", e.what()));
      }
    }
  }

  std::uint64_t id() const { return id_; }
  int quality() const { return quality_; }
  FactorizedPrior<float>& model() { return *model_; }
  const std::vector<CdfTable>& tables() const { return tables_; }
  // True when the tables came from the file (an exported model), false when
  // they were computed at load time (a training output).
  bool tables_stored() const { return tables_stored_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& name() const { return name_; }

  // image [C, H, W] in [0, 1] (C = 1 or 3) -> the bytes of a .cae file.
  std::vector<std::uint8_t> encode(const Tensor<float>& image, int quality = -1) {
    CAE_CHECK(image.rank() == 3 && (image.dim(0) == 1 || image.dim(0) == 3) && image.dim(1) > 0 &&
                  image.dim(2) > 0,
              ShapeError, "Codec::encode: expected an image [1 or 3, H, W], got ", image.shape());
    if (quality < 0) quality = std::max(quality_, 0);  // 0: a model file without a quality level
    CAE_CHECK(quality >= 0 && quality <= 255, Error, "Codec::encode: quality ", quality,
              " outside 0..255");
    CAE_CHECK(quality_ < 0 || quality == quality_, Error, "Codec::encode: ", name_,
              " is a quality-", quality_, " model, not quality ", quality);
    const Tensor<float>& y = model_->g_a().forward(padded(image));
    CaeFile f;
    f.model_id = id_;
    f.height = static_cast<std::uint32_t>(image.dim(1));
    f.width = static_cast<std::uint32_t>(image.dim(2));
    f.channels = static_cast<std::uint8_t>(image.dim(0));
    f.quality = static_cast<std::uint8_t>(quality);
    f.latent_shapes = {y.shape().drop_front()};
    const std::vector<std::int32_t> symbols = model_->entropy_bottleneck().quantize(y);
    f.streams = {encode_with_indexes(symbols, indexes(y.shape()), tables_)};
    return write_cae(f);
  }

  // The bytes of a .cae file (named `source` in errors) -> the image [C, H, W] in [0, 1].
  Tensor<float> decode(const std::vector<std::uint8_t>& bytes, const std::string& source) {
    const CaeFile f = parse_cae(bytes, source);
    check_model_id(f, id_, source);
    const Shape latent{model_->M(), ceil_div(f.height), ceil_div(f.width)};
    CAE_CHECK(f.latent_shapes.size() == 1 && f.streams.size() == 1 && f.latent_shapes[0] == latent,
              IoError, source, ": expected one latent of shape ", latent, " and one stream for a ",
              f.width, "x", f.height, " image, got ", f.latent_shapes.size(), " latents and ",
              f.streams.size(), " streams");
    const Shape shape{1, latent[0], latent[1], latent[2]};
    const std::vector<std::int32_t> symbols =
        decode_with_indexes(f.streams[0], indexes(shape), tables_, source);
    return synthesize(symbols, shape, f.channels, f.height, f.width);
  }

  // The decoder's image from quantized latents [1, M, h, w]: synthesis, crop, clamp, channels.
  Tensor<float> synthesize(const std::vector<std::int32_t>& symbols, const Shape& shape,
                           index_t channels, index_t H, index_t W) {
    const Tensor<float> y_hat = model_->entropy_bottleneck().dequantize(symbols, shape);
    const Tensor<float>& x = model_->g_s().forward(y_hat);
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

  // [1, 3, H', W'] with H', W' multiples of the stride: grey replicated, edges replicated.
  static Tensor<float> padded(const Tensor<float>& image) {
    const index_t C = image.dim(0), H = image.dim(1), W = image.dim(2);
    const index_t Hp = ceil_div(H) * kStride, Wp = ceil_div(W) * kStride;
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
  static index_t ceil_div(index_t n) { return (n + kStride - 1) / kStride; }
  // The output channels C of a 5x5 convolution weight [C, in, 5, 5]. With
  // g_a.2.weight checked to be [N, N, 5, 5], the file itself holds N^2 25 and
  // M N 25 weights, so a hostile header cannot make the model allocate more
  // than a small multiple of the file's size.
  static index_t channels_from(const safetensors::File& file, const std::string& name,
                               const char* tensor, index_t in) {
    CAE_CHECK(file.contains(tensor), IoError, name, ": not a factorized-prior model (no tensor '",
              tensor, "')");
    const Shape& s = file.entry(tensor).shape;
    CAE_CHECK(s.rank() == 4 && s[0] >= 1 && s[0] <= kMaxChannels && s[1] == in && s[2] == 5 && s[3] == 5,
              IoError, name, ": tensor '", tensor, "' has shape ", s, ", expected [C, ", in,
              ", 5, 5] with 1 <= C <= ", kMaxChannels);
    return s[0];
  }
  static constexpr index_t kMaxChannels = 1024;
  // Latent [1, M, h, w]: each element is coded with its channel's table.
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
  std::unique_ptr<FactorizedPrior<float>> model_;
  std::vector<CdfTable> tables_;
  bool tables_stored_ = false;
};

}  // namespace cae::codec
