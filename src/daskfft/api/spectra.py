"""The lazy spectra of a chunked image: one spectrum per chunk, and the atlas."""

from __future__ import annotations

import sys

import numpy as np

from daskfft._docs import docfiller
from daskfft.api.axes import UNSET, array_axes, dims_axes
from daskfft.api.lowpass import as_image
from daskfft.kernels.spectra import (
    WINDOWS,
    atlas_cell,
    spectrum_block,
    volume_atlas_cell,
    volume_spectrum_block,
)
from daskfft.messages import api as msg
from daskfft.validate import check_choice, check_positive_int, check_real

__all__ = ["spectra", "spectra_atlas"]


@docfiller
def spectra(image, *, window="hann", channel_axis=UNSET):
    """One log-magnitude spectrum per chunk, on the image's own chunk grid.

    Parameters
    ----------
    image : numpy.ndarray, dask.array.Array or xarray.DataArray
        2 or 3 spatial axes (``(y, x)`` or ``(z, y, x)``) and optionally a
        channel axis (``channel_axis``), whose channels are averaged to one
        brightness; axes are told as for :func:`daskfft.lowpass`.  A dask
        array keeps its chunks; a NumPy array is cut into chunks of
        ``DEFAULT_CHUNKS`` pixels (``DEFAULT_VOLUME_CHUNKS`` voxels in 3-D).
        A DataArray names its axes by its dims, and must have no time dim.
    window : {"hann", "none"}, default "hann"
        Taper against leakage from each chunk's edges (in 3-D, the outer
        product of one per axis).
    channel_axis : int or None, optional
        Which axis holds channels (scikit-image's convention); None: every axis
        is spatial.  Not given: a 2-D array is an image and a 3-D array a
        volume, except that a 3-D array whose last axis is at most 4 long
        (colours?) is refused with what to pass, as is a 4-D array.

    Returns
    -------
    dask.array.Array, float32, shape the spatial shape of ``image``
        Lazy, on the spatial axes' chunks, in their order in ``image``;
        each block is ``log1p(|FFT| / sum(window))`` of its chunk (see
        ``spectrum_block``; in 3-D ``volume_spectrum_block``, the 3-D
        spectrum), zero frequency at ``n // 2`` along each axis.

    Raises
    ------
    %(raises_arguments)s

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.arange(64)[:, None]
    >>> image = np.cos(2 * np.pi * rows / 8) + np.zeros((64, 64))
    >>> s = spectra(image).compute()
    >>> peak = np.unravel_index(np.argmax(s), s.shape)
    >>> int(peak[0]) - 32, int(peak[1]) - 32  # 64/8 = 8 cycles per chunk
    (-8, 0)
    >>> spectra(np.zeros((16, 32, 32, 3)), channel_axis=-1).shape  # a colour volume
    (16, 32, 32)
    """
    check_choice("window", window, WINDOWS)
    axes, data = _told(image, channel_axis)
    spatial = len(axes.spatial)
    image = as_image(axes.arrange(data), spatial=spatial)
    # The spatial axes come first, in their order in the input: the result needs no
    # restoring, the channels being dropped.
    return image.map_blocks(
        spectrum_block if spatial == 2 else volume_spectrum_block,
        window=window,
        drop_axis=list(range(spatial, image.ndim)),
        dtype=np.float32,
        meta=np.empty((0,) * spatial, dtype=np.float32),
    )


def _told(image, channel_axis):
    """The :class:`~daskfft.api.axes.Axes` of ``image`` (an array's by ``channel_axis``, a
    DataArray's by its dims) and its data; a time dim is refused."""
    xr = sys.modules.get("xarray")  # never imported here: a DataArray means it already is
    if xr is None or not isinstance(image, xr.DataArray):
        image = check_real("image", image)
        return array_axes(image.shape, channel_axis), image
    axes = dims_axes(image.dims, image.shape, channel_axis)
    if axes.frames:
        dim = image.dims[axes.frames[0]]
        raise ValueError(msg.SPECTRA_NO_FRAMES.format(dims=tuple(image.dims), dim=dim))
    return axes, image.data


def spectra_atlas(spec, *, cell="auto", max_size=2048):
    """Tile per-chunk spectra into one picture of bounded size, chunk by chunk.

    Parameters
    ----------
    spec : dask.array.Array
        Output of :func:`spectra`, 2-D or 3-D.
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
        are ever gathered, never the full-size spectra.  For a volume's
        spectra, the atlas of the central z-chunk (chunk ``numblocks[0] // 2``
        along z): tile ``(i, j)`` is the plane ``z = n//2`` (zero z-frequency)
        of that chunk's 3-D spectrum (``volume_atlas_cell``).

    Examples
    --------
    >>> import numpy as np
    >>> atlas = spectra_atlas(spectra(np.zeros((100, 300)), window="none").rechunk((50, 100)))
    >>> atlas.shape
    (512, 768)
    """
    import dask.array as da

    if not isinstance(spec, da.Array) or spec.ndim not in (2, 3):
        raise TypeError(
            msg.SPECTRA_NOT_A_SPECTRA_ARRAY.format(
                type=type(spec).__name__, ndim=getattr(spec, "ndim", 0)
            )
        )
    max_size = check_positive_int("max_size", max_size)
    grid = spec.numblocks[-2:]
    if cell == "auto":
        cell = max(1, min(256, max_size // max(grid)))
    elif isinstance(cell, str):
        raise ValueError(msg.BAD_CELL.format(value=cell))
    else:
        try:
            cell = check_positive_int("cell", cell)
        except (TypeError, ValueError) as exc:
            raise type(exc)(msg.BAD_CELL.format(value=cell)) from None
    volume = spec.ndim == 3
    if volume:
        spec = spec.blocks[spec.numblocks[0] // 2]
    return spec.map_blocks(
        volume_atlas_cell if volume else atlas_cell,
        cell=cell,
        chunks=((cell,) * grid[0], (cell,) * grid[1]),
        drop_axis=[0] if volume else [],
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )
