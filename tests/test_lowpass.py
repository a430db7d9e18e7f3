import warnings

import dask.array as da
import numpy as np
import pytest
from dask.array.utils import assert_eq
from reference import channels, make_image, reference_lowpass
from scipy import ndimage

from daskfft import HaloWarning, cutoff_from_sigma, expected_deviation, halo_depth, lowpass

TOL = 1e-6


def _bound(image, dtype, tol=TOL):
    """The accuracy promise: 10*tol*max|x|, or 2e-5*max|x| for float32 if larger."""
    scale = float(np.abs(np.asarray(image, dtype=np.float64)).max())
    rel = max(10 * tol, 2e-5) if np.dtype(dtype) == np.float32 else 10 * tol
    return rel * scale


# (filter, cutoff, order): each needs a halo below the cap at TOL, so depth="auto" is silent.
FILTERS = [
    ("gaussian", 0.05, 4),
    ("gaussian", 0.012, 4),
    ("butterworth", 0.08, 4),
    ("butterworth", 0.06, 3),
]
IMAGES = [  # shape, chunks: odd and even sizes, ragged, smaller than the halo, one chunk
    ((96, 80), ((30, 66), (3, 6, 2, 5, 64))),
    ((75, 131), 40),
    ((64, 64), 64),
    ((1, 37), ((1,), (10, 27))),
    ((33, 47, 3), ((11, 22), (47,), (3,))),
]


@pytest.mark.parametrize(("filter", "cutoff", "order"), FILTERS)
@pytest.mark.parametrize(("shape", "chunks"), IMAGES)
@pytest.mark.parametrize("boundary", ["reflect", "periodic", "nearest", 3.5])
def test_matches_whole_image_reference(filter, cutoff, order, shape, chunks, boundary):
    image = make_image(shape, np.float64, seed=sum(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error", HaloWarning)
        out = lowpass(
            da.from_array(image, chunks=chunks),
            cutoff,
            filter=filter,
            order=order,
            boundary=boundary,
            tol=TOL,
            channel_axis=channels(image),
        )
    depth = halo_depth(cutoff, filter=filter, order=order, tol=TOL)
    ref = reference_lowpass(
        image, cutoff, filter=filter, order=order, boundary=boundary, pad=3 * depth + 16
    )
    assert out.chunks == da.from_array(image, chunks=chunks).chunks
    got = out.compute()
    assert np.abs(got - ref).max() <= _bound(image, np.float64)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("rgb", [False, True])
def test_dtypes_and_channels(dtype, rgb):
    shape = (70, 90, 3) if rgb else (70, 90)
    image = make_image(shape, dtype, seed=3)
    chunks = (25, 40) + ((3,) if rgb else ())
    out = lowpass(da.from_array(image, chunks=chunks), 0.05, channel_axis=channels(image))
    expected_dtype = np.float64 if dtype == np.float64 else np.float32  # the working precision
    ref = reference_lowpass(image, 0.05, pad=64)
    assert_eq(out, ref.astype(expected_dtype), atol=_bound(image, expected_dtype), rtol=0)
    assert out.dtype == expected_dtype


# dtype, tol, the working precision: float32 for float32 and for integers of up to 16 bits
# when tol >= 1e-7 (their float32 rounding, 1e-6 of the range, is below half a level).
PRECISIONS = [
    (np.uint8, 1e-6, np.float32),
    (np.uint16, 1e-7, np.float32),
    (np.int16, 1e-6, np.float32),
    (np.uint16, 1e-8, np.float64),
    (np.uint32, 1e-6, np.float64),
    (np.int64, 1e-6, np.float64),
    (np.float32, 1e-9, np.float32),
    (np.float64, 1e-6, np.float64),
]


@pytest.mark.parametrize(("dtype", "tol", "expected"), PRECISIONS)
def test_the_api_and_the_command_work_in_the_same_precision(dtype, tol, expected):
    from daskfft.run.plan import working_precision

    image = da.zeros((40, 30), dtype=dtype, chunks=20)
    assert working_precision(dtype, tol)[0] == expected  # what the command filters in
    assert lowpass(image, 0.1, tol=tol).dtype == expected
    assert lowpass(image, 0.1, tol=tol, method="exact").dtype == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_the_bound_holds_with_the_working_precisions_rounding(dtype):
    """max|lowpass - whole image| <= (expected_deviation + ROUNDING[work dtype]) max|image|,
    on 512-px chunks with a halo so wide that float32's rounding is all that is left."""
    from daskfft.kernels.block import ROUNDING

    image = make_image((1024, 1024), dtype, seed=21)
    cutoff, depth = 0.05, 48
    out = lowpass(da.from_array(image, chunks=512), cutoff, depth=depth).compute()
    error = np.abs(out - reference_lowpass(image, cutoff, pad=64)).max()
    scale = float(np.abs(image.astype(np.float64)).max())
    assert out.dtype == np.float32
    assert error <= (expected_deviation(cutoff, depth) + ROUNDING["float32"]) * scale
    assert error > expected_deviation(cutoff, depth) * scale  # rounding is what the sum needs


def test_channels_are_filtered_one_by_one():
    image = make_image((40, 50, 3), np.float64, seed=5)
    out = lowpass(da.from_array(image, chunks=(20, 20, 3)), 0.07, channel_axis=-1).compute()
    for c in range(3):
        alone = lowpass(da.from_array(image[..., c], chunks=20), 0.07).compute()
        np.testing.assert_allclose(out[..., c], alone, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.2, 2.0, 3.5, 8.0])
def test_gaussian_matches_scipy_ndimage(sigma):
    image = make_image((120, 110), np.float64, seed=7)
    out = lowpass(da.from_array(image, chunks=(50, 45)), cutoff_from_sigma(sigma)).compute()
    # scipy truncates its kernel at 4 sigma by default, dropping 6e-5 of its
    # mass; 9 sigma keeps it whole to double precision.
    ref = ndimage.gaussian_filter(image, sigma, mode="reflect", truncate=9.0)
    assert np.abs(out - ref).max() <= 1e-6 * np.ptp(image)


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "nearest"])
@pytest.mark.parametrize("filter", ["gaussian", "butterworth"])
def test_constant_image_unchanged(boundary, filter):
    image = da.full((50, 61), 42.0, chunks=(7, 30))
    out = lowpass(image, 0.1, filter=filter, boundary=boundary).compute()
    np.testing.assert_allclose(out, 42.0, rtol=1e-9)


