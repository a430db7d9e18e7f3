import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from dask.system import CPU_COUNT
from reference import make_image, reference_lowpass

from daskfft import cutoff_from_sigma, halo_depth, lowpass
from daskfft.cli import main
from daskfft.cluster.kinds import ClusterSpec, open_cluster

FAST = ["--cluster", "threads", "-q"]


def _run(args, capsys):
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _snapshot(path):
    path = Path(path)
    if not path.exists():
        return None
    if path.is_file():
        return ("file", path.read_bytes())
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*"))


@pytest.fixture
def rgb_png(tmp_path):
    path = tmp_path / "city.png"
    iio.imwrite(path, make_image((150, 170, 3), np.uint8, seed=1))
    return path


def test_run_png_writes_filtered_image_atlas_and_report(tmp_path, rgb_png, capsys):
    out = tmp_path / "out"
    rc, stdout, err = _run(
        ["run", str(rgb_png), "-o", str(out), "--chunks", "64", "--cutoff", "0.08", *FAST], capsys
    )
    assert rc == 0, err
    assert sorted(os.listdir(out)) == [
        "filtered.png",
        "overview.png",
        "radial_spectrum.png",
        "report.html",
        "report.json",
        "spectra.png",
    ]
    image = iio.imread(rgb_png)
    filtered = iio.imread(out / "filtered.png")
    assert filtered.shape == image.shape and filtered.dtype == np.uint8
    ref = reference_lowpass(image, 0.08, pad=200)
    assert np.abs(filtered.astype(float) - np.clip(np.rint(ref), 0, 255)).max() <= 1
    atlas = iio.imread(out / "spectra.png")
    assert atlas.shape[0] > 300 and atlas.shape[1] > 300 and atlas.std() > 0
    report = json.loads((out / "report.json").read_text())
    assert report["halo"]["depth"] == halo_depth(0.08)
    assert report["halo"]["expected_max_deviation"] <= 2e-6
    assert report["chunks"]["grid"] == [3, 3]
    assert report["filter"]["cutoff_cycles_per_pixel"] == 0.08
    assert report["input"]["shape"] == [150, 170, 3]
    assert report["megapixels_per_second"] > 0
    assert {"dask", "distributed", "numpy", "ducc0"} <= set(report["versions"])
    assert set(report["seconds"]) >= {"plan", "compute", "write", "total", "startup", "work"}
    assert "imports" not in report["seconds"]  # called in-process: not this run's imports


def test_float_tiff_round_trip_keeps_dtype_and_values(tmp_path, capsys):
    image = make_image((90, 70), np.float32, seed=4)
    tifffile.imwrite(tmp_path / "in.tif", image)
    rc, _, err = _run(
        [
            "run",
            str(tmp_path / "in.tif"),
            "-o",
            str(tmp_path / "o"),
            "--chunks",
            "32",
            "--filter",
            "butterworth",
            "--cutoff",
            "0.1",
            "--boundary",
            "periodic",
            "--spectra",
            "none",
            *FAST,
        ],
        capsys,
    )
    assert rc == 0, err
    out = tifffile.imread(tmp_path / "o" / "filtered.tif")
    assert out.dtype == np.float32 and out.shape == image.shape
    ref = reference_lowpass(image, 0.1, filter="butterworth", boundary="periodic", pad=300)
    assert np.abs(out - ref).max() <= 2e-5 * np.abs(image).max()
    assert sorted(os.listdir(tmp_path / "o")) == [
        "filtered.tif",
        "overview.png",
        "radial_spectrum.png",
        "report.html",
        "report.json",
    ]


def test_uint16_tiff_is_rounded_and_clipped(tmp_path, capsys):
    image = make_image((40, 40), np.uint16, seed=5)
    tifffile.imwrite(tmp_path / "in.tiff", image)
    rc, _, err = _run(
        ["run", str(tmp_path / "in.tiff"), "-o", str(tmp_path / "o"), "--sigma", "1.5", *FAST],
        capsys,
    )
    assert rc == 0, err
    out = tifffile.imread(tmp_path / "o" / "filtered.tif")
    expected = lowpass(image.astype(np.float64), cutoff_from_sigma(1.5)).compute()  # float64
    levels = np.clip(np.rint(expected), 0, 65535)
    # Filtered in float32 (16-bit input): off by one level only where float64 lands within
    # float32's rounding (about 0.004 of a level here) of a half level.
    off = out.astype(float) - levels
    assert np.abs(off).max() <= 1
    near_half = np.abs(expected - np.floor(expected) - 0.5) < 0.01
    assert not (off != 0)[~near_half].any()
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["precision"]["dtype"] == "float32" and "16-bit" in report["precision"]["why"]


