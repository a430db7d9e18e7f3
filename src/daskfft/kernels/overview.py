"""Overview levels made by this engine: each the level above, low-passed below its new
Nyquist frequency and then sampled at every other pixel, chunk by chunk.

GDAL's ``average`` overviews (and most pyramid builders) take the mean of
each 2 x 2 block: a filter whose response is still 0.71 at the new Nyquist
frequency (0.25 cycles/px of the level above) and whose aliases fold back
as moire.  Here the level above goes through a Butterworth low-pass of order
:data:`OVERVIEW_ORDER` at :data:`OVERVIEW_CUTOFF` cycles/px (response 0.97
at 0.12, 0.5 at 0.2, 0.027 at 0.25 and 0.0015 at 0.3), shifted by half a
pixel so that overview pixel ``i`` lies where GDAL puts it, between pixels
``2i`` and ``2i + 1`` of the level above.
"""

from __future__ import annotations

from functools import lru_cache

import ducc0
import numpy as np

from daskfft.kernels.block import (
    filter_block,
    nodata_mask,
    normalised,
    to_dtype,
    working_precision,
)
from daskfft.kernels.halo import halo_depth
from daskfft.kernels.transfer import transfer_grid, transfer_nd

__all__ = [
    "OVERVIEW_CUTOFF",
    "OVERVIEW_ORDER",
    "level_shapes",
    "overview_depth",
    "overview_transfer",
    "overview_block",
    "overview_chunk",
    "overview_volume",
    "overview_planes",
]


#: The anti-alias filter of every overview level: Butterworth, cycles/px of the level above.
OVERVIEW_CUTOFF = 0.2

OVERVIEW_ORDER = 8

# The anti-alias filter as the kernels' keywords.
_ANTI_ALIAS = dict(cutoff=OVERVIEW_CUTOFF, filter="butterworth", order=OVERVIEW_ORDER)


