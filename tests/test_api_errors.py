"""Every public function refuses every bad argument by name (the way dask-image keeps its
error tables): a TypeError for a wrong type, a ValueError for a wrong value, with a message
naming the argument, what is allowed and what was given."""

import inspect
import re

import numpy as np
import pytest

import daskfft
from daskfft import spectra

IMAGE = np.zeros((8, 8))
PAIR = np.random.default_rng(0).random((32, 32))

# Good arguments for each public function; each row below changes one of them.
GOOD = {
    "lowpass": dict(image=IMAGE, cutoff=0.1),
    "highpass": dict(image=IMAGE, cutoff=0.1),
    "flatfield": dict(image=IMAGE, cutoff=0.1),
    "bandpass": dict(image=IMAGE, low=0.02, high=0.2),
    "transfer_function": dict(shape=(8, 8), cutoff=0.1),
    "halo_depth": dict(cutoff=0.1),
    "expected_deviation": dict(cutoff=0.1, depth=10),
    "band_bound": dict(low=0.02, high=0.2, depth=10),
    "cutoff_from_sigma": dict(sigma=2.0),
    "spectra": dict(image=IMAGE),
    "spectra_atlas": dict(spec=None),  # made in the test: spectra(IMAGE)
    "register": dict(reference=PAIR, moving=PAIR),
    "shift_field": dict(reference=PAIR, moving=PAIR),
}
FILTERING = ("lowpass", "highpass", "flatfield", "bandpass")
CUTOFF_ONLY = (
    "lowpass",
    "highpass",
    "flatfield",
    "transfer_function",
    "halo_depth",
    "expected_deviation",
)
WITH_FILTER = FILTERING + ("transfer_function", "halo_depth", "expected_deviation", "band_bound")
CUTOFF = r"(a number )?in \(0, 0.5\] cycles/pixel"
CHOICE_OF_FILTER = "one of gaussian, butterworth, ideal"
IMAGE_DTYPE = "hold integers or real floats"
IMAGE_NDIM = r"be 2-D \(rows, cols\) or 3-D"
SPATIAL = r"have 2 or 3 spatial axes"
CHANNEL_AXIS = r"be None or an axis of a 2-D array"

