"""Fixtures for MaxPool2d (group "max_pool2d") and AvgPool2d (group "avg_pool2d").

Max-pool fixtures also hold PyTorch's argmax ("indices", int64), and some use
inputs quantized to a few levels so that windows hold many equal maxima: the
tie-breaking of every path (direct and running max) is compared exactly.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def quantized(levels):
    """Inputs drawn from `levels` equally spaced values in [-1, 1]: many ties."""
    def fn(g, shape):
        return torch.randint(0, levels, shape, generator=g).to(torch.float64) * (2.0 / (levels - 1)) - 1.0
    return fn


def max_case(ctx, case, shape, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
             input_fn=None, seed=0):
    stride = kernel if stride is None else stride
    g = torch.Generator().manual_seed(seed)
    if input_fn is None:
        x = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    else:
        x = input_fn(g, shape)
    x.requires_grad_(True)
    y, indices = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    # The module gives the same output; the functional form also gives the indices.
    module = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    assert torch.equal(module(x), y)
    dy = torch.rand(y.shape, generator=g, dtype=torch.float64) * 2 - 1
    y.backward(dy)
    config = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation,
              "ceil_mode": ceil_mode, "training": True}
    ctx.save("max_pool2d", case, {"input": x.detach(), "output": y.detach(), "grad_output": dy,
                                  "grad_input": x.grad, "indices": indices}, config)


def avg_case(ctx, case, shape, kernel, stride=None, padding=0, ceil_mode=False,
             count_include_pad=True, divisor_override=None):
    stride = kernel if stride is None else stride
    module = nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    config = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
              "count_include_pad": count_include_pad, "divisor_override": divisor_override or 0}
    ctx.module_case("avg_pool2d", case, module, shape, config)


def generate(ctx):
    # Direct path (small windows).
    max_case(ctx, "k2_s2", (2, 3, 8, 8), 2)
    max_case(ctx, "k3_s2_p1_7x9", (2, 2, 7, 9), 3, 2, 1)
    max_case(ctx, "k3_s1_p1", (1, 2, 7, 9), 3, 1, 1)
    max_case(ctx, "k2_s2_ceil_7x9", (1, 2, 7, 9), 2, 2, 0, ceil_mode=True)
    max_case(ctx, "k3_s2_p1_ceil_8x10", (1, 2, 8, 10), 3, 2, 1, ceil_mode=True)
    max_case(ctx, "k3_d2_p1", (1, 2, 9, 9), 3, 1, 1, dilation=2)
    max_case(ctx, "k3x2_s2x1_p1x0", (1, 2, 7, 9), [3, 2], [2, 1], [1, 0])
    max_case(ctx, "ties_k3_s1_p1", (1, 2, 9, 9), 3, 1, 1, input_fn=quantized(3))
    # Running-max path (window >= 25, stride 1 or small).
    max_case(ctx, "k7_s1_p3", (1, 2, 12, 13), 7, 1, 3)
    max_case(ctx, "k9_s1_15x14", (1, 1, 15, 14), 9, 1)
    max_case(ctx, "k8_s2_p2_ceil", (1, 1, 15, 16), 8, 2, 2, ceil_mode=True)
    max_case(ctx, "ties_k6_s1_p2", (1, 2, 12, 12), 6, 1, 2, input_fn=quantized(3))
    max_case(ctx, "ties_k5x7_s1_p2x3", (1, 2, 11, 13), [5, 7], 1, [2, 3], input_fn=quantized(2))
    max_case(ctx, "ties_k12_s1_p2_all_equal", (1, 1, 14, 14), 12, 1, 2,
             input_fn=lambda g, shape: torch.full(shape, 0.5, dtype=torch.float64))

    avg_case(ctx, "k2_s2", (2, 3, 8, 8), 2)
    avg_case(ctx, "k3_s2_p1_incl_pad", (2, 2, 7, 9), 3, 2, 1)
    avg_case(ctx, "k3_s2_p1_excl_pad", (2, 2, 7, 9), 3, 2, 1, count_include_pad=False)
    avg_case(ctx, "k3_s2_p1_ceil_incl_pad", (1, 2, 8, 10), 3, 2, 1, ceil_mode=True)
    avg_case(ctx, "k3_s2_p1_ceil_excl_pad", (1, 2, 8, 10), 3, 2, 1, ceil_mode=True,
             count_include_pad=False)
    avg_case(ctx, "k2_s2_ceil_7x9", (1, 2, 7, 9), 2, 2, 0, ceil_mode=True)
    avg_case(ctx, "k3x2_s1x2_p1x0", (1, 2, 7, 9), [3, 2], [1, 2], [1, 0])
    avg_case(ctx, "k7_s1_p3", (1, 1, 12, 13), 7, 1, 3)
    avg_case(ctx, "k3_divisor5", (1, 2, 7, 9), 3, 2, 1, divisor_override=5)
