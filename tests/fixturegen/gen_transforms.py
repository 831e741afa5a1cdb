"""Fixtures for cae::data::resize_bilinear: F.interpolate(mode='bilinear', align_corners=False)."""
import torch
import torch.nn.functional as F


def generate(ctx):
    g = torch.Generator().manual_seed(7)
    cases = [
        ("up_2x3x5x7_to_13x4", (2, 3, 5, 7), (13, 4)),  # up in H, down in W
        ("up_1x1x3x3_x10", (1, 1, 3, 3), (30, 30)),      # the 32 -> 320 ratio
        ("up_1x1x4x4_x8", (1, 1, 4, 4), (32, 32)),       # the 28 -> 224 ratio
        ("down_1x2x9x8_to_4x3", (1, 2, 9, 8), (4, 3)),
    ]
    for name, shape, size in cases:
        x = torch.rand(shape, generator=g, dtype=torch.float64)
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        ctx.save("resize_bilinear", name, {"input": x, "output": y}, {"size": list(size)})

    # float32 in and out (stored losslessly as float64): PyTorch's own float arithmetic,
    # which resize_bilinear<float> reproduces bit for bit when compiled with FMA.
    for name, shape, size in [("f32_1x2x3x3_x10", (1, 2, 3, 3), (30, 30)),
                              ("f32_1x1x4x4_x8", (1, 1, 4, 4), (32, 32)),
                              ("f32_1x3x5x7_to_13x4", (1, 3, 5, 7), (13, 4))]:
        x = torch.rand(shape, generator=g, dtype=torch.float32)
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        ctx.save("resize_bilinear_f32", name, {"input": x, "output": y}, {"size": list(size)})
