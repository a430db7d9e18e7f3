"""The built-in sample as a lazy dask array (drawn by :mod:`daskfft.kernels.sample`)."""

from __future__ import annotations

import numpy as np

from daskfft.kernels.sample import sample_chunk
from daskfft.validate import check_positive_int

__all__ = ["sample_image"]


def sample_image(size=2048, *, chunks=1024):
    """The synthetic city map, ``size`` x ``size`` RGB uint8, as a lazy dask array.

    Streets on a 96-pixel grid, building lots with two-tone roofs, parks with
    grass and tree texture, and a zone plate (a chirp from 0 to 0.5
    cycles/pixel) in the top-left corner, so that every cutoff shows.

    Parameters
    ----------
    size : int, default 2048
        Edge of the square image, pixels (at least 1).
    chunks : int, default 1024
        Chunk edge, pixels (at least 1); the channels are one chunk.

    Returns
    -------
    dask.array.Array
        The sample, ``size`` x ``size`` x 3 uint8, drawn chunk by chunk when computed.

    Raises
    ------
    ValueError
        For a ``size`` or ``chunks`` that is not a whole number >= 1.
    TypeError
        For one that is not a number at all.

    Examples
    --------
    >>> image = sample_image(300, chunks=128)
    >>> image.shape, image.dtype.name, image.chunks[0]
    ((300, 300, 3), 'uint8', (128, 128, 44))
    >>> bool((image[:150].compute() == sample_image(300, chunks=300)[:150].compute()).all())
    True
    """
    import dask.array as da

    size, chunks = check_positive_int("size", size), check_positive_int("chunks", chunks)
    return da.map_blocks(
        sample_chunk,
        size=size,
        chunks=da.core.normalize_chunks((chunks, chunks, 3), (size, size, 3)),
        dtype=np.uint8,
        meta=np.empty((0, 0, 0), dtype=np.uint8),
    )
