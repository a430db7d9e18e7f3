"""Output tiles are GDAL's usual ones whatever the chunking; the chunks are rounded to them."""

import json

import numpy as np
import pytest
import tifffile
from reference import make_image, reference_lowpass

from daskfft.cli import main

rasterio = pytest.importorskip("rasterio")

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _run(*args):
    return main(
        ["run", *map(str, args), "--cluster", "threads", "-q", "--no-plots", "--spectra", "none"]
    )


@pytest.mark.parametrize(
    ("layout", "fmt", "tile", "why"),
    [
        ({"rowsperstrip": 64}, "tiff", 256, "GDAL's usual tile"),  # was 64 x 64 (1216-px chunks)
        ({"rowsperstrip": 8}, "tiff", 256, "GDAL's usual tile"),  # was 16 x 16 (1200-px chunks)
        ({"rowsperstrip": 8}, "deflate", 256, "GDAL's usual tile"),  # (a pass from a store)
        ({"tile": (64, 64)}, "tiff", 128, "the input's 64-px tiles, raised to 128"),
        ({"tile": (512, 512)}, "tiff", 512, None),  # the input's tiles, and the chunks fit them
        ({"rowsperstrip": 64}, "cog", 512, "a COG's usual tile"),  # was 1216-px chunks, 64 tiles
        ({"tile": (128, 128)}, "cog", 128, None),  # a COG takes the input's tiles too
    ],
)
def test_chunks_1200_write_the_tiles_gis_tools_expect(tmp_path, layout, fmt, tile, why):
    """A pass from a store (compressed) and tiles written in place alike."""
    image = make_image((1500, 2600), np.uint8, seed=3)
    tifffile.imwrite(tmp_path / "in.tif", image, **layout)
    assert (
        _run(
            tmp_path / "in.tif",
            "-o",
            tmp_path / "o",
            "--chunks",
            1200,
            "--cutoff",
            0.05,
            *(["--co", "COMPRESS=DEFLATE"] if fmt == "deflate" else ["--output-format", fmt]),
        )
        == 0
    )
    with rasterio.open(tmp_path / "o" / "filtered.tif") as ds:
        assert ds.profile["blockxsize"] == ds.profile["blockysize"] == tile
        assert ds.block_shapes == [(tile, tile)]
        out = ds.read(1)
    ref = np.clip(np.rint(reference_lowpass(image, 0.05, pad=100)), 0, 255)
    assert np.abs(out - ref).max() <= 1
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["creation_options"]["BLOCKSIZE"] == str(tile)
    rounded = [c for c in report["choices"] if f"whole {tile}-px tiles of the" in c]
    if why is None:
        assert not rounded
    else:
        assert len(rounded) == 1 and f"({why})" in rounded[0], report["choices"]
        edge = int(rounded[0].split()[1])  # "chunks R x C px instead of ..."
        assert edge % tile == 0 and report["chunks"]["size"][0] == edge


def test_tile_never_below_128_and_blocksize_still_wins(tmp_path, capsys):
    image = make_image((700, 600), np.uint16, seed=2)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(32, 32))
    assert (
        main(
            [
                "run",
                str(tmp_path / "in.tif"),
                "-o",
                str(tmp_path / "o"),
                "--chunks",
                "200",
                "--cluster",
                "threads",
                "--no-plots",
            ]
        )
        == 0
    )
    assert "whole 128-px tiles of the TIFF output" in capsys.readouterr().err  # the log says so
    with rasterio.open(tmp_path / "o" / "filtered.tif") as ds:
        assert ds.block_shapes == [(128, 128)]
    assert (
        _run(tmp_path / "in.tif", "-o", tmp_path / "b", "--chunks", 200, "--co", "BLOCKSIZE=48")
        == 0
    )
    with rasterio.open(tmp_path / "b" / "filtered.tif") as ds:
        assert ds.block_shapes == [(48, 48)]
        got = ds.read(1).astype(np.int64)
    assert np.abs(got - tifffile.imread(tmp_path / "o" / "filtered.tif")).max() <= 1
