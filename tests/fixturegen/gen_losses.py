"""Fixtures for MSELoss, BCELoss, BCEWithLogitsLoss and CrossEntropyLoss (reduction mean).

Groups: mse, bce, bce_with_logits, cross_entropy. Values that a float run
cannot represent exactly are rounded to float32 first, so the float and the
double runs of the C++ test see the same numbers.
"""
import torch
import torch.nn as nn


def f32(t):
    return t.float().double()


def generate(ctx):
    g = torch.Generator().manual_seed(0)

    def uniform(shape, low=-1.0, high=1.0):
        return f32(torch.rand(shape, generator=g, dtype=torch.float64) * (high - low) + low)

    # MSE on a flat batch and on images.
    ctx.loss_case("mse", "flat", nn.MSELoss(), uniform((4, 3)), uniform((4, 3)), {})
    ctx.loss_case("mse", "nchw", nn.MSELoss(), uniform((2, 3, 4, 5), -3, 3), uniform((2, 3, 4, 5)), {})

    # BCE on probabilities with soft and hard targets.
    ctx.loss_case("bce", "soft_targets", nn.BCELoss(), uniform((3, 5), 0.02, 0.98),
                  uniform((3, 5), 0, 1), {})
    hard = (torch.rand((2, 3, 3, 3), generator=g) > 0.5).double()
    ctx.loss_case("bce", "hard_targets", nn.BCELoss(), uniform((2, 3, 3, 3), 0.01, 0.99), hard, {})
    # Predictions at exactly 0 and 1: logs clamped at -100, gradients floored at 1e-12.
    p = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 1e-10], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 1.0, 0.0, 0.25, 0.75, 1.0, 1.0], dtype=torch.float64)
    ctx.loss_case("bce", "saturated", nn.BCELoss(), f32(p), t, {})

    # BCE with logits, ordinary and huge logits (exp(1000) overflows everywhere).
    ctx.loss_case("bce_with_logits", "flat", nn.BCEWithLogitsLoss(), uniform((4, 6), -4, 4),
                  uniform((4, 6), 0, 1), {})
    x = torch.tensor([[1000.0, -1000.0, 100.0, -100.0, 30.0, -30.0],
                      [88.5, -88.5, 0.0, 17.0, -17.0, 750.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.5, 0.5],
                      [1.0, 1.0, 0.5, 0.0, 0.0, 0.25]], dtype=torch.float64)
    ctx.loss_case("bce_with_logits", "large", nn.BCEWithLogitsLoss(), x, y, {})

    # Cross-entropy on [N, C] logits, with huge logits, and per pixel on [N, C, H, W].
    ctx.loss_case("cross_entropy", "nc", nn.CrossEntropyLoss(), uniform((5, 4), -3, 3),
                  torch.randint(0, 4, (5,), generator=g), {})
    big = uniform((3, 6), -2, 2) + torch.tensor([[500.0], [-500.0], [0.0]], dtype=torch.float64)
    ctx.loss_case("cross_entropy", "nc_large", nn.CrossEntropyLoss(), f32(big),
                  torch.tensor([2, 5, 0]), {})
    ctx.loss_case("cross_entropy", "nchw", nn.CrossEntropyLoss(), uniform((2, 3, 2, 3), -2, 2),
                  torch.randint(0, 3, (2, 2, 3), generator=g), {})
