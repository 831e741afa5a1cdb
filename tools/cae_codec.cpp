// cae-codec: the learned image codec on the command line (what a camera-side
// engineer scripts). `cae-codec --help` prints the usage; docs/codec.md walks
// through it.
//
// Every failure is one line on stderr, "cae-codec: <file>: <problem>", and a
// non-zero exit status: 1 for a bad file or a failed check, 2 for a bad
// command line.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cae/codec.hpp"
#include "cae/codec/export.hpp"
#include "cae/io/file.hpp"
#include "cae/io/image.hpp"
#include "cae/io/json.hpp"
#include "cae/parallel.hpp"

namespace fs = std::filesystem;
using cae::index_t;
using cae::Tensor;
namespace codec = cae::codec;

namespace {

const char* const kUsage = R"(usage: cae-codec COMMAND ARGUMENTS [OPTIONS]

  encode IN OUT.cae [--quality Q | --model FILE]
      Compresses a PNG, JPEG or BMP image (greyscale or RGB, any size; an alpha
      channel is not coded) into a .cae file.
  decode IN.cae OUT.png [--model FILE]
      Decompresses a .cae file into a PNG. The model is the one in the models
      folder whose file the .cae names (its quality level and model id).
  eval DIR [--quality Q | --model FILE] [--json OUT.json] [--keep FOLDER]
      Codes every PNG/JPEG/BMP image in DIR and prints per image and on average:
      bpp (8 x the .cae file's bytes / pixels), PSNR (8-bit), MS-SSIM (images of
      at least 161 x 161), encode and decode milliseconds; checks that decoding
      gives the encoder's own reconstruction bit for bit (exit 1 if not).
      --keep writes each .cae file and decoded PNG into FOLDER.
  export TRAINED.safetensors OUT.safetensors --quality Q [--float16] [--info KEY=VALUE]...
      Turns a training output (examples/train_codec) into a released model
      file: the integer CDF tables stored, float16 weights with --float16, and
      metadata (give the training command, commit, minutes, steps with --info).
  info FILE
      What a .cae file or a model file holds.

options:
  --quality Q       the quality level, whose model is looked up in the models folder
  --model FILE      use this model file instead of looking one up
  --arch NAME       when several models have the level, the one of this architecture
                    (metadata "model", e.g. bmshj2018-factorized)
  --models-dir DIR  the models folder; default: $CAE_CODEC_MODELS, else
                    share/cae/models/codec beside the installed program, else
                    the source tree's models/codec
  --threads N       threads (default: as OpenMP decides, OMP_NUM_THREADS)
  -h, --help        this text
)";

// A command-line mistake: printed with a pointer to --help, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Command {
  std::string name;
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  std::vector<std::string> info;  // every --info KEY=VALUE, in order
  bool float16 = false;

  bool has(const std::string& o) const { return options.count(o) > 0; }
  std::string get(const std::string& o) const {
    auto it = options.find(o);
    return it == options.end() ? std::string() : it->second;
  }
};

Command parse_command_line(int argc, char** argv) {
  const std::vector<std::string> with_value = {"--quality", "--model", "--arch", "--models-dir",
                                               "--threads", "--json", "--keep", "--info"};
  Command c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      c.name = "help";
      return c;
    }
    if (a == "--float16") {
      c.float16 = true;
    } else if (a.rfind("--", 0) == 0) {
      std::string key = a, value;
      const bool inline_value = a.find('=') != std::string::npos;
      if (inline_value) {
        key = a.substr(0, a.find('='));
        value = a.substr(a.find('=') + 1);
      }
      if (std::find(with_value.begin(), with_value.end(), key) == with_value.end())
        throw UsageError("unknown option " + key);
      if (!inline_value) {
        if (i + 1 >= argc) throw UsageError(key + " needs a value");
        value = argv[++i];
      }
      if (key == "--info") {
        c.info.push_back(value);
      } else {
        if (c.options.count(key)) throw UsageError(key + " given twice");
        c.options[key] = value;
      }
    } else if (c.name.empty()) {
      c.name = a;
    } else {
      c.positional.push_back(a);
    }
  }
  return c;
}

