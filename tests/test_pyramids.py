"""Pyramid outputs: COG and OME-Zarr with overviews low-passed by this engine, and --co.

Every overview is checked against a whole-image NumPy reference, its alias
against GDAL's own ``average`` overviews, and each file against the reader
or validator its users have: rio-cogeo's ``cog_validate`` and GDAL (rasterio)
for the COG, ome-zarr-py's reader (napari's) and ome-zarr-models for OME-Zarr.
"""

import json

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from reference import make_image, reference_lowpass, reference_volume_overview

from daskfft.api.pyramid import overview
from daskfft.cli import main
from daskfft.kernels.overview import OVERVIEW_CUTOFF, OVERVIEW_ORDER, level_shapes

rasterio = pytest.importorskip("rasterio")

# Test images here are plain arrays; GDAL says so on every open.
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

FAST = ["--cluster", "threads", "-q"]


def _run(*args):
    return main(["run", *map(str, args), *FAST])


def reference_overview(image, pad=256):
    """The next level by the definition, on the whole image in float64: mirror-pad, multiply
    the full FFT by the Butterworth transfer and exp(i pi (fy + fx)), keep every other pixel."""
    x = np.asarray(image, dtype=np.float64)
    x = x if x.ndim == 3 else x[..., None]
    x = np.pad(x, [(pad, pad), (pad, pad), (0, 0)], mode="symmetric")
    fy = np.fft.fftfreq(x.shape[0])[:, None, None]
    fx = np.fft.fftfreq(x.shape[1])[None, :, None]
    h = 1 / (1 + ((fy**2 + fx**2) / OVERVIEW_CUTOFF**2) ** OVERVIEW_ORDER)
    h = h * np.exp(1j * np.pi * (fy + fx))
    y = np.fft.ifft2(np.fft.fft2(x, axes=(0, 1)) * h, axes=(0, 1)).real
    y = y[pad : pad + image.shape[0] : 2, pad : pad + image.shape[1] : 2]
    return y if image.ndim == 3 else y[..., 0]


@pytest.mark.parametrize(
    ("shape", "chunks"),
    [
        ((301, 517), 300),
        ((256, 256), 128),
        ((130, 91), 64),
        ((1, 200), 64),
        ((200, 150, 3), 100),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8, np.uint16])
