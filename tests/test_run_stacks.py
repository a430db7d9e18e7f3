"""``daskfft run`` on stacks (issue #15): volumes filtered in z, y and x, time series frame
by frame, channels alone; Zarr and OME-Zarr in and out, read and written in windows;
resumed and under MPI byte for byte; what it cannot do yet refused in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr
from mpi_helpers import mpi_run, needs_mpi
from reference import make_image
from scipy import ndimage

from daskfft import cutoff_from_sigma, lowpass
from daskfft.cli import main

QUIET = ["--cluster", "threads", "-q"]


def named(path, data, dims, chunks=None):
    """A Zarr array of ``data`` that names its dims."""
    z = zarr.create_array(
        str(path), shape=data.shape, dtype=data.dtype, chunks=chunks or data.shape,
        dimension_names=dims,
    )  # fmt: skip
    z[...] = data
    return path


def ome_zarr(path, data, axes, scale, *, version="0.5", unit="micrometer"):
    """An OME-Zarr image of one level, ``axes`` letters of "tczyx", NGFF ``version``."""
    group = zarr.open_group(str(path), mode="w")
    level = group.create_array("0", shape=data.shape, dtype=data.dtype, chunks=data.shape)
    level[...] = data
    kinds = {"t": {"type": "time"}, "c": {"type": "channel"}}
    space = {"type": "space", "unit": unit}
    multiscales = [
        {
            "axes": [{"name": a, **kinds.get(a, space)} for a in axes],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
            ],
        }
    ]
    if version == "0.5":
        group.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
    else:
        group.attrs["multiscales"] = [{"version": version, **multiscales[0]}]
    return path


def rounded(x, dtype):
    info = np.iinfo(dtype)
    return np.clip(np.rint(x), info.min, info.max)


def read(path):
    return zarr.open_array(str(path), mode="r")


@pytest.mark.parametrize("boundary", ["reflect", "nearest", "7"])
def test_a_volume_is_filtered_in_z_y_and_x_as_scipy_filters_the_whole_volume(tmp_path, boundary):
    volume = make_image((40, 70, 90), np.uint16, seed=1)
    src = named(tmp_path / "v.zarr", volume, ("z", "y", "x"), chunks=(8, 32, 32))
    out = tmp_path / "out"
    argv = ["run", str(src), "-o", str(out), "--sigma", "2", "--chunks", "16", "--boundary"]
    assert main([*argv, boundary, *QUIET]) == 0
    got = read(out / "filtered.zarr")
    assert got.shape == volume.shape and got.dtype == volume.dtype
    assert got.metadata.dimension_names == ("z", "y", "x")
    mode, cval = (boundary, 0.0) if boundary in ("reflect", "nearest") else ("constant", 7.0)
    ref = ndimage.gaussian_filter(volume.astype(float), 2.0, mode=mode, cval=cval, truncate=40)
    assert np.abs(got[...].astype(float) - rounded(ref, np.uint16)).max() <= 1
    report = json.loads((out / "report.json").read_text())
    stack = report["stack"]
    assert stack["axes"] == {"z": 40, "y": 70, "x": 90} and stack["filtered_together"] == list(
        "zyx"
    )
    assert stack["halo_per_axis"] == {"z": 10, "y": 10, "x": 10}
    # y and x: whole chunks of the store (32); z: 16 of its 8-plane chunks.  A last chunk
    # shorter than the halo joins the one before: z 16 + 24, y 32 + 38, x 32 + 32 + 26.
    assert stack["chunk_per_axis"] == {"z": 16, "y": 32, "x": 32}
    assert report["chunks"]["total"] == 2 * 2 * 3 == stack["tasks"]
    assert report["halo"]["expected_max_deviation"] <= 2e-6
    for name in ("overview.png", "spectra.png", "radial_spectrum.png"):
        assert (out / name).stat().st_size > 1000, name


def test_an_ome_zarr_time_series_of_volumes_with_channels_is_filtered_frame_by_frame(tmp_path):
    """(t, c, z, y, x): a point in frame 1 stays in frame 1 and channel 0; the output keeps
    NGFF's axes, units and voxel size."""
    data = np.zeros((3, 2, 12, 40, 36), np.float32)
    data[1, 0, 6, 20, 18] = 1000.0
    data[:, 1] = make_image((3, 12, 40, 36), np.float32, seed=2)
    scale = [1.0, 1.0, 2.0, 0.5, 0.5]
    src = ome_zarr(tmp_path / "in.ome.zarr", data, "tczyx", scale)
    out = tmp_path / "out"
    argv = ["run", str(src), "-o", str(out), "--sigma", "1.5", "--chunks", "16", *QUIET]
    assert main(argv) == 0
    got = read(out / "filtered.ome.zarr" / "0")[...]
    assert got.shape == data.shape
    assert (got[[0, 2], 0] == 0).all()  # nothing leaks across time, nor across channels
    for t in range(3):
        for c in range(2):
            ref = ndimage.gaussian_filter(data[t, c].astype(float), 1.5, truncate=40)
            assert np.abs(got[t, c] - ref).max() <= 1e-5 * np.abs(data).max()
    ome = zarr.open_group(str(out / "filtered.ome.zarr"), mode="r").attrs["ome"]
    (multiscale,) = ome["multiscales"]
    assert [a["name"] for a in multiscale["axes"]] == list("tczyx")
    assert multiscale["axes"][2] == {"name": "z", "type": "space", "unit": "micrometer"}
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == scale
    stack = json.loads((out / "report.json").read_text())["stack"]
    assert stack["each_alone"] == ["t", "c"] and stack["spacing"] == [2.0, 0.5, 0.5, "micrometer"]
    assert stack["pictures_show"] == {"frame": 1, "plane": 6}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ome-zarr-py's own Scaler
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_ome_zarr_py_volume_goes_in_and_out_with_its_voxel_size(tmp_path, version):
    """A (c, z, y, x) image as ome-zarr-py writes it (a pyramid; level 0 is read)."""
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    image = make_image((2, 24, 64, 48), np.uint16, seed=7)
    group = zarr.open_group(
        str(tmp_path / "in.ome.zarr"), mode="w", zarr_format=2 if version == "0.4" else 3
    )
    write_image(
        image,
        group,
        axes="czyx",
        fmt=FormatV04() if version == "0.4" else FormatV05(),
        scale_factors=(2,),
        scale={"c": 1.0, "z": 2.0, "y": 0.4, "x": 0.4},
        axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
    )
    out = tmp_path / "out"
    argv = ["run", str(tmp_path / "in.ome.zarr"), "-o", str(out), "--sigma", "1.5"]
    assert main([*argv, "--chunks", "16", *QUIET]) == 0
    got = read(out / "filtered.ome.zarr" / "0")[...]
    ref = lowpass(image, cutoff_from_sigma(1.5), channel_axis=0).compute()
    assert np.abs(got.astype(float) - rounded(ref, np.uint16)).max() <= 1
    multiscale = zarr.open_group(str(out / "filtered.ome.zarr"), mode="r").attrs["ome"]
    scale = multiscale["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [1.0, 2.0, 0.4, 0.4]


def test_a_time_series_of_images_is_filtered_frame_by_frame_with_any_filter(tmp_path):
    series = make_image((4, 60, 50), np.uint8, seed=3)
    src = ome_zarr(tmp_path / "t.ome.zarr", series, "tyx", [1.0, 1.0, 1.0], version="0.4")
    out = tmp_path / "out"
    argv = ["run", str(src), "-o", str(out), "--filter", "butterworth", "--cutoff", "0.1"]
    assert main([*argv, "--chunks", "32", "--output-format", "zarr", *QUIET]) == 0
    got = read(out / "filtered.zarr")[...]
    for t in range(4):
        ref = lowpass(series[t], 0.1, filter="butterworth").compute()
        assert np.abs(got[t].astype(float) - rounded(ref, np.uint8)).max() <= 1


def test_a_high_pass_of_a_uint16_volume_is_written_around_mid_gray(tmp_path):
    volume = make_image((20, 40, 40), np.uint16, seed=4)
    src = named(tmp_path / "v.zarr", volume, ("z", "y", "x"))
    argv = ["run", str(src), "-o", str(tmp_path / "o"), "--pass", "high", "--sigma", "2"]
    assert main([*argv, "--chunks", "16", *QUIET]) == 0
    got = read(tmp_path / "o" / "filtered.zarr")[...].astype(float)
    low = lowpass(volume, cutoff_from_sigma(2.0), channel_axis=None).compute()
    expected = rounded(volume - low.astype(np.float64) + 32768, np.uint16)
    assert np.abs(got - expected).max() <= 1


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--output-format", "cog"], "is written as Zarr, OME-Zarr or OME-TIFF, not COG"),
        (["--filter", "butterworth"], "the butterworth filter on 3 spatial axes"),
        (["--exact"], "the exact method filters 2-D images"),
        (["--filter", "ideal"], "the ideal filter has no bound"),
        (["--boundary", "periodic"], "--boundary periodic of a stack is not made yet"),
        (["--depth", "2"], "a stack's deviation from a whole-volume filter is not measured yet"),
    ],
)
def test_what_a_stack_cannot_have_yet_is_refused_in_one_line(tmp_path, capsys, options, said):
    src = named(tmp_path / "v.zarr", np.zeros((8, 16, 16), np.uint8), ("z", "y", "x"))
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", str(out), *options, *QUIET]) == 1
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and err.startswith("daskfft: error: "), err
    assert not out.exists() or os.listdir(out) in ([], [".daskfft-work"])


