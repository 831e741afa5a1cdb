"""Fixtures for Residual blocks (group "residual").

The PyTorch twin has attributes body, shortcut (an empty Sequential is the
identity) and activation, so its state_dict names match the C++ Residual's.
Config "block" names the recipe, rebuilt identically by tests/test_residual.cpp:
  bn_tanh             body [BatchNorm2d, Tanh, BatchNorm2d], identity shortcut
  bn_tanh_shortcut    body [BatchNorm2d, Tanh], shortcut [BatchNorm2d(affine=False), Tanh]
  basic               ResNet-18 basic block: 3x3 conv (stride) - BN - ReLU - 3x3 conv - BN;
                      shortcut 1x1 conv (stride) - BN unless in == out and stride == 1
  bottleneck          1x1 conv - BN - ReLU - 3x3 conv (stride) - BN - ReLU - 1x1 conv - BN;
                      shortcut 1x1 conv (stride) - BN
plus "activation": whether ReLU follows the sum. Convolutions have no bias, as in ResNets.
"""
import torch
import torch.nn as nn


class Residual(nn.Module):
    def __init__(self, body, shortcut, activation):
        super().__init__()
        self.body = body
        self.shortcut = shortcut
        self.activation = nn.ReLU() if activation else None

    def forward(self, x):
        y = self.body(x) + self.shortcut(x)
        return self.activation(y) if self.activation is not None else y


def conv(i, o, k, stride):
    return nn.Conv2d(i, o, k, stride=stride, padding=k // 2, bias=False)


def make(block, c_in, c_mid, c_out, stride, activation):
    if block == "bn_tanh":
        body = nn.Sequential(nn.BatchNorm2d(c_in), nn.Tanh(), nn.BatchNorm2d(c_in))
        shortcut = nn.Sequential()
    elif block == "bn_tanh_shortcut":
        body = nn.Sequential(nn.BatchNorm2d(c_in), nn.Tanh())
        shortcut = nn.Sequential(nn.BatchNorm2d(c_in, affine=False), nn.Tanh())
    elif block == "basic":
        body = nn.Sequential(conv(c_in, c_out, 3, stride), nn.BatchNorm2d(c_out), nn.ReLU(),
                             conv(c_out, c_out, 3, 1), nn.BatchNorm2d(c_out))
        if c_in == c_out and stride == 1:
            shortcut = nn.Sequential()
        else:
            shortcut = nn.Sequential(conv(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))
    elif block == "bottleneck":
        body = nn.Sequential(conv(c_in, c_mid, 1, 1), nn.BatchNorm2d(c_mid), nn.ReLU(),
                             conv(c_mid, c_mid, 3, stride), nn.BatchNorm2d(c_mid), nn.ReLU(),
                             conv(c_mid, c_out, 1, 1), nn.BatchNorm2d(c_out))
        shortcut = nn.Sequential(conv(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))
    return Residual(body, shortcut, activation)


def case(ctx, name, block, shape, training, c_mid=0, c_out=0, stride=1, activation=True, seed=0):
    c_in = shape[1]
    m = make(block, c_in, c_mid, c_out or c_in, stride, activation).double()
    g = torch.Generator().manual_seed(500 + seed)
    with torch.no_grad():  # non-trivial running statistics, used in eval mode
        for bn in m.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.copy_(torch.randn(bn.num_features, generator=g, dtype=torch.float64) * 0.3)
                bn.running_var.copy_(torch.rand(bn.num_features, generator=g, dtype=torch.float64) + 0.5)
    config = {"block": block, "in_channels": c_in, "mid_channels": c_mid, "out_channels": c_out or c_in,
              "stride": stride, "activation": activation}
    ctx.module_case("residual", name, m, shape, config, training=training, seed=seed)


def generate(ctx):
    case(ctx, "bn_tanh_train", "bn_tanh", (3, 2, 3, 4), True, seed=1)
    case(ctx, "bn_tanh_eval_noact", "bn_tanh", (2, 3, 3, 3), False, activation=False, seed=2)
    case(ctx, "bn_tanh_shortcut_train", "bn_tanh_shortcut", (2, 3, 2, 5), True, seed=3)
    case(ctx, "basic_identity_train", "basic", (2, 3, 5, 5), True, seed=4)
    case(ctx, "basic_identity_eval", "basic", (2, 3, 5, 5), False, seed=5)
    case(ctx, "basic_projection_s2_train", "basic", (2, 3, 6, 5), True, c_out=4, stride=2, seed=6)
    case(ctx, "basic_projection_s2_eval", "basic", (2, 3, 6, 5), False, c_out=4, stride=2, seed=7)
    case(ctx, "bottleneck_s2_train", "bottleneck", (2, 4, 5, 6), True, c_mid=2, c_out=6, stride=2,
         seed=8)
    case(ctx, "bottleneck_s1_eval_noact", "bottleneck", (2, 4, 4, 3), False, c_mid=3, c_out=5,
         activation=False, seed=9)
