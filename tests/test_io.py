"""Lazy reading of TIFF/Zarr, streamed writing, GeoTIFF tags and nodata, through the CLI."""

import json
import os
import warnings

import dask.array as da
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import zarr
from reference import make_image, reference_lowpass

from daskfft import HaloWarning, io, lowpass
from daskfft.cli import main

FAST = ["--cluster", "threads", "-q"]


def _run(*args):
    return main(["run", *map(str, args), *FAST])


@pytest.mark.parametrize(
    ("kind", "expected_rows", "expected_cols"),
    [
        ("tiled", 256, 256),  # 300 rounds to one 256 tile
        ("striped", 300, 300),  # row bands of 300 (a multiple of 60), split into columns
        ("zarr", 300, 400),  # 300 = 3 x 100 rows; 1.5 x 200 columns rounds to 400
    ],
)
def test_lazy_readers_align_chunks_to_the_file(tmp_path, kind, expected_rows, expected_cols):
    image = make_image((700, 900, 3), np.uint8)
    if kind == "tiled":
        path = tmp_path / "a.tif"
        tifffile.imwrite(path, image, tile=(256, 256), photometric="rgb")
    elif kind == "striped":
        path = tmp_path / "a.tif"
        tifffile.imwrite(path, image, rowsperstrip=60, photometric="rgb")
    else:
        path = tmp_path / "a.zarr"
        z = zarr.create_array(
            str(path),
            shape=image.shape,
            dtype=image.dtype,
            chunks=(100, 200, 3),
            dimension_names=("y", "x", "c"),
        )
        z[...] = image
    info = io.probe(path)
    lazy = io.read(info, 300)
    assert lazy.chunks[0][0] == expected_rows and lazy.chunks[1][0] == expected_cols
    assert lazy.chunks[2] == (3,)
    np.testing.assert_array_equal(lazy.compute(), image)


