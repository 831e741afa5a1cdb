// train_codec: trains a learned image codec (Ballé et al. 2018's factorized
// prior, CompressAI's bmshj2018-factorized layout) on random crops of photographs.
//
//   scripts/get_photos.py                      # data/photos/{train,eval}/*.png
//   train_codec --quality 3 --minutes 240 --checkpoint yes --out runs/codec/q3
//   train_codec --quality 2 --init runs/codec/q3/model.safetensors ...   # fine-tune
//   train_codec --quick                        # CI: tests/data/photos, under a minute
//
// Loss, as CompressAI: lambda * 255^2 * MSE + bpp, bpp = sum -log2(likelihoods) / pixels.
// Adam (lr 1e-4, gradient norm clipped to 1) on the networks and the density; a
// second Adam (lr 1e-3) on the quantiles with the auxiliary loss.
//
// N = 64, M = 96 (CompressAI uses 128 / 192): a quarter of the multiply-adds, so
// a 2-core CPU makes four times the steps, and 0.74 M parameters, 3 MB in float32,
// so five models fit the 16 MB the repository allows for weights.
//
// Every step's crops and noise come from generators seeded by (seed, step), and
// the checkpoint holds both optimizers' state: a resumed run continues exactly.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cae/codec/models.hpp"
#include "cae/io/checkpoint.hpp"
#include "cae/io/image.hpp"
#include "cae/io/state_dict.hpp"
#include "cae/optim/adam.hpp"
#include "common/repro.hpp"

namespace fs = std::filesystem;
using Model = cae::codec::FactorizedPrior<float>;
using cae::index_t;

namespace {

// CompressAI's lambdas for bmshj2018 qualities 1..8.
constexpr double kLambdas[8] = {0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800};

std::vector<cae::Tensor<float>> load_photos(const std::string& dir) {
  std::vector<std::string> files;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".png") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  CAE_CHECK(!files.empty(), cae::IoError, dir,
            ": no .png photographs (run /usr/bin/python3 scripts/get_photos.py)");
  std::vector<cae::Tensor<float>> out;
  for (const auto& f : files) out.push_back(cae::io::load_image(f, 3));
  return out;
}

// A batch of random crops (with random horizontal flips) of the photographs.
void random_crops(cae::Tensor<float>& batch, const std::vector<cae::Tensor<float>>& photos,
                  index_t B, index_t size, cae::Rng& rng) {
  batch.resize({B, 3, size, size});
  for (index_t b = 0; b < B; ++b) {
    const cae::Tensor<float>& p = photos[rng.below(photos.size())];
    const index_t H = p.dim(1), W = p.dim(2);
    CAE_CHECK(H >= size && W >= size, cae::Error, "train_codec: a photograph of ", H, "x", W,
              " is smaller than the crop size ", size);
    const index_t y0 = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(H - size + 1)));
    const index_t x0 = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(W - size + 1)));
    const bool flip = rng.bernoulli(0.5);
    for (index_t c = 0; c < 3; ++c)
      for (index_t y = 0; y < size; ++y)
        for (index_t x = 0; x < size; ++x)
          batch[((b * 3 + c) * size + y) * size + x] =
              p[(c * H + y0 + y) * W + x0 + (flip ? size - 1 - x : x)];
  }
}

// The model plus the auxiliary optimizer's state as buffers, so one checkpoint
// file (with the main optimizer) holds everything a resumed run needs.
class TrainState : public cae::Module<float> {
 public:
  TrainState(Model& m, cae::optim::Optimizer<float>& aux) : m_(m), aux_(aux) {}
  std::string describe() const override { return "TrainState"; }
  cae::Shape build(const cae::Shape& in) override { return m_.build(in); }
  const cae::Tensor<float>& forward(const cae::Tensor<float>& x) override { return m_.forward(x); }
  const cae::Tensor<float>& backward(const cae::Tensor<float>& d) override { return m_.backward(d); }
  void collect_parameters(const std::string& p, std::vector<cae::Parameter<float>>& out) override {
    m_.collect_parameters(p, out);
  }
  void collect_buffers(const std::string& p, std::vector<cae::Buffer<float>>& out) override {
    m_.collect_buffers(p, out);
    for (auto& s : aux_.state()) out.push_back({"aux_optimizer." + s.name, s.value});
  }

