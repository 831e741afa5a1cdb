// Hostile and unlucky files (issue #16): the crafted inputs that corrupted
// memory, wrapped sizes or hung a reader are regression tests here, with the
// checks that now refuse them; plus the safe atomic save and the image
// decoders (format by magic bytes, size bounds, libjpeg/libpng parity).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cae/checked.hpp"
#include "cae/data/cifar.hpp"
#include "cae/data/idx.hpp"
#include "cae/data/image_folder.hpp"
#include "cae/io/checkpoint.hpp"
#include "cae/io/crc32.hpp"
#include "cae/io/file.hpp"
#include "cae/io/image.hpp"
#include "cae/io/json.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/io/state_dict.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/train/history.hpp"
#include "parity.hpp"

using namespace cae;
namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cae_io_safety_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_raw(const std::string& path, const Bytes& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(out.good());
}
Bytes text_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// The message of the cae::Error that f throws; fails the test when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected a cae::Error");
  return "";
}
#define CHECK_ERROR_HAS(expr, ...)                                   \
  do {                                                               \
    const std::string what_ = error_of([&] { (void)(expr); });       \
    INFO(what_);                                                     \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__}) \
      CHECK(what_.find(part_) != std::string::npos);                 \
  } while (0)

// A safetensors file: the JSON header as given, padded, then `data`.
Bytes safetensors_bytes(const std::string& header, const Bytes& data) {
  Bytes b(8 + header.size() + data.size());
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n >> (8 * i));
  std::copy(header.begin(), header.end(), b.begin() + 8);
  std::copy(data.begin(), data.end(), b.begin() + 8 + static_cast<long>(header.size()));
  return b;
}
safetensors::File parse_st(const std::string& header, const Bytes& data) {
  return safetensors::File::parse(safetensors_bytes(header, data), "crafted.safetensors");
}

}  // namespace

// ---- checked arithmetic ---------------------------------------------------------

TEST_CASE("sizes that overflow 64 bits throw instead of wrapping", "[io][safety][checked]") {
  CHECK(checked_mul(std::int64_t(1) << 31, std::int64_t(1) << 31, "x") == std::int64_t(1) << 62);
  CHECK_THROWS_AS(checked_mul(std::int64_t(1) << 32, std::int64_t(1) << 32, "x"), SizeOverflowError);
  CHECK_THROWS_AS(checked_mul(std::int64_t(-1), std::int64_t(2), "x"), SizeOverflowError);
  CHECK_THROWS_AS(checked_bytes(std::int64_t(1) << 62, 4, "x"), SizeOverflowError);
  const std::int64_t dims[] = {3, 0, std::int64_t(1) << 40};
  CHECK(checked_numel(dims, 3, "x") == 0);
  // The issue's case: shape.hpp multiplied [2^32, 2^32] in signed 64 bits (UB).
  const Shape big{index_t(1) << 32, index_t(1) << 32};
  CHECK_ERROR_HAS(big.numel(), "[4294967296, 4294967296]", "overflows 64 bits");
  CHECK_THROWS_AS(Shape({index_t(1) << 32, index_t(1) << 32}).numel(), SizeOverflowError);
  Shape s;
  CHECK_ERROR_HAS(s.push_back(-3), "negative dimension -3");
  CHECK_ERROR_HAS(Shape({2, -1}), "negative dimension -1");
  // Tensor::allocate checked sizeof(T) * n: 2^62 floats are 2^64 bytes.
  CHECK_THROWS_AS(Tensor<float>(Shape{index_t(1) << 62}), SizeOverflowError);
  CHECK_THROWS_AS(Tensor<double>(Shape{index_t(1) << 61}), SizeOverflowError);
}

// ---- safetensors ----------------------------------------------------------------