def test_overview_is_the_whole_image_definition(shape, chunks, dtype):
    image = make_image(shape, dtype)
    got = overview(da.from_array(image, chunks=(chunks, chunks) + shape[2:]), chunks=chunks)
    assert got.dtype == image.dtype
    assert got.shape == tuple(-(-n // 2) for n in shape[:2]) + shape[2:]
    want = reference_overview(image)
    got = got.compute()
    if np.dtype(dtype).kind in "ui":
        lim = np.iinfo(dtype)
        want = np.clip(np.rint(want), lim.min, lim.max)
        assert np.abs(got.astype(np.float64) - want).max() <= 1
    else:
        span = np.abs(image).max()
        tol = 1e-5 if dtype == np.float32 else 1e-6
        np.testing.assert_allclose(got, want, atol=tol * span)


def test_overview_pixel_lies_between_the_four_under_it():
    """GDAL's convention: overview pixel i is centred between pixels 2i and 2i + 1."""
    y, x = np.mgrid[:400, :400].astype(np.float64)

    def wave(y, x):
        return np.sin(2 * np.pi * 0.05 * x) + np.cos(2 * np.pi * 0.03 * y)

    got = overview(da.from_array(wave(y, x), chunks=128)).compute()
    yy, xx = np.mgrid[:200, :200] * 2 + 0.5
    inner = (slice(40, -40), slice(40, -40))  # away from the mirrored edges
    np.testing.assert_allclose(got[inner], wave(yy, xx)[inner], atol=1e-5)


def test_overview_nodata_only_where_all_four_are_nodata():
    rng = np.random.default_rng(3)
    image = rng.uniform(10, 20, (64, 64)).astype(np.float32)
    image[:32] = -1  # a nodata half with isolated valid pixels at odd and even places
    image[5, 7] = image[10, 10] = image[21, 2] = 15.0
    got = overview(da.from_array(image, chunks=32), nodata=-1.0).compute()
    valid_four = (image != -1).reshape(32, 2, 32, 2).any(axis=(1, 3))
    assert np.array_equal(got != -1, valid_four)
    assert got[valid_four].min() >= 10 and got[valid_four].max() <= 20


def _zone_plate(n):
    """A zone plate whose local frequency rises from 0 at the centre to 0.5 cycles/px at the
    middle of each edge; and that frequency at every pixel."""
    y, x = np.mgrid[:n, :n] - n / 2 + 0.5
    r2 = y * y + x * x
    k = 0.5 / (n / 2)
    return (127.5 + 127.0 * np.cos(np.pi * k * r2)).astype(np.float32), k * np.sqrt(r2)


def test_zone_plate_aliases_that_gdal_average_keeps_are_gone(tmp_path):
    """Where the plate is finer than the overview can hold (0.3-0.5 cycles/px of the full
    size), a right overview is flat gray; GDAL's 2 x 2 average leaves moire there."""
    n = 1024
    plate, freq = _zone_plate(n)
    with rasterio.open(
        tmp_path / "plate.tif",
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        tiled=True,
        blockxsize=256,
        blockysize=256,
    ) as dst:
        dst.write(plate, 1)
    assert (
        _run(
            tmp_path / "plate.tif",
            "-o",
            tmp_path / "o",
            "--output-format",
            "cog",
            "--co",
            "BLOCKSIZE=256",
            "--no-plots",
            "--spectra",
            "none",
            "--cutoff",
            "0.5",
            "--filter",
            "ideal",
        )
        == 0
    )  # level 0 unchanged: the overviews alone
    with rasterio.open(tmp_path / "o" / "filtered.tif", overview_level=0) as ds:
        ours = ds.read(1)
    with rasterio.open(tmp_path / "plate.tif", "r+") as ds:
        ds.build_overviews([2], rasterio.enums.Resampling.average)
    with rasterio.open(tmp_path / "plate.tif", overview_level=0) as ds:
        gdal = ds.read(1)
    f = freq[::2, ::2]
    amplitude = 127.0 / np.sqrt(2)

    def alias(level):
        return np.sqrt(np.mean((level[(f > 0.3) & (f < 0.5)] - 127.5) ** 2)) / amplitude

    def detail(level):  # what is left of the plate where the overview can hold it
        return np.sqrt(np.mean((level[f < 0.12] - 127.5) ** 2)) / amplitude

    assert alias(gdal) > 0.3, alias(gdal)
    assert alias(ours) < 0.02, alias(ours)
    assert detail(ours) > 0.97 and detail(ours) > detail(gdal)


def _geotiff(path, image, nodata=None, block=128):
    from rasterio.transform import from_origin

    bands = 1 if image.ndim == 2 else image.shape[2]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=image.shape[0],
        width=image.shape[1],
        count=bands,
        dtype=image.dtype.name,
        crs="EPSG:32633",
        transform=from_origin(500000.0, 5800000.0, 0.5, 0.5),
        nodata=nodata,
        tiled=True,
        blockxsize=block,
        blockysize=block,
    ) as dst:
        dst.write(
            image if image.ndim == 2 else np.moveaxis(image, 2, 0), 1 if image.ndim == 2 else None
        )


@pytest.mark.parametrize("chunks", ["256", "300"])  # tiles written in place, or a Zarr pass
def test_cog_validates_with_georeferencing_nodata_and_engine_overviews(tmp_path, chunks):
    from rio_cogeo.cogeo import cog_validate

    image = make_image((1100, 900), np.float32)
    image[:40, :40] = -9999.0
    _geotiff(tmp_path / "in.tif", image, nodata=-9999.0)
    assert (
        _run(
            tmp_path / "in.tif",
            "-o",
            tmp_path / "cog",
            "--output-format",
            "cog",
            "--chunks",
            chunks,
            "--no-plots",
        )
        == 0
    )
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "tif", "--chunks", chunks, "--no-plots") == 0
    path = tmp_path / "cog" / "filtered.tif"
    valid, errors, warnings = cog_validate(str(path), strict=True)
    assert valid and not errors and not warnings
    with rasterio.open(path) as cog, rasterio.open(tmp_path / "in.tif") as src:
        assert cog.crs == src.crs and cog.transform == src.transform
        assert cog.nodata == -9999.0 and cog.compression.name == "deflate"
        # The input's 128-px tiles (a COG's usual 512 for an input without tiles).
        assert cog.block_shapes == [(128, 128)] and cog.overviews(1) == [2, 4, 8, 16]
        full = cog.read(1)
    np.testing.assert_array_equal(full, tifffile.imread(tmp_path / "tif" / "filtered.tif"))
    levels = [full]
    for k, shape in enumerate(level_shapes(full.shape, 128)[1:]):
        levels.append(overview(da.from_array(levels[-1], chunks=256), nodata=-9999.0).compute())
        with rasterio.open(path, overview_level=k) as ds:
            np.testing.assert_array_equal(ds.read(1), levels[-1])
            assert ds.shape == shape
    assert (levels[1][:20, :20] == -9999.0).all() and levels[1][21:, 21:].min() > -100


