#!/usr/bin/env bash
# Writes seed inputs for fuzz_codec into DIR: .cae files (without their CRC,
# which the target appends) whose streams code random latents with the fixed
# tables, and raw rANS streams with escapes. The writer is compiled from the
# C++ below, so the seeds come from cae's own encoder.
set -euo pipefail
dir=$1
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/seeds.cpp" <<'CPP'
#include <fstream>
#include <random>
#include <string>
#include "cae/codec/container.hpp"
#include "cae/codec/rans.hpp"
#include "fuzz_codec_tables.hpp"
using namespace cae::codec;
static void write(const std::string& path, std::uint8_t mode, const std::vector<std::uint8_t>& b) {
  std::ofstream out(path, std::ios::binary);
  out.put(static_cast<char>(mode));
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
int main(int, char** argv) {
  const std::string dir = argv[1];
  const auto tables = fuzz_codec::tables();
  std::mt19937_64 rng(1);
  const cae::Shape shapes[] = {{5, 4, 4}, {2, 3}, {7}, {3, 2, 2, 2}};
  for (int k = 0; k < 4; ++k) {
    CaeFile f;
    f.model_id = rng();
    f.width = 64 + 16 * k, f.height = 48, f.channels = k % 2 ? 1 : 3, f.quality = static_cast<std::uint8_t>(k);
    for (int j = 0; j <= k % 2; ++j) {
      const cae::Shape s = shapes[(k + j) % 4];
      const auto idx = fuzz_codec::indexes_for(s, tables.size());
      std::vector<std::int32_t> sym(idx.size());
      for (auto& v : sym) v = static_cast<std::int32_t>(rng() % 9) - 4 + (rng() % 10 == 0 ? 100 : 0);
      f.latent_shapes.push_back(s);
      f.streams.push_back(encode_with_indexes(sym, idx, tables));
    }
    auto bytes = write_cae(f);
    bytes.resize(bytes.size() - 4);
    write(dir + "/cae_" + std::to_string(k), 0, bytes);
  }
  for (int k = 0; k < 4; ++k) {
    const std::size_t count = 1 + rng() % 300;
    const std::uint8_t mode = static_cast<std::uint8_t>(1 + 2 * k);
    std::vector<std::int32_t> idx(count), sym(count);
    for (std::size_t i = 0; i < count; ++i) {
      idx[i] = static_cast<std::int32_t>((i * 7 + mode / 2) % tables.size());
      sym[i] = static_cast<std::int32_t>(rng() % 21) - 10 + (rng() % 20 == 0 ? -70000 : 0);
    }
    std::vector<std::uint8_t> b = {static_cast<std::uint8_t>(count), static_cast<std::uint8_t>(count >> 8)};
    const auto s = encode_with_indexes(sym, idx, tables);
    b.insert(b.end(), s.begin(), s.end());
    write(dir + "/rans_" + std::to_string(k), mode, b);
  }
}
CPP
"${CXX:-c++}" -std=c++17 -O1 -Iinclude -Ifuzz "$work/seeds.cpp" -o "$work/seeds"
"$work/seeds" "$dir"