TEST_CASE("safetensors: the issue's overflow file is refused before any copy", "[io][safety][safetensors]") {
  // Shape [242243305, 19037413721]: product 2^62 + 1, times 4 bytes wraps to 4.
  const std::string h =
      R"({"w":{"dtype":"F32","shape":[242243305,19037413721],"data_offsets":[0,4]}})";
  const Bytes file = safetensors_bytes(h, Bytes(4, 0));
  CHECK(file.size() < 140);
  CHECK_ERROR_HAS(safetensors::File::parse(file, "evil.safetensors"), "evil.safetensors", "tensor 'w'",
                  "64 bits");
  // A product that overflows index_t itself.
  CHECK_ERROR_HAS(parse_st(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", {}),
                  "more elements than fit in 64 bits");
}

TEST_CASE("safetensors: offsets must tile the data exactly", "[io][safety][safetensors]") {
  const Bytes data(12, 1);
  SECTION("a valid file of two tensors") {
    const auto f = parse_st(
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
        data);
    CHECK(f.names().size() == 2);
  }
  SECTION("overlap: a bias read from the weight's bytes") {
    CHECK_ERROR_HAS(
        parse_st(
            R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            data),
        "crafted.safetensors", "overlaps");
  }
  SECTION("a hole") {
    CHECK_ERROR_HAS(
        parse_st(
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
            data),
        "bytes [4, 8)", "belong to no tensor");
  }
  SECTION("trailing bytes") {
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data),
                    "4 bytes after the last tensor");
  }
  SECTION("fractional or exponent offsets and dimensions") {
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12.0]}})", data),
                    "must be an integer");
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,1.2e1]}})", data),
                    "must be an integer");
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,12]}})", data),
                    "must be an integer");
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}})", data), "out of range");
  }
  SECTION("duplicate keys, in the header and inside an entry") {
    CHECK_ERROR_HAS(
        parse_st(
            R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})",
            data),
        "crafted.safetensors", "duplicate key \"a\"");
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F32","dtype":"F64","shape":[3],"data_offsets":[0,12]}})", data),
                    "duplicate key \"dtype\"");
  }
  SECTION("dtype and shape inconsistent, unknown dtype or field") {
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F64","shape":[3],"data_offsets":[0,12]}})", data),
                    "needs 24 bytes, offsets give 12");
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F8_E4M3","shape":[12],"data_offsets":[0,12]}})", data),
                    "unsupported dtype F8_E4M3");
    CHECK_ERROR_HAS(parse_st(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12],"x":1}})", data),
                    "unknown field 'x'");
  }
  SECTION("zero-size tensors sit anywhere on the tiling") {
    const auto f = parse_st(
        R"({"e":{"dtype":"F32","shape":[0,5],"data_offsets":[12,12]},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})",
        data);
    CHECK(f.get<float>("e").shape() == Shape{0, 5});
  }
}