def _killed_halfway(argv, done_dir, total, log):
    """Run ``daskfft`` with ``argv`` in a process group of its own, SIGKILLed once a quarter
    of its ``total`` tasks are done; return how many were."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskfft", *argv],
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            n = len(os.listdir(done_dir)) if done_dir.is_dir() else 0
            if n >= total // 4:
                break
            assert proc.poll() is None, log.name
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    return len(os.listdir(done_dir))


@pytest.mark.slow
def test_a_killed_volume_run_resumes_byte_for_byte(tmp_path):
    volume = make_image((64, 256, 256), np.uint16, seed=5)
    src = named(tmp_path / "v.zarr", volume, ("z", "y", "x"), chunks=(16, 16, 16))
    args = ["--sigma", "1.5", "--chunks", "32", *QUIET]  # 32^3 tasks over 16^3 file chunks
    total = 2 * 8 * 8
    out = tmp_path / "out"
    with open(tmp_path / "run.log", "w") as log:
        argv = ["run", str(src), "-o", str(out), *args]
        done = _killed_halfway(argv, out / ".daskfft-work" / "done", total, log)
    assert 0 < done < total and os.listdir(out) == [".daskfft-work"]
    assert main(["run", str(src), "-o", str(out), "--resume", *args]) == 0
    assert main(["run", str(src), "-o", str(tmp_path / "whole"), *args]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["chunks"]["resumed"] >= done and report["chunks"]["total"] == total
    np.testing.assert_array_equal(
        read(out / "filtered.zarr")[...], read(tmp_path / "whole" / "filtered.zarr")[...]
    )
    for name in ("overview.png", "spectra.png", "radial_spectrum.png"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


@needs_mpi
@pytest.mark.slow
def test_an_mpi_volume_run_equals_the_threaded_one_byte_for_byte(tmp_path):
    volume = make_image((32, 64, 64), np.uint16, seed=6)
    src = named(tmp_path / "v.zarr", volume, ("z", "y", "x"), chunks=(16, 32, 32))
    args = ["run", str(src), "--sigma", "2", "--chunks", "16"]
    assert main([*args, "-o", str(tmp_path / "threads"), *QUIET]) == 0
    proc = mpi_run(3, *args, "-o", str(tmp_path / "mpi"), "--cluster", "mpi", "--no-dashboard")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    np.testing.assert_array_equal(
        read(tmp_path / "mpi" / "filtered.zarr")[...],
        read(tmp_path / "threads" / "filtered.zarr")[...],
    )
    for name in ("overview.png", "spectra.png", "radial_spectrum.png"):
        assert (tmp_path / "mpi" / name).read_bytes() == (tmp_path / "threads" / name).read_bytes()
    assert json.loads((tmp_path / "mpi" / "report.json").read_text())["cluster"]["kind"] == "mpi"


def test_a_sigma_per_axis_and_a_physical_sigma_by_the_files_voxel_size(tmp_path):
    """--sigma Z,Y,X in voxels; --physical-sigma S in the file's unit, by its NGFF scale."""
    volume = make_image((24, 64, 64), np.uint16, seed=8)
    ref = ndimage.gaussian_filter(volume.astype(float), (1.0, 4.0, 4.0), truncate=40)
    src = ome_zarr(tmp_path / "v.ome.zarr", volume, "zyx", [2.0, 0.5, 0.5])
    for name, options in (("px", ["--sigma", "1,4,4"]), ("um", ["--physical-sigma", "2"])):
        out = tmp_path / name
        assert main(["run", str(src), "-o", str(out), *options, "--chunks", "32", *QUIET]) == 0
        got = read(out / "filtered.ome.zarr" / "0")[...].astype(float)
        assert np.abs(got - rounded(ref, np.uint16)).max() <= 1
        report = json.loads((out / "report.json").read_text())
        stack = report["stack"]
        assert stack["sigma_per_axis"] == {"z": 1.0, "y": 4.0, "x": 4.0}
        assert stack["halo_per_axis"]["z"] < stack["halo_per_axis"]["y"] == 20
    assert "sigma 2.0 micrometer is 1, 4, 4 px along z, y, x" in " ".join(report["choices"])
    np.testing.assert_array_equal(
        read(tmp_path / "px" / "filtered.ome.zarr" / "0")[...],
        read(tmp_path / "um" / "filtered.ome.zarr" / "0")[...],
    )


