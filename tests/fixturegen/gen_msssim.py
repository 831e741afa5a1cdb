"""Reference MS-SSIM values for cae::codec::ms_ssim (cae/codec/rd_metrics.hpp).

MS-SSIM as pytorch-msssim (and the CompressAI evaluation through it) computes it, written
out with plain torch ops (pytorch-msssim is not a Debian package): Wang, Simoncelli and
Bovik 2003, 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); at each scale
an 11-tap Gaussian of sigma 1.5 applied separably without padding ("valid"), population
statistics, C1 = (0.01 L)^2, C2 = (0.03 L)^2; the contrast-structure mean cs of the first 4
scales and the SSIM mean of the last, each clamped at 0 (relu), raised to its weight and
multiplied; between scales a 2x2 average pool with padding (H % 2, W % 2) that counts the
zero padding; the value of an image is the mean over its channels.

The test images are 8-bit and come from integer formulas (pattern, noise, blur below) that
tests/test_rd_metrics.cpp repeats exactly, so the fixtures hold only the parameters, a
checksum of each image and the expected values.
"""
import numpy as np
import torch
import torch.nn.functional as F

WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]


def pattern(c, h, w, seed):
    """A zone plate (frequency rising away from the corner) averaged with a diagonal ramp."""
    y, x = np.meshgrid(np.arange(h, dtype=np.int64), np.arange(w, dtype=np.int64), indexing="ij")
    out = np.empty((c, h, w), dtype=np.int64)
    for k in range(c):
        zone = ((x * x * (3 + k) + y * y * (5 + seed) + x * y * (k + 1 + seed)) >> 6) & 255
        ramp = (x * 255 // w + y * 255 // h + 64 * k) % 256
        out[k] = (zone + ramp) >> 1
    return out


def noise(img, amplitude, seed):
    """Adds a deterministic pseudo-random integer in [-amplitude, amplitude] and clips to 0..255."""
    c, h, w = img.shape
    k, y, x = np.meshgrid(np.arange(c, dtype=np.int64), np.arange(h, dtype=np.int64),
                          np.arange(w, dtype=np.int64), indexing="ij")
    hsh = (x * 31 + y * 17 + k * 7 + seed) % 1021
    hsh = (hsh * hsh * 13 + hsh * 7 + 3) % 1021
    return np.clip(img + hsh % (2 * amplitude + 1) - amplitude, 0, 255)


def blur(img):
    """3x3 box mean (integer division), edges replicated."""
    c, h, w = img.shape
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    s = sum(p[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    return s // 9


def gaussian_window(size=11, sigma=1.5):
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def gaussian_filter(x, win):
    c = x.shape[1]
    x = F.conv2d(x, win.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # along W
    return F.conv2d(x, win.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # along H


def ssim_and_cs(x, y, win, data_range):
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu1, mu2 = gaussian_filter(x, win), gaussian_filter(y, win)
    s11 = gaussian_filter(x * x, win) - mu1 * mu1
    s22 = gaussian_filter(y * y, win) - mu2 * mu2
    s12 = gaussian_filter(x * y, win) - mu1 * mu2
    cs_map = (2 * s12 + c2) / (s11 + s22 + c2)
    ssim_map = (2 * mu1 * mu2 + c1) / (mu1 * mu1 + mu2 * mu2 + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(a, b, data_range):
    """a, b: [N, C, H, W] float64. Returns [N, C]: the per-channel MS-SSIM."""
    win = gaussian_window()
    assert min(a.shape[-2:]) > 160
    mcs = []
    for level in range(len(WEIGHTS)):
        ssim, cs = ssim_and_cs(a, b, win, data_range)
        if level < len(WEIGHTS) - 1:
            mcs.append(torch.relu(cs))
            pad = [s % 2 for s in a.shape[2:]]
            a = F.avg_pool2d(a, kernel_size=2, padding=pad)
            b = F.avg_pool2d(b, kernel_size=2, padding=pad)
    values = torch.stack(mcs + [torch.relu(ssim)], dim=0)
    return torch.prod(values ** torch.tensor(WEIGHTS, dtype=torch.float64).view(-1, 1, 1), dim=0)


def generate(ctx):
    cases = [
        # name, channels, height, width, pattern seed, distortion, amplitude
        ("rgb176x192_noise20", 3, 176, 192, 1, "noise", 20),
        ("grey161x171_blur", 1, 161, 171, 2, "blur", 0),
        ("rgb200x163_noise60", 3, 200, 163, 3, "noise", 60),
        ("grey165x240_blur_noise8", 1, 165, 240, 4, "blur_noise", 8),
    ]
    for name, c, h, w, seed, kind, amplitude in cases:
        a = pattern(c, h, w, seed)
        if kind == "noise":
            b = noise(a, amplitude, seed)
        elif kind == "blur":
            b = blur(a)
        else:
            b = noise(blur(a), amplitude, seed)
        ta = torch.from_numpy(a).double()[None]
        tb = torch.from_numpy(b).double()[None]
        per_channel = ms_ssim(ta, tb, 255.0)[0]
        ctx.save("msssim", name, {
            "ms_ssim_per_channel": per_channel,
            "ms_ssim": per_channel.mean().reshape(1),
            # sums of each image's pixels and squared pixels: the C++ test checks that it
            # regenerated the same images
            "checksums": torch.tensor([a.sum(), (a * a).sum(), b.sum(), (b * b).sum()], dtype=torch.int64),
        }, {"channels": c, "height": h, "width": w, "seed": seed, "distortion": kind,
            "amplitude": amplitude, "data_range": 255.0})
