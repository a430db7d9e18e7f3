"""Spectral kernels and their lazy forms: per-chunk log-magnitude spectra, the atlas, radial power."""

from __future__ import annotations

from functools import lru_cache

import dask.array as da
import ducc0
import numpy as np

from .blockwise import as_image

__all__ = ["spectra", "spectra_atlas", "spectrum_block", "atlas_cell", "radial_power", "RADIAL_EDGES",
           "WINDOWS"]

WINDOWS = ("hann", "none")


@lru_cache(maxsize=16)
def _window(shape, window):
    if window == "none":
        w = np.ones(shape)
    else:
        # Periodic Hann: the spectral-analysis form, exact for a pure tone
        # whose period divides the chunk.
        w0, w1 = (np.ones(1) if n == 1 else 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
                  for n in shape)
        w = np.outer(w0, w1)
    w.flags.writeable = False
    return w


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
    x = np.asarray(block, dtype=np.float64)
    if x.ndim == 3:
        x = x.mean(axis=2)
    w = _window(x.shape, window)
    half = np.abs(ducc0.fft.r2c(x * w, axes=(0, 1)))
    rows, cols = x.shape
    # The other half-plane by Hermitian symmetry: |F[k0, k1]| = |F[-k0, -k1]|.
    full = np.empty(x.shape)
    full[:, : half.shape[1]] = half
    if cols > half.shape[1]:
        k1 = np.arange(half.shape[1], cols)
        full[:, k1] = half[(-np.arange(rows)) % rows][:, cols - k1]
    full /= w.sum()
    return np.fft.fftshift(np.log1p(full)).astype(np.float32)


def spectra(image, *, window="hann"):
    """One log-magnitude spectrum per chunk, on the image's own chunk grid.

    Parameters
    ----------
    image : numpy.ndarray or dask.array.Array
        2-D or channels-last 3-D image, as for :func:`daskfft.lowpass`.
    window : {"hann", "none"}, default "hann"
        Taper against leakage from each chunk's edges.

    Returns
    -------
    dask.array.Array, float32, shape ``image.shape[:2]``
        Lazy; block ``(i, j)`` is ``log1p(|FFT|)`` of chunk ``(i, j)`` (see
        :func:`spectrum_block`), zero frequency at the block's centre.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.arange(64)[:, None]
    >>> image = np.cos(2 * np.pi * rows / 8) + np.zeros((64, 64))
    >>> s = spectra(image).compute()
    >>> peak = np.unravel_index(np.argmax(s), s.shape)
    >>> int(peak[0]) - 32, int(peak[1]) - 32  # 64/8 = 8 cycles per chunk
    (-8, 0)
    """
    if window not in WINDOWS:
        raise ValueError(f"`window` must be one of {', '.join(WINDOWS)}, got {window!r}")
    image = as_image(image)
    return image.map_blocks(
        spectrum_block,
        window=window,
        drop_axis=[2] if image.ndim == 3 else [],
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )


def _resample_axis(x, size, axis):
    n = x.shape[axis]
    if n >= size:  # max-pool, so that a one-pixel peak survives shrinking
        edges = (np.arange(size) * n) // size
        return np.maximum.reduceat(x, edges, axis=axis)
    return np.take(x, (np.arange(size) * n) // size, axis=axis)


def atlas_cell(block, *, cell):
    """Resample one spectrum to a ``cell`` x ``cell`` tile (max-pooling when shrinking)."""
    return _resample_axis(_resample_axis(block, cell, 0), cell, 1)


def spectra_atlas(spec, *, cell="auto", max_size=2048):
    """Tile per-chunk spectra into one picture of bounded size, chunk by chunk.

    Parameters
    ----------
    spec : dask.array.Array
        Output of :func:`spectra`.
    cell : "auto" or int, default "auto"
        Tile edge in pixels; "auto" gives the largest of at most 256 that keeps
        the atlas within ``max_size``.
    max_size : int, default 2048
        Largest atlas edge in pixels (at least one pixel per chunk is kept).

    Returns
    -------
    dask.array.Array, float32
        Lazy, ``(cell * nrows_of_chunks, cell * ncols_of_chunks)``; tile
        ``(i, j)`` shows chunk ``(i, j)``'s spectrum.  Only the small tiles
        are ever gathered, never the full-size spectra.

    Examples
    --------
    >>> import numpy as np
    >>> atlas = spectra_atlas(spectra(np.zeros((100, 300)), window="none").rechunk((50, 100)))
    >>> atlas.shape
    (512, 768)
    """
    if not isinstance(spec, da.Array) or spec.ndim != 2:
        raise TypeError("`spec` must be the 2-D dask array returned by daskfft.spectra")
    if cell == "auto":
        cell = max(1, min(256, max_size // max(spec.numblocks)))
    elif isinstance(cell, bool) or not isinstance(cell, int) or cell < 1:
        raise ValueError(f'`cell` must be "auto" or an integer >= 1, got {cell!r}')
    return spec.map_blocks(
        atlas_cell,
        cell=cell,
        chunks=((cell,) * spec.numblocks[0], (cell,) * spec.numblocks[1]),
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )


#: Radial frequency bins of the power spectra, cycles/pixel (to the corner, 0.5 * sqrt 2).
RADIAL_EDGES = np.linspace(0.0, 0.5 * np.sqrt(2.0), 65)


@lru_cache(maxsize=8)
def _radial_bins(shape):
    f = np.sqrt(np.fft.fftfreq(shape[0])[:, None] ** 2 + np.fft.rfftfreq(shape[1])[None, :] ** 2)
    idx = np.clip(np.digitize(f.ravel(), RADIAL_EDGES) - 1, 0, len(RADIAL_EDGES) - 2)
    counts = np.bincount(idx, minlength=len(RADIAL_EDGES) - 1)
    windows = tuple(np.hanning(n).astype(np.float32) if n > 2 else np.ones(n, np.float32)
                    for n in shape)
    return idx, counts, windows


def radial_power(block):
    """Hann-windowed power spectrum of a chunk's brightness, summed in radial bins.

    Returns ``(sums, counts)`` over :data:`RADIAL_EDGES`; chunks of any size
    add up, since the frequencies are in cycles/pixel.  Single precision and
    cached bins keep the task's extra memory to about two copies of the chunk.
    """
    x = np.asarray(block, dtype=np.float32)
    if x.ndim == 3:
        x = x.mean(axis=2, dtype=np.float32)
    else:
        x = x.copy()
    idx, counts, (w0, w1) = _radial_bins(x.shape)
    x -= x.mean()
    x *= w0[:, None]
    x *= w1[None, :]
    norm = max(float((w0.astype(np.float64) ** 2).sum() * (w1.astype(np.float64) ** 2).sum()), 1e-12)
    power = np.abs(ducc0.fft.r2c(x, axes=(0, 1))) ** 2
    sums = np.bincount(idx, weights=power.ravel(), minlength=len(RADIAL_EDGES) - 1) / norm
    return sums, counts
