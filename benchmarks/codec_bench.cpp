// codec_bench: the speed of cae's learned codec on one photograph, beside
// JPEG's on the same image at a matched bpp; the cae side of the comparison
// with the same networks in PyTorch (benchmarks/torch_codec.py, run by
// benchmarks/codec_compare.sh).
//
//   codec_bench --model q3.safetensors --image photo.png [--threads 1,2]
//               [--repeats 5] [--warmup 1] [--jpeg-quality Q] [--dump FILE]
//               [--work DIR] [--out results.jsonl]
//   codec_bench --smoke [--image photo.png]   (an untrained tiny model, 1 repeat; CI)
//
// As cae_bench, every (task, threads) runs in a fresh process (this program
// again, with --worker), so that each process's peak memory (getrusage max
// RSS) is that of the task alone, and prints one JSON line on stdout:
//
//   {"framework": "cae", "task": "encode", "threads": 1, "width": 768, "height": 512,
//    "total_ms": ..., "network_ms": ..., "entropy_ms": ..., "total_ms_per_megapixel": ...,
//    "max_rss_mb": ..., "bpp": ..., ...}
//
// Tasks: "encode" (image in memory -> .cae bytes: network = edge padding and the
// analysis transform g_a; entropy = quantization, rANS coding and the container),
// "decode" (.cae bytes -> image: entropy = parsing and rANS decoding; network =
// dequantization, the synthesis transform g_s, crop and clamp), "jpeg_encode"
// and "jpeg_decode" (libjpeg-turbo, 4:2:0, optimized Huffman tables, at the
// quality whose bpp on this image is nearest cae's unless --jpeg-quality is
// given). Times are medians over --repeats timed runs after --warmup runs;
// "total" is the library call itself (Codec::encode / Codec::decode), timed
// apart from the stages, and the staged bytes and image must equal the
// library's. The encoder reads the image from memory and the decoder the file's
// bytes from memory: file input and output are not timed.
//
// --dump FILE writes the networks' tensors at 1 thread (x: the padded input
// [1, 3, H', W'], y = g_a(x), y_hat: the dequantized latents, x_hat = g_s(y_hat)
// before the crop) as safetensors, for torch_codec.py's numerical check.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cae/codec.hpp"
#include "cae/codec/baselines.hpp"
#include "cae/io/image.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/io/state_dict.hpp"
#include "cae/parallel.hpp"

namespace {

namespace fs = std::filesystem;
using cae::Tensor;
using cae::index_t;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double process_cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
double peak_rss_mb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}
double load_average() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Options {
  std::string model, image, dump, out, work;
  std::vector<int> threads{1, 2};
  int repeats = 5, warmup = 1, jpeg_quality = 0;  // 0: matched to cae's bpp
  bool smoke = false;
  std::string worker;  // the task, in a worker process
};

// The image as the encoder gets it: 8-bit levels, RGB or grey.
Tensor<float> load_8bit(const std::string& path) {
  Tensor<float> img = cae::io::load_image(path);
  if (img.dim(0) != 1 && img.dim(0) != 3) img = cae::io::load_image(path, 3);
  return cae::codec::quantize_8bit(img);
}

// The per-element table indexes of a latent [1, M, h, w]: each channel its own table.
std::vector<std::int32_t> channel_indexes(const cae::Shape& shape) {
  const index_t M = shape[1], S = shape[2] * shape[3];
  std::vector<std::int32_t> out(static_cast<std::size_t>(M * S));
  for (index_t c = 0; c < M; ++c)
    std::fill(out.begin() + c * S, out.begin() + (c + 1) * S, static_cast<std::int32_t>(c));
  return out;
}