TEST_CASE("safetensors: F16 and BF16 read exactly and written on request", "[io][safety][safetensors]") {
  // 1, -2, 65504 (largest half), 2^-24 (smallest subnormal), inf; as F16 and BF16.
  const Bytes f16 = {0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x7c};
  const Bytes bf16 = {0x80, 0x3f, 0x00, 0xc0, 0x80, 0x3e, 0x00, 0x00, 0x80, 0xff};
  auto f = parse_st(R"({"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},)"
                    R"("b":{"dtype":"BF16","shape":[5],"data_offsets":[10,20]}})",
                    [&] {
                      Bytes d = f16;
                      d.insert(d.end(), bf16.begin(), bf16.end());
                      return d;
                    }());
  const Tensor<float> h = f.get<float>("h"), b = f.get<float>("b");
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 65504.0f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK(std::isinf(h[4]));
  CHECK(b[0] == 1.0f);
  CHECK(b[1] == -2.0f);
  CHECK(b[2] == 0.25f);
  CHECK(b[3] == 0.0f);
  CHECK((std::isinf(b[4]) && b[4] < 0));

  // Every half value converts to float and back to itself (NaNs stay NaN).
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float v = safetensors::detail::half_to_float(static_cast<std::uint16_t>(bits));
    const std::uint16_t back = safetensors::detail::float_to_half(v);
    if (std::isnan(v)) CHECK(std::isnan(safetensors::detail::half_to_float(back)));
    else if (back != bits) FAIL("half " << bits << " -> " << v << " -> " << back);
  }
  // Round to nearest even, and overflow to infinity, as torch.tensor(x).half().
  CHECK(safetensors::detail::float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie, even stays
  CHECK(safetensors::detail::float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie, rounds up
  CHECK(safetensors::detail::float_to_half(65519.0f) == 0x7bff);
  CHECK(safetensors::detail::float_to_half(65520.0f) == 0x7c00);
  CHECK(safetensors::detail::float_to_half(std::ldexp(1.0f, -25)) == 0x0000);  // tie to even zero
  CHECK(safetensors::detail::float_to_half(std::ldexp(1.5f, -25)) == 0x0001);

  TempDir dir;
  const Tensor<float> t = Tensor<float>::from({2, 2}, {0.1f, -3.5f, 1000.f, 1e-6f});
  for (auto store : {safetensors::StoreAs::F16, safetensors::StoreAs::BF16}) {
    const std::string path = dir / "half.safetensors";
    safetensors::save<float>(path, {{"t", &t}}, {}, store);
    const auto back = safetensors::File::load(path);
    CHECK(back.entry("t").dtype == (store == safetensors::StoreAs::F16 ? "F16" : "BF16"));
    const Tensor<float> r = back.get<float>("t");
    // Half precision keeps 11 significant bits (BF16 8); 1e-6 is a half subnormal, exact to 2^-25.
    for (index_t i = 0; i < 4; ++i)
      CHECK(r[i] == Approx(t[i]).epsilon(store == safetensors::StoreAs::F16 ? 1e-3 : 8e-3).margin(3e-8));
  }
}

TEST_CASE("safetensors: num_batches_tracked is written as I64, as PyTorch does", "[io][safety][safetensors]") {
  TempDir dir;
  Sequential<float> net(Shape{3, 2, 2});
  net.add(BatchNorm2d<float>(3));
  net.train();
  Tensor<float> x(Shape{4, 3, 2, 2});
  Rng rng(5);
  x.fill_uniform(rng, -1, 1);
  net.forward(x);
  net.forward(x);
  const std::string path = dir / "bn.safetensors";
  io::save_safetensors(net, path);
  const auto f = safetensors::File::load(path);
  REQUIRE(f.contains("0.num_batches_tracked"));
  CHECK(f.entry("0.num_batches_tracked").dtype == "I64");
  CHECK(f.entry("0.num_batches_tracked").shape == Shape{});
  CHECK(f.get<double>("0.num_batches_tracked")[0] == 2.0);
  CHECK(f.entry("0.running_mean").dtype == "F32");
  // It loads back (the I64 counter converts to the model's float).
  Sequential<float> again(Shape{3, 2, 2});
  again.add(BatchNorm2d<float>(3));
  again.forward(x);
  io::load_safetensors(again, path);
  CHECK(dynamic_cast<BatchNorm2d<float>&>(again[0]).num_batches_tracked()[0] == 2.0f);
}

// ---- checkpoints ----------------------------------------------------------------

namespace {
// A checkpoint with no metadata and one float32 model tensor of the given
// dimensions and `data` bytes, sealed with its CRC.
Bytes checkpoint_with_dims(const std::vector<std::uint64_t>& dims, std::size_t data) {
  io::detail::ByteWriter w;
  w.raw(io::checkpoint_format::kMagic, 8);
  w.u32(io::checkpoint_format::kVersion);
  w.u32(0);
  w.u64(0);
  w.u32(0);  // metadata entries
  w.u32(1);  // tensors
  w.string("w");
  w.u8(io::checkpoint_format::kFloat32);
  w.u8(static_cast<std::uint8_t>(dims.size()));
  for (auto d : dims) w.u64(d);
  for (std::size_t i = 0; i < data; ++i) w.u8(0);
  w.patch_u64(16, w.bytes().size() - io::checkpoint_format::kHeaderSize);
  w.u32(io::crc32(w.bytes().data(), w.bytes().size()));
  return w.bytes();
}
}  // namespace

TEST_CASE("checkpoints: dimensions that are no valid size are refused", "[io][safety][checkpoint]") {
  // The issue's case: [0, 2^63 + 5] parsed to a negative dimension.
  CHECK_ERROR_HAS(io::detail::parse_checkpoint_bytes(checkpoint_with_dims({0, (1ULL << 63) + 5}, 0), "evil.caeckpt"),
                  "evil.caeckpt", "impossible shape", "9223372036854775813");
  // [2^32, 2^32, 4]: the element count overflows.
  CHECK_ERROR_HAS(
      io::detail::parse_checkpoint_bytes(checkpoint_with_dims({1ULL << 32, 1ULL << 32, 4}, 0), "evil.caeckpt"),
      "impossible shape");
  // [2^61, 2]: the element count fits, the bytes do not.
  CHECK_ERROR_HAS(io::detail::parse_checkpoint_bytes(checkpoint_with_dims({1ULL << 61, 2}, 0), "evil.caeckpt"),
                  "impossible shape", "overflows 64 bits");
  // A sane one parses.
  const auto c = io::detail::parse_checkpoint_bytes(checkpoint_with_dims({2, 3}, 24), "ok.caeckpt");
  CHECK(c.model.at(0).shape == Shape{2, 3});
}

TEST_CASE("History::from_json refuses a missing or NaN epoch", "[io][safety][history]") {
  CHECK(train::History::from_json(json::parse(R"([{"epoch":3,"train_loss":0.5}])")).last().epoch == 3);
  CHECK_ERROR_HAS(train::History::from_json(json::parse(R"([{"train_loss":0.5}])")), "history entry 1", "epoch");
  CHECK_ERROR_HAS(train::History::from_json(json::parse(R"([{"epoch":1},{"epoch":null}])")), "history entry 2");
  CHECK_ERROR_HAS(train::History::from_json(json::parse(R"([{"epoch":1e300}])")), "epoch");
  CHECK_ERROR_HAS(train::History::from_json(json::parse(R"([{"epoch":-1}])")), "epoch");
  CHECK_ERROR_HAS(train::History::from_json(json::parse(R"([{"epoch":2.5}])")), "epoch");
}

TEST_CASE("json: duplicate keys are refused, integers are told from fractions", "[io][safety][json]") {
  CHECK_ERROR_HAS(json::parse(R"({"a":1,"b":2,"a":3})", "f.json"), "f.json", "duplicate key \"a\"");
  CHECK(json::parse("[7]").as_array()[0].is_integer());
  CHECK(json::parse("[-7]").as_array()[0].is_integer());
  CHECK_FALSE(json::parse("[7.0]").as_array()[0].is_integer());
  CHECK_FALSE(json::parse("[7e0]").as_array()[0].is_integer());
  CHECK(json::Value(42).is_integer());
  CHECK_FALSE(json::Value(42.0).is_integer());
}

// ---- paths that are not regular files -------------------------------------------

TEST_CASE("every reader names a path that is not a regular file", "[io][safety][file]") {
  TempDir dir;
  const std::string folder = dir / "train-images-idx3-ubyte";
  fs::create_directories(folder);
  const std::string fifo = dir / "pipe.idx";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string dangling = dir / "dangling.png";
  fs::create_symlink(dir / "nowhere.png", dangling);
  const std::string loop = dir / "loop.safetensors";
  fs::create_symlink(loop, loop);

  // The issue's case: a directory read as a file gave std::bad_alloc and no name.
  CHECK_ERROR_HAS(io::read_file(folder), folder, "is a directory, not a regular file", "Kaggle");
  // A FIFO must not block waiting for a writer.
  CHECK_ERROR_HAS(io::read_file(fifo), fifo, "a FIFO (named pipe)");
  CHECK_ERROR_HAS(io::read_file("/dev/null"), "/dev/null", "a character device");
  CHECK_ERROR_HAS(io::read_file(dangling), dangling, "symbolic link to", "nowhere.png", "does not exist");
  CHECK_ERROR_HAS(io::read_file(loop), loop, "symbolic link loop");
  CHECK_ERROR_HAS(io::read_file(dir / "absent"), "absent", "cannot open (No such file");

  // Every reader goes through read_file.
  CHECK_ERROR_HAS(data::read_idx_images(folder), folder, "is a directory");
  CHECK_ERROR_HAS(data::read_idx_labels(fifo), fifo, "FIFO");
  CHECK_ERROR_HAS(safetensors::File::load(loop), loop, "loop");
  CHECK_ERROR_HAS(io::read_checkpoint_metadata(fifo), fifo, "FIFO");
  CHECK_ERROR_HAS(io::load_image(dangling), dangling, "does not exist");
  CHECK_ERROR_HAS(io::load_image(folder + ".png"), "cannot open");
  CHECK_ERROR_HAS(data::parse_cifar(nullptr, 0, "empty.bin"), "empty.bin", "empty file");
}

TEST_CASE("MNIST as Kaggle unpacks it: each file inside a folder of its name", "[io][safety][file]") {
  TempDir dir;
  auto idx = [](std::uint32_t magic, std::vector<std::uint32_t> dims, std::size_t n) {
    Bytes b;
    for (int i = 3; i >= 0; --i) b.push_back(static_cast<unsigned char>(magic >> (8 * i)));
    for (auto d : dims)
      for (int i = 3; i >= 0; --i) b.push_back(static_cast<unsigned char>(d >> (8 * i)));
    for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<unsigned char>(i % 10));
    return b;
  };
  write_raw(dir / "train-images-idx3-ubyte/train-images-idx3-ubyte", idx(0x803, {2, 2, 2}, 8));
  write_raw(dir / "train-labels-idx1-ubyte/train-labels-idx1-ubyte", idx(0x801, {2}, 2));
  const data::Dataset d = data::load_mnist_like(dir.path.string(), true);
  CHECK(d.images.shape() == Shape{2, 1, 2, 2});
  CHECK(d.labels == std::vector<int>{0, 1});
}

