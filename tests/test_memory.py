"""Memory that does not grow with the image: peak RSS of real runs at two heights."""

import subprocess
import sys

import numpy as np
import pytest

from daskfft import io

pytestmark = pytest.mark.slow

# Runs the command as its only child and prints the child's peak RSS (KiB on Linux).
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
WIDTH = 2048


def _peak_bytes(path, out):
    cmd = [sys.executable, "-c", _PEAK, sys.executable, "-m", "daskfft", "run", str(path),
           "-o", str(out), "--cluster", "threads", "--chunks", "256", "--spectra", "none",
           "--no-plots", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return 1024 * int(proc.stdout.strip().splitlines()[-1])


def _tall_tiff(path, height):
    def rows(r0, r1):
        y = np.arange(r0, r1)[:, None]
        x = np.arange(WIDTH)[None, :]
        return np.sin(0.01 * x + 0.013 * y).astype(np.float32)

    io.write_tiff(path, rows, (height, WIDTH), np.float32, band=1024)


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
