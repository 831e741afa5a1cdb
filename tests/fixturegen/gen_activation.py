"""Fixtures for ReLU, LeakyReLU, Sigmoid, Tanh, and GELU (both approximations),
SiLU, ELU, SELU, Softplus, Hardswish, Hardsigmoid, Mish and PReLU."""
import torch
import torch.nn as nn


def uniform(low, high):
    """Inputs in [low, high]: wide enough to reach the kinks of Hardswish and
    Hardsigmoid at +-3, ELU's saturation and Softplus's threshold."""
    def fn(g, shape):
        return torch.rand(shape, generator=g, dtype=torch.float64) * (high - low) + low
    return fn


def generate(ctx):
    for shape, tag in [((2, 3, 5, 4), "nchw"), ((3, 7), "flat")]:
        ctx.module_case("relu", tag, nn.ReLU(), shape, {})
        ctx.module_case("sigmoid", tag, nn.Sigmoid(), shape, {})
        ctx.module_case("tanh", tag, nn.Tanh(), shape, {})
        for slope in (0.01, 0.2):
            ctx.module_case("leaky_relu", f"{tag}_slope{slope}", nn.LeakyReLU(slope), shape,
                            {"negative_slope": slope})

    # The activations of modern image models, on [-1, 1] and on [-6, 6].
    wide = uniform(-6, 6)
    for shape, tag in [((2, 3, 5, 4), "nchw"), ((3, 7), "flat")]:
        for input_fn, span in ((None, ""), (wide, "_wide")):
            case = tag + span
            for approximate in ("none", "tanh"):
                ctx.module_case("gelu", f"{case}_{approximate}", nn.GELU(approximate=approximate), shape,
                                {"approximate": approximate}, input_fn=input_fn)
            ctx.module_case("silu", case, nn.SiLU(), shape, {}, input_fn=input_fn)
            for alpha in (1.0, 0.3):
                ctx.module_case("elu", f"{case}_alpha{alpha}", nn.ELU(alpha), shape, {"alpha": alpha},
                                input_fn=input_fn)
            ctx.module_case("selu", case, nn.SELU(), shape, {}, input_fn=input_fn)
            for beta, threshold in ((1, 20), (2.0, 3.0), (0.5, 1.0)):
                ctx.module_case("softplus", f"{case}_beta{beta}_threshold{threshold}",
                                nn.Softplus(beta, threshold), shape, {"beta": beta, "threshold": threshold},
                                input_fn=input_fn)
            ctx.module_case("hardswish", case, nn.Hardswish(), shape, {}, input_fn=input_fn)
            ctx.module_case("hardsigmoid", case, nn.Hardsigmoid(), shape, {}, input_fn=input_fn)
            ctx.module_case("mish", case, nn.Mish(), shape, {}, input_fn=input_fn)
    # PReLU: one shared slope, one per channel (dimension 1), on several ranks.
    # module_case draws the slopes in [-1, 1], so negative slopes are covered too.
    for shape, tag in [((2, 3, 5, 4), "nchw"), ((3, 7), "flat"), ((2, 4, 6), "ncl")]:
        ctx.module_case("prelu", f"{tag}_shared", nn.PReLU(), shape, {"num_parameters": 1})
        ctx.module_case("prelu", f"{tag}_per_channel", nn.PReLU(shape[1]), shape,
                        {"num_parameters": shape[1]})