def _corrupt_tiles_except(path, keep):
    """Overwrite every compressed tile of ``path`` but those in ``keep`` with garbage."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        per_row = -(-page.imagewidth // page.tilewidth)
        spans = [
            (k // per_row, k % per_row, o, n)
            for k, (o, n) in enumerate(zip(page.dataoffsets, page.databytecounts))
        ]
    with open(path, "r+b") as fh:
        for r, c, offset, size in spans:
            if (r, c) not in keep:
                fh.seek(offset)
                fh.write(b"\xff" * size)


def test_each_task_reads_only_its_own_tiles(tmp_path):
    image = make_image((256, 256), np.uint16)
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, image, tile=(64, 64), compression="zlib")
    lazy = io.read(io.probe(path), 128)  # chunk (1, 1) is tiles (2..3, 2..3)
    _corrupt_tiles_except(path, {(r, c) for r in (2, 3) for c in (2, 3)})
    np.testing.assert_array_equal(lazy.blocks[1, 1].compute(), image[128:, 128:])
    with pytest.raises(Exception, match="cannot decode"):  # the others are really broken
        lazy.blocks[0, 0].compute()


def test_tiff_tasks_open_the_file_themselves(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, make_image((512, 512), np.uint16), tile=(64, 64))  # 512 KiB
    lazy = io.read(io.probe(path), 128)
    import pickle

    # The pixels would pickle to 512 KiB; 64 tasks that each name the file, much less.
    assert len(pickle.dumps(dict(lazy.__dask_graph__()))) < 20_000


@pytest.mark.parametrize(
    ("shape", "dtype", "photometric"),
    [
        ((300, 260, 3), np.uint8, "rgb"),
        ((300, 260, 4), np.uint16, "rgb"),  # RGBA: alpha passes through
        ((300, 260, 5), np.float32, "minisblack"),  # five bands
        ((300, 260), np.uint16, "minisblack"),
    ],
)
def test_tiff_in_tiled_bigtiff_out(tmp_path, shape, dtype, photometric):
    image = make_image(shape, dtype)
    extrasamples = ["unassalpha"] if shape[-1] == 4 else None
    tifffile.imwrite(
        tmp_path / "in.tif",
        image,
        tile=(64, 64),
        photometric=photometric,
        extrasamples=extrasamples,
        planarconfig="contig" if len(shape) == 3 else None,
    )
    assert (
        _run(tmp_path / "in.tif", "-o", tmp_path / "o", "--chunks", "128", "--cutoff", "0.1") == 0
    )
    with tifffile.TiffFile(tmp_path / "o" / "filtered.tif") as tif:
        page = tif.pages[0]
        # Written in place by the tasks: the tile grid follows the 128-px chunks.
        assert tif.is_bigtiff and page.is_tiled and page.tilelength == 128
        assert page.compression == tifffile.COMPRESSION.NONE
        out = tif.asarray()
    assert out.shape == image.shape and out.dtype == image.dtype
    color = image[..., :3] if shape[-1] == 4 else image
    ref = reference_lowpass(color, 0.1, pad=100)
    got = out[..., :3] if shape[-1] == 4 else out
    if np.dtype(dtype).kind == "f":
        assert np.abs(got - ref).max() <= 2e-5 * np.abs(image).max()
    else:
        assert np.abs(got.astype(float) - np.clip(np.rint(ref), 0, np.iinfo(dtype).max)).max() <= 1
    if shape[-1] == 4:
        np.testing.assert_array_equal(out[..., 3], image[..., 3])


def test_zarr_in_zarr_out_and_output_format(tmp_path):
    image = make_image((250, 330), np.float32)
    z = zarr.create_array(
        str(tmp_path / "in.zarr"), shape=image.shape, dtype=image.dtype, chunks=(64, 64)
    )
    z[...] = image
    assert _run(tmp_path / "in.zarr", "-o", tmp_path / "o", "--chunks", "128") == 0
    out = zarr.open_array(str(tmp_path / "o" / "filtered.zarr"), mode="r")
    assert out.chunks == (128, 128) and out.dtype == np.float32
    ref = reference_lowpass(image, 0.05, pad=64)
    assert np.abs(out[...] - ref).max() <= 2e-5 * np.abs(image).max()
    assert (
        _run(
            tmp_path / "in.zarr",
            "-o",
            tmp_path / "o2",
            "--chunks",
            "128",
            "--output-format",
            "tiff",
        )
        == 0
    )
    # The TIFF's chunks are rounded to its 256-px tiles: the same filter, other float rounding.
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "o2" / "filtered.tif"),
        out[...],
        rtol=0,
        atol=1e-6 * np.abs(image).max(),
    )


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("chunks", [256, 96])
def test_tiff_written_in_place_equals_the_streamed_one(tmp_path, monkeypatch, chunks):
    """Uncompressed TIFF: tasks write their own tiles, no Zarr store and no second pass."""
    import daskfft.run.outputs
    import daskfft.run.pipeline

    image = make_image((333, 517, 3), np.uint8)
    tifffile.imwrite(tmp_path / "in.tif", image, photometric="rgb")
    args = [tmp_path / "in.tif", "--chunks", chunks, "--spectra", "none"]
    assert _run(*args, "-o", tmp_path / "z", "--compression", "zlib") == 0  # store, then a pass
    passes = []
    monkeypatch.setattr(daskfft.run.pipeline, "finalize", lambda *a, **k: passes.append(a))
    assert _run(*args, "-o", tmp_path / "direct") == 0
    assert passes == []
    with tifffile.TiffFile(tmp_path / "direct" / "filtered.tif") as tif:
        assert tif.pages[0].tilelength in (256, 32)  # 96-px chunks: the largest tile that fits
        np.testing.assert_array_equal(
            tif.asarray(), tifffile.imread(tmp_path / "z" / "filtered.tif")
        )
    rasterio = pytest.importorskip("rasterio")
    with rasterio.open(tmp_path / "direct" / "filtered.tif") as ds:  # GDAL reads it too
        np.testing.assert_array_equal(
            np.moveaxis(ds.read(), 0, -1), tifffile.imread(tmp_path / "z" / "filtered.tif")
        )


def test_zarr_v2_input_and_zlib_tiff_output(tmp_path):
    image = make_image((200, 150, 3), np.uint16)
    z = zarr.create_array(
        str(tmp_path / "v2.zarr"),
        shape=image.shape,
        dtype=image.dtype,
        chunks=(50, 50, 3),
        zarr_format=2,
    )
    z[...] = image
    z.attrs["_ARRAY_DIMENSIONS"] = ["y", "x", "band"]  # xarray's names, as to_zarr writes them
    assert (
        _run(
            tmp_path / "v2.zarr",
            "-o",
            tmp_path / "o",
            "--chunks",
            "100",
            "--output-format",
            "tiff",
            "--compression",
            "zlib",
        )
        == 0
    )
    with tifffile.TiffFile(tmp_path / "o" / "filtered.tif") as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        out = tif.asarray()
    ref = np.clip(np.rint(reference_lowpass(image, 0.05, pad=64)), 0, 65535)
    assert np.abs(out.astype(float) - ref).max() <= 1


def test_large_png_input_says_it_is_read_whole(tmp_path, monkeypatch, caplog):
    iio.imwrite(tmp_path / "in.png", make_image((100, 120), np.uint8))
    monkeypatch.setattr(io, "WHOLE_IMAGE_CAP", 5_000)
    with caplog.at_level("WARNING", logger="daskfft"):
        io.probe(tmp_path / "in.png")
    assert "cannot be read in parts" in caplog.text and "tiled TIFF or Zarr" in caplog.text


def test_png_output_above_the_cap_is_refused(tmp_path, monkeypatch, capsys):
    iio.imwrite(tmp_path / "in.png", make_image((100, 100), np.uint8))
    monkeypatch.setattr(io, "WHOLE_IMAGE_CAP", 5_000)
    assert _run(tmp_path / "in.png", "-o", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert "PNG is written whole, and 0.01 Mpx is above the cap of 0.005 Mpx" in err
    assert "use --output-format tiff or zarr" in err
    assert not (tmp_path / "o").exists()
    assert _run(tmp_path / "in.png", "-o", tmp_path / "o", "--output-format", "tiff") == 0


def test_page_stacks_are_refused(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((6, 20, 30), np.uint8))
    assert _run(tmp_path / "stack.tif", "-o", tmp_path / "o") == 1
    assert "a stack of 6 pages" in capsys.readouterr().err


@pytest.mark.parametrize("layout", [dict(tile=(64, 64)), dict(rowsperstrip=16, compression="zlib")])
def test_band_interleaved_tiff_is_filtered_as_its_bands(tmp_path, layout):
    """A multispectral stack stored band after band: read band by band, bands last out."""
    bands = make_image((5, 230, 190), np.uint16, seed=2)
    tifffile.imwrite(
        tmp_path / "planar.tif", bands, planarconfig="separate", photometric="minisblack", **layout
    )
    tifffile.imwrite(
        tmp_path / "contig.tif",
        bands.transpose(1, 2, 0),
        planarconfig="contig",
        photometric="minisblack",
        **layout,
    )
    for name in ("planar", "contig"):
        assert (
            _run(
                tmp_path / f"{name}.tif",
                "-o",
                tmp_path / name,
                "--chunks",
                "128",
                "--spectra",
                "none",
                "--no-plots",
            )
            == 0
        )
    out = tifffile.imread(tmp_path / "planar" / "filtered.tif")
    assert out.shape == (230, 190, 5)
    np.testing.assert_array_equal(out, tifffile.imread(tmp_path / "contig" / "filtered.tif"))
    ref = reference_lowpass(bands.transpose(1, 2, 0), 0.05, pad=100)
    assert np.abs(out.astype(float) - np.clip(np.rint(ref), 0, 65535)).max() <= 1


def test_big_sample_is_streamed_to_tiff(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "WHOLE_IMAGE_CAP", 10_000)
    assert main(["sample", "-o", str(tmp_path / "s.tif"), "--size", "700", "-q"]) == 0
    assert main(["sample", "-o", str(tmp_path / "s.png"), "--size", "700", "-q"]) == 1
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert tif.pages[0].is_tiled and tif.series[0].shape == (700, 700, 3)


# --- nodata ------------------------------------------------------------------------------


@pytest.mark.parametrize("filter", ["gaussian", "butterworth"])
def test_constant_image_with_a_hole_stays_constant_outside_it(filter):
    image = np.full((120, 140), 50.0)
    image[40:70, 60:100] = -9999.0
    out = lowpass(da.from_array(image, chunks=50), 0.05, filter=filter, nodata=-9999.0).compute()
    hole = image == -9999.0
    np.testing.assert_allclose(out[~hole], 50.0, rtol=1e-9)
    assert (out[hole] == -9999.0).all()


def test_nodata_equals_normalised_convolution_reference():
    image = make_image((90, 80), np.float64, seed=9)
    holes = np.random.default_rng(1).random(image.shape) < 0.1
    image[holes] = np.nan
    out = lowpass(da.from_array(image, chunks=40), 0.08, nodata=float("nan")).compute()
    mask = (~holes).astype(float)
    num = reference_lowpass(np.where(holes, 0, image), 0.08, pad=100)
    den = reference_lowpass(mask, 0.08, pad=100)
    np.testing.assert_allclose(out[~holes], (num / den)[~holes], atol=1e-5)
    assert np.isnan(out[holes]).all()


def test_nodata_from_the_cli_keeps_holes_in_integer_images(tmp_path):
    image = np.full((100, 100), 200, dtype=np.uint8)
    image[30:50, 30:50] = 0
    tifffile.imwrite(tmp_path / "in.tif", image)
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "o", "--nodata", "0") == 0
    out = tifffile.imread(tmp_path / "o" / "filtered.tif")
    assert (out[30:50, 30:50] == 0).all()
    assert (out[image != 0] == 200).all()


# --- GeoTIFF -------------------------------------------------------------------------------


def test_geotiff_keeps_crs_transform_and_nodata(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    image = make_image((200, 240), np.float32)
    image[:20, :20] = -32768.0
    transform = from_origin(500000.0, 5800000.0, 0.5, 0.5)
    profile = dict(
        driver="GTiff",
        height=200,
        width=240,
        count=1,
        dtype="float32",
        crs="EPSG:32633",
        transform=transform,
        nodata=-32768.0,
        tiled=True,
        blockxsize=64,
        blockysize=64,
    )
    with rasterio.open(tmp_path / "in.tif", "w", **profile) as dst:
        dst.write(image, 1)
        dst.update_tags(AREA_OR_POINT="Area", SOURCE="daskfft-test")
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "o", "--chunks", "128") == 0
    with (
        rasterio.open(tmp_path / "in.tif") as a,
        rasterio.open(tmp_path / "o" / "filtered.tif") as b,
    ):
        assert b.crs == a.crs and b.crs.to_epsg() == 32633
        assert b.transform == a.transform
        assert b.nodata == a.nodata == -32768.0
        assert b.tags().get("SOURCE") == "daskfft-test"
        out = b.read(1)
    assert (out[:20, :20] == -32768.0).all()
    assert np.isfinite(out).all() and out[20:, 20:].min() > -100  # the hole did not bleed
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["input"]["georeferenced"] and report["filter"]["nodata"] == -32768.0


def test_tiff_made_for_tasks_is_holes_until_they_write(tmp_path):
    """The empty output TIFF costs no disk and no write pass; it reads as zeros, then as written."""
    from daskfft import io

    layout = io.create_tiff(tmp_path / "o.tif", (2048, 2048), np.float32, tile=256)
    st = os.stat(tmp_path / "o.tif")
    assert st.st_size > 2048 * 2048 * 4 and st.st_blocks * 512 < 2048 * 2048 * 4 // 16
    assert not tifffile.imread(tmp_path / "o.tif").any()
    part = np.arange(512 * 256, dtype=np.float32).reshape(512, 256)
    layout.write(part, 1024, 1792)
    out = tifffile.imread(tmp_path / "o.tif")
    np.testing.assert_array_equal(out[1024:1536, 1792:], part)
    assert np.count_nonzero(out) == np.count_nonzero(part)


def test_jpeg_ycbcr_tiff_with_overviews_is_read_at_full_size(tmp_path):
    """The usual COG layout, written by GDAL: JPEG in YCbCr, 256-px tiles, internal overviews."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.transform import from_origin

    rows, cols = np.mgrid[0:700, 0:900]
    rgb = np.stack(
        [
            127 + 100 * np.sin(cols / 30),
            127 + 100 * np.cos(rows / 25),
            127 + 60 * np.sin((rows + cols) / 40),
        ]
    ).astype(np.uint8)
    src = tmp_path / "cog.tif"
    with rasterio.open(
        src,
        "w",
        driver="GTiff",
        width=900,
        height=700,
        count=3,
        dtype="uint8",
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="JPEG",
        photometric="YCBCR",
        crs="EPSG:32633",
        transform=from_origin(500000, 5000000, 0.5, 0.5),
    ) as dst:
        dst.write(rgb)
        dst.build_overviews([2, 4], Resampling.average)
    assert (
        _run(
            src, "-o", tmp_path / "o", "--chunks", "256", "--cutoff", "0.05", "--cluster", "threads"
        )
        == 0
    )
    decoded = tifffile.imread(src)  # level 0, decoded to RGB
    with rasterio.open(src) as ds:
        assert np.abs(ds.read().transpose(1, 2, 0).astype(int) - decoded).mean() < 1  # decoders
    with rasterio.open(tmp_path / "o" / "filtered.tif") as out:
        assert out.count == 3 and out.crs.to_epsg() == 32633
        assert [c.name for c in out.colorinterp] == ["red", "green", "blue"]
        got = out.read().transpose(1, 2, 0)
    ref = np.clip(np.rint(reference_lowpass(decoded, 0.05, pad=100)), 0, 255)
    assert np.abs(got.astype(float) - ref).max() <= 1