def test_constant_boundary_equal_to_the_image_keeps_it_constant():
    out = lowpass(da.full((30, 30), 9.0, chunks=10), 0.1, boundary=9.0).compute()
    np.testing.assert_allclose(out, 9.0, rtol=1e-9)


@pytest.mark.parametrize("filter", ["gaussian", "butterworth", "ideal"])
def test_dc_gain_is_one(filter):
    image = np.zeros((128, 128))
    image[60, 70] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HaloWarning)
        out = lowpass(
            da.from_array(image, chunks=64),
            0.1,
            filter=filter,
            boundary="periodic",
            depth=32 if filter == "ideal" else "auto",
        ).compute()
    if filter != "ideal":  # a capped ideal kernel loses mass outside its halo
        assert out.sum() == pytest.approx(1.0, abs=1e-6)
    assert out.max() < 1.0


def test_zeros_in_zeros_out():
    out = lowpass(da.zeros((40, 40), chunks=13), 0.1, filter="butterworth").compute()
    assert not out.any()


def test_result_independent_of_chunking():
    image = make_image((150, 170), np.float64, seed=11)
    results = [
        lowpass(da.from_array(image, chunks=c), 0.03).compute()
        for c in [(150, 170), (50, 60), ((7, 100, 43), (85, 85)), 16]
    ]
    for other in results[1:]:
        assert np.abs(other - results[0]).max() <= 4 * TOL * np.abs(image).max()


def test_numpy_input_gets_default_chunks_and_stays_lazy():
    image = np.ones((2500, 30), dtype=np.float32)
    out = lowpass(image, 0.1)
    assert isinstance(out, da.Array)
    assert out.chunks == ((1024, 1024, 452), (30,))
    assert out.dtype == np.float32


def test_split_channel_axis_is_merged():
    image = da.ones((20, 20, 4), chunks=(10, 10, 2))
    out = lowpass(image, 0.1, channel_axis=-1)
    assert out.chunks == ((10, 10), (10, 10), (4,))


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (2, 1), (5, 3)])
def test_tiny_images(shape):
    image = np.arange(np.prod(shape), dtype=float).reshape(shape) + 1
    out = lowpass(image, 0.05, channel_axis=channels(image)).compute()
    ref = reference_lowpass(image, 0.05, pad=64)
    np.testing.assert_allclose(out, ref, atol=_bound(image, np.float64))