void expect(const Command& c, std::size_t positional, const std::vector<std::string>& allowed) {
  if (c.positional.size() != positional)
    throw UsageError(cae::str(c.name, " takes ", positional, " argument", positional == 1 ? "" : "s",
                              ", got ", c.positional.size()));
  for (const auto& [key, value] : c.options)
    if (key != "--threads" && key != "--models-dir" &&
        std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw UsageError(cae::str(key, " does not apply to ", c.name));
  if (!c.info.empty() && c.name != "export") throw UsageError("--info applies only to export");
  if (c.float16 && c.name != "export") throw UsageError("--float16 applies only to export");
  if (c.has("--quality") && c.has("--model"))
    throw UsageError("give --quality or --model, not both (a model file has its own quality)");
}

int whole_number(const std::string& text, const char* option, int low, int high) {
  bool ok = !text.empty() && text.size() <= 9;
  for (char ch : text) ok = ok && ch >= '0' && ch <= '9';
  const long long v = ok ? std::stoll(text) : -1;
  if (!ok || v < low || v > high)
    throw UsageError(cae::str(option, " must be a whole number in ", low, "..", high, ", got '", text, "'"));
  return static_cast<int>(v);
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// ---- finding models ---------------------------------------------------------

std::string executable_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  return fs::path(std::string(buf, static_cast<std::size_t>(n))).parent_path().string();
}

std::vector<std::string> safetensors_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The folder models are looked up in: --models-dir, else the first of
// $CAE_CODEC_MODELS, <program>/../share/cae/models/codec and the source
// tree's models/codec that holds a .safetensors file.
std::string models_dir(const Command& c) {
  if (c.has("--models-dir")) {
    const std::string d = c.get("--models-dir");
    std::error_code ec;
    CAE_CHECK(fs::is_directory(d, ec), cae::IoError, d, ": --models-dir is not a folder");
    return d;
  }
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("CAE_CODEC_MODELS"); env && *env) candidates.push_back(env);
  const std::string exe = executable_dir();
  if (!exe.empty()) candidates.push_back(exe + "/../share/cae/models/codec");
#ifdef CAE_CODEC_SOURCE_MODELS
  candidates.push_back(CAE_CODEC_SOURCE_MODELS);
#endif
  for (auto& d : candidates) d = fs::path(d).lexically_normal().string();
  for (const auto& d : candidates)
    if (!safetensors_in(d).empty()) return d;
  std::string tried;
  for (const auto& d : candidates) tried += (tried.empty() ? "" : ", ") + d;
  throw cae::IoError(cae::str("no model files (.safetensors) in any models folder (looked in ", tried,
                              "); give --model FILE or --models-dir DIR"));
}

struct ModelEntry {
  std::string path;
  int quality = -1;
  std::string arch;
  std::uint64_t id = 0;
};

// The model files of a folder with their quality, architecture and id; files
// that are not safetensors or whose quality is unreadable are left out (a
// decoder that needs one of them says so by its id).
std::vector<ModelEntry> list_models(const std::string& dir) {
  std::vector<ModelEntry> out;
  for (const auto& path : safetensors_in(dir)) {
    try {
      std::vector<unsigned char> bytes = cae::io::read_file(path);
      ModelEntry e;
      e.path = path;
      e.id = codec::model_id(bytes.data(), bytes.size());
      const cae::safetensors::File f = cae::safetensors::File::parse(std::move(bytes), path);
      e.quality = codec::metadata_int(f.metadata(), codec::kMetaQuality, 0, 255, -1, path);
      auto a = f.metadata().find(codec::kMetaArchitecture);
      e.arch = a == f.metadata().end() ? "" : a->second;
      out.push_back(e);
    } catch (const cae::Error&) {
    }
  }
  return out;
}

std::string qualities_of(const std::vector<ModelEntry>& models) {
  std::vector<int> q;
  for (const auto& m : models)
    if (m.quality >= 0) q.push_back(m.quality);
  std::sort(q.begin(), q.end());
  q.erase(std::unique(q.begin(), q.end()), q.end());
  std::string s;
  for (int v : q) s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s.empty() ? "none with a quality level" : "qualities " + s;
}

