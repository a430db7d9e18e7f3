"""Chunk grids: chunk sizes and edges along an axis, and the NumPy input's chunk edge.
Chunks on a file's own tiles are :func:`daskfft.io.base.aligned_chunks`; the run's choice
of a chunk grid, with its notes, is :mod:`daskfft.run.grid`."""

from __future__ import annotations

import numpy as np

__all__ = [
    "DEFAULT_CHUNKS",
    "DEFAULT_VOLUME_CHUNKS",
    "chunk_edges",
    "plan_grid",
]


#: Chunk edge, in pixels, given to NumPy input: a few tens of ms of FFT per
#: chunk, far above dask's per-task cost, and a few MB per task.
DEFAULT_CHUNKS = 1024

#: Chunk edge, in voxels, given to a NumPy volume (3 spatial axes): 256^3 voxels are
#: 16 times a 1024^2 chunk's pixels, 64 MB in float32, so that a halo of tens of
#: voxels per side stays a small share of the window.
DEFAULT_VOLUME_CHUNKS = 256


def chunk_edges(sizes):
    """Where the chunks of ``sizes`` (along one axis) start, and the axis's end: 0 first."""
    return tuple(int(v) for v in np.concatenate([[0], np.cumsum(sizes)]))


def plan_grid(length, chunk, depth):
    """Chunk sizes along one axis: ``chunk`` pixels, none smaller than the halo.

    A short last chunk is merged into the one before it, and an axis no
    longer than the halo is one chunk, so that dask never re-chunks for the
    overlap and every Zarr chunk of the output is written by exactly one task.
    """
    if depth >= length:
        return (length,)
    sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
    if len(sizes) > 1 and sizes[-1] < depth:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)
