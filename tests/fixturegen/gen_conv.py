"""Fixtures for Conv2d and ConvTranspose2d: strides, paddings (also h != w),
dilation, 1x1 kernels, odd input sizes, bias on/off, output_padding, and
in_channels inferred from the input (config in_channels 0, like LazyConv2d)."""
import torch.nn as nn


def pair(v):
    return list(v) if isinstance(v, tuple) else [v, v]


def conv_config(in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
                output_padding=None):
    config = {"in_channels": in_channels, "out_channels": out_channels,
              "kernel_size": pair(kernel_size), "stride": pair(stride),
              "padding": pair(padding), "dilation": pair(dilation), "bias": bias}
    if output_padding is not None:
        config["output_padding"] = pair(output_padding)
    return config


# (case, in, out, kernel, stride, padding, dilation, bias, input shape)
CONV_CASES = [
    ("k3_odd_input", 3, 4, 3, 1, 0, 1, True, (2, 3, 7, 5)),
    ("k3_s2_p1", 2, 3, 3, 2, 1, 1, True, (2, 2, 8, 8)),
    ("k3_s2_p1_odd", 3, 6, 3, 2, 1, 1, True, (2, 3, 9, 7)),
    ("asymmetric", 2, 3, (3, 2), (2, 1), (1, 0), 1, True, (2, 2, 7, 5)),
    ("dilation2", 2, 3, 3, 1, 2, 2, True, (2, 2, 9, 7)),
    ("dilation_asym_nobias", 2, 2, (2, 3), (1, 2), (0, 1), (2, 1), False, (1, 2, 6, 7)),
    ("k1_nobias", 4, 5, 1, 1, 0, 1, False, (2, 4, 5, 6)),
    ("k1_s2", 3, 4, 1, 2, 0, 1, True, (2, 3, 7, 5)),
    ("k3_s3_big_padding", 2, 2, 3, 3, (2, 1), 1, True, (2, 2, 7, 5)),
    ("k5_p2", 2, 3, 5, 1, 2, 1, True, (1, 2, 6, 5)),
    # more than 4 filters: the im2col + GEMM path (up to 4 use direct loops)
    ("gemm_k3_p1", 3, 8, 3, 1, 1, 1, True, (3, 3, 6, 5)),
    ("gemm_k3_s2_dilation2", 4, 6, 3, 2, 2, 2, False, (2, 4, 7, 9)),
]

# (case, in, out, kernel, stride, padding, output_padding, dilation, bias, input shape)
CONV_TRANSPOSE_CASES = [
    ("k3", 3, 2, 3, 1, 0, 0, 1, True, (2, 3, 4, 5)),
    ("k3_s2_p1_op1", 3, 2, 3, 2, 1, 1, 1, True, (2, 3, 5, 4)),
    ("k4_s2_p1", 3, 2, 4, 2, 1, 0, 1, True, (2, 3, 4, 4)),
    ("asymmetric", 2, 3, (3, 2), (2, 1), (1, 0), (1, 0), 1, True, (2, 2, 4, 5)),
    ("dilation2_op1", 2, 3, 3, 1, 1, 1, 2, True, (2, 2, 4, 3)),
    ("k1_nobias", 4, 3, 1, 1, 0, 0, 1, False, (2, 4, 3, 5)),
    ("k1_s2_op1", 3, 2, 1, 2, 0, 1, 1, True, (2, 3, 3, 4)),
    ("k3_s3_p2_nobias", 2, 2, 3, 3, 2, (2, 0), 1, False, (1, 2, 4, 3)),
    # more than 4 input channels: the GEMM + col2im path
    ("gemm_k3_s2_p1_op1", 6, 3, 3, 2, 1, 1, 1, True, (2, 6, 4, 3)),
    ("gemm_k3_p1", 8, 5, 3, 1, 1, 0, 1, True, (3, 8, 4, 5)),
]


def generate(ctx):
    for case, cin, cout, k, s, p, d, bias, shape in CONV_CASES:
        module = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, bias=bias)
        ctx.module_case("conv2d", case, module, shape, conv_config(cin, cout, k, s, p, d, bias))
    # in_channels left for build() to infer: the module is the same, the config says 0.
    module = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ctx.module_case("conv2d", "inferred_in_channels", module, (2, 3, 6, 7),
                    conv_config(0, 4, 3, 2, 1, 1, True))

    for case, cin, cout, k, s, p, op, d, bias, shape in CONV_TRANSPOSE_CASES:
        module = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op,
                                    dilation=d, bias=bias)
        ctx.module_case("conv_transpose2d", case, module, shape,
                        conv_config(cin, cout, k, s, p, d, bias, output_padding=op))
    module = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
    ctx.module_case("conv_transpose2d", "inferred_in_channels", module, (2, 3, 3, 4),
                    conv_config(0, 2, 3, 2, 1, 1, True, output_padding=1))