def test_alpha_channel_passes_through(tmp_path, capsys):
    rgba = make_image((60, 50, 4), np.uint8, seed=6)
    iio.imwrite(tmp_path / "a.png", rgba)
    rc, _, err = _run(["run", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), *FAST], capsys)
    assert rc == 0, err
    out = iio.imread(tmp_path / "o" / "filtered.png")
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    assert not np.array_equal(out[..., :3], rgba[..., :3])


def test_spectra_chunks_writes_one_png_per_chunk(tmp_path, rgb_png, capsys):
    rc, _, err = _run(
        [
            "run",
            str(rgb_png),
            "-o",
            str(tmp_path / "o"),
            "--chunks",
            "100",
            "--spectra",
            "all",
            *FAST,
        ],
        capsys,
    )
    assert rc == 0, err
    tiles = sorted(os.listdir(tmp_path / "o" / "spectra"))
    assert tiles == [
        "spectrum_r000_c000.png",
        "spectrum_r000_c001.png",
        "spectrum_r001_c000.png",
        "spectrum_r001_c001.png",
    ]
    assert iio.imread(tmp_path / "o" / "spectra" / tiles[-1]).shape == (50, 70)
    assert (tmp_path / "o" / "spectra.png").exists()


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (7, 300)])
def test_tiny_images_and_images_smaller_than_a_chunk(tmp_path, shape, capsys):
    image = make_image(shape, np.uint8)
    iio.imwrite(tmp_path / "t.png", image)
    rc, _, err = _run(["run", str(tmp_path / "t.png"), "-o", str(tmp_path / "o"), *FAST], capsys)
    assert rc == 0, err
    assert iio.imread(tmp_path / "o" / "filtered.png").shape == shape


def test_overwrite_replaces_outputs(tmp_path, rgb_png, capsys):
    args = ["run", str(rgb_png), "-o", str(tmp_path / "o"), "--spectra", "all", *FAST]
    assert _run(args, capsys)[0] == 0
    (tmp_path / "o" / "keep.txt").write_text("mine")
    assert _run(args + ["--overwrite", "--cutoff", "0.2"], capsys)[0] == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["filter"]["cutoff_cycles_per_pixel"] == 0.2
    assert (tmp_path / "o" / "keep.txt").read_text() == "mine"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".daskfft-partial")]


@pytest.mark.slow
def test_sample_on_a_local_cluster(tmp_path, capsys):
    rc, stdout, err = _run(
        [
            "run",
            "--sample",
            "300",
            "-o",
            str(tmp_path / "o"),
            "--chunks",
            "128",
            "--workers",
            "2",
            "--threads-per-worker",
            "1",
            "--no-dashboard",
            "--cluster",
            "local",
        ],
        capsys,
    )
    assert rc == 0, err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["cluster"]["kind"] == "local" and report["cluster"]["workers"] == 2
    filtered = iio.imread(tmp_path / "o" / "filtered.png")
    sample = iio.imread(tmp_path / "o" / "sample.png")
    ref = np.clip(np.rint(reference_lowpass(sample, 0.05, pad=64)), 0, 255)
    assert np.abs(filtered - ref).max() <= 1
    assert "halo 16 px" in err and "wrote" in err


def test_sample_command_writes_png_and_tiff(tmp_path, capsys):
    assert _run(["sample", "-o", str(tmp_path / "s.png"), "--size", "200"], capsys)[0] == 0
    assert _run(["sample", "-o", str(tmp_path / "s.tif"), "--size", "200"], capsys)[0] == 0
    np.testing.assert_array_equal(
        iio.imread(tmp_path / "s.png"), tifffile.imread(tmp_path / "s.tif")
    )
    rc, _, err = _run(["sample", "-o", str(tmp_path / "s.png"), "--size", "20"], capsys)
    assert rc == 1 and "already exists" in err


def _patch_tag(path, name, value, fmt):
    """Overwrite the value of one tag of a TIFF's first page in place (a damaged file)."""
    import struct

    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags[name].valueoffset
    data = bytearray(path.read_bytes())
    data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(data))


