// packed_gemm: the single-threaded matrix product under the convolutions,
//   C [m, n] = (accumulate ? C : 0) + op(A) [m, k] * op(B) [k, n]
// with row-major operands of any row stride, each optionally read transposed.
//
// For float on x86 with AVX-512 it is a cache-blocked product in the style of
// BLIS / GotoBLAS: op(A) is copied ("packed") in blocks of kMc x kKc into
// panels of MR rows, op(B) in blocks of kKc x kNc into panels of NR columns
// (a B stored row by row with few rows of A is read in place), and a
// register-blocked micro-kernel multiplies one MR-row panel by one NR-column
// panel, holding the 12 x 32 block of C in 24 vector registers. On the
// convolutions' shapes Eigen's product reaches 65-80 GFLOP/s on one Zen 4 core
// (peak ~112), this one 85-105, and it allocates nothing (the packed blocks
// live in a caller-owned GemmScratch). Other element types and CPUs (an AVX2
// version of this kernel was slower than Eigen there) use Eigen's product.
//
// Summation order depends only on the shapes (fixed blocking), so results are
// reproducible bitwise.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <Eigen/Core>

#if defined(__AVX512F__)
#include <immintrin.h>
#define CAE_PACKED_GEMM 1
#endif

#include "cae/kernels/workspace.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

// A row-major operand: element (r, c) of op(X) is data[r * ld + c], or
// data[c * ld + r] when transposed.
template <typename T>
struct MatrixRef {
  const T* data;
  index_t ld;
  bool transposed = false;
};

#ifdef CAE_PACKED_GEMM
namespace packed {

using Vec = __m512;
constexpr int kLanes = 16;
constexpr int kMr = 12;  // 12 x 32 block of C: 24 of the 32 vector registers
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vloadu(const float* p) { return _mm512_loadu_ps(p); }
inline void vstoreu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec vbroadcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }

constexpr int kNr = 2 * kLanes;  // columns of a micro-panel: two vectors
// Block sizes, measured on Zen 4 (L1 32 KB, L2 1 MB per core): the kMc x kKc
// block of A (192 KB) and a kKc x kNr panel of B (64 KB) stay in L2. A deep kKc
// matters most: C is loaded and stored once per kKc steps.
constexpr index_t kKc = 512;
constexpr index_t kMc = 96;
constexpr index_t kNc = 32 * kNr;

// Scratch elements for the packed blocks (plus alignment slack).
constexpr index_t kScratch = kMc * kKc + kKc * kNc + 64;

// C[0:MR, 0:kNr] (row stride ldc) = (accumulate ? C : 0) + a_panel * b_panel
// a_panel [kc][kMr] (its first MR rows are used), b_panel [kc][kNr] with rows
// ldb elements apart.
template <int MR>
inline void micro_kernel(index_t kc, const float* a, const float* b, index_t ldb, float* c,
                         index_t ldc, bool accumulate) {
  Vec acc0[MR], acc1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    acc0[r] = acc1[r] = vzero();
    // C is read only at the end: fetch it while the products run.
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNr - 1), _MM_HINT_T0);
  }
  for (index_t k = 0; k < kc; ++k, a += kMr, b += ldb) {
    const Vec b0 = vloadu(b), b1 = vloadu(b + kLanes);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const Vec ar = vbroadcast(a + r);
      acc0[r] = vfma(ar, b0, acc0[r]);
      acc1[r] = vfma(ar, b1, acc1[r]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    float* row = c + r * ldc;
    if (accumulate) {
      acc0[r] = vadd(acc0[r], vloadu(row));
      acc1[r] = vadd(acc1[r], vloadu(row + kLanes));
    }
    vstoreu(row, acc0[r]);
    vstoreu(row + kLanes, acc1[r]);
  }
}