def test_an_image_takes_a_sigma_per_axis_too(tmp_path):
    import tifffile

    image = make_image((120, 100), np.float32, seed=9)
    tifffile.imwrite(tmp_path / "in.tif", image)
    out = tmp_path / "out"
    argv = ["run", str(tmp_path / "in.tif"), "-o", str(out), "--sigma", "1.5,5", "--chunks", "64"]
    assert main([*argv, *QUIET]) == 0
    import tifffile as tf

    got = tf.imread(out / "filtered.tif")
    ref = ndimage.gaussian_filter(image.astype(float), (1.5, 5.0), truncate=40)
    assert np.abs(got - ref).max() <= 2e-6 * np.abs(image).max() + 1e-6 * np.abs(image).max()
    report = json.loads((out / "report.json").read_text())
    assert report["filter"]["sigma_pixels"] == [1.5, 5.0]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--sigma", "1,4"], "2 values per axis for 3 spatial axes (z, y, x)"),
        (["--physical-sigma", "0.2"], "--physical-sigma 0.2 is 0.1, 0.4, 0.4 px along zyx"),
    ],
)
def test_per_axis_values_that_do_not_fit_are_refused(tmp_path, capsys, options, said):
    src = ome_zarr(tmp_path / "v.ome.zarr", np.zeros((8, 16, 16), np.uint8), "zyx", [2, 0.5, 0.5])
    assert main(["run", str(src), "-o", str(tmp_path / "o"), *options, *QUIET]) == 1
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1, err


