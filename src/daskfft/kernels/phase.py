"""Phase-correlation kernels for registration, NumPy only: windows, the upsampled
cross-correlation (images and volumes) and the log-polar (Fourier-Mellin) transform."""

from __future__ import annotations

from functools import reduce

import numpy as np

__all__ = ["gray", "tapered", "upsampled_correlation", "log_polar", "rotate_zoom"]


def gray(image):
    """``image`` (NumPy) as one float64 plane: its channels' mean, a 2-D image as it is.

    The one gray rule of registration (:func:`daskfft.register`) and of the difference
    pictures (:mod:`daskfft.run.plots`)."""
    x = np.asarray(image, dtype=np.float64)
    return x.mean(axis=2) if x.ndim == 3 else x


def _tukey(n, alpha):
    """A Tukey window of ``n`` samples, its cosine tapers ``alpha * n / 2`` long each."""
    if n < 3 or alpha <= 0:
        return np.ones(n)
    t = np.arange(n) / (n - 1)
    w = np.ones(n)
    edge = alpha / 2
    low, high = t < edge, t > 1 - edge
    w[low] = 0.5 * (1 - np.cos(np.pi * t[low] / edge))
    w[high] = 0.5 * (1 - np.cos(np.pi * (1 - t[high]) / edge))
    return w


def tapered(x, alpha):
    """``x`` less its mean, times the outer product of one Tukey window of parameter ``alpha``
    per axis (2 or 3 axes)."""
    w = reduce(np.multiply.outer, [_tukey(n, alpha) for n in x.shape])
    return (x - x.mean()) * w


def upsampled_correlation(spectrum, start, up, size):
    """The inverse DFT of ``spectrum`` (2-D or 3-D) at ``size`` points per axis from ``start``
    in steps of ``1 / up`` pixel (a matrix-multiply DFT, exact at non-integer positions).

    Separable: one DFT matrix per axis, applied in turn along its axis (for 2-D the
    product ``rows @ spectrum @ cols``)."""
    ticks = np.arange(size) / up
    first = (start[0] + ticks)[:, None] * np.fft.fftfreq(spectrum.shape[0])[None, :]
    out = np.tensordot(np.exp(2j * np.pi * first), spectrum, axes=(1, 0))
    for k in range(1, spectrum.ndim):
        along = np.fft.fftfreq(spectrum.shape[k])[:, None] * (start[k] + ticks)[None, :]
        out = np.moveaxis(np.tensordot(out, np.exp(2j * np.pi * along), axes=(k, 0)), -1, k)
    return out


def log_polar(x, n_theta, n_radius, radii):
    """The log of the image's centred FFT magnitude (Hann-windowed) on a log-polar grid:
    angles [0, 180) degrees down the rows, log-spaced radii (cycles/pixel) across."""
    from scipy import ndimage

    w = np.outer(np.hanning(x.shape[0]), np.hanning(x.shape[1]))
    magnitude = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2((x - x.mean()) * w))))
    theta = np.arange(n_theta) * np.pi / n_theta
    radius = np.exp(np.linspace(np.log(radii[0]), np.log(radii[1]), n_radius))
    centre = np.array(x.shape) // 2
    rows = centre[0] + np.outer(np.sin(theta), radius) * x.shape[0]
    cols = centre[1] + np.outer(np.cos(theta), radius) * x.shape[1]
    return ndimage.map_coordinates(magnitude, [rows, cols], order=3)


def rotate_zoom(x, degrees, scale):
    """``x`` rotated by ``degrees`` and zoomed by ``scale`` about its centre, edges reflected."""
    from scipy import ndimage

    x = ndimage.rotate(x, degrees, reshape=False, order=3, mode="reflect")
    if scale != 1:
        centre = (np.array(x.shape) - 1) / 2
        x = ndimage.affine_transform(
            x, np.eye(2) / scale, offset=centre * (1 - 1 / scale), order=3, mode="reflect"
        )
    return x