@pytest.mark.parametrize("filter", ["gaussian", "butterworth", "ideal"])
def test_no_valid_pixel_becomes_nodata(filter):
    """Isolated valid pixels in a sea of nodata, under every kernel: they stay data."""
    rng = np.random.default_rng(4)
    image = np.full((160, 170), -9999.0)
    valid = rng.random(image.shape) < 0.01
    image[valid] = rng.uniform(10, 200, valid.sum())
    image[40:80, 50:120] = rng.uniform(10, 200, (40, 70))  # and a block of data
    valid |= image != -9999.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HaloWarning)
        out = lowpass(
            da.from_array(image, chunks=64),
            0.06,
            filter=filter,
            order=2,
            nodata=-9999.0,
            depth=32 if filter == "ideal" else "auto",
        ).compute()
    assert (out[valid] != -9999.0).all() and np.isfinite(out[valid]).all()
    assert (out[~valid] == -9999.0).all()


def test_palette_tiff_is_filtered_as_its_colours(tmp_path):
    """Palette indices are not brightness: each becomes its colour, then the colours are
    filtered."""
    rng = np.random.default_rng(8)
    index = np.repeat(np.repeat(rng.integers(0, 256, (15, 17), dtype=np.uint8), 10, 0), 10, 1)
    colormap = (rng.integers(0, 256, (3, 256)) * 257).astype(np.uint16)
    tifffile.imwrite(
        tmp_path / "palette.tif", index, photometric="palette", colormap=colormap, tile=(64, 64)
    )
    rgb = (colormap.T // 257).astype(np.uint8)[index]
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb", tile=(64, 64))
    for name in ("palette", "rgb"):
        assert (
            _run(
                tmp_path / f"{name}.tif",
                "-o",
                tmp_path / name,
                "--chunks",
                "128",
                "--spectra",
                "none",
                "--no-plots",
            )
            == 0
        )
    out = tifffile.imread(tmp_path / "palette" / "filtered.tif")
    assert out.shape == (150, 170, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, tifffile.imread(tmp_path / "rgb" / "filtered.tif"))


def test_exact_honours_a_files_own_nodata(tmp_path):
    """--exact on a GeoTIFF with nodata 255: holes stay 255, no valid pixel changes into it,
    and the data equal a whole-image normalised convolution."""
    import rasterio
    from rasterio.transform import from_origin

    image = (make_image((120, 130), np.uint8, seed=3) * 0.78).astype(np.uint8)  # <= 199
    holes = np.zeros(image.shape, bool)
    holes[:30, :30] = holes[60:64, 70:120] = True
    image[holes] = 255
    with rasterio.open(
        tmp_path / "in.tif",
        "w",
        driver="GTiff",
        width=130,
        height=120,
        count=1,
        dtype="uint8",
        nodata=255,
        crs="EPSG:32633",
        transform=from_origin(500000, 5800000, 1, 1),
    ) as dst:
        dst.write(image, 1)
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "o", "--exact", "--chunks", "64") == 0
    with rasterio.open(tmp_path / "o" / "filtered.tif") as out:
        assert out.nodata == 255
        got = out.read(1)
    assert (got[holes] == 255).all() and (got[~holes] != 255).all()
    num = reference_lowpass(np.where(holes, 0, image), 0.05, pad=100)
    den = reference_lowpass((~holes).astype(float), 0.05, pad=100)
    with np.errstate(divide="ignore", invalid="ignore"):  # deep in the holes, no data at all
        ref = np.rint(num / den)
    assert np.abs(got[~holes] - ref[~holes]).max() <= 1
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["method"] == "exact" and report["filter"]["nodata"] == 255


