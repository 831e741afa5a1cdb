"""Non-finite inputs and gradients through ReLU, LeakyReLU, Sigmoid and Tanh.

A diverging network must not have its NaNs hidden by an activation, and every
choice PyTorch makes at NaN, +-inf and -0 (e.g. ReLU's backward passes the
gradient where the output is NaN, since NaN <= 0 is false) is recorded here.
The second half of grad_output repeats the first half with one NaN, so a NaN
arriving from above is checked too.
"""
import torch
import torch.nn as nn

SPECIAL = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, -1.5, 2.0, 1e-40, -3e38]


def generate(ctx):
    x = torch.tensor(SPECIAL + SPECIAL, dtype=torch.float64).reshape(2, len(SPECIAL))
    dy = torch.linspace(-1, 1, x.numel(), dtype=torch.float64).reshape(x.shape)
    dy[1, 6] = float("nan")  # upstream NaN at an input where the activation is smooth
    dy[1, 3] = float("nan")  # and at 0, where ReLU's gradient is 0
    for group, module, config in [("relu", nn.ReLU(), {}),
                                  ("leaky_relu", nn.LeakyReLU(0.1), {"negative_slope": 0.1}),
                                  ("sigmoid", nn.Sigmoid(), {}),
                                  ("tanh", nn.Tanh(), {})]:
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        y.backward(dy)
        ctx.save("activation_nonfinite", group,
                 {"input": xi.detach(), "output": y.detach(), "grad_output": dy,
                  "grad_input": xi.grad}, config)
