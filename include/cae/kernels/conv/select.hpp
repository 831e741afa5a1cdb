// Which convolution algorithm runs, decided in one place (as ATen's
// select_conv_backend): from the shapes, the element type and, at runtime,
// the CPU.
//
//   Direct      loops over the image rows in place (conv/direct.hpp): few
//               filters (up to 4; up to 16 at stride 1 when the AVX-512
//               register-blocked loops can run)
//   Winograd    F(2x2, 3x3) (conv/winograd.hpp), Conv2d only: 3x3 at stride 1
//               with both channel counts >= 32 and >= 8 groups of tiles
//   Im2colGemm  column tiles times the weight by the packed GEMM
//               (conv/im2col_gemm.hpp): everything else
//
// Every algorithm computes every shape it supports (conv_algorithm_supports);
// a layer can force one (Conv2dOptions(...).algorithm(ConvAlgorithm::Direct))
// and the tests run each on every shape it supports. For ConvTranspose2d,
// `filters` is its in_channels and `g` the geometry of the convolution it is
// the transpose of (see conv_transpose2d.hpp).
#pragma once

#include <type_traits>

#include "cae/error.hpp"
#include "cae/kernels/conv/direct.hpp"
#include "cae/kernels/conv/winograd.hpp"
#include "cae/kernels/im2col.hpp"

namespace cae::kernels {

enum class ConvAlgorithm { Auto, Direct, Winograd, Im2colGemm };
enum class ConvKind { Conv2d, ConvTranspose2d };

inline const char* to_string(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::Direct: return "direct";
    case ConvAlgorithm::Winograd: return "winograd";
    case ConvAlgorithm::Im2colGemm: return "im2col_gemm";
    default: return "auto";
  }
}

// What select_conv_algorithm chose and why (a fixed string: selecting
// allocates nothing, so it can run on every batch).
struct ConvChoice {
  ConvAlgorithm algorithm;
  const char* reason;
};

// Whether the AVX-512 code paths can run: compiled in (-march with AVX-512F)
// and present on this CPU. A binary built with AVX-512 uses it everywhere, so
// on a CPU without it it would fail before getting here; the check makes the
// selector's choice a runtime fact rather than an #ifdef.
inline bool cpu_has_avx512() {
#if defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
  static const bool present = __builtin_cpu_supports("avx512f");
  return present;
#else
  return false;
#endif
}

namespace detail {
// Up to this many filters the direct loops beat im2col + GEMM; with AVX-512 at
// stride 1 (register-blocked loops) up to kDirectFiltersAvx512.
// Measured on Zen 4, forward + backward: Conv2d(16, 8, 3) on 14x14 2.2x faster
// than im2col + GEMM, LeNet's Conv2d(6, 16, 5) 1.15x, Conv2d(16, 32, 3) 1.2x slower.
constexpr index_t kDirectFilters = 4;
constexpr index_t kDirectFiltersAvx512 = 16;
}  // namespace detail

inline bool conv_algorithm_supports(ConvAlgorithm a, ConvKind kind, const ConvGeometry& g) {
  switch (a) {
    case ConvAlgorithm::Winograd: return kind == ConvKind::Conv2d && winograd_supports(g);
    case ConvAlgorithm::Auto:
    case ConvAlgorithm::Direct:
    case ConvAlgorithm::Im2colGemm: return true;
  }
  return false;
}

// The algorithm for a convolution of `batch` images with `filters` filters;
// `single` is whether the element type is float. `forced` other than Auto is
// returned as it is if it supports the shape, else this throws cae::Error.
inline ConvChoice select_conv_algorithm(ConvKind kind, const ConvGeometry& g, index_t filters,
                                        index_t batch, bool single,
                                        ConvAlgorithm forced = ConvAlgorithm::Auto) {
  using namespace detail;
  if (forced != ConvAlgorithm::Auto) {
    CAE_CHECK(conv_algorithm_supports(forced, kind, g), Error, "conv algorithm ",
              to_string(forced),
              " cannot run this convolution: Winograd needs a Conv2d with a 3x3 kernel, stride 1, "
              "no dilation, padding <= 2 and an output of at least 2x2");
    return {forced, "forced by the layer's options"};
  }
  if (kind == ConvKind::Conv2d && winograd_applies(g, filters, batch))
    return {ConvAlgorithm::Winograd,
            "3x3 at stride 1, both channel counts >= 32, >= 8 groups of 2x2 output tiles"};
  if (filters <= kDirectFilters) return {ConvAlgorithm::Direct, "at most 4 filters"};
  if (cpu_has_avx512() && single && filters <= kDirectFiltersAvx512 && g.stride_w == 1 &&
      g.stride_h == 1 && g.kernel_w <= 5 && g.out_w <= 16 * kMaxGradBlocks)
    return {ConvAlgorithm::Direct,
            "at most 16 filters at stride 1, kernel width <= 5, output rows <= 512, float on an "
            "AVX-512 CPU"};
  return {ConvAlgorithm::Im2colGemm, "no faster algorithm applies"};
}

template <typename T>
ConvChoice select_conv_algorithm(ConvKind kind, const ConvGeometry& g, index_t filters,
                                 index_t batch, ConvAlgorithm forced = ConvAlgorithm::Auto) {
  return select_conv_algorithm(kind, g, filters, batch, std::is_same<T, float>::value, forced);
}

}  // namespace cae::kernels