def test_an_ome_zarr_stack_gets_a_pyramid_halving_y_and_x_plane_by_plane(tmp_path):
    """Levels down to 256 px, each plane of each time point low-passed and halved as an
    image's level is (daskfft.api.pyramid.overview); z and t kept, NGFF scale and translation
    per level."""
    import dask.array as da

    from daskfft.api.pyramid import overview

    data = make_image((2, 3, 600, 520), np.uint8, seed=11)
    src = ome_zarr(tmp_path / "p.ome.zarr", data, "tzyx", [1.0, 2.0, 0.5, 0.5])
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", str(out), "--sigma", "1.5", *QUIET]) == 0
    group = zarr.open_group(str(out / "filtered.ome.zarr"), mode="r")
    (multiscale,) = group.attrs["ome"]["multiscales"]
    shapes = [group[d["path"]].shape for d in multiscale["datasets"]]
    assert shapes == [(2, 3, 600, 520), (2, 3, 300, 260), (2, 3, 150, 130)]
    moves = multiscale["datasets"][2]["coordinateTransformations"]
    assert moves == [
        {"type": "scale", "scale": [1.0, 2.0, 2.0, 2.0]},
        {"type": "translation", "translation": [0.0, 0.0, 0.75, 0.75]},
    ]
    above = group["0"][...]
    for k in (1, 2):
        level = group[str(k)][...]
        for t, z in ((0, 0), (1, 2)):
            plane = overview(da.from_array(above[t, z], chunks=1024)).compute()
            assert np.abs(level[t, z].astype(float) - rounded(plane, np.uint8)).max() <= 1
        above = level
    report = json.loads((out / "report.json").read_text())
    assert report["pyramid"]["levels"] == [[600, 520], [300, 260], [150, 130]]


