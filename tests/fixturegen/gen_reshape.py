"""Fixtures for Flatten (group "flatten") and Reshape (group "reshape", PyTorch's
nn.Unflatten / x.reshape(N, ...))."""
import torch.nn as nn


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def generate(ctx):
    ctx.module_case("flatten", "nchw", nn.Flatten(), (2, 3, 4, 5), {"start_dim": 1, "end_dim": -1})
    ctx.module_case("flatten", "start2", nn.Flatten(2), (2, 3, 4, 5), {"start_dim": 2, "end_dim": -1})
    ctx.module_case("flatten", "dims1to2", nn.Flatten(1, 2), (2, 3, 4, 5), {"start_dim": 1, "end_dim": 2})
    ctx.module_case("reshape", "unflatten_12_to_4x3", nn.Unflatten(1, (4, 3)), (2, 12), {"shape": [4, 3]})
    ctx.module_case("reshape", "infer_3x4x2_to_m1x4", Reshape((-1, 4)), (2, 3, 4, 2), {"shape": [-1, 4]})
