"""Spectral kernels, NumPy only: per-chunk log-magnitude spectra, atlas cells, radial power.

The lazy forms, one spectrum per chunk of a dask array and the atlas, are in
:mod:`daskfft.api.spectra`.
"""

from __future__ import annotations

from functools import lru_cache

import ducc0
import numpy as np

__all__ = [
    "WINDOWS",
    "SUMMARY_WINDOW",
    "central_window",
    "windowed_spectrum",
    "log_spectrum",
    "atlas_from_half",
    "spectrum_block",
    "atlas_cell",
    "RADIAL_EDGES",
    "radial_power_from",
    "radial_power",
    "SUMMARY_WINDOW_3D",
    "RADIAL_EDGES_3D",
    "central_volume",
    "windowed_spectrum_nd",
    "log_spectrum_nd",
    "volume_spectrum_block",
    "volume_atlas_cell",
    "central_plane",
    "central_plane_spectrum",
    "radial_power_nd_from",
    "radial_power_nd",
]


WINDOWS = ("hann", "none")

#: The run's per-chunk summaries (atlas tile, spectrum tile, radial power) look
#: at most this many pixels along each axis, at the chunk's centre.  The atlas
#: shows a chunk in at most 256 px (128 px on an 8 x 8 grid) and the radial
#: plot has bins 0.011 cycles/pixel wide, which a 512-px window resolves 5.6
#: times over.  Measured at 8192^2 on 1024-px chunks (2 cores), the summaries
#: from the full 1024-px window cost about as much as the filter itself (9 ms a
#: chunk against its 10-ms FFT pair); from 512 px, 2.5 ms.
SUMMARY_WINDOW = 512


