#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "cae/io/checkpoint.hpp"
#include "cae/io/crc32.hpp"
#include "cae/io/state_dict.hpp"
#include "cae/layers/activation.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/optim/adam.hpp"
#include "cae/optim/scheduler.hpp"
#include "cae/optim/sgd.hpp"
#include "parity.hpp"

#if __has_include("cae/layers/linear.hpp")
#include "cae/layers/linear.hpp"
#define CAE_TEST_HAVE_LINEAR 1
#endif

using namespace cae;
namespace fs = std::filesystem;

namespace {

// A fully connected layer with PyTorch's parameter names, so these tests need
// no layer but their own.
template <typename T>
class TinyLinear : public Module<T> {
 public:
  TinyLinear(index_t in, index_t out) : in_(in), out_(out) {}
  std::string describe() const override {
    return str("TinyLinear(in_features=", in_, ", out_features=", out_, ")");
  }
  Shape build(const Shape& input) override {
    CAE_CHECK(input == Shape{in_}, ShapeError, describe(), ": input ", input);
    if (weight_.rank() == 0) {  // first build (a default Tensor has rank 0)
      weight_.resize({out_, in_});
      bias_.resize({out_});
      weight_.fill_uniform(global_rng(), -0.5, 0.5);
      bias_.fill_uniform(global_rng(), -0.5, 0.5);
      init_grad(weight_, dweight_);
      init_grad(bias_, dbias_);
    }
    return Shape{out_};
  }
  const Tensor<T>& forward(const Tensor<T>& x) override {
    x_ = &x;
    const index_t n = x.dim(0);
    y_.resize({n, out_});
    for (index_t b = 0; b < n; ++b)
      for (index_t o = 0; o < out_; ++o) {
        T s = bias_[o];
        for (index_t i = 0; i < in_; ++i) s += weight_[o * in_ + i] * x[b * in_ + i];
        y_[b * out_ + o] = s;
      }
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const index_t n = dy.dim(0);
    dx_.resize({n, in_});
    dx_.zero();
    for (index_t b = 0; b < n; ++b)
      for (index_t o = 0; o < out_; ++o) {
        const T g = dy[b * out_ + o];
        dbias_[o] += g;
        for (index_t i = 0; i < in_; ++i) {
          dweight_[o * in_ + i] += g * (*x_)[b * in_ + i];
          dx_[b * in_ + i] += g * weight_[o * in_ + i];
        }
      }
    return dx_;
  }
  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    out.push_back({this->join(prefix, "weight"), &weight_, &dweight_});
    out.push_back({this->join(prefix, "bias"), &bias_, &dbias_});
  }

 private:
  index_t in_, out_;
  Tensor<T> weight_, bias_, dweight_, dbias_, y_, dx_;
  const Tensor<T>* x_ = nullptr;
};

// A per-feature affine layer with BatchNorm-like buffers, so checkpoints carry buffers.
template <typename T>
class TinyNorm : public Module<T> {
 public:
  explicit TinyNorm(index_t n) : n_(n) {}
  std::string describe() const override { return str("TinyNorm(", n_, ")"); }
  Shape build(const Shape& input) override {
    CAE_CHECK(input == Shape{n_}, ShapeError, describe(), ": input ", input);
    if (weight_.rank() == 0) {
      weight_ = Tensor<T>({n_}, T(1));
      bias_ = Tensor<T>({n_}, T(0));
      running_mean_ = Tensor<T>({n_}, T(0));
      running_var_ = Tensor<T>({n_}, T(1));
      init_grad(weight_, dweight_);
      init_grad(bias_, dbias_);
    }
    return input;
  }
  const Tensor<T>& forward(const Tensor<T>& x) override {
    x_ = &x;
    const index_t rows = x.dim(0);
    y_.resize(x.shape());
    for (index_t c = 0; c < n_; ++c) {
      T mean = 0;
      for (index_t b = 0; b < rows; ++b) mean += x[b * n_ + c] / T(rows);
      if (this->is_training()) running_mean_[c] = T(0.9) * running_mean_[c] + T(0.1) * mean;
      for (index_t b = 0; b < rows; ++b) y_[b * n_ + c] = x[b * n_ + c] * weight_[c] + bias_[c];
    }
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    dx_.resize(dy.shape());
    for (index_t b = 0; b < dy.dim(0); ++b)
      for (index_t c = 0; c < n_; ++c) {
        const T g = dy[b * n_ + c];
        dweight_[c] += g * (*x_)[b * n_ + c];
        dbias_[c] += g;
        dx_[b * n_ + c] = g * weight_[c];
      }
    return dx_;
  }
  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    out.push_back({this->join(prefix, "weight"), &weight_, &dweight_});
    out.push_back({this->join(prefix, "bias"), &bias_, &dbias_});
  }
  void collect_buffers(const std::string& prefix, std::vector<Buffer<T>>& out) override {
    out.push_back({this->join(prefix, "running_mean"), &running_mean_});
    out.push_back({this->join(prefix, "running_var"), &running_var_});
  }

 private:
  index_t n_;
  Tensor<T> weight_, bias_, dweight_, dbias_, running_mean_, running_var_, y_, dx_;
  const Tensor<T>* x_ = nullptr;
};

