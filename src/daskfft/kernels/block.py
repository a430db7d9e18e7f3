"""The block filter: one haloed chunk through a real FFT pair, NumPy only.

The halo rule's windows, the padding that completes a window past the image's edge,
nodata masks and the normalised convolution that leaves them out, and the working
precision rule shared by the API and the run."""

from __future__ import annotations

import logging

import ducc0
import numpy as np

from daskfft.kernels.cast import to_dtype
from daskfft.kernels.pruned import bands, pruned_filter
from daskfft.kernels.transfer import transfer_factors, transfer_function
from daskfft.messages import api as msg
from daskfft.validate import DEFAULT_TOL

__all__ = [
    "halo_window",
    "fast_pads",
    "filter_padded",
    "pruned_window",
    "pair_bands",
    "pad_block",
    "filter_block",
    "normalised",
    "ROUNDING",
    "working_precision",
    "work_dtype",
    "to_dtype",
]


# dask's boundary names (params.BOUNDARIES) and the np.pad modes that extend an array the same way.
_PAD_MODES = {"reflect": "symmetric", "periodic": "wrap", "nearest": "edge"}


def halo_window(box, halo, shape):
    """The part of the image a chunk with a ``halo`` reads, and what padding completes it.

    ``box`` is the chunk's ``(r0, r1, c0, c1)`` in an image of ``shape``.
    Returns ``(rows, cols, pads)``: the window clipped to the image, and the
    widths (for :func:`pad_block`) that extend it past the image's edges.
    """
    r0, r1, c0, c1 = box
    rows = (max(0, r0 - halo), min(shape[0], r1 + halo))
    cols = (max(0, c0 - halo), min(shape[1], c1 + halo))
    pads = [
        (halo - (r0 - rows[0]), halo - (rows[1] - r1)),
        (halo - (c0 - cols[0]), halo - (cols[1] - c1)),
    ]
    return rows, cols, pads


def fast_window(span, pads, n):
    """``span`` (start, stop) of a haloed window along an axis of length ``n``, with the
    ``pads`` (before, after) that complete it past the image's edges, grown at its far end
    with real pixels toward a fast FFT length (``ducc0.fft.good_size``) where the image has
    them: :func:`filter_block` would otherwise extend the block there by mirroring it, one
    more copy of it.  Those pixels lie beyond the halo, so they weigh on the kept pixels no
    more than the halo rule allows.  Returns the new ``span``."""
    if pads[1]:
        return span
    total = span[1] - span[0] + pads[0]
    return span[0], min(n, span[1] + ducc0.fft.good_size(total, True) - total)


def fast_pads(shape, pads):
    """``pads`` (before, after) of a window of ``shape``, one per spatial axis, grown at the
    far end to the fast FFT length (``ducc0.fft.good_size``): the window padded once as its
    boundary says, where :func:`filter_block` would otherwise mirror the padded copy again
    (a volume's task does so)."""
    out = []
    for n, (before, after) in zip(shape, pads):
        total = n + before + after
        out.append((before, after + ducc0.fft.good_size(total, True) - total))
    return out


def pad_block(x, widths, boundary):
    """``np.pad`` of a block's leading (spatial) axes by ``widths``, one (before, after) per
    axis, extended as ``boundary`` says."""
    return _pad(x, list(widths) + [(0, 0)] * (x.ndim - len(widths)), boundary)


def _pad(x, widths, boundary):
    if isinstance(boundary, str):
        return np.pad(x, widths, mode=_PAD_MODES[boundary])
    return np.pad(x, widths, mode="constant", constant_values=boundary)


def _fft_filter(x, h, fast_cols, kept=None):
    """``x`` filtered by ``h``: a transfer function on the half-space grid, or a separable
    one's factors, one 1-D array per spatial axis; only its part ``kept`` (one slice per
    spatial axis) where given.  Factors take the pruned pair
    (:func:`~daskfft.kernels.pruned.pruned_filter`)."""
    factors = isinstance(h, tuple)
    if factors:  # ``x`` may not be in the working precision yet
        return pruned_filter(x, h, kept or (slice(None),) * len(h))
    axes = tuple(range(len(h) if factors else h.ndim))  # spatial axes first; then layers
    spectrum = ducc0.fft.r2c(x, axes=axes)
    if factors:
        for axis, factor in enumerate(h):
            spectrum *= factor.reshape((-1,) + (1,) * (x.ndim - axis - 1))
    else:
        spectrum *= h.reshape(h.shape + (1,) * (x.ndim - h.ndim))
    out = ducc0.fft.c2r(
        spectrum,
        axes=axes,
        lastsize=fast_cols,
        forward=False,
        inorm=2,
        allow_overwriting_input=True,
    )
    return out if kept is None else out[kept]


