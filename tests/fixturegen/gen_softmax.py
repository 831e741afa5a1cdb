"""Fixtures for Softmax and LogSoftmax: dim=1 on [N, C] and [N, C, H, W] (config
without "dim"), and every other dimension (config "dim")."""
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
    generate_dims(ctx)


def generate_dims(ctx):
    """Softmax / LogSoftmax over every dimension, negative dims included."""
    for name, layer in (("softmax", nn.Softmax), ("log_softmax", nn.LogSoftmax)):
        for dim in (0, 2, 3, -1, -2, -4):
            tag = f"m{-dim}" if dim < 0 else str(dim)
            ctx.module_case(name, f"nchw_dim{tag}", layer(dim=dim), (2, 3, 4, 5), {"dim": dim}, seed=5 + dim)
        ctx.module_case(name, "nc_dim_m1", layer(dim=-1), (4, 7), {"dim": -1}, seed=11)
        ctx.module_case(name, "nc_dim0", layer(dim=0), (4, 7), {"dim": 0}, seed=12)
        # The last dimension of a long row, and a middle one with more than one column block.
        ctx.module_case(name, "ncl_dim_m1_wide", layer(dim=-1), (2, 3, 70), {"dim": -1}, seed=13)
        ctx.module_case(name, "nchw_dim2_wide", layer(dim=2), (1, 2, 5, 80), {"dim": 2}, seed=14)
        ctx.module_case(name, "n_dim0", layer(dim=0), (6,), {"dim": 0}, seed=15)