def test_given_depth_is_used_and_bound_holds():
    image = make_image((100, 100), np.float64, seed=2)
    out = lowpass(da.from_array(image, chunks=25), 0.05, filter="butterworth", depth=20).compute()
    ref = reference_lowpass(image, 0.05, filter="butterworth", pad=400)
    dev = np.abs(out - ref).max() / np.abs(image).max()
    assert dev <= expected_deviation(0.05, 20, filter="butterworth")
    assert dev > 10 * TOL  # a narrow halo is visibly off: the bound is not vacuous


def test_ideal_warns_and_stays_within_its_stated_bound():
    image = make_image((90, 90), np.float64, seed=4)
    with pytest.warns(HaloWarning) as record:
        out = lowpass(da.from_array(image, chunks=30), 0.1, filter="ideal")
    ref = reference_lowpass(image, 0.1, filter="ideal", pad=90 * 4)
    dev = np.abs(out.compute() - ref).max() / np.abs(image).max()
    assert dev <= record[0].message.deviation


def test_float32_end_to_end():
    image = make_image((64, 64), np.float32)
    out = lowpass(da.from_array(image, chunks=32), 0.1)
    assert out.dtype == np.float32
    assert out.compute().dtype == np.float32


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "match"),
    [
        (np.zeros(5), {}, ValueError, r"2 or 3 spatial axes .*got 1 in shape \(5,\)"),
        (np.zeros((2, 2, 2, 2)), {}, ValueError, "four axes: pass channel_axis="),
        (np.zeros((0, 4)), {}, ValueError, "empty"),
        (np.zeros((4, 4), dtype=complex), {}, TypeError, "complex128"),
        (np.zeros((4, 4), dtype=bool), {}, TypeError, "bool"),
        (np.zeros((4, 4)), {"cutoff": 0.0}, ValueError, r"cutoff.*\(0, 0.5\]"),
        (np.zeros((4, 4)), {"cutoff": 0.51}, ValueError, "got 0.51"),
        (np.zeros((4, 4)), {"cutoff": float("nan")}, ValueError, "got nan"),
        (np.zeros((4, 4)), {"depth": -1}, ValueError, "`depth`"),
        (np.zeros((4, 4)), {"depth": "wide"}, ValueError, "`depth`"),
        (np.zeros((4, 4)), {"depth": 2.5}, ValueError, "`depth`"),
        (np.zeros((4, 4)), {"boundary": "none"}, ValueError, "`boundary`"),
        (np.zeros((4, 4)), {"boundary": float("inf")}, ValueError, "`boundary`"),
        (np.zeros((4, 4)), {"filter": "median"}, ValueError, "`filter`"),
        (np.zeros((4, 4)), {"order": 0}, ValueError, "`order`"),
    ],
)
def test_bad_arguments(image, kwargs, error, match):
    args = {"cutoff": 0.1} | kwargs
    cutoff = args.pop("cutoff")
    with pytest.raises(error, match=match):
        lowpass(image, cutoff, **args)


@pytest.mark.parametrize("method", ["blockwise", "exact"])
def test_xarray_in_xarray_out_with_dims_coords_and_attrs(method):
    """As rioxarray opens a raster: (band, y, x), chunked, with its CRS in a coordinate."""
    import xarray as xr

    bands = make_image((3, 90, 110), np.float64, seed=12)
    crs = xr.DataArray(0, attrs={"crs_wkt": 'PROJCS["WGS 84 / UTM zone 33N"]'})
    array = xr.DataArray(
        da.from_array(bands, chunks=(3, 40, 50)),
        dims=("band", "y", "x"),
        name="ortho",
        coords={
            "band": [1, 2, 3],
            "y": 5800000.0 - 0.5 * np.arange(90),
            "x": 500000.0 + 0.5 * np.arange(110),
            "spatial_ref": crs,
        },
        attrs={"scale_factor": 1.0, "long_name": "reflectance"},
    )
    out = lowpass(array, 0.06, method=method)
    assert isinstance(out, xr.DataArray) and isinstance(out.data, da.Array)
    assert out.dims == array.dims and out.name == "ortho" and out.attrs == array.attrs
    for name in ("band", "y", "x"):
        np.testing.assert_array_equal(out[name], array[name])
    assert out["spatial_ref"].attrs == crs.attrs
    same_chunks = da.from_array(bands.transpose(1, 2, 0), chunks=(40, 50, 3))
    expected = lowpass(same_chunks, 0.06, method=method, channel_axis=-1).compute()
    np.testing.assert_allclose(out.values, expected.transpose(2, 0, 1), rtol=0, atol=1e-12)