def filter_padded(window, *, pads, boundary, cutoff, work_dtype, crop, out_dtype=None):
    """A window (every pixel data, no mask; its leading ``len(pads)`` axes spatial, 2 or 3)
    low-passed by a Gaussian of ``cutoff``, padded by ``pads`` as ``boundary`` says while it
    is transformed (:func:`~daskfft.kernels.pruned.pruned_filter`; the padded shape must be
    the fast FFT shape, see :func:`fast_pads`); returns ``crop`` of the padded window, in
    ``work_dtype`` or, cast as :func:`~daskfft.kernels.cast.to_dtype` casts, in
    ``out_dtype``.  The same as :func:`filter_block` of :func:`pad_block`'s window, without
    that copy (or, where the pruned pair would leave nothing out, within its rounding)."""
    shape = tuple(n + a + b for n, (a, b) in zip(window.shape, pads))
    factors = transfer_factors(shape, cutoff, np.dtype(work_dtype).type)
    mode = _PAD_MODES[boundary] if isinstance(boundary, str) else boundary
    return pruned_filter(window, factors, crop, pads=pads, mode=mode, out_dtype=out_dtype)


def pruned_window(shape, pads, spec, work_dtype):
    """Whether a window of ``shape`` padded by ``pads`` (to its fast FFT shape) takes the
    pruned pair under ``spec``'s low-pass (:func:`pair_bands`): where a 2-D one's band
    leaves nothing out, it takes the whole pair, bit for bit as before pruning."""
    padded = tuple(n + a + b for n, (a, b) in zip(shape, pads))
    return pair_bands(padded, spec.cutoff, spec.filter, work_dtype) is not None


def nodata_mask(x, nodata):
    """True where ``x`` holds data: not equal to ``nodata`` (not NaN, for a NaN nodata)."""
    if nodata is None:
        return None
    if isinstance(nodata, float) and np.isnan(nodata):
        return ~np.isnan(x)
    return x != nodata


def data_mask(x, nodata, kept=None):
    """True where ``x`` holds data: not ``nodata`` and, with a mask ``kept`` (rows, cols),
    kept by it, as ``x[..., None]``'s shape for channels; None where every pixel does.
    NumPy or dask."""
    data = nodata_mask(x, nodata)
    if kept is not None:
        kept = kept[..., None] if x.ndim == 3 else kept
        data = kept if data is None else data & kept
    return data


def filter_block(
    block,
    *,
    cutoff,
    filter,
    order,
    work_dtype,
    self_pad=None,
    pad_mode="reflect",
    nodata=None,
    transfer=None,
    valid=None,
    spatial=2,
    crop=None,
):
    """Low-pass one (already haloed) block with a real FFT pair.

    Parameters
    ----------
    block : numpy.ndarray
        The ``spatial`` axes first, then any others (channels), each layer alone.
    cutoff, filter, order
        As for :func:`daskfft.lowpass`.
    work_dtype : numpy dtype
        Working and output precision, float32 or float64.
    self_pad : tuple of int, optional
        Halo to add here (``pad_mode``) per spatial axis, where dask could not
        overlap: the whole axis is shorter than the halo.
    pad_mode : str or float
        How ``self_pad`` extends the block: a ``boundary`` of ``lowpass``.
    nodata : float, optional
        Pixels equal to it are left out (normalised convolution) and stay
        ``nodata`` in the output.
    transfer : callable, optional
        ``transfer(shape, dtype)``: the half-plane transfer function of an
        FFT of ``shape``, real or complex, in place of ``cutoff``, ``filter``
        and ``order`` (the pyramid's shifted anti-alias filter).
    valid : numpy.ndarray of bool, optional
        The pixels that hold data: the block's shape, or its spatial axes'.
    spatial : {2, 3}, default 2
        How many leading axes are spatial (transformed together).
    crop : tuple of slice, optional
        The part of the block to return, one slice per spatial axis (its halo left
        out): a Gaussian's inverse transform then runs on that part only
        (:func:`~daskfft.kernels.pruned.pruned_filter`).

    Returns
    -------
    numpy.ndarray
        Same shape as ``block`` (``block[crop]``'s with ``crop``), in ``work_dtype``.

    Notes
    -----
    Each padded block is extended at its far edges to a fast FFT length
    (``ducc0.fft.good_size``) by mirroring; those extra pixels lie beyond the
    halo, so they weigh on the kept pixels no more than the halo rule allows.
    With ``nodata``, the result is ``F(x * m) / F(m)`` for the data mask
    ``m``, so holes neither darken nor brighten their neighbours; a valid
    pixel on which almost no data weighs (``F(m) <= 1e-9``, possible under
    the negative lobes of the Butterworth and ideal kernels) keeps its value.
    """
    self_pad = (0,) * spatial if self_pad is None else tuple(self_pad)
    valid = _valid_pixels(block, nodata, valid)
    fast = _fast_shape(block.shape[:spatial], self_pad)
    h = _block_transfer(fast, cutoff, filter, order, work_dtype, transfer)
    # The pruned pair converts slab by slab itself, but a constant the input's dtype may not
    # hold (-50 in uint8) pads the block here: then in the working precision.
    as_is = isinstance(h, tuple) and not (any(self_pad) and not isinstance(pad_mode, str))
    layers = _working_layers(block, work_dtype, valid, convert=not as_is)
    crop = _full(block.shape[:spatial]) if crop is None else tuple(crop)
    out = _filter_layers(layers, h, fast, self_pad, pad_mode, block.shape[:spatial], crop)
    if valid is None:
        return out[0]
    return _normalise_layers(out, layers[0][crop], valid[crop], nodata)


