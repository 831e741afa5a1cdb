"""Fixtures for Upsample (group "upsample"): nearest and bilinear, scale_factor or size,
align_corners both ways, including the 000 paper's 158 -> 160 resize (on a thin
input, to keep the file small: each axis is resampled independently)."""
import torch.nn as nn


def generate(ctx):
    cases = [
        ("nearest_x2", (1, 2, 4, 5), dict(scale_factor=2, mode="nearest")),
        ("nearest_x1.5", (1, 1, 5, 7), dict(scale_factor=1.5, mode="nearest")),
        ("nearest_x2x3", (1, 2, 3, 4), dict(scale_factor=(2.0, 3.0), mode="nearest")),
        # 1 / factor differs from in / out here: 5 -> 6 at x1.3, 4 -> 6 at x1.7.
        ("nearest_x1.3x1.7", (1, 2, 5, 4), dict(scale_factor=(1.3, 1.7), mode="nearest")),
        ("nearest_size_158x2_to_160x3", (1, 1, 158, 2), dict(size=(160, 3), mode="nearest")),
        ("nearest_size_down_9x8_to_4x3", (1, 2, 9, 8), dict(size=(4, 3), mode="nearest")),
        ("bilinear_x2", (1, 2, 4, 5), dict(scale_factor=2, mode="bilinear", align_corners=False)),
        ("bilinear_x2_align", (1, 2, 4, 5), dict(scale_factor=2, mode="bilinear", align_corners=True)),
        ("bilinear_x1.5", (1, 1, 5, 7), dict(scale_factor=1.5, mode="bilinear", align_corners=False)),
        ("bilinear_x1.5_align", (1, 1, 5, 7), dict(scale_factor=1.5, mode="bilinear", align_corners=True)),
        ("bilinear_x1.3x1.7", (1, 2, 5, 4),
         dict(scale_factor=(1.3, 1.7), mode="bilinear", align_corners=False)),
        ("bilinear_x1x2.5", (1, 2, 3, 4), dict(scale_factor=(1.0, 2.5), mode="bilinear", align_corners=False)),
        ("bilinear_size_158x2_to_160x3", (1, 1, 158, 2),
         dict(size=(160, 3), mode="bilinear", align_corners=False)),
        ("bilinear_size_158x2_to_160x3_align", (1, 1, 158, 2),
         dict(size=(160, 3), mode="bilinear", align_corners=True)),
        ("bilinear_size_down_9x8_to_4x3", (1, 2, 9, 8),
         dict(size=(4, 3), mode="bilinear", align_corners=False)),
        ("bilinear_size_1x1_out_align", (1, 1, 4, 5),
         dict(size=(1, 3), mode="bilinear", align_corners=True)),
    ]
    for case, shape, kw in cases:
        config = {"mode": kw["mode"]}
        if "size" in kw:
            config["size"] = list(kw["size"])
        else:
            sf = kw["scale_factor"]
            config["scale_factor"] = list(sf) if isinstance(sf, tuple) else sf
        if "align_corners" in kw:
            config["align_corners"] = kw["align_corners"]
        ctx.module_case("upsample", case, nn.Upsample(**kw), shape, config)
