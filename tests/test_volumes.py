"""Volumes, time series and an explicit channel axis in the lazy API (issue #15), against
scipy.ndimage on the whole volume: the sampled Gaussian, untruncated, is the kernel both
apply."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from reference import make_image
from scipy import ndimage

from daskfft import bandpass, cutoff_from_sigma, flatfield, highpass, lowpass
from daskfft.kernels.block import ROUNDING
from daskfft.kernels.spec import FilterSpec

TOL = 1e-6
SCIPY_MODE = {"reflect": "reflect", "periodic": "wrap", "nearest": "nearest"}


def gaussian(volume, sigma, boundary="reflect", axes=None):
    """scipy.ndimage's Gaussian of the whole ``volume``, untruncated, in float64."""
    x = np.asarray(volume, dtype=np.float64)
    if isinstance(boundary, str):
        mode, cval = SCIPY_MODE[boundary], 0.0
    else:
        mode, cval = "constant", boundary
    return ndimage.gaussian_filter(x, sigma, mode=mode, cval=cval, truncate=40.0, axes=axes)


def cutoffs(sigma):
    return (
        tuple(cutoff_from_sigma(s) for s in sigma) if np.ndim(sigma) else cutoff_from_sigma(sigma)
    )


def test_a_point_in_plane_8_of_a_16_x_64_x_64_volume_spreads_in_z_y_and_x():
    """The issue's case: it was taken as a 16 x 64 image with 64 channels, filtered over
    (z, y) and never along x."""
    volume = np.zeros((16, 64, 64))
    volume[8, 32, 32] = 1.0
    out = lowpass(volume, cutoff_from_sigma(2.0)).compute()
    ref = gaussian(volume, 2.0)
    assert np.abs(out - ref).max() <= 10 * TOL
    assert out[8, 32, 36] > 0.01 * out[8, 32, 32]  # along x
    assert out[4, 32, 32] > 0.01 * out[8, 32, 32]  # along z
    assert out.sum() == pytest.approx(1.0, abs=2 * TOL)  # reflection keeps the mass in


CHUNKINGS = [
    ((40, 70, 90), (13, 25, 31)),  # uneven
    ((24, 50, 60), (5, 50, 7)),  # chunks narrower than the halo
    ((30, 40, 45), (30, 40, 45)),  # one chunk
    ((6, 80, 70), (2, 33, 40)),  # an axis shorter than its halo
]


@pytest.mark.parametrize(("shape", "chunks"), CHUNKINGS)
@pytest.mark.parametrize("sigma", [2.5, (1.0, 3.0, 4.5), (4.0, 1.5, 2.0)])
@pytest.mark.parametrize("boundary", ["reflect", "nearest", "periodic", 3.5])
def test_volumes_match_scipys_whole_volume_gaussian_for_any_chunking(
    shape, chunks, sigma, boundary
):
    volume = make_image(shape, np.float64, seed=sum(shape))
    out = lowpass(da.from_array(volume, chunks=chunks), cutoffs(sigma), boundary=boundary, tol=TOL)
    assert out.chunks == da.from_array(volume, chunks=chunks).chunks
    error = np.abs(out.compute() - gaussian(volume, sigma, boundary)).max()
    scale = np.abs(volume).max()
    halo = FilterSpec(cutoffs(sigma), tol=TOL).halo(3)
    assert halo.deviation <= 2 * TOL
    assert error <= (halo.deviation + ROUNDING["float64"]) * scale
    assert error <= 10 * TOL * scale


def _mass_beyond(sigma, d):
    """The sampled 1-D Gaussian's mass beyond ``d`` px of its centre, both sides."""
    n = np.arange(-int(40 * sigma) - 8, int(40 * sigma) + 9)
    g = np.exp(-(n**2) / (2 * sigma**2))
    return g[np.abs(n) > d].sum() / g.sum()


def test_the_halo_is_chosen_per_axis_from_each_axis_sigma():
    """Each axis takes the smallest halo that leaves at most its share of tol out,
    1 - (1 - tol)**(1/3) of its 1-D mass, so the box leaves at most tol out."""
    sigma = (1.0, 4.0, 8.0)
    halo = FilterSpec(cutoffs(sigma)).halo(3)
    assert halo.depths[0] < halo.depths[1] < halo.depths[2] == halo.depth
    share = 1 - (1 - 1e-6) ** (1 / 3)
    for s, d in zip(sigma, halo.depths):
        assert _mass_beyond(s, d) <= share * (1 + 1e-9) < _mass_beyond(s, d - 1)
    outside = 1 - np.prod([1 - _mass_beyond(s, d) for s, d in zip(sigma, halo.depths)])
    assert halo.deviation == pytest.approx(2 * outside, rel=1e-6)
    assert halo.deviation <= 2e-6


