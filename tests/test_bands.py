"""High-pass and band-pass against whole-image references (textbook transfer functions, scipy)."""

import warnings

import dask.array as da
import numpy as np
import pytest
from reference import (
    channels,
    flat_reference,
    make_image,
    normalised_reference,
    reference_lowpass,
    vignetted,
)
from scipy import ndimage

from daskfft import (
    HaloWarning,
    band_bound,
    bandpass,
    cutoff_from_sigma,
    expected_deviation,
    flatfield,
    halo_depth,
    highpass,
    lowpass,
)
from daskfft.api.exact import exact_padding
from daskfft.kernels.block import ROUNDING

TOL = 1e-6
IMAGES = [((96, 80), ((30, 66), (3, 6, 2, 5, 64))), ((75, 131), 40), ((33, 47, 3), (11, 20, 3))]


def _scale(image):
    return float(np.abs(np.asarray(image, dtype=np.float64)).max())


@pytest.mark.parametrize(
    ("filter", "cutoff", "order"), [("gaussian", 0.05, 4), ("butterworth", 0.08, 3)]
)
@pytest.mark.parametrize(("shape", "chunks"), IMAGES)
@pytest.mark.parametrize("boundary", ["reflect", "periodic", 2.5])
def test_highpass_is_one_minus_h_of_the_whole_image(filter, cutoff, order, shape, chunks, boundary):
    image = make_image(shape, np.float64, seed=sum(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error", HaloWarning)
        out = highpass(
            da.from_array(image, chunks=chunks),
            cutoff,
            filter=filter,
            order=order,
            boundary=boundary,
            tol=TOL,
            channel_axis=channels(image),
        )
    pad = 3 * halo_depth(cutoff, filter=filter, order=order, tol=TOL) + 16
    ref = image - reference_lowpass(
        image, cutoff, filter=filter, order=order, boundary=boundary, pad=pad
    )
    assert out.chunks == da.from_array(image, chunks=chunks).chunks
    assert np.abs(out.compute() - ref).max() <= 10 * TOL * _scale(image)


@pytest.mark.parametrize(
    ("filter", "low", "high", "order"), [("gaussian", 0.02, 0.15, 4), ("butterworth", 0.05, 0.1, 4)]
)
@pytest.mark.parametrize(("shape", "chunks"), IMAGES)
@pytest.mark.parametrize("boundary", ["reflect", "nearest"])
def test_bandpass_is_the_difference_of_two_whole_image_lowpasses(
    filter, low, high, order, shape, chunks, boundary
):
    image = make_image(shape, np.float64, seed=1 + sum(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error", HaloWarning)
        out = bandpass(
            da.from_array(image, chunks=chunks),
            low,
            high,
            filter=filter,
            order=order,
            boundary=boundary,
            tol=TOL,
            channel_axis=channels(image),
        )
    pad = 3 * halo_depth(low, filter=filter, order=order, tol=TOL) + 16
    ref = reference_lowpass(
        image, high, filter=filter, order=order, boundary=boundary, pad=pad
    ) - reference_lowpass(image, low, filter=filter, order=order, boundary=boundary, pad=pad)
    assert out.chunks == da.from_array(image, chunks=chunks).chunks
    assert np.abs(out.compute() - ref).max() <= 2 * 10 * TOL * _scale(image)


@pytest.mark.parametrize(("sigma_small", "sigma_large"), [(1.5, 6.0), (3.0, 12.0)])
def test_gaussian_bandpass_is_scipys_difference_of_gaussians(sigma_small, sigma_large):
    image = make_image((150, 170), np.float64, seed=7)
    out = bandpass(
        da.from_array(image, chunks=64),
        cutoff_from_sigma(sigma_large),
        cutoff_from_sigma(sigma_small),
        tol=TOL,
    ).compute()
    dog = ndimage.gaussian_filter(
        image, sigma_small, mode="reflect", truncate=12
    ) - ndimage.gaussian_filter(image, sigma_large, mode="reflect", truncate=12)
    assert np.abs(out - dog).max() <= 2 * 10 * TOL * _scale(image)


def test_a_given_halo_stays_within_the_stated_bound():
    image = make_image((120, 120), np.float64, seed=5)
    low, high, depth = 0.01, 0.1, 6  # far narrower than the Gaussian of 0.01 needs
    out = bandpass(da.from_array(image, chunks=40), low, high, depth=depth).compute()
    ref = reference_lowpass(image, high, pad=400) - reference_lowpass(image, low, pad=400)
    bound = band_bound(low, high, depth)
    assert bound == expected_deviation(low, depth) + expected_deviation(high, depth)
    deviation = np.abs(out - ref).max() / _scale(image)
    assert 1e-6 < deviation <= bound  # really off, and within what it says


def test_ideal_band_warns_with_its_bound():
    image = make_image((64, 64), np.float64)
    with pytest.warns(HaloWarning, match="band-pass: bound") as caught:
        bandpass(image, 0.05, 0.2, filter="ideal")
    assert caught[0].message.deviation > 0


@pytest.mark.parametrize("fn", ["highpass", "bandpass"])
def test_exact_method_equals_the_whole_image_filter_to_rounding(fn):
    image = make_image((90, 70), np.float64, seed=2)
    args = (0.03,) if fn == "highpass" else (0.03, 0.2)
    out = {"highpass": highpass, "bandpass": bandpass}[fn](
        da.from_array(image, chunks=30), *args, method="exact"
    ).compute()
    lows = [
        reference_lowpass(
            image, c, pad=exact_padding(c, filter="gaussian", order=4, tol=TOL, boundary="reflect")
        )
        for c in args
    ]
    ref = image - lows[0] if fn == "highpass" else lows[1] - lows[0]
    assert np.abs(out - ref).max() <= 1e-9 * _scale(image)


@pytest.mark.parametrize("nodata", [-9999.0, np.nan])
def test_nodata_stays_nodata_and_is_left_out(nodata):
    image = make_image((80, 90), np.float64, seed=4)
    valid = np.ones(image.shape, bool)
    valid[20:35, 30:60] = False
    valid[70:, :10] = False
    holes = np.where(valid, image, nodata)
    hp = highpass(da.from_array(holes, chunks=32), 0.05, nodata=nodata).compute()
    bp = bandpass(da.from_array(holes, chunks=32), 0.02, 0.15, nodata=nodata).compute()
    for out in (hp, bp):
        kept = out[~valid]
        assert np.isnan(kept).all() if np.isnan(nodata) else (kept == nodata).all()
        assert np.isfinite(out[valid]).all()
    ref_hp = image - normalised_reference(image, 0.05, valid)
    ref_bp = normalised_reference(image, 0.15, valid) - normalised_reference(image, 0.02, valid)
    assert np.abs(hp[valid] - ref_hp[valid]).max() <= 10 * TOL * _scale(image)
    assert np.abs(bp[valid] - ref_bp[valid]).max() <= 2 * 10 * TOL * _scale(image)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_dtypes(dtype):
    image = make_image((60, 70, 3), dtype, seed=6)
    out = highpass(da.from_array(image, chunks=(30, 35, 3)), 0.05, channel_axis=-1)
    assert out.dtype == np.float32  # the working precision: see test_lowpass
    ref = image.astype(np.float64) - reference_lowpass(image, 0.05, pad=64)
    rel = 2e-5
    assert np.abs(out.compute() - ref).max() <= rel * _scale(image)
    assert out.min().compute() < 0  # a high-pass has negative values: never clipped


def test_highpass_plus_lowpass_is_the_image():
    image = da.from_array(make_image((50, 64), np.float64), chunks=25)
    total = (highpass(image, 0.07) + lowpass(image, 0.07)).compute()
    np.testing.assert_allclose(total, image.compute(), rtol=0, atol=1e-12 * 100)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0.2, 0.1), {}, "`low` must be below `high`"),
        ((0.1, 0.1), {}, "`low` must be below `high`"),
        ((0.0, 0.1), {}, r"`low` must be in \(0, 0.5\] cycles/pixel, got 0.0"),
        ((0.1, 0.6), {}, r"`high` must be in \(0, 0.5\] cycles/pixel, got 0.6"),
        ((0.01, 0.1), {"filter": "box"}, "filter"),
    ],
)
def test_bad_bandpass_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        bandpass(np.zeros((8, 8)), *args, **kwargs)