// The model for encoding: --model, else the one of --quality (and --arch) in the models folder.
std::string model_for_quality(const Command& c) {
  if (c.has("--model")) return c.get("--model");
  if (!c.has("--quality")) throw UsageError(c.name + " needs --quality Q or --model FILE");
  const int q = whole_number(c.get("--quality"), "--quality", 0, 255);
  const std::string dir = models_dir(c);
  const std::vector<ModelEntry> models = list_models(dir);
  std::vector<ModelEntry> match;
  for (const auto& m : models)
    if (m.quality == q && (!c.has("--arch") || m.arch == c.get("--arch"))) match.push_back(m);
  CAE_CHECK(!match.empty(), cae::IoError, dir, ": no model of quality ", q,
            c.has("--arch") ? " and architecture " + c.get("--arch") : std::string(), " (the folder has ",
            qualities_of(models), ")");
  if (match.size() > 1) {
    std::string names;
    for (const auto& m : match) names += cae::str(names.empty() ? "" : ", ", m.path, " (", m.arch, ")");
    throw cae::IoError(cae::str(dir, ": several models of quality ", q, ": ", names,
                                "; choose one with --arch NAME or --model FILE"));
  }
  return match[0].path;
}

// ---- images -----------------------------------------------------------------

// A decoded file as the codec takes it: grey or RGB. Grey + alpha and RGBA
// lose their alpha channel (the codec does not code transparency).
Tensor<float> load_codable_image(const std::string& path) {
  Tensor<float> img = cae::io::load_image(path, 0);
  const index_t C = img.dim(0);
  if (C == 1 || C == 3) return img;
  const index_t keep = C == 2 ? 1 : 3, H = img.dim(1), W = img.dim(2);
  std::fprintf(stderr, "cae-codec: note: %s has an alpha channel, which is not coded\n", path.c_str());
  Tensor<float> out({keep, H, W});
  std::copy(img.data(), img.data() + keep * H * W, out.data());
  return out;
}

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

void check_png_name(const std::string& out) {
  std::string ext = fs::path(out).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (ext != ".png") throw UsageError(out + ": the decoded image is written as PNG: give a name ending in .png");
}

void check_distinct(const std::string& in, const std::string& out) {
  std::error_code ec;
  if (in == out || fs::equivalent(in, out, ec))
    throw UsageError(out + ": the output would replace the input");
}

// ---- commands -----------------------------------------------------------------

int encode_command(const Command& c) {
  expect(c, 2, {"--quality", "--model", "--arch"});
  const std::string in = c.positional[0], out = c.positional[1];
  check_distinct(in, out);
  const std::string model = model_for_quality(c);
  codec::Codec codec(model);
  const Tensor<float> image = load_codable_image(in);
  const std::vector<std::uint8_t> bytes = codec.encode(image);
  cae::io::write_file_atomic(out, bytes.data(), bytes.size());
  std::printf("%s: %lldx%lld %s -> %s: %zu bytes, %.4f bpp (quality %d, %s)\n", in.c_str(),
              (long long)image.dim(2), (long long)image.dim(1), image.dim(0) == 1 ? "grey" : "RGB",
              out.c_str(), bytes.size(), codec::bits_per_pixel(bytes.size(), image.dim(2), image.dim(1)),
              std::max(codec.quality(), 0), model.c_str());
  return 0;
}

// The model that encoded `f` (read from `source`): --model, else the file of
// the models folder with its model id.
std::string model_for_file(const Command& c, const codec::CaeFile& f, const std::string& source) {
  if (c.has("--model")) return c.get("--model");
  const std::string dir = models_dir(c);
  const std::vector<ModelEntry> models = list_models(dir);
  for (const auto& m : models)
    if (m.id == f.model_id) return m.path;
  for (const auto& m : models)
    if (m.quality == f.quality)
      throw cae::IoError(cae::str(source, ": encoded with model ", codec::hex64(f.model_id), " at quality ",
                                  int{f.quality}, ", but the quality-", int{f.quality}, " model here, ", m.path,
                                  ", is model ", codec::hex64(m.id),
                                  " (another model file): decode with --model giving the one that encoded it"));
  throw cae::IoError(cae::str(source, ": encoded with model ", codec::hex64(f.model_id), " at quality ",
                              int{f.quality}, ", and ", dir, " has no such model (it has ", qualities_of(models),
                              "); give --model FILE"));
}

