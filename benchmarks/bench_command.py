"""Time the ``daskfft run`` command file to file, as users run it, against the in-memory floor.

In one run: the floor (the whole image in memory, padded, one ducc0 real FFT
pair with all cores, float32), then ``daskfft run`` in a fresh process with
its default outputs and lean (``--spectra none --no-plots``), on each kind of
single-machine cluster.  Every figure is the best of ``--repeat`` runs and is
printed as a ratio to the floor, with the start-up (imports, cluster) and the
work that report.json splits.

    python benchmarks/bench_command.py --size 8192 --sigma 8 32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import ducc0
import numpy as np
import tifffile

from daskfft import io
from daskfft.kernels.halo import halo_depth
from daskfft.kernels.transfer import cutoff_from_sigma, transfer_function


def make_input(path, n):
    """An n x n float32 tiled TIFF with structure at many scales."""

    def rows(r0, r1):
        y = np.arange(r0, r1, dtype=np.float32)[:, None]
        x = np.arange(n, dtype=np.float32)[None, :]
        return (np.sin(0.02 * x) * np.cos(0.031 * y) * 100 + (x % 97) + (y % 61)).astype(np.float32)

    io.write_tiff(path, rows, (n, n), np.float32, band=1024)


def floor(path, sigma, repeat):
    """Seconds of the whole-image filter in memory (the input already read)."""
    x = tifffile.imread(path)
    cutoff = cutoff_from_sigma(sigma)
    d = halo_depth(cutoff)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        xp = np.pad(x, d, mode="symmetric")
        shape = tuple(ducc0.fft.good_size(n, True) for n in xp.shape)
        xp = np.pad(
            xp, [(0, shape[0] - xp.shape[0]), (0, shape[1] - xp.shape[1])], mode="symmetric"
        )
        spec = ducc0.fft.r2c(xp, axes=(0, 1), nthreads=os.cpu_count())
        spec *= transfer_function(shape, cutoff, "gaussian", 4, np.float32)
        ducc0.fft.c2r(
            spec, axes=(0, 1), lastsize=shape[1], forward=False, inorm=2, nthreads=os.cpu_count()
        )
        best = min(best, time.perf_counter() - t0)
    return best


def command(path, sigma, extra, repeat):
    """Best wall seconds of ``daskfft run``, with that run's report.json."""
    best, report = float("inf"), None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            args = ["run", str(path), "-o", tmp, "--overwrite", "-q", "--sigma", str(sigma)]
            subprocess.run([sys.executable, "-m", "daskfft", *args, *extra], check=True)
            wall = time.perf_counter() - t0
            if wall < best:
                best = wall
                with open(os.path.join(tmp, "report.json")) as fh:
                    report = json.load(fh)
    return best, report


VARIANTS = {
    "default": [],
    "lean": ["--spectra", "none", "--no-plots"],
    "default, local": ["--cluster", "local"],
    "lean, local": ["--cluster", "local", "--spectra", "none", "--no-plots"],
    "default, processes": ["--cluster", "processes"],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--sigma", type=float, nargs="+", default=[8.0, 32.0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.tif")
        make_input(path, args.size)
        print(f"{args.size}^2 float32 tiled TIFF, {os.cpu_count()} cores; ratios to the floor")
        print(
            f"{'sigma':>5}  {'method':<22}{'seconds':>8}{'x floor':>9}{'work x floor':>14}"
            f"{'start-up s':>12}"
        )
        for sigma in args.sigma:
            base = floor(path, sigma, args.repeat + 1)
            print(f"{sigma:>5g}  {'floor (in memory)':<22}{base:>8.2f}{1:>9.2f}")
            for name in args.variants:
                wall, report = command(path, sigma, VARIANTS[name], args.repeat)
                s = report["seconds"]
                work, start = s["work"], s["startup"]
                print(
                    f"{sigma:>5g}  {name:<22}{wall:>8.2f}{wall / base:>9.2f}"
                    f"{work / base:>14.2f}{start:>12.2f}"
                )


if __name__ == "__main__":
    main()