def test_cog_with_jpeg_creation_options_for_an_rgb_image(tmp_path):
    from rio_cogeo.cogeo import cog_validate

    assert (
        main(
            [
                "run",
                "--sample",
                "1500",
                "-o",
                str(tmp_path / "o"),
                "--output-format",
                "cog",
                "--co",
                "compress=jpeg",
                "--co",
                "QUALITY=90",
                "--no-plots",
                *FAST,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "run",
                "--sample",
                "1500",
                "-o",
                str(tmp_path / "d"),
                "--output-format",
                "cog",
                "--no-plots",
                *FAST,
            ]
        )
        == 0
    )
    path = tmp_path / "o" / "filtered.tif"
    assert cog_validate(str(path), strict=True)[0]
    with rasterio.open(path) as ds, rasterio.open(tmp_path / "d" / "filtered.tif") as lossless:
        assert ds.compression.name == "jpeg" and ds.count == 3 and ds.overviews(1) == [2, 4]
        assert lossless.compression.name == "deflate"
        error = np.abs(ds.read().astype(np.float64) - lossless.read())
    assert error.mean() < 2 and error.max() < 64  # JPEG at quality 90 of the same pixels
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["creation_options"]["COMPRESS"] == "JPEG"
    assert report["pyramid"]["levels"] == [[1500, 1500], [750, 750], [375, 375]]