// ---- atomic saves ---------------------------------------------------------------

namespace {
std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}
std::string slurp(const std::string& path) {
  const Bytes b = io::read_file(path);
  return std::string(b.begin(), b.end());
}
}  // namespace

TEST_CASE("atomic save: planted symlinks are never written through", "[io][safety][atomic]") {
  TempDir dir;
  const std::string victim = dir / "victim.txt";
  io::write_file_atomic(victim, std::string("precious"));
  const std::string path = dir / "last.caeckpt";
  // The issue's attack: the old temporary name <path>.tmp.<pid>, predicted and planted.
  fs::create_symlink(victim, path + ".tmp." + std::to_string(::getpid()));
  io::write_file_atomic(path, std::string("new checkpoint"));
  CHECK(slurp(victim) == "precious");
  CHECK(slurp(path) == "new checkpoint");

  // A symlink at the target itself is replaced by the new file; its target is untouched.
  const std::string link = dir / "link.txt";
  fs::create_symlink(victim, link);
  io::write_file_atomic(link, std::string("replaced"));
  CHECK_FALSE(fs::is_symlink(link));
  CHECK(slurp(link) == "replaced");
  CHECK(slurp(victim) == "precious");

  // A directory at the target is an error naming it; nothing is left behind.
  const std::string folder = dir / "folder";
  fs::create_directory(folder);
  CHECK_ERROR_HAS(io::write_file_atomic(folder, std::string("x")), folder, "cannot replace file");
  const std::string planted = "last.caeckpt.tmp." + std::to_string(::getpid());
  CHECK(listing(dir.path.string()) ==
        std::vector<std::string>{"folder", "last.caeckpt", planted, "link.txt", "victim.txt"});
}

