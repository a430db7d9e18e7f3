"""Block-wise FFT low-pass filtering of chunked images.

``lowpass`` builds a lazy graph: ``map_overlap`` gives every chunk a halo,
``filter_block`` filters the padded chunk with one real FFT pair, and dask
trims the halo again.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from daskfft._docs import docfiller
from daskfft.api.axes import UNSET, array_axes, dims_axes
from daskfft.kernels.block import filter_block, nodata_mask, normalised, work_dtype
from daskfft.kernels.grid import DEFAULT_CHUNKS
from daskfft.kernels.halo import HaloWarning
from daskfft.kernels.spec import FilterSpec
from daskfft.messages import api as msg
from daskfft.validate import check_image, check_real

__all__ = [
    "as_image",
    "lowpass",
    "arguments_spec",
    "dataarray_nodata",
    "apply_spec",
    "lowpass_spec",
    "warned_halo",
    "exact_2d_only",
    "filter_chunks",
    "overlap_map",
]


def as_image(image, chunks=DEFAULT_CHUNKS, spatial=2):
    """A dask array of a real image: 2-D or channels-last 3-D, channels in one chunk; or,
    with ``spatial=3``, arranged as :class:`~daskfft.api.axes.Axes` arranges one.

    NumPy input is chunked ``chunks`` pixels square; a dask array keeps its
    chunks, except that a 2-D image's channel axis is merged into one chunk.

    Raises
    ------
    TypeError
        For non-numeric, boolean or complex data.
    ValueError
        For an array that is not 2-D or 3-D, or is empty.
    """
    import dask.array as da

    if not isinstance(image, da.Array):
        image = np.asarray(image)
    if spatial == 2 and image.ndim <= 3:
        check_image("image", image)
    else:
        check_real("image", image)  # its axes were told (Axes)
    if 0 in image.shape:
        raise ValueError(msg.IMAGE_EMPTY.format(shape=image.shape))
    if not isinstance(image, da.Array):
        image = da.from_array(image, chunks=(chunks,) * spatial + (-1,) * (image.ndim - spatial))
    elif spatial == 2 and image.ndim == 3 and image.numblocks[2] != 1:
        image = image.rechunk({2: -1})
    return image


@docfiller
def lowpass(image, cutoff, *, filter="gaussian", order=4, depth="auto", boundary="reflect",
            tol=1e-6, nodata=None, method="blockwise", channel_axis=UNSET):  # fmt: skip
    """Low-pass filter an image or volume chunk by chunk in the frequency domain.

    Parameters
    ----------
    image : numpy.ndarray, dask.array.Array or xarray.DataArray
        2 or 3 spatial axes (``(y, x)`` or ``(z, y, x)``), and optionally a
        channel axis (``channel_axis``) whose layers are each filtered alone.
        A dask array keeps its chunks (the channel axis is never split); a
        NumPy array is cut into chunks of ``DEFAULT_CHUNKS`` pixels
        (``DEFAULT_VOLUME_CHUNKS`` voxels in 3-D).  A DataArray (e.g.
        ``rioxarray.open_rasterio(path, chunks=...)``, an OME-Zarr image in
        xarray) names its axes by its dims: ``band``/``c``/``channel`` the
        channels, ``t``/``time`` frames, each filtered alone (never across
        time), ``z``/``y``/``x`` space; it comes back a DataArray with the
        same dims, coords (the CRS among them) and attrs.
    cutoff : float or tuple of float
        ``D0`` in cycles/pixel, ``0 < cutoff <= 0.5``: one value, or one per
        spatial axis in their order (anisotropic voxels: ``cutoff_from_sigma``
        of each axis's sigma in pixels; Gaussian only).
    filter : {"gaussian", "butterworth", "ideal"}, default "gaussian"
        Transfer function, see Notes.
    order : int, default 4
        Butterworth order (>= 1).
    depth : "auto" or int, default "auto"
        Halo in pixels around every chunk.  ``"auto"`` takes
        :func:`daskfft.halo_depth` of the filter and ``tol``; an integer is
        taken as given.
    boundary : {"reflect", "periodic", "nearest"} or float, default "reflect"
        How the image is extended past its edges (dask's names; "reflect" is
        NumPy's "symmetric" and scipy.ndimage's "reflect"); a number extends
        it with that constant.
    tol : float, default 1e-6
        L1 mass of the spatial kernel allowed outside the halo, for
        ``depth="auto"``.
    nodata : float, optional
        Pixels equal to this value (NaN: NaN pixels) are no data: they are
        left out of the filter by normalised convolution, so they do not
        darken their neighbours, and stay ``nodata`` in the result.  For a
        DataArray, None takes the nodata it declares, as rioxarray does
        (``dataarray_nodata``: ``rio.nodata``, or NaN for
        ``rio.encoded_nodata`` after ``masked=True``), and the result declares
        it too (its ``_FillValue``), so ``rio.to_raster`` writes it back.
    method : {"blockwise", "exact"}, default "blockwise"
        ``"exact"``: one FFT over the whole image, done in chunks (row and
        column bands; see ``daskfft.api.exact``), equal to a whole-image
        filter to rounding, for every filter including ``"ideal"``; costs two
        rechunks of the whole image.  ``depth`` is then unused; boundaries
        other than ``"periodic"`` pad the image by the kernel's reach first
        (1024 px for ``"ideal"``).  ``nodata`` works with both, by
        normalised convolution (the exact method then filters data and mask
        together).  2-D with one cutoff only.
    channel_axis : int or None, optional
        Which axis holds channels (scikit-image's convention); None: every axis
        is spatial.  Not given: a 2-D array is an image and a 3-D array a
        volume, except that a 3-D array whose last axis is at most 4 long
        (colours?) is refused with what to pass, as is a 4-D array.  For a
        DataArray, a dim name or position, where its dims do not say.

    Returns
    -------
    dask.array.Array or xarray.DataArray
        Lazy, same shape and chunks as ``image``, in the working precision
        (``working_precision``, the command's rule too): float32 for
        float32 input and, with ``tol >= 1e-7``, for integers of up to 16
        bits; float64 for everything else.  A DataArray for a DataArray.

    Raises
    ------
    %(raises_arguments)s

    Warns
    -----
    HaloWarning
        When ``depth="auto"`` needs more than ``DEPTH_CAP`` pixels (always for
        ``"ideal"``), with the deviation it expects.

    Notes
    -----
    Transfer functions, with ``D`` the radial frequency of each padded
    chunk's ``fftfreq`` grid and ``D0 = cutoff``: ideal ``H = [D <= D0]``;
    Butterworth ``H = 1/(1 + (D/D0)**(2*order))``; Gaussian
    ``H = exp(-D**2/(2*D0**2))``, a spatial Gaussian of
    ``sigma = 1/(2*pi*D0)`` pixels.

    Every chunk is filtered with a halo of ``depth`` pixels taken from its
    neighbours, or from the ``boundary`` extension at the image's edges.  The
    result then differs from the same filter applied to the whole (equally
    extended) image only through the kernel's weights beyond the halo, and
    by the working precision's rounding: at most ``(2 * T + r) * max|image|``,
    where ``T`` is their L1 mass (``tol`` with ``depth="auto"``;
    :func:`daskfft.expected_deviation` gives ``2 * T`` for any depth) and
    ``r`` is ``ROUNDING`` of the working dtype (1e-6 for float32, 1e-14
    for float64).  In 3-D, or with a cutoff per axis, the halo is chosen per
    axis (the Gaussian is separable: each axis may leave
    ``1 - (1 - tol)**(1/k)`` of its 1-D mass out, ``k`` spatial axes), and
    ``T`` is the kernel's mass outside that box.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((64, 48), 7.0)
    >>> out = lowpass(image, 0.1)
    >>> out.chunks, bool(np.allclose(out.compute(), 7.0))
    (((64,), (48,)), True)
    """
    spec = arguments_spec(cutoff, filter, order, depth, boundary, tol, nodata, method)
    return apply_spec(image, spec, lowpass_spec, channel_axis)


def arguments_spec(cutoff, filter, order, depth, boundary, tol, nodata, method, **band):
    """The :class:`~daskfft.kernels.spec.FilterSpec` of the arguments that :func:`lowpass` and
    the filters in :mod:`daskfft.api.bands` share, in their order, with the pass band's
    fields ``band`` (``band``, ``low_cutoff``, ``flatfield``)."""
    return FilterSpec(
        cutoff,
        filter=filter,
        order=order,
        tol=tol,
        boundary=boundary,
        depth=depth,
        method=method,
        nodata=nodata,
        **band,
    )


#: Where a DataArray declares its nodata, in the order rioxarray's ``rio.nodata`` looks.
_NODATA_ATTRS = ("_FillValue", "missing_value", "fill_value", "nodata")


def dataarray_nodata(array):
    """The nodata an xarray.DataArray declares, as rioxarray reads it; None if none.

    NaN for a float array with an encoded ``_FillValue`` (``rio.encoded_nodata``:
    rioxarray's ``masked=True`` has put NaN in its holes), else the first of the
    attributes ``_FillValue``, ``missing_value``, ``fill_value`` and ``nodata``
    (``rio.nodata`` of an unmasked array).
    """
    if array.encoding.get("_FillValue") is not None and array.dtype.kind == "f":
        return float("nan")
    return next(
        (array.attrs[key] for key in _NODATA_ATTRS if array.attrs.get(key) is not None), None
    )


def apply_spec(image, spec, fn, channel_axis=UNSET):
    """``fn(arranged, spec, spatial)`` of ``image`` with its axes told
    (:mod:`daskfft.api.axes`: ``channel_axis``, or a DataArray's dims), arranged spatial
    axes first; the result comes back in the input's axis order.  A DataArray gives its
    data, the nodata it declares (``dataarray_nodata``) unless ``spec`` has one (kept in
    the result's attributes so that rioxarray writes it back), and gets its dims, coords
    and attrs back."""
    xr = sys.modules.get("xarray")  # never imported here: a DataArray means it already is
    if xr is None or not isinstance(image, xr.DataArray):
        image = check_real("image", image)
        axes = array_axes(image.shape, channel_axis)
        return axes.restore(fn(axes.arrange(image), spec, len(axes.spatial)))
    if spec.nodata is None:
        spec = spec.replace(nodata=dataarray_nodata(image))
    axes = dims_axes(image.dims, image.shape, channel_axis)
    data = axes.restore(fn(axes.arrange(image.data), spec, len(axes.spatial)))
    out = image.copy(data=data)
    if spec.nodata is not None and not (np.isnan(spec.nodata) and "_FillValue" in out.encoding):
        out.attrs = {**out.attrs, "_FillValue": spec.nodata}  # masked: NaN, encoded as it was
    return out


def lowpass_spec(image, spec, spatial=2):
    """:func:`lowpass` with the filter given as one validated
    :class:`~daskfft.kernels.spec.FilterSpec`, of an image whose first ``spatial`` axes
    are space (2-D: channels last, if any)."""
    image = as_image(image, spatial=spatial)
    dtype = work_dtype(image.dtype, spec.tol)
    if spec.method == "exact":
        exact_2d_only(spec, spatial)
        from daskfft.api.exact import lowpass_exact

        def exact(x, boundary):
            return lowpass_exact(
                x, **spec.kernel_options(), tol=spec.tol, boundary=boundary, dtype=dtype
            )

        if spec.nodata is None:
            return exact(image, spec.boundary)
        return _exact_without_nodata(image, spec.nodata, spec.boundary, exact, dtype)
    halo = warned_halo(spec, spatial=spatial)
    return filter_chunks(
        image, halo.depths, spec.boundary, dtype, **spec.kernel_options(), nodata=spec.nodata
    )


def exact_2d_only(spec, spatial):
    """Refuse the exact method on a volume or with a cutoff per axis."""
    if spatial != 2:
        raise ValueError(msg.EXACT_2D_ONLY.format(what="a volume"))
    if isinstance(spec.cutoff, tuple):
        raise ValueError(msg.EXACT_2D_ONLY.format(what="a cutoff per axis"))


def warned_halo(spec, note="", spatial=2):
    """``spec``'s :class:`~daskfft.kernels.spec.Halo` on ``spatial`` axes, with a
    :class:`HaloWarning` where no halo up to the cap reaches its ``tol``: its message, then
    ``note`` (a template of the spec's ``band`` and the halo's ``deviation``).  For
    :func:`lowpass_spec` and :func:`daskfft.api.bands.filter_spec`."""
    halo = spec.halo(spatial)
    if halo.warning:
        warnings.warn(
            HaloWarning(
                halo.warning + note.format(band=spec.band, deviation=halo.deviation),
                depth=halo.depth,
                deviation=halo.deviation,
            ),
            stacklevel=4,
        )
    return halo


def filter_chunks(image, depth, boundary, dtype, **filter_options):
    """:func:`filter_block` over every chunk of ``image`` with a ``depth``-pixel halo (one
    value for two spatial axes, or one per spatial axis), in ``dtype``, back in
    ``image``'s chunks; ``filter_options`` go to :func:`filter_block`."""
    spatial = len(depth) if isinstance(depth, tuple) else 2
    if spatial != 2:
        filter_options["spatial"] = spatial
    out = overlap_map(
        filter_block,
        image,
        depth,
        boundary,
        dtype=dtype,
        meta=np.empty((0,) * image.ndim, dtype=dtype),
        work_dtype=dtype,
        **filter_options,
    )
    if out.chunks != image.chunks:
        out = out.rechunk(image.chunks)
    return out


def _exact_without_nodata(image, nodata, boundary, exact, dtype):
    """The exact filter by normalised convolution (:func:`normalised`), as
    :func:`filter_block` does it chunk by chunk.  Data and mask go through one exact pass as
    channels, unless a constant boundary extends them differently (the mask's is data, 1)."""
    import dask.array as da

    valid = nodata_mask(image, nodata)
    x = da.where(valid, image, 0).astype(dtype)
    m = valid.astype(dtype)
    if isinstance(boundary, str):
        both = exact(
            da.concatenate([x[..., None], m[..., None]], axis=-1)
            if image.ndim == 2
            else da.concatenate([x, m], axis=2),
            boundary,
        )
        half = 1 if image.ndim == 2 else image.shape[2]
        num, weight = both[..., :half], both[..., half:]
        if image.ndim == 2:
            num, weight = num[..., 0], weight[..., 0]
    else:
        num, weight = exact(x, boundary), exact(m, 1.0)
    return normalised(num, weight, x, valid, nodata).rechunk(image.chunks)


def overlap_map(func, image, depth, boundary, *, trim=True, **kwargs):
    """``map_overlap`` of ``func`` with a ``depth``-pixel halo on the two image axes (or one
    halo per spatial axis, ``depth`` a tuple: the first ``len(depth)`` axes).

    ``func`` receives each haloed block plus ``self_pad`` and ``pad_mode``
    keywords: along an axis shorter than the halo, dask cannot overlap, so
    the axis is kept in one chunk and ``func`` must extend it itself (see
    :func:`filter_block`).  Other keywords go to ``map_overlap``; chunks
    smaller than the halo are merged by dask.
    """
    depths = depth if isinstance(depth, tuple) else (depth, depth)
    source = image
    dask_depth, self_pad = {}, []
    for axis, d in enumerate(depths):
        if d >= image.shape[axis]:
            source = source.rechunk({axis: -1})
            dask_depth[axis], self_pad = 0, self_pad + [d]
        else:
            dask_depth[axis], self_pad = d, self_pad + [0]
    for axis in range(len(depths), image.ndim):
        dask_depth[axis] = 0
    dask_boundary = {a: (boundary if d else "none") for a, d in dask_depth.items()}
    with warnings.catch_warnings():
        # dask warns when it must merge chunks smaller than the halo; expected here.
        warnings.filterwarnings("ignore", message=".*overlap.*", category=UserWarning)
        return source.map_overlap(
            func,
            depth=dask_depth,
            boundary=dask_boundary,
            trim=trim,
            self_pad=tuple(self_pad),
            pad_mode=boundary,
            **kwargs,
        )