@pytest.mark.parametrize(
    ("options", "dtype", "expect"),
    [
        (
            ["COMPRESS=ZSTD", "LEVEL=5", "PREDICTOR=FLOATING_POINT", "BLOCKSIZE=128"],
            np.float32,
            dict(compression=tifffile.COMPRESSION.ZSTD, predictor=3, tile=128),
        ),
        (
            ["COMPRESS=DEFLATE", "PREDICTOR=YES", "LEVEL=9"],
            np.uint16,  # the input's 128-px tiles
            dict(compression=tifffile.COMPRESSION.ADOBE_DEFLATE, predictor=2, tile=128),
        ),
        (
            ["COMPRESS=LZW"],
            np.float32,
            dict(compression=tifffile.COMPRESSION.LZW, predictor=1, tile=128),
        ),
        (
            ["BLOCKSIZE=512"],
            np.uint8,
            dict(compression=tifffile.COMPRESSION.NONE, predictor=1, tile=512),
        ),
    ],
)
def test_tiff_creation_options_reach_the_file(tmp_path, options, dtype, expect):
    image = make_image((700, 600), dtype)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(128, 128))
    args = [a for o in options for a in ("--co", o)]
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "o", "--no-plots", *args) == 0
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "plain", "--no-plots") == 0
    with tifffile.TiffFile(tmp_path / "o" / "filtered.tif") as tif:
        page = tif.pages[0]
        assert page.compression == expect["compression"]
        assert page.predictor == expect["predictor"] and page.tilewidth == expect["tile"]
    with rasterio.open(tmp_path / "o" / "filtered.tif") as ds:  # GDAL reads it the same
        np.testing.assert_array_equal(
            ds.read(1), tifffile.imread(tmp_path / "plain" / "filtered.tif")
        )


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--co", "COMPRESS"], 2, "`--co` takes KEY=VALUE, got 'COMPRESS'"),
        (["--co", "TILED=YES"], 2, "`--co TILED` is not a creation option here"),
        (["--co", "COMPRESS=PACKBITS"], 2, "`--co COMPRESS` must be one of NONE, DEFLATE"),
        (["--co", "QUALITY=0"], 2, "`--co QUALITY` must be in 1..100, got 0"),
        (["--co", "BLOCKSIZE=100"], 2, "`--co BLOCKSIZE` must be a multiple of 16"),
        (["--co", "LEVEL=fast"], 2, "`--co LEVEL` must be a whole number, got FAST"),
        (
            ["--co", "COMPRESS=ZSTD", "--co", "PREDICTOR=YES"],
            1,
            "PREDICTOR=YES (horizontal differencing) is for integer pixels, not float32",
        ),
        (["--co", "COMPRESS=JPEG"], 1, "COMPRESS=JPEG holds 8-bit gray or RGB, not float32"),
        (["--co", "COMPRESS=LZW", "--co", "LEVEL=5"], 1, "LEVEL=5 does not apply to LZW"),
        (["--co", "COMPRESS=ZSTD", "--co", "LEVEL=30"], 1, "(it takes 1..22)"),
        (["--co", "QUALITY=80"], 1, "QUALITY applies to JPEG and WEBP compression, not NONE"),
        (["--co", "PREDICTOR=YES"], 1, "PREDICTOR applies to DEFLATE, LZW, ZSTD and LZMA"),
        (["--co", "BIGTIFF=YES"], 1, "--co BIGTIFF does not apply to tiff output"),
        (
            ["--co", "COMPRESS=ZSTD", "--output-format", "zarr"],
            1,
            "--co COMPRESS does not apply to zarr output (it applies to tiff and cog)",
        ),
        (
            ["--co", "COMPRESS=LZW", "--compression", "zlib"],
            1,
            "--compression zlib and --co COMPRESS=LZW disagree",
        ),
    ],
)
def test_bad_creation_options_get_one_line_and_nothing_written(
    tmp_path, capsys, args, status, message
):
    tifffile.imwrite(tmp_path / "in.tif", make_image((64, 64), np.float32), tile=(32, 32))
    if status == 2:  # a usage error: argparse exits
        with pytest.raises(SystemExit) as exit_info:
            _run(tmp_path / "in.tif", "-o", tmp_path / "o", *args)
        assert exit_info.value.code == 2
    else:
        assert _run(tmp_path / "in.tif", "-o", tmp_path / "o", *args) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_predictor_floating_point_refused_for_integers(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "in.tif", make_image((64, 64), np.uint16), tile=(32, 32))
    assert (
        _run(
            tmp_path / "in.tif",
            "-o",
            tmp_path / "o",
            "--co",
            "COMPRESS=DEFLATE",
            "--co",
            "PREDICTOR=FLOATING_POINT",
        )
        == 1
    )
    assert "is for floating-point pixels, not uint16" in capsys.readouterr().err


