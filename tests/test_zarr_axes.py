"""A Zarr input's axes, told and never guessed (issue #15): its dims' names (Zarr v3's
dimension_names, xarray's _ARRAY_DIMENSIONS), or --axes; a 3-D array that names none is
refused.  A (16, 64, 64) volume was filtered as a 16 x 64 image with 64 channels, exit 0."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from reference import make_image

from daskfft import cutoff_from_sigma, lowpass
from daskfft.cli import main

RUN = ["--sigma", "2", "--cluster", "threads", "-q", "--no-plots", "--spectra", "none"]


def _one_line(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("daskfft: error: "), err
    return lines[0]


def _filtered(out):
    return zarr.open_array(str(out / "filtered.zarr"), mode="r")[...]


def _expected(image, channel_axis):
    return lowpass(image, cutoff_from_sigma(2), channel_axis=channel_axis).compute()


def test_a_volume_that_names_no_dims_is_refused_not_filtered_as_64_channels(tmp_path, capsys):
    zarr.save_array(str(tmp_path / "vol.zarr"), make_image((16, 64, 64), np.uint16))
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "vol.zarr"), "-o", str(out), *RUN]) == 1
    line = _one_line(capsys)
    assert "names no dims: pass --axes yxc" in line and "--axes zyx (a volume)" in line
    assert not out.exists() or not any(p for p in out.iterdir() if p.name != ".daskfft-work")


def test_bands_last_or_first_as_axes_says(tmp_path, capsys):
    image = make_image((64, 48, 3), np.uint8, seed=2)
    zarr.save_array(str(tmp_path / "last.zarr"), image)
    zarr.save_array(str(tmp_path / "first.zarr"), np.ascontiguousarray(image.transpose(2, 0, 1)))
    assert main(["run", str(tmp_path / "last.zarr"), "-o", str(tmp_path / "a"), *RUN]) == 1
    assert "pass --axes yxc (bands last)" in _one_line(capsys)
    argv = ["run", str(tmp_path / "last.zarr"), "-o", str(tmp_path / "a"), "--axes", "yxc"]
    assert main(argv + RUN) == 0
    argv = ["run", str(tmp_path / "first.zarr"), "-o", str(tmp_path / "b"), "--axes", "CYX"]
    assert main(argv + RUN) == 0
    last, first = _filtered(tmp_path / "a"), _filtered(tmp_path / "b")
    assert last.shape == first.shape == (64, 48, 3)  # the output: bands last, as ever
    np.testing.assert_array_equal(first, last)
    ref = np.rint(np.clip(_expected(image, -1), 0, 255))
    assert np.abs(last.astype(float) - ref).max() <= 1


@pytest.mark.parametrize("how", ["dimension_names", "_ARRAY_DIMENSIONS"])
def test_an_array_that_names_its_dims_needs_no_axes_and_a_contrary_one_is_refused(
    tmp_path, capsys, how
):
    image = make_image((3, 40, 56), np.uint8, seed=3)
    names = ("band", "y", "x")
    path = tmp_path / "named.zarr"
    if how == "dimension_names":
        zarr.create_array(
            str(path), shape=image.shape, dtype="u1", chunks=(3, 20, 28), dimension_names=names
        )[...] = image
    else:
        z = zarr.create_array(str(path), shape=image.shape, dtype="u1", zarr_format=2)
        z[...] = image
        z.attrs["_ARRAY_DIMENSIONS"] = list(names)
    assert main(["run", str(path), "-o", str(tmp_path / "o"), *RUN]) == 0
    ref = np.rint(np.clip(_expected(image, 0), 0, 255)).transpose(1, 2, 0)
    assert np.abs(_filtered(tmp_path / "o").astype(float) - ref).max() <= 1
    argv = ["run", str(path), "-o", str(tmp_path / "p"), "--axes", "yxc"]
    assert main(argv + RUN) == 1
    assert "--axes yxc but the array names its dims ('band', 'y', 'x')" in _one_line(capsys)


@pytest.mark.parametrize(
    ("names", "shape", "said"),
    [
        (("wavelength", "y", "x"), (5, 32, 32), "dim 'wavelength' of"),
        (("z", "y", "y"), (5, 32, 32), "axes zyy do not fit shape (5, 32, 32)"),
    ],
)
def test_unknown_or_repeated_dims_are_refused_in_one_line(tmp_path, capsys, names, shape, said):
    path = tmp_path / "s.zarr"
    zarr.create_array(str(path), shape=shape, dtype="u1", dimension_names=names)
    assert main(["run", str(path), "-o", str(tmp_path / "o"), *RUN]) == 1
    assert said in _one_line(capsys)


def test_a_z_of_one_is_an_image(tmp_path):
    image = make_image((1, 48, 40), np.float32, seed=4)
    path = tmp_path / "z1.zarr"
    zarr.create_array(str(path), shape=image.shape, dtype="f4", dimension_names=("z", "y", "x"))[
        ...
    ] = image
    assert main(["run", str(path), "-o", str(tmp_path / "o"), *RUN]) == 0
    got = _filtered(tmp_path / "o")
    assert got.shape == (48, 40)
    assert np.abs(got - _expected(image[0], None)).max() <= 1e-5 * np.abs(image).max()


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["--axes", "yxq"], 2, "argument --axes: must be letters of t, c, z, y, x"),
        (["--axes", "yyx"], 2, "argument --axes: must be letters of t, c, z, y, x"),
        (["--axes", "zyx"], 1, "axes zyx do not fit shape (32, 32)"),
    ],
)
def test_bad_axes_are_refused(tmp_path, capsys, argv, code, said):
    zarr.save_array(str(tmp_path / "flat.zarr"), np.zeros((32, 32), np.uint8))
    try:
        rc = main(["run", str(tmp_path / "flat.zarr"), "-o", str(tmp_path / "o"), *argv, *RUN])
    except SystemExit as exc:  # argparse's usage error
        rc = exc.code
    assert rc == code
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1, err


def test_axes_for_a_tiff_is_refused(tmp_path, capsys):
    import tifffile

    tifffile.imwrite(tmp_path / "in.tif", np.zeros((32, 32), np.uint8))
    argv = ["run", str(tmp_path / "in.tif"), "-o", str(tmp_path / "o"), "--axes", "yx"]
    assert main(argv + RUN) == 1
    assert "--axes is for a Zarr array that names no dims; a TIFF names its own" in _one_line(
        capsys
    )


def test_daskffts_own_zarr_output_reads_back_without_axes(tmp_path):
    """Its attributes say what it wrote: (y, x, c)."""
    image = make_image((40, 40, 3), np.uint8, seed=5)
    zarr.save_array(str(tmp_path / "in.zarr"), image)
    argv = ["run", str(tmp_path / "in.zarr"), "-o", str(tmp_path / "a"), "--axes", "yxc"]
    assert main(argv + RUN) == 0
    again = ["run", str(tmp_path / "a" / "filtered.zarr"), "-o", str(tmp_path / "b")]
    assert main(again + RUN) == 0
    assert _filtered(tmp_path / "b").shape == (40, 40, 3)