// The micro-kernel for `rows` (1..kMr) rows of C and `cols` (1..kNr) columns;
// a partial block of columns goes through a local buffer.
inline void micro_tile(int rows, index_t cols, index_t kc, const float* a, const float* b,
                       index_t ldb, float* c, index_t ldc, bool accumulate) {
  alignas(64) float tmp[kMr * kNr];
  const bool full = cols == kNr;
  float* out = full ? c : tmp;
  const index_t ld = full ? ldc : kNr;
  const bool acc = full && accumulate;
  switch (rows) {
#define CAE_MICRO_CASE(R) \
  case R: micro_kernel<R>(kc, a, b, ldb, out, ld, acc); break;
    CAE_MICRO_CASE(1) CAE_MICRO_CASE(2) CAE_MICRO_CASE(3) CAE_MICRO_CASE(4)
    CAE_MICRO_CASE(5) CAE_MICRO_CASE(6) CAE_MICRO_CASE(7) CAE_MICRO_CASE(8)
    CAE_MICRO_CASE(9) CAE_MICRO_CASE(10) CAE_MICRO_CASE(11) CAE_MICRO_CASE(12)
#undef CAE_MICRO_CASE
    default: break;
  }
  if (full) return;
  for (int r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j)
      c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.f) + tmp[r * kNr + j];
}

