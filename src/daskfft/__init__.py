"""daskfft: FFT low-pass filtering of images larger than memory, with Dask.

The public API is lazy: functions take and return dask arrays.  Reading,
writing and clusters live in :mod:`daskfft.run` and the ``daskfft``
command.  The layers, from the bottom: :mod:`daskfft.kernels` (NumPy), :mod:`daskfft.api`
(the lazy functions re-exported here), :mod:`daskfft.io`, :mod:`daskfft.cluster.kinds`,
:mod:`daskfft.run` and :mod:`daskfft.cli`.

Nothing imported here imports ``dask.array`` at import time (the functions that
make dask arrays import it themselves): the command's file-to-file run never
needs it, and it costs 0.4-0.6 s of start-up (SciPy's sparse matrices, and
xarray with pandas where installed), measured here.
"""

from daskfft._version import __version__
from daskfft.api.bands import band_bound, bandpass, flatfield, highpass
from daskfft.api.lowpass import lowpass
from daskfft.api.register import Registration, ShiftField, register, shift_field
from daskfft.api.spectra import spectra, spectra_atlas
from daskfft.kernels.halo import DEPTH_CAP, HaloWarning, expected_deviation, halo_depth
from daskfft.kernels.transfer import cutoff_from_sigma, transfer_function

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
