"""The exact whole-image filter, done in chunks: one FFT over the whole (padded) image.

Row bands get a real FFT along the rows; a rechunk to column bands (dask's
peer-to-peer rechunk on a distributed cluster) lets one task FFT whole
columns, multiply by ``H`` on the whole-image frequency grid and transform
back; a rechunk to row bands and an inverse real FFT along the rows finish
it.  Every block of the plan holds about as many pixels as one input chunk,
so no task ever holds the whole image (bands hold at least one megapixel).
"""

from __future__ import annotations

import dask.array as da
import ducc0
import numpy as np

from daskfft.kernels.halo import DEPTH_CAP, HaloWarning, halo_depth
from daskfft.kernels.transfer import transfer_grid

__all__ = ["exact_padding", "lowpass_exact"]


def exact_padding(cutoff, *, filter, order, tol, boundary):
    """Pixels of boundary extension added on every side before the whole-image FFT.

    ``"periodic"`` needs none (the FFT is periodic).  Otherwise the kernel's
    reach, :func:`daskfft.halo_depth` at ``tol``; for ``"ideal"``, whose reach
    is unbounded, :data:`daskfft.DEPTH_CAP` (1024) pixels.
    """
    if boundary == "periodic":
        return 0
    if filter == "ideal":
        return DEPTH_CAP
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HaloWarning)
        return halo_depth(cutoff, filter=filter, order=order, tol=tol)


def _extension_index(n, pad, boundary):
    """Source index of every pixel of an axis of ``n`` extended by ``pad`` on both sides."""
    i = np.arange(-pad, n + pad)
    if boundary == "nearest":
        return np.clip(i, 0, n - 1)
    i = np.mod(i, 2 * n)  # "reflect" (NumPy's symmetric) repeats with period 2n
    return np.where(i < n, i, 2 * n - 1 - i)


def _pad(image, pad, boundary, chunk_pixels):
    """``np.pad`` of a dask array by ``pad`` on both image axes, also wider than the image.

    Along an axis at least ``pad`` long, rows (columns) are gathered by index,
    a few ``take`` pieces per margin; a shorter axis is put in one chunk and
    padded by NumPy in each block, so a wide pad never becomes many tiny tasks.
    """
    if pad == 0:
        return image
    mode = (
        "constant"
        if not isinstance(boundary, str)
        else {"reflect": "symmetric", "nearest": "edge"}[boundary]
    )
    for axis in (0, 1):
        n = image.shape[axis]
        if mode == "constant":
            shape = list(image.shape)
            shape[axis] = pad
            chunks = list(image.chunks)
            chunks[axis] = (pad,)
            margin = da.full(shape, boundary, dtype=image.dtype, chunks=tuple(chunks))
            image = da.concatenate([margin, image, margin], axis=axis)
            continue
        if n >= pad:
            image = da.take(image, _extension_index(n, pad, boundary), axis=axis)
            continue
        other = 1 - axis
        image = image.rechunk({axis: -1, other: max(1, chunk_pixels // (n + 2 * pad))})
        widths = [(0, 0)] * image.ndim
        widths[axis] = (pad, pad)
        chunks = list(image.chunks)
        chunks[axis] = (n + 2 * pad,)
        image = image.map_blocks(
            np.pad, widths, mode=mode, chunks=tuple(chunks), dtype=image.dtype, meta=image._meta
        )
    return image


def _rfft_rows(block):
    return ducc0.fft.r2c(block, axes=(1,))


def _filter_columns(block, block_info=None, shape=None, cutoff=None, filter=None, order=None):
    """FFT whole columns, multiply by H on the whole-image grid, inverse FFT; one task."""
    (c0, c1) = block_info[0]["array-location"][1]
    spec = ducc0.fft.c2c(block, axes=(0,), forward=True)
    real = np.float32 if block.dtype == np.complex64 else np.float64
    fy = np.fft.fftfreq(shape[0])  # float64: see transfer_function
    fx = np.fft.rfftfreq(shape[1])[c0:c1]
    h = transfer_grid(fy, fx, cutoff, filter, order).astype(real)
    spec *= h.reshape(h.shape + (1,) * (block.ndim - 2))
    return ducc0.fft.c2c(spec, axes=(0,), forward=False, inorm=2, out=spec)


def _irfft_rows(block, cols=None):
    return ducc0.fft.c2r(block, axes=(1,), lastsize=cols, forward=False, inorm=2)


def lowpass_exact(image, cutoff, *, filter, order, tol, boundary, dtype):
    """The exact filter of ``image`` (already validated): see the module's docstring."""
    pad = exact_padding(cutoff, filter=filter, order=order, tol=tol, boundary=boundary)
    # Bands as large as the largest chunk, but never below a megapixel: thin
    # bands would turn the two rechunks into millions of tiny tasks.
    chunk_pixels = max(2**20, max(image.chunks[0]) * max(image.chunks[1]))
    extra = (-1,) * (image.ndim - 2)
    rows, cols = image.shape[0] + 2 * pad, image.shape[1] + 2 * pad
    band = max(1, chunk_pixels // cols)
    # Full-width row bands before padding: each band is extended along its
    # rows in one task, and only the few bands at the edges feed the new rows.
    channels = int(np.prod(image.shape[2:]))
    # Rechunks may plan intermediate blocks; keep those within two bands too.
    limit = 2 * chunk_pixels * channels * np.dtype(dtype).itemsize * 2
    x = _pad(
        image.astype(dtype).rechunk((band, -1) + extra, block_size_limit=limit),
        pad,
        boundary,
        chunk_pixels,
    )
    half = cols // 2 + 1
    complex_dtype = np.complex64 if dtype == np.float32 else np.complex128
    x = x.rechunk((band, -1) + extra, block_size_limit=limit)
    spec = x.map_blocks(
        _rfft_rows,
        chunks=(x.chunks[0], (half,)) + x.chunks[2:],
        dtype=complex_dtype,
        meta=np.empty((0,) * x.ndim, dtype=complex_dtype),
    )
    stripe = max(1, chunk_pixels // rows)
    spec = spec.rechunk((-1, stripe) + extra, block_size_limit=limit).map_blocks(
        _filter_columns,
        shape=(rows, cols),
        cutoff=cutoff,
        filter=filter,
        order=order,
        dtype=complex_dtype,
        meta=np.empty((0,) * x.ndim, dtype=complex_dtype),
    )
    spec = spec.rechunk((band, -1) + extra, block_size_limit=limit)
    out = spec.map_blocks(
        _irfft_rows,
        cols=cols,
        chunks=(spec.chunks[0], (cols,)) + spec.chunks[2:],
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype=dtype),
    )
    out = out[pad : pad + image.shape[0], pad : pad + image.shape[1]]
    return out.rechunk(image.chunks, block_size_limit=limit)
