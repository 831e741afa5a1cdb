// codec_rd: the rate-distortion evaluation of cae's learned codec against JPEG
// and WebP on a folder of photographs, every number computed by the same code
// on the same 8-bit images (cae/codec/rd_metrics.hpp, cae/codec/rd_eval.hpp).
//
//   codec_rd --images data/photos/eval --models models/codec --out runs/codec-rd
//   codec_rd --images DIR --models q1.safetensors,q2.safetensors,... --out OUT
//   codec_rd --quick        (tests/data/photos, four tiny untrained models; CI)
//
// For every model file (a cae FactorizedPrior .safetensors), every image is
// encoded with cae::codec::Codec into the bytes of a .cae file and decoded
// back; bpp is 8 x bytes / pixels of that file, PSNR and MS-SSIM are those of
// the 8-bit RGB images. The decoded image must equal, bit for bit, the
// encoder's own reconstruction (its synthesis of the quantized latents), at 1
// and at 2 threads: any difference is reported and makes the program fail.
// JPEG (libjpeg-turbo, 4:2:0, optimized Huffman tables) and WebP (libwebp,
// method 4) run at qualities 5, 10, ..., 95 on the same images.
//
// Models form one curve per family (the "model" entry of the file's metadata,
// e.g. bmshj2018-factorized), one point per quality level. Mean curves average
// bpp, PSNR and MS-SSIM over the images per setting, as CompressAI's
// evaluation does; BD-rates are over the rates both curves share (see
// bd_rate_over_shared_rates).
//
// Writes into --out: results.json (every per-image number, the means, the
// BD-rates, the side-by-side choices), rd.csv (one row per image and
// setting), tables.md (the markdown tables of docs/codec.md), rd_psnr.png,
// rd_msssim.png and side_by_side.png.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cae/codec.hpp"
#include "cae/codec/baselines.hpp"
#include "cae/codec/rd_eval.hpp"
#include "cae/data/image_folder.hpp"
#include "cae/figures.hpp"
#include "cae/io/image.hpp"
#include "cae/io/json.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/io/state_dict.hpp"
#include "common/repro.hpp"

namespace fs = std::filesystem;
using cae::Tensor;
using cae::index_t;
using cae::codec::RdSample;

namespace {

double parse_double(const std::string& text, const std::string& option) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v))
    throw cae::Error(cae::str("--", option, ": '", text, "' is not a number"));
  return v;
}

// --models: a comma-separated list of files, or a folder whose *.safetensors are taken.
std::vector<std::string> model_files(const std::string& spec) {
  std::vector<std::string> out;
  if (fs::is_directory(spec)) {
    for (const auto& e : fs::directory_iterator(spec))
      if (e.is_regular_file() && e.path().extension() == ".safetensors") out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    CAE_CHECK(!out.empty(), cae::IoError, "--models ", spec, ": no .safetensors files in the folder");
    return out;
  }
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  CAE_CHECK(!out.empty(), cae::Error, "--models: empty list");
  return out;
}

// --quick without --models: four untrained FactorizedPrior(8, 12) models that
// differ only in how finely they quantize the latents (the analysis output
// scaled by s, the synthesis input by 1 / s). An untrained density is nearly
// flat over its table, so the rate grows only once the latents leave the
// table and take the escape path: hence scales 100 times apart, which make the
// rate grow with the "quality" 1..4 as it does for trained models. Their
// images are garbage; the quick mode checks the evaluation, not the models.
std::vector<std::string> write_quick_models(const std::string& dir) {
  fs::create_directories(dir);
  std::vector<std::string> out;
  const float scales[] = {1.f, 100.f, 1000.f, 10000.f};
  for (int q = 1; q <= 4; ++q) {
    cae::codec::FactorizedPrior<float> m(8, 12);
    m.build({3, 16, 16});
    const float s = scales[q - 1];
    for (auto& p : m.parameters()) {
      if (p.name == "g_a.6.weight" || p.name == "g_a.6.bias")
        for (float& v : *p.value) v *= s;
      if (p.name == "g_s.0.weight")
        for (float& v : *p.value) v /= s;
    }
    const std::string path = dir + "/quick_q" + std::to_string(q) + ".safetensors";
    cae::io::save_safetensors(m, path,
                              {{"model", "quick-untrained"}, {"N", "8"}, {"M", "12"},
                               {"quality", std::to_string(q)}});
    out.push_back(path);
  }
  return out;
}

