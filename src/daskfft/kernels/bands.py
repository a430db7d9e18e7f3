"""The per-block arithmetic of the pass bands, NumPy only: one chunk filtered with any
:class:`~daskfft.kernels.spec.FilterSpec`, a flat-field's correction, and the offset a
high- or band-pass written as unsigned integers gets.

The lazy filters of :mod:`daskfft.api.bands` and the run's tasks share them.
"""

from __future__ import annotations

import numpy as np

from daskfft.kernels.block import data_mask, filter_block

__all__ = ["corrected", "filter_spec_block", "output_offset"]


def corrected(x, background, mean, mode):
    """``x`` flat-field corrected by ``background``: ``x / background * mean`` where the
    background is positive (``x`` elsewhere), or ``x - background + mean``; NumPy or dask."""
    if mode == "divide":
        lit = background > 0
        return np.where(lit, x / np.where(lit, background, 1) * mean, x)
    return x - background + mean


def filter_spec_block(
    block,
    spec,
    *,
    work_dtype,
    self_pad=None,
    pad_mode="reflect",
    valid=None,
    spatial=2,
    crop=None,
):
    """:func:`~daskfft.kernels.block.filter_block` for any pass band: one FFT pair with the
    spec's transfer function, or, with nodata or a mask, the image minus (or the difference
    of) normalised low-passes, holes left ``nodata`` (0 without one); the block's first
    ``spatial`` axes are space, and only ``block[crop]`` is returned where ``crop`` is
    given."""
    kw = dict(
        work_dtype=work_dtype,
        self_pad=self_pad,
        pad_mode=pad_mode,
        nodata=spec.nodata,
        valid=valid,
        spatial=spatial,
        crop=crop,
    )
    if spec.band == "low":  # a flat-field's background too
        return filter_block(block, **spec.kernel_options(), **kw)
    data = data_mask(block, spec.nodata, valid)
    if data is None and spatial < 3:
        return filter_block(block, **spec.kernel_options(), transfer=spec.transfer, **kw)
    # In 3-D (a Gaussian's, separable) each edge's low-pass takes the pruned transforms.
    low = [filter_block(block, **edge.kernel_options(), **kw) for edge in spec.edges()]
    if crop is not None:
        block = block[tuple(crop)]
        data = None if data is None else data[tuple(crop)]
    out = block.astype(work_dtype) - low[0] if spec.band == "high" else low[1] - low[0]
    if data is None:
        return out
    hole = np.asarray(0 if spec.nodata is None else spec.nodata, dtype=out.dtype)
    return np.where(data, out, hole)


def output_offset(spec, dtype):
    """What is added to a high- or band-pass written as unsigned integers, whose negative
    half would otherwise be clipped: mid-gray (128 for 8 bits, 32768 for 16), as image
    editors show a high-pass.  0 for a low-pass and for float or signed output."""
    dtype = np.dtype(dtype)
    if spec.band == "low" or dtype.kind != "u":
        return 0
    return 2 ** (8 * dtype.itemsize - 1)
