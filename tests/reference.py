"""An independent whole-image reference filter and test images, for the tests."""

from __future__ import annotations

import numpy as np

NP_PAD = {"reflect": "symmetric", "periodic": "wrap", "nearest": "edge"}


def sampled_gaussian_transfer(f, cutoff):
    """Along one axis, the Fourier series of the Gaussian of sigma = 1 / (2 pi cutoff) sampled
    at whole pixels and scaled to sum 1: scipy.ndimage.gaussian_filter's kernel, untruncated."""
    sigma = 1 / (2 * np.pi * cutoff)
    n = np.arange(-int(40 * sigma) - 8, int(40 * sigma) + 9)
    g = np.exp(-(n**2) / (2 * sigma**2))
    g /= g.sum()
    return (g * np.cos(2 * np.pi * np.multiply.outer(f, n))).sum(axis=-1)


def transfer(shape, cutoff, filter, order):
    """H on the full fft2 grid, written out from the textbook formulas (not daskfft's code)."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    d = np.sqrt(fy**2 + fx**2)
    if filter == "gaussian":
        return sampled_gaussian_transfer(fy, cutoff) * sampled_gaussian_transfer(fx, cutoff)
    if filter == "butterworth":
        return 1 / (1 + (d / cutoff) ** (2 * order))
    return (d <= cutoff).astype(float)


def reference_lowpass(image, cutoff, *, filter="gaussian", order=4, boundary="reflect", pad):
    """Whole-image filter: pad by ``pad`` with the boundary mode, one numpy fft2, crop."""
    x = np.asarray(image, dtype=np.float64)
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (x.ndim - 2)
    if isinstance(boundary, str):
        xp = np.pad(x, widths, mode=NP_PAD[boundary])
    else:
        xp = np.pad(x, widths, mode="constant", constant_values=boundary)
    h = transfer(xp.shape[:2], cutoff, filter, order)
    if x.ndim == 3:
        h = h[..., None]
    y = np.fft.ifft2(np.fft.fft2(xp, axes=(0, 1)) * h, axes=(0, 1)).real
    return y[pad : pad + x.shape[0], pad : pad + x.shape[1]]


def make_image(shape, dtype, seed=0):
    """Random image with structure at all scales, in the range of ``dtype``."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    x[: shape[0] // 2] += 0.5  # a step, so edges matter
    x /= x.max()
    if np.dtype(dtype).kind in "ui":
        return np.rint(x * np.iinfo(dtype).max).astype(dtype)
    return (x * 100.0 - 20.0).astype(dtype)
