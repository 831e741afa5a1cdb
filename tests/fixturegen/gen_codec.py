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
codec_hyperprior: a whole scale-hyperprior model (CompressAI's ScaleHyperprior
layout and names, small N and M) with fixed random weights on a fixed image,
straight-through rounding of y and z (deterministic, unlike the training
noise): y, z, scales, both likelihoods, x_hat, the rate-distortion loss
lambda 255^2 MSE + bpp and its gradient w.r.t. every parameter.
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


def _conv_params(g, prefix, cin, cout, k, transposed, params):
    bound = 1 / math.sqrt(cin * k * k)
    shape = (cin, cout, k, k) if transposed else (cout, cin, k, k)
    params[prefix + ".weight"] = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * bound
    params[prefix + ".bias"] = (torch.rand(cout, generator=g, dtype=torch.float64) * 2 - 1) * bound


def _gdn_params(g, prefix, C, params):
    params[prefix + ".beta"] = torch.rand(C, generator=g, dtype=torch.float64) * 0.5 + 0.8
    params[prefix + ".gamma"] = torch.rand(C, C, generator=g, dtype=torch.float64) * 0.2 + 0.05


def _gdn(x, p, prefix, inverse):
    C = x.shape[1]
    gamma = nonnegative(p[prefix + ".gamma"], 0.0).reshape(C, C, 1, 1)
    norm = F.conv2d(x * x, gamma, nonnegative(p[prefix + ".beta"], 1e-6))
    return x * torch.sqrt(norm) if inverse else x * torch.rsqrt(norm)


def _conv(x, p, prefix, stride, padding):
    return F.conv2d(x, p[prefix + ".weight"], p[prefix + ".bias"], stride=stride, padding=padding)


def _deconv(x, p, prefix):
    return F.conv_transpose2d(x, p[prefix + ".weight"], p[prefix + ".bias"], stride=2, padding=2,
                              output_padding=1)


def _straight_through(x, medians=None):
    m = 0 if medians is None else medians
    return x + (torch.round(x - m) + m - x).detach()


def _half_distance(x, medians=None):
    """How far x - median is from the nearest half-integer (a rounding tie)."""
    v = (x - (0 if medians is None else medians)).detach()
    return (v - torch.floor(v) - 0.5).abs().min().item()