struct Model {
  std::string path, family, label;
  int quality = 0;
  std::unique_ptr<cae::codec::Codec> codec;
};

std::string curve_name(const std::string& family) { return "cae " + family; }

// The encoder's own reconstruction of `image`: its synthesis of the quantized
// latents, without the entropy coder or the file in between.
Tensor<float> encoder_reconstruction(cae::codec::Codec& c, const Tensor<float>& image) {
  const Tensor<float>& y = c.model().g_a().forward(cae::codec::Codec::padded(image));
  const std::vector<std::int32_t> symbols = c.model().entropy_bottleneck().quantize(y);
  return c.synthesize(symbols, y.shape(), image.dim(0), image.dim(1), image.dim(2));
}

index_t count_differences(const Tensor<float>& a, const Tensor<float>& b) {
  if (a.shape() != b.shape()) return a.numel();
  index_t n = 0;
  for (index_t k = 0; k < a.numel(); ++k) n += a[k] != b[k];
  return n;
}

Tensor<float> crop(const Tensor<float>& img, index_t y0, index_t x0, index_t size) {
  const index_t C = img.dim(0), H = img.dim(1), W = img.dim(2);
  Tensor<float> out({C, size, size});
  for (index_t c = 0; c < C; ++c)
    for (index_t y = 0; y < size; ++y)
      for (index_t x = 0; x < size; ++x) out[(c * size + y) * size + x] = img[(c * H + y0 + y) * W + x0 + x];
  return out;
}

cae::json::Value number_or_null(double v) {
  return std::isfinite(v) ? cae::json::Value(v) : cae::json::Value(nullptr);
}

std::string fmt(const char* format, double v) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string codec_label(const std::string& codec) {
  if (codec == "jpeg") return "JPEG";
  if (codec == "webp") return "WebP";
  return codec;
}

// The published points the issue quotes: CompressAI's bmshj2018-factorized
// (Ballé et al. 2018, N=128 M=192) and JPEG, both on the Kodak images.
const std::vector<cae::codec::RdPoint> kPublishedFactorizedKodak = {{0.12, 26.9}, {0.29, 29.6}, {0.65, 33.0}};
const std::vector<cae::codec::RdPoint> kPublishedJpegKodak = {{0.22, 23.8}, {0.42, 28.0}};

}  // namespace

