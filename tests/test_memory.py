"""Memory that does not grow with the image: peak RSS of real runs at two heights."""

import subprocess
import sys

import numpy as np
import pytest

from daskfft import io

pytestmark = pytest.mark.slow

# Runs the command as its only child and prints the child's peak RSS (KiB on Linux).
_PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)
WIDTH = 2048


def _peak_bytes(path, out, *options):
    options = options or ("--chunks", "256", "--spectra", "none", "--no-plots")
    cmd = [
        sys.executable,
        "-c",
        _PEAK,
        sys.executable,
        "-m",
        "daskfft",
        "run",
        str(path),
        "-o",
        str(out),
        "--cluster",
        "threads",
        "-q",
        *options,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr
    return 1024 * int(proc.stdout.strip().splitlines()[-1])


def _tall_tiff(path, height, width=WIDTH):
    def rows(r0, r1):
        y = np.arange(r0, r1)[:, None]
        x = np.arange(width)[None, :]
        return np.sin(0.01 * x + 0.013 * y).astype(np.float32)

    io.write_tiff(path, rows, (height, width), np.float32, band=256)


def test_peak_memory_does_not_grow_with_the_image(tmp_path):
    """The data path alone (--no-plots: figures cost the same at any size, about 100 MB).

    The width is fixed, so what may grow with the width (bands of chunk rows for
    the TIFF writer, a row of chunks in flight) is the same at both sizes, and only
    what grows with the image shows: 8x the pixels, 112 MiB more of float32 image.
    A run that held the image, or its result, would grow by at least that much.
    """
    peaks = {}
    for height in (2048, 16384):
        _tall_tiff(tmp_path / f"in{height}.tif", height)
        peaks[height] = _peak_bytes(tmp_path / f"in{height}.tif", tmp_path / f"out{height}")
    image_growth = (16384 - 2048) * WIDTH * 4
    growth = peaks[16384] - peaks[2048]
    # Measured here: 0.06 of the image growth (each task reads its own window; with
    # map_overlap the threaded scheduler read input chunks ahead of the filter: 0.55).
    assert growth < 0.2 * image_growth, (peaks, growth / image_growth)


def _wide_zarr(path, width):
    """2048 rows of ``width`` float32 px in 1000-px store chunks: chunks that are no whole
    number of output tiles, as a Zarr or a striped TIFF may have."""
    import zarr

    z = zarr.create_array(str(path), shape=(2048, width), dtype="float32", chunks=(1000, 1000))
    y = np.arange(2048)[:, None]
    for c0 in range(0, width, 8000):
        x = np.arange(c0, min(width, c0 + 8000))[None, :]
        z[:, c0 : c0 + x.shape[1]] = np.sin(0.01 * x + 0.013 * y).astype(np.float32)


@pytest.mark.parametrize(
    "output", [["--output-format", "tiff", "--co", "COMPRESS=DEFLATE"], ["--output-format", "cog"]]
)
def test_peak_memory_does_not_grow_with_the_width(tmp_path, output):
    """A compressed TIFF or a COG, with the default pictures, from an input stored in 1000-px
    chunks: finishing the output never holds a band of chunk rows (or 2048 rows) across the
    whole width.

    ``--chunks 1000`` at both sizes (by default a 65536-px-wide image would get 2048-px
    ones: the task memory, not the image, would grow), which the run rounds to 1024, whole
    tiles of the output (256 px for the TIFF, 512 for the COG); 32x the pixels, 496 MiB more
    of float32 image.  The compressed TIFF's tasks write a Zarr store, turned into the TIFF
    a row of tiles at a time; finishing that held a band of chunk rows across 65536 px held
    250-512 MiB.  The COG's tasks write its full-size level in place (every chunk edge on its
    tile grid), so this case covers GDAL's copy into the COG, with its overviews, under a
    bounded block cache, not the Zarr branch of ``write_cog`` (which chunks rounded to whole
    tiles no longer take).
    """
    import shutil

    peaks = {}
    for width in (2048, 65536):
        _wide_zarr(tmp_path / f"in{width}.zarr", width)
        peaks[width] = _peak_bytes(
            tmp_path / f"in{width}.zarr", tmp_path / f"out{width}", "--chunks", "1000", *output
        )
        shutil.rmtree(tmp_path / f"in{width}.zarr")  # 512 MiB of disk for the wide one
    assert peaks[65536] <= 1.3 * peaks[2048], (peaks, peaks[65536] / peaks[2048])


def test_peak_memory_does_not_grow_with_sigma(tmp_path):
    """The default command and outputs on a 4096^2 RGB float32 TIFF at sigma 4 and 100: at
    100 each 1024-px chunk's window (halo 502 px) holds 3.6x the pixels of sigma 4's, yet
    a task never holds it whole: it is read band by band as the pruned transforms ask for
    its rows, and cast band by band (issue #17).  Measured here: 0.96x (before: the window,
    its float copies and its whole spectrum, 2.5x)."""
    n = 4096

    def rows(r0, r1):
        y = np.arange(r0, r1, dtype=np.float32)[:, None, None]
        x = np.arange(n, dtype=np.float32)[None, :, None]
        c = np.arange(3, dtype=np.float32)[None, None, :]
        return (np.sin(0.01 * x + 0.013 * y + c) * 100 + (x % 97)).astype(np.float32)

    io.write_tiff(tmp_path / "in.tif", rows, (n, n, 3), np.float32, band=512)
    peaks = {
        sigma: _peak_bytes(
            tmp_path / "in.tif", tmp_path / f"o{sigma}", "--chunks", "1024", "--sigma", str(sigma)
        )  # fmt: skip
        for sigma in (4, 100)
    }
    assert peaks[100] < 1.3 * peaks[4], peaks
