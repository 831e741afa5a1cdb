#!/usr/bin/python3
"""PyTorch twins of the models that cae reproduces and benchmarks.

Every architecture, and the reasoning behind each choice the papers leave open,
is written down in docs/models.md; this file is its executable form. Running it
prints every model layer by layer (output shape and parameter count per layer)
and checks the shapes and totals that docs/models.md states:

    /usr/bin/python3 benchmarks/torch_models.py

The autoencoders are flat nn.Sequential models so that their state_dict names
("0.weight", "3.bias", ...) are the names cae's Sequential gives; the encoder is
the first `ENCODER_LENGTH[name]` layers.
"""
import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Tuple

import torch
from torch import nn


# ---- paper 002 (Bhattacharya): 20-layer CAE, MNIST 28x28x1 -> 7x7x1 -> 28x28x1 ----------

def conv3x3_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]


def cae_002():
    """10 encoder layers (8 convs + 2 max pools), 10 decoder layers (8 convs + 2 upsamplings).

    Channels fall 128 -> 1 in the encoder and rise 1 -> 128 in the decoder, halving or
    doubling at every convolution; MSE loss on a tanh output.
    """
    layers = []
    layers += conv3x3_relu(1, 128) + conv3x3_relu(128, 64)                     # 28x28
    layers += [nn.MaxPool2d(2)]                                                # 14x14
    layers += conv3x3_relu(64, 32) + conv3x3_relu(32, 16) + conv3x3_relu(16, 8)
    layers += [nn.MaxPool2d(2)]                                                # 7x7
    layers += conv3x3_relu(8, 4) + conv3x3_relu(4, 2)
    layers += conv3x3_relu(2, 1)                                               # code 1x7x7
    layers += conv3x3_relu(1, 2) + conv3x3_relu(2, 4) + conv3x3_relu(4, 8)
    layers += [nn.Upsample(scale_factor=2, mode="nearest")]                    # 14x14
    layers += conv3x3_relu(8, 16) + conv3x3_relu(16, 32) + conv3x3_relu(32, 64)
    layers += [nn.Upsample(scale_factor=2, mode="nearest")]                    # 28x28
    layers += conv3x3_relu(64, 128)
    layers += [nn.Conv2d(128, 1, 3, padding=1), nn.Tanh()]
    return nn.Sequential(*layers)


def conv3x3_chain_parameters(widths, in_channels=1):
    """Parameters of a chain of 3x3 convolutions with biases through the given widths."""
    total = 0
    for w in widths:
        total += 9 * in_channels * w + w
        in_channels = w
    return total


def cae_002_width_search():
    """The paper's counts (encoder 98,601, decoder 99,689) against every monotone choice of
    power-of-two widths for the seven hidden convolutions of each half (code and output
    have 1 channel). Returns lines for docs/models.md's claims."""
    from itertools import combinations_with_replacement
    powers = [1, 2, 4, 8, 16, 32, 64, 128]
    lines = []
    for half, target in (("encoder", 98601), ("decoder", 99689)):
        best = []
        for ws in combinations_with_replacement(powers, 7):
            widths = sorted(ws, reverse=(half == "encoder"))
            best.append((abs(conv3x3_chain_parameters(widths + [1]) - target), widths))
        best.sort()
        exact = sum(1 for d, _ in best if d == 0)
        d, widths = best[0]
        lines.append(f"{half}: paper {target:,}; nearest monotone widths {widths} -> "
                     f"{conv3x3_chain_parameters(widths + [1]):,} (off by {d}); "
                     f"{exact} monotone designs match exactly")
    for widths, target in (([2, 4, 8, 16, 128, 64, 8], 98601), ([8, 16, 8, 64, 64, 64, 32], 99689)):
        lines.append(f"non-monotone widths {widths} -> {conv3x3_chain_parameters(widths + [1]):,} "
                     f"(paper {target:,})")
    return lines


# ---- paper 001 (ANU): CIFAR-10 CAE 3x32x32 -> 32x4x4 and a LeNet-5 classifier ------------

