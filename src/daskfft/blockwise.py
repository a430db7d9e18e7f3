"""Block-wise FFT low-pass filtering of chunked images.

``lowpass`` builds a lazy graph: ``map_overlap`` gives every chunk a halo,
``filter_block`` filters the padded chunk with one real FFT pair, and dask
trims the halo again.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import dask.array as da
import ducc0
import numpy as np

from .filters import check_filter, halo_depth, transfer_function

__all__ = ["filter_block", "lowpass", "as_image", "DEFAULT_CHUNKS"]

#: Chunk edge, in pixels, given to NumPy input: a few tens of ms of FFT per
#: chunk, far above dask's per-task cost, and a few MB per task.
DEFAULT_CHUNKS = 1024

# dask's boundary names and the np.pad modes that extend an array the same way.
_PAD_MODES = {"reflect": "symmetric", "periodic": "wrap", "nearest": "edge"}


def check_boundary(boundary):
    """Validate ``boundary``: one of dask's names, or a finite number for a constant."""
    if isinstance(boundary, str):
        if boundary not in _PAD_MODES:
            raise ValueError(
                f"`boundary` must be one of {', '.join(_PAD_MODES)} or a number, got {boundary!r}"
            )
        return boundary
    if isinstance(boundary, bool) or not isinstance(boundary, Real) or not np.isfinite(boundary):
        raise ValueError(
            f"`boundary` must be one of {', '.join(_PAD_MODES)} or a finite number, got {boundary!r}"
        )
    return float(boundary)


def _pad(x, widths, boundary):
    if isinstance(boundary, str):
        return np.pad(x, widths, mode=_PAD_MODES[boundary])
    return np.pad(x, widths, mode="constant", constant_values=boundary)


def filter_block(block, *, cutoff, filter, order, work_dtype, self_pad=(0, 0), pad_mode="reflect"):
    """Low-pass one (already haloed) block with a real FFT pair.

    Parameters
    ----------
    block : numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``; channels are filtered
        one by one.
    cutoff, filter, order
        As for :func:`daskfft.lowpass`.
    work_dtype : numpy dtype
        Working and output precision, float32 or float64.
    self_pad : (int, int)
        Halo to add here, with ``pad_mode``, along axes that dask could not
        overlap because the whole axis is shorter than the halo.
    pad_mode : str or float
        How ``self_pad`` extends the block: a ``boundary`` of ``lowpass``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``block``, in ``work_dtype``.

    Notes
    -----
    Each padded block is extended at its far edges to a fast FFT length
    (``ducc0.fft.good_size``) by mirroring; those extra pixels lie beyond the
    halo, so they weigh on the kept pixels no more than the halo rule allows.
    """
    x = block.astype(work_dtype, copy=False)
    extra = [(0, 0)] * (x.ndim - 2)
    if any(self_pad):
        x = _pad(x, [(p, p) for p in self_pad] + extra, pad_mode)
    rows, cols = x.shape[:2]
    fast = (ducc0.fft.good_size(rows, True), ducc0.fft.good_size(cols, True))
    if fast != (rows, cols):
        x = np.pad(x, [(0, fast[0] - rows), (0, fast[1] - cols)] + extra, mode="symmetric")
    h = transfer_function(fast, cutoff, filter, order, np.dtype(work_dtype).type)
    spectrum = ducc0.fft.r2c(x, axes=(0, 1))
    spectrum *= h.reshape(h.shape + (1,) * (x.ndim - 2))
    y = ducc0.fft.c2r(spectrum, axes=(0, 1), lastsize=fast[1], forward=False, inorm=2,
                      allow_overwriting_input=True)
    p0, p1 = self_pad
    return y[p0 : p0 + block.shape[0], p1 : p1 + block.shape[1]]


