"""High-pass, band-pass and flat-field correction on the low-pass engine, lazy like
:func:`daskfft.lowpass`.

The high-pass is ``1 - H``: the image minus its low-pass.  The band-pass is
``H(high) - H(low)``: the low-pass at the upper edge minus the low-pass at
the lower edge (for the Gaussian, a difference of Gaussians).  Both use the
low-pass's halo rule, so their distance from the same filter applied to the
whole image is bounded the same way (see :func:`band_bound`).
"""

from __future__ import annotations

import numpy as np

from daskfft._docs import docfiller
from daskfft.api.axes import UNSET
from daskfft.api.lowpass import (
    apply_spec,
    arguments_spec,
    as_image,
    filter_chunks,
    lowpass_spec,
    warned_halo,
)
from daskfft.kernels.bands import corrected
from daskfft.kernels.block import nodata_mask, work_dtype
from daskfft.kernels.halo import expected_deviation
from daskfft.messages import api as msg
from daskfft.validate import FLATFIELD_MODES, check_choice, check_cutoff

__all__ = [
    "highpass",
    "bandpass",
    "band_bound",
    "flatfield",
    "data_mean",
    "filter_spec",
]


@docfiller
def highpass(image, cutoff, *, filter="gaussian", order=4, depth="auto", boundary="reflect",
             tol=1e-6, nodata=None, method="blockwise", channel_axis=UNSET):  # fmt: skip
    """High-pass filter: ``image - lowpass(image, cutoff, ...)``, transfer function ``1 - H``.

    With ``nodata`` those pixels stay ``nodata`` and are left out of the
    low-pass that is subtracted.  Its deviation from the same filter on the
    whole image is the low-pass's: at most ``(2 * T + r) * max|image|``,
    ``2 * T`` from :func:`daskfft.expected_deviation` and ``r`` the working
    precision's rounding (``daskfft.kernels.block.ROUNDING``).

    Parameters
    ----------
    %(image)s
    cutoff : float
        The frequency (cycles/pixel, ``0 < cutoff <= 0.5``) below which the
        image is removed.
    %(filter_options)s

    Returns
    -------
    dask.array.Array or xarray.DataArray
        Lazy, same shape and chunks as ``image``, in the low-pass's working
        precision (it has negative values; see
        ``daskfft.kernels.block.working_precision``); a DataArray for a DataArray.

    Examples
    --------
    >>> import numpy as np
    >>> out = highpass(np.full((40, 30), 5.0), 0.1)
    >>> bool(np.allclose(out.compute(), 0.0))
    True
    """
    spec = arguments_spec(cutoff, filter, order, depth, boundary, tol, nodata, method, band="high")
    return apply_spec(image, spec, filter_spec, channel_axis)


@docfiller
def bandpass(image, low, high, *, filter="gaussian", order=4, depth="auto", boundary="reflect",
             tol=1e-6, nodata=None, method="blockwise", channel_axis=UNSET):  # fmt: skip
    """Band-pass filter: ``lowpass(image, high) - lowpass(image, low)``, ``H(high) - H(low)``.

    Keeps frequencies between ``low`` and ``high`` cycles/pixel: for
    ``filter="gaussian"`` a difference of Gaussians of sigmas
    ``1/(2*pi*high)`` and ``1/(2*pi*low)`` pixels, for ``"butterworth"`` the
    difference of two Butterworth low-passes.  ``depth="auto"`` takes the
    wider of the two halos.  Without ``nodata`` each chunk goes through one
    FFT pair with the band's transfer function; with it, the two normalised
    low-passes are taken apart.  Its deviation from the whole-image band-pass
    is at most :func:`band_bound` times ``max|image|``.

    Parameters
    ----------
    %(image)s
    %(low_high)s
    %(filter_options)s

    Returns
    -------
    dask.array.Array or xarray.DataArray
        Lazy, same shape and chunks as ``image``, in the working precision
        (it has negative values); a DataArray for a DataArray.

    Examples
    --------
    >>> import numpy as np
    >>> out = bandpass(np.full((40, 30), 5.0), 0.02, 0.2)
    >>> bool(np.allclose(out.compute(), 0.0))
    True
    """
    low, high = _band_edges(low, high)
    spec = arguments_spec(
        high, filter, order, depth, boundary, tol, nodata, method, band="band", low_cutoff=low
    )
    return apply_spec(image, spec, filter_spec, channel_axis)


@docfiller
def band_bound(low, high, depth, *, filter="gaussian", order=4):
    """Bound on how far a block-wise band-pass is from the whole-image band-pass.

    It is the sum of the two low-passes' bounds
    (:func:`daskfft.expected_deviation`).

    Parameters
    ----------
    %(low_high)s
    %(bound_options)s

    Returns
    -------
    float
        The bound on ``max|bandpass - whole-image band-pass| / max|image|``
        with a ``depth`` halo.

    Examples
    --------
    >>> band_bound(0.02, 0.2, 200) < 1e-12
    True
    """
    low, high = _band_edges(low, high)
    return expected_deviation(low, depth, filter=filter, order=order) + expected_deviation(
        high, depth, filter=filter, order=order
    )


def _band_edges(low, high):
    """Validate a band-pass's two cutoffs: each in (0, 0.5] cycles/pixel, ``low < high``."""
    low, high = check_cutoff(low, "low"), check_cutoff(high, "high")
    if not low < high:
        raise ValueError(msg.BAND_EDGES_NOT_ORDERED.format(low=low, high=high))
    return low, high


@docfiller
def flatfield(image, cutoff, *, mode="divide", filter="gaussian", order=4, depth="auto",
              boundary="reflect", tol=1e-6, nodata=None, method="blockwise",
              channel_axis=UNSET):  # fmt: skip
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
    ``"divide"``) keeps its value.  The background deviates from a
    whole-image low-pass by at most its bound
    (:func:`daskfft.expected_deviation`).

    Parameters
    ----------
    %(image)s
    cutoff : float
        Cutoff of the background's low-pass in cycles/pixel: a low one, e.g.
        ``cutoff_from_sigma(100)``.
    mode : {"divide", "subtract"}, default "divide"
        Divide the image by its background (multiplicative shading) or
        subtract it (an additive offset).
    %(filter_options)s

    Returns
    -------
    dask.array.Array or xarray.DataArray
        Lazy, the input's shape, chunks and dtype; a DataArray for a
        DataArray.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.outer(np.linspace(1, 2, 200), np.ones(48)) * 100  # light falling off
    >>> flat = flatfield(ramp, 0.02).compute()  # flat, away from the edges' reflection
    >>> bool(np.ptp(flat[40:-40]) < 1e-6 * np.ptp(ramp)), float(round(flat.mean()))
    (True, 150.0)
    """
    check_choice("mode", mode, FLATFIELD_MODES)
    spec = arguments_spec(
        cutoff, filter, order, depth, boundary, tol, nodata, method, flatfield=mode
    )
    return apply_spec(image, spec, filter_spec, channel_axis)


def data_mean(image, valid=None, spatial=2):
    """The mean of ``image`` (dask) over its first ``spatial`` axes, per channel and frame,
    over the pixels where ``valid`` (same shape, or the spatial axes' for every layer) is
    True, float64, lazily: a flat-field's level."""
    import dask.array as da

    x = image.astype(np.float64)
    axes = tuple(range(spatial))
    if valid is None:
        return x.mean(axis=axes)
    if valid.ndim < x.ndim:
        valid = da.broadcast_to(valid.reshape(valid.shape + (1,) * (x.ndim - valid.ndim)), x.shape)
    count = valid.sum(axis=axes)
    return da.where(valid, x, 0).sum(axis=axes) / da.maximum(count, 1)


def _flatfield(image, spec, spatial):
    import dask.array as da

    image = as_image(image, spatial=spatial)
    dtype = work_dtype(image.dtype, spec.tol)
    x = image.astype(dtype)
    background = lowpass_spec(image, spec.edges()[0], spatial)
    valid = nodata_mask(image, spec.nodata)
    mean = data_mean(image, valid, spatial).astype(dtype)
    out = corrected(x, background, mean, spec.flatfield)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = da.clip(da.rint(out), info.min, info.max)
    out = out.astype(image.dtype)
    if valid is not None:
        out = da.where(valid, out, np.asarray(spec.nodata).astype(image.dtype))
    return out


def filter_spec(image, spec, spatial=2):
    """The filter ``spec`` (any pass band) of ``image`` (its first ``spatial`` axes space),
    lazily: :func:`lowpass_spec` for a low-pass, :func:`highpass` and :func:`bandpass` for
    the others."""
    if spec.flatfield is not None:
        return _flatfield(image, spec, spatial)
    if spec.band == "low":
        return lowpass_spec(image, spec, spatial)
    image = as_image(image, spatial=spatial)
    dtype = work_dtype(image.dtype, spec.tol)
    if spec.method == "exact" or spec.nodata is not None:
        # Apart: each low-pass normalised by its own weight (or exact on the whole image).
        low = [lowpass_spec(image, edge, spatial) for edge in spec.edges()]
        out = image.astype(dtype) - low[0] if spec.band == "high" else low[1] - low[0]
        return _keep_nodata(out, image, spec.nodata)
    halo = warned_halo(spec, msg.BAND_HALO_NOTE, spatial)
    return filter_chunks(
        image, halo.depths, spec.boundary, dtype, **spec.kernel_options(), transfer=spec.transfer
    )


def _keep_nodata(out, image, nodata):
    import dask.array as da

    if nodata is None:
        return out
    return da.where(nodata_mask(image, nodata), out, np.asarray(nodata, dtype=out.dtype))