# --- Masks -------------------------------------------------------------------------------------


def _masked_geotiff(path, image, keep, *, internal):
    """A tiled GeoTIFF with a GDAL mask: internal (a TIFF mask page) or GDAL's ``.msk``."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    bands = 1 if image.ndim == 2 else image.shape[2]
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=internal),
        rasterio.open(
            path,
            "w",
            driver="GTiff",
            height=image.shape[0],
            width=image.shape[1],
            count=bands,
            dtype=image.dtype.name,
            crs="EPSG:32633",
            tiled=True,
            blockxsize=64,
            blockysize=64,
            transform=from_origin(500000.0, 5800000.0, 1.0, 1.0),
            compress="deflate",
        ) as dst,
    ):
        dst.write(
            image if image.ndim == 2 else np.moveaxis(image, 2, 0), 1 if image.ndim == 2 else None
        )
        dst.write_mask(keep.astype(np.uint8) * 255)
    assert path.with_name(path.name + ".msk").exists() != internal


def _masked_cog(path, image, keep):
    """A COG with an internal mask, as GDAL's COG driver writes one from a masked GeoTIFF."""
    pytest.importorskip("rasterio")
    import rasterio.shutil

    _masked_geotiff(path.with_name("src.tif"), image, keep, internal=True)
    rasterio.shutil.copy(str(path.with_name("src.tif")), str(path), driver="COG", BLOCKSIZE=128)
    with rasterio.open(path) as ds:
        assert ds.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]


