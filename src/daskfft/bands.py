"""High-pass and band-pass filters on the low-pass engine, lazy like :func:`daskfft.lowpass`.

The high-pass is ``1 - H``: the image minus its low-pass.  The band-pass is
``H(high) - H(low)``: the low-pass at the upper edge minus the low-pass at
the lower edge (for the Gaussian, a difference of Gaussians).  Both use the
low-pass's halo rule, so their distance from the same filter applied to the
whole image is bounded the same way (see :func:`band_bound`).
"""

from __future__ import annotations

import sys
import warnings
from functools import partial

import dask.array as da
import numpy as np

from .blockwise import _on_dataarray, as_image, filter_block, lowpass_spec, overlap_map, work_dtype
from .filters import HaloWarning, expected_deviation, transfer_function
from .params import FilterSpec

__all__ = ["highpass", "bandpass", "band_bound"]


def highpass(image, cutoff, *, filter="gaussian", order=4, depth="auto", boundary="reflect",
             tol=1e-6, nodata=None, method="blockwise"):
    """High-pass filter: ``image - lowpass(image, cutoff, ...)``, transfer function ``1 - H``.

    Parameters are those of :func:`daskfft.lowpass`, with ``cutoff`` the
    frequency (cycles/pixel) below which the image is removed.  The result is
    lazy, float32 for float32 input and float64 otherwise (it has negative
    values), same shape and chunks; a DataArray for a DataArray.  With
    ``nodata`` those pixels stay ``nodata`` and are left out of the low-pass
    that is subtracted.  Its deviation from the same filter on the whole
    image is the low-pass's: at most ``2 * T * max|image|``
    (:func:`daskfft.expected_deviation`).

    Examples
    --------
    >>> import numpy as np
    >>> out = highpass(np.full((40, 30), 5.0), 0.1)
    >>> bool(np.allclose(out.compute(), 0.0))
    True
    """
    spec = FilterSpec(cutoff, filter=filter, order=order, tol=tol, boundary=boundary,
                      depth=depth, method=method, nodata=nodata)
    return _apply(image, partial(_highpass, spec=spec))


def bandpass(image, low, high, *, filter="gaussian", order=4, depth="auto", boundary="reflect",
             tol=1e-6, nodata=None, method="blockwise"):
    """Band-pass filter: ``lowpass(image, high) - lowpass(image, low)``, ``H(high) - H(low)``.

    Keeps frequencies between ``low`` and ``high`` cycles/pixel
    (``0 < low < high <= 0.5``): for ``filter="gaussian"`` a difference of
    Gaussians of sigmas ``1/(2*pi*high)`` and ``1/(2*pi*low)`` pixels, for
    ``"butterworth"`` the difference of two Butterworth low-passes.  Other
    parameters are those of :func:`daskfft.lowpass`; ``depth="auto"`` takes the
    wider of the two halos.  Without ``nodata`` each chunk goes through one
    FFT pair with the band's transfer function; with it, the two normalised
    low-passes are taken apart.  Its deviation from the whole-image band-pass
    is at most :func:`band_bound` times ``max|image|``.

    Examples
    --------
    >>> import numpy as np
    >>> out = bandpass(np.full((40, 30), 5.0), 0.02, 0.2)
    >>> bool(np.allclose(out.compute(), 0.0))
    True
    """
    lo = FilterSpec(low, filter=filter, order=order, tol=tol, boundary=boundary, depth=depth,
                    method=method, nodata=nodata)
    hi = lo.replace(cutoff=high)
    if not lo.cutoff < hi.cutoff:
        raise ValueError(f"`low` must be below `high`, got low={low}, high={high}")
    return _apply(image, partial(_bandpass, low=lo, high=hi))


def band_bound(low, high, depth, *, filter="gaussian", order=4):
    """Bound on ``max|bandpass - whole-image band-pass| / max|image|`` with a ``depth`` halo:
    the sum of the two low-passes' bounds (:func:`daskfft.expected_deviation`)."""
    return (expected_deviation(low, depth, filter=filter, order=order)
            + expected_deviation(high, depth, filter=filter, order=order))


def _apply(image, fn):
    xr = sys.modules.get("xarray")  # never imported here: a DataArray means it already is
    if xr is not None and isinstance(image, xr.DataArray):
        return _on_dataarray(image, fn)
    return fn(image)


def _keep_nodata(out, image, nodata):
    if nodata is None:
        return out
    valid = ~da.isnan(image) if np.isnan(nodata) else image != nodata  # per channel
    return da.where(valid, out, np.asarray(nodata, dtype=out.dtype))


def _highpass(image, spec):
    image = as_image(image)
    out = image.astype(work_dtype(image.dtype)) - lowpass_spec(image, spec)
    return _keep_nodata(out, image, spec.nodata)


def _band_transfer(shape, dtype, *, low, high, filter, order):
    return (transfer_function(shape, high, filter, order, dtype)
            - transfer_function(shape, low, filter, order, dtype))


def _bandpass(image, low, high):
    image = as_image(image)
    if low.method == "exact" or low.nodata is not None:
        out = lowpass_spec(image, high) - lowpass_spec(image, low)
        return _keep_nodata(out, image, low.nodata)
    halos = [low.halo(), high.halo()]
    depth = max(h.depth for h in halos)
    warned = [h for h in halos if h.warning]
    if warned:
        deviation = band_bound(low.cutoff, high.cutoff, depth, filter=low.filter,
                               order=low.order)
        warnings.warn(HaloWarning(f"{warned[0].warning} (band-pass: bound {deviation:.2g})",
                                  depth=depth, deviation=deviation), stacklevel=3)
    dtype = work_dtype(image.dtype)
    transfer = partial(_band_transfer, low=low.cutoff, high=high.cutoff, filter=low.filter,
                       order=low.order)
    out = overlap_map(filter_block, image, depth, low.boundary, dtype=dtype,
                      meta=np.empty((0,) * image.ndim, dtype=dtype), cutoff=high.cutoff,
                      filter=low.filter, order=low.order, work_dtype=dtype, transfer=transfer)
    if out.chunks != image.chunks:
        out = out.rechunk(image.chunks)
    return out