TEST_CASE("atomic save: concurrent saves of one path each land whole", "[io][safety][atomic]") {
  TempDir dir;
  const std::string path = dir / "shared.bin";
  constexpr int kThreads = 8, kRounds = 25;
  std::vector<std::string> contents;
  for (int t = 0; t < kThreads; ++t) contents.push_back(std::string(4096 + 512 * t, static_cast<char>('a' + t)));
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        try {
          io::write_file_atomic(path, contents[static_cast<std::size_t>(t)]);
        } catch (const std::exception&) {
          ++failures[static_cast<std::size_t>(t)];
        }
      }
    });
  for (auto& th : threads) th.join();
  for (int f : failures) CHECK(f == 0);
  const std::string final_content = slurp(path);
  bool whole = false;
  for (const auto& c : contents) whole = whole || final_content == c;
  CHECK(whole);
  CHECK(listing(dir.path.string()) == std::vector<std::string>{"shared.bin"});
}

TEST_CASE("atomic save: temporaries of dead processes are cleaned", "[io][safety][atomic]") {
  TempDir dir;
  const std::string path = dir / "model.safetensors";
  // A process that has exited (and been reaped) left a temporary behind.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string stale = path + ".tmp." + std::to_string(child) + ".0123456789abcdef";
  write_raw(stale, Bytes(1000, 7));
  // A live process's temporary (pid 1 always exists) and unrelated names stay.
  const std::string live = path + ".tmp.1.0123456789abcdef";
  write_raw(live, Bytes(10, 7));
  const std::string other = dir / "notes.tmp.txt";
  write_raw(other, Bytes(3, 7));
  io::write_file_atomic(path, std::string("data"));
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));
  CHECK(slurp(path) == "data");
}

