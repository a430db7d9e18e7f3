"""Each task reads its own haloed window from the file: same result as map_overlap, no exchange."""

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from reference import channels, make_image, reference_lowpass

from daskfft import lowpass
from daskfft.cli import main
from daskfft.run import tasks
from daskfft.run.config import RunConfig
from daskfft.run.graph import build_graph, reads_windows
from daskfft.run.plan import make_plan
from daskfft.run.rowbands import RowBands


@pytest.mark.parametrize(
    ("boundary", "shape", "fmt"),
    [
        ("reflect", (301, 257), "tiff"),
        ("nearest", (150, 420, 3), "zarr"),
        ("7.5", (97, 333), "tiff"),
        ("reflect", (40, 700), "tiff"),  # fewer rows than the halo of a low cutoff
    ],
)
def test_windowed_reads_equal_map_overlap(tmp_path, boundary, shape, fmt):
    image = make_image(shape, np.float32, seed=len(shape))
    if fmt == "tiff":
        path = tmp_path / "in.tif"
        tifffile.imwrite(path, image, tile=(32, 32))
    else:
        path = tmp_path / "in.zarr"
        names = ("y", "x", "c")[: len(shape)]  # a 3-D array must say which axis is what
        zarr.create_array(
            str(path), shape=shape, dtype="float32", chunks=(32, 64, 3), dimension_names=names
        )[...] = image
    cutoff = 0.01 if shape[0] == 40 else 0.06
    args = [
        "run",
        str(path),
        "-o",
        str(tmp_path / "o"),
        "--chunks",
        "64",
        "--cutoff",
        str(cutoff),
        "--boundary",
        boundary,
        "--output-format",
        "zarr",
        "--cluster",
        "threads",
        "-q",
    ]
    assert main(args) == 0
    got = zarr.open_array(str(tmp_path / "o" / "filtered.zarr"), mode="r")[...]
    b = float(boundary) if boundary[0].isdigit() else boundary
    chunks = zarr.open_array(str(tmp_path / "o" / "filtered.zarr"), mode="r").chunks
    overlap = lowpass(
        da.from_array(image, chunks=chunks), cutoff, boundary=b, channel_axis=channels(image)
    ).compute()
    np.testing.assert_allclose(got, overlap, rtol=0, atol=1e-5 * np.abs(image).max())
    ref = reference_lowpass(image, cutoff, boundary=b, pad=400)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(image).max()


def test_one_task_per_chunk_and_none_for_halos(tmp_path):
    tifffile.imwrite(tmp_path / "in.tif", make_image((512, 512), np.uint8), tile=(64, 64))
    plan = make_plan(
        RunConfig.create(tmp_path / "in.tif", tmp_path / "o", chunks=128, output_format="zarr")
    )
    assert reads_windows(plan) and plan.total == 16
    graph = build_graph(plan, tmp_path / "work")
    targets = graph.targets([(i, j) for i in range(4) for j in range(4)])
    tasks = {key for t in targets for key in dict(t.__dask_graph__())}
    assert len(tasks) == 16  # map_overlap needed ~270 here


def test_periodic_and_png_keep_map_overlap(tmp_path):
    import imageio.v3 as iio

    tifffile.imwrite(tmp_path / "in.tif", make_image((64, 64), np.uint8))
    iio.imwrite(tmp_path / "in.png", make_image((64, 64), np.uint8))
    periodic = make_plan(RunConfig.create(tmp_path / "in.tif", tmp_path / "o", boundary="periodic"))
    png = make_plan(RunConfig.create(tmp_path / "in.png", tmp_path / "o"))
    assert not reads_windows(periodic) and not reads_windows(png)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(300, 251), (97, 500, 4)])
@pytest.mark.parametrize(
    "layout",
    [
        dict(tile=(64, 32)),
        dict(rowsperstrip=7),
        dict(tile=(16, 16), compression="zlib"),
        dict(rowsperstrip=13, compression="zlib"),
        {},
    ],
)
def test_window_reads_every_tiff_layout_tile_by_tile(tmp_path, dtype, shape, layout):
    from daskfft import io

    image = make_image(shape, dtype, seed=shape[0])
    extra = dict(photometric="rgb", extrasamples=[2]) if len(shape) == 3 else {}
    tifffile.imwrite(tmp_path / "in.tif", image, **layout, **extra)
    info = io.probe(tmp_path / "in.tif")
    for r0, r1, c0, c1 in [(0, shape[0], 0, shape[1]), (5, 77, 31, 200), (90, 97, 250, 251)]:
        got = io.read_window(info, (r0, r1), (c0, c1))
        np.testing.assert_array_equal(got, image[r0:r1, c0:c1])


