// Dataset readers (IDX raw/gz, CIFAR-10 binary, image folders, pixel CSV), the
// Dataset helpers and the DataLoader, on small files written to a temporary
// folder; then the real data sets where they are installed.
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <zlib.h>

#include "cae/data/cifar.hpp"
#include "cae/data/csv.hpp"
#include "cae/data/dataset.hpp"
#include "cae/data/idx.hpp"
#include "cae/data/image_folder.hpp"
#include "cae/data/loader.hpp"
#include "cae/data/paths.hpp"
#include "cae/io/image.hpp"
#include "cae/parallel.hpp"

using namespace cae;
using namespace cae::data;
namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

namespace {

// A fresh folder under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "cae_test_data_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const Bytes& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(out.good());
}

void write_text(const std::string& path, const std::string& text) {
  write_bytes(path, Bytes(text.begin(), text.end()));
}

// save_png into a folder that may not exist yet.
void save_png_at(const std::string& path, const Tensor<float>& image) {
  fs::create_directories(fs::path(path).parent_path());
  io::save_png(path, image);
}

void write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_bytes(const std::string& path) { return io::read_file(path); }

void put_u32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
}

// An IDX image file of n h x w images whose pixel (i, y, x) is pixel(i, y, x).
Bytes idx_images(std::uint32_t n, std::uint32_t h, std::uint32_t w,
                 const std::function<int(int, int, int)>& pixel) {
  Bytes b;
  put_u32(b, kIdxImagesMagic);
  put_u32(b, n);
  put_u32(b, h);
  put_u32(b, w);
  for (std::uint32_t i = 0; i < n; ++i)
    for (std::uint32_t y = 0; y < h; ++y)
      for (std::uint32_t x = 0; x < w; ++x)
        b.push_back(static_cast<unsigned char>(pixel(int(i), int(y), int(x))));
  return b;
}

Bytes idx_labels(const std::vector<int>& labels) {
  Bytes b;
  put_u32(b, kIdxLabelsMagic);
  put_u32(b, static_cast<std::uint32_t>(labels.size()));
  for (int l : labels) b.push_back(static_cast<unsigned char>(l));
  return b;
}

int test_pixel(int i, int y, int x) { return (i * 37 + y * 11 + x * 3) % 256; }

// Runs f, which must throw cae::IoError whose message contains every part.
void check_io_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    FAIL("expected an IoError containing '" << parts.front() << "'");
  } catch (const IoError& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    for (const std::string& p : parts) CHECK(msg.find(p) != std::string::npos);
  }
}

std::string real_data_root() {
  if (const char* env = std::getenv("CAE_DATA")) return env;
  return std::string(CAE_FIXTURE_DIR) + "/../../../shared/data";
}

}  // namespace

// ---- IDX ---------------------------------------------------------------------

TEST_CASE("IDX images and labels parse, raw and gzip", "[data][idx]") {
  TempDir dir;
  const Bytes images = idx_images(3, 2, 4, test_pixel);
  const Bytes labels = idx_labels({7, 0, 3});
  write_bytes(dir / "imgs.idx", images);
  write_gz(dir / "imgs.idx.gz", images);
  write_bytes(dir / "labels.idx", labels);
  write_gz(dir / "labels.idx.gz", labels);

  for (const std::string name : {"imgs.idx", "imgs.idx.gz"}) {
    const Tensor<float> t = read_idx_images(dir / name);
    REQUIRE(t.shape() == Shape{3, 1, 2, 4});
    for (int i = 0; i < 3; ++i)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 4; ++x)
          CHECK(t.at({i, 0, y, x}) == static_cast<float>(test_pixel(i, y, x)) / 255.0f);
  }
  CHECK(read_idx_labels(dir / "labels.idx") == std::vector<int>{7, 0, 3});
  CHECK(read_idx_labels(dir / "labels.idx.gz", 10) == std::vector<int>{7, 0, 3});

  // Generic parse: any rank.
  Bytes cube;
  put_u32(cube, 0x00000804);
  for (int d : {2, 1, 2, 3}) put_u32(cube, static_cast<std::uint32_t>(d));
  for (int i = 0; i < 12; ++i) cube.push_back(static_cast<unsigned char>(i));
  const IdxArray a = parse_idx(cube.data(), cube.size(), "cube");
  CHECK(a.dims == std::vector<index_t>{2, 1, 2, 3});
  CHECK(a.data.size() == 12);
  CHECK(a.data[11] == 11);

  // Two gzip members back to back (cat a.gz b.gz) and zero padding after.
  const Bytes head(images.begin(), images.begin() + 20), tail(images.begin() + 20, images.end());
  write_gz(dir / "a.gz", head);
  write_gz(dir / "b.gz", tail);
  Bytes two = read_bytes(dir / "a.gz");
  const Bytes second = read_bytes(dir / "b.gz");
  two.insert(two.end(), second.begin(), second.end());
  two.insert(two.end(), 8, 0);
  const Tensor<float> t2 = parse_idx_images(two.data(), two.size(), "two-members.gz");
  CHECK(max_abs_diff(t2, read_idx_images(dir / "imgs.idx")) == 0.0f);

  // A file called .gz that is not compressed (a browser unpacked it) still reads.
  write_bytes(dir / "raw-named.gz", images);
  CHECK(read_idx_images(dir / "raw-named.gz").shape() == Shape{3, 1, 2, 4});
}