@pytest.mark.parametrize("declared", ["attrs", "encoding"])
def test_a_dataarrays_declared_nodata_is_left_out_and_kept(declared):
    """As rioxarray declares nodata: ``_FillValue`` in the attributes (holes hold it), or in
    the encoding (``masked=True``: holes are NaN); the result declares it the same way."""
    xr = pytest.importorskip("xarray")
    image = make_image((90, 80), np.float64, seed=8)
    valid = np.ones(image.shape, bool)
    valid[20:35, 30:60] = False
    holes = np.where(valid, image, -1.0 if declared == "attrs" else np.nan)
    array = xr.DataArray(da.from_array(holes[None], chunks=(1, 32, 32)), dims=("band", "y", "x"))
    if declared == "attrs":
        array.attrs["_FillValue"] = -1.0
    else:
        array.encoding["_FillValue"] = 255
    hp = highpass(array, 0.05)
    got = hp.values[0]
    ref = image - normalised_reference(image, 0.05, valid)
    assert np.abs(got[valid] - ref[valid]).max() <= 10 * TOL * _scale(image)
    if declared == "attrs":
        assert (got[~valid] == -1).all() and hp.attrs["_FillValue"] == -1
    else:
        assert np.isnan(got[~valid]).all() and hp.encoding["_FillValue"] == 255
    flat = flatfield(array, 0.02).values[0]
    assert np.isfinite(flat[valid]).all()
    assert (flat[~valid] == -1).all() if declared == "attrs" else np.isnan(flat[~valid]).all()
    if declared == "attrs":  # an explicit nodata wins over the declared one, and is declared
        out = lowpass(array, 0.05, nodata=float(holes[0, 0]))
        assert out.attrs["_FillValue"] == holes[0, 0]