def central_window(block, most=SUMMARY_WINDOW):
    """The centre of ``block``, at most ``most`` pixels along each of its first two axes."""
    slices = tuple(
        slice((n - min(n, most)) // 2, (n - min(n, most)) // 2 + min(n, most))
        for n in block.shape[:2]
    )
    return block[slices]


@lru_cache(maxsize=16)
def _windows(shape, window):
    """The separable window's two factors, float32: periodic Hann, or ones."""
    if window == "none":
        out = tuple(np.ones(n, np.float32) for n in shape)
    else:
        # Periodic Hann: the spectral-analysis form, exact for a pure tone
        # whose period divides the chunk.
        out = tuple(
            np.ones(1, np.float32)
            if n == 1
            else (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
            for n in shape
        )
    for w in out:
        w.flags.writeable = False
    return out


def _brightness(block):
    return _brightness_nd(block, 2)


def _channel_mean(x):
    """``x.mean(axis=-1, dtype=np.float32)`` of float32 ``x``, bit for bit: its few channels
    added in order to zero (-0.0 becomes 0.0) and divided, as NumPy's reduction of fewer than
    8 values does, without its loop over an axis of 3 (a 512² RGB window's 4.3 ms, 0.7 ms)."""
    k = x.shape[-1]
    if k >= 8:  # NumPy sums eight or more pairwise
        return x.mean(axis=-1, dtype=np.float32)
    total = x[..., 0] + np.float32(0)
    for c in range(1, k):
        total += x[..., c]
    total /= np.float32(k)
    return total


def windowed_spectrum(block, *, window="hann"):
    """Half-plane FFT of the windowed chunk (one real FFT, float32): what every summary uses.

    Returns ``(half, mean, windows)``: ``r2c(window * brightness)``, the
    brightness's mean, and the window's two factors.
    """
    x = _brightness(block)
    w0, w1 = _windows(x.shape, window)
    tapered = np.multiply(x, w0[:, None], dtype=np.float32)
    tapered *= w1[None, :]
    return (ducc0.fft.r2c(tapered, axes=(0, 1)), float(x.mean()), (w0, w1))


def _full_magnitude(half, shape):
    """``|F|`` on the whole (uncentred) grid from a half-plane spectrum, float32."""
    rows, cols = shape
    mag = np.abs(half)
    # The other half-plane by Hermitian symmetry: |F[k0, k1]| = |F[-k0, -k1]|, with
    # views and one roll rather than fancy indexing.
    full = np.empty(shape, np.float32)
    h = mag.shape[1]
    full[:, :h] = mag
    if cols > h:
        flipped = np.roll(mag[::-1], 1, axis=0)  # row -k0 at row k0
        full[:, h:] = flipped[:, cols - h : 0 : -1]
    return full


def _window_sum(windows):
    return float(windows[0].sum(dtype=np.float64) * windows[1].sum(dtype=np.float64))


def log_spectrum(half, shape, windows):
    """The full, centred ``log1p(|F| / sum(window))`` from a half-plane spectrum."""
    full = _full_magnitude(half, shape)
    full /= _window_sum(windows)
    return np.fft.fftshift(np.log1p(full)).astype(np.float32, copy=False)


def atlas_from_half(half, shape, windows, *, cell):
    """``atlas_cell(log_spectrum(half, shape, windows), cell=cell)``, pooled before the log.

    The max-pool commutes with the monotone ``log1p`` and, when the pool
    factor divides the half-size, with the centring shift, so only
    ``cell**2`` logs are taken.
    """
    f = [n // cell if n % cell == 0 and n > cell else 0 for n in shape]
    if not all(f) or any((n // 2) % k for n, k in zip(shape, f)):
        return atlas_cell(log_spectrum(half, shape, windows), cell=cell)
    pooled = atlas_cell(_full_magnitude(half, shape), cell=cell)
    pooled = np.roll(pooled, ((shape[0] // 2) // f[0], (shape[1] // 2) // f[1]), axis=(0, 1))
    pooled /= _window_sum(windows)
    return np.log1p(pooled).astype(np.float32, copy=False)


def spectrum_block(block, *, window="hann"):
    """Log-magnitude spectrum of one chunk, zero frequency at ``(rows//2, cols//2)``.

    Parameters
    ----------
    block : numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``; channels are averaged
        first, so a colour chunk gives the spectrum of its brightness.
    window : {"hann", "none"}
        Taper applied before the FFT against leakage from the chunk's edges.

    Returns
    -------
    numpy.ndarray, float32, shape ``(rows, cols)``
        ``log1p(|FFT(window * block)| / sum(window))``: a sinusoid of amplitude
        ``a`` whose period divides the chunk peaks at ``log1p(a/2)``.
    """
    half, _, windows = windowed_spectrum(block, window=window)
    return log_spectrum(half, np.shape(block)[:2], windows)


def _resample_axis(x, size, axis):
    n = x.shape[axis]
    if n % size == 0 and n > size:  # the same max-pool, several times faster
        k = n // size
        if axis == 0:  # a reduction over a middle axis
            return x.reshape((size, k) + x.shape[1:]).max(axis=1)

        # Strided maxima: numpy's max over a short last axis is several times slower.
        def every(j):
            return x[(slice(None),) * axis + (slice(j, None, k),)]

        pooled = every(0).copy()
        for j in range(1, k):
            np.maximum(pooled, every(j), out=pooled)
        return pooled
    if n >= size:  # max-pool, so that a one-pixel peak survives shrinking
        edges = (np.arange(size) * n) // size
        return np.maximum.reduceat(x, edges, axis=axis)
    return np.take(x, (np.arange(size) * n) // size, axis=axis)


def atlas_cell(block, *, cell):
    """Resample one spectrum to a ``cell`` x ``cell`` tile (max-pooling when shrinking)."""
    return _resample_axis(_resample_axis(block, cell, 0), cell, 1)


#: Radial frequency bins of the power spectra, cycles/pixel (to the corner, 0.5 * sqrt 2).
RADIAL_EDGES = np.linspace(0.0, 0.5 * np.sqrt(2.0), 65)


@lru_cache(maxsize=8)
def _radial_bins(shape):
    f = np.sqrt(np.fft.fftfreq(shape[0])[:, None] ** 2 + np.fft.rfftfreq(shape[1])[None, :] ** 2)
    idx = np.clip(np.digitize(f.ravel(), RADIAL_EDGES) - 1, 0, len(RADIAL_EDGES) - 2)
    counts = np.bincount(idx, minlength=len(RADIAL_EDGES) - 1)
    return idx, counts


def _window_spectrum_near_dc(windows):
    """The window's own half-plane spectrum where it is not zero (for Hann, the bins next to DC).

    Returns ``(rows, cols, values)`` for ``x[np.ix_(rows, cols)]``.
    """
    f0 = np.fft.fft(windows[0].astype(np.float64))
    f1 = np.fft.rfft(windows[1].astype(np.float64))
    r = np.flatnonzero(np.abs(f0) > 1e-9 * np.abs(f0).max())
    c = np.flatnonzero(np.abs(f1) > 1e-9 * np.abs(f1).max())
    return r, c, np.outer(f0[r], f1[c])


def radial_power_from(half, shape, mean, windows, h2=None):
    """Radially binned power of the chunk less its mean, from its windowed spectrum.

    The mean is taken out where the window's spectrum puts it (the bins
    next to DC), so no second FFT is needed.  With ``h2`` (``|H|**2`` on the
    same half-plane grid), also the power of the filtered chunk, ``|H|**2``
    times the input's.  Returns ``(sums, sums_filtered or None, counts)``.
    """
    idx, counts = _radial_bins(shape)
    power = half.real * half.real
    power += half.imag * half.imag
    r, c, near = _window_spectrum_near_dc(windows)
    fixed = half[np.ix_(r, c)].astype(np.complex128) - mean * near
    power[np.ix_(r, c)] = fixed.real**2 + fixed.imag**2
    power = power.ravel()
    w0, w1 = (w.astype(np.float64) for w in windows)
    norm = max(float((w0**2).sum() * (w1**2).sum()), 1e-12)
    sums = np.bincount(idx, weights=power, minlength=len(RADIAL_EDGES) - 1) / norm
    filtered = None
    if h2 is not None:
        filtered = (
            np.bincount(idx, weights=power * h2.ravel(), minlength=len(RADIAL_EDGES) - 1) / norm
        )
    return sums, filtered, counts


def radial_power(block):
    """Hann-windowed power spectrum of a chunk's brightness, less its mean, in radial bins.

    Returns ``(sums, counts)`` over :data:`RADIAL_EDGES`; chunks of any size
    add up, since the frequencies are in cycles/pixel.
    """
    half, mean, windows = windowed_spectrum(block)
    sums, _, counts = radial_power_from(half, np.shape(block)[:2], mean, windows)
    return sums, counts


# --- Volumes: (z, y, x) chunks, channels (if any) last and averaged --------------------------

#: The radial power of a volume chunk looks at most this many voxels along each axis, at
#: the chunk's centre: a 128^3 window resolves the 0.011 cycles/voxel bins of
#: :data:`RADIAL_EDGES_3D` 1.4 times over (1/128 = 0.0078), in one FFT of 2 M voxels; a
#: 512^3 one would be 134 M voxels, and its bin indices alone 0.5 GB.
SUMMARY_WINDOW_3D = 128

#: Spherical shells of radial frequency, cycles/voxel: :data:`RADIAL_EDGES`'s 64 bins, the
#: same edges, then bins of the same width on to the 3-D corner (0.5 * sqrt 3).
RADIAL_EDGES_3D = np.concatenate(
    [
        RADIAL_EDGES,
        RADIAL_EDGES[-1]
        + RADIAL_EDGES[1]
        * np.arange(1, int(np.ceil((0.5 * np.sqrt(3.0) - RADIAL_EDGES[-1]) / RADIAL_EDGES[1])) + 1),
    ]
)


def central_volume(block, most=SUMMARY_WINDOW_3D):
    """The centre of ``block``, at most ``most`` voxels along each of its first three axes."""
    slices = tuple(
        slice((n - min(n, most)) // 2, (n - min(n, most)) // 2 + min(n, most))
        for n in block.shape[:3]
    )
    return block[slices]


def _brightness_nd(block, spatial):
    """``block`` as float32, its channels (the axes after the first ``spatial``) averaged."""
    x = np.asarray(block, dtype=np.float32)
    if x.ndim == spatial + 1:
        return _channel_mean(x)
    return x.mean(axis=tuple(range(spatial, x.ndim)), dtype=np.float32) if x.ndim > spatial else x


def _window_nd(windows):
    """The separable window's outer product, float32."""
    out = windows[0]
    for w in windows[1:]:
        out = np.multiply.outer(out, w)
    return out


def windowed_spectrum_nd(block, *, window="hann", spatial=3):
    """:func:`windowed_spectrum` of a chunk with ``spatial`` spatial axes (channels after
    them, averaged): one real FFT over those axes, the last one halved (float32).

    Returns ``(half, mean, windows)``: ``r2c(window * brightness)``, the brightness's mean,
    and the window's factors, one per spatial axis.
    """
    x = _brightness_nd(block, spatial)
    windows = _windows(x.shape, window)
    tapered = np.multiply(x, _window_nd(windows), dtype=np.float32)
    return ducc0.fft.r2c(tapered, axes=tuple(range(spatial))), float(x.mean()), windows


def _full_magnitude_nd(half, shape):
    """``|F|`` on the whole (uncentred) N-D grid from a half-spectrum, float32."""
    mag = np.abs(half)
    full = np.empty(shape, np.float32)
    h, n = mag.shape[-1], shape[-1]
    full[..., :h] = mag
    if n > h:  # |F[k]| = |F[-k]|: every leading axis reversed and rolled by one
        lead = tuple(range(mag.ndim - 1))
        flipped = np.roll(mag[(slice(None, None, -1),) * len(lead)], (1,) * len(lead), axis=lead)
        full[..., h:] = flipped[..., n - h : 0 : -1]
    return full


def log_spectrum_nd(half, shape, windows):
    """The full, centred ``log1p(|F| / sum(window))`` of an N-D half-spectrum (float32):
    zero frequency at ``n // 2`` along every axis."""
    full = _full_magnitude_nd(half, shape)
    full /= float(np.prod([w.sum(dtype=np.float64) for w in windows]))
    return np.fft.fftshift(np.log1p(full)).astype(np.float32, copy=False)


def volume_spectrum_block(block, *, window="hann"):
    """Log-magnitude 3-D spectrum of one volume chunk, zero frequency at each axis's ``n//2``.

    Parameters
    ----------
    block : numpy.ndarray
        ``(z, y, x)`` or ``(z, y, x, channels)``; channels are averaged first.
    window : {"hann", "none"}
        Taper (the outer product of one per axis) against leakage from the chunk's faces.

    Returns
    -------
    numpy.ndarray, float32, shape ``(z, y, x)``
        ``log1p(|FFTN(window * block)| / sum(window))``: a plane wave of amplitude ``a``
        whose period divides the chunk along every axis peaks at ``log1p(a/2)``.
    """
    half, _, windows = windowed_spectrum_nd(block, window=window)
    return log_spectrum_nd(half, _brightness_nd(block, 3).shape, windows)


def volume_atlas_cell(block, *, cell):
    """The atlas tile of one volume chunk's 3-D spectrum (:func:`volume_spectrum_block`):
    its plane ``z = n//2`` (zero z-frequency), resampled as :func:`atlas_cell` does."""
    return atlas_cell(block[block.shape[0] // 2], cell=cell)


def central_plane(block, *, window="hann", most=SUMMARY_WINDOW):
    """The plane whose 2-D spectrum is a volume chunk's atlas tile, float32 ``(y, x)``.

    The chunk's central window (at most ``most`` voxels along each axis), channels
    averaged, then averaged along z with the z-window's weights (Hann: centred on the
    window's plane ``z = n//2``).  Its :func:`windowed_spectrum` and :func:`log_spectrum`
    are exactly the plane ``z = n//2`` (zero z-frequency) of the window's
    :func:`volume_spectrum_block`, for the price of one 2-D FFT.
    """
    x = _brightness_nd(central_volume(block, most), 3)
    wz = _windows(x.shape[:1], window)[0]
    return np.tensordot(wz / wz.sum(dtype=np.float32), x, axes=(0, 0)).astype(
        np.float32, copy=False
    )


def central_plane_spectrum(block, *, window="hann", most=SUMMARY_WINDOW):
    """A volume chunk's :func:`central_plane` and its :func:`windowed_spectrum`, for the atlas
    and spectrum tiles (:func:`atlas_from_half`, :func:`log_spectrum` with ``plane.shape``).

    Returns ``(plane, half, mean, windows)``.
    """
    plane = central_plane(block, window=window, most=most)
    return (plane, *windowed_spectrum(plane, window=window))


@lru_cache(maxsize=4)
def _shell_bins(shape):
    """Each half-spectrum voxel's shell of :data:`RADIAL_EDGES_3D`, and the shells' counts."""
    lead = [np.fft.fftfreq(n) ** 2 for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1]) ** 2]
    f2 = lead[0]
    for g in lead[1:]:
        f2 = np.add.outer(f2, g)
    nbins = len(RADIAL_EDGES_3D) - 1
    idx = np.clip(np.digitize(np.sqrt(f2).ravel(), RADIAL_EDGES_3D) - 1, 0, nbins - 1)
    idx.flags.writeable = False
    return idx, np.bincount(idx, minlength=nbins)


def _window_near_dc_nd(windows):
    """The window's own half-spectrum where it is not zero: ``(index, values)`` for
    ``x[np.ix_(*index)]`` (for Hann, the bins next to DC along every axis)."""
    spectra = [np.fft.fft(w.astype(np.float64)) for w in windows[:-1]]
    spectra.append(np.fft.rfft(windows[-1].astype(np.float64)))
    index = tuple(np.flatnonzero(np.abs(f) > 1e-9 * np.abs(f).max()) for f in spectra)
    values = spectra[0][index[0]]
    for f, i in zip(spectra[1:], index[1:]):
        values = np.multiply.outer(values, f[i])
    return index, values


def radial_power_nd_from(half, shape, mean, windows, h2=None):
    """:func:`radial_power_from` in spherical shells (N-D, the shells of
    :data:`RADIAL_EDGES_3D`): the power of the chunk less its mean, from its windowed
    half-spectrum (:func:`windowed_spectrum_nd`), and with ``h2`` (``|H|**2`` on the same
    grid) the filtered chunk's.  Returns ``(sums, sums_filtered or None, counts)``.
    """
    idx, counts = _shell_bins(tuple(shape))
    power = half.real * half.real
    power += half.imag * half.imag
    index, near = _window_near_dc_nd(windows)
    cut = np.ix_(*index)
    fixed = half[cut].astype(np.complex128) - mean * near
    power[cut] = fixed.real**2 + fixed.imag**2
    power = power.ravel()
    norm = max(float(np.prod([(w.astype(np.float64) ** 2).sum() for w in windows])), 1e-12)
    nbins = len(RADIAL_EDGES_3D) - 1
    sums = np.bincount(idx, weights=power, minlength=nbins) / norm
    filtered = None
    if h2 is not None:
        filtered = np.bincount(idx, weights=power * h2.ravel(), minlength=nbins) / norm
    return sums, filtered, counts


def radial_power_nd(block):
    """Hann-windowed power spectrum of a volume chunk, less its mean, in spherical shells.

    ``block`` is ``(z, y, x)`` or ``(z, y, x, channels)`` (channels averaged), taken whole
    (:func:`central_volume` cuts the run's summary window).  Returns ``(sums, counts)`` over
    :data:`RADIAL_EDGES_3D`; chunks of any size add up, the frequencies being in
    cycles/voxel.
    """
    half, mean, windows = windowed_spectrum_nd(block)
    sums, _, counts = radial_power_nd_from(half, _brightness_nd(block, 3).shape, mean, windows)
    return sums, counts
