"""Fixtures for Softmax(dim=1) and LogSoftmax(dim=1) on [N, C] and [N, C, H, W]."""
import torch
import torch.nn as nn


def large_logits(g, shape):
    # Rows offset by +-1000, where a naive exp() overflows in float and double,
    # but with spreads that keep the gradients well conditioned. Rounded to
    # float32 so that the float and the double runs see the same input.
    offsets = torch.tensor([1000.0, -1000.0, 400.0], dtype=torch.float64)[:shape[0]]
    x = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * 3 + offsets[:, None]
    return x.float().double()


def generate(ctx):
    for name, layer in (("softmax", nn.Softmax), ("log_softmax", nn.LogSoftmax)):
        ctx.module_case(name, "nc", layer(dim=1), (4, 7), {}, seed=1)
        ctx.module_case(name, "nchw", layer(dim=1), (2, 5, 3, 4), {}, seed=2)
        # S = 7 * 10 = 70 spans more than one 64-column block of the kernel.
        ctx.module_case(name, "nchw_wide", layer(dim=1), (1, 2, 7, 10), {}, seed=3)
        ctx.module_case(name, "nc_large", layer(dim=1), (3, 6), {}, seed=4, input_fn=large_logits)