def as_image(image, chunks=DEFAULT_CHUNKS):
    """A dask array of a 2-D or channels-last 3-D real image, channels in one chunk.

    NumPy input is chunked ``chunks`` pixels square; a dask array keeps its
    chunks, except that the channel axis is merged into one chunk.

    Raises
    ------
    TypeError
        For non-numeric, boolean or complex data.
    ValueError
        For an array that is not 2-D or 3-D, or is empty.
    """
    if not isinstance(image, da.Array):
        image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(
            f"`image` must be 2-D (rows, cols) or 3-D (rows, cols, channels), "
            f"got {image.ndim}-D with shape {image.shape}"
        )
    if image.dtype.kind not in "uif":
        raise TypeError(f"`image` must hold integers or real floats, got dtype {image.dtype}")
    if 0 in image.shape:
        raise ValueError(f"`image` must not be empty, got shape {image.shape}")
    if not isinstance(image, da.Array):
        image = da.from_array(image, chunks=(chunks, chunks) + (-1,) * (image.ndim - 2))
    elif image.ndim == 3 and image.numblocks[2] != 1:
        image = image.rechunk({2: -1})
    return image


def lowpass(image, cutoff, *, filter="gaussian", order=4, depth="auto", boundary="reflect",
            tol=1e-6):
    """Low-pass filter an image chunk by chunk in the frequency domain.

    Parameters
    ----------
    image : numpy.ndarray or dask.array.Array
        2-D ``(rows, cols)`` or 3-D ``(rows, cols, channels)``, channels last.
        A dask array keeps its chunks (the channel axis is never split); a
        NumPy array is cut into chunks of ``DEFAULT_CHUNKS`` pixels.
    cutoff : float
        ``D0`` in cycles/pixel, ``0 < cutoff <= 0.5``.
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

    Returns
    -------
    dask.array.Array
        Lazy, same shape and chunks as ``image``; float32 for float32 input,
        float64 for everything else.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, naming the argument and the value received.

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
    extended) image only through the kernel's weights beyond the halo: at
    most ``2 * T * max|image|``, where ``T`` is their L1 mass (``tol`` with
    ``depth="auto"``; :func:`daskfft.expected_deviation` for any depth).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((64, 48), 7.0)
    >>> out = lowpass(image, 0.1)
    >>> out.chunks, bool(np.allclose(out.compute(), 7.0))
    (((64,), (48,)), True)
    """
    cutoff, filter, order, tol = check_filter(cutoff, filter, order, tol)
    boundary = check_boundary(boundary)
    image = as_image(image)
    if isinstance(depth, str) and depth == "auto":
        depth = halo_depth(cutoff, filter=filter, order=order, tol=tol)
    elif isinstance(depth, bool) or not isinstance(depth, Integral) or depth < 0:
        raise ValueError(f'`depth` must be "auto" or an integer >= 0, got {depth!r}')
    depth = int(depth)
    dtype = np.float32 if image.dtype == np.float32 else np.float64

    # An axis shorter than the halo cannot be overlapped by dask: keep it in
    # one chunk and let the kernel extend it with the same boundary rule.
    source = image
    dask_depth, self_pad = {}, []
    for axis in (0, 1):
        if depth >= image.shape[axis]:
            source = source.rechunk({axis: -1})
            dask_depth[axis], self_pad = 0, self_pad + [depth]
        else:
            dask_depth[axis], self_pad = depth, self_pad + [0]
    if image.ndim == 3:
        dask_depth[2] = 0
    dask_boundary = {a: (boundary if d else "none") for a, d in dask_depth.items()}
    with warnings.catch_warnings():
        # dask warns when it must merge chunks smaller than the halo; that is
        # expected here, and the output gets the input's chunks back below.
        warnings.filterwarnings("ignore", message=".*overlap.*", category=UserWarning)
        out = source.map_overlap(
            filter_block,
            depth=dask_depth,
            boundary=dask_boundary,
            trim=True,
            dtype=dtype,
            meta=np.empty((0,) * image.ndim, dtype=dtype),
            cutoff=cutoff,
            filter=filter,
            order=order,
            work_dtype=dtype,
            self_pad=tuple(self_pad),
            pad_mode=boundary,
        )
    if out.chunks != image.chunks:
        out = out.rechunk(image.chunks)
    return out

