// Loss<T>: the contract every loss follows.
//
//   forward(pred, target)  Returns the scalar loss, averaged over all elements
//                          (PyTorch's reduction='mean'). Keeps what backward needs.
//   backward()             Returns dLoss/dpred, shaped like pred, in a buffer the
//                          loss owns and reuses.
#pragma once

#include <string>

#include "cae/tensor.hpp"

namespace cae {

template <typename T>
class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string describe() const = 0;
  virtual T forward(const Tensor<T>& prediction, const Tensor<T>& target) = 0;
  virtual const Tensor<T>& backward() = 0;
};

}  // namespace cae
