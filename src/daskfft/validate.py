"""Validators shared by the Python API and the command line.

Every public argument is checked here: a wrong type raises ``TypeError``, a wrong
value ``ValueError``, and the message names the argument, the value given and the
rule.  The vocabulary the checks accept (filters, boundaries, methods, pass bands)
and the defaults live here too, so every layer reads them from one place."""

from __future__ import annotations

import json
import math
import os
import re
from numbers import Integral, Real

import numpy as np

from daskfft.messages import api as msg

__all__ = [
    "FILTERS",
    "check_int",
    "check_cutoff",
    "check_sigma",
    "check_filter_name",
    "check_order",
    "check_tol",
    "check_shape",
    "check_real",
    "check_positive_number",
    "check_axes",
    "check_local_path",
    "check_url",
    "is_url",
    "check_input_path",
    "check_storage_options",
    "shown_url",
    "check_float_dtype",
    "check_filter",
    "BOUNDARIES",
    "METHODS",
    "PASS_BANDS",
    "FLATFIELD_MODES",
    "DEFAULT_CUTOFF",
    "DEFAULT_ORDER",
    "DEFAULT_TOL",
    "DEFAULT_WINDOW",
    "DEFAULT_MIN_CONFIDENCE",
    "check_boundary",
    "check_depth",
    "check_method",
    "check_nodata",
    "check_positive_int",
    "check_fraction",
    "check_flag",
    "check_choice",
    "check_connect_timeout",
]


FILTERS = ("gaussian", "butterworth", "ideal")


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def check_int(name, value, minimum):
    """Validate ``value``, the argument ``name``: an integer >= ``minimum``; return it as int.

    Raises TypeError for something that is not a number at all (a string, None,
    a bool), ValueError for a number that is not a whole one or is too small.
    """
    message = msg.NOT_AN_INTEGER.format(name=name, minimum=minimum, value=value)
    if not _is_number(value):
        raise TypeError(message)
    if not isinstance(value, Integral) or value < minimum:
        raise ValueError(message)
    return int(value)


def check_cutoff(cutoff, name="cutoff"):
    """Validate a cutoff named ``name``: a number of cycles/pixel in (0, 0.5]; return it as a
    float."""
    if not _is_number(cutoff):
        raise TypeError(msg.CUTOFF_NOT_A_NUMBER.format(name=name, value=cutoff))
    cutoff = float(cutoff)
    if not (0.0 < cutoff <= 0.5):  # also refuses NaN
        raise ValueError(msg.CUTOFF_OUT_OF_RANGE.format(name=name, value=cutoff))
    return cutoff


def check_sigma(sigma):
    """Validate a Gaussian's ``sigma``: a finite number of pixels >= 1/pi, so that its
    cutoff, ``1 / (2 pi sigma)``, is in (0, 0.5] cycles/pixel; return it as a float."""
    if not _is_number(sigma):
        raise TypeError(msg.SIGMA_NOT_POSITIVE.format(value=sigma))
    if not 0 < sigma < math.inf:  # an infinite one would make a cutoff of 0
        raise ValueError(msg.SIGMA_NOT_POSITIVE.format(value=sigma))
    if 1.0 / (2.0 * math.pi * float(sigma)) > 0.5:
        raise ValueError(msg.SIGMA_TOO_SMALL.format(value=sigma))
    return float(sigma)


def check_filter_name(filter):
    """Validate ``filter``: one of :data:`FILTERS`."""
    if not isinstance(filter, str) or filter not in FILTERS:
        raise ValueError(
            msg.NOT_ONE_OF.format(name="filter", choices=", ".join(FILTERS), value=filter)
        )
    return filter


def check_order(order):
    """Validate the Butterworth ``order``: an integer >= 1."""
    return check_int("order", order, 1)


def check_tol(tol):
    """Validate ``tol``, the kernel mass allowed outside the halo: in [1e-10, 0.5)."""
    message = msg.TOL_OUT_OF_RANGE.format(value=tol)
    if not _is_number(tol):
        raise TypeError(message)
    if not (1e-10 <= tol < 0.5):
        raise ValueError(message)
    return float(tol)


def check_shape(shape):
    """Validate a transfer function's ``shape``: two or three integers >= 1 (rows, cols, or
    planes, rows, cols); a tuple."""
    message = msg.BAD_SHAPE.format(value=shape)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise TypeError(message)
    if len(shape) not in (2, 3) or not all(
        _is_number(n) and isinstance(n, Integral) and n >= 1 for n in shape
    ):
        raise ValueError(message)
    return tuple(int(n) for n in shape)


