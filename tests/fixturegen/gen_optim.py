"""Fixtures for the optimizers (SGD, Adam, AdamW, Adadelta, RMSprop) and the
learning-rate schedulers (StepLR, CosineAnnealingLR, ReduceLROnPlateau).

Optimizer cases, tests/fixtures/optim/optimizers/<case>.safetensors:
  param.<i>            initial value of parameter i (float64)
  grad.<step>.<i>      gradient given to parameter i before step `step` (0-based)
  f64.<step>.<i>       parameter i after step `step`, run in float64
  f32.<step>.<i>       the same, run in float32 from the float32-rounded start and gradients
  metadata config: {"optimizer": "Adam", "options": {...}, "lr": [lr of each step]}

Scheduler cases, tests/fixtures/optim/schedulers/<case>.safetensors:
  lr       [epochs + 1] the lr after construction, then after each scheduler step
  metric   [epochs] the metric given to ReduceLROnPlateau.step (plateau cases only)
  metadata config: {"scheduler": ..., "lr": initial lr, ...scheduler arguments}
"""
import torch
from torch.optim import lr_scheduler

STEPS = 5
SHAPES = [(3, 4), (5,)]
# Gradient magnitudes vary from step to step so that AMSGrad's running maximum
# and the momentum terms matter.
GRAD_SCALES = [1.0, 3.0, 0.2, 2.0, 0.1]

OPTIMIZERS = {
    "SGD": torch.optim.SGD,
    "Adam": torch.optim.Adam,
    "AdamW": torch.optim.AdamW,
    "Adadelta": torch.optim.Adadelta,
    "RMSprop": torch.optim.RMSprop,
}

