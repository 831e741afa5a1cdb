// The classical codecs' rate-distortion points on a folder of images: JPEG
// (libjpeg-turbo, 4:2:0) at qualities 5..95 and lossy WebP at several
// qualities, each image coded, decoded and measured by the same code that
// measures cae's learned codec (cae/codec/rd_metrics.hpp): bits per pixel,
// PSNR and MS-SSIM on the 8-bit images.
//
//   codec_baselines --images DIR --out runs/baselines
//   codec_baselines --quick                       (two synthetic images, CI)
//
// Writes rd.csv (one row per image, codec and quality) and results.json
// (the same rows, and per codec and quality the mean bpp, PSNR and MS-SSIM
// over the images, as CompressAI's evaluation averages them).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cae/codec/baselines.hpp"
#include "cae/codec/rd_metrics.hpp"
#include "cae/data/image_folder.hpp"
#include "cae/io/image.hpp"
#include "cae/io/json.hpp"
#include "common/repro.hpp"

namespace {

using cae::Tensor;
using cae::index_t;

// A synthetic "photograph" for --quick without data: smooth shading, an edge,
// fine texture and a little deterministic noise, larger than MS-SSIM's 161 pixels.
Tensor<float> synthetic_image(int seed, index_t h, index_t w) {
  Tensor<float> t({3, h, w});
  std::uint32_t state = 12345u + 977u * static_cast<std::uint32_t>(seed);
  for (index_t k = 0; k < 3; ++k)
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        state = state * 1664525u + 1013904223u;
        double v = 0.45 + 0.25 * std::sin(0.03 * x * (1 + seed) + 0.8 * k) * std::cos(0.045 * y) +
                   0.08 * std::sin(0.5 * x + 0.3 * y) + 0.02 * ((state >> 8) / 16777216.0 - 0.5);
        if ((x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2) < h * h / 9) v += 0.2;
        t[(k * h + y) * w + x] = static_cast<float>(std::min(1.0, std::max(0.0, v)));
      }
  return t;
}

struct Row {
  std::string image, codec;
  int quality = 0;
  index_t width = 0, height = 0;
  std::size_t bytes = 0;
  double bpp = 0, psnr = 0, ms_ssim = 0;  // ms_ssim NaN: image too small
};

