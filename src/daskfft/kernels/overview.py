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

import numpy as np

from daskfft.kernels.block import (
    filter_block,
    nodata_mask,
    normalised,
    to_dtype,
    working_precision,
)
from daskfft.kernels.transfer import halo_depth, transfer_grid

__all__ = [
    "OVERVIEW_CUTOFF",
    "OVERVIEW_ORDER",
    "level_shapes",
    "overview_depth",
    "overview_transfer",
    "overview_block",
    "overview_chunk",
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


def _sum2x2(a):
    """Sum over each 2 x 2 block (a last odd row or column sums alone)."""
    h, w = a.shape[:2]
    a = np.pad(a, [(0, h % 2), (0, w % 2)] + [(0, 0)] * (a.ndim - 2))
    return a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]
