"""High-pass, band-pass and flat-field correction on the low-pass engine, lazy like
:func:`daskfft.lowpass`.

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

from .blockwise import (
    _on_dataarray,
    as_image,
    filter_chunks,
    lowpass_spec,
    nodata_mask,
    work_dtype,
)
from .filters import HaloWarning, expected_deviation, transfer_function
from .params import FilterSpec, check_choice

__all__ = ["FLATFIELD_MODES", "band_bound", "bandpass", "flatfield", "highpass"]

#: How :func:`flatfield` takes the background out.
FLATFIELD_MODES = ("divide", "subtract")


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


def flatfield(image, cutoff, *, mode="divide", filter="gaussian", order=4, depth="auto",
              boundary="reflect", tol=1e-6, nodata=None, method="blockwise"):
    """Flat-field (background) correction: the image over, or minus, its own wide low-pass.

    The background is ``lowpass(image, cutoff, ...)`` with a low ``cutoff``
    (e.g. ``cutoff_from_sigma(100)``: illumination that varies over hundreds
    of pixels).  ``mode="divide"`` gives ``image / background * mean``, the
    usual cure for uneven illumination and vignetting (multiplicative);
    ``"subtract"`` gives ``image - background + mean`` (an additive offset).
    ``mean`` is the image's mean over its data pixels, per channel, so the
    result keeps the input's overall level.  The result has the input's
    dtype: integers rounded and clipped to their range.  With ``nodata``
    those pixels stay ``nodata`` and are left out of the background and of
    the mean.  A pixel whose background is not positive (a dark corner, in
    ``"divide"``) keeps its value.  Other parameters are those of
    :func:`daskfft.lowpass`; the background deviates from a whole-image
    low-pass by at most its bound (:func:`daskfft.expected_deviation`).

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.outer(np.linspace(1, 2, 200), np.ones(48)) * 100  # light falling off
    >>> flat = flatfield(ramp, 0.02).compute()  # flat, away from the edges' reflection
    >>> bool(np.ptp(flat[40:-40]) < 1e-6 * np.ptp(ramp)), float(round(flat.mean()))
    (True, 150.0)
    """
    check_choice("mode", mode, FLATFIELD_MODES)
    spec = FilterSpec(cutoff, filter=filter, order=order, tol=tol, boundary=boundary,
                      depth=depth, method=method, nodata=nodata)
    return _apply(image, partial(_flatfield, spec=spec, mode=mode))


def _flatfield(image, spec, mode):
    image = as_image(image)
    dtype = work_dtype(image.dtype)
    x = image.astype(dtype)
    background = lowpass_spec(image, spec)
    valid = nodata_mask(image, spec.nodata)
    axes = (0, 1)
    if valid is None:
        mean = x.mean(axis=axes, dtype=np.float64)
    else:
        count = valid.sum(axis=axes)
        mean = da.where(valid, x, 0).sum(axis=axes, dtype=np.float64) / da.maximum(count, 1)
    mean = mean.astype(dtype)
    if mode == "divide":
        lit = background > 0
        out = da.where(lit, x / da.where(lit, background, 1) * mean, x)
    else:
        out = x - background + mean
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = da.clip(da.rint(out), info.min, info.max)
    out = out.astype(image.dtype)
    if valid is not None:
        out = da.where(valid, out, np.asarray(spec.nodata).astype(image.dtype))
    return out


def _apply(image, fn):
    xr = sys.modules.get("xarray")  # never imported here: a DataArray means it already is
    if xr is not None and isinstance(image, xr.DataArray):
        return _on_dataarray(image, fn)
    return fn(image)


def _keep_nodata(out, image, nodata):
    if nodata is None:
        return out
    return da.where(nodata_mask(image, nodata), out, np.asarray(nodata, dtype=out.dtype))


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
    transfer = partial(_band_transfer, low=low.cutoff, high=high.cutoff, filter=low.filter,
                       order=low.order)
    return filter_chunks(image, depth, low.boundary, work_dtype(image.dtype), cutoff=high.cutoff,
                         filter=low.filter, order=low.order, transfer=transfer)
