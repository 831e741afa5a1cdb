// Tensor<T>: a contiguous, row-major (NCHW for images), 64-byte aligned array.
//
// Copying a Tensor copies its data (value semantics). Views that share data are
// made explicitly with reshape(), view() and sample(); they keep the storage
// alive. resize() reuses the existing allocation when it is large enough, which
// is how layers keep their output buffers without allocating per batch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include <Eigen/Core>

#include "cae/checked.hpp"
#include "cae/error.hpp"
#include "cae/random.hpp"
#include "cae/shape.hpp"

namespace cae {

template <typename T>
class Tensor {
  static_assert(std::is_floating_point<T>::value, "Tensor<T> needs a floating-point T");

 public:
  using value_type = T;
  using MatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  using ConstMatrixMap =
      Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  using VectorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;
  using ConstVectorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;

  static constexpr std::size_t kAlignment = 64;

  Tensor() = default;
  explicit Tensor(const Shape& shape) { resize(shape); }
  Tensor(const Shape& shape, T value) : Tensor(shape) { fill(value); }

  Tensor(const Tensor& other) {
    if (!other.storage_ && other.rank() == 0) return;  // copy of an undefined tensor
    resize(other.shape_);
    if (numel()) std::memcpy(data(), other.data(), sizeof(T) * numel());
  }
  // Assignment replaces the tensor (a view stops being one); it never writes
  // into shared data. Use copy_from() to write into a view.
  Tensor& operator=(const Tensor& other) {
    if (this == &other) return *this;
    if (!other.defined()) return *this = Tensor();
    if (is_view_) *this = Tensor();
    resize(other.shape_);
    if (numel()) std::memcpy(data(), other.data(), sizeof(T) * numel());
    return *this;
  }
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  // Copies src's elements into this tensor's (possibly shared) data; the shapes must match.
  void copy_from(const Tensor& src) {
    CAE_CHECK(src.shape_ == shape_, ShapeError, "Tensor::copy_from: source shape ", src.shape_,
              " differs from ", shape_);
    if (numel()) std::memmove(data(), src.data(), sizeof(T) * numel());
  }