TEST_CASE("IDX rejects bad files with messages naming the file and the problem", "[data][idx]") {
  TempDir dir;
  const Bytes images = idx_images(3, 2, 4, test_pixel);
  const Bytes labels = idx_labels({1, 2, 3});

  SECTION("wrong magic: a label file read as images, and the reverse") {
    write_bytes(dir / "labels.idx", labels);
    check_io_error([&] { read_idx_images(dir / "labels.idx"); },
                   {"labels.idx", "bad magic number 0x00000801", "expected 0x00000803"});
    write_bytes(dir / "images.idx", images);
    check_io_error([&] { read_idx_labels(dir / "images.idx"); },
                   {"images.idx", "bad magic number 0x00000803", "expected 0x00000801"});
  }
  SECTION("not an IDX file at all") {
    write_text(dir / "hello.txt", "hello, world, this is text");
    check_io_error([&] { read_idx_images(dir / "hello.txt"); }, {"hello.txt", "not an IDX file"});
    check_io_error([&] { parse_idx(images.data() + 1, images.size() - 1, "shifted.idx"); },
                   {"shifted.idx", "not an IDX file"});
  }
  SECTION("unsupported element type") {
    Bytes f;
    put_u32(f, 0x00000D01);  // float elements
    put_u32(f, 1);
    put_u32(f, 0);
    write_bytes(dir / "floats.idx", f);
    check_io_error([&] { read_idx_images(dir / "floats.idx"); },
                   {"floats.idx", "0x00000D01", "float"});
    check_io_error([&] { (void)parse_idx(f.data(), f.size(), "floats.idx"); },
                   {"floats.idx", "only unsigned-byte"});
  }
  SECTION("truncated header") {
    write_bytes(dir / "short.idx", Bytes(images.begin(), images.begin() + 3));
    check_io_error([&] { read_idx_images(dir / "short.idx"); }, {"short.idx", "too short"});
    write_bytes(dir / "short2.idx", Bytes(images.begin(), images.begin() + 10));
    check_io_error([&] { read_idx_images(dir / "short2.idx"); },
                   {"short2.idx", "truncated IDX header", "3 dimensions declared"});
    write_bytes(dir / "empty.idx", {});
    check_io_error([&] { read_idx_labels(dir / "empty.idx"); }, {"empty.idx", "too short"});
  }
  SECTION("truncated data, raw and compressed") {
    const Bytes cut(images.begin(), images.end() - 5);
    write_bytes(dir / "cut.idx", cut);
    check_io_error([&] { read_idx_images(dir / "cut.idx"); },
                   {"cut.idx", "truncated", "3 x 2 x 4 = 24 bytes", "only 19"});
    write_gz(dir / "cut.idx.gz", cut);
    check_io_error([&] { read_idx_images(dir / "cut.idx.gz"); },
                   {"cut.idx.gz", "truncated", "only 19", "after decompression"});
  }
  SECTION("data longer than the header says") {
    Bytes longer = images;
    longer.push_back(9);
    longer.push_back(9);
    write_bytes(dir / "long.idx", longer);
    check_io_error([&] { read_idx_images(dir / "long.idx"); },
                   {"long.idx", "2 unexpected bytes after"});
    write_gz(dir / "long.idx.gz", longer);
    check_io_error([&] { read_idx_images(dir / "long.idx.gz"); },
                   {"long.idx.gz", "decompressed data is longer than"});
  }
  SECTION("corrupt and truncated gzip") {
    write_gz(dir / "good.gz", idx_images(20, 8, 8, test_pixel));
    const Bytes gz = read_bytes(dir / "good.gz");
    write_bytes(dir / "half.gz", Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
    check_io_error([&] { read_idx_images(dir / "half.gz"); },
                   {"half.gz", "truncated gzip data"});
    // Cut inside the 8-byte trailer (CRC and length): all data is there but unverified.
    write_bytes(dir / "notrailer.gz", Bytes(gz.begin(), gz.end() - 3));
    check_io_error([&] { read_idx_images(dir / "notrailer.gz"); },
                   {"notrailer.gz", "truncated gzip data"});
    Bytes bad = gz;
    for (std::size_t i = 20; i < bad.size() - 10; i += 7) bad[i] ^= 0x5a;
    write_bytes(dir / "bad.gz", bad);
    check_io_error([&] { read_idx_images(dir / "bad.gz"); }, {"bad.gz", "corrupt gzip data"});
    // A wrong CRC in the trailer: the data decompresses but fails its check.
    Bytes crc = gz;
    crc[crc.size() - 6] ^= 0xff;
    write_bytes(dir / "crc.gz", crc);
    check_io_error([&] { read_idx_images(dir / "crc.gz"); },
                   {"crc.gz", "corrupt gzip data", "incorrect data check"});
    // Garbage after a complete gzip member.
    Bytes garbage = gz;
    garbage.push_back('x');
    garbage.push_back('y');
    write_bytes(dir / "garbage.gz", garbage);
    check_io_error([&] { read_idx_images(dir / "garbage.gz"); }, {"garbage.gz", "gzip"});
  }
  SECTION("huge claimed dimensions fail before any large allocation") {
    Bytes huge;
    put_u32(huge, kIdxImagesMagic);
    for (int i = 0; i < 3; ++i) put_u32(huge, 0xFFFFFFFFu);
    huge.insert(huge.end(), 100, 1);
    write_bytes(dir / "huge.idx", huge);
    check_io_error([&] { read_idx_images(dir / "huge.idx"); }, {"huge.idx", "implausible size"});
    // 10^11 bytes claimed: a plausible product, but the file is tiny.
    Bytes big;
    put_u32(big, kIdxImagesMagic);
    put_u32(big, 100000);
    put_u32(big, 1000);
    put_u32(big, 1000);
    big.insert(big.end(), 100, 1);
    write_bytes(dir / "big.idx", big);
    check_io_error([&] { read_idx_images(dir / "big.idx"); },
                   {"big.idx", "truncated", "100000000000 bytes", "only 100"});
    write_gz(dir / "big.idx.gz", big);
    check_io_error([&] { read_idx_images(dir / "big.idx.gz"); },
                   {"big.idx.gz", "truncated", "only 100"});
  }
  SECTION("empty image set and zero-sized images") {
    write_bytes(dir / "none.idx", idx_images(0, 28, 28, test_pixel));
    check_io_error([&] { read_idx_images(dir / "none.idx"); }, {"none.idx", "no images"});
    write_bytes(dir / "flat.idx", idx_images(2, 0, 28, test_pixel));
    check_io_error([&] { read_idx_images(dir / "flat.idx"); },
                   {"flat.idx", "implausible image size 0 x 28"});
    write_bytes(dir / "nolabels.idx", idx_labels({}));
    check_io_error([&] { read_idx_labels(dir / "nolabels.idx"); }, {"nolabels.idx", "no labels"});
  }
  SECTION("labels out of range") {
    write_bytes(dir / "labels.idx", idx_labels({1, 2, 10, 3}));
    check_io_error([&] { read_idx_labels(dir / "labels.idx", 10); },
                   {"labels.idx", "label 10 at index 2", "outside [0, 10)"});
    CHECK(read_idx_labels(dir / "labels.idx").size() == 4);  // no range given: any byte
  }
  SECTION("missing file") {
    check_io_error([&] { read_idx_images(dir / "nope.idx"); }, {"nope.idx", "cannot open"});
  }
}

TEST_CASE("load_mnist_like finds the standard file names", "[data][idx]") {
  TempDir dir;
  SECTION("MNIST names, gz train and raw test") {
    write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(4, 3, 3, test_pixel));
    write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels({5, 0, 4, 1}));
    write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(2, 3, 3, test_pixel));
    write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels({7, 2}));
    const Dataset train = load_mnist_like(dir.path.string(), true);
    CHECK(train.size() == 4);
    CHECK(train.labels == std::vector<int>{5, 0, 4, 1});
    CHECK(train.class_names == numbered_classes(10));
    CHECK(train.sample_shape() == Shape{1, 3, 3});
    const Dataset test = load_mnist_like(dir.path.string(), false, fashion_mnist_classes());
    CHECK(test.labels == std::vector<int>{7, 2});
    CHECK(test.class_names[9] == "Ankle boot");
    CHECK_NOTHROW(test.validate("test"));
  }
  SECTION("Kannada-MNIST names") {
    write_gz(dir / "X_kannada_MNIST_test-idx3-ubyte.gz", idx_images(3, 2, 2, test_pixel));
    write_gz(dir / "y_kannada_MNIST_test-idx1-ubyte.gz", idx_labels({9, 8, 7}));
    const Dataset test = load_mnist_like(dir.path.string(), false);
    CHECK(test.labels == std::vector<int>{9, 8, 7});
    check_io_error([&] { load_mnist_like(dir.path.string(), true); },
                   {dir.path.string(), "no MNIST-style training images",
                    "train-images-idx3-ubyte[.gz]", "X_kannada_MNIST_train-idx3-ubyte[.gz]"});
  }
  SECTION("images without labels, count mismatch, labels out of range") {
    write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(4, 3, 3, test_pixel));
    check_io_error([&] { load_mnist_like(dir.path.string(), true); },
                   {"train-images-idx3-ubyte.gz", "no labels file", "train-labels-idx1-ubyte"});
    write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels({1, 2, 3}));
    check_io_error([&] { load_mnist_like(dir.path.string(), true); },
                   {"train-labels-idx1-ubyte.gz", "3 labels", "train-images-idx3-ubyte.gz",
                    "4 images"});
    write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels({1, 2, 3, 12}));
    check_io_error([&] { load_mnist_like(dir.path.string(), true); },
                   {"train-labels-idx1-ubyte.gz", "label 12 at index 3"});
  }
}