int decode_command(const Command& c) {
  expect(c, 2, {"--model"});
  const std::string in = c.positional[0], out = c.positional[1];
  check_png_name(out);
  check_distinct(in, out);
  const std::vector<unsigned char> bytes = cae::io::read_file(in);
  const codec::CaeFile f = codec::parse_cae(bytes, in);
  const std::string model = model_for_file(c, f, in);
  codec::Codec codec(model);
  CAE_CHECK(f.model_id == codec.id(), cae::IoError, in, ": encoded with model ", codec::hex64(f.model_id),
            ", but ", model, " is model ", codec::hex64(codec.id()),
            " (another model file): decode with the model that encoded it");
  const Tensor<float> image = codec.decode(bytes, in);
  cae::io::save_png(out, image);
  std::printf("%s -> %s: %ux%u %s\n", in.c_str(), out.c_str(), f.width, f.height,
              f.channels == 1 ? "grey" : "RGB");
  return 0;
}

struct ImageResult {
  std::string file;
  index_t width = 0, height = 0, channels = 0;
  std::size_t bytes = 0;
  double bpp = 0, psnr = 0, ms_ssim = std::nan("");
  double encode_ms = 0, decode_ms = 0;
  bool exact = false;
};

cae::json::Value number_or_null(double v) {
  return std::isfinite(v) ? cae::json::Value(v) : cae::json::Value(nullptr);
}