def _full(shape):
    """Slices that keep all of ``shape``."""
    return tuple(slice(0, n) for n in shape)


def _widened(mask, ndim):
    """``mask`` with new trailing axes up to ``ndim``: one mask for every layer."""
    return mask.reshape(mask.shape + (1,) * (ndim - mask.ndim))


def _valid_pixels(block, nodata, valid):
    """The pixels that hold data: not ``nodata`` and, if given, in ``valid``; None if all."""
    by_value = nodata_mask(block, nodata)
    if valid is not None and by_value is not None:
        valid = by_value & _widened(valid, block.ndim)
    elif by_value is not None:
        valid = by_value
    return valid


def _working_layers(block, work_dtype, valid, convert=True):
    """The layers to filter, in ``work_dtype``: the block, 0 outside ``valid``, and the mask;
    with every pixel valid and ``convert`` False, the block as it is."""
    if valid is None:
        return [block.astype(work_dtype, copy=False) if convert else block]
    x = block.astype(work_dtype)
    np.copyto(x, 0, where=~_widened(valid, x.ndim))
    return [x, valid.astype(work_dtype)]


def _fast_shape(shape, self_pad):
    """The fast FFT length of each spatial axis of ``shape`` once ``self_pad`` is added."""
    return tuple(ducc0.fft.good_size(n + 2 * p, True) for n, p in zip(shape, self_pad))


def _block_transfer(fast, cutoff, filter, order, work_dtype, transfer):
    """The half-plane transfer function of an FFT of shape ``fast``, from ``transfer`` if given;
    a Gaussian's as its factors, one per axis (:func:`transfer_factors`), for the pruned
    pair: always in 3-D (the grid of a 256^3 chunk's window is 41 MB, and a cache of them
    grew with the shapes of the windows), in 2-D where its band leaves something out (else
    the whole pair, bit for bit as before pruning)."""
    dtype = np.dtype(work_dtype).type
    if transfer is not None:
        return transfer(fast, dtype)
    if np.ndim(cutoff):  # one per axis, as a list or an array: a key of the cached factors
        cutoff = tuple(float(c) for c in np.ravel(cutoff))
    if pair_bands(fast, cutoff, filter, dtype) is not None:
        return transfer_factors(fast, cutoff, dtype)
    return transfer_function(fast, cutoff, filter, order, dtype)


def pair_bands(fast, cutoff, filter, work_dtype):
    """Which FFT pair :func:`filter_block` runs on a window of the fast FFT shape ``fast``
    with a low-pass of ``filter`` and ``cutoff``: the pruned pair's (kept, total)
    frequencies per axis (:func:`~daskfft.kernels.pruned.bands`), or None for the whole
    pair.  A Gaussian takes the pruned pair in 3-D, and in 2-D where its band leaves
    something out; every other filter the whole pair."""
    if filter != "gaussian":
        return None
    factors = transfer_factors(tuple(fast), cutoff, np.dtype(work_dtype).type)
    kept = bands(factors)
    if len(fast) == 3 or any(k < n for k, n in kept):
        return kept
    return None