def test_a_volume_chunks_power_for_the_picture_is_in_sphericalshells():
    """A plane wave of |k| = 0.3 cycles/voxel (not along an axis) peaks in the shell of 0.3,
    and a hole (nodata) does not move it."""
    from daskfft.kernels.spec import FilterSpec
    from daskfft.kernels.spectra import RADIAL_EDGES_3D
    from daskfft.kernels.transfer import cutoff_from_sigma, transfer_function
    from daskfft.run.cells import shells

    z, y, x = np.meshgrid(*(np.arange(64.0),) * 3, indexing="ij")
    k = np.array([8, 12, 11]) / 64  # |k| = 0.2867
    wave = (100 + 50 * np.cos(2 * np.pi * (k[0] * z + k[1] * y + k[2] * x))).astype(np.float32)
    cutoff = cutoff_from_sigma((0.5, 0.7, 0.7))
    sums, filtered, counts = shells(wave, FilterSpec(cutoff=cutoff))
    peak = int(np.argmax(sums / np.maximum(counts, 1)))
    assert RADIAL_EDGES_3D[peak] <= np.linalg.norm(k) < RADIAL_EDGES_3D[peak + 1]
    # the filtered power: the input's times |H|**2, H at the wave's frequency
    h = transfer_function((64, 64, 64), cutoff)[8, 12, 11]
    assert 0.05 < h < 0.95
    assert filtered[peak] == pytest.approx(sums[peak] * h * h, rel=0.02)
    wave[30:34, 30:34, 30:34] = -1
    holed, _, _ = shells(wave, FilterSpec(cutoff=cutoff, nodata=-1.0))
    assert int(np.argmax(holed / np.maximum(counts, 1))) == peak


def test_a_time_series_shows_a_few_frames_a_row_each(tmp_path):
    """frames.png: up to 4 time points, first to last, each frame's middle plane."""
    from PIL import Image

    series = make_image((7, 3, 120, 100), np.uint8, seed=12)
    src = ome_zarr(tmp_path / "ts.ome.zarr", series, "tzyx", [1.0, 2.0, 0.5, 0.5])
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", str(out), "--sigma", "1.5", *QUIET]) == 0
    with Image.open(out / "frames.png") as picture:
        assert picture.size == (1500, 75 + 4 * 465)  # time points 0, 2, 4 and 6
    report = json.loads((out / "report.json").read_text())
    assert "frames.png" in report["outputs"]
    lean = tmp_path / "lean"
    assert main(["run", str(src), "-o", str(lean), "--sigma", "1.5", "--no-plots", *QUIET]) == 0
    assert not (lean / "frames.png").exists()


def test_y_and_x_take_their_own_halos_when_their_sigmas_differ(tmp_path):
    """--sigma 1,4,1: rows need a 20-voxel halo, columns 5; with x's halo on rows too, every
    row of chunk edges was 3.5e-2 off (found in review)."""
    volume = make_image((12, 60, 36), np.float32, seed=13)
    src = named(tmp_path / "v.zarr", volume, ("z", "y", "x"), chunks=(4, 8, 8))
    out = tmp_path / "out"
    argv = ["run", str(src), "-o", str(out), "--sigma", "1,4,1", "--chunks", "16", *QUIET]
    assert main(argv) == 0
    got = read(out / "filtered.zarr")[...]
    ref = ndimage.gaussian_filter(volume.astype(float), (1.0, 4.0, 1.0), truncate=40)
    assert np.abs(got - ref).max() <= 3e-6 * np.abs(volume).max()
    stack = json.loads((out / "report.json").read_text())["stack"]
    assert stack["halo_per_axis"]["y"] > stack["halo_per_axis"]["x"]
    assert stack["chunk_per_axis"]["y"] < 60  # several chunks along y: their edges matter


