"""Filtered floats cast to an output's dtype: rounded half to even, clipped to an integer
dtype's range, against NumPy's whole-array steps as the reference."""

import numpy as np
import pytest

from daskfft.kernels.cast import cast_into, to_dtype

INTEGERS = [np.uint8, np.int8, np.uint16, np.int16, np.int32]


def _floats(dtype, shape=(70, 33, 3)):
    """Values past every integer range both ways, ties (k + 0.5) and the range's edges."""
    rng = np.random.default_rng(7)
    x = (rng.normal(0, 40000, shape)).astype(dtype)
    ties = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 254.5, 255.5, 127.5, -128.5, 65535.5])
    x.flat[: ties.size] = ties
    edges = np.array([0, 255, 256, -1, -128, -129, 127, 128, 65535, 65536, -32769, 32767])
    x.flat[ties.size : ties.size + edges.size] = edges
    return x


def _reference(x, dtype):
    lim = np.iinfo(dtype)
    return np.clip(np.rint(x.astype(np.float64)), lim.min, lim.max).astype(dtype)


@pytest.mark.parametrize("src", [np.float32, np.float64])
@pytest.mark.parametrize("dtype", INTEGERS)
def test_to_dtype_rounds_half_to_even_and_clips(src, dtype):
    x = _floats(src)
    got = to_dtype(x, dtype)
    assert got.dtype == dtype
    assert np.array_equal(got, _reference(x, dtype))
    assert np.array_equal(x, _floats(src))  # its input untouched


@pytest.mark.parametrize("src", [np.float32, np.float64])
@pytest.mark.parametrize("dtype", INTEGERS + [np.float32, np.float64])
def test_cast_into_writes_what_to_dtype_gives_of_the_kept_columns(src, dtype):
    scratch = _floats(src, (70, 41, 3))
    want = to_dtype(scratch[:, 4:37].copy(), dtype)
    out = np.zeros((90, 33, 3), dtype)
    cast_into(out[10:80], scratch, (slice(4, 37),))  # a slab's rows, the chunk's columns
    assert np.array_equal(out[10:80], want)
    assert not out[:10].any() and not out[80:].any()  # nothing written past its place
    if np.dtype(dtype).kind in "ui":
        assert np.array_equal(want, _reference(_floats(src, (70, 41, 3))[:, 4:37], dtype))


def test_cast_into_a_long_slab_casts_every_part_of_it():
    scratch = _floats(np.float32, (3000, 200))  # 600k values: parts of 1310 rows, then 380
    want = _reference(scratch[:, 7:190], np.uint8)
    out = np.zeros((3000, 183), np.uint8)
    cast_into(out, scratch, (slice(7, 190),))
    assert np.array_equal(out, want)


def test_to_dtype_of_integers_clips_them():
    x = np.array([-5, 0, 200, 300, 70000], np.int64)
    assert to_dtype(x, np.uint8).tolist() == [0, 0, 200, 255, 255]


@pytest.mark.parametrize(
    ("src", "dtype"),
    [
        (np.float32, np.int32),
        (np.float32, np.uint32),
        (np.float32, np.int64),
        (np.float64, np.int64),
        (np.float64, np.uint64),
    ],
)
def test_floats_past_a_wide_integer_range_clip_to_its_ends_not_wrap(src, dtype):
    lim = np.iinfo(dtype)
    top = float(np.finfo(src).max)
    x = np.array([[-top, -1e30, 1e30, top, 3.0, -2.0]], src)
    for got in (to_dtype(x, dtype), cast_into(np.empty(x.shape, dtype), x.copy())):
        assert got[0, 2] >= lim.max - 2**40 and got[0, 3] == got[0, 2]  # the top, near 2**k
        assert got[0, 0] == got[0, 1] <= lim.min + 2**40  # the bottom
        assert got[0, 4] == 3 and got[0, 5] == max(lim.min, -2)


def test_a_single_value_and_integers_clip_to_the_range_exactly():
    assert to_dtype(np.float64(1e30), np.int64) == np.iinfo(np.int64).max - 1023
    assert to_dtype(np.array(3e9, np.float32), np.int32) == 2**31 - 128
    assert to_dtype(np.array(-7.5), np.uint8).shape == ()
    big = np.array([2**64 - 1, 5], np.uint64)
    assert to_dtype(big, np.int64).tolist() == [2**63 - 1, 5]
    top = np.array([2**63 - 1, -3], np.int64)
    assert to_dtype(top, np.uint64).tolist() == [2**63 - 1, 0]
    assert to_dtype(np.array([300, -300], np.int16), np.int8).tolist() == [127, -128]
