// The .cae container (cae/codec/container.hpp), alone and carrying rANS streams.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cae/codec/container.hpp"
#include "cae/codec/rans.hpp"
#include "cae/io/crc32.hpp"

using namespace cae;
using namespace cae::codec;

namespace {

CaeFile example_file() {
  CaeFile f;
  f.model_id = 0x0102030405060708ull;
  f.width = 5;
  f.height = 3;
  f.channels = 3;
  f.quality = 2;
  f.latent_shapes = {Shape{2, 1, 1}};
  f.streams = {{0xAA, 0xBB}};
  return f;
}

// Replaces the last 4 bytes by the CRC-32 of the others, so a test reaches
// the field checks behind the checksum.
std::vector<std::uint8_t> with_crc(std::vector<std::uint8_t> b) {
  const std::uint32_t c = io::crc32(b.data(), b.size() - 4);
  for (int i = 0; i < 4; ++i) b[b.size() - 4 + i] = static_cast<std::uint8_t>(c >> (8 * i));
  return b;
}

}  // namespace

TEST_CASE(".cae: the documented byte layout", "[codec][container]") {
  const std::vector<std::uint8_t> bytes = write_cae(example_file());
  std::vector<std::uint8_t> expected = {
      0x89, 'C', 'A', 'E', '\r', '\n', 0x1A, '\n',     // magic
      1, 0,                                            // version 1
      0, 0,                                            // flags
      8, 7, 6, 5, 4, 3, 2, 1,                          // model id
      5, 0, 0, 0,                                      // width
      3, 0, 0, 0,                                      // height
      3,                                               // channels
      2,                                               // quality
      1,                                               // latent count
      1,                                               // stream count
      3, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,           // latent 0: rank 3, [2, 1, 1]
      2, 0, 0, 0,                                      // stream 0: 2 bytes
      0xAA, 0xBB,                                      // stream 0
      0, 0, 0, 0};                                     // CRC-32, filled below
  expected = with_crc(expected);
  CHECK(bytes == expected);
  CHECK(bytes.size() == 32 + 13 + 4 + 2 + 4);

  const CaeFile g = parse_cae(bytes, "x.cae");
  const CaeFile f = example_file();
  CHECK(g.model_id == f.model_id);
  CHECK(g.width == 5);
  CHECK(g.height == 3);
  CHECK(g.channels == 3);
  CHECK(g.quality == 2);
  CHECK(g.latent_shapes == f.latent_shapes);
  CHECK(g.streams == f.streams);

  // No latents and no streams is a valid (if useless) file of 36 bytes.
  CaeFile bare = example_file();
  bare.latent_shapes.clear();
  bare.streams.clear();
  CHECK(write_cae(bare).size() == 36);
  CHECK(parse_cae(write_cae(bare), "bare.cae").streams.empty());
}

TEST_CASE(".cae: model identifiers", "[codec][container]") {
  // FNV-1a 64-bit test vectors.
  CHECK(model_id(std::vector<std::uint8_t>{}) == 0xcbf29ce484222325ull);
  CHECK(model_id("a", 1) == 0xaf63dc4c8601ec8cull);
  CHECK(model_id("foobar", 6) == 0x85944171f73967e8ull);
  const CaeFile f = example_file();
  CHECK_NOTHROW(check_model_id(f, 0x0102030405060708ull, "x.cae"));
  CHECK_THROWS_WITH(check_model_id(f, 0xcbf29ce484222325ull, "x.cae"),
                    Catch::Contains("x.cae: encoded with model 0x0102030405060708 but the model "
                                    "loaded to decode it is 0xcbf29ce484222325"));
}

TEST_CASE(".cae: truncated, extended and corrupted files are refused", "[codec][container]") {
  CaeFile f = example_file();
  f.latent_shapes = {Shape{192, 4, 6}, Shape{128, 1, 2}};
  f.streams = {std::vector<std::uint8_t>(300, 0x5A), std::vector<std::uint8_t>(40, 0x11)};
  const std::vector<std::uint8_t> bytes = write_cae(f);

  // Every truncation is an error, most of them saying "truncated".
  for (std::size_t n = 0; n < bytes.size(); ++n)
    CHECK_THROWS_AS(parse_cae(bytes.data(), n, "t.cae"), IoError);
  CHECK_THROWS_WITH(parse_cae(bytes.data(), bytes.size() - 1, "t.cae"),
                    Catch::Contains("t.cae: truncated: the header announces 2 streams of 340 bytes"));
  CHECK_THROWS_WITH(parse_cae(bytes.data(), 19, "t.cae"),
                    Catch::Contains("t.cae: truncated: the model id at byte 12 needs 8 bytes but the file has 19 bytes"));
  CHECK_THROWS_WITH(parse_cae(bytes.data(), 5, "t.cae"), Catch::Contains("too short to be a .cae file"));
  auto longer = bytes;
  longer.push_back(0);
  CHECK_THROWS_WITH(parse_cae(longer, "t.cae"), Catch::Contains("1 unexpected bytes after the checksum"));

  // Every single-byte change anywhere is an error.
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x40;
    CHECK_THROWS_AS(parse_cae(bad, "c.cae"), IoError);
  }
  auto flipped = bytes;
  flipped[100] ^= 1;
  CHECK_THROWS_WITH(parse_cae(flipped, "c.cae"),
                    Catch::Contains("c.cae: checksum mismatch") && Catch::Contains("the file is corrupt"));
  auto text = bytes;
  text[4] = '\n';  // what a CRLF -> LF conversion does
  CHECK_THROWS_WITH(parse_cae(text, "c.cae"), Catch::Contains("not a .cae file") &&
                                                  Catch::Contains("changed in transfer"));
  CHECK_THROWS_WITH(parse_cae(std::vector<std::uint8_t>(64, 'x'), "c.cae"),
                    Catch::Contains("c.cae: not a .cae file"));
  auto v2 = bytes;
  v2[8] = 2;
  CHECK_THROWS_WITH(parse_cae(v2, "c.cae"),
                    Catch::Contains("format version 2, but this reader knows only version 1"));
}