def test_an_ome_zarr_z_step_in_another_unit_is_converted_to_xs(tmp_path):
    """NGFF gives each axis its unit: a z step of 2 micrometer with x in nanometer is 2000."""
    volume = make_image((8, 40, 40), np.uint16, seed=14)
    src = ome_zarr(tmp_path / "u.ome.zarr", volume, "zyx", [2.0, 500.0, 500.0], unit="nanometer")
    ome = zarr.open_group(str(src), mode="r+")
    attrs = ome.attrs["ome"]
    attrs["multiscales"][0]["axes"][0]["unit"] = "micrometer"
    ome.attrs["ome"] = attrs
    out = tmp_path / "out"
    argv = ["run", str(src), "-o", str(out), "--physical-sigma", "2000", *QUIET]
    assert main(argv) == 0
    stack = json.loads((out / "report.json").read_text())["stack"]
    assert stack["spacing"] == [2000.0, 500.0, 500.0, "nanometer"]
    assert stack["sigma_per_axis"] == {"z": 1.0, "y": 4.0, "x": 4.0}


def test_a_physical_sigma_of_a_stack_with_no_z_step_is_refused_in_one_line(tmp_path, capsys):
    import tifffile

    volume = np.zeros((6, 32, 32), np.uint8)
    path = tmp_path / "s.tif"  # an ImageJ hyperstack with a pixel size and no z spacing
    tifffile.imwrite(path, volume, imagej=True, resolution=(2.0, 2.0), metadata={"axes": "ZYX"})
    assert main(["run", str(path), "-o", str(tmp_path / "o"), "--physical-sigma", "2", *QUIET]) == 1
    err = capsys.readouterr().err
    assert "--physical-sigma needs the file's pixel (voxel) size" in err and err.count("\n") == 1


def test_a_stacks_task_gives_the_heap_back_only_past_its_slack(monkeypatch):
    """Trimmed after every task, the next one faulted its buffers in again a page at a time;
    never trimmed, freed fragments grew the process with the chunks done."""
    from daskfft.run import heap

    class Libc:
        free, trims = 0, 0

        def mallinfo2(self):
            return type("info", (), {"fordblks": self.free})()

        def malloc_trim(self, pad):
            self.trims += 1

    real = heap._libc()
    if real is not None:  # glibc: its mallinfo2 is typed
        assert real.mallinfo2().arena > 0
    libc = Libc()
    monkeypatch.setattr(heap, "_libc", lambda: libc)
    libc.free = heap.HEAP_SLACK
    heap.trim_heap()
    assert libc.trims == 0
    libc.free = heap.HEAP_SLACK + 1
    heap.trim_heap()
    assert libc.trims == 1


@pytest.mark.parametrize("compress", ["NONE", "DEFLATE"])
def test_a_stack_written_as_tiff_is_an_ome_tiff_of_its_axes_voxel_size_and_data(tmp_path, compress):
    """(t, c, z, y, x) in, an OME-TIFF out: a tiled page per time point, channel and plane,
    OME-XML naming the axes and voxel size, the same numbers as the Zarr output."""
    import tifffile

    data = make_image((2, 2, 9, 40, 36), np.uint16, seed=21)
    src = ome_zarr(tmp_path / "in.ome.zarr", data, "tczyx", [1.0, 1.0, 2.0, 0.5, 0.5])
    common = ["--sigma", "1,2,2", "--chunks", "16", *QUIET]
    tif_out, zarr_out = tmp_path / "tif", tmp_path / "zarr"
    argv = ["run", str(src), "-o", str(tif_out), "--output-format", "tiff"]
    assert main([*argv, "--co", f"COMPRESS={compress}", "--co", "BLOCKSIZE=16", *common]) == 0
    assert main(["run", str(src), "-o", str(zarr_out), "--output-format", "zarr", *common]) == 0
    path = tif_out / "filtered.ome.tif"
    report = json.loads((tif_out / "report.json").read_text())
    assert report["outputs"][0] == "filtered.ome.tif"
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and tif.is_bigtiff
        series = tif.series[0]
        assert series.axes == "TCZYX" and series.shape == data.shape
        assert len(tif.pages) == 2 * 2 * 9
        page = tif.pages[0]
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (16, 16)
        assert page.compression == (1 if compress == "NONE" else 8)  # none, deflate
        xml = tif.ome_metadata
        got = series.asarray()
    for said in ('PhysicalSizeZ="2.0"', 'PhysicalSizeX="0.5"', 'PhysicalSizeXUnit="µm"'):
        assert said in xml
    np.testing.assert_array_equal(got, read(zarr_out / "filtered.zarr")[...])
    # daskfft reads it back as the stack it is
    again = tmp_path / "again"
    assert main(["run", str(path), "-o", str(again), "--sigma", "1", *QUIET]) == 0
    stack = json.loads((again / "report.json").read_text())["stack"]
    first = json.loads((zarr_out / "report.json").read_text())["stack"]
    assert stack["axes"] == first["axes"] and stack["channels"] == first["channels"] == 2
    assert stack["spacing"] == [2.0, 0.5, 0.5, "micrometer"]