def test_a_narrow_given_halo_stays_within_its_stated_bound():
    """depth=4 for sigma 3: far from the whole-volume result, and within the bound."""
    volume = make_image((24, 24, 24), np.float64, seed=9)
    out = lowpass(da.from_array(volume, chunks=12), cutoff_from_sigma(3.0), depth=4).compute()
    error = np.abs(out - gaussian(volume, 3.0)).max() / np.abs(volume).max()
    bound = FilterSpec(cutoff_from_sigma(3.0), depth=4).halo(3).deviation
    assert 1e-3 < error <= bound


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_small_integers_and_float32_volumes_are_filtered_in_float32(dtype):
    volume = make_image((20, 48, 40), dtype, seed=3)
    out = lowpass(da.from_array(volume, chunks=(10, 20, 20)), cutoffs((1.0, 2.0, 2.0)))
    assert out.dtype == np.float32
    error = np.abs(out.compute() - gaussian(volume, (1.0, 2.0, 2.0))).max()
    assert error <= (2e-6 + ROUNDING["float32"]) * float(volume.max())


def test_highpass_bandpass_and_flatfield_of_a_volume_match_scipy():
    volume = make_image((20, 40, 36), np.float64, seed=4) + 50
    x = da.from_array(volume, chunks=(7, 15, 20))
    scale = np.abs(volume).max()
    hp = highpass(x, cutoff_from_sigma(2.0)).compute()
    assert np.abs(hp - (volume - gaussian(volume, 2.0))).max() <= 10 * TOL * scale
    bp = bandpass(x, cutoff_from_sigma(4.0), cutoff_from_sigma(1.5)).compute()
    dog = gaussian(volume, 1.5) - gaussian(volume, 4.0)
    assert np.abs(bp - dog).max() <= 2 * 10 * TOL * scale
    flat = flatfield(x, cutoff_from_sigma(5.0)).compute()
    ref = volume / gaussian(volume, 5.0) * volume.mean()
    assert np.abs(flat - ref).max() <= 10 * TOL * scale


def test_nodata_in_a_volume_is_left_out_by_normalised_convolution():
    volume = make_image((16, 40, 40), np.float64, seed=5)
    holes = np.random.default_rng(2).random(volume.shape) < 0.1
    holes[4:9, 10:20, 5:30] = True
    volume[holes] = np.nan
    out = lowpass(da.from_array(volume, chunks=(8, 17, 23)), cutoff_from_sigma(2.0), nodata=np.nan)
    got = out.compute()
    num = gaussian(np.where(holes, 0, volume), 2.0)
    den = gaussian((~holes).astype(float), 2.0)
    scale = np.nanmax(np.abs(volume))
    assert np.abs(got[~holes] - (num / den)[~holes]).max() <= 10 * TOL * scale
    assert np.isnan(got[holes]).all()


def test_each_channel_of_a_c_z_y_x_volume_is_filtered_alone():
    volume = make_image((3, 12, 30, 26), np.float32, seed=6)
    out = lowpass(
        da.from_array(volume, chunks=(1, 6, 15, 13)), cutoff_from_sigma(1.5), channel_axis=0
    )
    assert out.shape == volume.shape and out.chunks[0] == (3,)  # channels in one chunk
    got = out.compute()
    for c in range(3):
        ref = gaussian(volume[c], 1.5)
        assert np.abs(got[c] - ref).max() <= (2e-6 + ROUNDING["float32"]) * volume.max()


def test_rgb_filtered_with_channel_axis_minus_1_is_each_plane_alone():
    image = make_image((50, 60, 3), np.float64, seed=7)
    out = lowpass(image, cutoff_from_sigma(2.0), channel_axis=-1).compute()
    ref = gaussian(image, 2.0, axes=(0, 1))
    assert np.abs(out - ref).max() <= 10 * TOL * np.abs(image).max()
    first = lowpass(np.moveaxis(image, -1, 0), cutoff_from_sigma(2.0), channel_axis=0)
    np.testing.assert_array_equal(np.moveaxis(first.compute(), 0, -1), out)


def test_a_time_series_is_never_filtered_across_time():
    xr = pytest.importorskip("xarray")
    frames = np.zeros((4, 10, 32, 32))
    frames[1, 5, 16, 16] = 1.0
    series = xr.DataArray(
        da.from_array(frames, chunks=(1, 10, 16, 16)),
        dims=("t", "z", "y", "x"),
        attrs={"units": "counts"},
    )
    out = lowpass(series, cutoff_from_sigma(1.5))
    assert isinstance(out, xr.DataArray) and out.dims == series.dims and out.attrs == series.attrs
    got = out.values
    assert (got[[0, 2, 3]] == 0).all()  # nothing leaks into the other frames
    assert np.abs(got[1] - gaussian(frames[1], 1.5)).max() <= 10 * TOL


