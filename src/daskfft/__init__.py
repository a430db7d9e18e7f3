"""daskfft: FFT low-pass filtering of images larger than memory, with Dask.

The public API is lazy: functions take and return dask arrays.  Reading,
writing and clusters live in :mod:`daskfft.pipeline` and the ``daskfft``
command.

Nothing imported here imports ``dask.array`` at import time (the functions that
make dask arrays import it themselves): the command's file-to-file run never
needs it, and it costs 0.4-0.6 s of start-up (SciPy's sparse matrices, and
xarray with pandas where installed), measured here.
"""

from .bands import band_bound, bandpass, flatfield, highpass
from .blockwise import lowpass
from .register import Registration, ShiftField, register, shift_field
from .filters import (
    DEPTH_CAP,
    HaloWarning,
    cutoff_from_sigma,
    expected_deviation,
    halo_depth,
    transfer_function,
)
from .spectra import spectra, spectra_atlas

__version__ = "0.1.0"

__all__ = [
    "DEPTH_CAP",
    "HaloWarning",
    "Registration",
    "ShiftField",
    "band_bound",
    "bandpass",
    "cutoff_from_sigma",
    "expected_deviation",
    "flatfield",
    "halo_depth",
    "highpass",
    "lowpass",
    "register",
    "shift_field",
    "spectra",
    "spectra_atlas",
    "transfer_function",
    "__version__",
]