@pytest.mark.parametrize("mode", ["divide", "subtract"])
def test_a_volumes_flat_field_brings_it_to_its_mean_as_scipy_and_the_api_do(tmp_path, mode):
    """--flatfield of a volume: a scipy Gaussian of the whole volume as the background,
    the volume's data mean as the level; the same as daskfft.flatfield of the array."""
    from daskfft import flatfield

    z, y, x = np.meshgrid(np.arange(12.0), np.arange(40.0), np.arange(36.0), indexing="ij")
    light = 1.0 + 0.5 * np.sin(x / 20) * np.cos(y / 25) + 0.02 * z  # smooth illumination
    texture = make_image((12, 40, 36), np.uint8, seed=22).astype(np.float64)
    volume = (40 + texture * 0.6 * light).astype(np.float32)
    src = named(tmp_path / "v.zarr", volume, ("z", "y", "x"))
    out = tmp_path / "out"
    argv = ["run", str(src), "-o", str(out), "--flatfield", mode, "--sigma", "3", "--chunks", "16"]
    assert main([*argv, *QUIET]) == 0
    got = read(out / "filtered.zarr")[...]
    v = volume.astype(np.float64)
    background = ndimage.gaussian_filter(v, 3.0, mode="reflect", truncate=12)
    want = v / background * v.mean() if mode == "divide" else v - background + v.mean()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    api = flatfield(volume, cutoff_from_sigma(3.0), mode=mode, channel_axis=None).compute()
    assert np.abs(got - api).max() <= 1e-4 * np.abs(want).max()


def test_a_time_series_flat_field_brings_each_time_point_to_its_own_mean(tmp_path):
    series = make_image((3, 32, 30), np.uint8, seed=23).astype(np.float32)
    series *= np.array([1.0, 1.5, 0.7], np.float32)[:, None, None]  # bleaching, recovery
    src = named(tmp_path / "t.zarr", series, ("t", "y", "x"))
    out = tmp_path / "out"
    argv = ["run", str(src), "-o", str(out), "--flatfield", "subtract", "--sigma", "4"]
    assert main([*argv, "--chunks", "16", *QUIET]) == 0
    got = read(out / "filtered.zarr")[...]
    means = json.loads((out / "report.json").read_text())["filter"]["flatfield_mean"]
    assert np.allclose(np.ravel(means), series.mean(axis=(1, 2)))
    for t in range(3):
        v = series[t].astype(np.float64)
        want = v - ndimage.gaussian_filter(v, 4.0, mode="reflect", truncate=12) + v.mean()
        assert np.abs(got[t] - want).max() <= 1e-4 * np.abs(want).max()


def test_a_volume_of_cubic_voxels_gets_a_pyramid_halving_z_too(tmp_path, monkeypatch, capsys):
    """Voxels 0.5 um on every axis: each level halves z with y and x, in blocks of planes
    whose seams (made small here) leave no trace: level k is the whole-volume definition
    (NumPy FFT of the separable Butterworth, shifted by half a voxel) of level k - 1; NGFF
    scale and translation on z as on y and x; the log says why."""
    from reference import reference_volume_overview

    from daskfft.run import levels

    monkeypatch.setattr(levels, "VOLUME_BLOCK", (3, 96))
    data = make_image((13, 300, 520), np.uint16, seed=4)
    src = ome_zarr(tmp_path / "v.ome.zarr", data, "zyx", [0.5, 0.5, 0.5])
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", str(out), "--sigma", "1", "--cluster", "threads"]) == 0
    err = capsys.readouterr().err
    assert "halve z with y and x: the voxels are cubes (0.5 micrometer on each axis)" in err
    assert "planes per level: 13, 7, 4" in err
    group = zarr.open_group(str(out / "filtered.ome.zarr"), mode="r")
    (multiscale,) = group.attrs["ome"]["multiscales"]
    shapes = [group[d["path"]].shape for d in multiscale["datasets"]]
    assert shapes == [(13, 300, 520), (7, 150, 260), (4, 75, 130)]
    assert multiscale["datasets"][2]["coordinateTransformations"] == [
        {"type": "scale", "scale": [2.0, 2.0, 2.0]},
        {"type": "translation", "translation": [0.75, 0.75, 0.75]},
    ]
    above = group["0"][...]
    for k in (1, 2):
        level = group[str(k)][...]
        want = rounded(reference_volume_overview(above, pad=64), np.uint16)
        assert np.abs(level.astype(float) - want).max() <= 1
        above = level
    report = json.loads((out / "report.json").read_text())
    assert report["pyramid"]["planes"] == [13, 7, 4]


