"""Numpydoc parameter descriptions that several public functions share, written once.

As scipy.ndimage's ``docfiller``: :data:`docdict` holds the snippets, and the
:func:`docfiller` decorator substitutes them for ``%(name)s`` placeholders in a
docstring, each placeholder on a line of its own, at the indentation of the
Parameters section.  ``%`` formatting, not ``str.format``: numpydoc type specs hold
braces (``{"gaussian", "butterworth", "ideal"}``).  A docstring that uses it must
write a literal ``%`` as ``%%``.  NumPy and the rest of daskfft are not imported: every
layer may use it.
"""

from __future__ import annotations

__all__ = ["docdict", "docfiller"]

_FILTER_OPTIONS = """\
filter : {"gaussian", "butterworth", "ideal"}, default "gaussian"
    Transfer function, as for :func:`daskfft.lowpass`.
order : int, default 4
    Butterworth order (>= 1); ignored by the other filters.
depth : "auto" or int, default "auto"
    Halo in pixels around every chunk; ``"auto"`` derives it from ``tol``.
boundary : {"reflect", "periodic", "nearest"} or float, default "reflect"
    How the image is extended past its edges, as for :func:`daskfft.lowpass`.
tol : float, default 1e-6
    L1 mass of the spatial kernel allowed outside the halo, for
    ``depth="auto"``.
nodata : float, optional
    No-data value: such pixels are left out of the filter and stay
    ``nodata``; for a DataArray, None takes the nodata it declares.
method : {"blockwise", "exact"}, default "blockwise"
    ``"exact"``: one FFT over the whole image, done in chunks, equal to a
    whole-image filter to rounding (2-D, one cutoff).
channel_axis : int or None, optional
    The channel axis; None: every axis spatial.  As for
    :func:`daskfft.lowpass`, which says what happens when it is not given."""

_BOUND_OPTIONS = """\
depth : int
    The halo in pixels, >= 0.
filter : {"gaussian", "butterworth", "ideal"}, default "gaussian"
    The transfer function.
order : int, default 4
    Butterworth order; ignored by the other filters."""

#: The snippets, by placeholder name: parameters' lines, each with its indented
#: description.
docdict = {
    # The image of the block-wise filters (highpass, bandpass, flatfield).
    "image": """\
image : numpy.ndarray, dask.array.Array or xarray.DataArray
    2 or 3 spatial axes and optionally channels (``channel_axis``), or a
    DataArray with named dims, as for :func:`daskfft.lowpass`.""",
    # Their keywords after the cutoffs, which mean what they mean for lowpass.
    "filter_options": _FILTER_OPTIONS,
    # A band-pass's two edges (bandpass, band_bound).
    "low_high": """\
low, high : float
    The band's edges in cycles/pixel, ``0 < low < high <= 0.5``.""",
    # The arguments of a halo's bound after the cutoff (expected_deviation, band_bound).
    "bound_options": _BOUND_OPTIONS,
    # The Raises section of a function of an image whose axes must be told (lowpass, spectra).
    "raises_arguments": """\
TypeError, ValueError
    For bad arguments, naming the argument and the value received; for
    axes that are not told (see ``channel_axis``), saying what to pass.""",
}


def docfiller(func):
    """Decorator: ``func`` with the :data:`docdict` snippets substituted into its docstring
    (see the module's docstring)."""
    func.__doc__ = _filled(func.__doc__, docdict)
    return func


def _filled(docstring, snippets):
    """``docstring % snippets``, every snippet's lines after its first indented as the
    docstring's own lines are (after its first, as Python keeps them)."""
    lines = docstring.expandtabs().splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    indent = " " * min(indents, default=0)
    return docstring % {
        name: ("\n" + indent).join(text.splitlines()) for name, text in snippets.items()
    }