def cae_001():
    """(conv 3x3 same + ReLU + max pool 2) x 3, then (conv + ReLU + nearest upsample 2) x 3
    and a final conv with sigmoid: the Keras-blog convolutional autoencoder, widened so
    that the code is 32x4x4. MSE loss."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 64x16x16
        nn.Conv2d(64, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 32x8x8
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # code 32x4x4
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(64, 3, 3, padding=1), nn.Sigmoid(),                   # 3x32x32
    )


def lenet5_001():
    """LeNet-5 with ReLU and max pooling, as in the PyTorch CIFAR-10 tutorial."""
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),     # 6x14x14
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),    # 16x5x5
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


# ---- paper 003 (Kannada-MNIST): dense autoencoder 784-512-512-256-64-784, BCE -------------

def dense_ae_003():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 512), nn.ReLU(),
        nn.Linear(512, 256), nn.ReLU(),
        nn.Linear(256, 64), nn.ReLU(),
        nn.Linear(64, 784), nn.Sigmoid(),
        nn.Unflatten(1, (1, 28, 28)),
    )


# ---- paper 000 (Myojin & Hoshino): 320x320 autoencoders and residual classifiers ----------

def resize(size):
    return nn.Upsample(size=(size, size), mode="bilinear", align_corners=False)


def design1_autoencoder():
    """Table 1. Encoder output 6x158x158 (the input of Table 2's classifier)."""
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(),             # 6x160x160
        nn.MaxPool2d(3, stride=1), nn.InstanceNorm2d(6),                # 6x158x158
        resize(160), nn.ReLU(),                                         # 6x160x160
        nn.ConvTranspose2d(6, 3, 3, stride=2, padding=1, output_padding=1),
        nn.InstanceNorm2d(3), nn.Sigmoid(),                             # 3x320x320
    )


def design2_autoencoder():
    """Table 3. Encoder output 12x77x77 (the input of Table 4's classifier)."""
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(),             # 6x160x160
        nn.MaxPool2d(3, stride=1), nn.InstanceNorm2d(6),                # 6x158x158
        nn.Conv2d(6, 12, 3, stride=2, padding=1), nn.ReLU(),            # 12x79x79
        nn.MaxPool2d(3, stride=1), nn.InstanceNorm2d(12),               # 12x77x77
        resize(79), nn.ReLU(),                                          # 12x79x79
        nn.ConvTranspose2d(12, 6, 3, stride=2, padding=1, output_padding=1),
        nn.InstanceNorm2d(6),                                           # 6x158x158
        resize(160), nn.ReLU(),                                         # 6x160x160
        nn.ConvTranspose2d(6, 3, 3, stride=2, padding=1, output_padding=1),
        nn.InstanceNorm2d(3), nn.Sigmoid(),                             # 3x320x320
    )


class Bottleneck(nn.Module):
    """Table 5's residual block: three convolutions (1x1, strided, 1x1) with BatchNorm,
    bottleneck width out/2, and a projection shortcut only when the block downsamples.

    stride 1: C -> C/2 -> C/2 -> C, identity shortcut.
    stride 2: C -> 2C -> 2C -> 4C, shortcut conv C -> 4C; the strided convolutions use a
              2x2 kernel so that H -> floor(H/2) (25 -> 12, 5 -> 2) as Tables 2 and 4 list.
    out = relu(bn3(conv3(h)) + shortcut(x)).
    """

    def __init__(self, in_channels, stride):
        super().__init__()
        out_channels = in_channels * 4 if stride == 2 else in_channels
        width = out_channels // 2
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, stride, stride=stride, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, stride, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x):
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(h + shortcut)


# Blocks 1, 4, 8 and 14 halve the image and quadruple the channels (3 + 4 + 6 + 3 blocks,
# ResNet-50's stage layout).
BLOCK_STRIDES = [2, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1]