@pytest.mark.parametrize(
    ("mask", "shape", "dtype", "output"),
    [
        ("internal", (200, 180, 3), np.uint8, []),  # tiles written in place
        ("internal", (200, 180, 3), np.uint8, ["--co", "COMPRESS=DEFLATE"]),  # a pass from a store
        ("sidecar", (200, 180), np.float32, []),
        ("sidecar", (200, 180, 3), np.uint16, ["--co", "COMPRESS=ZSTD"]),
        ("cog", (200, 180, 3), np.uint8, ["--output-format", "cog"]),
        ("internal", (200, 180), np.float32, ["--output-format", "cog"]),
    ],
)
def test_a_gdal_mask_is_left_out_and_stays_a_mask(tmp_path, mask, shape, dtype, output):
    """The output keeps the input's bands, and its mask as a mask where the input had it:
    GDAL reads the same per-dataset mask back (a COG's is internal)."""
    rasterio = pytest.importorskip("rasterio")

    image = make_image(shape, dtype, seed=4)
    keep = np.ones(shape[:2], bool)
    keep[20:90, 30:120] = False  # a masked block, whose pixels are garbage
    keep[40, 60] = True  # and an isolated kept pixel inside it
    image[~keep] = 0 if np.dtype(dtype).kind == "u" else -5e3
    if mask == "cog":
        _masked_cog(tmp_path / "in.tif", image, keep)
    else:
        _masked_geotiff(tmp_path / "in.tif", image, keep, internal=mask == "internal")
    assert (
        _run(
            tmp_path / "in.tif", "-o", tmp_path / "o", "--cutoff", "0.08", "--chunks", "64", *output
        )
        == 0
    )
    bands = 1 if image.ndim == 2 else shape[2]
    sidecar = mask == "sidecar" and "cog" not in output
    assert (tmp_path / "o" / "filtered.tif.msk").exists() == sidecar
    with rasterio.open(tmp_path / "o" / "filtered.tif") as ds:
        assert ds.count == bands and rasterio.enums.ColorInterp.alpha not in ds.colorinterp
        assert ds.mask_flag_enums == ([rasterio.enums.MaskFlags.per_dataset],) * bands
        np.testing.assert_array_equal(ds.dataset_mask() > 0, keep)  # the same mask
        assert ds.crs.to_epsg() == 32633
        out = np.moveaxis(ds.read(), 0, 2)
    color = image.astype(np.float64) if image.ndim == 3 else image[..., None].astype(np.float64)
    num = reference_lowpass(np.where(keep[..., None], color, 0), 0.08, pad=100)
    den = reference_lowpass(keep.astype(np.float64), 0.08, pad=100)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):  # no data under the masked block
        want = num / den
    got = out.astype(np.float64)
    if np.dtype(dtype).kind == "u":
        top = np.iinfo(dtype).max
        assert np.abs(got - np.clip(np.rint(want), 0, top))[keep].max() <= 1
    else:
        assert np.abs(got - want)[keep].max() <= 1e-4 * np.abs(image[keep]).max()
    assert got[keep].min() > (-1 if np.dtype(dtype).kind == "u" else -100)  # no garbage bled in
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    kept = [c for c in report["choices"] if "masked pixels are left out like nodata" in c]
    assert len(kept) == 1 and (
        "filtered.tif.msk" in kept[0] if sidecar else "its internal mask" in kept[0]
    ), kept
    assert report["output_mask"] == ("sidecar" if sidecar else "internal")
    assert not report["input"]["alpha_passed_through"]
    assert report["outputs"] == sorted(
        [
            "filtered.tif",
            "report.json",
            "spectra.png",
            "overview.png",
            "radial_spectrum.png",
            "report.html",
        ]
        + (["filtered.tif.msk"] if sidecar else [])
    )