def check_float_dtype(dtype):
    """Validate a working ``dtype``: float32 or float64; return it as a numpy dtype."""
    message = msg.NOT_A_FLOAT_DTYPE.format(value=dtype)
    try:
        found = np.dtype(dtype)
    except TypeError:
        raise TypeError(message) from None
    if dtype is None or found not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(message)
    return found


def check_filter(cutoff, filter, order, tol=None):
    """Validate filter parameters together; return them normalised.

    Raises
    ------
    TypeError, ValueError
        With a message naming the argument, the rule and the value received.
    """
    return (
        check_cutoff(cutoff),
        check_filter_name(filter),
        check_order(order),
        None if tol is None else check_tol(tol),
    )


#: How an image is extended past its edges (dask's names), besides a constant.
BOUNDARIES = ("reflect", "periodic", "nearest")

#: "blockwise": every chunk with a halo; "exact": one FFT over the whole image.
METHODS = ("blockwise", "exact")

#: Which frequencies a filter keeps: below its cutoff, above it, or between two cutoffs.
PASS_BANDS = ("low", "high", "band")

#: How a flat-field correction takes the background (the low-pass) out.
FLATFIELD_MODES = ("divide", "subtract")

#: Default cutoff, cycles/pixel: a Gaussian of sigma 3.2 px, a visible smoothing.
DEFAULT_CUTOFF = 0.05

DEFAULT_ORDER = 4

DEFAULT_TOL = 1e-6


def check_boundary(boundary):
    """Validate ``boundary``: one of :data:`BOUNDARIES`, or a finite number for a constant."""
    message = msg.BAD_BOUNDARY.format(choices=", ".join(BOUNDARIES), value=boundary)
    if isinstance(boundary, str):
        if boundary not in BOUNDARIES:
            raise ValueError(message)
        return boundary
    if isinstance(boundary, bool) or not isinstance(boundary, Real):
        raise TypeError(message)
    if not math.isfinite(boundary):
        raise ValueError(message)
    return float(boundary)


def check_depth(depth):
    """Validate ``depth``: "auto" or a whole number of pixels >= 0."""
    if isinstance(depth, str):
        if depth != "auto":
            raise ValueError(msg.BAD_DEPTH.format(value=depth))
        return depth
    try:
        return check_int("depth", depth, 0)
    except (TypeError, ValueError) as exc:
        raise type(exc)(msg.BAD_DEPTH.format(value=depth)) from None


def check_method(method):
    """Validate ``method``: one of :data:`METHODS`."""
    return check_choice("method", method, METHODS)


def check_nodata(nodata):
    """Validate ``nodata``: None or a number (NaN allowed)."""
    if nodata is None:
        return None
    if isinstance(nodata, bool) or not isinstance(nodata, Real):
        raise TypeError(msg.NODATA_NOT_A_NUMBER.format(value=nodata))
    return float(nodata)


def check_positive_int(name, value):
    """Validate an integer >= 1 named ``name``."""
    return check_int(name, value, 1)


def check_positive_number(value, name="physical-sigma"):
    """Validate a positive finite number named ``name`` (a physical sigma, a voxel size);
    return it as a float."""
    message = msg.NOT_POSITIVE.format(name=name, value=value)
    if not _is_number(value):
        raise TypeError(message)
    if not 0 < value < math.inf:
        raise ValueError(message)
    return float(value)


def check_fraction(name, value):
    """Validate a number in [0, 1] named ``name``; return it as a float."""
    message = msg.NOT_A_FRACTION.format(name=name, value=value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(message)
    if not 0 <= value <= 1:  # also refuses NaN
        raise ValueError(message)
    return float(value)


def check_flag(name, value):
    """Validate a yes/no option named ``name``: True or False (NumPy's bool too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(msg.NOT_A_FLAG.format(name=name, value=value))
    return bool(value)


def check_choice(name, value, choices):
    """Validate that ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            msg.NOT_ONE_OF.format(name=name, choices=", ".join(map(str, choices)), value=value)
        )
    return value


def check_image(name, image):
    """Validate an image named ``name`` (to filter or register): 2-D or channels-last 3-D,
    of integers or real floats (NumPy, dask, or anything :func:`numpy.asarray` takes); not
    computed."""
    image = check_real(name, image)
    if image.ndim not in (2, 3):
        raise ValueError(
            msg.IMAGE_NOT_2D_OR_3D.format(name=name, ndim=image.ndim, shape=image.shape)
        )
    return image


def check_axes(axes):
    """Validate ``axes`` (``--axes``): letters of "tczyx", each once, y and x among them, as
    lower case; None stays None."""
    if axes is None:
        return None
    if not isinstance(axes, str):
        raise TypeError(msg.BAD_AXES.format(value=axes))
    letters = axes.lower()
    if (
        set(letters) - set("tczyx")
        or len(set(letters)) != len(letters)
        or not {"y", "x"} <= set(letters)
    ):
        raise ValueError(msg.BAD_AXES.format(value=axes))
    return letters