 private:
  Model& m_;
  cae::optim::Optimizer<float>& aux_;
};

struct Evaluation {
  double bpp = 0, psnr = 0, mse = 0;
};

// Mean estimated bpp (from the rounded latents' likelihoods) and PSNR over the
// photographs, each cropped to a multiple of 16.
Evaluation evaluate(Model& model, const std::vector<cae::Tensor<float>>& photos) {
  model.eval();
  Evaluation e;
  for (const auto& p : photos) {
    const index_t H = p.dim(1) / 16 * 16, W = p.dim(2) / 16 * 16;
    cae::Tensor<float> x({1, 3, H, W});
    for (index_t c = 0; c < 3; ++c)
      for (index_t y = 0; y < H; ++y)
        for (index_t xx = 0; xx < W; ++xx)
          x[(c * H + y) * W + xx] = p[(c * p.dim(1) + y) * p.dim(2) + xx];
    const cae::Tensor<float>& xh = model.forward(x);
    double se = 0;
    for (index_t k = 0; k < x.numel(); ++k) {
      const double v = std::min(1.0f, std::max(0.0f, xh[k])) - x[k];
      se += v * v;
    }
    const double mse = se / double(x.numel());
    e.bpp += model.bits() / double(H * W);
    e.mse += mse;
    e.psnr += 10 * std::log10(1.0 / std::max(mse, 1e-12));
  }
  e.bpp /= double(photos.size());
  e.psnr /= double(photos.size());
  e.mse /= double(photos.size());
  model.train();
  return e;
}

// Scales the gradients so their global L2 norm is at most max_norm (torch's clip_grad_norm_).
void clip_gradients(const std::vector<cae::Parameter<float>>& params, double max_norm) {
  double sq = 0;
  for (const auto& p : params)
    for (index_t k = 0; k < p.grad->numel(); ++k) sq += double((*p.grad)[k]) * (*p.grad)[k];
  const double norm = std::sqrt(sq);
  if (norm <= max_norm) return;
  const float scale = static_cast<float>(max_norm / (norm + 1e-6));
  for (const auto& p : params)
    for (index_t k = 0; k < p.grad->numel(); ++k) (*p.grad)[k] *= scale;
}

std::uint64_t step_seed(std::uint64_t seed, std::int64_t step, std::uint64_t stream) {
  return seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(step) * 0xBF58476D1CE4E5B9ULL +
         stream;
}

}  // namespace

