// Keras' default initialization, for the models of papers that used Keras
// (002, 003, 004): their numbers were measured from that starting point.
#pragma once

#include <string>

#include "cae/init.hpp"
#include "cae/module.hpp"

namespace repro {

// glorot_uniform weights and zero biases for every convolution and linear
// layer (weights of rank >= 2); BatchNorm's weight (rank 1) keeps its 1.
inline void keras_init(cae::Module<float>& model) {
  for (auto& p : model.parameters()) {
    const std::string& n = p.name;
    const bool weight = n.size() >= 6 && n.compare(n.size() - 6, 6, "weight") == 0;
    const bool bias = n.size() >= 4 && n.compare(n.size() - 4, 4, "bias") == 0;
    if (weight && p.value->rank() >= 2) cae::init::xavier_uniform_(*p.value);
    else if (bias) p.value->zero();  // BatchNorm's bias is zero already
  }
}

}  // namespace repro