#: The start of a URL (RFC 3986's scheme, then "://"): s3://, gs://, https://, file://...
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(text):
    """Whether ``text`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(text, str) and bool(_URL.match(text))


def shown_url(url):
    """``url`` as it may be said: no user or password (everything up to the last ``@``
    after the scheme: a password may hold ``@`` or ``/``), no query or fragment (a
    pre-signed URL's signature, a SAS token)."""
    scheme, rest = url.split("://", 1)
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


def check_local_path(name, path, *, output=False):
    """Refuse a URL where a local path is taken (``name``: INPUT, OUTDIR, ...; ``output``: one
    written to): written as a path, ``-o s3://bucket/x`` would make a local folder named
    ``s3:``.  The URL is said without any user and password in it.  None passes."""
    if path is None:
        return None
    text = os.fspath(path)
    if isinstance(text, str) and _URL.match(text):
        advice = msg.URL_WRITE if output else msg.URL_READ
        raise ValueError(msg.URL_PATH.format(name=name, url=shown_url(text), advice=advice))
    return path


def check_url(name, url):
    """Refuse a URL that holds a user, a password, a query or a fragment (a pre-signed URL's
    signature, a SAS token): what is in a URL is said in logs, errors and report.json.
    Anything that is not a URL passes; the URL is returned unchanged."""
    # whatever shown_url would leave out (an @ anywhere: a password may hold a /) is refused
    if isinstance(url, str) and _URL.match(url) and shown_url(url) != url:
        raise ValueError(msg.URL_WITH_SECRETS.format(name=name, url=shown_url(url)))
    return url


def check_input_path(name, path):
    """An input path: local, or a URL (:func:`check_url`); None passes."""
    if path is None:
        return None
    return check_url(name, os.fspath(path))


def check_storage_options(options):
    """Storage options (``--storage-option KEY=VALUE``, fsspec's names) as a tuple of
    ``(key, value)`` pairs: from such texts, pairs or a dict; a value given as text is read as
    JSON where it is JSON (``true``, ``3``, ``{"s3": {...}}``), else kept as text."""
    items = options.items() if isinstance(options, dict) else options or ()
    out = []
    for item in items:
        if isinstance(item, str):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(msg.BAD_STORAGE_OPTION.format(text=key))
            try:
                value = json.loads(value)
            except ValueError:
                pass
            item = (key.strip(), value)
        key, value = item
        if not isinstance(key, str) or not key:
            raise ValueError(msg.BAD_STORAGE_OPTION.format(text=str(key)))
        out.append((key, value))
    return tuple(out)


def check_real(name, image):
    """Validate that an image named ``name`` holds integers or real floats (NumPy, dask, or
    anything :func:`numpy.asarray` takes, which it then becomes); not computed."""
    if not hasattr(image, "dtype") or not hasattr(image, "ndim"):
        image = np.asarray(image)
    if np.dtype(image.dtype).kind not in "uif":
        raise TypeError(msg.IMAGE_NOT_REAL.format(name=name, dtype=image.dtype))
    return image


def check_options(upsample, taper, weight_cutoff):
    """Validate the registration options: ``upsample`` an integer >= 1, ``taper`` in [0, 1],
    ``weight_cutoff`` None or in (0, 0.5] cycles/pixel; return them normalised."""

    return (
        check_positive_int("upsample", upsample),
        check_fraction("taper", taper),
        None if weight_cutoff is None else check_cutoff(weight_cutoff, "weight_cutoff"),
    )


#: A shift field's window edge, px, and the correlation peak from which a window is
#: reliable: :func:`daskfft.shift_field`'s defaults, and ``daskfft align``'s.
DEFAULT_WINDOW, DEFAULT_MIN_CONFIDENCE = 256, 0.7


def check_window(window):
    """Validate a shift field's ``window``: an integer >= 16 pixels."""

    try:
        return check_int("window", window, 16)
    except (TypeError, ValueError) as exc:
        raise type(exc)(msg.BAD_WINDOW.format(value=window)) from None


def check_confidence(value):
    """Validate a shift field's ``min_confidence``: a number in (0, 1]."""
    message = msg.BAD_MIN_CONFIDENCE.format(value=value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(message)
    if not 0 < value <= 1:
        raise ValueError(message)
    return float(value)


def check_connect_timeout(seconds):
    """Validate ``connect_timeout``, how long to wait for a scheduler: a positive, finite
    number of seconds; return it unchanged."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, Real)
        or not (0 < seconds < math.inf)  # also refuses NaN
    ):
        raise ValueError(msg.BAD_CONNECT_TIMEOUT.format(value=seconds))
    return seconds