  // A tensor holding a copy of `values`, for tests and small constants.
  static Tensor from(const Shape& shape, std::initializer_list<T> values) {
    Tensor t(shape);
    CAE_CHECK(static_cast<index_t>(values.size()) == t.numel(), ShapeError, "Tensor::from: shape ",
              shape, " needs ", t.numel(), " values, got ", values.size());
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  index_t dim(int axis) const { return shape_.at(axis); }
  // A default-constructed tensor is undefined: rank 0 and no elements (a
  // rank-0 tensor that was resized holds one, a scalar).
  index_t numel() const { return storage_ || shape_.rank() > 0 ? shape_.numel() : 0; }
  bool empty() const { return numel() == 0; }
  bool defined() const { return storage_ != nullptr || shape_.rank() > 0; }
  bool is_view() const { return is_view_; }

  T* data() { return storage_.get() + offset_; }
  const T* data() const { return storage_.get() + offset_; }
  T* begin() { return data(); }
  T* end() { return data() + numel(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + numel(); }

  T& operator[](index_t i) { return data()[i]; }
  const T& operator[](index_t i) const { return data()[i]; }

  // Bounds-checked element access by full index, e.g. t.at({n, c, h, w}).
  T& at(std::initializer_list<index_t> idx) { return data()[flat_index(idx)]; }
  const T& at(std::initializer_list<index_t> idx) const { return data()[flat_index(idx)]; }

  // Sets the shape. Keeps the allocation when it is big enough and not shared;
  // the contents are unspecified afterwards. Views cannot be resized.
  void resize(const Shape& shape) {
    if (shape == shape_ && (storage_ || shape.numel() == 0) && defined()) return;
    CAE_CHECK(!is_view_, ShapeError, "Tensor: cannot resize a view of shape ", shape_, " to ",
              shape);
    const index_t n = shape.numel();
    if (n > capacity_ || (storage_ && storage_.use_count() > 1)) {
      storage_ = allocate(n);
      capacity_ = n;
    }
    shape_ = shape;
    offset_ = 0;
  }

  void fill(T value) { std::fill(begin(), end(), value); }
  void zero() { fill(T(0)); }

  void fill_uniform(Rng& rng, T low, T high) {
    for (T& v : *this) v = static_cast<T>(rng.uniform(low, high));
  }
  void fill_normal(Rng& rng, T mean, T stddev) {
    for (T& v : *this) v = static_cast<T>(rng.normal(mean, stddev));
  }

  // A view with another shape of the same size; shares the data.
  Tensor reshape(const Shape& shape) const {
    CAE_CHECK(shape.numel() == numel(), ShapeError, "Tensor::reshape: cannot view ", shape_,
              " (", numel(), " elements) as ", shape, " (", shape.numel(), " elements)");
    return make_view(shape, offset_);
  }
  // A view of the whole tensor; shares the data.
  Tensor view() const { return make_view(shape_, offset_); }
  // A view of rows [begin, end) of the first dimension; shares the data.
  Tensor slice(index_t begin_row, index_t end_row) const {
    CAE_CHECK(rank() >= 1 && begin_row >= 0 && begin_row <= end_row && end_row <= dim(0),
              ShapeError, "Tensor::slice: rows [", begin_row, ", ", end_row, ") of ", shape_);
    Shape s = shape_;
    s[0] = end_row - begin_row;
    return make_view(s, offset_ + begin_row * (numel() / std::max<index_t>(dim(0), 1)));
  }
  // A view of sample n of a batch (drops the first dimension).
  Tensor sample(index_t n) const { return slice(n, n + 1).reshape(shape_.drop_front()); }

  // Zero-copy Eigen views for GEMM. A rank-2 view of rows x cols over the data.
  MatrixMap matrix(index_t rows, index_t cols) {
    check_matrix(rows, cols);
    return MatrixMap(data(), rows, cols);
  }
  ConstMatrixMap matrix(index_t rows, index_t cols) const {
    check_matrix(rows, cols);
    return ConstMatrixMap(data(), rows, cols);
  }
  // The tensor as [dim(0), numel/dim(0)].
  MatrixMap matrix() { return matrix(dim(0), numel() / std::max<index_t>(dim(0), 1)); }
  ConstMatrixMap matrix() const { return matrix(dim(0), numel() / std::max<index_t>(dim(0), 1)); }
  VectorMap vector() { return VectorMap(data(), numel()); }
  ConstVectorMap vector() const { return ConstVectorMap(data(), numel()); }

  // Converts element type, e.g. a double tensor to float.
  template <typename U>
  Tensor<U> cast() const {
    Tensor<U> out(shape_);
    std::transform(begin(), end(), out.begin(), [](T v) { return static_cast<U>(v); });
    return out;
  }

 private:
  struct FreeDeleter {
    void operator()(T* p) const { std::free(p); }
  };

  static std::shared_ptr<T> allocate(index_t n) {
    if (n == 0) return {};
    // sizeof(T) * n and the rounding up must not wrap around to a small buffer.
    std::size_t bytes = checked_bytes(n, sizeof(T), "Tensor");
    CAE_CHECK(bytes <= SIZE_MAX - kAlignment, SizeOverflowError, "Tensor: ", n,
              " elements overflow the address space");
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (!p) throw std::bad_alloc();
    return std::shared_ptr<T>(static_cast<T*>(p), FreeDeleter());
  }

  Tensor make_view(const Shape& shape, index_t offset) const {
    Tensor v;
    v.storage_ = storage_;
    v.shape_ = shape;
    v.offset_ = offset;
    v.capacity_ = shape.numel();
    v.is_view_ = true;
    return v;
  }

  index_t flat_index(std::initializer_list<index_t> idx) const {
    CAE_CHECK(static_cast<int>(idx.size()) == rank(), ShapeError, "Tensor::at: ", idx.size(),
              " indices for a tensor of shape ", shape_);
    index_t flat = 0;
    int axis = 0;
    for (index_t i : idx) {
      CAE_CHECK(i >= 0 && i < shape_[axis], ShapeError, "Tensor::at: index ", i, " out of range on axis ",
                axis, " of shape ", shape_);
      flat = flat * shape_[axis] + i;
      ++axis;
    }
    return flat;
  }

  void check_matrix(index_t rows, index_t cols) const {
    CAE_CHECK(rows * cols == numel(), ShapeError, "Tensor::matrix: ", rows, "x", cols,
              " does not cover shape ", shape_);
  }

  std::shared_ptr<T> storage_;
  Shape shape_;
  index_t offset_ = 0;
  index_t capacity_ = 0;
  bool is_view_ = false;
};

// Largest absolute difference between two tensors of the same shape.
template <typename T>
T max_abs_diff(const Tensor<T>& a, const Tensor<T>& b) {
  CAE_CHECK(a.shape() == b.shape(), ShapeError, "max_abs_diff: shapes ", a.shape(), " and ",
            b.shape());
  T m = 0;
  for (index_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace cae
