"""The next pyramid level of a dask array (the kernel: :mod:`daskfft.kernels.overview`)."""

from __future__ import annotations

import numpy as np

from daskfft.api.lowpass import overlap_map
from daskfft.kernels.grid import plan_grid
from daskfft.kernels.overview import overview_chunk, overview_depth

__all__ = ["overview"]


def overview(image, *, nodata=None, alpha=False, tol=1e-6, chunks=1024):
    """The next pyramid level of ``image``: low-passed, shifted half a pixel, every other pixel.

    Parameters
    ----------
    image : dask.array.Array
        ``(rows, cols)`` or ``(rows, cols, channels)``, integers or floats.
    nodata : float, optional
        Pixels equal to it (NaN: NaN pixels) are left out by normalised
        convolution; an overview pixel is nodata only when all four pixels
        under it are.
    alpha : bool or "mask"
        The last channel is an alpha channel: sampled, not filtered.  "mask":
        it is the input's mask, whose 0 leaves pixels out like nodata; the
        overview keeps a pixel where the mask keeps any of the four under it.
    tol : float
        The halo's bound, as for :func:`daskfft.lowpass`.
    chunks : int
        Chunk edge of the input while filtering, pixels (made even).

    Returns
    -------
    dask.array.Array
        ``(ceil(rows / 2), ceil(cols / 2)[, channels])``, in ``image``'s dtype
        (integers rounded and clipped).
    """
    depth = overview_depth(tol)
    chunks = max(2 * depth, chunks + chunks % 2)  # even: each chunk starts on an even pixel
    image = image.rechunk(
        tuple(plan_grid(n, chunks, depth) for n in image.shape[:2]) + (-1,) * (image.ndim - 2)
    )
    out_chunks = tuple(tuple(-(-c // 2) for c in axis) for axis in image.chunks[:2])
    return overlap_map(
        overview_chunk,
        image,
        depth,
        "reflect",
        trim=False,
        chunks=out_chunks + image.chunks[2:],
        dtype=image.dtype,
        meta=np.empty((0,) * image.ndim, dtype=image.dtype),
        depth_px=depth,
        nodata=nodata,
        alpha=alpha,
        tol=tol,
    )