// Sequential(TinyLinear(4, hidden), TinyNorm(hidden), Tanh(), TinyLinear(hidden, 3)):
// state 0.weight 0.bias 1.weight 1.bias 3.weight 3.bias, buffers 1.running_mean 1.running_var.
template <typename T>
Sequential<T> make_model(std::uint64_t seed, index_t hidden = 5) {
  manual_seed(seed);
  Sequential<T> m(Shape{4});
  m.add(TinyLinear<T>(4, hidden));
  m.add(TinyNorm<T>(hidden));
  m.add(Tanh<T>());
  m.add(TinyLinear<T>(hidden, 3));
  return m;
}

template <typename T>
Tensor<T> batch(std::uint64_t seed, index_t n, index_t features) {
  Rng rng(seed);
  Tensor<T> x({n, features});
  x.fill_uniform(rng, -1, 1);
  return x;
}

// One step of mean squared error towards `target`.
template <typename T>
void train_step(Module<T>& model, optim::Optimizer<T>& opt, const Tensor<T>& x, const Tensor<T>& target) {
  opt.zero_grad();
  const Tensor<T>& y = model.forward(x);
  Tensor<T> dy(y.shape());
  for (index_t i = 0; i < y.numel(); ++i) dy[i] = T(2) * (y[i] - target[i]) / T(y.numel());
  model.backward(dy);
  opt.step();
}

template <typename T>
std::vector<Tensor<T>> snapshot(Module<T>& m) {
  std::vector<Tensor<T>> out;
  for (auto& t : io::state_dict(m)) out.push_back(*t.value);
  return out;
}
template <typename T>
bool identical(const std::vector<Tensor<T>>& a, const std::vector<Tensor<T>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].shape() != b[i].shape() ||
        std::memcmp(a[i].data(), b[i].data(), sizeof(T) * a[i].numel()) != 0)
      return false;
  return true;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cae_checkpoint_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::vector<unsigned char> read_bytes(const std::string& path) { return io::read_file(path); }