def test_xarray_with_two_band_dims_is_refused():
    import xarray as xr

    array = xr.DataArray(np.zeros((2, 3, 20, 20)), dims=("c", "band", "y", "x"))
    with pytest.raises(ValueError, match="at most one channel dim"):
        lowpass(array, 0.1)


def test_rioxarray_geotiff_filtered_and_written_back_with_its_georeferencing(tmp_path):
    import rasterio
    import rioxarray
    from rasterio.transform import from_origin

    bands = make_image((3, 200, 260), np.uint8, seed=13)
    transform = from_origin(500000.0, 5800000.0, 0.5, 0.5)
    with rasterio.open(
        tmp_path / "in.tif",
        "w",
        driver="GTiff",
        width=260,
        height=200,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=transform,
    ) as dst:
        dst.write(bands)
    ortho = rioxarray.open_rasterio(tmp_path / "in.tif", chunks={"band": 3, "y": 128, "x": 128})
    smooth = lowpass(ortho, 0.05)
    assert smooth.dims == ("band", "y", "x") and smooth.rio.crs.to_epsg() == 32633
    smooth.rio.to_raster(tmp_path / "out.tif", tiled=True)
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.crs.to_epsg() == 32633 and out.transform == transform
        got = out.read()
    same_chunks = da.from_array(bands.transpose(1, 2, 0), chunks=(128, 128, 3))
    expected = lowpass(same_chunks, 0.05, channel_axis=-1).compute().transpose(2, 0, 1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def _geotiff_with_holes(path):
    """A uint8 GeoTIFF of mean about 100 whose holes (a block, scattered pixels) are 255, its
    declared nodata; returns the image and its data mask."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(17)
    image = np.clip(ndimage.gaussian_filter(rng.normal(100, 60, (180, 150)), 2), 0, 254)
    image = np.rint(image).astype(np.uint8)
    image[60:90, 40:80] = 255
    image[rng.integers(0, 180, 40), rng.integers(0, 150, 40)] = 255
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=150,
        height=180,
        count=1,
        dtype="uint8",
        crs="EPSG:32633",
        transform=from_origin(500000.0, 5800000.0, 1, 1),
        nodata=255,
    ) as dst:
        dst.write(image, 1)
    return image, image != 255


@pytest.mark.parametrize("masked", [False, True])
def test_readme_rioxarray_recipe_keeps_a_geotiffs_nodata(tmp_path, masked):
    """README's recipe on a GeoTIFF with nodata: the holes are left out of the filter and
    written back as nodata, unmasked (``rio.nodata``, float32 out) or masked (NaN in, and
    ``rio.encoded_nodata``: uint8 out), against a whole-image normalised convolution."""
    import rasterio
    import rioxarray
    from reference import normalised_reference

    image, valid = _geotiff_with_holes(tmp_path / "ortho.tif")
    cutoff = cutoff_from_sigma(8)
    # The README's recipe, in smaller chunks:
    ortho = rioxarray.open_rasterio(tmp_path / "ortho.tif", chunks=64, masked=masked)
    smooth = lowpass(ortho, cutoff)
    smooth.rio.to_raster(tmp_path / "smooth.tif", tiled=True)

    ref = normalised_reference(image.astype(np.float64), cutoff, valid)
    got = smooth.values[0]
    assert np.abs(got[valid] - ref[valid]).max() <= 10 * TOL * 255
    assert np.isnan(got[~valid]).all() if masked else (got[~valid] == 255).all()
    with rasterio.open(tmp_path / "smooth.tif") as out:
        assert out.nodata == 255 and out.dtypes[0] == ("uint8" if masked else "float32")
        written = out.read(1, masked=True)
    np.testing.assert_array_equal(written.mask, ~valid)
    off = np.abs(written.data[valid].astype(np.float64) - ref[valid]).max()
    assert off <= (0.5 + 1e-3 if masked else 10 * TOL * 255)  # masked: rounded to uint8
