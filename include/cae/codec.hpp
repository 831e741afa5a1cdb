// The learned image codec in one include: the Codec (model file -> .cae bytes and back),
// the container, the entropy coder, the model files and their export, and the
// rate-distortion metrics.
#pragma once

#include "cae/codec/codec.hpp"
#include "cae/codec/export.hpp"
#include "cae/codec/rd_metrics.hpp"