// ---- CIFAR-10 binary ---------------------------------------------------------

namespace {
Bytes cifar_records(const std::vector<int>& labels, int seed) {
  Bytes b;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    b.push_back(static_cast<unsigned char>(labels[i]));
    for (int k = 0; k < 3072; ++k) b.push_back(static_cast<unsigned char>((k * 7 + int(i) * 13 + seed) % 256));
  }
  return b;
}
}  // namespace

TEST_CASE("CIFAR-10 binary batches parse", "[data][cifar]") {
  const Bytes rec = cifar_records({3, 9}, 0);
  const Dataset d = parse_cifar(rec.data(), rec.size(), "mem.bin");
  REQUIRE(d.images.shape() == Shape{2, 3, 32, 32});
  CHECK(d.labels == std::vector<int>{3, 9});
  CHECK(d.class_names == cifar10_classes());
  // Record layout: R plane, G plane, B plane, each row-major: CHW.
  for (int i = 0; i < 2; ++i)
    for (int c : {0, 1, 2})
      for (int y : {0, 5, 31})
        for (int x : {0, 17, 31}) {
          const int k = c * 1024 + y * 32 + x;
          CHECK(d.images.at({i, c, y, x}) == static_cast<float>((k * 7 + i * 13) % 256) / 255.0f);
        }

  TempDir dir;
  const std::string bin = dir / "cifar-10-batches-bin";
  for (int b = 1; b <= 5; ++b) write_bytes(bin + "/data_batch_" + std::to_string(b) + ".bin",
                                           cifar_records({b, b + 1}, b));
  write_bytes(bin + "/test_batch.bin", cifar_records({0, 1, 2}, 9));
  // The parent folder works as well as cifar-10-batches-bin itself.
  const Dataset train = load_cifar10(dir.path.string(), true);
  CHECK(train.size() == 10);
  CHECK(train.labels == std::vector<int>{1, 2, 2, 3, 3, 4, 4, 5, 5, 6});
  CHECK(train.images.at({4, 0, 0, 1}) == static_cast<float>((7 + 0 + 3) % 256) / 255.0f);
  const Dataset test = load_cifar10(bin, false);
  CHECK(test.size() == 3);
  CHECK(test.labels == std::vector<int>{0, 1, 2});
  CHECK(test.class_names[0] == "airplane");

  // Class names from batches.meta.txt (trailing blank lines as in the release).
  write_text(bin + "/batches.meta.txt", "a0\nb1\r\nc2\nd3\ne4\nf5\ng6\nh7\ni8\nj9\n\n\n");
  CHECK(load_cifar10(bin, false).class_names[9] == "j9");
}