void write_bytes(const std::string& path, const std::vector<unsigned char>& b) {
  io::write_file_atomic(path, b.data(), b.size());
}
void put_u32(std::vector<unsigned char>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint32_t get_u32(const std::vector<unsigned char>& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | b[at + i];
  return v;
}
std::uint64_t get_u64(const std::vector<unsigned char>& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[at + i];
  return v;
}
// Recomputes the trailing checksum after a deliberate edit.
void reseal(std::vector<unsigned char>& b) { put_u32(b, b.size() - 4, io::crc32(b.data(), b.size() - 4)); }

// The exception's message, which must name `path` and contain every piece of `parts`.
template <typename F>
void expect_io_error(F&& f, const std::string& path, const std::vector<std::string>& parts) {
  try {
    f();
    FAIL("expected an IoError about " << path);
  } catch (const IoError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find(path) != std::string::npos);
    for (const auto& p : parts) CHECK(what.find(p) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("crc32 matches zlib", "[io][checkpoint]") {
  const std::string check = "123456789";
  CHECK(io::crc32(check.data(), check.size()) == 0xCBF43926u);
  CHECK(io::crc32(nullptr, 0) == 0u);
  std::vector<unsigned char> data(10007);
  Rng rng(3);
  for (auto& c : data) c = static_cast<unsigned char>(rng.below(256));
  const std::uint32_t ours = io::crc32(data.data(), data.size());
  CHECK(ours == ::crc32(0L, data.data(), static_cast<uInt>(data.size())));
  CHECK(io::crc32(data.data() + 100, data.size() - 100, io::crc32(data.data(), 100)) == ours);
}

TEST_CASE("checkpoint round trip restores model, buffers, optimizer and metadata", "[io][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("run.caeckpt");
  auto model = make_model<float>(1);
  optim::Adam<float> adam(model.parameters(), optim::AdamOptions(0.01).weight_decay(1e-3).amsgrad(true));
  optim::ReduceLROnPlateau sched(adam, optim::ReduceLROnPlateauOptions().patience(0));
  const Tensor<float> x = batch<float>(10, 8, 4), target = batch<float>(11, 8, 3);
  for (int k = 0; k < 4; ++k) train_step(model, adam, x, target);
  sched.step(1.0);
  sched.step(2.0);  // reduces the lr
  CHECK(adam.lr() == Approx(0.001));

  io::CheckpointMetadata meta;
  meta.set_int("epoch", 7).set_double("best_loss", 0.1).set("note", "héllo \"world\"\n");
  meta.set_doubles("scheduler", sched.state());
  io::save_checkpoint(path, model, adam, meta);

  auto restored = make_model<float>(2);  // different initial weights
  CHECK_FALSE(identical(snapshot(model), snapshot(restored)));
  optim::Adam<float> adam2(restored.parameters(), optim::AdamOptions(0.01).weight_decay(1e-3).amsgrad(true));
  optim::ReduceLROnPlateau sched2(adam2, optim::ReduceLROnPlateauOptions().patience(0));
  const io::CheckpointMetadata got = io::load_checkpoint(path, restored, adam2);
  sched2.load_state(got.get_doubles("scheduler"));

  CHECK(identical(snapshot(model), snapshot(restored)));
  auto s1 = adam.state(), s2 = adam2.state();
  REQUIRE(s1.size() == 18);
  REQUIRE(s2.size() == s1.size());
  for (std::size_t i = 0; i < s1.size(); ++i) {
    CHECK(s1[i].name == s2[i].name);
    CHECK(max_abs_diff(*s1[i].value, *s2[i].value) == 0.f);
  }
  CHECK(adam2.lr() == adam.lr());
  CHECK(adam2.step_count() == 4);
  CHECK(got.get_int("epoch") == 7);
  CHECK(got.get_double("best_loss") == 0.1);
  CHECK(got.get("note") == "héllo \"world\"\n");
  CHECK(got.source() == path);
  CHECK(sched2.best() == sched.best());
  CHECK(sched2.last_epoch() == 2);
  CHECK(io::read_checkpoint_metadata(path).get_int("epoch") == 7);

  // Training continues exactly as if it had never stopped.
  for (int k = 0; k < 3; ++k) {
    train_step(model, adam, x, target);
    train_step(restored, adam2, x, target);
  }
  CHECK(identical(snapshot(model), snapshot(restored)));

  // Model-only saves and loads; loading a model ignores optimizer state in the file.
  auto other = make_model<float>(3);
  io::load_checkpoint(path, other);
  const std::string model_only = dir.file("model.caeckpt");
  io::save_checkpoint(model_only, model);
  CHECK(io::read_checkpoint_metadata(model_only).items().empty());
  io::load_checkpoint(model_only, other);
  CHECK(identical(snapshot(model), snapshot(other)));
  expect_io_error([&] { io::load_checkpoint(model_only, other, adam2); }, model_only,
                  {"holds no optimizer state"});

  // A float checkpoint loads into a double model.
  auto wide = make_model<double>(4);
  io::load_checkpoint(model_only, wide);
  auto narrow = snapshot(model);
  auto wide_values = snapshot(wide);
  for (std::size_t i = 0; i < narrow.size(); ++i)
    CHECK(max_abs_diff(narrow[i].cast<double>(), wide_values[i]) == 0.0);
}

TEST_CASE("checkpoint bytes follow docs/file-format.md", "[io][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("tiny.caeckpt");
  manual_seed(5);
  Sequential<double> model(Shape{2});
  model.add(TinyLinear<double>(2, 1));
  auto params = model.parameters();
  *params[0].value = Tensor<double>::from({1, 2}, {0.5, -1.0});
  (*params[1].value)[0] = 2.0;
  optim::SGD<double> sgd(params, optim::SGDOptions(0.25).momentum(0.5));
  io::CheckpointMetadata meta;
  meta.set("k", "v");
  io::save_checkpoint(path, model, sgd, meta);
  const auto b = read_bytes(path);

  const unsigned char magic[8] = {0x89, 'C', 'A', 'E', 'C', 'K', 'P', 'T'};
  REQUIRE(b.size() > 28);
  CHECK(std::memcmp(b.data(), magic, 8) == 0);
  CHECK(get_u32(b, 8) == 1);              // version
  CHECK(get_u32(b, 12) == 1);             // flags: optimizer present
  CHECK(get_u64(b, 16) == b.size() - 28);  // payload size
  CHECK(get_u32(b, b.size() - 4) == ::crc32(0L, b.data(), static_cast<uInt>(b.size() - 4)));
  std::size_t at = 24;
  CHECK(get_u32(b, at) == 1);  // one metadata entry
  CHECK(get_u32(b, at + 4) == 1);
  CHECK(b[at + 8] == 'k');
  CHECK(get_u32(b, at + 9) == 1);
  CHECK(b[at + 13] == 'v');
  at += 14;
  CHECK(get_u32(b, at) == 2);  // two model tensors
  at += 4;
  CHECK(get_u32(b, at) == 8);
  CHECK(std::string(b.begin() + at + 4, b.begin() + at + 12) == "0.weight");
  at += 12;
  CHECK(b[at] == 2);      // float64
  CHECK(b[at + 1] == 2);  // rank
  CHECK(get_u64(b, at + 2) == 1);
  CHECK(get_u64(b, at + 10) == 2);
  at += 18;
  double w[2];
  std::memcpy(w, b.data() + at, 16);
  CHECK(w[0] == 0.5);
  CHECK(w[1] == -1.0);
  at += 16;
  CHECK(std::string(b.begin() + at + 4, b.begin() + at + 10) == "0.bias");
  at += 10 + 2 + 8 + 8;  // name, dtype, rank, one dimension, one double
  CHECK(get_u32(b, at) == 3);
  CHECK(std::string(b.begin() + at + 4, b.begin() + at + 7) == "SGD");
  at += 7;
  double lr;
  std::memcpy(&lr, b.data() + at, 8);
  CHECK(lr == 0.25);
  CHECK(get_u64(b, at + 8) == 0);  // steps
  CHECK(get_u32(b, at + 16) == 2);  // two state tensors
  CHECK(std::string(b.begin() + at + 24, b.begin() + at + 48) == "0.weight.momentum_buffer");
  // The sizes of the remaining records add up to the end of the payload.
  at += 20 + (4 + 24 + 2 + 16 + 16) + (4 + 22 + 2 + 8 + 8);
  CHECK(at == b.size() - 4);
}

TEST_CASE("loading a checkpoint of another architecture names the first mismatch", "[io][checkpoint][errors]") {
  TempDir dir;
  const std::string path = dir.file("model.caeckpt");
  auto model = make_model<float>(1);
  optim::Adam<float> adam(model.parameters());
  io::save_checkpoint(path, model, adam);

  auto wider = make_model<float>(2, 6);
  const auto before = snapshot(wider);
  expect_io_error([&] { io::load_checkpoint(path, wider); }, path,
                  {"model tensor '0.weight' has shape [6, 4] but the file has shape [5, 4]"});
  CHECK(identical(before, snapshot(wider)));  // nothing was changed

  manual_seed(3);
  Sequential<float> deeper(Shape{4});
  deeper.add(TinyLinear<float>(4, 5));
  deeper.add(TinyNorm<float>(5));
  deeper.add(Tanh<float>());
  deeper.add(TinyLinear<float>(5, 3));
  deeper.add(TinyLinear<float>(3, 2));
  expect_io_error([&] { io::load_checkpoint(path, deeper); }, path,
                  {"model tensor '4.weight' (shape [2, 3]) is missing from the file"});

  manual_seed(3);
  Sequential<float> shallow(Shape{4});
  shallow.add(TinyLinear<float>(4, 5));
  shallow.add(TinyNorm<float>(5));
  expect_io_error([&] { io::load_checkpoint(path, shallow); }, path,
                  {"the file has tensor '3.weight' (shape [3, 5]) that the model does not have",
                   "(unexpected: '3.weight', '3.bias')"});

  manual_seed(3);
  Sequential<float> renamed(Shape{4});
  renamed.add(TinyLinear<float>(4, 5));
  renamed.add(TinyLinear<float>(5, 5));  // "1.weight" exists, but no 1.running_mean
  renamed.add(Tanh<float>());
  renamed.add(TinyLinear<float>(5, 3));
  expect_io_error([&] { io::load_checkpoint(path, renamed); }, path,
                  {"model tensor '1.weight' has shape [5, 5] but the file has shape [5]"});

  // The optimizer must be of the saved kind and configuration.
  auto same = make_model<float>(2);
  optim::SGD<float> sgd(same.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  const auto same_before = snapshot(same);
  expect_io_error([&] { io::load_checkpoint(path, same, sgd); }, path,
                  {"checkpoint holds Adam state, but the optimizer is SGD(lr=0.1"});
  optim::Adam<float> amsgrad(same.parameters(), optim::AdamOptions().amsgrad(true));
  expect_io_error([&] { io::load_checkpoint(path, same, amsgrad); }, path,
                  {"Adam state tensor '0.weight.max_exp_avg_sq' (shape [5, 4]) is missing"});
  CHECK(identical(same_before, snapshot(same)));  // the model was not touched either
}

TEST_CASE("damaged checkpoints give clear errors", "[io][checkpoint][errors]") {
  TempDir dir;
  const std::string good = dir.file("good.caeckpt");
  auto model = make_model<float>(1);
  optim::SGD<float> sgd(model.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  io::save_checkpoint(good, model, sgd, io::CheckpointMetadata().set_int("epoch", 1));
  const auto bytes = read_bytes(good);
  const std::string bad = dir.file("bad.caeckpt");
  auto load = [&] { io::load_checkpoint(bad, model, sgd); };

  SECTION("missing") { expect_io_error(load, bad, {"cannot open"}); }
  SECTION("empty") {
    write_bytes(bad, {});
    expect_io_error(load, bad, {"not a cae checkpoint (0 bytes"});
  }
  SECTION("wrong magic") {
    auto b = bytes;
    b[1] = 'X';
    write_bytes(bad, b);
    expect_io_error(load, bad, {"not a cae checkpoint (wrong magic bytes)"});
    // A safetensors file is not a checkpoint either.
    auto sf = read_bytes(testing::fixture_dir() + "/safetensors/mlp_state_dict.safetensors");
    write_bytes(bad, sf);
    expect_io_error(load, bad, {"wrong magic bytes"});
  }
  SECTION("newer version") {
    auto b = bytes;
    put_u32(b, 8, 2);
    reseal(b);
    write_bytes(bad, b);
    expect_io_error(load, bad, {"format version 2 is not supported", "reads version 1",
                                "written by a newer cae"});
  }
  SECTION("truncated") {
    for (std::size_t keep : {bytes.size() - 1, bytes.size() / 2, std::size_t(40)}) {
      write_bytes(bad, std::vector<unsigned char>(bytes.begin(), bytes.begin() + keep));
      expect_io_error(load, bad, {"checkpoint is truncated (header says " +
                                  std::to_string(bytes.size()) + " bytes, file has " +
                                  std::to_string(keep) + ")"});
    }
  }
  SECTION("trailing garbage") {
    auto b = bytes;
    b.push_back(0);
    write_bytes(bad, b);
    expect_io_error(load, bad, {"longer than its header says"});
  }
  SECTION("flipped bit in the data") {
    for (std::size_t at : {std::size_t(30), bytes.size() / 2, bytes.size() - 5, bytes.size() - 1}) {
      auto b = bytes;
      b[at] ^= 0x10;
      write_bytes(bad, b);
      expect_io_error(load, bad, {"checksum mismatch", "the file is corrupt"});
    }
  }
  SECTION("unknown flags") {
    auto b = bytes;
    put_u32(b, 12, 3);
    reseal(b);
    write_bytes(bad, b);
    expect_io_error(load, bad, {"unknown flags 0x00000003"});
  }
  SECTION("inconsistent contents under a valid checksum") {
    auto b = bytes;
    put_u32(b, 24, 1000);  // metadata count far beyond the data
    reseal(b);
    write_bytes(bad, b);
    expect_io_error(load, bad, {"corrupt checkpoint at byte"});
    b = bytes;
    // The first tensor's dtype byte: after the header, the metadata
    // (count, "epoch", "1") and the tensor count and name "0.weight".
    const std::size_t dtype_at = 24 + 4 + (4 + 5) + (4 + 1) + 4 + (4 + 8);
    REQUIRE(b[dtype_at] == 1);
    b[dtype_at] = 7;
    reseal(b);
    write_bytes(bad, b);
    expect_io_error(load, bad, {"model tensor '0.weight' has unknown dtype code 7"});
  }
  // The good file is still good, and a failed load changed nothing.
  const auto before = snapshot(model);
  io::load_checkpoint(good, model, sgd);
  CHECK(identical(before, snapshot(model)));
}

TEST_CASE("a failed save leaves the previous checkpoint intact", "[io][checkpoint][atomic]") {
  TempDir dir;
  const std::string path = dir.file("last.caeckpt");
  auto model = make_model<float>(1);
  optim::Adam<float> adam(model.parameters());
  io::save_checkpoint(path, model, adam, io::CheckpointMetadata().set_int("epoch", 1));
  const auto original = read_bytes(path);
  // Change the model so a successful save would change the file.
  const Tensor<float> x = batch<float>(1, 4, 4), target = batch<float>(2, 4, 3);
  train_step(model, adam, x, target);
  const io::CheckpointMetadata meta = io::CheckpointMetadata().set_int("epoch", 2);

  SECTION("the temporary file cannot be created") {
    // Whatever the user's rights (tests may run as root), no free file
    // descriptor makes creating the temporary file fail: the soft limit is
    // lowered to the lowest free descriptor.
    struct rlimit saved;
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    const int lowest_free = ::dup(0);
    REQUIRE(lowest_free >= 0);
    ::close(lowest_free);
    struct rlimit none = saved;
    none.rlim_cur = static_cast<rlim_t>(lowest_free);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &none) == 0);
    std::string what;
    try {
      io::save_checkpoint(path, model, adam, meta);
    } catch (const IoError& e) {
      what = e.what();
    }
    ::setrlimit(RLIMIT_NOFILE, &saved);
    INFO(what);
    CHECK(what.find(path + ": cannot create temporary file") != std::string::npos);
  }
  SECTION("the disk fills up mid-write") {
    // A file size limit makes write() fail part-way, leaving a truncated
    // temporary file, as a full disk would.
    struct rlimit saved;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = saved;
    small.rlim_cur = original.size() / 2;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw = false;
    std::string what;
    try {
      io::save_checkpoint(path, model, adam, meta);
    } catch (const IoError& e) {
      threw = true;
      what = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, old_handler);
    INFO(what);
    CHECK(threw);
    CHECK(what.find(path + ": write failed") != std::string::npos);
  }
  SECTION("the directory does not exist") {
    const std::string nowhere = dir.file("no/such/dir/last.caeckpt");
    expect_io_error([&] { io::save_checkpoint(nowhere, model, adam, meta); }, nowhere,
                    {"cannot create temporary file"});
    CHECK_FALSE(fs::exists(nowhere));
  }
  // The previous checkpoint is byte for byte what it was, loads, and no
  // temporary file was left behind.
  CHECK(read_bytes(path) == original);
  auto fresh = make_model<float>(9);
  optim::Adam<float> adam2(fresh.parameters());
  CHECK(io::load_checkpoint(path, fresh, adam2).get_int("epoch") == 1);
  CHECK(adam2.step_count() == 0);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path)) left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"last.caeckpt"});
  // A later save succeeds and replaces it.
  io::save_checkpoint(path, model, adam, meta);
  CHECK(io::read_checkpoint_metadata(path).get_int("epoch") == 2);
}

