// Rng: a small, seeded generator whose streams are identical on every platform
// and standard library (std::normal_distribution is not), so a seed reproduces
// initial weights, shuffles and distortions everywhere.
#pragma once

#include <cmath>
#include <cstdint>

namespace cae {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0x5eedULL) { seed_with(seed); }

  void seed_with(std::uint64_t seed) {
    // splitmix64 spreads a small seed over the whole state of xoshiro256**.
    std::uint64_t z = seed;
    for (auto& s : state_) {
      z += 0x9e3779b97f4a7c15ULL;
      std::uint64_t x = z;
      x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
      x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
      s = x ^ (x >> 31);
    }
    has_spare_normal_ = false;
  }

  // Next 64 random bits (xoshiro256**).
  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }

  // Uniform integer in [0, n), without modulo bias.
  std::uint64_t below(std::uint64_t n) {
    if (n <= 1) return 0;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x;
    do x = next_u64();
    while (x >= limit);
    return x % n;
  }
  // Uniform integer in [low, high], both included.
  std::int64_t integer(std::int64_t low, std::int64_t high) {
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low) + 1));
  }

  // Normal deviate (Marsaglia's polar method; it caches the second value).
  double normal(double mean = 0.0, double stddev = 1.0) {
    if (has_spare_normal_) {
      has_spare_normal_ = false;
      return mean + stddev * spare_normal_;
    }
    double u, v, s;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double m = std::sqrt(-2.0 * std::log(s) / s);
    spare_normal_ = v * m;
    has_spare_normal_ = true;
    return mean + stddev * u * m;
  }

  bool bernoulli(double p) { return uniform() < p; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
  double spare_normal_ = 0.0;
  bool has_spare_normal_ = false;
};

// The generator layers use for default initialization, like torch's default
// generator; manual_seed() makes model construction reproducible.
inline Rng& global_rng() {
  static Rng rng;
  return rng;
}
inline void manual_seed(std::uint64_t seed) { global_rng().seed_with(seed); }

}  // namespace cae
