"""Reference SSIM values for cae::metrics::ssim, computed independently with numpy/scipy.

This is skimage.metrics.structural_similarity(a, b, data_range=1.0, channel_axis=0,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False) written out
(skimage is not installed): scipy's gaussian_filter with truncate=3.5 (an
11-tap window for sigma 1.5) and reflected borders, then the SSIM map cropped
by 5 pixels on every side, averaged, and averaged over channels.
"""
import numpy as np
import torch
from scipy.ndimage import gaussian_filter


def ssim_channel(x, y, data_range=1.0, sigma=1.5, k1=0.01, k2=0.03):
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    filt = lambda z: gaussian_filter(z, sigma=sigma, truncate=3.5, mode="reflect")
    ux, uy = filt(x), filt(y)
    vx = filt(x * x) - ux * ux
    vy = filt(y * y) - uy * uy
    vxy = filt(x * y) - ux * uy
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (2 * int(3.5 * sigma + 0.5)) // 2
    return s[pad:-pad, pad:-pad].mean()


def ssim(a, b, **kw):
    return float(np.mean([ssim_channel(a[c], b[c], **kw) for c in range(a.shape[0])]))


def generate(ctx):
    rng = np.random.default_rng(3)
    # An RGB image and a noisy, clipped copy of it.
    a = rng.random((3, 12, 12))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    # A smooth grey "digit" and a shifted, dimmed copy.
    yy, xx = np.mgrid[0:20, 0:20]
    d = np.exp(-((yy - 10) ** 2 + (xx - 8) ** 2) / 20.0)
    e = 0.8 * np.roll(d, 2, axis=1)
    # Non-square, and another data range.
    f = rng.random((1, 12, 20)) * 255
    g = np.clip(f + 20, 0, 255)
    for name, x, y, kw in [("rgb12_noisy", a, b, {}), ("grey20_shifted", d[None], e[None], {}),
                           ("range255_12x20", f, g, {"data_range": 255.0})]:
        value = ssim(x, y, **kw)
        ctx.save("ssim", name, {"a": torch.from_numpy(x), "b": torch.from_numpy(y),
                                "ssim": torch.tensor([value], dtype=torch.float64)},
                 {"data_range": kw.get("data_range", 1.0)})