TEST_CASE("checkpoint metadata accessors", "[io][checkpoint]") {
  io::CheckpointMetadata m;
  m.set_int("epoch", -12).set_double("x", 0.1 + 0.2).set("name", "run");
  m.set_doubles("sched", {{"best", std::numeric_limits<double>::infinity()}, {"last_epoch", 3}});
  CHECK(m.get_int("epoch") == -12);
  CHECK(m.get_double("x") == 0.1 + 0.2);  // exact round trip
  const auto sched = m.get_doubles("sched");
  CHECK(sched.size() == 2);
  CHECK(std::isinf(sched.at("best")));
  CHECK(sched.at("last_epoch") == 3);
  CHECK_THROWS_WITH(m.get("missing"), Catch::Contains("metadata has no key 'missing'"));
  CHECK_THROWS_WITH(m.get_int("name"), Catch::Contains("metadata 'name' is not an integer: \"run\""));
  CHECK_THROWS_WITH(m.get_double("name"), Catch::Contains("metadata 'name' is not a number"));
  m.set_source("/runs/a.caeckpt");
  CHECK_THROWS_WITH(m.get("epochs"), Catch::Contains("/runs/a.caeckpt: checkpoint metadata has no key 'epochs'"));
}

namespace {

// Loads the PyTorch state_dict into `model`, checks the outputs against
// PyTorch's, then exports and re-imports it.
template <typename T>
void check_pytorch_state_dict(Module<T>& model, Module<T>& fresh, const std::string& out_path) {
  const std::string sd_path = testing::fixture_dir() + "/safetensors/mlp_state_dict.safetensors";
  const testing::Fixture io_case(testing::fixture_dir() + "/safetensors/mlp_io.safetensors");
  io::load_safetensors(model, sd_path);
  model.eval();
  const Tensor<T> x = io_case.tensor<T>("input");
  const Tensor<T> y = model.forward(x);
  testing::check_close("output", y, io_case.tensor<T>(sizeof(T) == 4 ? "output" : "output_f64"));

  // The exported file holds the same names, shapes and values as PyTorch's.
  io::save_safetensors(model, out_path, {{"format", "pt"}});
  const auto ours = safetensors::File::load(out_path);
  const auto theirs = safetensors::File::load(sd_path);
  CHECK(ours.names() == theirs.names());
  CHECK(ours.metadata().at("format") == "pt");
  for (const auto& name : theirs.names()) {
    INFO(name);
    CHECK(ours.entry(name).shape == theirs.entry(name).shape);
    CHECK(ours.entry(name).dtype == (sizeof(T) == 4 ? "F32" : "F64"));
    CHECK(max_abs_diff(ours.get<double>(name), theirs.get<double>(name)) == 0.0);
  }
  // Re-imported into a fresh model, it computes bit for bit the same.
  io::load_safetensors(fresh, out_path);
  fresh.eval();
  const Tensor<T>& y2 = fresh.forward(x);
  CHECK(std::memcmp(y.data(), y2.data(), sizeof(T) * y.numel()) == 0);
  // Exporting again gives the same file, byte for byte.
  io::save_safetensors(fresh, out_path + ".again", {{"format", "pt"}});
  CHECK(read_bytes(out_path) == read_bytes(out_path + ".again"));
}

}  // namespace

