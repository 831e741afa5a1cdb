"""Fixtures for BatchNorm1d, BatchNorm2d and InstanceNorm2d (group "norm").

Config: layer, num_features (0: inferred by the C++ layer), eps, momentum (None
for the cumulative average), affine, track_running_stats, training. Eval cases
start from non-trivial running statistics so that their use is checked;
buffer_after.* holds the running statistics after one forward.
"""
import torch
import torch.nn as nn

LAYERS = {"BatchNorm1d": nn.BatchNorm1d, "BatchNorm2d": nn.BatchNorm2d,
          "InstanceNorm2d": nn.InstanceNorm2d}


def shifted_normal(g, shape):
    # Mean and scale away from 0 and 1, so normalization does visible work.
    return torch.randn(shape, generator=g, dtype=torch.float64) * 1.7 + 0.6


def case(ctx, name, layer, shape, training, infer=False, eps=1e-5, momentum=0.1, affine=None,
         track=None, running=False, batches_tracked=0, seed=0):
    kwargs = {"eps": eps, "momentum": momentum}
    if affine is not None:
        kwargs["affine"] = affine
    if track is not None:
        kwargs["track_running_stats"] = track
    m = LAYERS[layer](shape[1], **kwargs).double()
    if running:
        g = torch.Generator().manual_seed(1000 + seed)
        with torch.no_grad():
            m.running_mean.copy_(torch.randn(shape[1], generator=g, dtype=torch.float64) * 0.5)
            m.running_var.copy_(torch.rand(shape[1], generator=g, dtype=torch.float64) * 2 + 0.3)
            m.num_batches_tracked.fill_(batches_tracked)
    config = {"layer": layer, "num_features": 0 if infer else shape[1], "eps": eps,
              "momentum": momentum, "affine": m.affine, "track_running_stats": m.track_running_stats}
    ctx.module_case("norm", name, m, shape, config, training=training, seed=seed,
                    input_fn=shifted_normal)


def generate(ctx):
    # BatchNorm2d: train and eval, with and without affine, custom eps / momentum.
    case(ctx, "bn2d_train_affine", "BatchNorm2d", (3, 4, 5, 3), True, running=True, seed=1)
    case(ctx, "bn2d_train_noaffine", "BatchNorm2d", (2, 3, 3, 5), True, affine=False, seed=2)
    case(ctx, "bn2d_eval_affine", "BatchNorm2d", (3, 4, 5, 3), False, running=True, seed=3)
    case(ctx, "bn2d_eval_noaffine", "BatchNorm2d", (2, 3, 4, 4), False, affine=False,
         running=True, seed=4)
    case(ctx, "bn2d_train_eps_momentum", "BatchNorm2d", (4, 2, 3, 3), True, eps=1e-3,
         momentum=0.3, running=True, seed=5, infer=True)
    case(ctx, "bn2d_train_cumulative", "BatchNorm2d", (2, 3, 2, 3), True, momentum=None,
         running=True, batches_tracked=3, seed=6)
    case(ctx, "bn2d_train_untracked", "BatchNorm2d", (2, 3, 3, 3), True, track=False, seed=7)
    case(ctx, "bn2d_eval_untracked", "BatchNorm2d", (2, 3, 3, 3), False, track=False, seed=8)
    # BatchNorm1d on [N, C] and [N, C, L].
    case(ctx, "bn1d_nc_train", "BatchNorm1d", (6, 5), True, running=True, seed=9)
    case(ctx, "bn1d_nc_eval", "BatchNorm1d", (6, 5), False, running=True, seed=10)
    case(ctx, "bn1d_ncl_train", "BatchNorm1d", (3, 4, 7), True, eps=1e-4, momentum=0.2,
         running=True, seed=11, infer=True)
    case(ctx, "bn1d_ncl_eval_noaffine", "BatchNorm1d", (3, 4, 7), False, affine=False,
         running=True, seed=12)
    # InstanceNorm2d: default (no affine, no running statistics), affine, tracked.
    case(ctx, "in2d_default", "InstanceNorm2d", (3, 2, 4, 5), True, seed=13)
    case(ctx, "in2d_affine", "InstanceNorm2d", (2, 3, 5, 3), True, affine=True, eps=1e-3, seed=14)
    case(ctx, "in2d_affine_eval", "InstanceNorm2d", (2, 3, 3, 4), False, affine=True, seed=15)
    case(ctx, "in2d_tracked_train", "InstanceNorm2d", (3, 2, 3, 4), True, affine=True, track=True,
         momentum=0.25, running=True, seed=16)
    case(ctx, "in2d_tracked_eval", "InstanceNorm2d", (3, 2, 3, 4), False, track=True,
         running=True, seed=17)