// Times `run` (which fills `stages` with the seconds of each stage it times)
// --warmup + --repeats times; returns the median of each stage in ms.
std::vector<double> time_stages(int warmup, int repeats, std::size_t n_stages,
                                const std::function<void(std::vector<double>&)>& run) {
  std::vector<std::vector<double>> all(n_stages);
  std::vector<double> s(n_stages);
  for (int r = 0; r < warmup + repeats; ++r) {
    std::fill(s.begin(), s.end(), 0.0);
    run(s);
    if (r >= warmup)
      for (std::size_t k = 0; k < n_stages; ++k) all[k].push_back(s[k]);
  }
  std::vector<double> out;
  for (auto& v : all) out.push_back(1e3 * median(v));
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

int run_worker(const Options& opt) {
  const double baseline_rss = peak_rss_mb();
  cae::set_num_threads(opt.threads.at(0));
  const std::string task = opt.worker;
  std::vector<double> ms;  // total, network, entropy
  double bpp = 0;
  index_t W = 0, H = 0;
  double cpu0 = 0, wall0 = 0, load = 0;
  auto start_clock = [&]() {
    load = load_average();
    cpu0 = process_cpu_seconds();
    wall0 = now_seconds();
  };
  if (task == "encode") {
    cae::codec::Codec codec(opt.model);
    const Tensor<float> image = load_8bit(opt.image);
    H = image.dim(1), W = image.dim(2);
    std::vector<std::uint8_t> staged, api;
    start_clock();
    const std::vector<double> stages = time_stages(opt.warmup, opt.repeats, 2, [&](std::vector<double>& s) {
      const double t0 = now_seconds();
      const Tensor<float>& y = codec.model().g_a().forward(cae::codec::Codec::padded(image));
      const double t1 = now_seconds();
      cae::codec::CaeFile f;
      f.model_id = codec.id();
      f.height = static_cast<std::uint32_t>(H);
      f.width = static_cast<std::uint32_t>(W);
      f.channels = static_cast<std::uint8_t>(image.dim(0));
      f.quality = static_cast<std::uint8_t>(std::max(codec.quality(), 0));
      f.latent_shapes = {y.shape().drop_front()};
      const std::vector<std::int32_t> symbols = codec.model().entropy_bottleneck().quantize(y);
      f.streams = {cae::codec::encode_with_indexes(symbols, channel_indexes(y.shape()), codec.tables())};
      staged = cae::codec::write_cae(f);
      s[0] = t1 - t0, s[1] = now_seconds() - t1;
    });
    const std::vector<double> total = time_stages(opt.warmup, opt.repeats, 1, [&](std::vector<double>& s) {
      const double t0 = now_seconds();
      api = codec.encode(image);
      s[0] = now_seconds() - t0;
    });
    CAE_CHECK(staged == api, cae::Error, "codec_bench: the staged encoder's bytes differ from Codec::encode's");
    ms = {total[0], stages[0], stages[1]};
    bpp = cae::codec::bits_per_pixel(api.size(), W, H);
  } else if (task == "decode") {
    cae::codec::Codec codec(opt.model);
    const std::string path = opt.work + "/image.cae";
    const std::vector<unsigned char> file = cae::io::read_file(path);
    const std::vector<std::uint8_t> bytes(file.begin(), file.end());
    Tensor<float> staged, api;
    start_clock();
    const std::vector<double> stages = time_stages(opt.warmup, opt.repeats, 2, [&](std::vector<double>& s) {
      const double t0 = now_seconds();
      const cae::codec::CaeFile f = cae::codec::parse_cae(bytes, path);
      cae::codec::check_model_id(f, codec.id(), path);
      CAE_CHECK(f.latent_shapes.size() == 1 && f.streams.size() == 1, cae::IoError, path,
                ": not a single-latent (factorized-prior) file");
      const cae::Shape shape = f.latent_shapes[0].prepend(1);
      const std::vector<std::int32_t> symbols =
          cae::codec::decode_with_indexes(f.streams[0], channel_indexes(shape), codec.tables(), path);
      const double t1 = now_seconds();
      staged = codec.synthesize(symbols, shape, f.channels, f.height, f.width);
      s[0] = now_seconds() - t1, s[1] = t1 - t0;
    });
    const std::vector<double> total = time_stages(opt.warmup, opt.repeats, 1, [&](std::vector<double>& s) {
      const double t0 = now_seconds();
      api = codec.decode(bytes, path);
      s[0] = now_seconds() - t0;
    });
    CAE_CHECK(staged.shape() == api.shape() && std::equal(staged.begin(), staged.end(), api.begin()), cae::Error,
              "codec_bench: the staged decoder's image differs from Codec::decode's");
    ms = {total[0], stages[0], stages[1]};
    H = api.dim(1), W = api.dim(2);
    bpp = cae::codec::bits_per_pixel(bytes.size(), W, H);
  } else if (task == "jpeg_encode") {
    const Tensor<float> image = load_8bit(opt.image);
    H = image.dim(1), W = image.dim(2);
    std::vector<std::uint8_t> bytes;
    start_clock();
    const std::vector<double> total = time_stages(opt.warmup, opt.repeats, 1, [&](std::vector<double>& s) {
      const double t0 = now_seconds();
      bytes = cae::codec::baselines::jpeg_encode(image, opt.jpeg_quality);
      s[0] = now_seconds() - t0;
    });
    ms = {total[0], std::nan(""), std::nan("")};
    bpp = cae::codec::bits_per_pixel(bytes.size(), W, H);
  } else if (task == "jpeg_decode") {
    const std::string path = opt.work + "/image.jpg";
    const std::vector<unsigned char> file = cae::io::read_file(path);
    Tensor<float> decoded;
    start_clock();
    const std::vector<double> total = time_stages(opt.warmup, opt.repeats, 1, [&](std::vector<double>& s) {
      const double t0 = now_seconds();
      decoded = cae::codec::baselines::jpeg_decode(file.data(), file.size(), path);
      s[0] = now_seconds() - t0;
    });
    ms = {total[0], std::nan(""), std::nan("")};
    H = decoded.dim(1), W = decoded.dim(2);
    bpp = cae::codec::bits_per_pixel(file.size(), W, H);
  } else {
    throw cae::Error("codec_bench: unknown task " + task);
  }
  const double cpu = process_cpu_seconds() - cpu0, wall = now_seconds() - wall0;
  const double mp = static_cast<double>(W) * static_cast<double>(H) / 1e6;
  std::printf(
      "{\"framework\": \"cae\", \"task\": \"%s\", \"threads\": %d, \"width\": %lld, \"height\": %lld, "
      "\"megapixels\": %s, \"bpp\": %s, \"jpeg_quality\": %d, \"total_ms\": %s, \"network_ms\": %s, "
      "\"entropy_ms\": %s, \"total_ms_per_megapixel\": %s, \"network_ms_per_megapixel\": %s, "
      "\"entropy_ms_per_megapixel\": %s, \"max_rss_mb\": %.1f, \"baseline_rss_mb\": %.1f, "
      "\"repeats\": %d, \"warmup\": %d, \"loadavg_1m\": %.2f, \"cpu_utilization\": %.3f}\n",
      task.c_str(), opt.threads.at(0), static_cast<long long>(W), static_cast<long long>(H),
      json_number(mp).c_str(), json_number(bpp).c_str(), task.rfind("jpeg", 0) == 0 ? opt.jpeg_quality : 0,
      json_number(ms[0]).c_str(), json_number(ms[1]).c_str(), json_number(ms[2]).c_str(),
      json_number(ms[0] / mp).c_str(), json_number(ms[1] / mp).c_str(), json_number(ms[2] / mp).c_str(),
      peak_rss_mb(), baseline_rss, opt.repeats, opt.warmup, load,
      wall > 0 ? cpu / (wall * opt.threads.at(0)) : 0.0);
  return 0;
}

// An untrained FactorizedPrior(8, 12), for --smoke without --model.
std::string smoke_model(const std::string& dir) {
  cae::codec::FactorizedPrior<float> m(8, 12);
  m.build({3, 16, 16});
  const std::string path = dir + "/smoke_model.safetensors";
  cae::io::save_safetensors(m, path, {{"model", "smoke-untrained"}, {"quality", "1"}});
  return path;
}

int run_driver(Options opt) {
  const bool temporary = opt.work.empty();
  if (temporary) {
    char tmpl[] = "/tmp/codec_bench_XXXXXX";
    CAE_CHECK(mkdtemp(tmpl) != nullptr, cae::IoError, "codec_bench: cannot create a temporary folder");
    opt.work = tmpl;
  }
  fs::create_directories(opt.work);
  if (opt.model.empty() && opt.smoke) opt.model = smoke_model(opt.work);
  CAE_CHECK(!opt.model.empty() && !opt.image.empty(), cae::Error,
            "codec_bench: --model and --image are required (or --smoke)");

  // The files the decoders read, and the JPEG quality matched to cae's bpp.
  cae::set_num_threads(1);
  cae::codec::Codec codec(opt.model);
  const Tensor<float> image = load_8bit(opt.image);
  const index_t H = image.dim(1), W = image.dim(2);
  const std::vector<std::uint8_t> cae_bytes = codec.encode(image);
  cae::io::write_file_atomic(opt.work + "/image.cae", cae_bytes.data(), cae_bytes.size());
  const double cae_bpp = cae::codec::bits_per_pixel(cae_bytes.size(), W, H);
  if (opt.jpeg_quality == 0) {
    double best = 1e30;
    for (int q = 1; q <= 100; ++q) {
      const double d = std::abs(cae::codec::bits_per_pixel(cae::codec::baselines::jpeg_encode(image, q).size(), W, H) - cae_bpp);
      if (d < best) best = d, opt.jpeg_quality = q;
    }
  }
  const std::vector<std::uint8_t> jpeg = cae::codec::baselines::jpeg_encode(image, opt.jpeg_quality);
  cae::io::write_file_atomic(opt.work + "/image.jpg", jpeg.data(), jpeg.size());
  std::fprintf(stderr, "codec_bench: %s, %lldx%lld; cae %.4f bpp; JPEG quality %d %.4f bpp; load %.2f\n",
               opt.image.c_str(), static_cast<long long>(W), static_cast<long long>(H), cae_bpp,
               opt.jpeg_quality, cae::codec::bits_per_pixel(jpeg.size(), W, H), load_average());

  if (!opt.dump.empty()) {
    const Tensor<float> x = cae::codec::Codec::padded(image);
    const Tensor<float> y = codec.model().g_a().forward(x);
    const std::vector<std::int32_t> symbols = codec.model().entropy_bottleneck().quantize(y);
    const Tensor<float> y_hat = codec.model().entropy_bottleneck().dequantize(symbols, y.shape());
    const Tensor<float> x_hat = codec.model().g_s().forward(y_hat);
    cae::safetensors::save<float>(opt.dump, {{"x", &x}, {"y", &y}, {"y_hat", &y_hat}, {"x_hat", &x_hat}},
                                  {{"image", opt.image}, {"model", opt.model}, {"width", std::to_string(W)},
                                   {"height", std::to_string(H)}});
    std::fprintf(stderr, "codec_bench: wrote the networks' tensors to %s\n", opt.dump.c_str());
  }

  std::FILE* out = opt.out.empty() ? nullptr : std::fopen(opt.out.c_str(), "a");
  CAE_CHECK(opt.out.empty() || out != nullptr, cae::IoError, opt.out, ": cannot open for appending");
  const std::string self = fs::canonical("/proc/self/exe").string();
  int failures = 0;
  for (int threads : opt.threads)
    for (const char* task : {"encode", "decode", "jpeg_encode", "jpeg_decode"}) {
      const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " " + quote(self) + " --worker " +
                              task + " --threads " + std::to_string(threads) + " --model " + quote(opt.model) +
                              " --image " + quote(opt.image) + " --work " + quote(opt.work) + " --repeats " +
                              std::to_string(opt.repeats) + " --warmup " + std::to_string(opt.warmup) +
                              " --jpeg-quality " + std::to_string(opt.jpeg_quality);
      std::FILE* p = popen(cmd.c_str(), "r");
      std::string record;
      if (p) {
        char buf[4096];
        while (std::fgets(buf, sizeof buf, p))
          if (buf[0] == '{') record = buf;
      }
      const int status = p ? pclose(p) : -1;
      if (!record.empty() && record.back() == '\n') record.pop_back();
      if (status != 0 || record.empty()) {
        ++failures;
        std::fprintf(stderr, "FAILED %s threads=%d (status %d)\n", task, threads, status);
        continue;
      }
      std::puts(record.c_str());
      std::fflush(stdout);
      if (out) std::fprintf(out, "%s\n", record.c_str());
    }
  if (out) std::fclose(out);
  if (temporary) fs::remove_all(opt.work);
  return failures ? 1 : 0;
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --model M.safetensors --image photo.png [--threads 1,2] [--repeats 5]\n"
               "          [--warmup 1] [--jpeg-quality Q] [--dump FILE] [--work DIR] [--out FILE]\n"
               "       %s --smoke [--image photo.png]\n",
               argv0, argv0);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  bool threads_given = false, repeats_given = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) {
          usage(argv[0]);
          std::exit(2);
        }
        return argv[++i];
      };
      auto integer = [&](const std::string& v, int lo) {
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || n < lo || n > 1000000)
          throw cae::Error("codec_bench: " + a + " needs an integer >= " + std::to_string(lo) + ", got '" + v + "'");
        return static_cast<int>(n);
      };
      if (a == "--model") opt.model = value();
      else if (a == "--image") opt.image = value();
      else if (a == "--dump") opt.dump = value();
      else if (a == "--work") opt.work = value();
      else if (a == "--out") opt.out = value();
      else if (a == "--threads") {
        opt.threads.clear();
        for (const std::string& t : split(value())) opt.threads.push_back(integer(t, 1));
        CAE_CHECK(!opt.threads.empty(), cae::Error, "codec_bench: --threads needs a list");
        threads_given = true;
      } else if (a == "--repeats") {
        opt.repeats = integer(value(), 1);
        repeats_given = true;
      } else if (a == "--warmup") opt.warmup = integer(value(), 0);
      else if (a == "--jpeg-quality") opt.jpeg_quality = integer(value(), 0);
      else if (a == "--smoke") opt.smoke = true;
      else if (a == "--worker") opt.worker = value();
      else {
        usage(argv[0]);
        return 2;
      }
    }
    CAE_CHECK(opt.jpeg_quality <= 100, cae::Error, "codec_bench: --jpeg-quality must be 1..100");
    if (opt.smoke) {
      if (!threads_given) opt.threads = {1};
      if (!repeats_given) opt.repeats = 1;
      opt.warmup = 0;
      if (opt.image.empty()) opt.image = "tests/data/photos/BytheWater.png";
    }
    if (!opt.worker.empty()) return run_worker(opt);
    return run_driver(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "codec_bench: %s\n", e.what());
    return 1;
  }
}