// ---- image decoding -------------------------------------------------------------

namespace {
std::string seed_dir() { return std::string(CAE_FIXTURE_DIR) + "/../../fuzz/seeds/image"; }
Bytes seed(const std::string& name) { return io::read_file(seed_dir() + "/" + name); }
}  // namespace

TEST_CASE("images: the format must match the extension, only PNG/JPEG/BMP", "[io][safety][image]") {
  // The issue's case: a 24-byte-data 16-bit PPM named .png (stb read out of bounds).
  const Bytes ppm = seed("ppm16_named_png.png");
  CHECK_ERROR_HAS(io::decode_image(ppm, "b/evil.png"), "b/evil.png", "cannot decode", "not PNG, JPEG or BMP",
                  "50 36 0a 32");
  // The same file in an image folder.
  TempDir dir;
  write_raw(dir / "root/a/ok.png", seed("png_RGB.png"));
  write_raw(dir / "root/b/evil.png", ppm);
  CHECK_ERROR_HAS(data::load_image_folder(dir / "root"), "evil.png", "not PNG, JPEG or BMP");

  CHECK_ERROR_HAS(io::decode_image(seed("png_RGB.png"), "photo.jpg"), "photo.jpg",
                  "the name says JPEG but the content is PNG");
  CHECK_ERROR_HAS(io::decode_image(seed("jpg_grey.jpg"), "x.BMP"), "name says BMP but the content is JPEG");
  CHECK_ERROR_HAS(io::decode_image(text_bytes("GIF89a\x01\x00\x01\x00"), "a.gif"), "a.gif", "not PNG, JPEG or BMP");
  CHECK_ERROR_HAS(io::decode_image(Bytes{}, "empty.png"), "empty.png", "0 bytes");
  // A name without an image extension goes by the content.
  CHECK(io::decode_image(seed("png_RGB.png"), "buffer").shape() == Shape{3, 5, 7});
}

TEST_CASE("images: 16-bit, exotic and oversized variants are refused", "[io][safety][image]") {
  CHECK_ERROR_HAS(io::decode_image(seed("png_16bit.png"), "deep.png"), "deep.png", "16-bit PNG is not supported");
  CHECK_ERROR_HAS(io::decode_image(seed("jpg_cmyk.jpg"), "cmyk.jpg"), "cmyk.jpg", "CMYK");

  // A PNG header claiming 100000 x 100000 pixels, in 60 bytes.
  Bytes png = seed("png_L.png");
  auto put_be32 = [](Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<unsigned char>(v >> (24 - 8 * i));
  };
  put_be32(png, 16, 100000);
  put_be32(png, 20, 100000);
  CHECK_ERROR_HAS(io::decode_image(png, "huge.png"), "huge.png", "100000x100000", "above cae's limit");

  // BMP: RLE compression refused; truncated pixel data refused; huge claim refused.
  Bytes bmp = seed("bmp_RGB.bmp");
  Bytes rle = bmp;
  rle[30] = 1;
  CHECK_ERROR_HAS(io::decode_image(rle, "rle.bmp"), "rle.bmp", "unsupported BMP variant", "compression 1");
  CHECK_ERROR_HAS(io::decode_image(Bytes(bmp.begin(), bmp.end() - 10), "short.bmp"), "short.bmp", "BMP truncated");
  Bytes wide = bmp;
  wide[21] = 0x7f;  // width 0x7f0000xx
  CHECK_ERROR_HAS(io::decode_image(wide, "wide.bmp"), "wide.bmp", "above cae's limit");

  // A JPEG cut in half decodes to grey garbage with a warning in libjpeg: refused.
  const Bytes jpg = seed("cifar_cat_0000.jpg");
  CHECK_ERROR_HAS(io::decode_image(Bytes(jpg.begin(), jpg.begin() + static_cast<long>(jpg.size() / 2)), "cut.jpg"),
                  "cut.jpg", "cannot decode");
  // A PNG cut short.
  const Bytes p = seed("png_palette.png");
  CHECK_ERROR_HAS(io::decode_image(Bytes(p.begin(), p.begin() + static_cast<long>(p.size() - 30)), "cut.png"),
                  "cut.png", "cannot decode");
}

