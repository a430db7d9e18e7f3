import os
import tracemalloc

import numpy as np
import pytest
import tifffile

from daskfft.api.sample import sample_image
from daskfft.cli import main
from daskfft.kernels.sample import sample_block, sample_window

_ROOFS = np.array(
    [[178, 84, 62], [150, 150, 155], [96, 96, 104], [200, 190, 170], [120, 70, 55], [70, 80, 95]],
    dtype=np.float64,
)


def _hash(*keys):
    with np.errstate(over="ignore"):
        z = np.uint64(0x9E3779B97F4A7C15)
        for k in keys:
            z = (z ^ np.asarray(k).astype(np.uint64)) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(31))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(29))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _noise(y, x, scale, seed):
    gy, gx = y / scale, x / scale
    iy, ix = np.floor(gy).astype(np.int64), np.floor(gx).astype(np.int64)
    ty, tx = gy - iy, gx - ix
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)
    c00, c01 = _hash(iy, ix, seed), _hash(iy, ix + 1, seed)
    c10, c11 = _hash(iy + 1, ix, seed), _hash(iy + 1, ix + 1, seed)
    return (c00 * (1 - tx) + c01 * tx) * (1 - ty) + (c10 * (1 - tx) + c11 * tx) * ty


def reference_sample(y, x, size):
    """The sample's definition, pixel by pixel (every pixel hashed on its own): the
    drawing before issue 25, kept as the reference that the fast drawing must equal."""
    cy, cx = y // 96, x // 96
    uy, ux = y % 96, x % 96
    rgb = np.empty(y.shape + (3,))
    lot = (uy >= 53).astype(np.int64) * 2 + (ux >= 53)
    ly, lx = np.where(uy >= 53, uy - 53, uy - 12), np.where(ux >= 53, ux - 53, ux - 12)
    roof = _ROOFS[(_hash(cy, cx, lot) * len(_ROOFS)).astype(np.int64)]
    ridge = np.where(_hash(cy, cx, lot, 7) < 0.5, ly < 19, lx < 19)
    rgb[...] = roof * np.where(ridge, 0.8, 1.0)[..., None]
    rgb[(ly < 0) | (lx < 0) | (ly >= 39) | (lx >= 39)] = (190, 186, 178)
    park = _hash(cy, cx, 99) < 0.2
    py, px = y[park], x[park]
    texture = (
        0.5 * _noise(py, px, 3.0, 1) + 0.3 * _noise(py, px, 11.0, 2) + 0.2 * _noise(py, px, 29.0, 3)
    )
    green = np.stack([40 + 50 * texture, 90 + 80 * texture, 35 + 40 * texture], axis=-1)
    green[_noise(py, px, 9.0, 4) > 0.62] *= 0.55
    rgb[park] = green
    rgb[(uy < 10) | (ux < 10)] = (88, 88, 94)
    dash = ((uy == 4) | (uy == 5)) & (ux >= 10) & ((x // 12) % 2 == 0)
    dash |= ((ux == 4) | (ux == 5)) & (uy >= 10) & ((y // 12) % 2 == 0)
    rgb[dash] = (235, 235, 225)
    z = max(8, min(size // 4, 512))
    plate = (y < z) & (x < z)
    tone = 127.5 * (
        1 + np.cos(np.pi * (0.5 / z) * (y.astype(np.float64) ** 2 + x.astype(np.float64) ** 2))
    )
    rgb[plate] = tone[plate][:, None]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def test_sample_is_deterministic_and_independent_of_chunking():
    a = sample_image(500, chunks=500).compute()
    b = sample_image(500, chunks=97).compute()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (500, 500, 3) and a.dtype == np.uint8


@pytest.mark.parametrize(
    "size, rows, cols",
    [
        (700, (0, 700), (0, 700)),  # the whole image: plate, parks, every kind of row
        (12288, (4001, 4530), (96 * 40 - 7, 96 * 45 + 3)),  # off the grid, far from the plate
        (12288, (500, 515), (0, 1100)),  # across the plate's edge (512)
        (9, (0, 9), (0, 9)),  # the smallest plate (8 px)
        (1, (0, 1), (0, 1)),
    ],
)
def test_sample_window_equals_the_pixel_by_pixel_reference(size, rows, cols):
    y, x = np.mgrid[rows[0] : rows[1], cols[0] : cols[1]]
    np.testing.assert_array_equal(sample_window(size, rows, cols), reference_sample(y, x, size))


@pytest.mark.parametrize("edges", [(0, 3, 9, 11, 16, 300), (0, 96, 192, 300), (0, 1, 299, 300)])
def test_sample_windows_tile_the_image_whatever_the_chunking(edges):
    whole = sample_window(300, (0, 300), (0, 300))
    for r0, r1 in zip(edges[:-1], edges[1:]):
        for c0, c1 in zip(edges[-2::-1], edges[:0:-1]):  # other (ragged) chunks across
            c0, c1 = 300 - c1, 300 - c0
            np.testing.assert_array_equal(
                sample_window(300, (r0, r1), (c0, c1)), whole[r0:r1, c0:c1]
            )


def test_sample_block_at_scattered_coordinates():
    rng = np.random.default_rng(25)
    y, x = rng.integers(0, 640, 500), rng.integers(0, 640, 500)
    np.testing.assert_array_equal(sample_block(y, x, 640), reference_sample(y, x, 640))
    np.testing.assert_array_equal(
        sample_block(y[:, None], x[None, :5], 640),
        sample_window(640, (0, 640), (0, 640))[y[:, None], x[None, :5]],
    )
    assert sample_block(y[:0], x[:0], 640).shape == (0, 3)


def test_sample_window_memory_is_bounded_by_its_output():
    """The drawing holds little more than the uint8 window it returns (before issue 25 it
    held float64 RGB and uint64 hashes of every pixel: 66 times the window)."""
    tracemalloc.start()
    try:
        window = sample_window(4096, (1000, 2024), (1500, 2524))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * window.nbytes


def test_sample_has_streets_parks_and_a_zone_plate():
    image = sample_image(1024, chunks=512).compute().astype(int)
    assert (image == (88, 88, 94)).all(axis=2).mean() > 0.1  # streets
    assert (image == (235, 235, 225)).all(axis=2).mean() > 0.005  # dashes
    green = (image[..., 1] > image[..., 0] + 20) & (image[..., 1] > image[..., 2] + 20)
    assert green.mean() > 0.05  # parks
    assert len(np.unique(image[green], axis=0)) > 100  # textured, with trees
    plate = image[:256, :256, 0]
    assert (image[:256, :256, 0] == image[:256, :256, 1]).all()  # gray chirp
    # the chirp's local frequency reaches Nyquist: neighbours alternate at its far edge
    assert np.abs(np.diff(plate[250, 200:256].astype(float))).mean() > 100


def test_larger_sample_extends_the_smaller_one_outside_the_plate():
    small = sample_image(300).compute()
    large = sample_image(600)[:300, :300].compute()
    np.testing.assert_array_equal(small[150:], large[150:])


@pytest.mark.parametrize("size", [0, -5, 2.5])
def test_bad_size(size):
    with pytest.raises(ValueError, match="`size`"):
        sample_image(size)


def _run_sample(tmp_path, name, *options):
    out = tmp_path / name
    assert (
        main(
            [
                "run",
                "--sample",
                "300",
                "-o",
                str(out),
                "--output-format",
                "tiff",
                "-q",
                "--spectra",
                "none",
                "--no-plots",
                *options,
            ]
        )
        == 0
    )
    return (out / "sample.tif").read_bytes()


def test_sample_command_equals_the_sample_a_run_writes(tmp_path):
    assert main(["sample", "-o", str(tmp_path / "s.tif"), "--size", "300", "-q"]) == 0
    written = (tmp_path / "s.tif").read_bytes()
    assert _run_sample(tmp_path, "a", "--chunks", "128", "--cluster", "threads") == written
    assert _run_sample(tmp_path, "b", "--chunks", "300", "--cluster", "threads") == written
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "s.tif"), sample_window(300, (0, 300), (0, 300))
    )
    # below the whole-image cap the sample's default output is a PNG: the same there
    assert main(["sample", "-o", str(tmp_path / "s.png"), "--size", "300", "-q"]) == 0
    assert (
        main(
            [
                "run",
                "--sample",
                "300",
                "-o",
                str(tmp_path / "png"),
                "-q",
                "--chunks",
                "128",
                "--cluster",
                "threads",
                "--spectra",
                "none",
                "--no-plots",
            ]
        )
        == 0
    )
    assert (tmp_path / "png" / "sample.png").read_bytes() == (tmp_path / "s.png").read_bytes()


@pytest.mark.slow
def test_sample_on_a_processes_cluster_is_the_threaded_one(tmp_path):
    # Other chunks (300: rounded to 512, whole output tiles), the workers writing the
    # sample's tiles in place in both; the Zarr path across clusters is the MPI test's.
    threaded = _run_sample(tmp_path, "t", "--chunks", "300", "--cluster", "threads")
    processes = _run_sample(
        tmp_path, "p", "--chunks", "256", "--cluster", "processes", "--workers", "2"
    )
    assert processes == threaded
    assert sorted(os.listdir(tmp_path / "p")) == ["filtered.tif", "report.json", "sample.tif"]


@pytest.mark.slow
def test_a_killed_run_resumes_its_sample_written_in_place(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from daskfft.run.workdir import WorkDir

    args = [
        "run",
        "--sample",
        "2048",
        "--chunks",
        "256",
        "--output-format",
        "tiff",
        "-q",
        "--cluster",
        "threads",
        "--spectra",
        "none",
        "--no-plots",
        "-o",
        str(tmp_path / "o"),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskfft", *args], start_new_session=True, stderr=subprocess.DEVNULL
    )
    done = WorkDir(tmp_path / "o").root / "done"
    deadline = time.monotonic() + 120
    try:
        while (not done.is_dir() or len(os.listdir(done)) < 8) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert 0 < len(os.listdir(done)) < 64
    assert main([*args, "--resume"]) == 0
    assert main(["sample", "-o", str(tmp_path / "s.tif"), "--size", "2048", "-q"]) == 0
    assert (tmp_path / "o" / "sample.tif").read_bytes() == (tmp_path / "s.tif").read_bytes()


@pytest.mark.parametrize(
    "chunks, options, in_place",
    [
        ("256", [], True),
        ("512", [], True),
        ("300", [], True),  # rounded to whole 256-px output tiles: 512
        ("256", ["--co", "COMPRESS=DEFLATE"], False),  # a compressed sample: through sample.zarr
    ],
)
def test_run_writes_the_sample_tiff_in_place_when_chunks_fall_on_its_tiles(
    tmp_path, monkeypatch, chunks, options, in_place
):
    """On the tile grid, the tasks write the sample's tiles into sample.tif itself (no
    sample.zarr, no pass at the end); otherwise the Zarr path: the same pixels either way."""
    import daskfft.run.pipeline

    finalized = []
    real = daskfft.run.pipeline.finalize
    monkeypatch.setattr(
        daskfft.run.pipeline,
        "finalize",
        lambda root, name, *a, **k: finalized.append(name) or real(root, name, *a, **k),
    )
    assert main(["sample", "-o", str(tmp_path / "s.tif"), "--size", "700", "-q"]) == 0
    out = tmp_path / "o"
    assert (
        main(
            [
                "run",
                "--sample",
                "700",
                "-o",
                str(out),
                "--output-format",
                "tiff",
                "-q",
                "--chunks",
                chunks,
                "--cluster",
                "threads",
                "--spectra",
                "none",
                "--no-plots",
                *options,
            ]
        )
        == 0
    )
    if options:
        np.testing.assert_array_equal(
            tifffile.imread(out / "sample.tif"), tifffile.imread(tmp_path / "s.tif")
        )
    else:
        assert (out / "sample.tif").read_bytes() == (tmp_path / "s.tif").read_bytes()
    assert ("sample" in finalized) != in_place


@pytest.mark.slow
def test_sample_of_an_mpi_run_is_the_sample_command_s(tmp_path):
    from mpi_helpers import MPIEXEC, mpi_run

    if MPIEXEC is None:
        pytest.skip("no mpiexec")
    assert main(["sample", "-o", str(tmp_path / "s.tif"), "--size", "600", "-q"]) == 0
    for name, options in (("in-place", []), ("zarr", ["--co", "COMPRESS=DEFLATE"])):
        out = tmp_path / name
        proc = mpi_run(
            3,
            "run",
            "--sample",
            "600",
            "--chunks",
            "256",
            "--output-format",
            "tiff",
            "--spectra",
            "none",
            "--no-plots",
            "-o",
            str(out),
            "--cluster",
            "mpi",
            *options,
        )
        assert proc.returncode == 0, proc.stderr
        if options:  # compressed as asked, through sample.zarr: the same pixels
            np.testing.assert_array_equal(
                tifffile.imread(out / "sample.tif"), tifffile.imread(tmp_path / "s.tif")
            )
        else:
            assert (out / "sample.tif").read_bytes() == (tmp_path / "s.tif").read_bytes()