@pytest.mark.parametrize(
    ("internal", "output"),
    [(True, ["--output-format", "cog"]), (False, []), (False, ["--co", "COMPRESS=DEFLATE"])],
)
def test_a_masked_run_resumed_is_byte_identical(tmp_path, monkeypatch, internal, output):
    """Fail the read of the last chunk, resume: the image and its mask (page or .msk) are
    byte for byte those of a run never interrupted."""
    image = make_image((300, 280, 3), np.uint8, seed=6)
    keep = np.ones((300, 280), bool)
    keep[50:200, 40:150] = False
    _masked_geotiff(tmp_path / "in.tif", image, keep, internal=internal)
    args = [tmp_path / "in.tif", "--chunks", "128", "--co", "BLOCKSIZE=128", "--no-plots", *output]
    assert _run(*args, "-o", tmp_path / "whole") == 0
    read = io.read_window

    def flaky(info, rows, cols, **kwargs):
        if rows[1] == info.shape[0] and cols[1] == info.shape[1]:
            raise OSError(5, "Input/output error")
        return read(info, rows, cols, **kwargs)

    monkeypatch.setattr(io, "read_window", flaky)
    assert _run(*args, "-o", tmp_path / "cut") == 1
    monkeypatch.undo()
    assert _run(*args, "-o", tmp_path / "cut", "--resume") == 0
    names = ["filtered.tif"] + ([] if internal else ["filtered.tif.msk"])
    assert sorted(p.name for p in (tmp_path / "cut").glob("filtered*")) == names
    for name in names:
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_a_mask_comes_out_as_alpha_where_the_format_has_no_masks(tmp_path):
    image = make_image((200, 180, 3), np.uint8, seed=4)
    keep = np.ones((200, 180), bool)
    keep[20:90, 30:120] = False
    _masked_geotiff(tmp_path / "in.tif", image, keep, internal=True)
    assert (
        _run(
            tmp_path / "in.tif",
            "-o",
            tmp_path / "o",
            "--chunks",
            "64",
            "--no-plots",
            "--output-format",
            "zarr",
        )
        == 0
    )
    out = zarr.open_array(str(tmp_path / "o" / "filtered.zarr"), mode="r")
    assert out.shape == (200, 180, 4) and out.attrs["alpha"]
    np.testing.assert_array_equal(out[..., 3] > 0, keep)


