"""Fixtures for ReLU, LeakyReLU, Sigmoid, Tanh."""
import torch.nn as nn


def generate(ctx):
    for shape, tag in [((2, 3, 5, 4), "nchw"), ((3, 7), "flat")]:
        ctx.module_case("relu", tag, nn.ReLU(), shape, {})
        ctx.module_case("sigmoid", tag, nn.Sigmoid(), shape, {})
        ctx.module_case("tanh", tag, nn.Tanh(), shape, {})
        for slope in (0.01, 0.2):
            ctx.module_case("leaky_relu", f"{tag}_slope{slope}", nn.LeakyReLU(slope), shape,
                            {"negative_slope": slope})