TEST_CASE("safetensors state_dict round trip with PyTorch", "[io][safetensors][parity]") {
  TempDir dir;
  auto tiny = [](std::uint64_t seed, auto tag) {
    using T = typename decltype(tag)::type;
    manual_seed(seed);
    Sequential<T> m(Shape{4});
    m.add(TinyLinear<T>(4, 5));
    m.add(Tanh<T>());
    m.add(TinyLinear<T>(5, 3));
    return m;
  };
  auto f1 = tiny(1, std::type_identity<float>{}), f2 = tiny(2, std::type_identity<float>{});
  check_pytorch_state_dict(f1, f2, dir.file("tiny_f32.safetensors"));
  auto d1 = tiny(1, std::type_identity<double>{}), d2 = tiny(2, std::type_identity<double>{});
  check_pytorch_state_dict(d1, d2, dir.file("tiny_f64.safetensors"));
#ifdef CAE_TEST_HAVE_LINEAR
  // The same with cae's own Linear layer.
  auto linear = [](std::uint64_t seed) {
    manual_seed(seed);
    Sequential<float> m(Shape{4});
    m.add(Linear<float>(LinearOptions(4, 5)));
    m.add(Tanh<float>());
    m.add(Linear<float>(3));
    return m;
  };
  auto l1 = linear(1), l2 = linear(2);
  check_pytorch_state_dict(l1, l2, dir.file("linear.safetensors"));
#endif
}

