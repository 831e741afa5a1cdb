// Shape: the dimensions of a tensor, stored inline (no heap) because shapes are
// created on every forward call.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "cae/checked.hpp"
#include "cae/error.hpp"

namespace cae {

using index_t = std::int64_t;

class Shape {
 public:
  static constexpr int kMaxRank = 6;

  Shape() = default;
  Shape(std::initializer_list<index_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<index_t>& dims) { assign(dims.begin(), dims.end()); }

  int rank() const { return rank_; }
  index_t operator[](int i) const { return dims_[check_axis(i)]; }
  index_t& operator[](int i) { return dims_[check_axis(i)]; }
  // Negative axes count from the back, as in PyTorch: shape.at(-1) is the last dimension.
  index_t at(int i) const { return (*this)[i < 0 ? i + rank_ : i]; }

  // Throws SizeOverflowError when the product does not fit in index_t (a
  // shape read from a hostile file), rather than wrapping around.
  index_t numel() const {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i)
      if (__builtin_mul_overflow(n, dims_[i], &n)) overflow();
    return n;
  }

  const index_t* begin() const { return dims_.data(); }
  const index_t* end() const { return dims_.data() + rank_; }
  std::vector<index_t> to_vector() const { return {begin(), end()}; }

  // Shape without its first dimension: the per-sample shape of a batch.
  Shape drop_front() const {
    CAE_CHECK(rank_ > 0, ShapeError, "Shape::drop_front on a rank-0 shape");
    Shape s;
    for (int i = 1; i < rank_; ++i) s.push_back(dims_[i]);
    return s;
  }
  // Shape with `n` put in front: a batch of this per-sample shape.
  Shape prepend(index_t n) const {
    Shape s{n};
    for (int i = 0; i < rank_; ++i) s.push_back(dims_[i]);
    return s;
  }
  void push_back(index_t d) {
    CAE_CHECK(rank_ < kMaxRank, ShapeError, "Shape: rank above ", kMaxRank);
    CAE_CHECK(d >= 0, ShapeError, "Shape: negative dimension ", d);
    dims_[rank_++] = d;
  }

  bool operator==(const Shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
      if (dims_[i] != o.dims_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }

  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
    return s + "]";
  }

 private:
  template <typename It>
  void assign(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }
  [[noreturn]] void overflow() const {
    throw SizeOverflowError(::cae::str("Shape ", str(), ": the number of elements overflows 64 bits"));
  }
  int check_axis(int i) const {
    CAE_CHECK(i >= 0 && i < rank_, ShapeError, "Shape: axis ", i, " out of range for rank ", rank_);
    return i;
  }

  std::array<index_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// "[-1, C, H, W]": a per-sample shape with the batch dimension left open.
inline std::string batch_shape_str(const Shape& s) {
  return s.rank() == 0 ? "[-1]" : "[-1, " + s.str().substr(1);
}

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

}  // namespace cae