def test_ome_zarr_reads_with_ome_zarr_py_and_keeps_pixel_size(tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader
    from ome_zarr_models.v05.image import Image

    image = make_image((700, 600, 3), np.uint16)
    tifffile.imwrite(
        tmp_path / "in.ome.tif",
        image,
        ome=True,
        photometric="rgb",
        tile=(128, 128),
        metadata={
            "axes": "YXS",
            "PhysicalSizeX": 0.65,
            "PhysicalSizeY": 0.5,
            "PhysicalSizeXUnit": "µm",
        },
    )
    assert (
        _run(
            tmp_path / "in.ome.tif",
            "-o",
            tmp_path / "o",
            "--output-format",
            "ome-zarr",
            "--no-plots",
        )
        == 0
    )
    assert (
        _run(tmp_path / "in.ome.tif", "-o", tmp_path / "t", "--output-format", "tiff", "--no-plots")
        == 0
    )
    path = tmp_path / "o" / "filtered.ome.zarr"
    Image.from_zarr(zarr.open_group(str(path), mode="r"))  # raises if not NGFF 0.5
    node = next(
        n
        for n in Reader(parse_url(str(path)))()
        if any(isinstance(s, Multiscales) for s in n.specs)
    )
    shapes = [d.shape for d in node.data]
    assert shapes == [(3, 700, 600), (3, 350, 300), (3, 175, 150)]
    assert [a["name"] for a in node.metadata["axes"]] == ["c", "y", "x"]
    assert node.metadata["axes"][1]["unit"] == "micrometer"
    moves = node.metadata["coordinateTransformations"]
    assert moves[1][0]["scale"] == [1.0, 1.0, 1.3] and moves[1][1]["translation"] == [
        0,
        0.25,
        0.325,
    ]
    filtered = tifffile.imread(tmp_path / "t" / "filtered.tif")
    np.testing.assert_array_equal(np.moveaxis(np.asarray(node.data[0]), 0, 2), filtered)
    want = overview(da.from_array(filtered, chunks=(256, 256, 3))).compute()
    np.testing.assert_array_equal(np.moveaxis(np.asarray(node.data[1]), 0, 2), want)


def test_ome_zarr_of_a_gray_image_without_pixel_size(tmp_path):
    from ome_zarr_models.v05.image import Image

    tifffile.imwrite(tmp_path / "in.tif", make_image((300, 520), np.float32), tile=(64, 64))
    assert (
        _run(
            tmp_path / "in.tif",
            "-o",
            tmp_path / "o",
            "--output-format",
            "ome-zarr",
            "--no-plots",
            "--spectra",
            "none",
        )
        == 0
    )
    group = zarr.open_group(str(tmp_path / "o" / "filtered.ome.zarr"), mode="r")
    Image.from_zarr(group)
    multiscale = group.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in multiscale["axes"]] == ["y", "x"]
    assert "unit" not in multiscale["axes"][0]
    assert [group[d["path"]].shape for d in multiscale["datasets"]] == [
        (300, 520),
        (150, 260),
        (75, 130),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["cog", "ome-zarr"])