TEST_CASE("safetensors import checks names and shapes first", "[io][safetensors][errors]") {
  const std::string sd_path = testing::fixture_dir() + "/safetensors/mlp_state_dict.safetensors";
  manual_seed(1);
  Sequential<float> wrong(Shape{4});
  wrong.add(TinyLinear<float>(4, 5));
  wrong.add(Tanh<float>());
  wrong.add(TinyLinear<float>(5, 4));
  const auto before = snapshot(wrong);
  expect_io_error([&] { io::load_safetensors(wrong, sd_path); }, sd_path,
                  {"model tensor '2.weight' has shape [4, 5] but the file has shape [3, 5]"});
  CHECK(identical(before, snapshot(wrong)));  // 0.weight and 0.bias were not loaded either

  manual_seed(1);
  Sequential<float> shifted(Shape{4});
  shifted.add(TinyLinear<float>(4, 5));
  shifted.add(TinyLinear<float>(5, 3));  // "1.weight" where PyTorch has "2.weight"
  expect_io_error([&] { io::load_safetensors(shifted, sd_path); }, sd_path,
                  {"model tensor '1.weight' (shape [3, 5]) is missing from the file",
                   "the file has tensors the model lacks: '2.bias', '2.weight'"});

  // A BatchNorm counter from PyTorch is skipped when the model has none.
  TempDir dir;
  const std::string with_counter = dir.file("bn.safetensors");
  manual_seed(1);
  Sequential<float> net(Shape{4});
  net.add(TinyLinear<float>(4, 5));
  net.add(TinyNorm<float>(5));
  auto entries = io::state_dict(net);
  std::vector<std::pair<std::string, const Tensor<float>*>> tensors;
  for (const auto& e : entries) tensors.push_back({e.name, e.value});
  Tensor<float> counter(Shape{}, 3.f);
  tensors.push_back({"1.num_batches_tracked", &counter});
  safetensors::save<float>(with_counter, tensors);
  auto copy = make_model<float>(4);
  manual_seed(2);
  Sequential<float> net2(Shape{4});
  net2.add(TinyLinear<float>(4, 5));
  net2.add(TinyNorm<float>(5));
  io::load_safetensors(net2, with_counter);
  CHECK(identical(snapshot(net), snapshot(net2)));
}
