"""Memory that does not grow with the image: peak RSS of real runs at two sizes."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

pytestmark = pytest.mark.slow

# Runs the command as its only child and prints the child's peak RSS (KiB on Linux).
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _peak_kib(path, out):
    cmd = [sys.executable, "-c", _PEAK, sys.executable, "-m", "daskfft", "run", str(path),
           "-o", str(out), "--cluster", "threads", "--chunks", "256", "--spectra", "none",
           "--no-plots", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_the_image(tmp_path):
    """The data path alone (--no-plots: figures cost the same at any size, about 100 MB)."""
    peaks = {}
    for n in (256, 2048, 4096):
        path = tmp_path / f"in{n}.tif"
        rng = np.random.default_rng(n)
        tifffile.imwrite(path, rng.random((n, n), dtype=np.float32), tile=(256, 256))
        peaks[n] = _peak_kib(path, tmp_path / f"out{n}")
    base = peaks[256]
    small, big = peaks[2048] - base, peaks[4096] - base
    # 4x the pixels: a run that held the image would grow 4x; what grows here is
    # bands of chunk rows (TIFF writing) and chunks in flight, with the width: 1.4-2x.
    assert big < 3 * max(small, 1), peaks
