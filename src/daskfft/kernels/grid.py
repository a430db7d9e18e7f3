"""Chunk grids: chunk sizes and edges along an axis, the NumPy input's chunk edge and output
tiles.  The run's choice of a chunk grid, with its notes, is :mod:`daskfft.run.grid`."""

from __future__ import annotations

import logging

import numpy as np

__all__ = [
    "DEFAULT_CHUNKS",
    "aligned_chunks",
    "chunk_edges",
    "plan_grid",
    "MIN_TILE",
    "output_tile",
]


#: GDAL's usual tile edge for a tiled GeoTIFF, px.
TIFF_TILE = 256

#: Chunk edge, in pixels, given to NumPy input: a few tens of ms of FFT per
#: chunk, far above dask's per-task cost, and a few MB per task.
DEFAULT_CHUNKS = 1024

log = logging.getLogger("daskfft")


def aligned_chunks(info, chunks):
    """Chunk edge(s) near ``chunks``, whole multiples of the file's tiles or store chunks."""
    if not info.native_chunks:
        return (chunks, chunks)
    out = []
    for n, size in zip(info.native_chunks, info.shape[:2]):
        out.append(min(size, max(n, round(chunks / n) * n)))
    return tuple(out)


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


#: The smallest tile edge :func:`output_tile` chooses: smaller tiles make GIS tools slow.
MIN_TILE = 128


def output_tile(fmt, info):
    """The tile edge of a TIFF or COG output unless ``--co BLOCKSIZE`` gives one, and why.

    The input's square tile, where it is a tiled TIFF (at least :data:`MIN_TILE`
    and at most 4096 px, what GDAL's BLOCKSIZE takes), else GDAL's usual tile: 256
    px for a GeoTIFF, 512 for a COG.  Never the chunking's: output tiles are what GIS
    tools expect whatever the chunks, and the chunk grid is rounded to them
    instead (:func:`daskfft.run.grid.chunk_grid`).  ``(None, None)`` for the other formats.
    """
    if fmt not in ("tiff", "cog"):
        return None, None
    own = info.native_chunks if info.format == "tiff" and info.tiled else ()
    if own and own[0] == own[1]:
        tile = min(4096, max(MIN_TILE, own[0]))
        return tile, (
            f"the input's {own[0]}-px tiles"
            + (f", raised to {MIN_TILE}" if own[0] < MIN_TILE else "")
        )
    return (512, "a COG's usual tile") if fmt == "cog" else (TIFF_TILE, "GDAL's usual tile")
