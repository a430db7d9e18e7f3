"""Frequency grids and low-pass transfer functions (the halo rule they imply:
:mod:`daskfft.kernels.halo`).

Kernel layer: NumPy only, no dask, no files.  Every frequency here is in
cycles per pixel, so a cutoff means the same thing whatever the size of the
array it is applied to.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from daskfft.messages import api as msg
from daskfft.validate import (
    check_cutoff,
    check_filter,
    check_float_dtype,
    check_positive_number,
    check_shape,
    check_sigma,
)

__all__ = [
    "cutoff_from_sigma",
    "transfer_function",
    "transfer_grid",
    "transfer_nd",
    "transfer_factors",
    "axis_cutoffs",
]


def cutoff_from_sigma(sigma, *, spacing=None):
    """Cutoff in cycles/pixel of the Gaussian filter with spatial ``sigma`` in pixels.

    ``H = exp(-D**2 / (2 * D0**2))`` is the Fourier transform of a Gaussian of
    standard deviation ``sigma = 1 / (2 * pi * D0)``.

    Parameters
    ----------
    sigma : float or tuple of float
        The Gaussian's standard deviation in pixels, ``sigma >= 1 / pi``; or one
        per spatial axis (a tuple of cutoffs comes back).  With ``spacing``, in
        the units of ``spacing`` (e.g. micrometres).
    spacing : tuple of float, optional
        The pixel (voxel) size along each spatial axis, e.g. ``(2.0, 0.5, 0.5)``
        for z, y, x: ``sigma`` is then physical, and becomes ``sigma / spacing``
        pixels along each axis, one cutoff per axis.

    Returns
    -------
    float or tuple of float
        ``D0 = 1 / (2 * pi * sigma)`` in cycles/pixel, one per axis for a tuple
        ``sigma`` or a ``spacing``.

    Raises
    ------
    TypeError
        If ``sigma`` is not a number.
    ValueError
        If ``sigma`` is not positive and finite, or so small that the cutoff
        would pass the Nyquist frequency (``sigma < 1 / pi``).

    Examples
    --------
    >>> round(cutoff_from_sigma(2.0), 6)
    0.079577
    >>> [round(c, 4) for c in cutoff_from_sigma(2.0, spacing=(2.0, 0.5, 0.5))]  # 1, 4, 4 px
    [0.1592, 0.0398, 0.0398]
    """
    if spacing is not None:
        spacing = tuple(check_positive_number(s, "spacing") for s in spacing)
        sigmas = sigma if isinstance(sigma, (tuple, list)) else (sigma,) * len(spacing)
        if len(sigmas) != len(spacing):
            raise ValueError(msg.CUTOFFS_PER_AXIS.format(count=len(sigmas), ndim=len(spacing)))
        return tuple(
            cutoff_from_sigma(check_positive_number(s, "sigma") / d)
            for s, d in zip(sigmas, spacing)
        )
    if isinstance(sigma, (tuple, list)):
        return tuple(cutoff_from_sigma(s) for s in sigma)
    return 1.0 / (2.0 * math.pi * check_sigma(sigma))


# Periodic copies of the Gaussian summed on each side: with cutoff <= 0.5 a copy
# six periods away is below exp(-(5.5 / 0.5)**2 / 2) = 5e-27, nothing in float64.
_COPIES = 6


def _gaussian_axis(f, cutoff):
    """The Gaussian's transfer along one axis: ``exp(-f**2 / (2 cutoff**2))`` summed over the
    frequency lattice ``f + k`` and scaled to 1 at ``f = 0``.

    This is the discrete-time Fourier transform of the Gaussian of
    ``sigma = 1 / (2 pi cutoff)`` sampled at whole pixels, so the kernel applied
    is that sampled Gaussian (``scipy.ndimage.gaussian_filter``'s, untruncated),
    smooth and periodic in frequency.  ``exp(-f**2 / (2 cutoff**2))`` alone
    stops with a kink at the Nyquist frequency, whose kernel falls only as
    ``1 / d**2``; the two differ by at most ``exp(-1 / (8 cutoff**2))``
    (4e-6 at cutoff 0.1, sigma 1.6 px).
    """
    f = np.asarray(f, dtype=np.float64)
    k = np.arange(-_COPIES, _COPIES + 1, dtype=np.float64)
    scale = 2.0 * cutoff * cutoff
    total = np.exp(-((f[..., None] + k) ** 2) / scale).sum(axis=-1)
    return total / np.exp(-(k**2) / scale).sum()


def transfer_grid(fy, fx, cutoff, filter, order):
    """``H`` on the grid of row frequencies ``fy`` by column frequencies ``fx`` (cycles/pixel)."""
    return transfer_nd((fy, fx), cutoff, filter, order)


def transfer_nd(freqs, cutoff, filter, order):
    """``H`` on the grid of the frequencies ``freqs`` (cycles/pixel), one 1-D array per axis,
    with ``cutoff`` one value or one per axis.

    The Gaussian is separable: the product of its axes' transfer functions, each with its
    own cutoff.  Butterworth and ideal are radial in ``D/D0``: with one cutoff per axis,
    the ellipsoid ``sum((f_i / D0_i)**2)``, which is ``D**2 / D0**2`` for one cutoff.
    """
    k = len(freqs)
    cutoffs = axis_cutoffs(cutoff, k)
    grids = [
        np.asarray(f, dtype=np.float64).reshape((-1,) + (1,) * (k - 1 - i))
        for i, f in enumerate(freqs)
    ]
    if filter == "gaussian":
        h = _gaussian_axis(grids[0], cutoffs[0])
        for f, c in zip(grids[1:], cutoffs[1:]):
            h = h * _gaussian_axis(f, c)
        return h
    if len(set(cutoffs)) == 1:
        c = cutoffs[0]
        d2 = sum(f**2 for f in grids)
        r2 = d2 / (c * c)
        limit = c * c
    else:
        d2 = r2 = sum((f / c) ** 2 for f, c in zip(grids, cutoffs))
        limit = 1.0
    if filter == "butterworth":
        return 1.0 / (1.0 + r2**order)
    return (d2 <= limit).astype(d2.dtype)


def axis_cutoffs(cutoff, ndim):
    """``cutoff`` as a tuple of ``ndim`` floats: one value for every axis, or one per axis."""
    if isinstance(cutoff, (tuple, list, np.ndarray)):
        if len(cutoff) != ndim:
            raise ValueError(msg.CUTOFFS_PER_AXIS.format(count=len(cutoff), ndim=ndim))
        return tuple(float(c) for c in cutoff)
    return (float(cutoff),) * ndim


def transfer_profile(f, cutoff, filter, order):
    """``H`` along the column axis, at frequencies ``f`` (cycles/pixel), for plots."""
    return transfer_grid(np.zeros(1), np.asarray(f, dtype=np.float64), cutoff, filter, order)[0]


def transfer_function(shape, cutoff, filter="gaussian", order=4, dtype=np.float64):
    """Transfer function on the half-plane grid of a real 2-D FFT of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the real array to be transformed.
    cutoff : float
        ``D0`` in cycles/pixel, ``0 < cutoff <= 0.5``.
    filter : {"gaussian", "butterworth", "ideal"}
        Which transfer function (see Notes).
    order : int
        Butterworth order; ignored by the other filters.
    dtype : numpy dtype
        The result's dtype: float32 or float64.

    Returns
    -------
    numpy.ndarray, shape ``(rows, cols // 2 + 1)``
        Read-only and cached per argument set, so every chunk of one shape
        shares one array.

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it, the value given and what is allowed
        (the validators the command line uses too).

    Notes
    -----
    With ``D`` the radial frequency of ``fftfreq`` (Gonzalez and Woods, ch. 4):
    ideal ``H = [D <= D0]``, Butterworth ``H = 1 / (1 + (D/D0)**(2n))``,
    Gaussian ``H = exp(-D**2 / (2 D0**2))`` summed over the periodic copies
    of the frequency square, per axis: the transform of the Gaussian of
    ``sigma = 1 / (2 pi D0)`` sampled at whole pixels, which is the kernel
    ``scipy.ndimage.gaussian_filter`` applies.  Without the copies the
    Gaussian would stop with a kink at the Nyquist frequency and its kernel
    would fall as ``1 / d**2`` (a 1024-px halo at sigma 1); the two differ by
    at most ``exp(-1 / (8 D0**2))``, 4e-6 for ``D0 <= 0.1`` (sigma >= 1.6 px).
    ``H(0) = 1`` for all three.

    Examples
    --------
    >>> H = transfer_function((4, 4), 0.25, "ideal")
    >>> H.shape, float(H[0, 0]), float(H[2, 2])
    ((4, 3), 1.0, 0.0)
    """
    shape = check_shape(shape)
    if isinstance(cutoff, (tuple, list, np.ndarray)):
        cutoff = tuple(check_cutoff(c) for c in axis_cutoffs(cutoff, len(shape)))
        filter, order, _ = check_filter(cutoff[0], filter, order)[1:]
    else:
        cutoff, filter, order, _ = check_filter(cutoff, filter, order)
    make = _transfer_function if len(shape) == 2 else _transfer_function.__wrapped__
    return make(shape, cutoff, filter, order, check_float_dtype(dtype))  # a 3-D grid: uncached


@lru_cache(maxsize=64)
def transfer_factors(shape, cutoff, dtype=np.float64):
    """The Gaussian's transfer function on the half-space grid of a real FFT of ``shape`` as
    its factors, one 1-D array per axis (the last over ``rfftfreq``): their outer product is
    :func:`transfer_function`'s grid, which is never made.  Read-only, cached."""
    cutoffs = axis_cutoffs(cutoff, len(shape))
    freqs = [np.fft.fftfreq(n) for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    out = tuple(
        np.ascontiguousarray(_gaussian_axis(f, c), dtype=dtype) for f, c in zip(freqs, cutoffs)
    )
    for factor in out:
        factor.flags.writeable = False
    return out


@lru_cache(maxsize=16)
def _transfer_function(shape, cutoff, filter, order, dtype):
    # Frequencies in float64 whatever ``dtype``: the ideal filter's edge must
    # fall where a float64 reference puts it (f = 0.15 is not 0.15f).
    freqs = [np.fft.fftfreq(n) for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    h = transfer_nd(freqs, cutoff, filter, order)
    h = np.ascontiguousarray(h, dtype=dtype)
    h.flags.writeable = False
    return h
