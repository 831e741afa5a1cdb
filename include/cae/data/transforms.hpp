// Image transforms: bilinear resize, per-channel normalization, the 003
// paper's distortions and the noises used for denoising autoencoders.
#pragma once

#include "cae/data/transforms/distortions.hpp"
#include "cae/data/transforms/noise.hpp"
#include "cae/data/transforms/normalize.hpp"
#include "cae/data/transforms/resize.hpp"
