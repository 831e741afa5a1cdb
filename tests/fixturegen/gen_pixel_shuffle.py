"""Fixtures for PixelShuffle (group "pixel_shuffle") and PixelUnshuffle
(group "pixel_unshuffle"): several factors, non-square maps, factor 1 (the
identity) and inputs with an extra leading dimension ([N, *, C, H, W])."""
import torch.nn as nn


def generate(ctx):
    for shape, r, tag in [((2, 8, 3, 4), 2, "r2"), ((1, 18, 2, 3), 3, "r3"), ((1, 2, 3, 3), 1, "r1"),
                          ((2, 3, 4, 2, 3), 2, "r2_5d")]:
        ctx.module_case("pixel_shuffle", tag, nn.PixelShuffle(r), shape, {"upscale_factor": r})
    for shape, r, tag in [((2, 2, 6, 8), 2, "r2"), ((1, 3, 6, 9), 3, "r3"), ((1, 2, 3, 3), 1, "r1"),
                          ((2, 3, 2, 4, 6), 2, "r2_5d")]:
        ctx.module_case("pixel_unshuffle", tag, nn.PixelUnshuffle(r), shape, {"downscale_factor": r})
