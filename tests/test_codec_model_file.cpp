// The codec's model files: export (stored integer CDF tables, float16
// weights, metadata) and the loader's checks of hostile table tensors and
// metadata (cae/codec/model_file.hpp, cae/codec/export.hpp).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cae/codec.hpp"
#include "cae/io/state_dict.hpp"

using namespace cae;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("cae_test_model_file_" + name)).string();
}

// A small model as examples/train_codec writes it (no tables), quality 3.
std::string trained_model(const std::string& name, std::uint64_t seed) {
  manual_seed(seed);
  codec::FactorizedPrior<float> m(4, 6);
  m.build({3, 16, 16});
  Rng rng(seed);
  for (auto& p : m.parameters())
    if (p.name.find("weight") != std::string::npos)
      for (index_t k = 0; k < p.value->numel(); ++k) (*p.value)[k] += float(rng.uniform() - 0.5) * 0.05f;
  const std::string path = temp_path(name);
  io::save_safetensors(m, path, {{"model", "bmshj2018-factorized"}, {"quality", "3"}, {"lambda", "0.0067"}});
  return path;
}

// The tensors and metadata of a model file, to be changed and written again.
struct Contents {
  std::vector<std::string> names;
  std::vector<Tensor<float>> tensors;
  std::vector<std::string> int32_names;
  std::map<std::string, std::string> metadata;

  explicit Contents(const std::string& path) {
    const safetensors::File f = safetensors::File::load(path);
    metadata = f.metadata();
    for (const auto& n : f.names()) {
      names.push_back(n);
      tensors.push_back(f.get<float>(n));
      if (f.entry(n).dtype == "I32") int32_names.push_back(n);
    }
  }
  Tensor<float>& operator[](const std::string& name) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return tensors[i];
    FAIL("no tensor " << name);
    return tensors[0];
  }
  void remove(const std::string& name) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) {
        names.erase(names.begin() + static_cast<std::ptrdiff_t>(i));
        tensors.erase(tensors.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
  }
  std::string write(const std::string& name) const {
    std::vector<std::pair<std::string, const Tensor<float>*>> list;
    for (std::size_t i = 0; i < names.size(); ++i) list.push_back({names[i], &tensors[i]});
    const std::string path = temp_path(name);
    safetensors::save<float>(path, list, metadata, safetensors::StoreAs::Native, int32_names);
    return path;
  }
};