def test_killed_pyramid_run_resumes_byte_identical(tmp_path, fmt):
    """SIGKILL halfway through the chunks, then --resume: the same file as a run never killed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from daskfft.run.workdir import WorkDir

    args = [
        "--sample",
        "1400",
        "--chunks",
        "128",
        "--output-format",
        fmt,
        "--no-plots",
        "--cluster",
        "threads",
        "-q",
    ]
    if fmt == "cog":  # 121 chunks of 128 px: 128-px tiles (a COG's 512 by default)
        args += ["--co", "BLOCKSIZE=128"]
    assert main(["run", *args, "-o", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskfft", "run", *args, "-o", str(out)],
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    done_dir = WorkDir(out).root / "done"
    deadline = time.monotonic() + 120
    while (not done_dir.is_dir() or len(os.listdir(done_dir)) < 30) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert 0 < len(os.listdir(done_dir)) < 121 and os.listdir(out) == [".daskfft-work"]
    assert main(["run", *args, "-o", str(out), "--resume"]) == 0
    name = "filtered.tif" if fmt == "cog" else "filtered.ome.zarr"
    a, b = tmp_path / "whole" / name, out / name
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file()) if a.is_dir() else [""]
    assert files == (
        sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) if b.is_dir() else [""]
    )
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_overview_tasks_read_a_block_and_its_halo_never_a_level(tmp_path, monkeypatch):
    """Memory stays bounded by the block: each task reads its own haloed window of the
    level above, and the levels come out as the lazy definition makes them."""
    from daskfft.io.zarr import ZarrArrayStore as LevelStore
    from daskfft.kernels.overview import overview_depth

    windows = []
    read = LevelStore.read

    def spy(self, rows, cols):
        windows.append((rows[1] - rows[0], cols[1] - cols[0]))
        return read(self, rows, cols)

    monkeypatch.setattr(LevelStore, "read", spy)
    image = make_image((2600, 2100), np.float32)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(256, 256))
    assert (
        _run(
            tmp_path / "in.tif",
            "-o",
            tmp_path / "o",
            "--output-format",
            "ome-zarr",
            "--no-plots",
            "--spectra",
            "none",
        )
        == 0
    )
    edge = 2 * 512 + 2 * overview_depth(1e-6)
    shapes = level_shapes((2600, 2100), 256)[1:]  # 1300 x 1050 ... 163 x 132
    assert len(windows) == sum(-(-h // 512) * -(-w // 512) for h, w in shapes) == 9 + 4 + 1 + 1
    assert max(max(w) for w in windows) <= edge
    group = zarr.open_group(str(tmp_path / "o" / "filtered.ome.zarr"), mode="r")
    level = np.asarray(group["0"])
    for k in range(1, len(shapes) + 1):
        level = overview(da.from_array(level, chunks=700)).compute()
        np.testing.assert_allclose(np.asarray(group[str(k)]), level, atol=1e-5 * 255)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ome-zarr-py's own Scaler
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_ome_zarr_from_ome_zarr_py_goes_in_and_out_with_its_pixel_size(tmp_path, version):
    """OME-Zarr in (level 0; t and z of length 1; channels), OME-Zarr out by default."""
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    image = make_image((1, 2, 1, 600, 520), np.uint16)
    fmt = FormatV04() if version == "0.4" else FormatV05()
    group = zarr.open_group(
        str(tmp_path / "in.ome.zarr"), mode="w", zarr_format=2 if version == "0.4" else 3
    )
    write_image(
        image,
        group,
        axes="tczyx",
        fmt=fmt,
        scale_factors=(2,),
        scale={"t": 1.0, "c": 1.0, "z": 2.0, "y": 0.4, "x": 0.3},
        axes_units={"x": "micrometer", "y": "micrometer"},
    )
    level0 = dict(group.attrs).get("ome", dict(group.attrs))["multiscales"][0]["datasets"][0]
    assert level0["coordinateTransformations"][0]["scale"][-2:] == [0.4, 0.3]
    assert (
        _run(tmp_path / "in.ome.zarr", "-o", tmp_path / "o", "--no-plots", "--cutoff", "0.1") == 0
    )
    out = zarr.open_group(str(tmp_path / "o" / "filtered.ome.zarr"), mode="r")
    multiscale = out.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in multiscale["axes"]] == ["c", "y", "x"]
    assert multiscale["axes"][2]["unit"] == "micrometer"
    assert multiscale["datasets"][1]["coordinateTransformations"][0]["scale"] == [1.0, 0.8, 0.6]
    got = np.moveaxis(np.asarray(out["0"]), 0, 2)
    want = reference_lowpass(np.moveaxis(image[0, :, 0], 0, 2).astype(np.float64), 0.1, pad=100)
    assert np.abs(got - np.clip(np.rint(want), 0, 65535)).max() <= 1


def test_zarr_groups_that_are_no_image_are_refused_in_one_line(tmp_path, capsys):
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").create_array(
        "a", shape=(10, 10), dtype="f4"
    )
    group = zarr.open_group(str(tmp_path / "stack.ome.zarr"), mode="w")
    group.create_array("0", shape=(5, 64, 64), dtype="u2")
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [  # y and x not last: no NGFF image
                    {"name": "y", "type": "space"},
                    {"name": "x", "type": "space"},
                    {"name": "z", "type": "space"},
                ],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 1.0]}],
                    }
                ],
            }
        ],
    }
    for name, why in (
        ("plain.zarr", "a Zarr group without OME-Zarr multiscales"),
        ("stack.ome.zarr", "OME-Zarr axes y,x,z with shape (5, 64, 64)"),
    ):
        assert _run(tmp_path / name, "-o", tmp_path / "o") == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and why in err[0], err
    assert not (tmp_path / "o").exists()


def test_nodata_reaches_the_output_exactly(tmp_path):
    """A Zarr input's nodata becomes the COG's GDAL_NODATA; --nodata at float32's minimum
    survives to the last digit, so GDAL still finds it in the pixels."""
    low = float(np.finfo(np.float32).min)
    image = make_image((600, 500), np.float32)
    z = zarr.create_array(
        str(tmp_path / "in.zarr"), shape=image.shape, dtype="f4", chunks=(256, 256)
    )
    z[:] = image
    z.attrs["nodata"] = -9999.0
    assert (
        _run(tmp_path / "in.zarr", "-o", tmp_path / "a", "--output-format", "cog", "--no-plots")
        == 0
    )
    with rasterio.open(tmp_path / "a" / "filtered.tif") as ds:
        assert ds.nodata == -9999.0
    image[:60, :60] = low
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(128, 128))
    assert (
        _run(
            tmp_path / "in.tif",
            "-o",
            tmp_path / "b",
            "--output-format",
            "cog",
            "--nodata",
            repr(low),
            "--no-plots",
        )
        == 0
    )  # an exponent: a value, no option
    with rasterio.open(tmp_path / "b" / "filtered.tif") as ds:
        assert np.float32(ds.nodata) == np.float32(low)
        masked = ds.read(1, masked=True)
    assert masked.mask[:60, :60].all() and not masked.mask[60:, 60:].any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint16])
@pytest.mark.parametrize("shape", [(21, 70, 57), (6, 40, 40)])
def test_volume_overview_is_the_whole_volume_definition(shape, dtype):
    """overview_volume on a volume mirrored by the halo, against the whole-volume FFT."""
    from daskfft.kernels.overview import overview_depth, overview_volume

    volume = make_image(shape, dtype, seed=5)
    depth = overview_depth(1e-6)
    got = overview_volume(np.pad(volume, depth, mode="symmetric"), depth=depth, tol=1e-6)
    assert got.dtype == volume.dtype
    assert got.shape == tuple(-(-n // 2) for n in shape)
    want = reference_volume_overview(volume)
    if np.dtype(dtype).kind in "ui":
        lim = np.iinfo(dtype)
        want = np.clip(np.rint(want), lim.min, lim.max)
        assert np.abs(got.astype(np.float64) - want).max() <= 1
    else:
        tol = 1e-5 if dtype == np.float32 else 1e-6
        np.testing.assert_allclose(got, want, atol=tol * np.abs(volume).max())


def test_volume_overview_voxel_lies_between_the_eight_under_it():
    """Voxel i of the next level is centred between voxels 2i and 2i + 1 on every axis: waves
    even about each face (the mirror continues them smoothly), checked to the last voxel."""
    from daskfft.kernels.overview import overview_depth, overview_volume

    shape = (48, 64, 64)
    cycles = (3, 5, 7)  # half-cycles over each axis: below the filter's cutoff

    def wave(*at):
        return sum(np.cos(np.pi * k * (a + 0.5) / n) for a, k, n in zip(at, cycles, shape))

    depth = overview_depth(1e-6)
    got = overview_volume(np.pad(wave(*np.indices(shape)), depth, "symmetric"), depth=depth)
    np.testing.assert_allclose(got, wave(*(np.indices(got.shape) * 2 + 0.5)), atol=1e-5)


def test_volume_overview_nodata_only_where_all_eight_are_nodata():
    from daskfft.kernels.overview import overview_depth, overview_volume

    rng = np.random.default_rng(3)
    volume = rng.uniform(10, 20, (16, 32, 32)).astype(np.float32)
    volume[:, :16] = -1  # a nodata half with isolated valid voxels at odd and even places
    volume[3, 5, 7] = volume[8, 10, 10] = volume[13, 15, 2] = 15.0
    depth = overview_depth(1e-6)
    padded = np.pad(volume, depth, mode="symmetric")
    got = overview_volume(padded, depth=depth, nodata=-1.0)
    valid_eight = (volume != -1).reshape(8, 2, 16, 2, 16, 2).any(axis=(1, 3, 5))
    assert np.array_equal(got != -1, valid_eight)
    assert got[valid_eight].min() >= 10 and got[valid_eight].max() <= 20
