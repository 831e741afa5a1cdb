// Turning a training output into a released model file (`cae-codec export`):
//
//   cae::codec::ExportOptions o;
//   o.quality = 3;  o.float16 = true;  o.info = {{"commit", "97f78fb"}, {"command", "..."}};
//   cae::codec::export_model("runs/codec/q3/model.safetensors", "models/codec/q3.safetensors", o);
//
// The export rounds the weights to float16 when asked (half the size: N=64,
// M=96 is 1.5 MB instead of 3), then builds the integer CDF tables from the
// weights *as stored*, so the tables describe exactly the model that decodes,
// and writes both (cae/codec/model_file.hpp) with the metadata. It then loads
// the written file back as a decoder would and checks that its tables and
// weights are the ones meant and that an image survives encode and decode.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cae/codec/codec.hpp"
#include "cae/codec/model_file.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/io/state_dict.hpp"

namespace cae::codec {

struct ExportOptions {
  int quality = -1;      // required, 0..255: the level .cae files record and decoders look up
  bool float16 = false;  // weights as F16 (the tables are int32 either way)
  // Free-form facts about the training (command, commit, minutes, steps, ...):
  // metadata keys of letters, digits, '_', '-' and '.'; the keys the codec
  // itself reads (model_file.hpp) are refused.
  std::map<std::string, std::string> info;
};

struct ExportResult {
  std::uint64_t id = 0;     // model_id() of the written file, what .cae files will name
  std::size_t bytes = 0;    // its size
  index_t N = 0, M = 0;
  index_t parameters = 0;
  index_t table_length = 0;  // L of entropy_bottleneck._quantized_cdf
};

namespace export_detail {
inline bool reserved_key(const std::string& k) {
  return k == kMetaArchitecture || k == kMetaQuality || k == kMetaCdfPrecision || k == kMetaWeights ||
         k == kMetaFormat || k == "N" || k == "M";
}
inline void check_info_key(const std::string& k) {
  CAE_CHECK(!k.empty() && k.size() <= 64, Error, "export: metadata key '", k, "' must have 1 to 64 characters");
  for (char c : k)
    CAE_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.',
              Error, "export: metadata key '", k, "' may hold only letters, digits, '_', '-' and '.'");
  CAE_CHECK(!reserved_key(k), Error, "export: metadata key '", k,
            "' is written by the export itself (model, N, M, quality, cdf_precision, weights_dtype, format)");
}
}  // namespace export_detail

inline ExportResult export_model(const std::string& trained, const std::string& out,
                                 const ExportOptions& o) {
  CAE_CHECK(o.quality >= 0 && o.quality <= 255, Error, "export: quality must be 0..255, got ", o.quality);
  for (const auto& kv : o.info) export_detail::check_info_key(kv.first);
  Codec source(trained);
  CAE_CHECK(source.quality() < 0 || source.quality() == o.quality, Error, "export: ", trained,
            " was trained at quality ", source.quality(), " (its metadata), not ", o.quality,
            ": export it as quality ", source.quality(), " or retrain");
  FactorizedPrior<float>& model = source.model();
  const auto state = io::state_dict(model);
  if (o.float16)
    for (const auto& t : state)
      for (index_t k = 0; k < t.value->numel(); ++k) {
        const std::uint16_t h = safetensors::detail::float_to_half((*t.value)[k]);
        (*t.value)[k] = safetensors::detail::half_to_float(h);
        CAE_CHECK(std::isfinite((*t.value)[k]), Error, "export: ", trained, ": tensor '", t.name,
                  "' element ", k, " does not fit float16 (", (*t.value)[k], "); export without --float16");
      }
  const std::vector<CdfTable> tables = factorized_cdf_tables(model.entropy_bottleneck());
  const TableTensors tt = table_tensors(tables);

  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : source.metadata())
    if (!export_detail::reserved_key(k)) meta[k] = v;
  for (const auto& [k, v] : o.info) meta[k] = v;
  meta[kMetaArchitecture] = "bmshj2018-factorized";
  meta["N"] = std::to_string(model.N());
  meta["M"] = std::to_string(model.M());
  meta[kMetaQuality] = std::to_string(o.quality);
  meta[kMetaCdfPrecision] = std::to_string(tables[0].precision);
  meta[kMetaWeights] = o.float16 ? "F16" : "F32";
  meta[kMetaFormat] = kModelFileFormat;

  std::vector<std::pair<std::string, const Tensor<float>*>> tensors;
  for (const auto& t : state) tensors.push_back({t.name, t.value});
  const StoredTableNames names = stored_table_names("entropy_bottleneck");
  tensors.push_back({names.cdf, &tt.cdf});
  tensors.push_back({names.offset, &tt.offset});
  tensors.push_back({names.length, &tt.length});
  safetensors::save<float>(out, tensors, meta,
                           o.float16 ? safetensors::StoreAs::F16 : safetensors::StoreAs::Native,
                           {names.cdf, names.offset, names.length});

  // What a decoder will see.
  try {
    Codec back(out);
    CAE_CHECK(back.tables_stored() && back.tables() == tables, Error, "the tables read back differ");
    const auto back_state = io::state_dict(back.model());
    for (std::size_t i = 0; i < state.size(); ++i)
      CAE_CHECK(max_abs_diff(*state[i].value, *back_state[i].value) == 0.0f, Error, "tensor '",
                state[i].name, "' reads back different values");
    Tensor<float> image({3, 40, 56});
    for (index_t k = 0; k < image.numel(); ++k) image[k] = float((k * 37) % 251) / 250.0f;
    const std::vector<std::uint8_t> bytes = back.encode(image, o.quality);
    const Tensor<float> decoded = back.decode(bytes, "the export's check image");
    const Tensor<float>& y = back.model().g_a().forward(Codec::padded(image));
    const std::vector<std::int32_t> symbols = back.model().entropy_bottleneck().quantize(y);
    const Tensor<float> own = back.synthesize(symbols, y.shape(), 3, 40, 56);
    CAE_CHECK(max_abs_diff(decoded, own) == 0.0f, Error,
              "an image decoded from its .cae bytes differs from the encoder's reconstruction");
    ExportResult r;
    r.id = back.id();
    r.bytes = io::read_file(out).size();
    r.N = model.N();
    r.M = model.M();
    r.parameters = model.num_parameters();
    r.table_length = tt.cdf.dim(1);
    return r;
  } catch (const Error& e) {
    std::remove(out.c_str());
    throw Error(str("export: ", out, " failed its check and was removed: ", e.what()));
  }
}

}  // namespace cae::codec