// Loading `path` throws an IoError naming the file and holding every one of `words`.
void expect_load_error(const std::string& path, const std::vector<std::string>& words) {
  INFO(path);
  try {
    codec::Codec c(path);
    FAIL("loaded without an error");
  } catch (const IoError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.rfind(path, 0) == 0);
    for (const auto& w : words) CHECK(what.find(w) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("export stores the integer tables and float16 weights, and decoders use them", "[codec]") {
  const std::string trained = trained_model("trained.safetensors", 5);
  codec::Codec from_training(trained);
  CHECK(!from_training.tables_stored());
  CHECK(from_training.quality() == 3);

  codec::ExportOptions o;
  o.quality = 3;
  o.float16 = true;
  o.info = {{"commit", "abc1234"}, {"command", "train_codec --quality 3"}};
  const std::string out = temp_path("exported_f16.safetensors");
  const codec::ExportResult r = codec::export_model(trained, out, o);
  CHECK(r.N == 4);
  CHECK(r.M == 6);
  CHECK(r.bytes == io::read_file(out).size());
  CHECK(r.id == codec::model_id_of_file(out));

  const safetensors::File f = safetensors::File::load(out);
  CHECK(f.entry("g_a.0.weight").dtype == "F16");
  CHECK(f.entry("entropy_bottleneck.quantiles").dtype == "F16");
  for (const char* t : {"entropy_bottleneck._quantized_cdf", "entropy_bottleneck._offset",
                        "entropy_bottleneck._cdf_length"})
    CHECK(f.entry(t).dtype == "I32");
  CHECK(f.metadata().at("commit") == "abc1234");
  CHECK(f.metadata().at("command") == "train_codec --quality 3");
  CHECK(f.metadata().at("lambda") == "0.0067");  // kept from the training output
  CHECK(f.metadata().at("model") == "bmshj2018-factorized");
  CHECK(f.metadata().at("N") == "4");
  CHECK(f.metadata().at("M") == "6");
  CHECK(f.metadata().at("quality") == "3");
  CHECK(f.metadata().at("weights_dtype") == "F16");
  CHECK(f.metadata().at("cdf_precision") == "16");

  codec::Codec released(out);
  CHECK(released.tables_stored());
  CHECK(released.quality() == 3);
  // The stored tables are the ones of the weights as stored (rounded to float16).
  CHECK(released.tables() == codec::factorized_cdf_tables(released.model().entropy_bottleneck()));
  // Two bytes saved per weight; the tables and a longer header add the rest.
  const std::size_t table_bytes = 4 * static_cast<std::size_t>(r.M * r.table_length + 2 * r.M);
  CHECK(r.bytes + 2 * static_cast<std::size_t>(r.parameters) <= io::read_file(trained).size() + table_bytes + 1024);

  Tensor<float> image({3, 33, 47});
  for (index_t k = 0; k < image.numel(); ++k) image[k] = float((k * 13) % 256) / 255.0f;
  const std::vector<std::uint8_t> bytes = released.encode(image);
  const Tensor<float>& y = released.model().g_a().forward(codec::Codec::padded(image));
  const Tensor<float> own =
      released.synthesize(released.model().entropy_bottleneck().quantize(y), y.shape(), 3, 33, 47);
  const Tensor<float> decoded = codec::Codec(out).decode(bytes, "x.cae");
  CHECK(max_abs_diff(decoded, own) == 0.0f);
  // A training output and its export are different models to a .cae file.
  CHECK_THROWS_AS(from_training.decode(bytes, "x.cae"), IoError);

  o.float16 = false;
  const std::string out32 = temp_path("exported_f32.safetensors");
  codec::export_model(trained, out32, o);
  CHECK(safetensors::File::load(out32).entry("g_a.0.weight").dtype == "F32");
  // float32: the same weights, so the same tables as computed at load.
  CHECK(codec::Codec(out32).tables() == from_training.tables());
}

TEST_CASE("a model file's stored tables are used as they are, not recomputed", "[codec]") {
  const std::string trained = trained_model("trained_b.safetensors", 6);
  codec::ExportOptions o;
  o.quality = 3;
  const std::string out = temp_path("exported_b.safetensors");
  codec::export_model(trained, out, o);
  Contents c(out);
  // Every table replaced by a valid uniform one over -2..2 (5 symbols and the escape).
  Tensor<float>& cdf = c["entropy_bottleneck._quantized_cdf"];
  const index_t M = cdf.dim(0), L = cdf.dim(1);
  REQUIRE(L >= 7);
  cdf.zero();
  for (index_t m = 0; m < M; ++m) {
    for (index_t i = 0; i < 6; ++i) cdf[m * L + i] = float(i * 10000);
    cdf[m * L + 6] = 65536;
    c["entropy_bottleneck._offset"][m] = -2;
    c["entropy_bottleneck._cdf_length"][m] = 7;
  }
  codec::Codec codec(c.write("uniform.safetensors"));
  REQUIRE(codec.tables().size() == static_cast<std::size_t>(M));
  for (const auto& t : codec.tables()) {
    CHECK(t.offset == -2);
    CHECK(t.cdf == std::vector<std::uint32_t>{0, 10000, 20000, 30000, 40000, 50000, 65536});
  }
  // Those tables still code exactly (values outside -2..2 through the escape).
  Tensor<float> image({3, 16, 32});
  for (index_t k = 0; k < image.numel(); ++k) image[k] = float(k % 7) / 6.0f;
  const std::vector<std::uint8_t> bytes = codec.encode(image);
  CHECK(codec.decode(bytes, "u.cae").shape() == image.shape());
}

TEST_CASE("hostile model files are refused with the file and the tensor named", "[codec]") {
  const std::string trained = trained_model("trained_c.safetensors", 7);
  codec::ExportOptions o;
  o.quality = 3;
  const std::string good = temp_path("exported_c.safetensors");
  codec::export_model(trained, good, o);
  const std::string cdf = "entropy_bottleneck._quantized_cdf", offset = "entropy_bottleneck._offset",
                    length = "entropy_bottleneck._cdf_length";
  auto bad = [&](const std::string& name, const std::function<void(Contents&)>& change,
                 const std::vector<std::string>& words) {
    Contents c(good);
    change(c);
    expect_load_error(c.write(name), words);
  };
  bad("missing_offset", [&](Contents& c) { c.remove(offset); }, {offset, "missing"});
  bad("f32_cdf", [&](Contents& c) { c.int32_names = {offset, length}; }, {cdf, "F32", "I32"});
  bad("cdf_rank", [&](Contents& c) { c[cdf] = Tensor<float>({6 * 3}, 0.0f); }, {cdf, "shape"});
  bad("offset_shape", [&](Contents& c) { c[offset] = Tensor<float>({5}, 0.0f); }, {offset, "shape"});
  bad("length_too_long", [&](Contents& c) { c[length][2] = float(c[cdf].dim(1) + 1); }, {length, "entry 2"});
  bad("length_too_short", [&](Contents& c) { c[length][0] = 1; }, {length, "entry 0"});
  bad("not_increasing", [&](Contents& c) {
        const index_t L = c[cdf].dim(1);
        c[cdf][1 * L + 2] = c[cdf][1 * L + 1];
      }, {cdf, "row 1", "strictly increasing"});
  bad("not_ending_at_2_16", [&](Contents& c) {
        const index_t L = c[cdf].dim(1), n = static_cast<index_t>(c[length][3]);
        c[cdf][3 * L + n - 1] = 65535;
      }, {cdf, "row 3", "65536"});
  bad("not_starting_at_0", [&](Contents& c) { c[cdf][0] = 1; }, {cdf, "row 0", "start at 0"});
  bad("negative_entry", [&](Contents& c) { c[cdf][1] = -5; }, {cdf, "row 0", "negative"});
  bad("padding", [&](Contents& c) { c[length][4] = c[length][4] - 1; },  // 2^16 is now padding
      {cdf, "row 4", "padding"});
  bad("offset_far", [&](Contents& c) { c[offset][5] = 1000; }, {offset, "entry 5", "include 0"});
  bad("precision", [&](Contents& c) { c.metadata["cdf_precision"] = "17"; }, {"cdf_precision", "17"});
  bad("quality_text", [&](Contents& c) { c.metadata["quality"] = "three"; }, {"quality", "three"});
  bad("quality_range", [&](Contents& c) { c.metadata["quality"] = "300"; }, {"quality", "300"});
  bad("nan_weight", [&](Contents& c) { c["g_s.2.weight"][7] = std::nanf(""); }, {"g_s.2.weight", "finite"});
  bad("inf_quantile", [&](Contents& c) { c["entropy_bottleneck.quantiles"][1] = INFINITY; },
      {"entropy_bottleneck.quantiles", "finite"});
  // A header that announces a wide network with the bytes of a narrow one is
  // refused before the model is built (its weights would not be in the file).
  bad("wide_header", [&](Contents& c) { c["g_a.0.weight"] = Tensor<float>({1000, 3, 5, 5}, 0.0f); },
      {"g_a.2.weight", "N=1000"});
  bad("no_network", [&](Contents& c) { c.remove("g_a.0.weight"); }, {"g_a.0.weight"});
  bad("stray_tensor", [&](Contents& c) {
        c.names.push_back("entropy_bottleneck._extra");
        c.tensors.push_back(Tensor<float>({2}, 0.0f));
      }, {"entropy_bottleneck._extra"});
}

TEST_CASE("export refuses what would make a misleading model file", "[codec]") {
  const std::string trained = trained_model("trained_d.safetensors", 8);
  codec::ExportOptions o;
  o.quality = 4;  // the training output says 3
  CHECK_THROWS_WITH(codec::export_model(trained, temp_path("x.safetensors"), o),
                    Catch::Contains("quality 3") && Catch::Contains(trained));
  o.quality = 3;
  for (const char* key : {"quality", "N", "model", "cdf_precision", "weights_dtype", "format"}) {
    o.info = {{key, "1"}};
    CHECK_THROWS_WITH(codec::export_model(trained, temp_path("x.safetensors"), o), Catch::Contains(key));
  }
  o.info = {{"bad key", "1"}};
  CHECK_THROWS_AS(codec::export_model(trained, temp_path("x.safetensors"), o), Error);
  CHECK(!io::file_exists(temp_path("x.safetensors")));
}
