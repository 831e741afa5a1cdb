"""Non-finite inputs and gradients through the activations.

A diverging network must not have its NaNs hidden by an activation, and every
choice PyTorch makes at NaN, +-inf and -0 (e.g. ReLU's backward passes the
gradient where the output is NaN, since NaN <= 0 is false) is recorded here.
The second half of grad_output repeats the first half with one NaN, so a NaN
arriving from above is checked too.

For the activations added later (GELU to PReLU) the input also holds the kinks
(+-3, 0), Softplus's threshold and values where exp() over- or underflows, and
is padded with zeros to 64 elements: PyTorch runs the last few elements of a
tensor through a scalar loop that, for ELU, SELU and Hardswish, disagrees with
its vectorized loop at NaN and at 3, and cae follows the vectorized loop.
"""
import torch
import torch.nn as nn

SPECIAL = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, -1.5, 2.0, 1e-40, -3e38]
MORE = [3.0, -3.0, 20.0, 25.0, -100.0, 100.0, -1e-10, 1e-10, 10.0, 7e12, -7e12, 1e300, -1e300]


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

    values = SPECIAL + MORE
    flat = torch.zeros(64, dtype=torch.float64)
    flat[:len(values)] = torch.tensor(values, dtype=torch.float64)
    flat[len(values):2 * len(values)] = torch.tensor(values, dtype=torch.float64)
    x = flat.reshape(2, 32)
    dy = torch.linspace(-1, 1, 64, dtype=torch.float64)
    dy[len(values) + SPECIAL.index(2.0)] = float("nan")  # upstream NaN at 2.0, in the second copy
    dy = dy.reshape(2, 32)
    # Float overflows where double does not (7e12 cubed, 1e300), so the float
    # results are recorded too, as "<name>_f32", computed by PyTorch in float.
    for group, module, config in [("gelu", nn.GELU(), {"approximate": "none"}),
                                  ("gelu_tanh", nn.GELU(approximate="tanh"), {"approximate": "tanh"}),
                                  ("silu", nn.SiLU(), {}),
                                  ("elu", nn.ELU(0.7), {"alpha": 0.7}),
                                  ("selu", nn.SELU(), {}),
                                  ("softplus", nn.Softplus(2.0, 10.0), {"beta": 2.0, "threshold": 10.0}),
                                  ("hardswish", nn.Hardswish(), {}),
                                  ("hardsigmoid", nn.Hardsigmoid(), {}),
                                  ("mish", nn.Mish(), {}),
                                  ("prelu", nn.PReLU(), {"num_parameters": 1})]:
        tensors = {"grad_output": dy}
        for dtype, suffix in ((torch.float64, ""), (torch.float32, "_f32")):
            m = module.to(dtype)
            for p in m.parameters():
                p.grad = None
            xi = x.to(dtype).detach().clone().requires_grad_(True)
            y = m(xi)
            y.backward(dy.to(dtype))
            tensors.update({"input" + suffix: xi.detach(), "output" + suffix: y.detach(),
                            "grad_input" + suffix: xi.grad})
            for name, p in m.named_parameters():
                tensors["param." + name + suffix] = p.detach().clone()
                tensors["grad." + name + suffix] = p.grad
        ctx.save("activation_nonfinite", group, tensors, config)