TEST_CASE("images: every accepted variant decodes, channels convert", "[io][safety][image]") {
  struct Case {
    const char* file;
    index_t channels;
  };
  for (const Case& c : {Case{"png_L.png", 1}, Case{"png_LA.png", 2}, Case{"png_RGB.png", 3}, Case{"png_RGBA.png", 4},
                        Case{"png_1.png", 1}, Case{"png_palette.png", 3}, Case{"png_palette_trns.png", 4},
                        Case{"bmp_RGB.bmp", 3}, Case{"bmp_L.bmp", 3}, Case{"bmp_P.bmp", 3}, Case{"bmp_1.bmp", 3},
                        Case{"bmp_RGBA.bmp", 4}, Case{"jpg_rgb420.jpg", 3}, Case{"jpg_rgb444.jpg", 3},
                        Case{"jpg_grey.jpg", 1}, Case{"jpg_progressive.jpg", 3}}) {
    INFO(c.file);
    const Tensor<float> t = io::decode_image(seed(c.file), c.file);
    CHECK(t.shape().drop_front() == (std::string(c.file).find("jpg_") == 0 ? Shape{9, 17} : Shape{5, 7}));
    CHECK(t.dim(0) == c.channels);
    for (int want : {1, 2, 3, 4}) CHECK(io::decode_image(seed(c.file), c.file, want).dim(0) == want);
  }
  // Interlaced PNG: pixel (x, y) = 28 x + y, as written by fuzz/make_image_seeds.py.
  const Tensor<float> inter = io::decode_image(seed("png_interlaced.png"), "i.png");
  REQUIRE(inter.shape() == Shape{1, 9, 9});
  for (index_t y = 0; y < 9; ++y)
    for (index_t x = 0; x < 9; ++x) CHECK(inter.at({0, y, x}) == static_cast<float>((28 * x + y) & 255) / 255.0f);
  // save_png and load_image round trip exactly.
  TempDir dir;
  Tensor<float> img(Shape{3, 4, 6});
  for (index_t i = 0; i < img.numel(); ++i) img[i] = static_cast<float>((i * 37) % 256) / 255.0f;
  io::save_png(dir / "x.png", img);
  CHECK(max_abs_diff(io::load_image(dir / "x.png"), img) == 0.0f);
  CHECK_ERROR_HAS(io::decode_image(seed("png_RGB.png"), "x.png", 5), "channels must be 0 to 4");
}

TEST_CASE("images: symlink loops in a class folder list each image once", "[io][safety][image_folder]") {
  TempDir dir;
  const std::string root = dir / "root";
  write_raw(root + "/cat/a.png", seed("png_RGB.png"));
  fs::create_symlink(".", root + "/cat/loop");         // the issue's loop: 41 samples of one image
  fs::create_symlink("../cat", root + "/cat/up");      // a second way back
  fs::create_directories(root + "/dog/real");
  write_raw(root + "/dog/real/b.png", seed("png_RGB.png"));
  fs::create_symlink("real", root + "/dog/again");     // two links to one real folder
  fs::create_symlink("nowhere", root + "/dog/gone");   // dangling, no image extension: skipped
  std::vector<std::string> classes;
  const auto files = data::list_image_folder(root, classes);
  CHECK(classes == std::vector<std::string>{"cat", "dog"});
  REQUIRE(files.size() == 2);
  CHECK(files[0].path == root + "/cat/a.png");
  const data::Dataset d = data::load_image_folder(root);
  CHECK(d.size() == 2);
  // A dangling link that is named like an image is listed, and loading names it.
  fs::create_symlink("nowhere.png", root + "/dog/gone.png");
  CHECK_ERROR_HAS(data::load_image_folder(root), "gone.png", "does not exist");
}

