"""A deterministic synthetic test image of any size: a city map with a zone plate.

Each pixel is a function of its coordinates only, so the image is made
window by window in the tasks that filter it and is the same whatever the
chunking.  A window is drawn without per-pixel hashing: everything but the
parks' texture and the zone plate depends on a row only through a small
"row class" (its street block, lot half, and whether it is a street, a dash,
a pavement or one half of a roof), and likewise on a column, so that part is
drawn on the small grid of classes and expanded; the value noise of the parks
is hashed at its lattice points only and interpolated separably.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_window", "sample_block", "sample_chunk"]


_STREET = 96  # street grid period, px

_ROOFS = np.array(
    [[178, 84, 62], [150, 150, 155], [96, 96, 104], [200, 190, 170], [120, 70, 55], [70, 80, 95]],
    dtype=np.float64,
)

_PAVEMENT = (190, 186, 178)

_ROAD = (88, 88, 94)

_DASH = (235, 235, 225)


def _hash(*keys):
    """splitmix64 of integer arrays, as floats in [0, 1)."""
    with np.errstate(over="ignore"):
        z = np.uint64(0x9E3779B97F4A7C15)
        for k in keys:
            z = (z ^ np.asarray(k).astype(np.uint64)) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(31))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(29))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _axis_class(v):
    """The class of each coordinate ``v`` (1-D int64) along one axis: equal classes give equal
    city pixels (streets, dashes, pavements, roofs) whatever the other coordinate.

    It encodes the street block ``v // 96``, the lot half, the kind of line (dashed centre
    of a street, rest of a street, pavement, near or far half of a roof) and the parity of
    ``v // 12`` that places the dashes across it.
    """
    u = v % _STREET
    half = u >= 53
    local = np.where(half, u - 53, u - 12)
    kind = np.where(
        u < 10,
        np.where((u == 4) | (u == 5), 0, 1),
        np.where((local < 0) | (local >= 39), 2, np.where(local < 19, 3, 4)),
    )
    return (((v // _STREET) * 2 + half) * 5 + kind) * 2 + (v // 12) % 2


def _city(y, x):
    """Streets, dashes, pavements and roofs at coordinates ``y``, ``x`` (int64 arrays that
    broadcast), as RGB uint8; no parks, no zone plate."""
    cy, cx = y // _STREET, x // _STREET
    uy, ux = y % _STREET, x % _STREET
    shape = np.broadcast_shapes(y.shape, x.shape)

    # Building blocks: four lots per block, each with a two-tone (ridged) roof.
    lot = (uy >= 53).astype(np.int64) * 2 + (ux >= 53)
    ly, lx = np.where(uy >= 53, uy - 53, uy - 12), np.where(ux >= 53, ux - 53, ux - 12)
    roof = _ROOFS[(_hash(cy, cx, lot) * len(_ROOFS)).astype(np.int64)]
    ridge = np.where(_hash(cy, cx, lot, 7) < 0.5, ly < 19, lx < 19)
    rgb = roof * np.where(ridge, 0.8, 1.0)[..., None]
    gap = np.broadcast_to((ly < 0) | (lx < 0) | (ly >= 39) | (lx >= 39), shape)
    rgb[gap] = _PAVEMENT

    # Streets with dashed centre lines.
    street = np.broadcast_to((uy < 10) | (ux < 10), shape)
    rgb[street] = _ROAD
    dash = ((uy == 4) | (uy == 5)) & (ux >= 10) & ((x // 12) % 2 == 0)
    dash = np.broadcast_to(
        dash | ((ux == 4) | (ux == 5)) & (uy >= 10) & ((y // 12) % 2 == 0), shape
    )
    rgb[dash] = _DASH
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _value_noise(y, x, scale, seed):
    """Smooth noise in [0, 1) with features about ``scale`` pixels across, at rows ``y`` and
    columns ``x`` (1-D int64): an (len(y), len(x)) float64 grid.

    The corners' hashes are taken on the lattice points only and interpolated
    with separable smoothstep weights, first along the rows, then along the
    columns, each pixel with the same operations as if it were alone.
    """
    gy, gx = y / scale, x / scale
    iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    ty, tx = gy - iy, gx - ix
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)
    ky = np.arange(iy.min(), iy.max() + 2)
    kx0 = ix.min()
    corners = _hash(ky[:, None], np.arange(kx0, ix.max() + 2)[None, :], seed)
    # Along the rows at each lattice row k: c[k, ix] * (1 - tx) + c[k, ix + 1] * tx.
    along = corners[:, ix - kx0] * (1 - tx) + corners[:, ix - kx0 + 1] * tx
    iy = iy - ky[0]
    return along[iy] * (1 - ty)[:, None] + along[iy + 1] * ty[:, None]


def _park_green(y, x):
    """Grass and tree canopies at rows ``y`` and columns ``x`` (1-D int64): RGB, float64
    whole numbers in [19, 170]."""
    texture = 0.5 * _value_noise(y, x, 3.0, 1)
    texture += 0.3 * _value_noise(y, x, 11.0, 2)
    texture += 0.2 * _value_noise(y, x, 29.0, 3)
    shade = np.where(_value_noise(y, x, 9.0, 4) > 0.62, 0.55, 1.0)  # tree canopies
    green = np.empty(texture.shape + (3,))
    for c, (base, gain) in enumerate(((40, 50), (90, 80), (35, 40))):
        tone = gain * texture
        tone += base
        tone *= shade
        np.rint(tone, out=green[..., c])
    return green


def _draw_parks(out, y, x):
    """Draw the parks (one street block out of five) into ``out``, the window at rows ``y``
    and columns ``x`` (1-D, consecutive): each block row's parks in one go, inside their
    streets."""
    by = np.arange(y[0] // _STREET, y[-1] // _STREET + 1)
    bx = np.arange(x[0] // _STREET, x[-1] // _STREET + 1)
    parks = _hash(by[:, None], bx[None, :], 99) < 0.2
    # Each block's inside (past its streets) within the window, as [start, stop) indices.
    r_in = (
        np.clip(by * _STREET + 10 - y[0], 0, y.size),
        np.clip((by + 1) * _STREET - y[0], 0, y.size),
    )
    c_in = (
        np.clip(bx * _STREET + 10 - x[0], 0, x.size),
        np.clip((bx + 1) * _STREET - x[0], 0, x.size),
    )
    for i in np.flatnonzero(parks.any(axis=1)):
        r0, r1 = r_in[0][i], r_in[1][i]
        blocks = [
            (c_in[0][j], c_in[1][j]) for j in np.flatnonzero(parks[i]) if c_in[1][j] > c_in[0][j]
        ]
        if r1 <= r0 or not blocks:
            continue
        cols = np.concatenate([np.arange(c0, c1) for c0, c1 in blocks])
        green = _park_green(y[r0:r1], x[cols])
        k = 0
        for c0, c1 in blocks:
            out[r0:r1, c0:c1] = green[:, k : k + c1 - c0]
            k += c1 - c0


def _draw_plate(out, y, x, size):
    """Draw the zone plate (top-left corner) where it meets the window at ``y``, ``x``: its
    local frequency k*r reaches Nyquist at its edge."""
    z = max(8, min(size // 4, 512))
    y, x = y[y < z], x[x < z]
    if not (y.size and x.size):
        return
    r2 = (y.astype(np.float64) ** 2)[:, None] + (x.astype(np.float64) ** 2)[None, :]
    tone = 127.5 * (1 + np.cos(np.pi * (0.5 / z) * r2))
    out[: y.size, : x.size] = np.clip(np.rint(tone), 0, 255).astype(np.uint8)[..., None]


def sample_window(size, rows, cols):
    """Pixels ``rows[0]:rows[1], cols[0]:cols[1]`` of the ``size``-square sample.

    Parameters
    ----------
    size : int
        Edge of the sample, pixels (it places the zone plate).
    rows, cols : tuple of int
        Half-open ranges of rows and columns, each within [0, size).

    Returns
    -------
    numpy.ndarray
        (rows, cols, 3) uint8 RGB.

    Notes
    -----
    Each pixel depends on its coordinates and ``size`` only, so any window
    equals the same part of any other window that covers it.  Memory: the
    uint8 result, plus float64 noise on one block row of parks at a time.

    Examples
    --------
    >>> a = sample_window(1000, (90, 300), (0, 200))
    >>> b = sample_window(1000, (0, 400), (0, 400))
    >>> a.shape, a.dtype.name, bool((a == b[90:300, :200]).all())
    ((210, 200, 3), 'uint8', True)
    """
    y = np.arange(rows[0], rows[1], dtype=np.int64)
    x = np.arange(cols[0], cols[1], dtype=np.int64)
    out = np.empty((y.size, x.size, 3), dtype=np.uint8)
    if out.size == 0:
        return out
    # The city on the small grid of row and column classes, then expanded.
    _, first_y, inv_y = np.unique(_axis_class(y), return_index=True, return_inverse=True)
    _, first_x, inv_x = np.unique(_axis_class(x), return_index=True, return_inverse=True)
    small = _city(y[first_y][:, None], x[first_x][None, :])
    np.take(np.take(small, inv_x, axis=1), inv_y, axis=0, out=out)
    _draw_parks(out, y, x)
    _draw_plate(out, y, x, size)
    return out


def sample_block(y, x, size):
    """RGB uint8 pixels at integer coordinates ``y``, ``x`` (arrays that broadcast) of a
    ``size``-square sample: the window that bounds them, drawn, then indexed."""
    y, x = np.broadcast_arrays(np.asarray(y, dtype=np.int64), np.asarray(x, dtype=np.int64))
    if y.size == 0:
        return np.empty(y.shape + (3,), dtype=np.uint8)
    r0, c0 = int(y.min()), int(x.min())
    window = sample_window(size, (r0, int(y.max()) + 1), (c0, int(x.max()) + 1))
    return window[y - r0, x - c0]


def sample_chunk(block_info=None, size=0):
    """The chunk of a ``size``-square sample that ``block_info`` (dask's ``map_blocks``) locates."""
    (r0, r1), (c0, c1), _ = block_info[None]["array-location"]
    return sample_window(size, (r0, r1), (c0, c1))
