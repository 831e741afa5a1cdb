"""Fixtures for AdaptiveAvgPool2d (group "adaptive_avg_pool2d") and
AdaptiveMaxPool2d (group "adaptive_max_pool2d").

Sizes that do not divide, so that windows differ in size and overlap; outputs
larger than the input (windows repeat rows); global pooling (output 1, which
PyTorch computes with mean()); the identity; None (keep the input's size) on
one axis. Max-pool fixtures also hold PyTorch's argmax ("indices", int64), and
some use inputs with many equal values, so the tie-breaking is compared exactly.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def quantized(levels):
    def fn(g, shape):
        return torch.randint(0, levels, shape, generator=g).to(torch.float64) * (2.0 / (levels - 1)) - 1.0
    return fn


CASES = [  # (case, input shape, output_size)
    ("7x9_to_3x4", (2, 3, 7, 9), (3, 4)),
    ("5x5_to_7x8", (1, 2, 5, 5), (7, 8)),
    ("global", (2, 3, 6, 8), 1),
    ("global_pair", (1, 2, 5, 3), (1, 1)),
    ("identity", (1, 2, 4, 4), 4),
    ("none_h_to_3", (1, 2, 10, 7), (None, 3)),
    ("9x9_to_2x5", (2, 2, 9, 9), (2, 5)),
    ("1x1_to_3x2", (1, 2, 1, 1), (3, 2)),
]


def config(output_size):
    return {"output_size": output_size if isinstance(output_size, int) else list(output_size)}


def max_case(ctx, case, shape, output_size, input_fn=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1 if input_fn is None else input_fn(g, shape)
    x.requires_grad_(True)
    y, indices = F.adaptive_max_pool2d(x, output_size, return_indices=True)
    assert torch.equal(nn.AdaptiveMaxPool2d(output_size)(x), y)
    dy = torch.rand(y.shape, generator=g, dtype=torch.float64) * 2 - 1
    y.backward(dy)
    ctx.save("adaptive_max_pool2d", case, {"input": x.detach(), "output": y.detach(), "grad_output": dy,
                                           "grad_input": x.grad, "indices": indices},
             dict(config(output_size), training=True))


def generate(ctx):
    for case, shape, output_size in CASES:
        ctx.module_case("adaptive_avg_pool2d", case, nn.AdaptiveAvgPool2d(output_size), shape,
                        config(output_size))
        max_case(ctx, case, shape, output_size)
    max_case(ctx, "ties_7x9_to_3x4", (2, 3, 7, 9), (3, 4), input_fn=quantized(3), seed=1)
    max_case(ctx, "ties_9x9_to_4x4", (1, 2, 9, 9), 4, input_fn=quantized(2), seed=2)