def test_xarray_in_xarray_out():
    xr = pytest.importorskip("xarray")
    image = make_image((40, 50, 2), np.float32)
    arr = xr.DataArray(
        image, dims=("y", "x", "band"), coords={"x": np.arange(50.0)}, attrs={"units": "DN"}
    )
    out = bandpass(arr.chunk({"y": 20}), 0.05, 0.2)
    assert isinstance(out, xr.DataArray) and out.dims == arr.dims and out.attrs == arr.attrs
    np.testing.assert_allclose(
        out.values, bandpass(image, 0.05, 0.2, channel_axis=-1).compute(), atol=1e-4
    )


# --- flat-field ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["divide", "subtract"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_flatfield_matches_the_whole_image_reference_in_the_input_dtype(mode, dtype):
    image, _ = vignetted((180, 150, 3) if dtype == np.uint8 else (180, 150), dtype, seed=1)
    cutoff = cutoff_from_sigma(20)
    chunks = (64, 50) + image.shape[2:]
    out = flatfield(
        da.from_array(image, chunks=chunks), cutoff, mode=mode, channel_axis=channels(image)
    )
    assert out.dtype == image.dtype and out.chunks[0] == (64, 64, 52)
    ref, _ = flat_reference(image, cutoff, mode)
    got = out.compute().astype(np.float64)
    if np.issubdtype(dtype, np.integer):  # one level, only where rounding lands either side
        exact, _ = flat_reference(image.astype(np.float64), cutoff, mode)  # not rounded
        # float32, the working precision, and the halo move it by (2 tol + rounding) x max.
        near_half = (
            np.abs(exact - np.floor(exact) - 0.5)
            <= 4 * (2 * TOL + ROUNDING["float32"]) * np.abs(exact).max()
        )
        assert np.abs(got - ref).max() <= 1 and near_half[got != ref].all()
    else:
        rel = 2e-5 if dtype == np.float32 else 10 * TOL
        assert np.abs(got - ref).max() <= rel * np.abs(ref).max() * 4


def test_flatfield_takes_the_vignetting_out():
    image, _ = vignetted((400, 400), np.float64, seed=3)
    # A background wide against the texture, narrow against the light's curvature (a wider
    # one bends with it: sigma^2/2 times the light's Laplacian).
    flat = flatfield(da.from_array(image, chunks=128), cutoff_from_sigma(8)).compute()
    inner = (slice(60, -60), slice(60, -60))

    # 32-px block means over the inner part vary by 120 % of their mean before (dark corners),
    # 1.5 % after; the overall level is the input's within 0.3 %.
    def block_means(x):
        x = x[inner]
        n = x.shape[0] // 32 * 32
        return x[:n, :n].reshape(n // 32, 32, n // 32, 32).mean(axis=(1, 3))

    before, after = block_means(image), block_means(flat)
    assert np.ptp(before) / before.mean() > 0.2
    assert np.ptp(after) / after.mean() < 0.02
    assert abs(flat.mean() - image.mean()) < 0.01 * image.mean()


@pytest.mark.parametrize("nodata", [0.0, np.nan])
def test_flatfield_leaves_nodata_out_of_the_background_and_the_mean(nodata):
    image, _ = vignetted((160, 140), np.float64, seed=4)
    valid = np.ones(image.shape, bool)
    valid[:40, :50] = False  # a corner without data, as at a mosaic's edge
    holes = np.where(valid, image, nodata)
    cutoff = cutoff_from_sigma(15)
    out = flatfield(da.from_array(holes, chunks=48), cutoff, nodata=nodata).compute()
    kept = out[~valid]
    assert np.isnan(kept).all() if np.isnan(nodata) else (kept == nodata).all()
    ref, _ = flat_reference(image, cutoff, "divide", valid)
    assert np.abs(out[valid] - ref[valid]).max() <= 1e-4 * np.abs(ref[valid]).max()


def test_flatfield_keeps_a_dark_corner_and_refuses_bad_modes():
    image = np.zeros((64, 64))
    image[:, 32:] = 50.0
    out = flatfield(image, 0.05).compute()
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match="`mode` must be one of divide, subtract"):
        flatfield(image, 0.05, mode="multiply")
