// CRC-32 as in zlib, PNG and gzip (reflected polynomial 0xEDB88320, initial
// value and final XOR 0xFFFFFFFF): crc32("123456789") == 0xCBF43926.
// Checkpoints store it to detect corrupted files.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace cae::io {

namespace detail {
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
inline constexpr std::array<std::uint32_t, 256> kCrc32Table = make_crc32_table();
}  // namespace detail

// Continues a running checksum: crc32(b, nb, crc32(a, na)) == crc32(a + b).
inline std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = detail::kCrc32Table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

}  // namespace cae::io