TEST_CASE(".cae: every field is bounds-checked", "[codec][container]") {
  const std::vector<std::uint8_t> good = write_cae(example_file());
  // Changes one little-endian field at `offset` and fixes the CRC.
  auto patched = [&](std::size_t offset, std::uint64_t value, int size) {
    auto b = good;
    for (int i = 0; i < size; ++i) b[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
    return with_crc(b);
  };
  CHECK_THROWS_WITH(parse_cae(patched(10, 1, 2), "f.cae"), Catch::Contains("f.cae: unknown flags 1"));
  CHECK_THROWS_WITH(parse_cae(patched(20, 0, 4), "f.cae"),
                    Catch::Contains("f.cae: image size 0x3 outside 1..65535 per side"));
  CHECK_THROWS_WITH(parse_cae(patched(24, 70000, 4), "f.cae"),
                    Catch::Contains("image size 5x70000 outside"));
  CHECK_THROWS_WITH(parse_cae(with_crc([&] {
                      auto b = patched(20, 65535, 4);
                      for (int i = 0; i < 4; ++i) b[24 + i] = i < 2 ? 0xFF : 0;
                      return b;
                    }()),
                              "f.cae"),
                    Catch::Contains("image size 65535x65535 above the limit of 67108864 pixels"));
  CHECK_THROWS_WITH(parse_cae(patched(28, 2, 1), "f.cae"),
                    Catch::Contains("channel count 2 (must be 1 or 3)"));
  CHECK_THROWS_WITH(parse_cae(patched(30, 9, 1), "f.cae"),
                    Catch::Contains("9 latents, above the limit of 8"));
  CHECK_THROWS_WITH(parse_cae(patched(31, 17, 1), "f.cae"),
                    Catch::Contains("17 streams, above the limit of 16"));
  CHECK_THROWS_WITH(parse_cae(patched(32, 0, 1), "f.cae"),
                    Catch::Contains("latent 0 has rank 0 (must be 1..4)"));
  CHECK_THROWS_WITH(parse_cae(patched(32, 5, 1), "f.cae"), Catch::Contains("latent 0 has rank 5"));
  CHECK_THROWS_WITH(parse_cae(patched(33, 0, 4), "f.cae"),
                    Catch::Contains("latent 0 has shape [0, 1, 1]: every dimension must be in 1..67108864"));
  CHECK_THROWS_WITH(parse_cae(patched(37, (1u << 25) + 1, 4), "f.cae"),
                    Catch::Contains("latent 0 has shape [2, 33554433, 1], above the limit of 67108864 elements"));
  // A stream length beyond the file.
  CHECK_THROWS_WITH(parse_cae(patched(45, 0xFFFFFFFFu, 4), "f.cae"),
                    Catch::Contains("f.cae: truncated: the header announces 1 streams of 4294967295 bytes"));

  // The writer refuses what the reader would refuse.
  CaeFile f = example_file();
  f.channels = 4;
  CHECK_THROWS_WITH(write_cae(f), Catch::Contains("write_cae: channel count 4"));
  f = example_file();
  f.latent_shapes = {Shape{1 << 13, 1 << 13}, Shape{1 << 13, 1 << 13}};
  CHECK_THROWS_WITH(write_cae(f), Catch::Contains("latents hold 134217728 elements together"));
  f = example_file();
  f.streams.resize(17);
  CHECK_THROWS_WITH(write_cae(f), Catch::Contains("17 streams"));
}

TEST_CASE(".cae: rANS streams through a file on disk", "[codec][container][rans]") {
  std::mt19937_64 rng(11);
  std::vector<CdfTable> tables;
  for (int k = 0; k < 3; ++k) {
    std::vector<float> pmf(21);
    for (int s = 0; s < 21; ++s) pmf[s] = static_cast<float>(std::exp(-std::abs(s - 10) / (1.0 + k)));
    tables.push_back(pmf_to_cdf(pmf, 1e-4f, -10));
  }
  // A latent [3, 8, 8] with one table per channel, as a factorized prior codes it.
  const Shape shape{3, 8, 8};
  std::vector<std::int32_t> symbols(static_cast<std::size_t>(shape.numel())), indexes(symbols.size());
  for (std::size_t i = 0; i < symbols.size(); ++i) {
    indexes[i] = static_cast<std::int32_t>(i / 64);
    symbols[i] = static_cast<std::int32_t>(rng() % 7) - 3 + (i == 5 ? 500 : 0);
  }
  CaeFile f = example_file();
  f.latent_shapes = {shape};
  f.streams = {encode_with_indexes(symbols, indexes, tables)};
  const std::string path =
      (std::filesystem::temp_directory_path() / ("cae_test_" + std::to_string(rng()) + ".cae")).string();
  save_cae(path, f);
  const CaeFile g = load_cae(path);
  std::remove(path.c_str());
  REQUIRE(g.latent_shapes == f.latent_shapes);
  CHECK(decode_with_indexes(g.streams[0], indexes, tables, path + " stream 0") == symbols);
  CHECK_THROWS_WITH(load_cae(path), Catch::Contains(path + ": cannot open"));
}