int main(int argc, char** argv) {
  return repro::run_main([&]() {
    const repro::Args args = repro::parse_args(
        argc, argv, "Trains a learned image codec (factorized prior) on photographs.",
        {{"quality", "1..8: CompressAI's lambda for that level (default 3)"},
         {"lambda", "override the rate-distortion lambda"},
         {"minutes", "training budget in minutes, across resumes (default 60)"},
         {"steps", "stop after this many steps (default: no limit)"},
         {"batch", "crops per step (default 8)"},
         {"crop", "crop size in pixels, a multiple of 16 (default 128)"},
         {"lr", "learning rate of the main optimizer (default 1e-4)"},
         {"channels", "N,M of the networks (default 64,96)"},
         {"photos", "folder with train/ and eval/ PNGs (default data/photos)"},
         {"init", "start from this model (.safetensors), e.g. another quality"},
         {"checkpoint", "yes: save --out/checkpoint.caeckpt every --save-minutes and resume from it"},
         {"save-minutes", "minutes of training between checkpoints (default 5)"}});
    const bool quick = args.quick;
    const int quality = std::stoi(args.get("quality", "3"));
    CAE_CHECK(quality >= 1 && quality <= 8, cae::Error, "--quality must be 1..8, got ", quality);
    const double lambda = std::stod(args.get("lambda", cae::str(kLambdas[quality - 1])));
    const double minutes = std::stod(args.get("minutes", quick ? "0.75" : "60"));
    const long long max_steps = std::stoll(args.get("steps", quick ? "120" : "-1"));
    const index_t B = std::stoll(args.get("batch", quick ? "4" : "8"));
    const index_t crop = std::stoll(args.get("crop", quick ? "64" : "128"));
    const double lr = std::stod(args.get("lr", quick ? "1e-3" : "1e-4"));
    const std::string channels = args.get("channels", quick ? "32,48" : "64,96");
    const index_t N = std::stoll(channels.substr(0, channels.find(',')));
    const index_t M = std::stoll(channels.substr(channels.find(',') + 1));
    const bool checkpointing = args.get("checkpoint", "no") == "yes";
    const double save_minutes = std::stod(args.get("save-minutes", "5"));
    CAE_CHECK(crop % 16 == 0 && crop > 0 && B > 0, cae::Error,
              "--crop must be a positive multiple of 16 and --batch positive");

    std::vector<cae::Tensor<float>> train, held_out;
    if (quick) {
      train = load_photos("tests/data/photos");
      held_out = train;  // the quick mode checks that training works, not generalization
    } else {
      const std::string root = args.get("photos", "data/photos");
      train = load_photos(root + "/train");
      held_out = load_photos(root + "/eval");
    }
    std::printf("train_codec: quality %d, lambda %g, N=%lld M=%lld, batch %lld x %lldpx, "
                "%zu training and %zu held-out photographs, %d threads\n",
                quality, lambda, (long long)N, (long long)M, (long long)B, (long long)crop,
                train.size(), held_out.size(), cae::num_threads());

    Model model(N, M);
    model.build({3, crop, crop});
    if (args.extra.count("init")) {
      cae::io::load_safetensors(model, args.get("init", ""));
      std::printf("initialized from %s\n", args.get("init", "").c_str());
    }
    std::vector<cae::Parameter<float>> main_params, aux_params;
    for (auto& p : model.parameters())
      (p.name == "entropy_bottleneck.quantiles" ? aux_params : main_params).push_back(p);
    cae::optim::Adam<float> opt(main_params, cae::optim::AdamOptions(lr));
    cae::optim::Adam<float> aux_opt(aux_params, cae::optim::AdamOptions(1e-3));
    TrainState state(model, aux_opt);

    const std::string ckpt = args.out + "/checkpoint.caeckpt";
    std::int64_t step = 0;
    double trained_seconds = 0;
    if (checkpointing && cae::io::file_exists(ckpt)) {
      const cae::io::CheckpointMetadata meta = cae::io::load_checkpoint(ckpt, state, opt);
      step = meta.get_int("step");
      trained_seconds = meta.get_double("trained_seconds");
      aux_opt.set_step_count(meta.get_int("aux_steps"));
      CAE_CHECK(meta.get_double("lambda") == lambda, cae::Error, ckpt, ": was trained with lambda ",
                meta.get_double("lambda"), ", not ", lambda);
      std::printf("resumed from %s at step %lld (%.1f minutes trained)\n", ckpt.c_str(),
                  (long long)step, trained_seconds / 60);
    }
    auto save = [&]() {
      cae::io::CheckpointMetadata meta;
      meta.set_int("step", step).set_double("trained_seconds", trained_seconds);
      meta.set_int("aux_steps", aux_opt.step_count()).set_double("lambda", lambda);
      cae::io::save_checkpoint(ckpt, state, opt, meta);
    };

    const double rd_scale = lambda * 255.0 * 255.0;
    cae::Tensor<float> batch, dx_hat;
    double first_loss = 0;
    int first_n = 0;
    double win_loss = 0, win_bpp = 0, win_mse = 0, win_aux = 0, win_seconds = 0;
    int win = 0;
    const int log_every = quick ? 10 : 25;
    double since_save = 0;
    std::FILE* log = std::fopen((args.out + "/train_log.tsv").c_str(), "a");
    CAE_CHECK(log != nullptr, cae::IoError, args.out, "/train_log.tsv: cannot open for writing");
    if (step == 0) std::fprintf(log, "step\tminutes\tloss\tbpp\tpsnr\taux\tsec_per_step\theld_out_bpp\theld_out_psnr\n");
    model.train();
    while (trained_seconds < minutes * 60 && (max_steps < 0 || step < max_steps)) {
      repro::Stopwatch sw;
      cae::Rng rng(step_seed(args.seed, step, 1));
      random_crops(batch, train, B, crop, rng);
      model.entropy_bottleneck().noise_rng().seed_with(step_seed(args.seed, step, 2));
      const cae::Tensor<float>& xh = model.forward(batch);
      double se = 0;
      dx_hat.resize(xh.shape());
      const double n = double(xh.numel());
      for (index_t k = 0; k < xh.numel(); ++k) {
        const double d = double(xh[k]) - batch[k];
        se += d * d;
        dx_hat[k] = static_cast<float>(rd_scale * 2 * d / n);
      }
      const double mse = se / n;
      const double bpp = model.bits() / double(B * crop * crop);
      const double loss = rd_scale * mse + bpp;
      CAE_CHECK(std::isfinite(loss), cae::Error, "train_codec: the loss diverged at step ", step);
      opt.zero_grad();
      model.backward(dx_hat, 1.0 / double(B * crop * crop));
      clip_gradients(main_params, 1.0);
      opt.step();
      aux_opt.zero_grad();
      const double aux = model.entropy_bottleneck().aux_loss();
      aux_opt.step();
      ++step;
      const double secs = sw.seconds();
      trained_seconds += secs;
      since_save += secs;
      if (first_n < 10) first_loss += loss, ++first_n;
      win_loss += loss, win_bpp += bpp, win_mse += mse, win_aux += aux, win_seconds += secs, ++win;
      if (win == log_every) {
        const double psnr = 10 * std::log10(1.0 / (win_mse / win));
        std::printf("step %6lld  %7.1f min  loss %8.4f  bpp %.4f  psnr %6.2f  aux %9.2f  %.2f s/step\n",
                    (long long)step, trained_seconds / 60, win_loss / win, win_bpp / win, psnr,
                    win_aux / win, win_seconds / win);
        std::fprintf(log, "%lld\t%.2f\t%.5f\t%.5f\t%.3f\t%.3f\t%.3f\t\t\n", (long long)step,
                     trained_seconds / 60, win_loss / win, win_bpp / win, psnr, win_aux / win,
                     win_seconds / win);
        std::fflush(stdout);
        std::fflush(log);
        win_loss = win_bpp = win_mse = win_aux = win_seconds = 0;
        win = 0;
      }
      if (checkpointing && since_save >= save_minutes * 60) {
        const Evaluation e = evaluate(model, held_out);
        save();
        since_save = 0;
        std::printf("checkpoint at step %lld: held-out bpp %.4f, PSNR %.2f dB\n", (long long)step,
                    e.bpp, e.psnr);
        std::fprintf(log, "%lld\t%.2f\t\t\t\t\t\t%.5f\t%.3f\n", (long long)step,
                     trained_seconds / 60, e.bpp, e.psnr);
        std::fflush(stdout);
        std::fflush(log);
      }
    }
    const Evaluation e = evaluate(model, held_out);
    if (checkpointing) save();
    std::fprintf(log, "%lld\t%.2f\t\t\t\t\t\t%.5f\t%.3f\n", (long long)step, trained_seconds / 60,
                 e.bpp, e.psnr);
    std::fclose(log);
    cae::io::save_safetensors(model, args.out + "/model.safetensors",
                              {{"model", "bmshj2018-factorized"},
                               {"N", std::to_string(N)},
                               {"M", std::to_string(M)},
                               {"quality", std::to_string(quality)},
                               {"lambda", cae::str(lambda)},
                               {"steps", std::to_string(step)},
                               {"trained_minutes", cae::str(trained_seconds / 60)}});
    std::printf("done: %lld steps, %.1f minutes; held-out bpp %.4f, PSNR %.2f dB; model in %s\n",
                (long long)step, trained_seconds / 60, e.bpp, e.psnr,
                (args.out + "/model.safetensors").c_str());
    if (quick) {
      // Measured on the training crops themselves (first ten steps against the
      // final evaluation of the same photographs at the same lambda).
      const double start = first_loss / std::max(first_n, 1);
      const double end = rd_scale * e.mse + e.bpp;
      std::printf("rate-distortion loss: first steps %.3f, after training %.3f\n", start, end);
      repro::sanity(end < 0.5 * start, "the rate-distortion loss fell to under half");
      repro::sanity(e.psnr > 12, "PSNR above 12 dB (an untrained decoder gives about 6)");
      repro::sanity(e.bpp > 0.01 && e.bpp < 4, "held-out bpp between 0.01 and 4");
    }
    return 0;
  });
}
