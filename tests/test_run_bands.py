"""``daskfft run --pass high|band``: the command's output against whole-image references."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from reference import flat_reference, make_image, reference_lowpass, transfer, vignetted

from daskfft import cutoff_from_sigma, expected_deviation
from daskfft.cli import main
from daskfft.kernels.spec import FilterSpec

FAST = ["--cluster", "threads", "-q"]


def _run(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["run", *map(str, args), "-o", str(out), *FAST]) == 0
    return out, json.loads((out / "report.json").read_text())


def _band_reference(image, low, high, pad=200, **kw):
    return reference_lowpass(image, high, pad=pad, **kw) - reference_lowpass(
        image, low, pad=pad, **kw
    )


@pytest.mark.parametrize("filter", ["gaussian", "butterworth"])
def test_highpass_of_a_float_tiff_is_the_image_minus_its_whole_image_lowpass(tmp_path, filter):
    image = make_image((150, 130), np.float32, seed=11)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(32, 32))
    out, report = _run(
        tmp_path,
        "o",
        tmp_path / "in.tif",
        "--pass",
        "high",
        "--cutoff",
        "0.06",
        "--filter",
        filter,
        "--chunks",
        "64",
    )
    got = tifffile.imread(out / "filtered.tif")
    ref = image - reference_lowpass(image, 0.06, filter=filter, pad=300)
    assert got.dtype == np.float32 and got.min() < 0  # float output keeps the sign
    bound = report["halo"]["expected_max_deviation"] + report["precision"]["max_rounding_relative"]
    assert np.abs(got - ref).max() <= 2 * bound * np.abs(image).max()
    f = report["filter"]
    assert (f["pass_band"], f["output_offset"], f["low_cutoff_cycles_per_pixel"]) == (
        "high",
        0,
        None,
    )


def test_bandpass_of_an_rgb_png_is_a_difference_of_gaussians_around_mid_gray(tmp_path):
    image = make_image((120, 140, 3), np.uint8, seed=12)
    iio.imwrite(tmp_path / "in.png", image)
    out, report = _run(
        tmp_path, "o", tmp_path / "in.png", "--pass", "band", "--sigma", "6,1.5", "--chunks", "48"
    )
    got = iio.imread(out / "filtered.png")
    low, high = cutoff_from_sigma(6), cutoff_from_sigma(1.5)
    ref = _band_reference(image, low, high) + 128
    assert got.dtype == np.uint8 and got.shape == image.shape
    off = np.abs(got.astype(float) - np.clip(np.rint(ref), 0, 255))
    assert off.max() <= 1 and (off > 0).mean() < 0.01  # rounding in float32, nothing more
    assert got.min() < 128 < got.max()
    f = report["filter"]
    assert f["pass_band"] == "band" and f["output_offset"] == 128
    assert f["low_sigma_pixels"] == pytest.approx(6) and f["sigma_pixels"] == pytest.approx(1.5)
    assert any("mid-gray 128" in c for c in report["choices"])
    # The halo is the wider of the two low-passes', the bound the sum of theirs.
    depth = report["halo"]["depth"]
    assert depth == FilterSpec(low).halo().depth
    assert report["halo"]["expected_max_deviation"] == pytest.approx(
        expected_deviation(low, depth) + expected_deviation(high, depth)
    )


def test_highpass_with_nodata_leaves_the_holes_out_and_keeps_them(tmp_path):
    image = make_image((100, 90), np.float64, seed=13)
    valid = np.ones(image.shape, bool)
    valid[30:45, 20:70] = False
    tifffile.imwrite(tmp_path / "in.tif", np.where(valid, image, -9999.0))
    out, _ = _run(
        tmp_path,
        "o",
        tmp_path / "in.tif",
        "--pass",
        "high",
        "--cutoff",
        "0.05",
        "--nodata",
        "-9999",
        "--chunks",
        "40",
    )
    got = tifffile.imread(out / "filtered.tif")
    assert (got[~valid] == -9999).all()
    x = np.where(valid, image, 0.0)
    normalised = reference_lowpass(x, 0.05, pad=200) / reference_lowpass(
        valid.astype(float), 0.05, pad=200
    )
    assert np.abs(got[valid] - (image - normalised)[valid]).max() <= 2e-5 * np.abs(image).max()


def test_exact_bandpass_equals_the_whole_image_filter_to_rounding(tmp_path):
    image = make_image((90, 110), np.float64, seed=14)
    tifffile.imwrite(tmp_path / "in.tif", image)
    out, report = _run(
        tmp_path,
        "o",
        tmp_path / "in.tif",
        "--pass",
        "band",
        "--cutoff",
        "0.03,0.12",
        "--filter",
        "ideal",
        "--exact",
        "--boundary",
        "periodic",
        "--chunks",
        "32",
    )
    got = tifffile.imread(out / "filtered.tif")
    ref = _band_reference(image, 0.03, 0.12, pad=0, filter="ideal", boundary="periodic")
    assert np.abs(got - ref).max() <= 1e-12 * np.abs(image).max()
    assert report["method"] == "exact"


def test_a_short_halo_on_a_bandpass_is_measured_within_its_bound(tmp_path):
    image = make_image((160, 160), np.float64, seed=15)
    tifffile.imwrite(tmp_path / "in.tif", image)
    out, report = _run(
        tmp_path,
        "o",
        tmp_path / "in.tif",
        "--pass",
        "band",
        "--sigma",
        "2,6",
        "--depth",
        "6",
        "--chunks",
        "40",
    )
    halo = report["halo"]
    measured = halo["measured_deviation"]["max_relative"]
    got = tifffile.imread(out / "filtered.tif")
    ref = _band_reference(image, cutoff_from_sigma(6), cutoff_from_sigma(2))
    true = np.abs(got - ref).max() / np.abs(image).max()
    assert 1e-6 < measured <= halo["expected_max_deviation"]  # the short halo shows, bounded
    assert true <= halo["expected_max_deviation"]


def test_the_filtered_power_is_the_band_transfer_squared_times_the_input():
    from daskfft.run.cells import squared_transfer

    spec = FilterSpec.create(band="band", cutoff=(0.02, 0.1), filter="butterworth", order=3)
    full = transfer((64, 50), 0.1, "butterworth", 3) - transfer((64, 50), 0.02, "butterworth", 3)
    np.testing.assert_allclose(squared_transfer((64, 50), spec), full[:, :26] ** 2, atol=1e-6)
    high = FilterSpec.create(0.1, band="high")
    np.testing.assert_allclose(
        squared_transfer((64, 50), high),
        (1 - transfer((64, 50), 0.1, "gaussian", 4))[:, :26] ** 2,
        atol=1e-6,
    )


@pytest.mark.parametrize(("mode", "dtype"), [("divide", np.uint16), ("subtract", np.float32)])
def test_flatfield_from_the_command_line_matches_the_whole_image_reference(tmp_path, mode, dtype):
    image, _ = vignetted((200, 170), dtype, seed=21)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(32, 32))
    out, report = _run(
        tmp_path, "o", tmp_path / "in.tif", "--flatfield", mode, "--sigma", "20", "--chunks", "64"
    )
    got = tifffile.imread(out / "filtered.tif")
    ref, _ = flat_reference(image, cutoff_from_sigma(20), mode)
    assert got.dtype == image.dtype
    if dtype == np.uint16:  # filtered in float32: its rounding, ~0.003 of a level at 50000,
        off = np.abs(got.astype(float) - ref)  # sends a value near a half level either side
        assert off.max() <= 1 and (off > 0).mean() < 0.01
    else:
        assert np.abs(got - ref).max() <= 2e-5 * np.abs(ref).max()
    f = report["filter"]
    assert f["flatfield"] == mode and f["pass_band"] == "low"
    assert f["flatfield_mean"] == pytest.approx([image.astype(float).mean()], rel=1e-9)


def test_flatfield_with_nodata_and_exact(tmp_path):
    image, _ = vignetted((150, 160), np.float64, seed=22)
    valid = np.ones(image.shape, bool)
    valid[:40, :60] = False  # a mosaic's empty corner
    tifffile.imwrite(tmp_path / "in.tif", np.where(valid, image, -1.0))
    ref, _ = flat_reference(image, cutoff_from_sigma(12), "divide", valid)
    for name, extra in (("blockwise", ["--chunks", "48"]), ("exact", ["--exact"])):
        out, report = _run(
            tmp_path,
            name,
            tmp_path / "in.tif",
            "--flatfield",
            "divide",
            "--sigma",
            "12",
            "--nodata",
            "-1",
            *extra,
        )
        got = tifffile.imread(out / "filtered.tif")
        assert (got[~valid] == -1).all(), name
        assert np.abs(got[valid] - ref[valid]).max() <= 1e-4 * np.abs(ref[valid]).max(), name
        assert report["method"] == name


def test_flatfield_refuses_a_high_pass():
    with pytest.raises(ValueError, match="divides by .or subtracts. a low-pass, not a high-pass"):
        FilterSpec.create(0.01, band="high", flatfield="divide")