int eval_command(const Command& c) {
  expect(c, 1, {"--quality", "--model", "--arch", "--json", "--keep"});
  const std::string dir = c.positional[0];
  std::error_code ec;
  CAE_CHECK(fs::is_directory(dir, ec), cae::IoError, dir, ": not a folder (eval takes a folder of images)");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
  CAE_CHECK(!ec, cae::IoError, dir, ": cannot list (", ec.message(), ")");
  std::sort(files.begin(), files.end());
  CAE_CHECK(!files.empty(), cae::IoError, dir, ": no PNG, JPEG or BMP images");
  const std::string keep = c.get("--keep");
  if (!keep.empty()) {
    fs::create_directories(keep, ec);
    CAE_CHECK(fs::is_directory(keep, ec), cae::IoError, keep, ": --keep cannot create this folder");
  }
  const std::string model = model_for_quality(c);
  codec::Codec codec(model);

  std::vector<ImageResult> results;
  std::printf("model %s (%s, quality %d), %d threads\n", model.c_str(), codec::hex64(codec.id()).c_str(),
              codec.quality(), cae::num_threads());
  std::printf("| image | size | bytes | bpp | PSNR (dB) | MS-SSIM | encode (ms) | decode (ms) | bit-exact |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
  for (const auto& path : files) {
    ImageResult r;
    r.file = path.filename().string();
    const Tensor<float> image = load_codable_image(path.string());
    r.channels = image.dim(0);
    r.height = image.dim(1);
    r.width = image.dim(2);
    auto t0 = std::chrono::steady_clock::now();
    const std::vector<std::uint8_t> bytes = codec.encode(image);
    r.encode_ms = milliseconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const Tensor<float> decoded = codec.decode(bytes, r.file + ".cae");
    r.decode_ms = milliseconds_since(t0);
    // The encoder's own reconstruction: the synthesis of the latents it quantized.
    const Tensor<float>& y = codec.model().g_a().forward(codec::Codec::padded(image));
    const std::vector<std::int32_t> symbols = codec.model().entropy_bottleneck().quantize(y);
    const Tensor<float> own = codec.synthesize(symbols, y.shape(), r.channels, r.height, r.width);
    r.exact = own.shape() == decoded.shape() &&
              std::memcmp(own.data(), decoded.data(), sizeof(float) * own.numel()) == 0;
    r.bytes = bytes.size();  // exactly the .cae file's size: write_cae gives the file's bytes
    r.bpp = codec::bits_per_pixel(r.bytes, r.width, r.height);
    r.psnr = codec::psnr_8bit(image, decoded);
    if (std::min(r.width, r.height) > 160) r.ms_ssim = codec::ms_ssim_8bit(image, decoded);
    if (!keep.empty()) {
      const std::string stem = (fs::path(keep) / path.stem()).string();
      cae::io::write_file_atomic(stem + ".cae", bytes.data(), bytes.size());
      cae::io::save_png(stem + ".decoded.png", decoded);
    }
    const std::string ms_ssim = std::isfinite(r.ms_ssim) ? cae::str(r.ms_ssim) : "-";
    std::printf("| %s | %lldx%lld%s | %zu | %.4f | %.2f | %s | %.1f | %.1f | %s |\n", r.file.c_str(),
                (long long)r.width, (long long)r.height, r.channels == 1 ? " grey" : "", r.bytes, r.bpp,
                r.psnr, ms_ssim.c_str(), r.encode_ms, r.decode_ms, r.exact ? "yes" : "NO");
    std::fflush(stdout);
    results.push_back(r);
  }
  // Means over images (each image counts once, as CompressAI's evaluation averages).
  double bpp = 0, psnr = 0, ms = 0, enc = 0, dec = 0;
  int n_ms = 0, n_psnr = 0;
  std::vector<std::string> inexact;
  for (const auto& r : results) {
    bpp += r.bpp;
    enc += r.encode_ms;
    dec += r.decode_ms;
    if (std::isfinite(r.psnr)) psnr += r.psnr, ++n_psnr;  // +inf: a lossless image
    if (std::isfinite(r.ms_ssim)) ms += r.ms_ssim, ++n_ms;
    if (!r.exact) inexact.push_back(r.file);
  }
  const double n = double(results.size());
  const double mean_psnr = n_psnr ? psnr / n_psnr : std::nan(""), mean_ms = n_ms ? ms / n_ms : std::nan("");
  std::printf("| mean of %zu | | | %.4f | %.2f | %s | %.1f | %.1f | %s |\n", results.size(), bpp / n, mean_psnr,
              n_ms ? cae::str(mean_ms).c_str() : "-", enc / n, dec / n, inexact.empty() ? "all" : "NO");
  if (c.has("--json")) {
    cae::json::Array images;
    for (const auto& r : results) {
      cae::json::Value v;
      v["file"] = cae::json::Value(r.file);
      v["width"] = cae::json::Value(static_cast<long long>(r.width));
      v["height"] = cae::json::Value(static_cast<long long>(r.height));
      v["channels"] = cae::json::Value(static_cast<long long>(r.channels));
      v["bytes"] = cae::json::Value(static_cast<unsigned long long>(r.bytes));
      v["bpp"] = cae::json::Value(r.bpp);
      v["psnr_db"] = number_or_null(r.psnr);
      v["ms_ssim"] = number_or_null(r.ms_ssim);
      v["encode_ms"] = cae::json::Value(r.encode_ms);
      v["decode_ms"] = cae::json::Value(r.decode_ms);
      v["bit_exact"] = cae::json::Value(r.exact);
      images.push_back(v);
    }
    cae::json::Value mean;
    mean["bpp"] = cae::json::Value(bpp / n);
    mean["psnr_db"] = number_or_null(mean_psnr);
    mean["ms_ssim"] = number_or_null(mean_ms);
    mean["ms_ssim_images"] = cae::json::Value(n_ms);
    mean["encode_ms"] = cae::json::Value(enc / n);
    mean["decode_ms"] = cae::json::Value(dec / n);
    cae::json::Value root;
    root["experiment"] = cae::json::Value("cae-codec eval");
    root["folder"] = cae::json::Value(dir);
    root["model"] = cae::json::Value(model);
    root["model_id"] = cae::json::Value(codec::hex64(codec.id()));
    root["quality"] = cae::json::Value(codec.quality());
    root["threads"] = cae::json::Value(cae::num_threads());
    root["averaging"] = cae::json::Value("arithmetic mean over images of each per-image number");
    root["images"] = cae::json::Value(std::move(images));
    root["mean"] = std::move(mean);
    root["all_bit_exact"] = cae::json::Value(inexact.empty());
    cae::io::write_file_atomic(c.get("--json"), root.dump(2) + "\n");
  }
  if (!inexact.empty()) {
    std::string list;
    for (const auto& f : inexact) list += (list.empty() ? "" : ", ") + f;
    throw cae::Error(cae::str(dir, ": ", inexact.size(), " of ", results.size(),
                              " images decoded differently from the encoder's own reconstruction: ", list));
  }
  return 0;
}

int export_command(const Command& c) {
  expect(c, 2, {"--quality"});
  if (!c.has("--quality")) throw UsageError("export needs --quality Q (the level .cae files will record)");
  codec::ExportOptions o;
  o.quality = whole_number(c.get("--quality"), "--quality", 0, 255);
  o.float16 = c.float16;
  for (const auto& kv : c.info) {
    const std::size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--info takes KEY=VALUE, got '" + kv + "'");
    const std::string key = kv.substr(0, eq);
    if (o.info.count(key)) throw UsageError("--info " + key + " given twice");
    o.info[key] = kv.substr(eq + 1);
  }
  check_distinct(c.positional[0], c.positional[1]);
  const codec::ExportResult r = codec::export_model(c.positional[0], c.positional[1], o);
  std::printf("%s: %zu bytes (%.2f MB), model %s, quality %d, N=%lld M=%lld, %lld parameters as %s, "
              "%lld integer CDF tables of up to %lld entries\n",
              c.positional[1].c_str(), r.bytes, double(r.bytes) / 1e6, codec::hex64(r.id).c_str(), o.quality,
              (long long)r.N, (long long)r.M, (long long)r.parameters, o.float16 ? "float16" : "float32",
              (long long)r.M, (long long)r.table_length);
  if (r.bytes > 4000000)
    std::printf("note: above 4 MB, the most a model released in the repository may take (try --float16)\n");
  return 0;
}

int info_command(const Command& c) {
  expect(c, 1, {});
  const std::string path = c.positional[0];
  std::vector<unsigned char> bytes = cae::io::read_file(path);
  const std::size_t size = bytes.size();
  if (bytes.size() >= sizeof codec::kCaeMagic &&
      std::memcmp(bytes.data(), codec::kCaeMagic, sizeof codec::kCaeMagic) == 0) {
    const codec::CaeFile f = codec::parse_cae(bytes, path);
    std::printf("%s: .cae file, version %d, %zu bytes\n", path.c_str(), int{codec::kCaeVersion}, bytes.size());
    std::printf("  image      %ux%u, %s\n", f.width, f.height, f.channels == 1 ? "grey" : "RGB");
    std::printf("  bpp        %.4f\n", codec::bits_per_pixel(bytes.size(), f.width, f.height));
    std::printf("  quality    %d\n", int{f.quality});
    std::printf("  model id   %s\n", codec::hex64(f.model_id).c_str());
    for (std::size_t k = 0; k < f.latent_shapes.size(); ++k)
      std::printf("  latent %zu   %s\n", k, cae::str(f.latent_shapes[k]).c_str());
    for (std::size_t k = 0; k < f.streams.size(); ++k)
      std::printf("  stream %zu   %zu bytes\n", k, f.streams[k].size());
    return 0;
  }
  // Otherwise a model file, loaded as a decoder would load it (every check runs).
  const cae::safetensors::File file = cae::safetensors::File::parse(bytes, path);
  codec::Codec model(std::move(bytes), path);
  std::map<std::string, index_t> dtypes;
  for (const auto& n : file.names()) dtypes[file.entry(n).dtype] += file.entry(n).shape.numel();
  std::string dtype_list;
  for (const auto& [d, count] : dtypes) dtype_list += cae::str(dtype_list.empty() ? "" : ", ", d, " ", count);
  index_t longest = 0;
  for (const auto& t : model.tables()) longest = std::max(longest, static_cast<index_t>(t.cdf.size()));
  std::printf("%s: codec model file, %zu bytes\n", path.c_str(), size);
  std::printf("  model id     %s\n", codec::hex64(model.id()).c_str());
  std::printf("  network      FactorizedPrior N=%lld M=%lld, %lld parameters\n", (long long)model.model().N(),
              (long long)model.model().M(), (long long)model.model().num_parameters());
  std::printf("  quality      %s\n", model.quality() >= 0 ? std::to_string(model.quality()).c_str() : "(none)");
  std::printf("  elements     %s\n", dtype_list.c_str());
  std::printf("  CDF tables   %zu, up to %lld entries, %d-bit, %s\n", model.tables().size(), (long long)longest,
              model.tables().empty() ? 0 : model.tables()[0].precision,
              model.tables_stored() ? "stored in the file"
                                    : "computed at load (a training output: export it for a release)");
  for (const auto& [k, v] : model.metadata()) std::printf("  meta %-12s %s\n", k.c_str(), v.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Command c = parse_command_line(argc, argv);
    if (c.name == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (c.name.empty()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    if (c.has("--threads")) cae::set_num_threads(whole_number(c.get("--threads"), "--threads", 1, 1024));
    if (c.name == "encode") return encode_command(c);
    if (c.name == "decode") return decode_command(c);
    if (c.name == "eval") return eval_command(c);
    if (c.name == "export") return export_command(c);
    if (c.name == "info") return info_command(c);
    throw UsageError("unknown command '" + c.name + "' (encode, decode, eval, export, info)");
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "cae-codec: %s (cae-codec --help for usage)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::fprintf(stderr, "cae-codec: %s\n", message.c_str());
    return 1;
  }
}
