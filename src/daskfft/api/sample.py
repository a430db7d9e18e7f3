"""The built-in sample as a lazy dask array (drawn by :mod:`daskfft.kernels.sample`)."""

from __future__ import annotations

import numpy as np

from daskfft.kernels.sample import _chunk

__all__ = ["sample_image"]


def sample_image(size=2048, *, chunks=1024):
    """The synthetic city map, ``size`` x ``size`` RGB uint8, as a lazy dask array.

    Streets on a 96-pixel grid, building lots with two-tone roofs, parks with
    grass and tree texture, and a zone plate (a chirp from 0 to 0.5
    cycles/pixel) in the top-left corner, so that every cutoff shows.

    Examples
    --------
    >>> image = sample_image(300, chunks=128)
    >>> image.shape, image.dtype.name, image.chunks[0]
    ((300, 300, 3), 'uint8', (128, 128, 44))
    >>> bool((image[:150].compute() == sample_image(300, chunks=300)[:150].compute()).all())
    True
    """
    import dask.array as da

    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"`size` must be an integer >= 1 pixel, got {size!r}")
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ValueError(f"`chunks` must be an integer >= 1 pixel, got {chunks!r}")
    return da.map_blocks(
        _chunk,
        size=int(size),
        chunks=da.core.normalize_chunks((chunks, chunks, 3), (size, size, 3)),
        dtype=np.uint8,
        meta=np.empty((0, 0, 0), dtype=np.uint8),
    )