# (functions, argument, value given, error, what is allowed (regex), what was given (text))
TABLE = [
    *[(f, "image", "abc", TypeError, IMAGE_DTYPE, "dtype <U3") for f in FILTERING + ("spectra",)],
    *[
        (f, "image", np.zeros(5), ValueError, SPATIAL, "1 in shape (5,)")
        for f in FILTERING + ("spectra",)
    ],
    *[(f, "channel_axis", "x", TypeError, CHANNEL_AXIS, "'x'") for f in FILTERING + ("spectra",)],
    *[(f, "channel_axis", 2, ValueError, CHANNEL_AXIS, "2") for f in FILTERING + ("spectra",)],
    *[
        (f, "image", np.zeros((4, 4), complex), TypeError, IMAGE_DTYPE, "dtype complex128")
        for f in FILTERING + ("spectra",)
    ],
    *[(f, "cutoff", 7, ValueError, CUTOFF, "7.0") for f in CUTOFF_ONLY],
    *[(f, "cutoff", 0, ValueError, CUTOFF, "0.0") for f in CUTOFF_ONLY],
    *[(f, "cutoff", "0.1", TypeError, CUTOFF, "'0.1'") for f in CUTOFF_ONLY],
    *[(f, "cutoff", None, TypeError, CUTOFF, "None") for f in CUTOFF_ONLY],
    *[(f, "low", 0, ValueError, CUTOFF, "0.0") for f in ("bandpass", "band_bound")],
    *[(f, "low", "a", TypeError, CUTOFF, "'a'") for f in ("bandpass", "band_bound")],
    *[(f, "high", 0.7, ValueError, CUTOFF, "0.7") for f in ("bandpass", "band_bound")],
    *[
        (f, "low", 0.3, ValueError, "be below `high`", "low=0.3, high=0.2")
        for f in ("bandpass", "band_bound")
    ],
    *[(f, "filter", "gausian", ValueError, CHOICE_OF_FILTER, "'gausian'") for f in WITH_FILTER],
    *[(f, "filter", None, ValueError, CHOICE_OF_FILTER, "None") for f in WITH_FILTER],
    *[(f, "order", 0, ValueError, "an integer >= 1", "0") for f in WITH_FILTER],
    *[(f, "order", 2.5, ValueError, "an integer >= 1", "2.5") for f in WITH_FILTER],
    *[(f, "order", "4", TypeError, "an integer >= 1", "'4'") for f in WITH_FILTER],
    *[(f, "depth", -1, ValueError, 'be "auto" or an integer >= 0', "-1") for f in FILTERING],
    *[
        (f, "depth", "wide", ValueError, 'be "auto" or an integer >= 0', "'wide'")
        for f in FILTERING
    ],
    *[(f, "depth", None, TypeError, 'be "auto" or an integer >= 0', "None") for f in FILTERING],
    *[
        (f, "depth", -1, ValueError, "an integer >= 0", "-1")
        for f in ("expected_deviation", "band_bound")
    ],
    *[
        (f, "depth", "auto", TypeError, "an integer >= 0", "'auto'")
        for f in ("expected_deviation", "band_bound")
    ],
    *[
        (
            f,
            "boundary",
            "none",
            ValueError,
            "one of reflect, periodic, nearest or a finite number",
            "'none'",
        )
        for f in FILTERING
    ],
    *[
        (
            f,
            "boundary",
            None,
            TypeError,
            "one of reflect, periodic, nearest or a finite number",
            "None",
        )
        for f in FILTERING
    ],
    *[
        (
            f,
            "boundary",
            float("inf"),
            ValueError,
            "one of reflect, periodic, nearest or a finite number",
            "inf",
        )
        for f in FILTERING
    ],
    *[(f, "tol", 0, ValueError, r"in \[1e-10, 0.5\)", "0") for f in FILTERING + ("halo_depth",)],
    *[
        (f, "tol", "1e-6", TypeError, r"in \[1e-10, 0.5\)", "'1e-6'")
        for f in FILTERING + ("halo_depth",)
    ],
    *[(f, "nodata", "x", TypeError, "a number or None", "'x'") for f in FILTERING],
    *[(f, "method", "fast", ValueError, "one of blockwise, exact", "'fast'") for f in FILTERING],
    ("flatfield", "mode", "multiply", ValueError, "one of divide, subtract", "'multiply'"),
    (
        "transfer_function",
        "shape",
        8,
        TypeError,
        r"two or three integers >= 1 \(\(rows, cols\)",
        "8",
    ),
    ("transfer_function", "shape", [8], ValueError, "two or three integers >= 1", "[8]"),
    ("transfer_function", "shape", (8, 0), ValueError, "two or three integers >= 1", "(8, 0)"),
    ("transfer_function", "shape", (8, 2.5), ValueError, "two or three integers >= 1", "(8, 2.5)"),
    ("transfer_function", "dtype", np.int32, ValueError, "float32 or float64", "<class"),
    ("transfer_function", "dtype", "nonsense", TypeError, "float32 or float64", "'nonsense'"),
    ("transfer_function", "dtype", None, ValueError, "float32 or float64", "None"),
    ("cutoff_from_sigma", "sigma", 0, ValueError, "a positive number of pixels", "0"),
    ("cutoff_from_sigma", "spacing", (0.0, 1.0), ValueError, "a positive number", "0.0"),
    ("cutoff_from_sigma", "spacing", ("a", 1.0), TypeError, "a positive number", "'a'"),
    ("cutoff_from_sigma", "sigma", "3", TypeError, "a positive number of pixels", "'3'"),
    ("cutoff_from_sigma", "sigma", 0.2, ValueError, r">= 1/pi = 0.318 pixels", "0.2"),
    ("spectra", "window", "kaiser", ValueError, "one of hann, none", "'kaiser'"),
    (
        "spectra_atlas",
        "spec",
        IMAGE,
        TypeError,
        "the 2-D or 3-D dask array returned by",
        "ndarray of 2 dimensions",
    ),
    ("spectra_atlas", "cell", 0, ValueError, 'be "auto" or an integer >= 1', "0"),
    ("spectra_atlas", "cell", 2.5, ValueError, 'be "auto" or an integer >= 1', "2.5"),
    ("spectra_atlas", "cell", "big", ValueError, 'be "auto" or an integer >= 1', "'big'"),
    ("spectra_atlas", "max_size", 0, ValueError, "an integer >= 1", "0"),
    ("spectra_atlas", "max_size", "big", TypeError, "an integer >= 1", "'big'"),
    *[
        (f, name, "abc", TypeError, IMAGE_DTYPE, "dtype <U3")
        for f in ("register", "shift_field")
        for name in ("reference", "moving")
    ],
    *[
        (f, name, np.zeros(5), ValueError, IMAGE_NDIM, "1-D")
        for f in ("register", "shift_field")
        for name in ("reference", "moving")
    ],
    *[(f, "upsample", 0, ValueError, "an integer >= 1", "0") for f in ("register", "shift_field")],
    *[
        (f, "upsample", "10", TypeError, "an integer >= 1", "'10'")
        for f in ("register", "shift_field")
    ],
    *[(f, "taper", 1.5, ValueError, r"in \[0, 1\]", "1.5") for f in ("register", "shift_field")],
    *[(f, "taper", "0.2", TypeError, r"in \[0, 1\]", "'0.2'") for f in ("register", "shift_field")],
    *[(f, "weight_cutoff", 0.7, ValueError, CUTOFF, "0.7") for f in ("register", "shift_field")],
    *[(f, "weight_cutoff", "x", TypeError, CUTOFF, "'x'") for f in ("register", "shift_field")],
    ("register", "rotation", "yes", TypeError, "be True or False", "'yes'"),
    ("register", "scale", 1.05, TypeError, "be True or False", "1.05"),
    ("shift_field", "window", 8, ValueError, "an integer >= 16 pixels", "8"),
    ("shift_field", "window", "big", TypeError, "an integer >= 16 pixels", "'big'"),
    ("shift_field", "min_confidence", 0, ValueError, r"in \(0, 1\]", "0"),
    ("shift_field", "min_confidence", "high", TypeError, r"in \(0, 1\]", "'high'"),
    *[
        (f, "channel_axis", "x", TypeError, CHANNEL_AXIS, "'x'")
        for f in ("register", "shift_field")
    ],
    *[(f, "channel_axis", 2, ValueError, CHANNEL_AXIS, "2") for f in ("register", "shift_field")],
]


