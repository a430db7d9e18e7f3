"""The pruned 3-D FFT pair of a separable (Gaussian) filter: what it leaves out, and that
it gives the whole transform's result within the tail it states, on NumPy's float64 FFT."""

import numpy as np
import pytest

from daskfft.kernels.bands import filter_spec_block
from daskfft.kernels.block import fast_pads, filter_block, filter_volume, pad_block, to_dtype
from daskfft.kernels.pruned import _band, pruned_filter, pruned_tail
from daskfft.kernels.spec import FilterSpec
from daskfft.kernels.transfer import cutoff_from_sigma, transfer_factors

SHAPE = (40, 54, 64)
KEPT = (slice(6, 30), slice(9, 45), slice(12, 52))


def _reference(x, factors):
    """The whole transform in float64: NumPy's rfftn, the outer product of the factors."""
    fz, fy, fx = (np.asarray(f, np.float64) for f in factors)
    h = fz[:, None, None] * fy[None, :, None] * fx[None, None, :]
    return np.fft.irfftn(np.fft.rfftn(x, axes=(0, 1, 2)) * h, s=x.shape, axes=(0, 1, 2))


def _volume(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(SHAPE) * 200 + 20).astype(dtype)


@pytest.mark.parametrize("sigma", [(1.0, 1.5, 1.5), (2.0, 3.0, 4.0), (3.0, 6.0, 6.0)])
def test_pruned_pair_is_the_whole_transform_within_its_stated_tail(sigma):
    x = _volume()
    factors = transfer_factors(SHAPE, cutoff_from_sigma(sigma))
    got = pruned_filter(x, factors, KEPT)
    want = _reference(x, factors)[KEPT]
    tail = pruned_tail(np.float64)
    bound = 3 * tail * (1 + tail) ** 2 * np.ptp(x) / 2
    assert np.abs(got - want).max() <= bound + 1e-12 * np.abs(want).max()


def test_float32_pruned_pair_is_within_float32_rounding_of_float64():
    x = _volume(np.float32)
    cutoff = cutoff_from_sigma((2.0, 4.0, 4.0))
    got = pruned_filter(x, transfer_factors(SHAPE, cutoff, np.float32), KEPT)
    want = _reference(x.astype(np.float64), transfer_factors(SHAPE, cutoff))[KEPT]
    assert got.dtype == np.float32
    assert np.abs(got - want).max() <= 4e-7 * np.abs(want).max()


def test_a_band_drops_the_smallest_values_up_to_the_tail_and_no_more():
    factor = transfer_factors((64, 64, 64), cutoff_from_sigma(6.0))[0]
    tail = pruned_tail(np.float32)
    kept = _band(factor, tail)
    dropped = np.setdiff1d(np.arange(64), kept)
    assert 0 < dropped.size < 64 and 0 in kept  # a wide Gaussian leaves much out; never f = 0
    assert factor[dropped].sum() <= tail < factor[dropped].sum() + factor[kept].min()
    assert factor[kept].min() >= factor[dropped].max()
    half = transfer_factors((64, 64, 64), cutoff_from_sigma(6.0))[2]
    prefix = _band(half, tail, 2.0)  # the real FFT's half axis: each value counts twice
    assert np.array_equal(prefix, np.arange(prefix.size))
    assert 2 * half[prefix.size :].sum() <= tail


def test_crop_returns_the_part_of_the_whole_result_with_layers_and_nodata():
    x = _volume(np.float32)[..., None].repeat(2, axis=-1)
    x[..., 1] *= 0.5
    x[10:14, 20:30, 30:40, :] = -1.0  # holes
    opts = dict(cutoff=cutoff_from_sigma((2.0, 3.0, 3.0)), filter="gaussian", order=4)
    opts.update(work_dtype=np.float32, nodata=-1.0, spatial=3)
    whole = filter_block(x, **opts)
    part = filter_block(x, crop=KEPT, **opts)
    assert part.shape == whole[KEPT].shape
    assert np.abs(part - whole[KEPT]).max() <= 1e-5 * np.abs(whole).max()
    assert np.all(part[x[KEPT] == -1.0] == -1.0)


@pytest.mark.parametrize("band", ["high", "band"])
def test_a_volumes_high_and_band_pass_come_from_pruned_low_passes(band):
    x = _volume()
    cutoff = cutoff_from_sigma((1.5, 2.0, 2.0))
    low_cutoff = cutoff_from_sigma((3.0, 4.0, 4.0)) if band == "band" else None
    spec = FilterSpec(cutoff=cutoff, band=band, low_cutoff=low_cutoff)
    got = filter_spec_block(x, spec, work_dtype=np.float64, spatial=3, crop=KEPT)
    low = _reference(x, transfer_factors(SHAPE, cutoff))
    if band == "high":
        want = x - low
    else:
        want = low - _reference(x, transfer_factors(SHAPE, low_cutoff))
    assert np.abs(got - want[KEPT]).max() <= 1e-12 * np.ptp(x)


@pytest.mark.parametrize("boundary", ["reflect", "nearest", "periodic", 7.0])
@pytest.mark.parametrize("layers", [(), (2,)])
def test_a_window_padded_slab_by_slab_is_the_padded_copys_result_bit_for_bit(boundary, layers):
    """filter_volume pads each slab as it converts it: the same numbers as filter_block of
    pad_block's copy, for every boundary, pads wider than the window, and channels."""
    rng = np.random.default_rng(3)
    window = rng.integers(0, 4000, (6, 30, 25) + layers).astype(np.uint16)
    pads = fast_pads(window.shape, [(9, 4), (5, 0), (0, 7)])  # z: more than its 6 planes
    shape = tuple(n + a + b for n, (a, b) in zip(window.shape, pads))
    crop = (slice(9, 15), slice(5, 35), slice(0, 25))
    cutoff = cutoff_from_sigma((1.0, 2.0, 1.5))
    got = filter_volume(
        window, pads=pads, boundary=boundary, cutoff=cutoff, work_dtype=np.float32, crop=crop
    )
    block = pad_block(window, pads, boundary)
    assert block.shape[:3] == shape
    want = filter_block(
        block, cutoff=cutoff, filter="gaussian", order=4, work_dtype=np.float32, spatial=3
    )[crop]
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("out_dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_a_volume_cast_slab_by_slab_is_the_float_results_cast(out_dtype):
    rng = np.random.default_rng(4)
    window = (rng.random((20, 40, 36)) * 4000 - 1800).astype(np.float32)  # past uint8 both ways
    pads = fast_pads(window.shape, [(3, 3), (4, 4), (4, 4)])
    crop = (slice(3, 23), slice(4, 44), slice(4, 40))
    opts = dict(pads=pads, boundary="reflect", cutoff=cutoff_from_sigma(0.7), crop=crop)
    floats = filter_volume(window, work_dtype=np.float32, **opts)
    cast = filter_volume(window, work_dtype=np.float32, out_dtype=out_dtype, **opts)
    assert cast.dtype == out_dtype
    assert np.array_equal(cast, to_dtype(floats, out_dtype))
    if out_dtype == np.uint8:
        assert (cast == 0).any() and (cast == 255).any()  # clipped, not wrapped