cae::json::Value number_or_null(double v) {
  return std::isfinite(v) ? cae::json::Value(v) : cae::json::Value(nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  return repro::run_main([&]() {
    const repro::Args args = repro::parse_args(
        argc, argv,
        "JPEG and WebP rate-distortion points (bpp, PSNR, MS-SSIM) on a folder of images.",
        {{"images", "folder of PNG/JPEG/BMP images (default with --quick: two synthetic images)"},
         {"jpeg-qualities", "comma-separated JPEG qualities (default 5,10,...,95)"},
         {"webp-qualities", "comma-separated WebP qualities (default 5,10,20,...,90,95)"},
         {"max-images", "use at most this many images of the folder (default: all)"}});
    std::vector<int> jpeg_q, webp_q;
    for (int q = 5; q <= 95; q += 5) jpeg_q.push_back(q);
    webp_q = {5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95};
    if (args.quick) jpeg_q = {10, 50, 90}, webp_q = {10, 50, 90};
    if (args.extra.count("jpeg-qualities")) jpeg_q = repro::parse_int_list(args.get("jpeg-qualities", ""), "jpeg-qualities", 1, 100);
    if (args.extra.count("webp-qualities")) webp_q = repro::parse_int_list(args.get("webp-qualities", ""), "webp-qualities", 0, 100);
    const int max_images = args.extra.count("max-images")
                               ? repro::parse_int_list(args.get("max-images", ""), "max-images", 1, 1 << 30)[0]
                               : (args.quick ? 2 : 1 << 30);

    // The images: a folder's image files in name order, or synthetic ones.
    std::vector<std::pair<std::string, Tensor<float>>> images;
    const std::string folder = args.get("images", "");
    if (!folder.empty()) {
      std::vector<std::string> names;
      for (const auto& e : std::filesystem::directory_iterator(folder))
        if (e.is_regular_file() && cae::data::is_image_file(e.path().filename().string()))
          names.push_back(e.path().filename().string());
      std::sort(names.begin(), names.end());
      if (names.empty()) throw cae::Error(cae::str("--images ", folder, ": no PNG/JPEG/BMP files"));
      for (const auto& n : names) {
        if (static_cast<int>(images.size()) >= max_images) break;
        Tensor<float> img = cae::io::load_image(folder + "/" + n);
        if (img.dim(0) != 1 && img.dim(0) != 3) img = cae::io::load_image(folder + "/" + n, 3);
        images.emplace_back(n, std::move(img));
      }
    } else if (args.quick) {
      images.emplace_back("synthetic_0", synthetic_image(0, 176, 192));
      images.emplace_back("synthetic_1", synthetic_image(1, 168, 200));
    } else {
      throw cae::Error("--images DIR is required (or --quick for synthetic images)");
    }

    repro::Stopwatch clock;
    std::vector<Row> rows;
    for (const auto& [name, original] : images) {
      const Tensor<float> reference = cae::codec::quantize_8bit(original);
      const index_t h = original.dim(1), w = original.dim(2);
      const bool msssim_ok = std::min(h, w) > 160;
      auto measure = [&](const std::string& codec, int q, const std::vector<std::uint8_t>& bytes,
                         const Tensor<float>& decoded) {
        Row r;
        r.image = name, r.codec = codec, r.quality = q, r.width = w, r.height = h;
        r.bytes = bytes.size();
        r.bpp = cae::codec::bits_per_pixel(bytes.size(), w, h);
        r.psnr = cae::codec::psnr_8bit(reference, decoded);
        r.ms_ssim = msssim_ok ? cae::codec::ms_ssim_8bit(reference, decoded) : std::nan("");
        rows.push_back(r);
      };
      for (int q : jpeg_q) {
        const auto bytes = cae::codec::baselines::jpeg_encode(reference, q);
        measure("jpeg", q, bytes, cae::codec::baselines::jpeg_decode(bytes, name + " (JPEG)"));
      }
      for (int q : webp_q) {
        const auto bytes = cae::codec::baselines::webp_encode(reference, static_cast<float>(q));
        measure("webp", q, bytes,
                cae::codec::baselines::webp_decode(bytes, static_cast<int>(original.dim(0)), name + " (WebP)"));
      }
      std::printf("%-40s %5lldx%-5lld %zu points\n", name.c_str(), static_cast<long long>(w),
                  static_cast<long long>(h), jpeg_q.size() + webp_q.size());
    }

    // Per codec and quality: means over the images.
    struct Mean {
      double bpp = 0, psnr = 0, ms_ssim = 0;
      int n = 0, n_msssim = 0;
    };
    std::map<std::pair<std::string, int>, Mean> means;
    for (const Row& r : rows) {
      Mean& m = means[{r.codec, r.quality}];
      m.bpp += r.bpp, m.psnr += r.psnr, ++m.n;
      if (std::isfinite(r.ms_ssim)) m.ms_ssim += r.ms_ssim, ++m.n_msssim;
    }

    std::string csv = "image,codec,quality,width,height,bytes,bpp,psnr_db,ms_ssim\n";
    cae::json::Array json_rows, json_means;
    for (const Row& r : rows) {
      char buf[512];
      std::snprintf(buf, sizeof buf, "%s,%s,%d,%lld,%lld,%zu,%.6f,%.4f,%s\n", r.image.c_str(),
                    r.codec.c_str(), r.quality, static_cast<long long>(r.width),
                    static_cast<long long>(r.height), r.bytes, r.bpp, r.psnr,
                    std::isfinite(r.ms_ssim) ? std::to_string(r.ms_ssim).c_str() : "");
      csv += buf;
      json_rows.push_back(cae::json::Value(cae::json::Object{
          {"image", r.image}, {"codec", r.codec}, {"quality", r.quality},
          {"width", static_cast<long long>(r.width)}, {"height", static_cast<long long>(r.height)},
          {"bytes", static_cast<unsigned long long>(r.bytes)}, {"bpp", r.bpp},
          {"psnr_db", number_or_null(r.psnr)}, {"ms_ssim", number_or_null(r.ms_ssim)}}));
    }
    std::printf("\n%-6s %7s %10s %10s %10s   (means over %zu images)\n", "codec", "quality", "bpp",
                "PSNR dB", "MS-SSIM", images.size());
    for (const auto& [key, m] : means) {
      const double ms = m.n_msssim ? m.ms_ssim / m.n_msssim : std::nan("");
      std::printf("%-6s %7d %10.4f %10.3f %10.5f\n", key.first.c_str(), key.second, m.bpp / m.n,
                  m.psnr / m.n, ms);
      json_means.push_back(cae::json::Value(cae::json::Object{
          {"codec", key.first}, {"quality", key.second}, {"images", m.n},
          {"mean_bpp", m.bpp / m.n}, {"mean_psnr_db", number_or_null(m.psnr / m.n)},
          {"mean_ms_ssim", number_or_null(ms)}, {"ms_ssim_images", m.n_msssim}}));
    }

    cae::json::Value root;
    root["experiment"] = cae::json::Value("codec_baselines");
    root["images"] = cae::json::Value(folder.empty() ? std::string("synthetic") : folder);
    root["seconds"] = cae::json::Value(clock.seconds());
    root["rows"] = cae::json::Value(std::move(json_rows));
    root["means"] = cae::json::Value(std::move(json_means));
    cae::io::write_file_atomic(args.out + "/rd.csv", csv);
    cae::io::write_file_atomic(args.out + "/results.json", root.dump(2) + "\n");
    std::printf("\nwrote %s/rd.csv and %s/results.json (%.1f s)\n", args.out.c_str(), args.out.c_str(),
                clock.seconds());

    if (args.quick) {
      // Higher quality must cost more bits and give a better image, for both codecs.
      for (const char* codec : {"jpeg", "webp"}) {
        if (!means.count({codec, 10}) || !means.count({codec, 90})) continue;
        const Mean& lo = means.at({codec, 10});
        const Mean& hi = means.at({codec, 90});
        repro::sanity(hi.bpp > lo.bpp && hi.psnr > lo.psnr + 3 && hi.ms_ssim > lo.ms_ssim,
                      std::string(codec) + ": quality 90 has more bpp, PSNR and MS-SSIM than 10");
      }
    }
    return 0;
  });
}
