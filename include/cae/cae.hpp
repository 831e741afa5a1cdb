// The umbrella header: everything in cae.
#pragma once

#include "cae/error.hpp"
#include "cae/io/json.hpp"
#include "cae/io/safetensors.hpp"
#include "cae/layers/activation.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/loss.hpp"
#include "cae/module.hpp"
#include "cae/random.hpp"
#include "cae/shape.hpp"
#include "cae/tensor.hpp"