TEST_CASE("CIFAR-10 rejects bad batches with messages naming the file", "[data][cifar]") {
  TempDir dir;
  Bytes rec = cifar_records({1, 2}, 0);
  SECTION("truncated record") {
    rec.pop_back();
    write_bytes(dir / "test_batch.bin", rec);
    check_io_error([&] { load_cifar10(dir.path.string(), false); },
                   {"test_batch.bin", "6145 bytes", "not a whole number of 3073-byte"});
  }
  SECTION("empty file") {
    write_bytes(dir / "test_batch.bin", {});
    check_io_error([&] { load_cifar10(dir.path.string(), false); }, {"test_batch.bin", "empty"});
  }
  SECTION("label out of range") {
    rec[3073] = 10;
    write_bytes(dir / "test_batch.bin", rec);
    check_io_error([&] { load_cifar10(dir.path.string(), false); },
                   {"test_batch.bin", "record 1 has label 10", "outside [0, 10)"});
    check_io_error([&] { parse_cifar(rec.data(), rec.size(), "mem.bin"); }, {"mem.bin", "label 10"});
  }
  SECTION("missing batch") {
    for (int b : {1, 2, 4, 5})
      write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), rec);
    check_io_error([&] { load_cifar10(dir.path.string(), true); }, {"data_batch_3.bin", "missing"});
    check_io_error([&] { load_cifar10(dir.path.string(), false); }, {"test_batch.bin", "missing"});
  }
  SECTION("meta file without names") {
    write_bytes(dir / "test_batch.bin", rec);
    write_text(dir / "batches.meta.txt", "\n  \n");
    check_io_error([&] { load_cifar10(dir.path.string(), false); },
                   {"batches.meta.txt", "no class names"});
    // Fewer names than the labels need.
    write_text(dir / "batches.meta.txt", "zero\none\n");
    check_io_error([&] { load_cifar10(dir.path.string(), false); },
                   {"test_batch.bin", "label 2", "outside [0, 2)"});
  }
}

// ---- image folder ------------------------------------------------------------