// dst[r * ldd + c] = src[c * lds + r] for an 8 x 8 block.
inline void transpose8x8(const float* src, index_t lds, float* dst, index_t ldd) {
  __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
  __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
  __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
  __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  r0 = _mm256_shuffle_ps(t0, t2, 0x44);
  r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  r2 = _mm256_shuffle_ps(t1, t3, 0x44);
  r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  r4 = _mm256_shuffle_ps(t4, t6, 0x44);
  r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  r6 = _mm256_shuffle_ps(t5, t7, 0x44);
  r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(r0, r4, 0x20));
  _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(r1, r5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(r2, r6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(r3, r7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(r0, r4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(r1, r5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(r2, r6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(r3, r7, 0x31));
}

// Row panels of a block of mc rows: ceil(mc / kMr) panels of near-equal height
// (64 rows: 11, 11, 11, 11, 10, 10 rather than 12 x 5 + 4), since a short panel
// runs a slower micro-kernel. Panel p covers rows [start(p), start(p + 1)).
struct RowPanels {
  index_t count, mc;
  explicit RowPanels(index_t rows) : count((rows + kMr - 1) / kMr), mc(rows) {}
  index_t start(index_t p) const { return p * mc / count; }
};

// Packs rows [i0, i0+mc) x k-range [p0, p0+kc) of op(A) into panels
// [panel][kc][kMr] (see RowPanels), unused rows zero.
inline void pack_a(float* dst, const MatrixRef<float>& a, index_t i0, index_t mc, index_t p0,
                   index_t kc) {
  const RowPanels panels(mc);
  for (index_t q = 0; q < panels.count; ++q) {
    const index_t i = panels.start(q), rows = panels.start(q + 1) - i;
    float* panel = dst + q * kMr * kc;
    if (a.transposed) {
      // op(A)(r, k) = data[k * ld + r]: each k gives `rows` adjacent values,
      // moved by one masked load (zeros past `rows`) and store of kMr lanes.
      const __mmask16 load = static_cast<__mmask16>((1u << rows) - 1u);
      const __mmask16 store = static_cast<__mmask16>((1u << kMr) - 1u);
      const float* src = a.data + p0 * a.ld + i0 + i;
      for (index_t k = 0; k < kc; ++k)
        _mm512_mask_storeu_ps(panel + k * kMr, store, _mm512_maskz_loadu_ps(load, src + k * a.ld));
    } else {
      // Rows of data become columns of the panel: 8 rows at a time through
      // 8 x 8 register transposes, up to 4 more through 4 x 4 ones (missing
      // rows as zeros), and the last k < 8 one by one.
      const float* src = a.data + (i0 + i) * a.ld + p0;
      const index_t k8 = kc / 8 * 8;
      index_t r0 = 0;
      if (rows >= 8) {
        for (index_t k = 0; k < k8; k += 8) transpose8x8(src + k, a.ld, panel + k * kMr, kMr);
        r0 = 8;
      }
      for (; r0 < kMr; r0 += 4) {
        const index_t have = std::clamp<index_t>(rows - r0, 0, 4);
        for (index_t k = 0; k < k8; k += 4) {
          __m128 q[4];
          for (index_t r = 0; r < 4; ++r)
            q[r] = r < have ? _mm_loadu_ps(src + (r0 + r) * a.ld + k) : _mm_setzero_ps();
          _MM_TRANSPOSE4_PS(q[0], q[1], q[2], q[3]);
          for (index_t r = 0; r < 4; ++r) _mm_storeu_ps(panel + (k + r) * kMr + r0, q[r]);
        }
      }
      for (index_t r = 0; r < kMr; ++r)
        for (index_t k = k8; k < kc; ++k) panel[k * kMr + r] = r < rows ? src[r * a.ld + k] : 0.f;
    }
  }
}

// The whole of op(A) [m, k] packed block by block, for many products with the
// same A: block (ib, pb) (rows ib * kMc.., depth pb * kKc..) at block_offset().
inline index_t packed_a_blocks_k(index_t k) { return (k + kKc - 1) / kKc; }
inline index_t packed_a_size(index_t m, index_t k) {
  return ((m + kMc - 1) / kMc) * packed_a_blocks_k(k) * kMc * kKc;
}
inline index_t block_offset(index_t ib, index_t pb, index_t k) {
  return (ib * packed_a_blocks_k(k) + pb) * kMc * kKc;
}
inline void pack_a_all(float* dst, const MatrixRef<float>& a, index_t m, index_t k) {
  for (index_t i0 = 0, ib = 0; i0 < m; i0 += kMc, ++ib)
    for (index_t p0 = 0, pb = 0; p0 < k; p0 += kKc, ++pb)
      pack_a(dst + block_offset(ib, pb, k), a, i0, std::min(kMc, m - i0), p0, std::min(kKc, k - p0));
}

// Packs k-range [p0, p0+kc) x columns [j0, j0+nc) of op(B) into panels
// [nc/NR][kc][NR], the last panel zero-padded.
inline void pack_b(float* dst, const MatrixRef<float>& b, index_t p0, index_t kc, index_t j0,
                   index_t nc) {
  for (index_t j = 0; j < nc; j += kNr) {
    const index_t cols = std::min<index_t>(kNr, nc - j);
    float* panel = dst + j * kc;
    if (!b.transposed) {
      for (index_t k = 0; k < kc; ++k) {
        const float* src = b.data + (p0 + k) * b.ld + j0 + j;
        float* d = panel + k * kNr;
        if (cols == kNr) {
          vstoreu(d, vloadu(src));
          vstoreu(d + kLanes, vloadu(src + kLanes));
        } else {
          for (index_t c = 0; c < cols; ++c) d[c] = src[c];
          for (index_t c = cols; c < kNr; ++c) d[c] = 0.f;
        }
      }
    } else {
      // op(B)(k, c) = data[c * ld + k]: each column of the panel is a row of
      // data. Groups of 8 columns are transposed in 8 x 8 register blocks.
      const index_t k8 = kc / 8 * 8, c8 = cols / 8 * 8;
      for (index_t c = 0; c < c8; c += 8) {
        const float* src = b.data + (j0 + j + c) * b.ld + p0;
        for (index_t k = 0; k < k8; k += 8) transpose8x8(src + k, b.ld, panel + k * kNr + c, kNr);
      }
      for (index_t c = 0; c < kNr; ++c) {
        if (c >= cols) {
          for (index_t k = 0; k < kc; ++k) panel[k * kNr + c] = 0.f;
          continue;
        }
        const float* src = b.data + (j0 + j + c) * b.ld + p0;
        for (index_t k = c < c8 ? k8 : 0; k < kc; ++k) panel[k * kNr + c] = src[k];
      }
    }
  }
}

// prepacked_a: op(A) already packed by pack_a_all (a is then not read), or null.
inline void gemm(index_t m, index_t n, index_t k, const MatrixRef<float>& a,
                 const MatrixRef<float>& b, float* c, index_t ldc, bool accumulate,
                 float* scratch, const float* prepacked_a = nullptr) {
  // 64-byte aligned packed blocks.
  float* base = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(scratch) + 63) &
                                         ~std::uintptr_t(63));
  float* packed_a = base;
  float* packed_b = base + kMc * kKc;
  if (k == 0) {
    if (!accumulate)
      for (index_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  for (index_t j0 = 0; j0 < n; j0 += kNc) {
    const index_t nc = std::min(kNc, n - j0);
    for (index_t p0 = 0; p0 < k; p0 += kKc) {
      const index_t kc = std::min(kKc, k - p0);
      const bool acc = accumulate || p0 > 0;
      // A B stored row by row is read in place (its panels are already rows of
      // kNr adjacent values); only a transposed B, and the partial last panel,
      // are packed.
      // (With many rows of A the panels are read many times, and packed ones
      // stream better.)
      const bool in_place = !b.transposed && m <= kMc;
      if (in_place) {
        const index_t tail = nc % kNr;
        if (tail) pack_b(packed_b + (nc - tail) * kc, b, p0, kc, j0 + nc - tail, tail);
      } else {
        pack_b(packed_b, b, p0, kc, j0, nc);
      }
      for (index_t i0 = 0; i0 < m; i0 += kMc) {
        const index_t mc = std::min(kMc, m - i0);
        const float* block_a = packed_a;
        if (prepacked_a)
          block_a = prepacked_a + block_offset(i0 / kMc, p0 / kKc, k);
        else
          pack_a(packed_a, a, i0, mc, p0, kc);
        const RowPanels panels(mc);
        for (index_t j = 0; j < nc; j += kNr) {
          const index_t cols = std::min<index_t>(kNr, nc - j);
          const bool packed_panel = !in_place || cols < kNr;
          const float* panel = packed_panel ? packed_b + j * kc : b.data + p0 * b.ld + j0 + j;
          const index_t ldb = packed_panel ? kNr : b.ld;
          for (index_t q = 0; q < panels.count; ++q) {
            const index_t i = panels.start(q);
            const int rows = static_cast<int>(panels.start(q + 1) - i);
            micro_tile(rows, cols, kc, block_a + q * kMr * kc, panel, ldb,
                       c + (i0 + i) * ldc + j0 + j, ldc, acc);
          }
        }
      }
    }
  }
}

// gemm() run by the whole OpenMP team: each kKc x kNc block of B is packed once
// into `shared_b` by all threads together, then (row block of kMc, group of
// column panels) tasks share it, each packing its own block of A into `local`.
// Every element of C is summed by one task in the same order as gemm(), so
// results do not depend on the number of threads.
template <typename Scratch>
inline void parallel_gemm(index_t m, index_t n, index_t k, const MatrixRef<float>& a,
                          const MatrixRef<float>& b, float* c, index_t ldc, bool accumulate,
                          float* shared_b, const Scratch& local) {
  auto align = [](float* p) {
    return reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(p) + 63) & ~std::uintptr_t(63));
  };
  float* packed_b = align(shared_b);
  if (k == 0) {
    if (!accumulate)
      for (index_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  const index_t row_blocks = (m + kMc - 1) / kMc;
  // Small products run on the calling thread alone (same blocks, same sums).
#pragma omp parallel if (m * n * k > (index_t(1) << 18))
  {
    float* packed_a = align(local.local());
    for (index_t j0 = 0; j0 < n; j0 += kNc) {
      const index_t nc = std::min(kNc, n - j0), panels = (nc + kNr - 1) / kNr;
      // Enough tasks (about 24) to balance a team on a busy machine: split the
      // panels into groups when A has few row blocks. (The split does not
      // change any sum.)
      const index_t groups = std::min<index_t>(panels, (24 + row_blocks - 1) / row_blocks);
      for (index_t p0 = 0; p0 < k; p0 += kKc) {
        const index_t kc = std::min(kKc, k - p0);
        const bool acc = accumulate || p0 > 0;
#pragma omp for schedule(static)
        for (index_t q = 0; q < panels; ++q)
          pack_b(packed_b + q * kNr * kc, b, p0, kc, j0 + q * kNr, std::min<index_t>(kNr, nc - q * kNr));
#pragma omp for schedule(dynamic, 1)
        for (index_t task = 0; task < row_blocks * groups; ++task) {
          const index_t i0 = (task / groups) * kMc, mc = std::min(kMc, m - i0);
          const index_t g = task % groups;
          const index_t q0 = g * panels / groups, q1 = (g + 1) * panels / groups;
          pack_a(packed_a, a, i0, mc, p0, kc);
          const RowPanels row_panels(mc);
          for (index_t q = q0; q < q1; ++q) {
            const index_t j = q * kNr, cols = std::min<index_t>(kNr, nc - j);
            for (index_t r = 0; r < row_panels.count; ++r) {
              const index_t i = row_panels.start(r);
              const int rows = static_cast<int>(row_panels.start(r + 1) - i);
              micro_tile(rows, cols, kc, packed_a + r * kMr * kc, packed_b + j * kc, kNr,
                         c + (i0 + i) * ldc + j0 + j, ldc, acc);
            }
          }
        }
      }
    }
  }
}

}  // namespace packed
#endif  // CAE_PACKED_GEMM

// Memory for gemm()'s packed blocks, in a Scratch (workspace.hpp): one buffer
// per thread, and one of the calling thread that parallel_gemm()'s team shares.
template <typename T>
class GemmScratch {
 public:
  void share(const std::shared_ptr<Scratch>& s) { scratch_.share(s); }
  void reserve() {
#ifdef CAE_PACKED_GEMM
    if (std::is_same<T, float>::value) {
      buffers().reserve(packed::kScratch);
      ScratchBuffer<T>{&*scratch_, Scratch::kGemmShared}.reserve(packed::kKc * packed::kNc + 64);
    }
#endif
  }
  T* local() const { return buffers().local(); }
  ScratchBuffer<T> buffers() const { return {&*scratch_, Scratch::kGemmBlocks}; }
  T* shared() const { return scratch_->local<T>(Scratch::kGemmShared); }

 private:
  ScratchHandle scratch_;
};

// gemm() by Eigen's product (other types and CPUs).
template <typename T>
void eigen_gemm(index_t m, index_t n, index_t k, const MatrixRef<T>& a, const MatrixRef<T>& b,
                T* c, index_t ldc, bool accumulate) {
  using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>> C(c, m, n, Eigen::OuterStride<>(ldc));
  if (!accumulate) C.setZero();
  const Map A(a.data, a.transposed ? k : m, a.transposed ? m : k, Eigen::OuterStride<>(a.ld));
  const Map B(b.data, b.transposed ? n : k, b.transposed ? k : n, Eigen::OuterStride<>(b.ld));
  if (a.transposed && b.transposed) C.noalias() += A.transpose() * B.transpose();
  else if (a.transposed) C.noalias() += A.transpose() * B;
  else if (b.transposed) C.noalias() += A * B.transpose();
  else C.noalias() += A * B;
}

// C [m, n] (row stride ldc) = (accumulate ? C : 0) + op(A) [m, k] * op(B) [k, n]
template <typename T>
void gemm(index_t m, index_t n, index_t k, const MatrixRef<T>& a, const MatrixRef<T>& b, T* c,
          index_t ldc, bool accumulate, GemmScratch<T>& scratch) {
  if (m == 0 || n == 0) return;
#ifdef CAE_PACKED_GEMM
  if constexpr (std::is_same<T, float>::value) {
    packed::gemm(m, n, k, a, b, c, ldc, accumulate, scratch.local());
  } else {
    eigen_gemm(m, n, k, a, b, c, ldc, accumulate);
  }
#else
  (void)scratch;
  eigen_gemm(m, n, k, a, b, c, ldc, accumulate);
#endif
}

// op(A) [m, k] packed once for many products with different B, e.g. a
// convolution's weight used by every tile of a batch.
template <typename T>
class PackedOperand {
 public:
  // Call outside parallel regions: it may allocate. `a` must stay valid while
  // the packed operand is used (the Eigen fallback reads it in place).
  void pack(index_t m, index_t k, const MatrixRef<T>& a) {
    m_ = m;
    k_ = k;
    a_ = a;
#ifdef CAE_PACKED_GEMM
    if constexpr (std::is_same<T, float>::value) {
      data_.resize({packed::packed_a_size(m, k) + 16});
      packed::pack_a_all(aligned(), a, m, k);
    }
#endif
  }
  index_t rows() const { return m_; }
  index_t depth() const { return k_; }
  const MatrixRef<T>& source() const { return a_; }
  const T* aligned() const {
    return reinterpret_cast<const T*>((reinterpret_cast<std::uintptr_t>(data_.data()) + 63) &
                                      ~std::uintptr_t(63));
  }

 private:
  T* aligned() {
    return reinterpret_cast<T*>((reinterpret_cast<std::uintptr_t>(data_.data()) + 63) &
                                ~std::uintptr_t(63));
  }
  index_t m_ = 0, k_ = 0;
  MatrixRef<T> a_{nullptr, 0};
  Tensor<T> data_;
};

// C [m, n] (row stride ldc) = (accumulate ? C : 0) + A [m, k] * op(B) [k, n] with A packed.
template <typename T>
void gemm(const PackedOperand<T>& a, index_t n, const MatrixRef<T>& b, T* c, index_t ldc,
          bool accumulate, GemmScratch<T>& scratch) {
  if (a.rows() == 0 || n == 0) return;
#ifdef CAE_PACKED_GEMM
  if constexpr (std::is_same<T, float>::value) {
    packed::gemm(a.rows(), n, a.depth(), a.source(), b, c, ldc, accumulate, scratch.local(),
                 a.aligned());
  } else {
    gemm(a.rows(), n, a.depth(), a.source(), b, c, ldc, accumulate, scratch);
  }
#else
  gemm(a.rows(), n, a.depth(), a.source(), b, c, ldc, accumulate, scratch);
#endif
}

// gemm() computed by all threads: call it outside parallel regions. The
// result does not depend on the number of threads.
template <typename T>
void parallel_gemm(index_t m, index_t n, index_t k, const MatrixRef<T>& a, const MatrixRef<T>& b,
                   T* c, index_t ldc, bool accumulate, GemmScratch<T>& scratch) {
  if (m == 0 || n == 0) return;
  scratch.reserve();
#ifdef CAE_PACKED_GEMM
  if constexpr (std::is_same<T, float>::value) {
    packed::parallel_gemm(m, n, k, a, b, c, ldc, accumulate, scratch.shared(), scratch.buffers());
    return;
  }
#endif
  // Elsewhere: fixed blocks of rows of C, one serial product each (the float
  // case above returns before this is reached).
  constexpr index_t kRows = 64;
  const index_t blocks = (m + kRows - 1) / kRows;
#pragma omp parallel for schedule(dynamic, 1) if (m * n * k > (index_t(1) << 18))
  for (index_t blk = 0; blk < blocks; ++blk) {
    const index_t i0 = blk * kRows, rows = std::min(kRows, m - i0);
    const MatrixRef<T> a_rows{a.transposed ? a.data + i0 : a.data + i0 * a.ld, a.ld, a.transposed};
    gemm(rows, n, k, a_rows, b, c + i0 * ldc, ldc, accumulate, scratch);
  }
}

}  // namespace cae::kernels