#ifdef CAE_HAVE_LIBJPEG
TEST_CASE("images: encode_jpeg writes 4:2:0 baseline JPEG that decodes back", "[io][safety][image][jpeg]") {
  Tensor<float> img(Shape{3, 24, 40});
  for (index_t c = 0; c < 3; ++c)
    for (index_t y = 0; y < 24; ++y)
      for (index_t x = 0; x < 40; ++x)  // smooth, so 4:2:0 and quantisation lose little
        img.at({c, y, x}) = static_cast<float>(0.5 + 0.4 * std::sin(x / 7.0 + c) * std::cos(y / 5.0));
  const Bytes q90 = io::encode_jpeg(img, 90), q20 = io::encode_jpeg(img, 20);
  CHECK(q20.size() < q90.size());
  REQUIRE(io::sniff_image_format(q90.data(), q90.size()) == io::ImageFormat::Jpeg);
  // The SOF0 segment: 3 components, Y sampled 2x2, Cb and Cr 1x1.
  std::size_t sof = 2;
  while (sof + 4 < q90.size() && !(q90[sof] == 0xff && q90[sof + 1] == 0xc0)) sof += 2u + (q90[sof + 2] << 8 | q90[sof + 3]);
  REQUIRE(sof + 19 < q90.size());
  CHECK(q90[sof + 9] == 3);
  CHECK(q90[sof + 11] == 0x22);
  CHECK(q90[sof + 14] == 0x11);
  CHECK(q90[sof + 17] == 0x11);
  const Tensor<float> back = io::decode_jpeg(q90, "q90.jpg");
  REQUIRE(back.shape() == img.shape());
  double mse = 0;
  for (index_t i = 0; i < img.numel(); ++i) mse += (back[i] - img[i]) * (back[i] - img[i]);
  mse /= static_cast<double>(img.numel());
  CHECK(10 * std::log10(1.0 / mse) > 30.0);  // PSNR in dB
  // Grey images are one component.
  const Bytes grey = io::encode_jpeg(img.slice(0, 1).reshape(Shape{24, 40}), 75);
  CHECK(io::decode_jpeg(grey).shape() == Shape{1, 24, 40});
  CHECK_ERROR_HAS(io::encode_jpeg(img, 0), "quality");
  CHECK_ERROR_HAS(io::encode_jpeg(Tensor<float>(Shape{4, 2, 2}, 0.f), 75), "alpha");
  CHECK_ERROR_HAS(io::decode_jpeg(seed("png_RGB.png"), "fake.jpg"), "fake.jpg", "not a JPEG");
}

TEST_CASE("images: libjpeg-turbo decodes as PIL does", "[io][safety][image][parity]") {
  // tests/fixtures/image/*.rgb: PIL's decode of the seed JPEGs (PIL uses
  // libjpeg-turbo too), written by tests/fixturegen/gen_image_decode.py.
  for (const char* name : {"cifar_cat_0000", "jpg_rgb420", "jpg_progressive"}) {
    INFO(name);
    const Tensor<float> t = io::decode_image(seed(std::string(name) + ".jpg"), name, 3);
    const Bytes want = io::read_file(std::string(CAE_FIXTURE_DIR) + "/image/" + name + ".rgb");
    REQUIRE(static_cast<index_t>(want.size()) == t.numel());
    const index_t h = t.dim(1), w = t.dim(2);
    int differ = 0;
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x)
        for (index_t c = 0; c < 3; ++c)
          differ += std::lround(t.at({c, y, x}) * 255.0f) != want[static_cast<std::size_t>((y * w + x) * 3 + c)];
    CHECK(differ == 0);
  }
}
#endif