def hyperprior_case(ctx, name, N, M, shape, lam, seed):
    B, _, H, W = shape
    filters = (3, 3, 3)
    while True:
        g = torch.Generator().manual_seed(seed)
        p = {}
        # g_a, g_s: conv 5x5 s2 and GDN; h_a, h_s: CompressAI's ScaleHyperprior hyper-networks.
        _conv_params(g, "g_a.0", 3, N, 5, False, p)
        _gdn_params(g, "g_a.1", N, p)
        _conv_params(g, "g_a.2", N, N, 5, False, p)
        _gdn_params(g, "g_a.3", N, p)
        _conv_params(g, "g_a.4", N, N, 5, False, p)
        _gdn_params(g, "g_a.5", N, p)
        _conv_params(g, "g_a.6", N, M, 5, False, p)
        _conv_params(g, "g_s.0", M, N, 5, True, p)
        _gdn_params(g, "g_s.1", N, p)
        _conv_params(g, "g_s.2", N, N, 5, True, p)
        _gdn_params(g, "g_s.3", N, p)
        _conv_params(g, "g_s.4", N, N, 5, True, p)
        _gdn_params(g, "g_s.5", N, p)
        _conv_params(g, "g_s.6", N, 3, 5, True, p)
        _conv_params(g, "h_a.0", M, N, 3, False, p)
        _conv_params(g, "h_a.2", N, N, 5, False, p)
        _conv_params(g, "h_a.4", N, N, 5, False, p)
        _conv_params(g, "h_s.0", N, N, 5, True, p)
        _conv_params(g, "h_s.2", N, N, 5, True, p)
        _conv_params(g, "h_s.4", N, M, 3, False, p)
        # Latents of a few units, so that rounding, both likelihoods and the
        # scale bound all matter.
        p["g_a.6.weight"] *= 6
        p["h_a.4.weight"] *= 4
        p["h_s.4.bias"] += 0.3
        f = (1,) + filters + (1,)
        scale = 10.0 ** (1 / (len(f) - 1))
        matrices, biases, factors = [], [], []
        for k in range(len(f) - 1):
            init = math.log(math.expm1(1 / scale / f[k + 1]))
            p[f"entropy_bottleneck._matrix{k}"] = (
                torch.full((N, f[k + 1], f[k]), init, dtype=torch.float64)
                + torch.rand(N, f[k + 1], f[k], generator=g, dtype=torch.float64) * 0.8 - 0.4)
            p[f"entropy_bottleneck._bias{k}"] = torch.rand(N, f[k + 1], 1, generator=g,
                                                           dtype=torch.float64) - 0.5
            matrices.append(f"entropy_bottleneck._matrix{k}")
            biases.append(f"entropy_bottleneck._bias{k}")
            if k < len(f) - 2:
                p[f"entropy_bottleneck._factor{k}"] = torch.rand(
                    N, f[k + 1], 1, generator=g, dtype=torch.float64) * 0.8 - 0.1
                factors.append(f"entropy_bottleneck._factor{k}")
        quantiles = torch.tensor([-10.0, 0.0, 10.0], dtype=torch.float64).repeat(N, 1, 1)
        quantiles[:, 0, 1] = torch.rand(N, generator=g, dtype=torch.float64) - 0.5
        x = torch.rand(shape, generator=g, dtype=torch.float64)
        for t in p.values():
            t.requires_grad_(True)

        y = _conv(x, p, "g_a.0", 2, 2)
        y = _gdn(y, p, "g_a.1", False)
        y = _gdn(_conv(y, p, "g_a.2", 2, 2), p, "g_a.3", False)
        y = _gdn(_conv(y, p, "g_a.4", 2, 2), p, "g_a.5", False)
        y = _conv(y, p, "g_a.6", 2, 2)
        z = F.relu(_conv(torch.abs(y), p, "h_a.0", 1, 1))
        z = F.relu(_conv(z, p, "h_a.2", 2, 2))
        z = _conv(z, p, "h_a.4", 2, 2)
        medians = quantiles[:, 0, 1].reshape(1, N, 1, 1)
        z_hat = _straight_through(z, medians)
        v = z_hat.permute(1, 0, 2, 3).reshape(N, 1, -1)
        mats = [p[n] for n in matrices]
        bias = [p[n] for n in biases]
        facs = [p[n] for n in factors]
        lower = logits_cumulative(v - 0.5, mats, bias, facs)
        upper = logits_cumulative(v + 0.5, mats, bias, facs)
        sign = -torch.sign(lower + upper).detach()
        z_lik = LowerBound.apply(torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)),
                                 1e-9)
        z_lik = z_lik.reshape(N, z.shape[0], z.shape[2], z.shape[3]).permute(1, 0, 2, 3)
        s = F.relu(_deconv(z_hat, p, "h_s.0"))
        s = F.relu(_deconv(s, p, "h_s.2"))
        scales = F.relu(_conv(s, p, "h_s.4", 1, 1))
        y_hat = _straight_through(y)
        sb = LowerBound.apply(scales, 0.11)
        a = torch.abs(y_hat)

        def cdf(t):
            return 0.5 * torch.erfc(-(2 ** -0.5) * t)

        y_lik = LowerBound.apply(cdf((0.5 - a) / sb) - cdf((-0.5 - a) / sb), 1e-9)
        xh = _gdn(_deconv(y_hat, p, "g_s.0"), p, "g_s.1", True)
        xh = _gdn(_deconv(xh, p, "g_s.2"), p, "g_s.3", True)
        xh = _gdn(_deconv(xh, p, "g_s.4"), p, "g_s.5", True)
        xh = _deconv(xh, p, "g_s.6")
        bpp = (-torch.log2(y_lik).sum() - torch.log2(z_lik).sum()) / (B * H * W)
        loss = lam * 255 ** 2 * torch.mean((xh - x) ** 2) + bpp
        # Keep every rounding, ReLU and bound clear of its switching point, so
        # that float32 in C++ takes the same branches as float64 here.
        relu_inputs = [_conv(torch.abs(y), p, "h_a.0", 1, 1), _conv(F.relu(_conv(torch.abs(y), p, "h_a.0", 1, 1)), p, "h_a.2", 2, 2),
                       _deconv(z_hat, p, "h_s.0"), _deconv(F.relu(_deconv(z_hat, p, "h_s.0")), p, "h_s.2"),
                       _conv(s, p, "h_s.4", 1, 1)]
        relu_margin = min(t.detach().abs().min().item() for t in relu_inputs)
        bound_margin = (scales.detach() - 0.11).abs().min().item()
        if (_half_distance(y) > 1e-3 and _half_distance(z, medians) > 1e-3 and relu_margin > 1e-5
                and bound_margin > 1e-5 and y_lik.detach().min().item() > 1e-8
                and z_lik.detach().min().item() > 1e-8):
            break
        print(f"seed {seed}: a value sits at a switching point, trying the next seed")
        seed += 1000
    loss.backward()
    tensors = {"input": x, "y": y, "z": z, "scales": scales, "y_likelihoods": y_lik,
               "z_likelihoods": z_lik, "x_hat": xh, "loss": loss.detach().reshape(1),
               "bpp": bpp.detach().reshape(1)}
    for n, t in p.items():
        tensors["param." + n] = t
        tensors["grad." + n] = t.grad
    tensors["param.entropy_bottleneck.quantiles"] = quantiles
    tensors["grad.entropy_bottleneck.quantiles"] = torch.zeros_like(quantiles)
    ctx.save("codec_hyperprior", name, tensors,
             {"model": "ScaleHyperprior", "N": N, "M": M, "lambda": lam, "seed": seed})


def generate(ctx):
    gdn_case(ctx, "gdn", (2, 5, 3, 4), False, 1)
    gdn_case(ctx, "igdn", (2, 5, 3, 4), True, 2)
    gdn_case(ctx, "gdn_one_channel", (3, 1, 2, 2), False, 3)
    bottleneck_case(ctx, "factorized_333", (2, 3, 4, 5), (3, 3, 3), 4)
    bottleneck_case(ctx, "factorized_44", (1, 2, 3, 3), (4, 4), 5)
    gaussian_case(ctx, "gaussian", 200, 6)
    hyperprior_case(ctx, "hyperprior_4_6", 4, 6, (1, 3, 64, 64), 0.013, 7)