int main(int argc, char** argv) {
  return repro::run_main([&]() {
    const repro::Args args = repro::parse_args(
        argc, argv,
        "Rate-distortion curves of cae's learned codec against JPEG and WebP on a folder of photographs.",
        {{"images", "folder of PNG/JPEG/BMP photographs (default with --quick: DATA/photos)"},
         {"models", "cae model files, comma-separated, or a folder of .safetensors (default with --quick: four untrained tiny models)"},
         {"jpeg-qualities", "comma-separated JPEG qualities (default 5,10,...,95)"},
         {"webp-qualities", "comma-separated WebP qualities (default 5,10,...,95)"},
         {"target-bpp", "the side-by-side picture shows each codec's setting nearest this bpp (default 0.25)"},
         {"crop-image", "the image of the side-by-side picture (default: the first by name)"},
         {"crop-size", "side of its square crop in pixels (default 256)"},
         {"crop-at", "x,y of the crop's top-left corner (default: centred)"},
         {"max-bpp", "right end of the figures' bpp axis (default 1.5)"}});
    std::vector<int> jpeg_q, webp_q;
    for (int q = 5; q <= 95; q += 5) jpeg_q.push_back(q), webp_q.push_back(q);
    if (args.extra.count("jpeg-qualities"))
      jpeg_q = repro::parse_int_list(args.get("jpeg-qualities", ""), "jpeg-qualities", 1, 100);
    if (args.extra.count("webp-qualities"))
      webp_q = repro::parse_int_list(args.get("webp-qualities", ""), "webp-qualities", 0, 100);
    const double target_bpp = parse_double(args.get("target-bpp", "0.25"), "target-bpp");
    const double max_bpp = parse_double(args.get("max-bpp", "1.5"), "max-bpp");
    CAE_CHECK(target_bpp > 0 && max_bpp > 0, cae::Error, "--target-bpp and --max-bpp must be positive");
    const index_t crop_size_wanted = repro::parse_int_list(args.get("crop-size", "256"), "crop-size", 16, 4096)[0];

    // ---- the images ----
    std::string folder = args.get("images", "");
    if (folder.empty() && args.quick)
      folder = (args.data.empty() ? std::string("tests/data") : args.data) + "/photos";
    CAE_CHECK(!folder.empty(), cae::Error, "--images DIR is required (or --quick)");
    std::vector<std::string> names;
    CAE_CHECK(fs::is_directory(folder), cae::IoError, "--images ", folder, ": not a folder");
    for (const auto& e : fs::directory_iterator(folder))
      if (e.is_regular_file() && cae::data::is_image_file(e.path().filename().string()))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    CAE_CHECK(!names.empty(), cae::IoError, "--images ", folder, ": no PNG/JPEG/BMP files");
    const std::string crop_image = args.get("crop-image", names.front());
    CAE_CHECK(std::find(names.begin(), names.end(), crop_image) != names.end(), cae::Error,
              "--crop-image ", crop_image, ": not an image of ", folder);

    // ---- the models ----
    std::vector<std::string> files = args.extra.count("models")
                                         ? model_files(args.get("models", ""))
                                         : (args.quick ? write_quick_models(args.out + "/quick_models")
                                                       : std::vector<std::string>{});
    CAE_CHECK(!files.empty(), cae::Error, "--models is required (files or a folder; or --quick)");
    std::vector<Model> models;
    std::set<std::pair<std::string, int>> seen;
    for (const std::string& f : files) {
      Model m;
      m.path = f;
      m.codec = std::make_unique<cae::codec::Codec>(f);
      const auto meta = cae::safetensors::File::load(f).metadata();
      auto get = [&](const char* k, const std::string& d) {
        auto it = meta.find(k);
        return it == meta.end() ? d : it->second;
      };
      m.family = get("model", "cae");
      m.quality = m.codec->quality() >= 0 ? m.codec->quality() : static_cast<int>(models.size()) + 1;
      m.label = cae::str(curve_name(m.family), " (N=", m.codec->model().N(), ", M=", m.codec->model().M(), ")");
      CAE_CHECK(seen.insert({m.family, m.quality}).second, cae::Error, f, ": a second ", m.family,
                " model of quality ", m.quality, "; one per quality level and family");
      std::printf("model %-48s %s quality %d, id %s\n", f.c_str(), m.family.c_str(), m.quality,
                  cae::codec::hex64(m.codec->id()).c_str());
      models.push_back(std::move(m));
    }
    std::vector<std::string> families;
    std::map<std::string, std::string> family_label;
    for (const Model& m : models) {
      if (!family_label.count(m.family)) families.push_back(m.family);
      family_label[m.family] = m.label;
    }

    // ---- measure ----
    repro::Stopwatch clock;
    const int threads = cae::num_threads();
    std::vector<RdSample> samples;
    std::vector<bool> exact;  // per sample: cae decode == encoder reconstruction (true for JPEG / WebP)
    index_t mismatches = 0;
    std::map<std::pair<std::string, int>, Tensor<float>> crops;  // (codec, setting) -> crop of crop_image
    Tensor<float> original_crop;
    index_t crop_x = 0, crop_y = 0, crop_side = 0;
    std::printf("\n%zu images in %s, %zu cae models, JPEG at %zu and WebP at %zu qualities, %d threads\n\n",
                names.size(), folder.c_str(), models.size(), jpeg_q.size(), webp_q.size(), threads);
    for (const std::string& name : names) {
      Tensor<float> img = cae::io::load_image(folder + "/" + name);
      if (img.dim(0) != 1 && img.dim(0) != 3) img = cae::io::load_image(folder + "/" + name, 3);
      // Every codec gets the 8-bit image, as a file on disk would give it.
      const Tensor<float> reference = cae::codec::quantize_8bit(img);
      const index_t H = img.dim(1), W = img.dim(2);
      const bool msssim_ok = std::min(H, W) > 160;
      const bool keep_crop = name == crop_image;
      if (keep_crop) {
        crop_side = std::min({crop_size_wanted, H, W});
        crop_x = (W - crop_side) / 2, crop_y = (H - crop_side) / 2;
        if (args.extra.count("crop-at")) {
          const std::vector<int> at = repro::parse_int_list(args.get("crop-at", ""), "crop-at", 0, 1 << 20);
          CAE_CHECK(at.size() == 2 && at[0] + crop_side <= W && at[1] + crop_side <= H, cae::Error,
                    "--crop-at: needs x,y with the ", crop_side, "-pixel crop inside the ", W, "x", H, " image");
          crop_x = at[0], crop_y = at[1];
        }
        original_crop = crop(reference, crop_y, crop_x, crop_side);
      }
      auto measure = [&](const std::string& codec, int setting, std::size_t bytes, const Tensor<float>& decoded,
                         bool decode_exact) {
        RdSample s;
        s.image = name, s.codec = codec, s.setting = setting, s.width = W, s.height = H, s.bytes = bytes;
        s.bpp = cae::codec::bits_per_pixel(bytes, W, H);
        s.psnr = cae::codec::psnr_8bit(reference, decoded);
        if (msssim_ok) s.ms_ssim = cae::codec::ms_ssim_8bit(reference, decoded);
        samples.push_back(s);
        exact.push_back(decode_exact);
        if (keep_crop) crops[{codec, setting}] = crop(decoded, crop_y, crop_x, crop_side);
      };
      for (Model& m : models) {
        const std::vector<std::uint8_t> bytes = m.codec->encode(reference);
        const Tensor<float> own = encoder_reconstruction(*m.codec, reference);
        index_t diff = 0;
        Tensor<float> decoded;
        for (int t : {1, 2}) {
          cae::set_num_threads(t);
          decoded = m.codec->decode(bytes, name + " (" + m.path + ")");
          diff += count_differences(decoded, own);
        }
        cae::set_num_threads(threads);
        if (diff != 0) {
          ++mismatches;
          std::printf("MISMATCH: %s with %s: %lld values of the decoded image differ from the encoder's reconstruction\n",
                      name.c_str(), m.path.c_str(), static_cast<long long>(diff));
        }
        measure(curve_name(m.family), m.quality, bytes.size(), decoded, diff == 0);
      }
      for (int q : jpeg_q) {
        const auto bytes = cae::codec::baselines::jpeg_encode(reference, q);
        measure("jpeg", q, bytes.size(), cae::codec::baselines::jpeg_decode(bytes, name + " (JPEG)"), true);
      }
      for (int q : webp_q) {
        const auto bytes = cae::codec::baselines::webp_encode(reference, static_cast<float>(q));
        measure("webp", q, bytes.size(),
                cae::codec::baselines::webp_decode(bytes, static_cast<int>(reference.dim(0)), name + " (WebP)"),
                true);
      }
      std::printf("%-28s %4lldx%-4lld %3zu settings  %6.1f s\n", name.c_str(), static_cast<long long>(W),
                  static_cast<long long>(H), models.size() + jpeg_q.size() + webp_q.size(), clock.seconds());
      std::fflush(stdout);
    }

    // ---- curves ----
    using cae::codec::RdMeanPoint;
    using cae::codec::RdQuality;
    std::vector<std::string> curve_order;
    for (const std::string& f : families) curve_order.push_back(curve_name(f));
    curve_order.push_back("jpeg");
    curve_order.push_back("webp");
    std::map<std::string, std::vector<RdMeanPoint>> means;
    for (const std::string& c : curve_order) means[c] = cae::codec::mean_curve(samples, c);

    struct Bd {
      std::string test, anchor, quality;
      cae::codec::BdSummary s;
    };
    std::vector<Bd> bds;
    for (const std::string& f : families)
      for (const char* anchor : {"jpeg", "webp"})
        for (RdQuality q : {RdQuality::Psnr, RdQuality::MsSsimDb})
          bds.push_back({curve_name(f), anchor, q == RdQuality::Psnr ? "psnr" : "ms_ssim_db",
                         cae::codec::bd_rate_over_shared_rates(cae::codec::rd_points(means[anchor], q),
                                                               cae::codec::rd_points(means[curve_name(f)], q))});
    const cae::codec::BdSummary webp_vs_jpeg = cae::codec::bd_rate_over_shared_rates(
        cae::codec::rd_points(means["jpeg"]), cae::codec::rd_points(means["webp"]));

    // ---- tables (markdown, pasted into docs/codec.md) ----
    std::string md;
    const int n_images = static_cast<int>(names.size());
    md += cae::str("Mean over the ", n_images, " images of ", folder,
                   " (arithmetic means of bpp, PSNR and MS-SSIM per setting, as CompressAI's evaluation; "
                   "MS-SSIM in dB is -10 log10(1 - mean MS-SSIM)).\n\n");
    md += "| codec | setting | bpp | PSNR (dB) | MS-SSIM | MS-SSIM (dB) |\n|---|---|---|---|---|---|\n";
    for (const std::string& c : curve_order)
      for (const RdMeanPoint& p : means[c])
        md += cae::str("| ", c == "jpeg" || c == "webp" ? codec_label(c) : family_label[c.substr(4)], " | ",
                       c == "jpeg" || c == "webp" ? "quality " : "quality level ", p.setting, " | ",
                       fmt("%.4f", p.bpp), " | ", fmt("%.2f", p.psnr), " | ", fmt("%.4f", p.ms_ssim), " | ",
                       fmt("%.2f", p.ms_ssim_db), " |\n");
    md += "\nBD-rate: the average bit-rate difference at equal quality (negative: cae needs fewer bits), "
          "from cubic fits of log-rate against quality (Bjontegaard). The anchor curve is first cut to the "
          "cae curve's bpp range (its points inside it and the nearest one beyond each end); the fits are "
          "integrated over the quality range both cut curves cover.\n\n";
    md += "| cae curve | anchor | quality | BD-rate | BD-quality (dB) | bpp range | quality range (dB) | points (anchor, cae) |\n"
          "|---|---|---|---|---|---|---|---|\n";
    for (const Bd& b : bds) {
      const std::string q = b.quality == "psnr" ? "PSNR" : "MS-SSIM (dB)";
      if (b.s.ok)
        md += cae::str("| ", family_label[b.test.substr(4)], " | ", codec_label(b.anchor), " | ", q, " | **",
                       fmt("%+.1f", b.s.bd_rate), " %** | ", fmt("%+.2f", b.s.bd_quality), " | ",
                       fmt("%.3f", b.s.rate_lo), "-", fmt("%.3f", b.s.rate_hi), " | ", fmt("%.2f", b.s.quality_lo),
                       "-", fmt("%.2f", b.s.quality_hi), " | ", b.s.anchor_points, ", ", b.s.test_points, " |\n");
      else
        md += cae::str("| ", family_label[b.test.substr(4)], " | ", codec_label(b.anchor), " | ", q,
                       " | not computed: ", b.s.reason, " | | | | |\n");
    }
    md += cae::str("\nFor scale, WebP against JPEG by the same method over WebP's bpp range: BD-rate ",
                   webp_vs_jpeg.ok ? fmt("%+.1f", webp_vs_jpeg.bd_rate) + " %" : "not computed (" + webp_vs_jpeg.reason + ")",
                   ".\n\n");
    md += "PSNR at equal bpp: each cae quality level's mean point against the JPEG and WebP mean curves at "
          "the same bpp (linear in log-bpp between their two neighbouring settings).\n\n"
          "| cae curve | quality level | bpp | PSNR (dB) | JPEG at that bpp (dB) | cae - JPEG (dB) | WebP at that bpp (dB) | cae - WebP (dB) |\n"
          "|---|---|---|---|---|---|---|---|\n";
    const auto jpeg_curve = cae::codec::rd_points(means["jpeg"]), webp_curve = cae::codec::rd_points(means["webp"]);
    cae::json::Array json_equal_rate;
    for (const std::string& f : families)
      for (const RdMeanPoint& p : means[curve_name(f)]) {
        const double j = cae::codec::quality_at_rate(jpeg_curve, p.bpp), w = cae::codec::quality_at_rate(webp_curve, p.bpp);
        md += cae::str("| ", family_label[f], " | ", p.setting, " | ", fmt("%.4f", p.bpp), " | ", fmt("%.2f", p.psnr),
                       " | ", fmt("%.2f", j), " | ", fmt("%+.2f", p.psnr - j), " | ", fmt("%.2f", w), " | ",
                       fmt("%+.2f", p.psnr - w), " |\n");
        json_equal_rate.push_back(cae::json::Value(cae::json::Object{
            {"curve", curve_name(f)}, {"setting", p.setting}, {"bpp", p.bpp}, {"psnr_db", number_or_null(p.psnr)},
            {"jpeg_psnr_db_at_bpp", number_or_null(j)}, {"webp_psnr_db_at_bpp", number_or_null(w)}}));
      }
    md += "\nPer image, cae (bpp from the .cae file's bytes; every decoded image equal to the encoder's "
          "reconstruction at 1 and 2 threads unless marked):\n\n"
          "| image | cae curve | quality level | bytes | bpp | PSNR (dB) | MS-SSIM |\n|---|---|---|---|---|---|---|\n";
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const RdSample& s = samples[i];
      if (s.codec == "jpeg" || s.codec == "webp") continue;
      md += cae::str("| ", s.image, " | ", family_label[s.codec.substr(4)], " | ", s.setting, " | ", s.bytes, " | ",
                     fmt("%.4f", s.bpp), " | ", fmt("%.2f", s.psnr), " | ", fmt("%.4f", s.ms_ssim),
                     exact[i] ? "" : " (DECODE MISMATCH)", " |\n");
    }

    // ---- the side-by-side picture ----
    std::vector<Tensor<float>> cells{original_crop};
    std::vector<std::string> labels{cae::str("original (", crop_side, "x", crop_side, ")")};
    cae::json::Array json_side;
    for (const std::string& c : curve_order) {
      const RdSample& s = cae::codec::nearest_rate(samples, crop_image, c, target_bpp);
      cells.push_back(crops.at({c, s.setting}));
      const std::string who = c == "jpeg" || c == "webp" ? codec_label(c) + " q" + std::to_string(s.setting)
                                                         : "cae q" + std::to_string(s.setting);
      labels.push_back(cae::str(who, ": ", fmt("%.3f", s.bpp), " bpp, ", fmt("%.2f", s.psnr), " dB"));
      json_side.push_back(cae::json::Value(cae::json::Object{
          {"codec", c}, {"setting", s.setting}, {"bpp", s.bpp}, {"psnr_db", number_or_null(s.psnr)},
          {"ms_ssim", number_or_null(s.ms_ssim)}}));
    }
    if (families.size() > 1)  // several cae columns: say which is which
      for (std::size_t k = 0; k < families.size(); ++k) labels[1 + k] = families[k] + " " + labels[1 + k];
    // Small crops (the quick mode's) are shown twice as large.
    const int cell_scale = crop_side < 200 ? 2 : 1, gap = 8;
    const std::string side_title = cae::str(crop_image, ": ", crop_side, "x", crop_side, " crop at (", crop_x, ", ",
                                            crop_y, ")", cell_scale > 1 ? " shown at 2x" : "",
                                            "; each codec at its setting nearest ", fmt("%.2f", target_bpp),
                                            " bpp; bpp and PSNR of the whole image");
    // The labels' text shrinks until the longest fits its column.
    int font_px = 15;
    auto widest = [&](int px) {
      int w = 0;
      for (const std::string& l : labels) w = std::max(w, cae::figures::detail::Font::get().width(l, px));
      return w;
    };
    while (font_px > 8 && widest(font_px) > static_cast<int>(crop_side) * cell_scale + gap - 2) --font_px;
    cae::figures::save_image_grid(
        args.out + "/side_by_side.png", std::vector<std::vector<Tensor<float>>>{cells},
        cae::figures::GridOptions().gap(gap).scale(cell_scale).column_labels(labels).title(side_title).font_px(font_px));
    md += cae::str("\nSide by side (side_by_side.png): ", side_title, ".\n\n| codec | setting | bpp | PSNR (dB) | MS-SSIM |\n|---|---|---|---|---|\n");
    for (const std::string& c : curve_order) {
      const RdSample& s = cae::codec::nearest_rate(samples, crop_image, c, target_bpp);
      md += cae::str("| ", c == "jpeg" || c == "webp" ? codec_label(c) : family_label[c.substr(4)], " | ", s.setting,
                     " | ", fmt("%.4f", s.bpp), " | ", fmt("%.2f", s.psnr), " | ", fmt("%.4f", s.ms_ssim), " |\n");
    }

    // ---- figures ----
    auto plot = [&](RdQuality q, const std::string& path) {
      std::vector<cae::figures::Series> series;
      bool any = false;
      for (const std::string& c : curve_order) {
        cae::figures::Series s;
        for (const cae::codec::RdPoint& p : cae::codec::rd_points(means[c], q)) s.x.push_back(p.rate), s.y.push_back(p.quality);
        any = any || !s.x.empty();
        s.label = c == "jpeg" ? "JPEG (libjpeg-turbo, 4:2:0)" : c == "webp" ? "WebP (libwebp)" : family_label[c.substr(4)];
        s.markers = true;
        series.push_back(s);
      }
      if (!any) return false;
      if (q == RdQuality::Psnr) {
        for (const auto& [pts, label] :
             {std::make_pair(&kPublishedFactorizedKodak, "published: Balle 2018 factorized, Kodak (CompressAI)"),
              std::make_pair(&kPublishedJpegKodak, "published: JPEG, Kodak (CompressAI)")}) {
          cae::figures::Series s;
          for (const auto& p : *pts) s.x.push_back(p.rate), s.y.push_back(p.quality);
          s.label = label;
          s.markers = true;
          series.push_back(s);
        }
      }
      const std::string what = q == RdQuality::Psnr ? "PSNR" : "MS-SSIM";
      cae::figures::save_line_plot(
          path, series,
          cae::figures::PlotOptions()
              .width(960)
              .height(640)
              .x_range(0, max_bpp)
              .legend_bottom_right(true)
              .title(cae::str(what, " against bits per pixel, mean over ", n_images, " held-out photographs"))
              .x_label("bits per pixel (bpp, from the compressed file's bytes)")
              .y_label(q == RdQuality::Psnr ? "PSNR (dB, 8-bit RGB)" : "MS-SSIM (dB: -10 log10(1 - MS-SSIM))"));
      return true;
    };
    const bool psnr_plot = plot(RdQuality::Psnr, args.out + "/rd_psnr.png");
    const bool msssim_plot = plot(RdQuality::MsSsimDb, args.out + "/rd_msssim.png");
    if (!msssim_plot) std::printf("no MS-SSIM figure: every image is too small for MS-SSIM (161 pixels a side)\n");

    // ---- results.json and rd.csv ----
    std::string csv = "image,codec,setting,width,height,bytes,bpp,psnr_db,ms_ssim,ms_ssim_db,decode_exact\n";
    cae::json::Array json_rows, json_means, json_bd, json_models;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const RdSample& r = samples[i];
      const double db = std::isfinite(r.ms_ssim) ? cae::codec::ms_ssim_db(r.ms_ssim) : std::nan("");
      csv += cae::str(r.image, ",", r.codec, ",", r.setting, ",", r.width, ",", r.height, ",", r.bytes, ",",
                      fmt("%.6f", r.bpp), ",", fmt("%.4f", r.psnr), ",",
                      std::isfinite(r.ms_ssim) ? fmt("%.6f", r.ms_ssim) : "", ",",
                      std::isfinite(db) ? fmt("%.4f", db) : "", ",", exact[i] ? 1 : 0, "\n");
      json_rows.push_back(cae::json::Value(cae::json::Object{
          {"image", r.image}, {"codec", r.codec}, {"setting", r.setting},
          {"width", static_cast<long long>(r.width)}, {"height", static_cast<long long>(r.height)},
          {"bytes", static_cast<unsigned long long>(r.bytes)}, {"bpp", r.bpp},
          {"psnr_db", number_or_null(r.psnr)}, {"ms_ssim", number_or_null(r.ms_ssim)},
          {"ms_ssim_db", number_or_null(db)}, {"decode_exact", static_cast<bool>(exact[i])}}));
    }
    for (const std::string& c : curve_order)
      for (const RdMeanPoint& p : means[c])
        json_means.push_back(cae::json::Value(cae::json::Object{
            {"codec", c}, {"setting", p.setting}, {"images", p.images}, {"mean_bpp", p.bpp},
            {"mean_psnr_db", number_or_null(p.psnr)}, {"mean_ms_ssim", number_or_null(p.ms_ssim)},
            {"ms_ssim_db_of_mean", number_or_null(p.ms_ssim_db)}}));
    auto bd_json = [&](const std::string& test, const std::string& anchor, const std::string& quality,
                       const cae::codec::BdSummary& s) {
      return cae::json::Value(cae::json::Object{
          {"test", test}, {"anchor", anchor}, {"quality", quality}, {"ok", s.ok}, {"reason", s.reason},
          {"bd_rate_percent", number_or_null(s.bd_rate)}, {"bd_quality_db", number_or_null(s.bd_quality)},
          {"test_bpp_range", cae::json::Array{cae::json::Value(s.rate_lo), cae::json::Value(s.rate_hi)}},
          {"quality_range", cae::json::Array{cae::json::Value(s.quality_lo), cae::json::Value(s.quality_hi)}},
          {"anchor_points", s.anchor_points}, {"test_points", s.test_points}});
    };
    for (const Bd& b : bds) json_bd.push_back(bd_json(b.test, b.anchor, b.quality, b.s));
    json_bd.push_back(bd_json("webp", "jpeg", "psnr", webp_vs_jpeg));
    for (const Model& m : models)
      json_models.push_back(cae::json::Value(cae::json::Object{
          {"path", m.path}, {"family", m.family}, {"quality", m.quality},
          {"id", cae::codec::hex64(m.codec->id())}, {"N", static_cast<long long>(m.codec->model().N())},
          {"M", static_cast<long long>(m.codec->model().M())}}));
    cae::json::Value root;
    root["experiment"] = cae::json::Value("codec_rd");
    root["images_folder"] = cae::json::Value(folder);
    root["images"] = cae::json::Value(n_images);
    root["threads"] = cae::json::Value(threads);
    root["averaging"] = cae::json::Value(
        "per setting, arithmetic means over the images of bpp, PSNR (dB) and MS-SSIM; MS-SSIM dB of the mean");
    root["bd_rate_method"] = cae::json::Value(
        "cubic fits of ln(bpp) against quality; the anchor cut to the test curve's bpp range plus the nearest "
        "point beyond each end; integrated over the quality range both cover");
    root["models"] = cae::json::Value(std::move(json_models));
    root["decode_mismatches"] = cae::json::Value(static_cast<long long>(mismatches));
    root["rows"] = cae::json::Value(std::move(json_rows));
    root["means"] = cae::json::Value(std::move(json_means));
    root["bd_rates"] = cae::json::Value(std::move(json_bd));
    root["cae_against_baselines_at_equal_bpp"] = cae::json::Value(std::move(json_equal_rate));
    root["side_by_side"] = cae::json::Value(cae::json::Object{
        {"image", crop_image}, {"x", static_cast<long long>(crop_x)}, {"y", static_cast<long long>(crop_y)},
        {"size", static_cast<long long>(crop_side)}, {"target_bpp", target_bpp},
        {"chosen", cae::json::Value(std::move(json_side))}});
    root["seconds"] = cae::json::Value(clock.seconds());
    cae::io::write_file_atomic(args.out + "/rd.csv", csv);
    cae::io::write_file_atomic(args.out + "/tables.md", md);
    cae::io::write_file_atomic(args.out + "/results.json", root.dump(2) + "\n");
    std::printf("\n%s\nwrote %s/{results.json,rd.csv,tables.md,%sside_by_side.png} in %.1f s\n", md.c_str(),
                args.out.c_str(), psnr_plot ? (msssim_plot ? "rd_psnr.png,rd_msssim.png," : "rd_psnr.png,") : "",
                clock.seconds());

    if (args.quick) {
      repro::sanity(mismatches == 0, "every decoded image equals the encoder's reconstruction at 1 and 2 threads");
      bool finite = true;
      for (const RdSample& s : samples) finite = finite && s.bpp > 0 && std::isfinite(s.psnr) && s.psnr > 0;
      repro::sanity(finite, "every sample has a positive bpp and a finite PSNR");
      for (const std::string& c : curve_order) {
        const auto& m = means[c];
        bool rising = true;  // settings in order of quality must cost more bits
        std::vector<RdMeanPoint> by_setting = m;
        std::sort(by_setting.begin(), by_setting.end(),
                  [](const RdMeanPoint& a, const RdMeanPoint& b) { return a.setting < b.setting; });
        for (std::size_t i = 1; i < by_setting.size(); ++i) rising = rising && by_setting[i].bpp > by_setting[i - 1].bpp;
        repro::sanity(rising, codec_label(c) + ": the mean bpp rises with the setting");
      }
      for (const char* c : {"jpeg", "webp"}) {
        std::vector<RdMeanPoint> m = means[c];
        std::sort(m.begin(), m.end(), [](const RdMeanPoint& a, const RdMeanPoint& b) { return a.setting < b.setting; });
        repro::sanity(m.back().psnr > m.front().psnr + 5, codec_label(c) + ": the highest quality is 5 dB above the lowest");
      }
      repro::sanity(webp_vs_jpeg.ok && webp_vs_jpeg.bd_rate > -80 && webp_vs_jpeg.bd_rate < 80,
                    "WebP's BD-rate against JPEG computed and within +-80 %");
      bool explained = true;
      for (const Bd& b : bds) explained = explained && (b.s.ok ? std::isfinite(b.s.bd_rate) : !b.s.reason.empty());
      repro::sanity(explained, "every cae BD-rate is a number or says why it is not");
      repro::sanity(psnr_plot && fs::file_size(args.out + "/rd_psnr.png") > 1000 &&
                        fs::file_size(args.out + "/side_by_side.png") > 1000,
                    "the PSNR figure and the side-by-side picture were written");
    }
    CAE_CHECK(mismatches == 0, cae::Error, mismatches,
              " cae images decoded differently from the encoder's reconstruction (see MISMATCH above)");
    return 0;
  });
}