def residual_classifier(in_channels, stem_channels, pool, flat_features, classes=3):
    layers = [nn.Conv2d(in_channels, stem_channels, 3, padding=1), nn.ReLU(),
              nn.MaxPool2d(pool, stride=1), nn.BatchNorm2d(stem_channels)]
    c = stem_channels
    for s in BLOCK_STRIDES:
        layers.append(Bottleneck(c, s))
        c = c * 4 if s == 2 else c
    layers += [nn.Flatten(), nn.Linear(flat_features, classes)]
    return nn.Sequential(*layers)


def design1_classifier():
    """Table 2: 6x158x158 -> 8x158x158 -> pool 59 -> 8x100x100 -> ... -> 2048x6x6 -> 3."""
    return residual_classifier(6, 8, 59, 2048 * 6 * 6)


def design2_classifier():
    """Table 4: 12x77x77 -> 16x77x77 -> pool 38 -> 16x40x40 -> ... -> 4096x2x2 -> 3."""
    return residual_classifier(12, 16, 38, 4096 * 2 * 2)


def bottleneck_block14():
    """Design 1's block 14 alone: 512x12x12 -> 2048x6x6."""
    return Bottleneck(512, 2)


def maxpool59():
    """Design 1's classifier pool alone: 8x158x158 -> 8x100x100."""
    return nn.MaxPool2d(59, stride=1)


# ---- the registry the benchmark and the docs use ------------------------------------------

@dataclass
class Spec:
    build: Callable[[], nn.Module]
    input_shape: Tuple[int, ...]   # per sample
    batch: int
    loss: str                      # "mse", "bce", "cross_entropy"
    classes: int = 0               # for cross_entropy targets
    autoencoder: bool = False      # benchmark inference images/s too
    benchmark: bool = True
    inner_layer: bool = False      # stands for a layer inside a network: needs dL/dinput
    params: int = -1               # the total docs/models.md states
    output_shape: Tuple[int, ...] = ()


MODELS = OrderedDict([
    ("cae_002", Spec(cae_002, (1, 28, 28), 128, "mse", autoencoder=True,
                     params=199410, output_shape=(1, 28, 28))),
    ("cae_001", Spec(cae_001, (3, 32, 32), 64, "mse", autoencoder=True,
                     params=68227, output_shape=(3, 32, 32))),
    ("lenet5_001", Spec(lenet5_001, (3, 32, 32), 64, "cross_entropy", classes=10,
                        params=62006, output_shape=(10,))),
    ("design2_ae_000", Spec(design2_autoencoder, (3, 320, 320), 15, "bce", autoencoder=True,
                            params=1647, output_shape=(3, 320, 320))),
    ("dense_ae_003", Spec(dense_ae_003, (1, 28, 28), 128, "bce", autoencoder=True,
                          params=863312, output_shape=(1, 28, 28))),
    ("bottleneck_000", Spec(bottleneck_block14, (512, 12, 12), 15, "mse", inner_layer=True,
                            params=11022336, output_shape=(2048, 6, 6))),
    ("maxpool59_000", Spec(maxpool59, (8, 158, 158), 15, "mse", inner_layer=True,
                           params=0, output_shape=(8, 100, 100))),
    ("design1_ae_000", Spec(design1_autoencoder, (3, 320, 320), 15, "bce", autoencoder=True,
                            benchmark=False, params=333, output_shape=(3, 320, 320))),
    ("design1_classifier_000", Spec(design1_classifier, (6, 158, 158), 15, "cross_entropy",
                                    classes=3, benchmark=False, params=24198411,
                                    output_shape=(3,))),
    ("design2_classifier_000", Spec(design2_classifier, (12, 77, 77), 15, "cross_entropy",
                                    classes=3, benchmark=False, params=95868531,
                                    output_shape=(3,))),
])

# Number of leading layers of each autoencoder that form its encoder.
ENCODER_LENGTH = {"cae_002": 18, "cae_001": 9, "design1_ae_000": 4, "design2_ae_000": 8,
                  "dense_ae_003": 9}
