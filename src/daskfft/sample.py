"""A deterministic synthetic test image of any size: a city map with a zone plate.

Each pixel is a function of its coordinates only, so the image is made
block by block on the workers and is the same whatever the chunking.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_image", "sample_block", "sample_window"]

_STREET = 96  # street grid period, px
_ROOFS = np.array(
    [[178, 84, 62], [150, 150, 155], [96, 96, 104], [200, 190, 170], [120, 70, 55], [70, 80, 95]],
    dtype=np.float64,
)


def _hash(*keys):
    """splitmix64 of integer arrays, as floats in [0, 1)."""
    with np.errstate(over="ignore"):
        z = np.uint64(0x9E3779B97F4A7C15)
        for k in keys:
            z = (z ^ np.asarray(k).astype(np.uint64)) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(31))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(29))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _value_noise(y, x, scale, seed):
    """Smooth noise in [0, 1) with features about ``scale`` pixels across."""
    gy, gx = y / scale, x / scale
    iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    ty, tx = gy - iy, gx - ix
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)
    c00, c01 = _hash(iy, ix, seed), _hash(iy, ix + 1, seed)
    c10, c11 = _hash(iy + 1, ix, seed), _hash(iy + 1, ix + 1, seed)
    return (c00 * (1 - tx) + c01 * tx) * (1 - ty) + (c10 * (1 - tx) + c11 * tx) * ty


def sample_block(y, x, size):
    """RGB uint8 pixels at integer coordinates ``y``, ``x`` of a ``size``-square sample."""
    cy, cx = y // _STREET, x // _STREET
    uy, ux = y % _STREET, x % _STREET
    rgb = np.empty(y.shape + (3,))

    # Building blocks: four lots per block, each with a two-tone (ridged) roof.
    lot = (uy >= 53).astype(np.int64) * 2 + (ux >= 53)
    ly, lx = np.where(uy >= 53, uy - 53, uy - 12), np.where(ux >= 53, ux - 53, ux - 12)
    roof = _ROOFS[(_hash(cy, cx, lot) * len(_ROOFS)).astype(np.int64)]
    ridge = np.where(_hash(cy, cx, lot, 7) < 0.5, ly < 19, lx < 19)
    rgb[...] = roof * np.where(ridge, 0.8, 1.0)[..., None]
    gap = (ly < 0) | (lx < 0) | (ly >= 39) | (lx >= 39)
    rgb[gap] = (190, 186, 178)  # pavements between lots

    # Parks in one block out of five: grass and tree canopies.
    park = _hash(cy, cx, 99) < 0.2
    py, px = y[park], x[park]
    texture = (0.5 * _value_noise(py, px, 3.0, 1) + 0.3 * _value_noise(py, px, 11.0, 2)
               + 0.2 * _value_noise(py, px, 29.0, 3))
    green = np.stack([40 + 50 * texture, 90 + 80 * texture, 35 + 40 * texture], axis=-1)
    green[_value_noise(py, px, 9.0, 4) > 0.62] *= 0.55  # tree canopies
    rgb[park] = green

    # Streets with dashed centre lines.
    street = (uy < 10) | (ux < 10)
    rgb[street] = (88, 88, 94)
    dash = ((uy == 4) | (uy == 5)) & (ux >= 10) & ((x // 12) % 2 == 0)
    dash |= ((ux == 4) | (ux == 5)) & (uy >= 10) & ((y // 12) % 2 == 0)
    rgb[dash] = (235, 235, 225)

    # Zone plate in the top-left corner: local frequency k*r reaches Nyquist at its edge.
    z = max(8, min(size // 4, 512))
    plate = (y < z) & (x < z)
    r2 = (y.astype(np.float64) ** 2 + x.astype(np.float64) ** 2)
    tone = 127.5 * (1 + np.cos(np.pi * (0.5 / z) * r2))
    rgb[plate] = tone[plate][:, None]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def sample_window(size, rows, cols):
    """Pixels ``rows[0]:rows[1], cols[0]:cols[1]`` of the ``size``-square sample."""
    y, x = np.mgrid[rows[0] : rows[1], cols[0] : cols[1]]
    return sample_block(y, x, size)


def _chunk(block_info=None, size=0):
    (r0, r1), (c0, c1), _ = block_info[None]["array-location"]
    y, x = np.mgrid[r0:r1, c0:c1]
    return sample_block(y, x, size)


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
