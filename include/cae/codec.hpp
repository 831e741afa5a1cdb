// The learned image codec in one include: the Codec (model file -> .cae bytes and back),
// the container, the entropy coder and the rate-distortion metrics.
#pragma once

#include "cae/codec/codec.hpp"
#include "cae/codec/rd_metrics.hpp"