# (case, optimizer, options, lr per step)
CONST = lambda lr: [lr] * STEPS  # noqa: E731
CASES = [
    ("sgd_plain", "SGD", {}, CONST(0.1)),
    ("sgd_momentum", "SGD", {"momentum": 0.9}, CONST(0.1)),
    ("sgd_nesterov", "SGD", {"momentum": 0.9, "nesterov": True}, CONST(0.05)),
    ("sgd_weight_decay", "SGD", {"momentum": 0.5, "weight_decay": 0.01}, CONST(0.1)),
    ("sgd_weight_decay_no_momentum", "SGD", {"weight_decay": 0.1}, CONST(0.1)),
    ("sgd_dampening", "SGD", {"momentum": 0.9, "dampening": 0.3}, CONST(0.1)),
    ("sgd_momentum_lr_changes", "SGD", {"momentum": 0.8}, [0.1, 0.1, 0.05, 0.02, 0.2]),
    ("adam", "Adam", {}, CONST(1e-2)),
    ("adam_weight_decay", "Adam", {"betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1}, CONST(1e-2)),
    ("adam_amsgrad", "Adam", {"betas": [0.9, 0.5], "amsgrad": True, "weight_decay": 0.05}, CONST(1e-2)),
    ("adam_lr_changes", "Adam", {}, [1e-2, 5e-3, 5e-3, 2e-2, 1e-3]),
    ("adamw", "AdamW", {"weight_decay": 0.1}, CONST(1e-2)),
    ("adamw_default_decay_amsgrad", "AdamW", {"betas": [0.9, 0.5], "amsgrad": True}, [1e-2, 5e-2, 1e-2, 1e-3, 2e-2]),
    ("adadelta", "Adadelta", {}, CONST(1.0)),
    ("adadelta_weight_decay", "Adadelta", {"rho": 0.95, "eps": 1e-5, "weight_decay": 0.1}, CONST(0.5)),
    ("rmsprop", "RMSprop", {}, CONST(1e-2)),
    ("rmsprop_centered", "RMSprop", {"alpha": 0.9, "centered": True}, CONST(1e-2)),
    ("rmsprop_momentum", "RMSprop", {"momentum": 0.9, "weight_decay": 0.01}, CONST(1e-2)),
    ("rmsprop_centered_momentum", "RMSprop", {"alpha": 0.95, "eps": 1e-6, "momentum": 0.5, "centered": True},
     CONST(1e-2)),
]


def make_data(seed):
    g = torch.Generator().manual_seed(seed)
    params = [torch.rand(s, generator=g, dtype=torch.float64) * 2 - 1 for s in SHAPES]
    grads = [[torch.randn(s, generator=g, dtype=torch.float64) * GRAD_SCALES[k] for s in SHAPES]
             for k in range(STEPS)]
    return params, grads


def run(name, options, lrs, params0, grads, dtype):
    params = [p.to(dtype).clone().requires_grad_(True) for p in params0]
    kwargs = dict(options)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    opt = OPTIMIZERS[name](params, lr=lrs[0], **kwargs)
    history = []
    for step in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = lrs[step]
        for p, g in zip(params, grads[step]):
            p.grad = g.to(dtype).clone()
        opt.step()
        history.append([p.detach().clone() for p in params])
    return history


def generate_optimizers(ctx):
    for seed, (case, name, options, lrs) in enumerate(CASES):
        params0, grads = make_data(seed)
        tensors = {f"param.{i}": p for i, p in enumerate(params0)}
        for k in range(STEPS):
            for i, g in enumerate(grads[k]):
                tensors[f"grad.{k}.{i}"] = g
        for tag, dtype in (("f64", torch.float64), ("f32", torch.float32)):
            for k, ps in enumerate(run(name, options, lrs, params0, grads, dtype)):
                for i, p in enumerate(ps):
                    tensors[f"{tag}.{k}.{i}"] = p
        if options.get("amsgrad"):  # the fixture must show AMSGrad's effect
            plain = run(name, {**options, "amsgrad": False}, lrs, params0, grads, torch.float64)
            assert not torch.allclose(plain[-1][0], tensors[f"f64.{STEPS - 1}.0"])
        ctx.save("optim/optimizers", case, tensors, {"optimizer": name, "options": options, "lr": lrs})


PLATEAU_METRICS = [1.0, 0.9, 0.85, 0.849, 0.85, 0.86, 0.8, 0.8, 0.8, 0.8,
                   0.7, 0.7, 0.71, 0.7, 0.7, 0.7, 0.69, 0.69, 0.69, 0.69, 0.5, 0.5, 0.5, 0.5, 0.5]
ACCURACY = [0.1, 0.3, 0.5, 0.52, 0.53, 0.56, 0.56, 0.57, 0.7, 0.7,
            0.71, 0.72, 0.9, 0.9, 0.9, 0.91, 0.95, 0.95, 0.95, 0.95, 0.95, 0.96, 0.96, 0.96, 0.96]

SCHEDULERS = [
    ("steplr", {"scheduler": "StepLR", "lr": 0.1, "step_size": 3, "gamma": 0.5}, None),
    ("steplr_default_gamma", {"scheduler": "StepLR", "lr": 0.05, "step_size": 4}, None),
    ("cosine", {"scheduler": "CosineAnnealingLR", "lr": 0.1, "T_max": 8, "eta_min": 0.001}, None),
    ("cosine_zero_min", {"scheduler": "CosineAnnealingLR", "lr": 0.3, "T_max": 5}, None),
    ("plateau_min", {"scheduler": "ReduceLROnPlateau", "lr": 0.1, "mode": "min", "factor": 0.5,
                     "patience": 2, "threshold": 1e-2, "threshold_mode": "rel", "cooldown": 1,
                     "min_lr": 0.01}, PLATEAU_METRICS),
    ("plateau_defaults", {"scheduler": "ReduceLROnPlateau", "lr": 0.1}, PLATEAU_METRICS * 2),
    ("plateau_max_abs", {"scheduler": "ReduceLROnPlateau", "lr": 0.2, "mode": "max", "factor": 0.3,
                         "patience": 1, "threshold": 0.05, "threshold_mode": "abs", "cooldown": 2,
                         "min_lr": 0.0}, ACCURACY),
]


def generate_schedulers(ctx):
    for case, config, metrics in SCHEDULERS:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=config["lr"])
        args = {k: v for k, v in config.items() if k not in ("scheduler", "lr")}
        sched = getattr(lr_scheduler, config["scheduler"])(opt, **args)
        epochs = len(metrics) if metrics else 20
        lrs = [opt.param_groups[0]["lr"]]
        for epoch in range(epochs):
            opt.step()  # no gradient: the parameter is left alone
            if metrics:
                sched.step(metrics[epoch])
            else:
                sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        assert len(set(lrs)) > 2, f"{case}: the schedule should change the lr more than once"
        tensors = {"lr": torch.tensor(lrs, dtype=torch.float64)}
        if metrics:
            tensors["metric"] = torch.tensor(metrics, dtype=torch.float64)
        ctx.save("optim/schedulers", case, tensors, config)


def generate(ctx):
    generate_optimizers(ctx)
    generate_schedulers(ctx)
