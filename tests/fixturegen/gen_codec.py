"""Fixtures for the learned codec's layers, written with plain torch ops after
CompressAI's definitions (groups "codec_gdn", "codec_entropy_bottleneck",
"codec_gaussian").

codec_gdn: GDN / inverse GDN with reparametrized beta and gamma (some stored
values below the lower bound, to check LowerBound's one-sided gradient).
codec_entropy_bottleneck: the factorized density's likelihood of given values
and its gradients w.r.t. the values and every density parameter; also the
rounding around the medians (symbols, dequantized values).
codec_gaussian: the Gaussian conditional's likelihood (scale lower bound 0.11)
and its gradients w.r.t. values and scales.
"""
import math

import torch
import torch.nn.functional as F

PEDESTAL = (2.0 ** -18) ** 2


class LowerBound(torch.autograd.Function):
    """max(x, bound), with CompressAI's gradient: passes where x >= bound or grad < 0."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp(x, min=bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)
        return passes.to(grad.dtype) * grad, None


def nonnegative(stored, minimum):
    bound = math.sqrt(minimum + PEDESTAL)
    return LowerBound.apply(stored, bound) ** 2 - PEDESTAL


def gdn_case(ctx, name, shape, inverse, seed):
    g = torch.Generator().manual_seed(seed)
    C = shape[1]
    beta = (torch.rand(C, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    gamma = torch.rand(C, C, generator=g, dtype=torch.float64) * 0.6
    gamma[0, C - 1] = -0.1  # below the bound: effective 0, one-sided gradient
    gamma = gamma.requires_grad_(True)
    x = (torch.rand(shape, generator=g, dtype=torch.float64) * 4 - 2).requires_grad_(True)
    norm = F.conv2d(x * x, nonnegative(gamma, 0.0).reshape(C, C, 1, 1), nonnegative(beta, 1e-6))
    y = x * torch.sqrt(norm) if inverse else x * torch.rsqrt(norm)
    dy = torch.rand(y.shape, generator=g, dtype=torch.float64) * 2 - 1
    y.backward(dy)
    ctx.save("codec_gdn", name, {
        "input": x, "output": y, "grad_output": dy, "grad_input": x.grad,
        "param.beta": beta, "param.gamma": gamma, "grad.beta": beta.grad, "grad.gamma": gamma.grad,
    }, {"layer": "GDN", "channels": C, "inverse": inverse, "training": True})


def logits_cumulative(x, matrices, biases, factors):
    # x: [C, 1, L] -> [C, 1, L], as CompressAI's _logits_cumulative.
    logits = x
    for k in range(len(matrices)):
        logits = torch.matmul(F.softplus(matrices[k]), logits) + biases[k]
        if k < len(factors):
            logits = logits + torch.tanh(factors[k]) * torch.tanh(logits)
    return logits


def bottleneck_case(ctx, name, shape, filters, seed):
    g = torch.Generator().manual_seed(seed)
    C = shape[1]
    f = (1,) + tuple(filters) + (1,)
    scale = 10.0 ** (1 / (len(f) - 1))
    params, matrices, biases, factors = {}, [], [], []
    for k in range(len(f) - 1):
        init = math.log(math.expm1(1 / scale / f[k + 1]))
        m = (torch.full((C, f[k + 1], f[k]), init, dtype=torch.float64)
             + torch.rand(C, f[k + 1], f[k], generator=g, dtype=torch.float64) * 0.8 - 0.4)
        b = torch.rand(C, f[k + 1], 1, generator=g, dtype=torch.float64) - 0.5
        matrices.append(m.requires_grad_(True))
        biases.append(b.requires_grad_(True))
        params[f"_matrix{k}"] = matrices[-1]
        params[f"_bias{k}"] = biases[-1]
        if k < len(f) - 2:
            a = torch.rand(C, f[k + 1], 1, generator=g, dtype=torch.float64) * 0.8 - 0.1
            factors.append(a.requires_grad_(True))
            params[f"_factor{k}"] = factors[-1]
    quantiles = torch.tensor([-10.0, 0.0, 10.0], dtype=torch.float64).repeat(C, 1, 1)
    quantiles[:, 0, 1] = torch.rand(C, generator=g, dtype=torch.float64) - 0.5
    x = (torch.rand(shape, generator=g, dtype=torch.float64) * 12 - 6).requires_grad_(True)
    v = x.permute(1, 0, 2, 3).reshape(C, 1, -1)
    lower = logits_cumulative(v - 0.5, matrices, biases, factors)
    upper = logits_cumulative(v + 0.5, matrices, biases, factors)
    sign = -torch.sign(lower + upper).detach()
    lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
    lik = LowerBound.apply(lik, 1e-9)
    lik = lik.reshape(C, shape[0], shape[2], shape[3]).permute(1, 0, 2, 3)
    dlik = torch.rand(lik.shape, generator=g, dtype=torch.float64) * 2 - 1
    lik.backward(dlik)
    medians = quantiles[:, 0, 1].reshape(1, C, 1, 1)
    symbols = torch.round(x.detach() - medians)
    tensors = {"input": x, "output": lik, "grad_output": dlik, "grad_input": x.grad,
               "symbols": symbols, "dequantized": symbols + medians}
    for n, p in params.items():
        tensors["param." + n] = p
        tensors["grad." + n] = p.grad
    tensors["param.quantiles"] = quantiles
    tensors["grad.quantiles"] = torch.zeros_like(quantiles)
    ctx.save("codec_entropy_bottleneck", name, tensors,
             {"layer": "EntropyBottleneck", "channels": C, "filters": list(filters), "training": True})


def gaussian_case(ctx, name, n, seed):
    g = torch.Generator().manual_seed(seed)
    values = (torch.rand(n, generator=g, dtype=torch.float64) * 10 - 5).requires_grad_(True)
    scales = torch.exp(torch.rand(n, generator=g, dtype=torch.float64) * 6 - 3.5)
    scales = scales.requires_grad_(True)
    s = LowerBound.apply(scales, 0.11)
    v = torch.abs(values)

    def cdf(t):
        return 0.5 * torch.erfc(-(2 ** -0.5) * t)

    lik = LowerBound.apply(cdf((0.5 - v) / s) - cdf((-0.5 - v) / s), 1e-9)
    dlik = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1
    lik.backward(dlik)
    ctx.save("codec_gaussian", name, {"values": values, "scales": scales, "likelihood": lik,
                                      "grad_output": dlik, "grad_values": values.grad,
                                      "grad_scales": scales.grad}, {"layer": "GaussianConditional"})


def generate(ctx):
    gdn_case(ctx, "gdn", (2, 5, 3, 4), False, 1)
    gdn_case(ctx, "igdn", (2, 5, 3, 4), True, 2)
    gdn_case(ctx, "gdn_one_channel", (3, 1, 2, 2), False, 3)
    bottleneck_case(ctx, "factorized_333", (2, 3, 4, 5), (3, 3, 3), 4)
    bottleneck_case(ctx, "factorized_44", (1, 2, 3, 3), (4, 4), 5)
    gaussian_case(ctx, "gaussian", 200, 6)