def _filter_layers(layers, h, fast, self_pad, pad_mode, shape, crop):
    """Pad each layer (image, then mask) to ``fast``, filter it by ``h``, crop it to ``crop``
    of ``shape`` (the spatial axes')."""
    out = []
    kept = tuple(slice(p + c.start, p + c.stop) for p, c in zip(self_pad, _resolved(crop, shape)))
    for i, layer in enumerate(layers):
        extra = [(0, 0)] * (layer.ndim - len(shape))
        if any(self_pad):
            # The mask is extended like the image, but a constant boundary is data (1).
            mode = pad_mode if i == 0 or isinstance(pad_mode, str) else 1.0
            layer = _pad(layer, [(p, p) for p in self_pad] + extra, mode)
        now = layer.shape[: len(shape)]
        if fast != now:
            grow = [(0, f - n) for f, n in zip(fast, now)]
            layer = np.pad(layer, grow + extra, mode="symmetric")
        out.append(_fft_filter(layer, h, fast[-1], kept))
    return out


def _resolved(crop, shape):
    """``crop``'s slices with their start and stop given (step 1)."""
    return tuple(slice(*c.indices(n)[:2]) for c, n in zip(crop, shape))


def _normalise_layers(out, x, valid, nodata):
    """The filtered image divided by the filtered mask, where data weighs enough."""
    num, weight = out
    if weight.ndim < num.ndim:  # one mask for every layer
        weight, valid = _widened(weight, num.ndim), _widened(valid, num.ndim)
    return normalised(num, weight, x, valid, nodata)


def normalised(num, weight, fallback, valid, nodata, *, threshold=1e-9):
    """Normalised convolution: ``num / weight`` (``F(x * m) / F(m)``) where data weighs more
    than ``threshold``, ``fallback`` where it does not, ``nodata`` (0 if None) where
    ``valid`` is False; NumPy or dask.  The one home of this rule.

    :func:`filter_block` and the exact filter pass the pixel's own value as ``fallback``
    with ``threshold=1e-9``: a valid pixel on which almost no data weighs (an isolated
    one, under the negative lobes of a Butterworth or ideal kernel) so never becomes
    nodata.  The overview kernel passes the 2 x 2 mean of the data with ``threshold=1e-6``
    and ``valid`` = "the 2 x 2 block holds data": its weight is summed over a coarser
    grid, and a new pixel has no value of its own to keep.  Each caller keeps the
    threshold it has always used, so that outputs do not change.
    """
    enough = weight > threshold
    y = np.where(enough, num / np.where(enough, weight, 1), fallback)
    return np.where(valid, y, np.asarray(0 if nodata is None else nodata, dtype=y.dtype))


#: Largest rounding error of one FFT filter pair, relative to max|image|, per working dtype:
#: measured up to 4.4e-7 in float32 and 1e-15 in float64 on chunks of 256-2058 px.  It adds
#: to the halo's bound (:func:`daskfft.expected_deviation`), which is the kernel's alone.
ROUNDING = {"float32": 1e-6, "float64": 1e-14}


def working_precision(dtype, tol=DEFAULT_TOL):
    """The filter's working (and output) dtype for input of ``dtype``, and why: the one rule
    the Python API and the ``daskfft`` command both follow.

    float32 for float32 input, and for integers of up to 16 bits when ``tol``
    is at least 1e-7: float32's rounding (:data:`ROUNDING`, 1e-6 of
    ``max|image|`` after an FFT pair) is then at most the halo's own bound
    (``2 * tol``) and, on integer levels, far below half a level.  float64
    otherwise (64-bit floats, wider integers, or a ``tol`` below 1e-7, which
    float32 could not honour).

    Returns
    -------
    (numpy.dtype, str)
    """
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.dtype(np.float32), msg.PRECISION_FLOAT32
    if dtype.kind in "ui" and dtype.itemsize <= 2 and tol >= 1e-7:
        return np.dtype(np.float32), msg.PRECISION_LEVELS.format(bits=dtype.itemsize * 8)
    why = msg.PRECISION_WIDE if dtype.itemsize > 2 else msg.PRECISION_TOL
    return np.dtype(np.float64), why.format(dtype=dtype.name)


def work_dtype(dtype, tol=DEFAULT_TOL):
    """The working dtype of :func:`working_precision` (its rule, without the reason)."""
    return working_precision(dtype, tol)[0]


log = logging.getLogger("daskfft")