def level_shapes(shape, block):
    """Shapes of the pyramid's levels, full size first, halving (rounded up) until the
    longer side fits in one ``block``-pixel tile, as GDAL's COG driver does."""
    shapes = [tuple(shape)]
    while max(shapes[-1][:2]) > block:
        h, w = shapes[-1][:2]
        shapes.append((-(-h // 2), -(-w // 2)) + tuple(shape[2:]))
    return tuple(shapes)


def overview_depth(tol):
    """Halo of the anti-alias filter for ``tol`` (as ``lowpass``'s), plus the half-pixel shift;
    even, so that a chunk's first pixel keeps its parity."""
    d = halo_depth(**_ANTI_ALIAS, tol=tol) + 1
    return d + d % 2


@lru_cache(maxsize=16)
def overview_transfer(shape, dtype):
    """The anti-alias filter on the half-plane grid of a real FFT of ``shape``, times
    ``exp(i pi (fy + fx))``: the result moved by half a pixel up and left, so that its
    even pixels are the values between four pixels of the input.  Read-only, cached."""
    fy, fx = np.fft.fftfreq(shape[0]), np.fft.rfftfreq(shape[1])
    h = transfer_grid(fy, fx, **_ANTI_ALIAS)
    h = h * np.exp(1j * np.pi * fy)[:, None] * np.exp(1j * np.pi * fx)[None, :]
    h = np.ascontiguousarray(h, dtype=np.complex64 if dtype == np.float32 else np.complex128)
    h.flags.writeable = False
    return h


def overview_block(block, *, depth, nodata=None, alpha=False, tol=1e-6):
    """The next level of one block of a level, given with a ``depth``-pixel halo on every side
    (:func:`overview_depth`, the image's edges extended by mirroring); its first pixel
    must be an even one of the level.  A kernel: NumPy in, NumPy out."""
    return overview_chunk(block, depth_px=depth, nodata=nodata, alpha=alpha, tol=tol)


def overview_chunk(block, *, depth_px, nodata, alpha, tol, self_pad=(0, 0), pad_mode="reflect"):
    """One haloed chunk of a level -> its part of the next level (a kernel: NumPy only);
    ``self_pad`` and ``pad_mode`` as :func:`~daskfft.api.lowpass.overlap_map` gives them."""
    d0 = 0 if self_pad[0] else depth_px
    d1 = 0 if self_pad[1] else depth_px
    inner = (slice(d0, block.shape[0] - d0), slice(d1, block.shape[1] - d1))
    color = block[..., :-1] if alpha else block
    color = color if color.ndim == 3 else color[..., None]
    work = working_precision(block.dtype, tol)[0]
    valid = nodata_mask(color, nodata)
    if alpha == "mask":
        kept = np.broadcast_to(block[..., -1:] > 0, color.shape)
        valid = kept if valid is None else valid & kept
    x = color.astype(work)
    if valid is not None:
        x[~valid] = 0
        x = np.concatenate([x, valid.astype(work)], axis=2)
    y = filter_block(
        x,
        **_ANTI_ALIAS,
        work_dtype=work,
        self_pad=self_pad,
        pad_mode=pad_mode,
        transfer=overview_transfer,
    )[inner][::2, ::2]
    if valid is not None:
        n = color.shape[2]
        num, weight = y[..., :n], y[..., n:]
        v = valid[inner]
        count, total = _sum2x2(v.astype(work)), _sum2x2(np.where(v, x[inner][..., :n], 0))
        mean = total / np.maximum(count, 1)  # where almost no data weighs: the 2 x 2 mean
        y = normalised(num, weight, mean, count > 0, nodata, threshold=1e-6)
    y = to_dtype(y, block.dtype)
    if alpha == "mask":
        top = np.iinfo(block.dtype).max if block.dtype.kind in "ui" else 1
        kept = _sum2x2((block[inner][..., -1:] > 0).astype(np.uint8)) > 0
        y = np.concatenate([y, (kept * top).astype(block.dtype)], axis=2)
    elif alpha:
        y = np.concatenate([y, block[inner][::2, ::2, -1:]], axis=2)
    return y if block.ndim == 3 else y[..., 0]


def overview_volume(window, *, depth, nodata=None, tol=1e-6):
    """The next level of one block of a volume whose voxels are cubes, z halved with y and x.

    ``window`` is (z, y, x[, c]) with a ``depth``-voxel halo (:func:`overview_depth`) on every
    side, the volume's faces extended by mirroring, its first voxel an even one of the level
    on every axis.  Each plane goes through the images' anti-alias filter, then the same
    Butterworth runs along z, shifted by half a voxel too: the transfer function
    ``H(fy, fx) H(fz) exp(i pi (fz + fy + fx))``; every other voxel is kept.  With
    ``nodata``, normalised convolution as :func:`overview_chunk`'s, the 2 x 2 x 2 mean of
    the data where almost none weighs.  A kernel: NumPy in, NumPy out, in ``window``'s
    dtype."""
    color = window if window.ndim == 4 else window[..., None]
    n, d = color.shape[3], depth
    inner = tuple(slice(d, size - d) for size in color.shape[:3])
    work = working_precision(window.dtype, tol)[0]
    valid = nodata_mask(color, nodata)
    rows, cols = (-(-(size - 2 * d) // 2) for size in color.shape[1:3])
    layers = np.empty((color.shape[0], rows, cols, n if valid is None else 2 * n), work)
    for i, plane in enumerate(color):  # y and x, plane by plane: a plane's FFT at a time
        x = plane.astype(work)
        if valid is not None:
            x[~valid[i]] = 0
            x = np.concatenate([x, valid[i].astype(work)], axis=2)
        y = filter_block(
            x, **_ANTI_ALIAS, work_dtype=work, transfer=overview_transfer
        )  # fmt: skip
        layers[i] = y[inner[1:]][::2, ::2]
    y = _along_z(layers, d)
    if valid is not None:
        v = valid[inner]
        count = _sum2x2x2(v.astype(work))
        total = _sum2x2x2(np.where(v, color[inner], 0).astype(work))
        mean = total / np.maximum(count, 1)  # where almost no data weighs: the 2 x 2 x 2 mean
        y = normalised(y[..., :n], y[..., n:], mean, count > 0, nodata, threshold=1e-6)
    y = to_dtype(y, window.dtype)
    return y if window.ndim == 4 else y[..., 0]


def overview_planes(window, *, depth, nodata=None, tol=1e-6):
    """The next level of each plane of ``window`` (z, y, x[, c]), each given with a
    ``depth``-pixel halo in y and x, as :func:`overview_chunk` makes an image's: a volume
    whose levels keep every plane.  A kernel: NumPy in, NumPy out."""
    return np.stack(
        [overview_chunk(p, depth_px=depth, nodata=nodata, alpha=False, tol=tol) for p in window]
    )


#: Rows of a block filtered along z at once: a slab's spectrum, not the block's.
_Z_SLAB = 32


def _along_z(layers, depth):
    """``layers`` (z, y, x, layers), ``depth`` planes of halo at either end, through the
    anti-alias filter along z shifted by half a plane; its inner planes, every other one."""
    planes = layers.shape[0]
    fast = ducc0.fft.good_size(planes, True)
    h = _z_transfer(fast, layers.dtype.type)[:, None, None, None]
    kept = slice(depth, planes - depth, 2)
    out = np.empty((len(range(*kept.indices(planes))),) + layers.shape[1:], layers.dtype)
    for r in range(0, layers.shape[1], _Z_SLAB):
        slab = layers[:, r : r + _Z_SLAB]
        if fast != planes:  # to a fast FFT length, past the halo: mirrored
            slab = np.pad(slab, [(0, fast - planes)] + [(0, 0)] * 3, mode="symmetric")
        spectrum = ducc0.fft.r2c(slab, axes=(0,))
        spectrum *= h
        y = ducc0.fft.c2r(
            spectrum, axes=(0,), lastsize=fast, forward=False, inorm=2,
            allow_overwriting_input=True,
        )  # fmt: skip
        out[:, r : r + _Z_SLAB] = y[kept]
    return out


@lru_cache(maxsize=16)
def _z_transfer(n, dtype):
    """The anti-alias filter along an axis of ``n`` (a real FFT's half), times
    ``exp(i pi f)``: moved by half a plane, as :func:`overview_transfer` moves rows."""
    f = np.fft.rfftfreq(n)
    h = transfer_nd((f,), **_ANTI_ALIAS) * np.exp(1j * np.pi * f)
    h = np.ascontiguousarray(h, dtype=np.complex64 if dtype == np.float32 else np.complex128)
    h.flags.writeable = False
    return h


def _sum2x2x2(a):
    """Sum over each 2 x 2 x 2 block of the leading axes (a last odd one sums alone)."""
    a = np.pad(a, [(0, n % 2) for n in a.shape[:3]] + [(0, 0)] * (a.ndim - 3))
    return sum(a[i::2, j::2, k::2] for i in (0, 1) for j in (0, 1) for k in (0, 1))


def _sum2x2(a):
    """Sum over each 2 x 2 block (a last odd row or column sums alone)."""
    h, w = a.shape[:2]
    a = np.pad(a, [(0, h % 2), (0, w % 2)] + [(0, 0)] * (a.ndim - 2))
    return a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]