def _public_functions():
    return sorted(name for name in daskfft.__all__ if inspect.isfunction(getattr(daskfft, name)))


def _call(function, argument, value):
    fn = getattr(daskfft, function)
    args = dict(GOOD[function])
    if function == "spectra_atlas":
        args["spec"] = spectra(IMAGE)
    if argument is not None:
        args[argument] = value
    params = inspect.signature(fn).parameters
    positional = [
        args.pop(n)
        for n, p in params.items()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty
    ]
    return fn(*positional, **args)


@pytest.mark.parametrize(
    ("function", "argument", "value", "error", "allowed", "given"),
    TABLE,
    ids=[f"{f}-{a}-{v!r}"[:60] for f, a, v, *_ in TABLE],
)
def test_bad_argument_is_refused_by_name(function, argument, value, error, allowed, given):
    match = rf"`{argument}` must (be )?{allowed}.*got {re.escape(given)}"
    with pytest.raises(error, match=match):
        _call(function, argument, value)


def test_the_table_covers_every_argument_of_every_public_function():
    missing = [
        (name, arg)
        for name in _public_functions()
        for arg in inspect.signature(getattr(daskfft, name)).parameters
        if not any(row[0] == name and row[1] == arg for row in TABLE)
    ]
    assert not missing, f"public arguments with no bad value in the table: {missing}"


@pytest.mark.parametrize("function", sorted(GOOD))
def test_the_good_arguments_are_accepted(function):
    assert function in _public_functions()
    _call(function, None, None)  # so each row's error comes from the one argument it changes


def test_transfer_function_takes_any_pair_of_integers_as_shape():
    h = daskfft.transfer_function([6, 10], 0.1, "ideal", dtype="float32")
    assert h.shape == (6, 6) and h.dtype == np.float32
    np.testing.assert_array_equal(
        h, daskfft.transfer_function((np.int64(6), 10), 0.1, "ideal", dtype=np.float32)
    )