CODE_SHAPE = {"cae_002": (1, 7, 7), "cae_001": (32, 4, 4), "design1_ae_000": (6, 158, 158),
              "design2_ae_000": (12, 77, 77), "dense_ae_003": (64,)}


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def forward_flops(model, input_shape):
    """Floating-point operations of one sample's forward pass in the convolutions and
    linear layers (2 per multiply-add; biases, activations, norms and pools not counted)."""
    total = [0]

    def record(module, inputs, out):
        x = inputs[0]
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total[0] += 2 * module.in_channels // module.groups * k * out[0].numel()
        elif isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total[0] += 2 * module.out_channels // module.groups * k * x[0].numel()
        elif isinstance(module, nn.Linear):
            total[0] += 2 * module.in_features * module.out_features

    handles = [m.register_forward_hook(record) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros((1,) + tuple(input_shape)))
    for h in handles:
        h.remove()
    return total[0]


def summarize(model, input_shape, batch=1):
    """Rows (index, layer, per-sample output shape, parameters) for the model's top-level
    layers (a Bottleneck is one row), found by running a forward pass with hooks."""
    rows = []
    children = list(model.named_children()) or [("", model)]

    def hook(name, module):
        def record(_, __, out):
            rows.append((name, repr(module).split("\n")[0].rstrip("("), tuple(out.shape[1:]),
                         count_parameters(module)))
        return record

    handles = [m.register_forward_hook(hook(n, m)) for n, m in children]
    with torch.no_grad():
        model.eval()(torch.zeros((batch,) + tuple(input_shape)))
    for h in handles:
        h.remove()
    return rows


def main():
    torch.manual_seed(0)
    failures = 0
    for name, spec in MODELS.items():
        model = spec.build()
        rows = summarize(model, spec.input_shape)
        total = count_parameters(model)
        print(f"== {name}  input {spec.input_shape}  batch {spec.batch}  loss {spec.loss}")
        for idx, layer, shape, n in rows:
            print(f"  {idx:>3}  {layer:<78} {str(shape):<18} {n:>10,}")
        out_shape = rows[-1][2]
        enc = ENCODER_LENGTH.get(name)
        if enc is not None:
            code = summarize(model[:enc], spec.input_shape)[-1][2]
            enc_params = count_parameters(model[:enc])
            print(f"  encoder: layers 0..{enc - 1}, code {code}, {enc_params:,} params; "
                  f"decoder {total - enc_params:,} params")
            if code != CODE_SHAPE[name]:
                print(f"  MISMATCH: code shape {code}, expected {CODE_SHAPE[name]}")
                failures += 1
        print(f"  total parameters: {total:,}; forward "
              f"{forward_flops(model, spec.input_shape) / 1e6:,.1f} MFLOP per sample")
        if total != spec.params or out_shape != spec.output_shape:
            print(f"  MISMATCH: expected {spec.params:,} parameters and output {spec.output_shape}")
            failures += 1
        print()
    print("cae_002 against the paper's parameter counts:")
    for line in cae_002_width_search():
        print("  " + line)
    # Every block of the classifiers, with the shapes Tables 2 and 4 list.
    for name, pool_in, expected in [
            ("design1_classifier_000", (6, 158, 158),
             [(32, 50), (32, 50), (32, 50), (128, 25), (128, 25), (128, 25), (128, 25),
              (512, 12)] + [(512, 12)] * 5 + [(2048, 6)] * 3),
            ("design2_classifier_000", (12, 77, 77),
             [(64, 20)] * 3 + [(256, 10)] * 4 + [(1024, 5)] * 6 + [(4096, 2)] * 3)]:
        rows = summarize(MODELS[name].build(), pool_in)
        got = [(s[0], s[1]) for _, layer, s, _ in rows if layer.startswith("Bottleneck")]
        ok = got == expected
        failures += not ok
        print(f"{name}: residual block output shapes {'match' if ok else 'DIFFER from'} the table")
    print("all shapes and parameter counts as documented" if failures == 0
          else f"{failures} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