def _bad_inputs(tmp):
    """name -> (argv after 'run', expected message, expected exit code)."""
    png = tmp / "ok.png"
    iio.imwrite(png, make_image((40, 40), np.uint8))
    (tmp / "dir.png").mkdir()
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "text.png").write_text("this is not a picture\n")
    big = tmp / "big.png"
    iio.imwrite(big, make_image((300, 300, 3), np.uint8))
    data = big.read_bytes()
    (tmp / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp / "image.bmp").write_bytes(data)
    tifffile.imwrite(tmp / "line.tif", np.arange(10, dtype=np.float32))
    tifffile.imwrite(tmp / "cube.tif", np.zeros((2, 3, 4, 5), np.uint8), photometric="minisblack")
    nan = make_image((20, 20), np.float32)
    nan[3, 4] = np.nan
    tifffile.imwrite(tmp / "nan.tif", nan)
    inf = make_image((20, 20), np.float32)
    inf[0, 0] = np.inf
    tifffile.imwrite(tmp / "inf.tif", inf)
    tiled = tmp / "tiled.tif"
    tifffile.imwrite(tiled, make_image((300, 300), np.uint8), tile=(64, 64))
    data = tiled.read_bytes()
    (tmp / "cut.tif").write_bytes(data[: len(data) // 2])
    tifffile.imwrite(tmp / "liar.tif", np.zeros((16, 16), np.uint8), rowsperstrip=16)
    _patch_tag(tmp / "liar.tif", "ImageWidth", 100000, "<I")  # 512 bytes claiming 100000^2
    _patch_tag(tmp / "liar.tif", "ImageLength", 100000, "<I")
    tifffile.imwrite(tmp / "codec.tif", np.zeros((16, 16), np.uint8))
    _patch_tag(tmp / "codec.tif", "Compression", 12345, "<H")
    tifffile.imwrite(tmp / "white.tif", np.zeros((16, 16), np.uint8), photometric="miniswhite")
    tifffile.imwrite(tmp / "cmyk.tif", np.zeros((16, 16, 4), np.uint8), photometric="separated")
    (tmp / "afile").write_text("x")
    (tmp / "full").mkdir()
    (tmp / "full" / "filtered.png").write_bytes(b"old")
    p = str(png)
    return {
        "missing": ([str(tmp / "nope.png")], "no such file", 1),
        "directory": ([str(tmp / "dir.png")], "is a directory", 1),
        "empty": ([str(tmp / "empty.png")], "file is empty", 1),
        "text-as-png": ([str(tmp / "text.png")], "not a readable PNG", 1),
        "truncated": ([str(tmp / "truncated.png")], "cannot decode", 1),
        "unsupported": ([str(tmp / "image.bmp")], "unsupported format '.bmp'", 1),
        "1-d": ([str(tmp / "line.tif")], "must be 2-D", 1),
        "4-d": ([str(tmp / "cube.tif")], "(axes QQYX, shape (2, 3, 4, 5)) whose file", 1),
        "tiff-truncated": ([str(tmp / "cut.tif")], "truncated: tile 12 of 25 ends at byte", 1),
        "tiff-lying-header": (
            [str(tmp / "liar.tif")],
            "damaged header: 100000 x 100000 px needs 6250 strips, the file lists 1",
            1,
        ),
        "tiff-unknown-compression": (
            [str(tmp / "codec.tif")],
            "compression 12345 has no decoder",
            1,
        ),
        "tiff-miniswhite": ([str(tmp / "white.tif")], "photometric MinIsWhite (0 is white)", 1),
        "tiff-cmyk": ([str(tmp / "cmyk.tif")], "photometric CMYK (separated)", 1),
        "nan": ([str(tmp / "nan.tif")], "1 pixels are NaN or infinite", 1),
        "inf": ([str(tmp / "inf.tif")], "NaN or infinite", 1),
        "cutoff-zero": ([p, "--cutoff", "0"], "--cutoff: must be in (0, 0.5]", 2),
        "cutoff-negative": ([p, "--cutoff=-0.1"], "--cutoff: must be in (0, 0.5]", 2),
        "cutoff-high": ([p, "--cutoff", "0.7"], "got 0.7", 2),
        "cutoff-nan": ([p, "--cutoff", "nan"], "got nan", 2),
        "sigma-zero": ([p, "--sigma", "0"], "--sigma: must be a positive number", 2),
        "sigma-negative": ([p, "--sigma=-2"], "--sigma", 2),
        "sigma-tiny": ([p, "--sigma", "0.1"], "--sigma: must be >= 1/pi", 2),
        "sigma-not-gaussian": ([p, "--sigma", "3", "--filter", "ideal"], "gaussian filter only", 2),
        "band-one-sigma": ([p, "--pass", "band", "--sigma", "3"], "needs two values of `sigma`", 2),
        "band-no-cutoff": ([p, "--pass", "band"], "a band-pass needs two cutoffs", 2),
        "band-equal": (
            [p, "--pass", "band", "--cutoff", "0.1,0.1"],
            "lower cutoff must be below its upper one",
            2,
        ),
        "band-bad-edge": ([p, "--pass", "band", "--cutoff", "0.1,0.9"], "--cutoff: must be in", 2),
        "high-three-cutoffs": (  # one per axis: an image has two
            [p, "--pass", "high", "--cutoff", "0.1,0.2,0.3"],
            "3 values per axis for 2 spatial axes (y, x)",
            1,
        ),
        "four-sigmas": (
            [p, "--pass", "high", "--sigma", "2,8,3,4"],
            "expected one sigma, one per spatial axis (Y,X or Z,Y,X), or a band-pass's two",
            2,
        ),
        "band-three-cutoffs": (
            [p, "--pass", "band", "--cutoff", "0.1,0.2,0.3"],
            "a band-pass needs two values of `cutoff`, got 3",
            2,
        ),
        "physical-sigma-no-pixel-size": (
            [p, "--physical-sigma", "2"],
            "--physical-sigma needs the file's pixel (voxel) size, and it gives none",
            1,
        ),
        "physical-sigma-band": (
            [p, "--physical-sigma", "2", "--pass", "band"],
            "--physical-sigma is a Gaussian low- or high-pass's",
            2,
        ),
        "flatfield-high": (
            [p, "--flatfield", "divide", "--pass", "high"],
            "a flat-field correction divides by (or subtracts) a low-pass",
            2,
        ),
        "flatfield-mode": ([p, "--flatfield", "multiply"], "--flatfield: invalid choice", 2),
        "pass-unknown": ([p, "--pass", "notch"], "--pass: invalid choice: 'notch'", 2),
        "chunks-zero": ([p, "--chunks", "0"], "--chunks: must be an integer >= 1", 2),
        "chunks-negative": ([p, "--chunks=-4"], "--chunks", 2),
        "depth-negative": ([p, "--depth=-1"], "--depth", 2),
        "tol": ([p, "--tol", "2"], "--tol: must be in [1e-10, 0.5), got 2.0", 2),
        "tol-zero": ([p, "--tol", "0"], "--tol: must be in [1e-10, 0.5)", 2),
        "tol-text": ([p, "--tol", "small"], "--tol: expected a tolerance, got 'small'", 2),
        "order-zero": ([p, "--filter", "butterworth", "--order", "0"], "--order: must be", 2),
        "boundary": ([p, "--boundary", "mirror"], "--boundary: expected a boundary", 2),
        "timeout-zero": ([p, "--connect-timeout", "0"], "--connect-timeout: must be a positive", 2),
        "outdir-is-file": ([p, "-o", str(tmp / "afile")], "exists and is not a directory", 1),
        "outdir-under-file": ([p, "-o", str(tmp / "afile" / "sub")], "is a file", 1),
        "outputs-exist": ([p, "-o", str(tmp / "full")], "filtered.png already there", 1),
    }


CASES = [
    "missing",
    "directory",
    "empty",
    "text-as-png",
    "truncated",
    "unsupported",
    "1-d",
    "4-d",
    "tiff-truncated",
    "tiff-lying-header",
    "tiff-unknown-compression",
    "tiff-miniswhite",
    "tiff-cmyk",
    "nan",
    "inf",
    "cutoff-zero",
    "cutoff-negative",
    "cutoff-high",
    "cutoff-nan",
    "sigma-zero",
    "sigma-negative",
    "sigma-tiny",
    "sigma-not-gaussian",
    "band-one-sigma",
    "band-no-cutoff",
    "band-equal",
    "band-bad-edge",
    "high-three-cutoffs",
    "four-sigmas",
    "band-three-cutoffs",
    "physical-sigma-no-pixel-size",
    "physical-sigma-band",
    "flatfield-high",
    "flatfield-mode",
    "pass-unknown",
    "chunks-zero",
    "chunks-negative",
    "depth-negative",
    "tol",
    "tol-zero",
    "tol-text",
    "order-zero",
    "boundary",
    "timeout-zero",
    "outdir-is-file",
    "outdir-under-file",
    "outputs-exist",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_nonzero_and_nothing_written(tmp_path, case, capsys):
    cases = _bad_inputs(tmp_path)
    argv, message, code = cases[case]
    if "-o" not in argv:
        argv = argv + ["-o", str(tmp_path / "out")]
    outdir = argv[argv.index("-o") + 1]
    before = _snapshot(outdir), sorted(os.listdir(tmp_path))
    with pytest.raises(SystemExit) if code == 2 else _nullcontext() as exit_info:
        rc = main(["run", *argv, "--cluster", "threads"])
    rc = exit_info.value.code if code == 2 else rc
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert rc == code
    assert len(errors) == 1 and message in errors[0], err
    if case.startswith("tiff-"):  # found by the probe: nothing else is said (no reader warnings)
        assert len(lines) == 1, err
    assert "Traceback" not in err
    assert (_snapshot(outdir), sorted(os.listdir(tmp_path))) == before


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_every_bad_input_case_is_tested(tmp_path):
    assert sorted(_bad_inputs(tmp_path)) == sorted(CASES)


def test_unwritable_outdir(tmp_path, capsys, rgb_png):
    if os.geteuid() == 0:
        target = "/proc/daskfft-out"  # not creatable, even by root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        target = str(locked / "out")
    rc, _, err = _run(["run", str(rgb_png), "-o", target, *FAST], capsys)
    assert rc == 1 and ("not writable" in err or "cannot create" in err), err
    assert not os.path.exists(target)


def test_unknown_cluster_kind_is_a_usage_error(tmp_path, rgb_png, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(rgb_png), "-o", str(tmp_path / "o"), "--cluster", "mpl"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "`cluster` must be one of auto, local, processes, threads, mpi" in err
    )
    assert not (tmp_path / "o").exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        main(["run", str(tmp_path / "nope.png"), "--debug", "--cluster", "threads"])


def test_help_teaches(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in (
        "--cutoff",
        "--sigma",
        "cycles per pixel",
        "examples:",
        "report.json",
        "--cluster",
    ):
        assert word in text


def test_help_promises_only_what_the_run_does(capsys):
    """The bound is the smooth filters' and counts the working precision's rounding; the
    ideal filter's deviation is measured; the local cluster serves its health pages on the
    loopback; plain TCP under MPI can listen on every interface."""
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(2*tol + r)*max|image|" in text and "2*tol*max|image|" not in text
    assert "ideal filter has no such bound" in text and "--measure-deviation" in text
    assert "listens on no network port" not in text and "never all of them" not in text
    assert "health and metrics pages" in text and "127.0.0.1 and a free port" in text
    assert "every interface of a node whose name resolves to a loopback address" in text
    assert "OUTDIR/daskfft-traceback-*.txt where the run kept finished chunks" in text
    assert "no run deletes it" in text and ".daskfft-work/, or in" not in text


@pytest.mark.slow
def test_installed_command_runs_the_sample(tmp_path):
    exe = shutil.which("daskfft")
    assert exe, "the daskfft console script is not installed"
    proc = subprocess.run(
        [exe, "run", "--sample", "256", "-o", str(tmp_path / "o"), "--chunks", "128"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(os.listdir(tmp_path / "o")) == [
        "filtered.png",
        "overview.png",
        "radial_spectrum.png",
        "report.html",
        "report.json",
        "sample.png",
        "spectra.png",
    ]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    # 0.07 Mpx: the default cluster is the threaded scheduler, and the log says why.
    assert report["cluster"]["kind"] == "threads" and report["cluster"]["dashboard"] is None
    assert any(c.startswith("cluster auto: threads (0.0655 Mpx") for c in report["choices"])
    seconds = report["seconds"]
    # Start-up (the process's imports, the cluster) apart from the work.
    assert 0.1 < seconds["imports"] < 60
    assert seconds["startup"] == pytest.approx(seconds["imports"] + seconds["cluster_start"])
    assert seconds["work"] == pytest.approx(seconds["total"] - seconds["cluster_start"])


@pytest.mark.slow
def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "daskfft", "run", "--sample", "--cutoff", "9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--cutoff: must be in (0, 0.5]" in proc.stderr


@pytest.mark.parametrize(
    ("megapixels", "options", "kind"),
    [
        (64.0, {}, "threads"),
        (1024.0 * CPU_COUNT - 0.1, {}, "threads"),
        (1024.0 * CPU_COUNT, {}, "local"),
        (1073.7, {"threads_per_worker": 2}, "threads"),  # 32768^2 on 2 cores: ~7 s
        (2047.9, {"threads_per_worker": 2}, "threads"),
        (2048.0, {"threads_per_worker": 2}, "local"),
        (2048.0, {"workers": 2, "threads_per_worker": 4}, "threads"),
        (8192.0, {"workers": 2, "threads_per_worker": 4}, "local"),
        (1e6, {"dashboard": False}, "threads"),
        (0.25, {"performance_report": True}, "local"),
    ],
)
def test_auto_cluster_is_threads_for_a_run_of_seconds_and_local_with_its_dashboard_above(
    megapixels, options, kind
):
    """From 1024 Mpx a core up (the cores it would compute on), a run long enough to watch."""
    report = options.pop("performance_report", False)
    spec, why = ClusterSpec(**options).resolve(megapixels, performance_report=report)
    assert ClusterSpec().kind == "auto"
    assert spec.kind == kind and why.startswith(f"cluster auto: {kind} (")
    assert spec.dashboard == options.get("dashboard", True)
    assert ClusterSpec("processes").resolve(1.0) == (ClusterSpec("processes"), None)
    with pytest.raises(ValueError, match="auto"), open_cluster(ClusterSpec("auto")):
        pass


def test_auto_clusters_note_says_the_line_and_the_threads_it_scales_with():
    spec = ClusterSpec(threads_per_worker=2)
    _, why = spec.resolve(1073.74)  # 32768^2
    assert why == (
        "cluster auto: threads (1074 Mpx, under 2048 Mpx (1024 Mpx a thread x 2): done before "
        "a dashboard would be looked at; --cluster local serves one)"
    )
    _, why = spec.resolve(0.0655)
    assert why.startswith("cluster auto: threads (0.0655 Mpx, under 2048 Mpx")
    _, why = ClusterSpec(workers=2, threads_per_worker=4).resolve(9000.4)
    assert why.startswith(
        "cluster auto: local (9000 Mpx, at least 8192 Mpx (1024 Mpx a thread x 8)"
    )


def test_every_core_is_the_cores_this_process_may_use():
    """Not the machine's: a Slurm job's -c 4 on a large node computes on 4 threads (and
    auto's line is 4 x 1024 Mpx there)."""
    assert ClusterSpec().thread_count() == CPU_COUNT


@pytest.mark.slow
def test_a_tiff_run_imports_neither_dask_array_nor_zarr_nor_distributed_nor_matplotlib(tmp_path):
    """Each costs 0.1-0.6 s of start-up that a TIFF run on the threaded scheduler never uses:
    ``dask.array`` brings SciPy's sparse matrices, and xarray with pandas where installed."""
    tifffile.imwrite(tmp_path / "in.tif", make_image((300, 200), np.float32), tile=(64, 64))
    unused = ("dask.array", "xarray", "pandas", "scipy", "zarr", "distributed", "matplotlib")
    code = (
        "import sys; from daskfft.cli import main; "
        f"assert main(['run', {str(tmp_path / 'in.tif')!r}, '-o', {str(tmp_path / 'o')!r}, "
        "'-q']) in (0, None); "
        f"print(sorted(m for m in {unused!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert sorted(os.listdir(tmp_path / "o")) == [
        "filtered.tif",
        "overview.png",
        "radial_spectrum.png",
        "report.html",
        "report.json",
        "spectra.png",
    ]


def _tiled_input(tmp_path):
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, make_image((256, 256), np.uint8, seed=3), tile=(64, 64))
    return path


def _failing_task(monkeypatch, error, after=2):
    """Make every chunk task that starts once ``after`` chunks are done raise ``error``."""
    import daskfft.run.tasks as tasks

    save = tasks._save

    def flaky(target, index, *args, **kwargs):
        if len(os.listdir(Path(target.root) / "done")) >= after:
            raise error
        return save(target, index, *args, **kwargs)

    monkeypatch.setattr(tasks, "_save", flaky)


def _traceback_file(err, outdir):
    import re

    found = re.search(r"traceback saved in (\S+);", err)
    assert found, err
    path = Path(found.group(1))
    assert path.parent == Path(outdir).absolute() and path.is_file(), err
    assert path.name.startswith("daskfft-traceback-") and path.suffix == ".txt", err
    return path


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OSError(5, "Input/output error"), 1),  # the disk's: one line, rerun with --resume
        (ValueError("a bug's message"), 70),
        (TypeError("a bug's message"), 70),
        (RuntimeError("a bug's message"), 70),
        (KeyError("a bug's message"), 70),
        (OSError("no errno: a library's own complaint"), 70),
    ],
)
def test_a_bug_after_some_chunks_keeps_them_exits_70_and_saves_its_traceback(
    tmp_path, monkeypatch, capsys, error, status
):
    src, out = _tiled_input(tmp_path), tmp_path / "out"
    # 64-px output tiles, given, so that the 64-px chunks stay 16 (they round to whole tiles).
    args = [
        "run",
        str(src),
        "-o",
        str(out),
        "--chunks",
        "64",
        "--co",
        "BLOCKSIZE=64",
        "--no-plots",
        *FAST,
    ]
    _failing_task(monkeypatch, error)
    rc, _, err = _run(args, capsys)
    assert rc == status and err.count("\n") == 1, err
    assert "of 16 chunks kept in" in err and "Traceback" not in err
    if status == 1:
        assert (
            err.startswith("daskfft: error: [Errno 5] Input/output error; ")
            and "rerun with --resume" in err
        ), err
    else:
        assert err.startswith(
            f"daskfft: internal error (a bug in daskfft): {type(error).__name__}: "
        ), err
        saved = _traceback_file(err, out)
        text = saved.read_text()
        assert "Traceback (most recent call last)" in text and "in flaky" in text
    kept = len(os.listdir(out / ".daskfft-work" / "done"))
    assert 2 <= kept < 16
    monkeypatch.undo()
    assert main(args + ["--resume"]) == 0
    if status == 70:  # the file the user was pointed at outlives the resumed run
        assert saved.read_text() == text
    assert main(["run", str(src), "-o", str(tmp_path / "whole"), *args[4:]]) == 0
    assert (out / "filtered.tif").read_bytes() == (tmp_path / "whole" / "filtered.tif").read_bytes()
    assert not (out / ".daskfft-work").exists()


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_before_any_chunk_exits_70_and_debug_prints_its_traceback(
    tmp_path, monkeypatch, capsys, debug
):
    """Found before the first chunk: nothing is left in (or made for) OUTDIR, and the
    traceback goes to the temporary folder, which the line names."""
    import tempfile

    import daskfft.run.pipeline

    def broken(*args, **kwargs):
        raise ValueError("a bug's message")

    monkeypatch.setattr(daskfft.run.pipeline, "build_graph", broken)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    out = tmp_path / "out"
    rc, _, err = _run(
        ["run", str(_tiled_input(tmp_path)), "-o", str(out), *FAST] + ["--debug"] * debug, capsys
    )
    lines = err.strip().splitlines()
    assert rc == 70 and lines[-1].startswith(
        "daskfft: internal error (a bug in daskfft): ValueError: a bug's message; traceback "
        f"saved in {temp / 'daskfft-traceback-'}"
    ), err
    assert ("Traceback (most recent call last)" in err) == debug
    assert len(lines) > 1 if debug else len(lines) == 1
    (saved,) = temp.iterdir()
    assert saved.name in lines[-1] and "in broken" in saved.read_text()
    assert not out.exists()  # nothing left behind


def test_a_traceback_goes_into_outdir_only_where_given_else_the_temporary_folder(
    tmp_path, monkeypatch
):
    """Written into OUTDIR (where the run kept its work) as daskfft-traceback-*.txt, never
    into the work folder, and never through a link of that name; else, or where OUTDIR
    cannot take it, into the temporary folder."""
    import tempfile

    from daskfft.cli.errors import save_traceback as _save_traceback

    temp, target, out = tmp_path / "temp", tmp_path / "target", tmp_path / "out"
    for folder in (temp, target, out):
        folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    (out / ".daskfft-work").symlink_to(target, target_is_directory=True)
    saved = Path(_save_traceback("the text", None))
    assert saved.parent == temp and saved.read_text() == "the text"
    saved = Path(_save_traceback("the text", str(out)))
    assert saved.parent == out and saved.name.startswith("daskfft-traceback-")
    assert saved.read_text() == "the text" and list(target.iterdir()) == []
    saved = Path(_save_traceback("the text", str(tmp_path / "gone")))
    assert saved.parent == temp and saved.read_text() == "the text"


def test_a_bug_never_saves_its_traceback_in_another_runs_work_folder(tmp_path, monkeypatch, capsys):
    """An interrupted run's work folder in OUTDIR, and a bug before this run holds the lock:
    the traceback goes to the temporary folder, not where the next run deletes it."""
    import tempfile

    import daskfft.run.pipeline

    src, out = _tiled_input(tmp_path), tmp_path / "out"
    args = [
        "run",
        str(src),
        "-o",
        str(out),
        "--chunks",
        "64",
        "--co",
        "BLOCKSIZE=64",
        "--no-plots",
        *FAST,
    ]
    _failing_task(monkeypatch, OSError(5, "Input/output error"))
    assert _run(args, capsys)[0] == 1  # its chunks kept in OUTDIR's work folder
    monkeypatch.undo()
    work = out / ".daskfft-work"
    before = sorted(os.listdir(work))

    def broken(*args, **kwargs):
        raise ValueError("a bug's message")

    monkeypatch.setattr(daskfft.run.pipeline, "make_plan", broken)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    rc, _, err = _run([*args, "--resume"], capsys)
    assert rc == 70 and f"traceback saved in {temp / 'daskfft-traceback-'}" in err, err
    assert sorted(os.listdir(work)) == before
    assert not [n for n in os.listdir(out) if "traceback" in n]


def test_a_cluster_that_cannot_start_is_one_line_not_a_bug(tmp_path, monkeypatch, capsys, rgb_png):
    import distributed

    def cannot(*args, **kwargs):
        raise RuntimeError("Cluster failed to start: Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", cannot)
    rc, _, err = _run(
        ["run", str(rgb_png), "-o", str(tmp_path / "o"), "--cluster", "local", "-q"], capsys
    )
    assert rc == 1 and err == (
        "daskfft: error: cluster local: could not start (Cluster failed "
        "to start: Nanny failed to start.); see -vv for dask's log, or "
        "try --cluster threads\n"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_tls_address_without_dasks_tls_settings_is_one_line_naming_them(
    tmp_path, capsys, rgb_png
):
    """distributed answers a ``tls://`` address with no TLS configuration with a TypeError;
    the user gets the settings to give instead of a bug report."""
    import dask

    with dask.config.set(
        {
            "distributed.comm.tls.ca-file": None,
            "distributed.comm.tls.client.cert": None,
            "distributed.comm.tls.client.key": None,
        }
    ):
        rc, _, err = _run(
            [
                "run",
                str(rgb_png),
                "-o",
                str(tmp_path / "o"),
                "--cluster",
                "tls://127.0.0.1:1",
                "--connect-timeout",
                "2",
                "-q",
            ],
            capsys,
        )
    assert rc == 1 and err.count("\n") == 1, err
    assert err.startswith(
        "daskfft: error: cluster tls://127.0.0.1:1: a tls:// scheduler needs dask's TLS settings"
    ), err
    assert "distributed.comm.tls.ca-file" in err and "DASK_DISTRIBUTED__COMM__TLS__" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cluster", ["processes", "local", "threads"])
def test_dasks_event_loop_errors_stay_quiet_below_vv(cluster):
    """distributed's logging config gives ``tornado.application`` a level of its own (error):
    the command quietens it with its parent, so a Ctrl-C that lands in distributed's
    ``sync()`` prints the one line, not tornado's traceback of the cancel callback."""
    import logging

    from daskfft.cli import _setup_logging

    names = ("tornado", "tornado.application", "distributed")
    kept = {name: logging.getLogger(name).level for name in names}
    try:
        for verbose, level in ((0, logging.CRITICAL), (2, logging.INFO)):
            args = argparse.Namespace(cluster=cluster, quiet=False, verbose=verbose)
            _setup_logging(args)
            assert logging.getLogger("tornado.application").getEffectiveLevel() == level
    finally:
        for name, level in kept.items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "expected"),
    [(None, "2 33554432 268435456"), ({"MALLOC_ARENA_MAX": "4"}, "4 33554432 268435456")],
)
def test_the_command_sets_mallocs_options_here_and_in_the_processes_it_starts(preset, expected):
    """glibc's one arena per thread kept each worker thread's freed windows: a volume run's
    largest process grew with its chunks (1.2 GB at 256 x 4096^2, 3.2 GB at 1024 x 4096^2);
    and buffers given back at each free were faulted in again by the next task."""
    names = ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
    code = textwrap.dedent(
        f"""
        import os, subprocess, sys
        from daskfft.cli import _bound_heap
        _bound_heap()
        shown = "print(*(os.environ[n] for n in {names!r}))"
        child = [sys.executable, "-c", "import os; " + shown]
        print(subprocess.run(child, capture_output=True, text=True).stdout.strip())
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(preset or {})
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout.strip() == expected, got.stderr