def test_an_anisotropic_volume_log_says_why_its_levels_keep_z(tmp_path, capsys):
    data = make_image((3, 300, 260), np.uint8, seed=2)
    src = ome_zarr(tmp_path / "v.ome.zarr", data, "zyx", [2.0, 0.5, 0.5])
    assert main(["run", str(src), "-o", str(tmp_path / "o"), "--cluster", "threads"]) == 0
    said = "halve y and x only, every plane kept, as viewers expect: the voxels are not cubes"
    assert f"{said} (z, y, x: 2, 0.5, 0.5 micrometer)" in capsys.readouterr().err
    level = zarr.open_group(str(tmp_path / "o" / "filtered.ome.zarr"), mode="r")["1"]
    assert level.shape == (3, 150, 130)


def test_a_volumes_levels_are_made_a_block_of_planes_a_task(tmp_path, monkeypatch):
    """Each overview task of an anisotropic volume reads the window of 32 planes at once (a
    level-0 chunk holds many planes: a task per plane decompressed each chunk once per
    plane); the levels keep one plane a chunk, as viewers browse them."""
    from daskfft.io.zarr import StackStore
    from daskfft.run import levels

    reads, read = [], StackStore.read

    def counted(self, rows, cols, *, frame=None, planes=None):
        reads.append(planes)
        return read(self, rows, cols, frame=frame, planes=planes)

    monkeypatch.setattr(StackStore, "read", counted)
    data = make_image((70, 600, 520), np.uint8, seed=6)
    src = ome_zarr(tmp_path / "v.ome.zarr", data, "zyx", [2.0, 0.5, 0.5])
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", str(out), "--sigma", "1", *QUIET]) == 0
    windows = [p for p in reads if p is not None]
    blocks = -(-70 // levels.PLANES_BLOCK)  # per level, each level one y-x block here
    assert sorted(windows) == sorted([(z, min(70, z + 32)) for z in range(0, 70, 32)] * 2)
    assert len(windows) == 2 * blocks
    group = zarr.open_group(str(out / "filtered.ome.zarr"), mode="r")
    assert group["1"].chunks == (1, 300, 260) and group["2"].chunks == (1, 150, 130)


@pytest.mark.slow  # 20 s: its whole-volume references
def test_a_time_series_of_cubic_volumes_halves_z_until_one_plane_is_left(tmp_path):
    """(t, z, y, x) with cubic voxels: each time point's levels halve z with y and x until
    one plane is left, then y and x alone; NGFF's z scale and translation follow the times z
    was halved, not the level's number."""
    from reference import reference_volume_overview

    data = make_image((2, 3, 1100, 600), np.uint8, seed=8)
    src = ome_zarr(tmp_path / "v.ome.zarr", data, "tzyx", [1.0, 0.5, 0.5, 0.5])
    out = tmp_path / "out"
    assert main(["run", str(src), "-o", str(out), "--sigma", "1", *QUIET]) == 0
    group = zarr.open_group(str(out / "filtered.ome.zarr"), mode="r")
    (multiscale,) = group.attrs["ome"]["multiscales"]
    shapes = [group[d["path"]].shape for d in multiscale["datasets"]]
    assert shapes == [(2, 3, 1100, 600), (2, 2, 550, 300), (2, 1, 275, 150), (2, 1, 138, 75)]
    assert multiscale["datasets"][3]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 2.0, 4.0, 4.0]},  # z halved twice, y and x 3 times
        {"type": "translation", "translation": [0.0, 0.75, 1.75, 1.75]},
    ]
    for t in (0, 1):
        want = rounded(reference_volume_overview(group["0"][t], pad=64), np.uint8)
        assert np.abs(group["1"][t].astype(float) - want).max() <= 1, t