def test_a_masked_cog_keeps_its_mask_in_every_overview(tmp_path):
    rasterio = pytest.importorskip("rasterio")

    image = make_image((1200, 1100, 3), np.uint8, seed=5)
    keep = np.zeros((1200, 1100), bool)
    keep[100:1000, 150:900] = True
    _masked_geotiff(tmp_path / "in.tif", image, keep, internal=True)
    assert (
        _run(tmp_path / "in.tif", "-o", tmp_path / "o", "--output-format", "cog", "--no-plots") == 0
    )
    with rasterio.open(tmp_path / "o" / "filtered.tif") as ds:
        assert ds.count == 3 and ds.overviews(1) == [2, 4, 8, 16]  # the input's 64-px tiles
        np.testing.assert_array_equal(ds.dataset_mask() > 0, keep)
    for level, step in ((0, 2), (1, 4)):  # kept where the mask keeps any pixel under it
        with rasterio.open(tmp_path / "o" / "filtered.tif", overview_level=level) as ds:
            kept = ds.dataset_mask() > 0
        sub = keep[: keep.shape[0] // step * step, : keep.shape[1] // step * step]
        want = sub.reshape(sub.shape[0] // step, step, sub.shape[1] // step, step).any(axis=(1, 3))
        np.testing.assert_array_equal(kept[: want.shape[0], : want.shape[1]], want)
    from rio_cogeo.cogeo import cog_validate

    assert cog_validate(str(tmp_path / "o" / "filtered.tif"), strict=True)[0]


def test_exact_refuses_a_mask_in_one_line(tmp_path, capsys):
    pytest.importorskip("rasterio")
    image = make_image((100, 100), np.float32)
    _masked_geotiff(tmp_path / "in.tif", image, np.ones((100, 100), bool), internal=True)
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "o", "--exact") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--exact does not take a TIFF mask" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("compress", "dtype", "bands", "options"),
    [
        ("LZW", np.uint16, 1, {"predictor": 2}),
        ("DEFLATE", np.float32, 1, {"predictor": 3}),
        ("ZSTD", np.int16, 2, {}),
        ("LZMA", np.uint8, 1, {}),
        ("PACKBITS", np.uint8, 3, {}),
        ("WEBP", np.uint8, 3, {"webp_lossless": True}),
        ("LERC", np.float32, 1, {"max_z_error": 0}),
        ("LERC_ZSTD", np.uint16, 1, {}),
    ],
)
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_every_compression_gdal_writes_is_read(tmp_path, compress, dtype, bands, options):
    """Tiled TIFFs as GDAL writes them, each compression and predictor: what GDAL decodes
    is what gets filtered."""
    rasterio = pytest.importorskip("rasterio")

    image = make_image((300, 260, bands) if bands > 1 else (300, 260), dtype, seed=7)
    src = tmp_path / "in.tif"
    with rasterio.open(
        src,
        "w",
        driver="GTiff",
        width=260,
        height=300,
        count=bands,
        dtype=np.dtype(dtype).name,
        tiled=True,
        blockxsize=128,
        blockysize=128,
        compress=compress,
        **options,
    ) as dst:
        dst.write(np.moveaxis(image, 2, 0) if bands > 1 else image[None])
    with rasterio.open(src) as ds:
        assert ds.compression.name.upper().replace("-", "_") == compress
        decoded = ds.read()
    decoded = np.moveaxis(decoded, 0, 2) if bands > 1 else decoded[0]
    assert (
        _run(src, "-o", tmp_path / "o", "--cutoff", "0.08", "--no-plots", "--output-format", "zarr")
        == 0
    )
    got = zarr.open_array(str(tmp_path / "o" / "filtered.zarr"), mode="r")[...]
    ref = reference_lowpass(decoded.astype(np.float64), 0.08, pad=100)
    if np.dtype(dtype).kind in "ui":
        lim = np.iinfo(dtype)
        assert np.abs(got.astype(float) - np.clip(np.rint(ref), lim.min, lim.max)).max() <= 1
    else:
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(decoded).max()


