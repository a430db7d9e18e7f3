"""The lazy spectra of a chunked image: one spectrum per chunk, and the atlas."""

from __future__ import annotations

import numpy as np

from daskfft.api.lowpass import as_image
from daskfft.kernels.spectra import WINDOWS, atlas_cell, spectrum_block
from daskfft.messages import api as msg
from daskfft.validate import check_choice, check_positive_int

__all__ = ["spectra", "spectra_atlas"]


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
        ``spectrum_block``), zero frequency at the block's centre.

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
    check_choice("window", window, WINDOWS)
    image = as_image(image)
    return image.map_blocks(
        spectrum_block,
        window=window,
        drop_axis=[2] if image.ndim == 3 else [],
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )


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
    import dask.array as da

    if not isinstance(spec, da.Array) or spec.ndim != 2:
        raise TypeError(
            msg.NOT_A_SPECTRA_ARRAY.format(type=type(spec).__name__, ndim=getattr(spec, "ndim", 0))
        )
    max_size = check_positive_int("max_size", max_size)
    if cell == "auto":
        cell = max(1, min(256, max_size // max(spec.numblocks)))
    elif isinstance(cell, str):
        raise ValueError(msg.BAD_CELL.format(value=cell))
    else:
        try:
            cell = check_positive_int("cell", cell)
        except (TypeError, ValueError) as exc:
            raise type(exc)(msg.BAD_CELL.format(value=cell)) from None
    return spec.map_blocks(
        atlas_cell,
        cell=cell,
        chunks=((cell,) * spec.numblocks[0], (cell,) * spec.numblocks[1]),
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
    )