namespace {
Tensor<float> test_image(int c, int h, int w, int seed) {
  Tensor<float> t({c, h, w});
  for (index_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>((i * 29 + seed * 71) % 256) / 255.0f;
  return t;
}
}  // namespace

TEST_CASE("image folder reads classes and files in torchvision's order", "[data][image_folder]") {
  TempDir dir;
  const std::string root = dir / "root";
  // Created out of order; names chosen so that string order differs from numeric.
  fs::create_directories(root + "/zebra");
  fs::create_directories(root + "/ant/nested");
  fs::create_directories(root + "/Bee");
  save_png_at(root + "/zebra/img10.png", test_image(3, 5, 4, 1));
  save_png_at(root + "/zebra/img2.png", test_image(3, 5, 4, 2));
  save_png_at(root + "/ant/b.PNG", test_image(3, 5, 4, 3));
  save_png_at(root + "/ant/a.png", test_image(3, 5, 4, 4));
  save_png_at(root + "/ant/nested/0.png", test_image(3, 5, 4, 5));
  save_png_at(root + "/Bee/x.png", test_image(3, 5, 4, 6));
  write_text(root + "/ant/notes.txt", "not an image");
  write_text(root + "/README", "a file at the root is not a class");

  std::vector<std::string> classes;
  const std::vector<ImageFile> files = list_image_folder(root, classes);
  CHECK(classes == std::vector<std::string>{"Bee", "ant", "zebra"});  // byte order, as Python's sorted()
  std::vector<std::string> names;
  for (const ImageFile& f : files) names.push_back(fs::path(f.path).lexically_relative(root).string());
  CHECK(names == std::vector<std::string>{"Bee/x.png", "ant/a.png", "ant/b.PNG", "ant/nested/0.png",
                                          "zebra/img10.png", "zebra/img2.png"});

  const Dataset d = load_image_folder(root);
  REQUIRE(d.images.shape() == Shape{6, 3, 5, 4});
  CHECK(d.labels == std::vector<int>{0, 1, 1, 1, 2, 2});
  // PNG is lossless at 8 bits: the values come back exactly.
  const int seeds[] = {6, 4, 3, 5, 1, 2};
  for (int i = 0; i < 6; ++i) CHECK(max_abs_diff(Tensor<float>(d.image(i)), test_image(3, 5, 4, seeds[i])) == 0.0f);
  CHECK_NOTHROW(d.validate("folder"));

  // Grey conversion, and grey images read as RGB.
  const Dataset grey = load_image_folder(root, ImageFolderOptions().channels(1));
  CHECK(grey.images.shape() == Shape{6, 1, 5, 4});
  const std::string groot = dir / "grey";
  save_png_at(groot + "/only/g.png", test_image(1, 3, 3, 7));
  const Dataset rgb = load_image_folder(groot, ImageFolderOptions().channels(3));
  REQUIRE(rgb.images.shape() == Shape{1, 3, 3, 3});
  CHECK(rgb.images.at({0, 0, 1, 2}) == rgb.images.at({0, 2, 1, 2}));
  CHECK(rgb.images.at({0, 1, 1, 2}) == test_image(1, 3, 3, 7).at({0, 1, 2}));
}

TEST_CASE("image folder rejects bad folders and images", "[data][image_folder]") {
  TempDir dir;
  const std::string root = dir / "root";
  SECTION("missing root or no classes") {
    check_io_error([&] { load_image_folder(dir / "absent"); }, {"absent", "not a directory"});
    fs::create_directories(root);
    check_io_error([&] { load_image_folder(root); }, {root, "no class folders"});
  }
  SECTION("a class folder without images") {
    save_png_at(root + "/cat/a.png", test_image(3, 4, 4, 0));
    fs::create_directories(root + "/dog");
    write_text(root + "/dog/readme.txt", "x");
    check_io_error([&] { load_image_folder(root); }, {root, "no images", "dog"});
  }
  SECTION("an undecodable image") {
    save_png_at(root + "/cat/a.png", test_image(3, 4, 4, 0));
    write_text(root + "/cat/b.jpg", "this is not a JPEG");
    check_io_error([&] { load_image_folder(root); }, {"b.jpg", "cannot decode"});
    // The first image itself is broken.
    write_text(root + "/cat/0.png", "not a PNG");
    check_io_error([&] { load_image_folder(root); }, {"0.png", "cannot decode"});
  }
  SECTION("images of different sizes") {
    save_png_at(root + "/cat/a.png", test_image(3, 4, 4, 0));
    save_png_at(root + "/cat/b.png", test_image(3, 4, 5, 0));
    check_io_error([&] { load_image_folder(root); },
                   {"b.png", "image is 5x4", "a.png is 4x4", "same size"});
  }
  SECTION("bad channel option") {
    save_png_at(root + "/cat/a.png", test_image(3, 4, 4, 0));
    CHECK_THROWS_WITH(load_image_folder(root, ImageFolderOptions().channels(2)),
                      Catch::Contains("channels(2)"));
  }
}

// ---- CSV -----------------------------------------------------------------------

TEST_CASE("pixel CSV (Kaggle format) parses, labelled and id-first", "[data][csv]") {
  TempDir dir;
  write_text(dir / "train.csv",
             "label,pixel0,pixel1,pixel2,pixel3\n3,0,255,128,1\r\n0,10,20,30,40\n\n");
  const Dataset d = load_pixel_csv(dir / "train.csv");
  REQUIRE(d.images.shape() == Shape{2, 1, 2, 2});
  CHECK(d.labels == std::vector<int>{3, 0});
  CHECK(d.images.at({0, 0, 0, 1}) == 1.0f);
  CHECK(d.images.at({0, 0, 1, 0}) == 128.0f / 255.0f);
  CHECK(d.images.at({1, 0, 1, 1}) == 40.0f / 255.0f);
  CHECK(d.num_classes() == 10);

  write_text(dir / "test.csv", "id,pixel0,pixel1,pixel2,pixel3,pixel4,pixel5\n17,1,2,3,4,5,6\n18,6,5,4,3,2,1");
  std::vector<long long> ids;
  const Dataset t = load_pixel_csv(dir / "test.csv", PixelCsvOptions().image_size(2, 3), &ids);
  CHECK(t.images.shape() == Shape{2, 1, 2, 3});
  CHECK(t.labels.empty());
  CHECK_FALSE(t.labelled());
  CHECK(ids == std::vector<long long>{17, 18});
  CHECK(t.images.at({1, 0, 0, 0}) == 6.0f / 255.0f);
}

TEST_CASE("pixel CSV rejects bad files with line numbers", "[data][csv]") {
  TempDir dir;
  const std::string head = "label,p0,p1,p2,p3\n";
  auto bad = [&](const std::string& text, const std::vector<std::string>& parts) {
    write_text(dir / "bad.csv", text);
    std::vector<std::string> all = parts;
    all.push_back("bad.csv");
    check_io_error([&] { load_pixel_csv(dir / "bad.csv"); }, all);
  };
  bad("", {"line 1", "header"});
  bad("pixel0,pixel1\n1,2\n", {"line 1", "'pixel0'"});
  bad(head, {"no data lines"});
  bad(head + "1,2,3,4\n", {"line 2", "4 columns", "header has 5"});
  bad(head + "1,2,3,4,5\n1,2,3,4,256\n", {"line 3", "column 5", "'256'", "[0, 255]"});
  bad(head + "1,2,3,-4,5\n", {"line 2", "'-4'"});
  bad(head + "1,2,3,4.5,5\n", {"line 2", "'4.5'"});
  bad(head + "10,2,3,4,5\n", {"line 2", "label '10'", "[0, 10)"});
  bad("label,a,b,c\n1,2,3,4\n", {"3 pixel columns", "square"});
  check_io_error([&] { load_pixel_csv(dir / "absent.csv"); }, {"absent.csv", "cannot open"});
}

// ---- Dataset helpers ---------------------------------------------------------

namespace {
// n samples of shape [1, 1, 2], image i filled with i, labels i % classes.
Dataset toy_dataset(index_t n, int classes) {
  Dataset d;
  d.class_names = numbered_classes(classes);
  d.images.resize({n, 1, 1, 2});
  for (index_t i = 0; i < n; ++i) {
    d.images[2 * i] = static_cast<float>(i);
    d.images[2 * i + 1] = static_cast<float>(i);
    d.labels.push_back(static_cast<int>(i % classes));
  }
  return d;
}
}  // namespace

TEST_CASE("Dataset subsets, class selection with relabelling, concat", "[data][dataset]") {
  Dataset d = toy_dataset(10, 5);
  d.class_names = {"a", "b", "c", "d", "e"};
  CHECK(class_counts(d) == std::vector<index_t>{2, 2, 2, 2, 2});
  CHECK(first_index_of_each_class(d) == std::vector<index_t>{0, 1, 2, 3, 4});
  Dataset gaps = d;
  gaps.class_names.push_back("empty");
  gaps.labels[0] = 3;
  CHECK(first_index_of_each_class(gaps) == std::vector<index_t>{5, 1, 2, 0, 4});

  const Dataset sel = select_classes(d, std::vector<std::string>{"d", "b"});
  CHECK(sel.class_names == std::vector<std::string>{"d", "b"});
  CHECK(sel.labels == std::vector<int>{1, 0, 1, 0});  // samples 1, 3, 6, 8 in dataset order
  CHECK(sel.images[0] == 1.0f);
  CHECK(sel.images[2] == 3.0f);
  CHECK(sel.images[6] == 8.0f);
  CHECK(select_classes(d, std::vector<int>{4}).labels == std::vector<int>{0, 0});
  CHECK_THROWS_WITH(select_classes(d, std::vector<std::string>{"x"}),
                    Catch::Contains("no class named 'x'") && Catch::Contains("a, b, c, d, e"));
  CHECK_THROWS_WITH(select_classes(d, std::vector<int>{1, 1}), Catch::Contains("listed twice"));
  CHECK_THROWS_WITH(select_classes(d, std::vector<int>{5}), Catch::Contains("class 5 out of range"));

  const Dataset first = take_first(d, 3), last = take_last(d, 2);
  CHECK(first.size() == 3);
  CHECK(first.images[4] == 2.0f);
  CHECK(last.labels == std::vector<int>{3, 4});
  CHECK(last.images[0] == 8.0f);
  CHECK(take_first(d, 100).size() == 10);
  CHECK(take_last(d, 0).size() == 0);

  const Dataset both = concat(first, last);
  CHECK(both.size() == 5);
  CHECK(both.labels == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(both.images[8] == 9.0f);
  Dataset other = toy_dataset(2, 5);
  CHECK_THROWS_WITH(concat(d, other), Catch::Contains("different classes"));
  other.images.resize({2, 1, 2, 1});
  other.class_names = d.class_names;
  CHECK_THROWS_WITH(concat(d, other), Catch::Contains("image shapes"));

  const Dataset picked = subset(d, {9, 0, 9});
  CHECK(picked.labels == std::vector<int>{4, 0, 4});
  CHECK_THROWS_WITH(subset(d, {10}), Catch::Contains("index 10 out of range"));

  d.labels[3] = 7;
  CHECK_THROWS_WITH(d.validate("toy"), Catch::Contains("toy: label 7 of sample 3"));
  d.labels.pop_back();
  CHECK_THROWS_WITH(d.validate("toy"), Catch::Contains("10 images but 9 labels"));
}

// ---- DataLoader ----------------------------------------------------------------

namespace {
std::vector<std::vector<index_t>> epoch_indices(DataLoader& loader) {
  std::vector<std::vector<index_t>> out;
  for (const Batch& b : loader) out.push_back(b.indices);
  return out;
}
}  // namespace

TEST_CASE("DataLoader covers every sample once per epoch", "[data][loader]") {
  const Dataset d = toy_dataset(103, 7);
  DataLoader loader(d, DataLoaderOptions(10).shuffle(true).seed(5));
  CHECK(loader.size() == 11);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int> seen(103, 0);
    index_t batches = 0;
    for (const Batch& b : loader) {
      CHECK(b.epoch == epoch);
      CHECK(b.index == batches);
      CHECK(b.size() == (batches < 10 ? 10 : 3));  // the last batch is partial
      REQUIRE(b.images.shape() == Shape{b.size(), 1, 1, 2});
      REQUIRE(b.targets.shape() == Shape{b.size()});
      for (index_t k = 0; k < b.size(); ++k) {
        const index_t i = b.indices[static_cast<std::size_t>(k)];
        ++seen[static_cast<std::size_t>(i)];
        CHECK(b.images[2 * k] == static_cast<float>(i));
        CHECK(b.labels[static_cast<std::size_t>(k)] == d.labels[static_cast<std::size_t>(i)]);
        CHECK(b.targets[k] == static_cast<float>(d.labels[static_cast<std::size_t>(i)]));
      }
      ++batches;
    }
    CHECK(batches == 11);
    CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
  }
}

TEST_CASE("DataLoader order: seeded, reshuffled per epoch, drop_last, no shuffle", "[data][loader]") {
  const Dataset d = toy_dataset(50, 3);
  DataLoader a(d, DataLoaderOptions(8).shuffle(true).seed(1)), b(d, DataLoaderOptions(8).shuffle(true).seed(1)),
      c(d, DataLoaderOptions(8).shuffle(true).seed(2));
  const auto a0 = epoch_indices(a), a1 = epoch_indices(a);
  CHECK(a0 == epoch_indices(b));
  CHECK(a1 == epoch_indices(b));
  CHECK(a0 != a1);                  // a new order each epoch
  CHECK(a0 != epoch_indices(c));    // another seed, another order

  // Resuming at epoch 1 sees epoch 1's order.
  DataLoader resumed(d, DataLoaderOptions(8).shuffle(true).seed(1));
  resumed.set_epoch(1);
  CHECK(epoch_indices(resumed) == a1);

  DataLoader dropped(d, DataLoaderOptions(8).shuffle(true).seed(1).drop_last(true));
  CHECK(dropped.size() == 6);
  const auto dr = epoch_indices(dropped);
  REQUIRE(dr.size() == 6);
  for (const auto& batch : dr) CHECK(batch.size() == 8);
  CHECK(dr[0] == a0[0]);  // the same order, the short last batch left out

  DataLoader ordered(d, DataLoaderOptions(20).shuffle(false));
  const auto o = epoch_indices(ordered);
  REQUIRE(o.size() == 3);
  CHECK(o[2].size() == 10);
  std::vector<index_t> flat;
  for (const auto& batch : o) flat.insert(flat.end(), batch.begin(), batch.end());
  std::vector<index_t> expect(50);
  std::iota(expect.begin(), expect.end(), 0);
  CHECK(flat == expect);

  // next() API: nullptr ends the epoch, the next call starts another.
  DataLoader n(d, DataLoaderOptions(50).shuffle(false));
  const Batch* first = n.next();
  REQUIRE(first != nullptr);
  CHECK(first->size() == 50);
  CHECK(n.next() == nullptr);
  CHECK(n.epoch() == 0);
  Batch copy;
  CHECK(n.next(copy));
  CHECK(n.epoch() == 1);
  CHECK(copy.indices == expect);

  CHECK_THROWS_WITH(DataLoader(d, DataLoaderOptions(0)), Catch::Contains("batch_size must be positive"));
}

TEST_CASE("DataLoader prefetch gives the same batches, transforms included", "[data][loader]") {
  // Real pixel values in [0, 1] from an IDX round trip.
  const Bytes raw = idx_images(37, 4, 4, test_pixel);
  Dataset d;
  d.images = parse_idx_images(raw.data(), raw.size(), "mem");
  d.class_names = numbered_classes(3);
  for (int i = 0; i < 37; ++i) d.labels.push_back(i % 3);

  // A random transform: results depend on the Rng the loader hands it.
  const BatchTransform jitter = [](Tensor<float>& images, Rng& rng) {
    for (float& v : images) v = std::min(1.0f, std::max(0.0f, v + static_cast<float>(rng.uniform(-0.1, 0.1))));
  };
  for (bool drop_last : {false, true}) {
    DataLoader plain(d, DataLoaderOptions(5).shuffle(true).seed(9).drop_last(drop_last));
    DataLoader ahead(d, DataLoaderOptions(5).shuffle(true).seed(9).drop_last(drop_last).prefetch(true));
    plain.set_transform(jitter);
    ahead.set_transform(jitter);
    for (int epoch = 0; epoch < 3; ++epoch) {
      index_t count = 0;
      Batch x;
      while (plain.next(x)) {
        const Batch* y = ahead.next();
        REQUIRE(y != nullptr);
        CHECK(x.indices == y->indices);
        CHECK(x.labels == y->labels);
        CHECK(max_abs_diff(x.images, y->images) == 0.0f);
        CHECK(max_abs_diff(x.targets, y->targets) == 0.0f);
        for (float v : x.images) {
          CHECK(v >= 0.0f);
          CHECK(v <= 1.0f);
        }
        ++count;
      }
      CHECK(ahead.next() == nullptr);
      CHECK(count == (drop_last ? 7 : 8));
    }
  }

  // Without a transform the batch holds the dataset's values exactly.
  DataLoader ahead(d, DataLoaderOptions(6).shuffle(true).seed(3).prefetch(true));
  for (const Batch& b : ahead)
    for (index_t k = 0; k < b.size(); ++k)
      CHECK(max_abs_diff(Tensor<float>(b.images.sample(k)), Tensor<float>(d.image(b.indices[static_cast<std::size_t>(k)]))) == 0.0f);

  // A transform may change the shape (a random crop); prefetch still agrees.
  const BatchTransform crop = [](Tensor<float>& images, Rng& rng) {
    const index_t n = images.dim(0), oy = rng.integer(0, 1), ox = rng.integer(0, 1);
    Tensor<float> out({n, 1, 3, 3});
    for (index_t i = 0; i < n; ++i)
      for (index_t y = 0; y < 3; ++y)
        for (index_t x = 0; x < 3; ++x) out.at({i, 0, y, x}) = images.at({i, 0, y + oy, x + ox});
    images = out;
  };
  DataLoader crop_plain(d, DataLoaderOptions(8).shuffle(true).seed(4)), crop_ahead(d, DataLoaderOptions(8).shuffle(true).seed(4).prefetch(true));
  crop_plain.set_transform(crop);
  crop_ahead.set_transform(crop);
  for (int epoch = 0; epoch < 2; ++epoch) {
    Batch x;
    while (crop_plain.next(x)) {
      const Batch* y = crop_ahead.next();
      REQUIRE(y != nullptr);
      CHECK(x.images.shape() == Shape{x.size(), 1, 3, 3});
      CHECK(max_abs_diff(x.images, y->images) == 0.0f);
    }
    CHECK(crop_ahead.next() == nullptr);
  }

  // An exception in the transform reaches the caller, with or without prefetch.
  for (bool prefetch : {false, true}) {
    DataLoader failing(d, DataLoaderOptions(4).prefetch(prefetch));
    failing.set_transform([](Tensor<float>&, Rng&) { throw Error("transform failed"); });
    CHECK_THROWS_WITH(failing.next(), Catch::Contains("transform failed"));
    failing.set_transform(nullptr);
    CHECK(failing.next() != nullptr);
  }
}

TEST_CASE("DataLoader serves unlabelled datasets", "[data][loader]") {
  Dataset d = toy_dataset(5, 2);
  d.labels.clear();
  DataLoader loader(d, DataLoaderOptions(2).shuffle(false));
  const Batch* b = loader.next();
  REQUIRE(b != nullptr);
  CHECK(b->labels.empty());
  CHECK(b->targets.numel() == 0);
  CHECK(b->images.shape() == Shape{2, 1, 1, 2});
}

// ---- paths ---------------------------------------------------------------------

TEST_CASE("data paths: explicit, CAE_DATA, clear errors", "[data][paths]") {
  TempDir dir;
  fs::create_directories(dir / "mnist");
  CHECK(data_root(dir.path.string()) == dir.path.string());
  CHECK(dataset_dir(kMnistDir, dir.path.string()) == dir / "mnist");
  check_io_error([&] { dataset_dir(kCifar10JpgDir, dir.path.string()); },
                 {"data set 'cifar10-jpg' not found", dir / "cifar10-jpg", "--data"});
  check_io_error([&] { data_root(dir / "absent"); }, {"--data", "absent", "not a directory"});

  const char* old = std::getenv("CAE_DATA");
  const std::string saved = old ? old : "";
  ::setenv("CAE_DATA", dir.path.c_str(), 1);
  CHECK(data_root() == dir.path.string());
  CHECK(dataset_dir(kMnistDir) == dir / "mnist");
  ::setenv("CAE_DATA", (dir / "absent").c_str(), 1);
  check_io_error([&] { data_root(); }, {"CAE_DATA=", "absent", "not a directory"});
  if (old)
    ::setenv("CAE_DATA", saved.c_str(), 1);
  else
    ::unsetenv("CAE_DATA");
}

// ---- the real data sets, where installed ----------------------------------------

TEST_CASE("real MNIST: 60k + 10k, known first labels", "[data][real]") {
  const std::string dir = real_data_root() + "/mnist";
  if (!fs::is_directory(dir)) {
    WARN("skipped: no MNIST at " << dir << " (set CAE_DATA)");
    return;
  }
  const Dataset train = load_mnist_like(dir, true), test = load_mnist_like(dir, false);
  REQUIRE(train.images.shape() == Shape{60000, 1, 28, 28});
  REQUIRE(test.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(std::vector<int>(train.labels.begin(), train.labels.begin() + 5) == std::vector<int>{5, 0, 4, 1, 9});
  CHECK(std::vector<int>(test.labels.begin(), test.labels.begin() + 5) == std::vector<int>{7, 2, 1, 0, 4});
  double sum = 0;
  for (float v : train.image(0)) sum += std::lround(v * 255.0f);
  CHECK(sum == 27525);  // the first training image's pixel sum, from the raw bytes
  CHECK(*std::min_element(train.images.begin(), train.images.end()) == 0.0f);
  CHECK(*std::max_element(train.images.begin(), train.images.end()) == 1.0f);
  CHECK_NOTHROW(train.validate("mnist train"));
  DataLoader loader(train, DataLoaderOptions(64).shuffle(true).seed(1).prefetch(true));
  index_t n = 0;
  for (const Batch& b : loader) n += b.size();
  CHECK(n == 60000);
  CHECK(loader.size() == 938);
}

TEST_CASE("real Kannada-MNIST: 10k test images, 1000 per class", "[data][real]") {
  const std::string dir = real_data_root() + "/kannada-mnist";
  if (!fs::is_directory(dir)) {
    WARN("skipped: no Kannada-MNIST at " << dir << " (set CAE_DATA)");
    return;
  }
  const Dataset test = load_mnist_like(dir, false);
  REQUIRE(test.images.shape() == Shape{10000, 1, 28, 28});
  CHECK(class_counts(test) == std::vector<index_t>(10, 1000));
  CHECK(take_first(test, 8000).size() == 8000);
  CHECK(take_last(test, 2000).labels.size() == 2000);
}

TEST_CASE("real Fashion-MNIST: 60k + 10k from the Debian package", "[data][real]") {
  std::string dir;
  try {
    dir = dataset_dir(kFashionMnistDir, fs::is_directory(real_data_root()) ? real_data_root() : "");
  } catch (const IoError& e) {
    WARN("skipped: " << e.what());
    return;
  }
  const Dataset train = load_mnist_like(dir, true, fashion_mnist_classes());
  const Dataset test = load_mnist_like(dir, false, fashion_mnist_classes());
  REQUIRE(train.size() == 60000);
  REQUIRE(test.size() == 10000);
  CHECK(std::vector<int>(train.labels.begin(), train.labels.begin() + 5) == std::vector<int>{9, 0, 0, 3, 0});
  CHECK(std::vector<int>(test.labels.begin(), test.labels.begin() + 5) == std::vector<int>{9, 2, 1, 1, 6});
  CHECK(class_counts(train) == std::vector<index_t>(10, 6000));
  CHECK(class_counts(test) == std::vector<index_t>(10, 1000));
}

TEST_CASE("real CIFAR-10 jpg: 10k test and 50k train images", "[data][real][cifar]") {
  const std::string dir = real_data_root() + "/cifar10-jpg";
  if (!fs::is_directory(dir)) {
    WARN("skipped: no CIFAR-10 jpg at " << dir << " (set CAE_DATA)");
    return;
  }
  const Dataset test = load_image_folder(dir + "/test", ImageFolderOptions().channels(3));
  REQUIRE(test.images.shape() == Shape{10000, 3, 32, 32});
  CHECK(test.class_names == cifar10_classes());  // sorted folder names = CIFAR-10's class order
  CHECK(class_counts(test) == std::vector<index_t>(10, 1000));
  const Dataset cats = select_classes(test, std::vector<std::string>{"cat", "dog"});
  CHECK(cats.size() == 2000);
  CHECK(class_counts(cats) == std::vector<index_t>{1000, 1000});

  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  const Dataset train = load_image_folder(dir + "/train", ImageFolderOptions().channels(3));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::cout << "CIFAR-10 jpg train split: " << train.size() << " images decoded in " << seconds
            << " s wall, " << cpu << " s CPU, " << num_threads() << " OpenMP threads\n";
  REQUIRE(train.images.shape() == Shape{50000, 3, 32, 32});
  CHECK(class_counts(train) == std::vector<index_t>(10, 5000));
  CHECK(*std::max_element(train.images.begin(), train.images.end()) <= 1.0f);
  CHECK(*std::min_element(train.images.begin(), train.images.end()) >= 0.0f);
}