def test_pictures_leave_a_masked_block_out(tmp_path, monkeypatch):
    """The overview gets holes (NaN) where the mask leaves pixels out, not their garbage."""
    from daskfft.run import plots

    image = make_image((300, 260, 3), np.uint8, seed=8)
    keep = np.ones((300, 260), bool)
    keep[40:200, 60:180] = False
    image[~keep] = 0  # garbage that would show as a black block
    _masked_geotiff(tmp_path / "in.tif", image, keep, internal=True)
    seen = {}
    real = plots.overview

    def spy(path, thumb_in, thumb_out, step, crop_in, crop_out, box, **kw):
        seen.update(thumb_in=thumb_in, crop_in=crop_in, crop_out=crop_out, box=box, step=step)
        return real(path, thumb_in, thumb_out, step, crop_in, crop_out, box, **kw)

    monkeypatch.setattr(plots, "overview", spy)
    assert _run(tmp_path / "in.tif", "-o", tmp_path / "o") == 0
    s, (r0, r1, c0, c1) = seen["step"], seen["box"]
    assert np.array_equal(np.isnan(seen["thumb_in"]).all(axis=2), ~keep[::s, ::s])
    assert np.array_equal(np.isnan(seen["crop_in"]).all(axis=2), ~keep[r0:r1, c0:c1])
    assert np.array_equal(np.isnan(seen["crop_out"]).all(axis=2), ~keep[r0:r1, c0:c1])
