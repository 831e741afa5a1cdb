"""Fixtures for Linear (group "linear"): with and without bias, [N, in] and [N, *, in] inputs."""
import torch.nn as nn


def generate(ctx):
    cases = [
        ("bias_4x5_to_3", 5, 3, True, (4, 5)),
        ("nobias_4x5_to_3", 5, 3, False, (4, 5)),
        ("bias_7x16_to_9", 16, 9, True, (7, 16)),
        ("bias_leading_dims_2x3x6_to_4", 6, 4, True, (2, 3, 6)),
    ]
    for case, fin, fout, bias, shape in cases:
        ctx.module_case("linear", case, nn.Linear(fin, fout, bias=bias), shape,
                        {"in_features": fin, "out_features": fout, "bias": bias})
