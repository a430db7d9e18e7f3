"""GDAL's failures while writing a COG are the run's, never bugs: one line, exit 1, the
finished chunks kept for ``--resume``; a full disk names the file system."""

import os
import re

import numpy as np
import pytest
import rasterio.shutil
import tifffile
from rasterio._err import CPLE_AppDefinedError, CPLE_OpenFailedError

from daskfft.cli import main

from reference import make_image


@pytest.mark.parametrize(("error", "said"), [
    (CPLE_AppDefinedError(3, 1, "out.tif.tmp: Free disk space available is 0 bytes, whereas "
                          "123 are at least necessary. No space left on device"),
     "no space left on the file system mounted at "),
    (CPLE_OpenFailedError(3, 4, "Attempt to create new tiff file failed"),
     "GDAL could not write the COG (Attempt to create new tiff file failed)"),
])
def test_a_gdal_failure_writing_a_cog_is_one_line_and_keeps_the_chunks(
        tmp_path, monkeypatch, capsys, error, said):
    src, out = tmp_path / "in.tif", tmp_path / "out"
    tifffile.imwrite(src, make_image((300, 260), np.uint8, seed=2), tile=(128, 128))
    args = ["run", str(src), "-o", str(out), "--output-format", "cog", "--no-plots",
            "--spectra", "none", "--cluster", "threads", "-q"]

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(rasterio.shutil, "copy", failing)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("daskfft: error: ") and said in err, err
    assert re.search(r"; all \d+ chunks kept in \S+; rerun with --resume", err), err
    assert "internal error" not in err and not (out / "filtered.tif").exists()
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    monkeypatch.undo()
    assert main(args + ["--resume"]) == 0
    assert tifffile.imread(out / "filtered.tif").shape == (300, 260)