def test_a_window_inside_the_image_is_read_to_a_fast_fft_length(tmp_path, monkeypatch):
    """Real pixels instead of a mirrored copy out to ducc0's fast length; same result within
    the bound; a chunk at the far edge keeps its boundary padding."""
    import ducc0

    from daskfft.kernels.block import fast_window
    from daskfft.run.tasks import WindowSource

    assert fast_window((0, 1104), (0, 0), 8192) == (0, ducc0.fft.good_size(1104, True))
    assert fast_window((7000, 8192), (0, 40), 8192) == (7000, 8192)  # past the edge: padded
    assert fast_window((100, 290), (0, 0), 291) == (100, 291)  # the image ends first (192)
    image = make_image((700, 700), np.float32, seed=3)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(64, 64))
    reads = []
    real_read = WindowSource.read

    def spied(self, rows, cols):
        reads.append((rows, cols))
        return real_read(self, rows, cols)

    monkeypatch.setattr(WindowSource, "read", spied)
    windows = []

    class Spied(RowBands):
        def __init__(self, read, rows, cols, **kw):
            windows.append((rows, cols))
            super().__init__(read, rows, cols, **kw)

    monkeypatch.setattr(tasks, "RowBands", Spied)
    assert (
        main(
            [
                "run",
                str(tmp_path / "in.tif"),
                "-o",
                str(tmp_path / "o"),
                "--chunks",
                "250",
                "--cutoff",
                "0.05",
                "--cluster",
                "threads",
                "-q",
                "--no-plots",
                "--spectra",
                "none",
            ]
        )
        == 0
    )
    # A window's rows are read band by band as it is transformed (RowBands), each read
    # within it: the windows are RowBands' own.
    for rows, cols in reads:
        assert any(c == cols and w[0] <= rows[0] and rows[1] <= w[1] for w, c in windows)
    lengths = {b - a for rows, cols in windows for a, b in (rows, cols) if 0 < a and b < 700}
    # The middle chunk: 250 + 2 x 16 = 282 px, not a fast length (2 x 3 x 47); 288 is.
    assert lengths == {288}, lengths
    got = tifffile.imread(tmp_path / "o" / "filtered.tif")
    ref = reference_lowpass(image, 0.05, boundary="reflect", pad=400)
    assert np.abs(got - ref).max() <= 2e-5 * np.abs(image).max()


def test_default_chunks_follow_the_image_size_and_a_given_size_stands(tmp_path):
    """2048 px from 16 whole chunks of 2048 up (8192^2), else 1024; never the machine's."""
    from daskfft.run.grid import default_chunks

    assert default_chunks((8192, 8192)) == default_chunks((32768, 16384, 3)) == 2048
    assert default_chunks((8191, 8192)) == default_chunks((4096, 4096)) == 1024
    assert default_chunks((2048, 40000)) == 2048 and default_chunks((300, 200)) == 1024
    tifffile.imwrite(tmp_path / "big.tif", shape=(8192, 8192), dtype=np.uint8, tile=(256, 256))
    tifffile.imwrite(tmp_path / "mid.tif", shape=(4096, 4096), dtype=np.uint8, tile=(256, 256))
    sizes = {}
    for name, extra in (("big", {}), ("mid", {}), ("big", {"chunks": 1024})):
        plan = make_plan(
            RunConfig.create(tmp_path / f"{name}.tif", tmp_path / "o", sigma=32, **extra)
        )
        sizes[name, bool(extra)] = (plan.rows[0], plan.cols[0], plan.notes)
    assert sizes["big", False][:2] == (2048, 2048)
    assert any(
        "chunks 2048 px: the image holds at least 16 of them" in n and "161-px halo" in n
        for n in sizes["big", False][2]
    )
    assert sizes["mid", False][:2] == (1024, 1024)
    assert sizes["big", True][:2] == (1024, 1024)  # --chunks stands
    assert not any("chunks 2048" in n for n in sizes["big", True][2])
