"""An independent whole-image reference filter and test images, for the tests."""

from __future__ import annotations

import numpy as np

from daskfft.kernels.overview import OVERVIEW_CUTOFF, OVERVIEW_ORDER

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


def normalised_reference(image, cutoff, valid):
    """Normalised convolution on the whole image: F(x m) / F(m), from the reference filter."""
    x = np.where(valid, image, 0.0)
    num = reference_lowpass(x, cutoff, pad=200)
    weight = reference_lowpass(valid.astype(float), cutoff, pad=200)
    return num / weight


def flat_reference(image, cutoff, mode, valid=None):
    """Whole image, float64: the background from the reference filter (normalised with a mask),
    the mean over data pixels per channel, then the input's dtype."""
    x = np.asarray(image, dtype=np.float64)
    if valid is None:
        background = reference_lowpass(x, cutoff, pad=400)
        mean = x.mean(axis=(0, 1))
    else:
        background = normalised_reference(x, cutoff, valid)
        mean = np.where(valid, x, 0).sum(axis=(0, 1)) / valid.sum(axis=(0, 1))
    if mode == "divide":
        out = np.where(background > 0, x / np.where(background > 0, background, 1) * mean, x)
    else:
        out = x - background + mean
    if np.issubdtype(np.asarray(image).dtype, np.integer):
        info = np.iinfo(np.asarray(image).dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out, background


def vignetted(shape, dtype, seed=0):
    """A textured scene under light that falls off towards the corners (cos^4 vignetting)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(rows - shape[0] / 2, cols - shape[1] / 2) / max(shape)
    light = np.cos(np.arctan(2.2 * r)) ** 4
    scene = 0.6 + 0.4 * rng.random(shape)
    if len(shape) == 3:
        light = light[..., None]
    x = scene * light
    if np.dtype(dtype).kind == "u":
        return np.rint(x * 0.9 * np.iinfo(dtype).max).astype(dtype), light
    return (x * 1000).astype(dtype), light


def channels(image):
    """The ``channel_axis`` of a test image: -1 for (rows, cols, channels), None for 2-D."""
    return -1 if np.ndim(image) == 3 else None


def reference_volume_overview(volume, pad=96):
    """The next level of a volume whose voxels are cubes, by the definition, whole and in
    float64: mirror-pad, multiply the (real) FFT by the Butterworth of (fy, fx) times the same
    Butterworth of fz and exp(i pi (fz + fy + fx)), keep every other voxel."""
    import scipy.fft

    x = np.pad(np.asarray(volume, dtype=np.float64), pad, mode="symmetric")
    freqs = [np.fft.fftfreq(x.shape[0]), np.fft.fftfreq(x.shape[1]), np.fft.rfftfreq(x.shape[2])]
    fz, fy, fx = np.meshgrid(*freqs, indexing="ij", sparse=True)
    h = 1 / (1 + ((fy**2 + fx**2) / OVERVIEW_CUTOFF**2) ** OVERVIEW_ORDER)
    h = h / (1 + (fz**2 / OVERVIEW_CUTOFF**2) ** OVERVIEW_ORDER)
    h = h * np.exp(1j * np.pi * (fz + fy + fx))
    y = scipy.fft.irfftn(scipy.fft.rfftn(x, workers=-1) * h, s=x.shape, workers=-1)
    return y[tuple(slice(pad, pad + n, 2) for n in volume.shape)]
