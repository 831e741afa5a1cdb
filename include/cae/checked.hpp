// Size arithmetic that cannot overflow silently. Every size read from a file
// (tensor dimensions, element counts, byte counts) goes through these, so a
// crafted header cannot wrap a product around to a small number and make a
// reader copy more bytes than it allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "cae/error.hpp"

namespace cae {

// A size (element count, byte count, dimension product) that does not fit in
// 64 bits, or a negative dimension where a size was expected.
class SizeOverflowError : public ShapeError {
 public:
  using ShapeError::ShapeError;
};

// a * b for non-negative sizes; false (and *out untouched) when either is
// negative or the product does not fit in std::int64_t.
inline bool checked_mul(std::int64_t a, std::int64_t b, std::int64_t* out) {
  std::int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}
inline bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t* out) {
  std::uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

// a * b, throwing SizeOverflowError naming `what` when it does not fit.
inline std::int64_t checked_mul(std::int64_t a, std::int64_t b, const char* what) {
  std::int64_t r = 0;
  CAE_CHECK(checked_mul(a, b, &r), SizeOverflowError, what, ": size ", a, " x ", b,
            a < 0 || b < 0 ? " has a negative factor" : " overflows 64 bits");
  return r;
}

// The product of n dimensions; throws SizeOverflowError naming `what` when one
// is negative or the product overflows.
inline std::int64_t checked_numel(const std::int64_t* dims, int n, const char* what) {
  std::int64_t total = 1;
  for (int i = 0; i < n; ++i) {
    CAE_CHECK(dims[i] >= 0, SizeOverflowError, what, ": negative dimension ", dims[i]);
    CAE_CHECK(checked_mul(total, dims[i], &total), SizeOverflowError, what,
              ": the product of the dimensions overflows 64 bits (at dimension ", i, " = ", dims[i], ")");
  }
  return total;
}

// count elements of elem_size bytes, as a size_t byte count; throws
// SizeOverflowError naming `what` when it does not fit.
inline std::size_t checked_bytes(std::int64_t count, std::size_t elem_size, const char* what) {
  CAE_CHECK(count >= 0, SizeOverflowError, what, ": negative element count ", count);
  std::size_t bytes = 0;
  CAE_CHECK(!__builtin_mul_overflow(static_cast<std::uint64_t>(count), elem_size, &bytes), SizeOverflowError,
            what, ": ", count, " elements of ", elem_size, " bytes overflow the address space");
  return bytes;
}

}  // namespace cae