def test_a_dataarray_names_its_axes_c_z_y_x_and_band_y_x():
    xr = pytest.importorskip("xarray")
    volume = make_image((2, 10, 24, 20), np.float64, seed=8)
    array = xr.DataArray(volume, dims=("c", "z", "y", "x"))
    got = lowpass(array, cutoff_from_sigma(1.5)).values
    for c in range(2):
        assert np.abs(got[c] - gaussian(volume[c], 1.5)).max() <= 10 * TOL * volume.max()
    rgb = xr.DataArray(volume[:, 0], dims=("band", "y", "x"))  # a 2-band image, as rioxarray
    got = lowpass(rgb, cutoff_from_sigma(1.5)).values
    ref = gaussian(volume[:, 0], 1.5, axes=(1, 2))
    assert np.abs(got - ref).max() <= 10 * TOL * volume.max()


@pytest.mark.parametrize(
    ("call", "error", "said"),
    [
        (lambda: lowpass(np.zeros((64, 64, 3)), 0.1), ValueError,
         r"pass channel_axis=-1 for channels .* or channel_axis=None for a volume"),
        (lambda: lowpass(np.zeros((4, 8, 16, 16)), 0.1), ValueError,
         r"four axes: pass channel_axis="),
        (lambda: lowpass(np.zeros((8, 8)), 0.1, channel_axis=0), ValueError,
         r"2 or 3 spatial axes .*got 1 in shape \(8, 8\)"),
        (lambda: lowpass(np.zeros((8, 8, 8)), (0.1, 0.2)), ValueError,
         r"`cutoff` gives 2 values but the image has 3 spatial axes"),
        (lambda: lowpass(np.zeros((8, 8, 8)), 0.1, filter="butterworth"), ValueError,
         r"the butterworth filter on 3 spatial axes .* use filter='gaussian'"),
        (lambda: lowpass(np.zeros((8, 8)), (0.1, 0.2), filter="ideal"), ValueError,
         r"the ideal filter on 2 spatial axes or with a cutoff per axis"),
        (lambda: lowpass(np.zeros((8, 8, 8)), 0.1, method="exact"), ValueError,
         r"method='exact' filters 2-D images with one cutoff; for a volume"),
        (lambda: lowpass(np.zeros((8, 8)), (0.1, 0.2), method="exact"), ValueError,
         r"for a cutoff per axis use method='blockwise'"),
        (lambda: lowpass(np.zeros((8, 8)), (0.1,)), ValueError,
         r"`cutoff` must be one number, or one per spatial axis"),
        (lambda: lowpass(np.zeros((8, 8)), (0.1, 0.7)), ValueError,
         r"`cutoff` must be in \(0, 0.5\] cycles/pixel, got 0.7"),
    ],
)  # fmt: skip
def test_axes_and_cutoffs_that_cannot_be_told_are_refused_in_one_line(call, error, said):
    with pytest.raises(error, match=said) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_a_dataarray_dim_of_another_name_is_refused_not_guessed():
    xr = pytest.importorskip("xarray")
    array = xr.DataArray(np.zeros((5, 16, 16)), dims=("wavelength", "y", "x"))
    with pytest.raises(ValueError, match="'wavelength' .* pass channel_axis='wavelength'"):
        lowpass(array, 0.1)
    out = lowpass(array, 0.1, channel_axis="wavelength")
    assert out.dims == array.dims and out.shape == array.shape


def test_numpy_volumes_are_cut_into_256_voxel_chunks_and_frames_one_each():
    out = lowpass(np.zeros((300, 40, 520), np.float32), 0.1)
    assert out.chunks == ((256, 44), (40,), (256, 256, 8))


def test_a_physical_sigma_by_the_voxel_size_is_a_sigma_per_axis_in_voxels():
    volume = make_image((16, 40, 40), np.float64, seed=10)
    cutoff = cutoff_from_sigma(2.0, spacing=(2.0, 0.5, 0.5))
    assert cutoff == cutoffs((1.0, 4.0, 4.0))
    got = lowpass(da.from_array(volume, chunks=(8, 20, 20)), cutoff).compute()
    assert np.abs(got - gaussian(volume, (1.0, 4.0, 4.0))).max() <= 10 * TOL * volume.max()
    with pytest.raises(ValueError, match=r"`sigma` must be >= 1/pi"):
        cutoff_from_sigma(0.1, spacing=(1.0, 1.0))  # 0.1 px: past Nyquist
