"""Cost against sigma: the default command's time and peak memory at each sigma, as ratios to
sigma 8 in the same run, and its error against a float64 whole-image reference.

In one run, on an RGB ``--size``² tiled TIFF (the built-in sample, ``daskfft sample``) in
uint8 and in float32: ``daskfft run IN -o OUT --sigma S`` in a fresh process, with its
default outputs and lean (``--spectra none --no-plots``), for every ``--sigmas``; each
figure the best of ``--repeat`` runs, the peak the largest resident memory of the command
and its children, sampled every 0.1 s.  Printed: seconds, peak MB and their ratios to
sigma 8's (issue #17's targets: sigma 150 within 1.25x in time, 1.3x in memory).

With ``--baseline SRC`` (the ``src`` folder of another checkout, e.g. the commit before a
change: ``git worktree add /tmp/base COMMIT``), every command also runs on that code, in
the same run, and the ratios new / baseline are printed (issue #17's "no regression").

For the sigmas of ``--check``, the uint8 and float32 outputs of the default command are
compared with a float64 reference on two 1024² windows (the centre, and the top-left
corner where the reflected edge counts), each cut with a margin of 12 sigma of real
neighbours (reflected past the edge) from the whole image and filtered by NumPy's FFT
with the sampled Gaussian: the whole-image result there.  The error is printed over
max|image| beside the bound report.json states (halo + rounding; the uint8 output's
rounding to whole levels, half a level, added).

    python benchmarks/bench_sigma.py --size 8192 --sigmas 1 2 4 8 16 32 64 150
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tifffile
from bench_memory import peak_rss  # this folder: the scripts run as benchmarks/<name>.py

WINDOW = 1024
LEAN = ["--spectra", "none", "--no-plots"]


def make_inputs(work, n):
    """The built-in sample as an RGB uint8 tiled TIFF of ``n``², and as float32."""
    u8 = os.path.join(work, f"sample{n}.tif")
    f32 = os.path.join(work, f"sample{n}-float32.tif")
    if not os.path.exists(u8):
        daskfft = [sys.executable, "-m", "daskfft", "sample", "-o", u8, "--size", str(n), "-q"]
        subprocess.run(daskfft, check=True)
    if not os.path.exists(f32):
        x = tifffile.imread(u8).astype(np.float32)
        tifffile.imwrite(f32, x, tile=(512, 512), bigtiff=True)
    return {"uint8": u8, "float32": f32}


def run(src, path, sigma, extra, repeat, out):
    """Best (seconds, peak bytes of the largest moment) of ``daskfft run`` over ``repeat``."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, "-m", "daskfft", "run", path, "-o", out, "--overwrite", "-q"]
    cmd += ["--sigma", str(sigma), *extra]
    best = (float("inf"), 0)
    for _ in range(repeat):
        code, seconds, peaks = peak_rss(cmd, env=env)
        if code:
            raise SystemExit(f"failed: {' '.join(cmd)}")
        peak = sum(rss for _, rss in peaks.values())
        best = min(best, (seconds, peak))
    return best


def reference_windows(path, sigma):
    """(box, float64 reference, max|image|) on the centre and the top-left corner."""
    x = tifffile.imread(path)
    n = x.shape[0]
    m = int(12 * sigma) + 8
    k = np.arange(-m, m + 1)
    g = np.exp(-(k**2) / (2.0 * sigma**2))
    g /= g.sum()
    out = []
    for r0 in (n // 2 - WINDOW // 2, 0):
        region = np.pad(x.astype(np.float64), ((m, m), (m, m), (0, 0)), mode="symmetric")
        region = region[r0 : r0 + WINDOW + 2 * m, r0 : r0 + WINDOW + 2 * m]
        y = _convolve(region, g)[m : m + WINDOW, m : m + WINDOW]
        out.append(((r0, r0 + WINDOW), y))
    return out, float(np.abs(x).max())


def _convolve(x, g):
    """Circular convolution of each channel of ``x`` with ``g`` x ``g`` (``x`` padded enough)."""

    def transfer(size, real):
        k = np.zeros(size)
        k[np.arange(-(g.size // 2), g.size // 2 + 1) % size] = g
        return (np.fft.rfft(k) if real else np.fft.fft(k)).real

    h = transfer(x.shape[0], False)[:, None, None] * transfer(x.shape[1], True)[None, :, None]
    return np.fft.irfft2(np.fft.rfft2(x, axes=(0, 1)) * h, s=x.shape[:2], axes=(0, 1))


def check(path, sigma, work, dtype):
    """The default command's largest error on the reference windows over max|image|, and the
    bound its report states for it."""
    out = os.path.join(work, "check")
    run(None, path, sigma, [], 1, out)
    got = tifffile.imread(os.path.join(out, "filtered.tif"))
    report = json.load(open(os.path.join(out, "report.json")))
    refs, top = reference_windows(path, sigma)
    error = max(np.abs(got[a:b, a:b].astype(np.float64) - y).max() for (a, b), y in refs)
    bound = report["halo"]["expected_max_deviation"] + report["precision"]["max_rounding_relative"]
    if dtype == "uint8":
        bound += 0.5 / top  # the output rounded to whole levels
    return error / top, bound, report["transforms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 150])
    parser.add_argument("--check", type=float, nargs="*", default=[8, 150])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline", help="the src folder of a checkout to compare with")
    parser.add_argument("--lean", action="store_true", help="time the lean command too")
    parser.add_argument("--workdir", help="where the inputs go (kept; default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="daskfft-sigma-")
    inputs = make_inputs(work, args.size)
    trees = {"new": None, **({"baseline": args.baseline} if args.baseline else {})}
    variants = {"default": [], **({"lean": LEAN} if args.lean else {})}
    print(f"daskfft run on the {args.size}^2 RGB sample, {os.cpu_count()} cores, best of "
          f"{args.repeat}; peak: all processes' resident memory at once")  # fmt: skip
    results = {}
    for dtype, path in inputs.items():
        for variant, extra in variants.items():
            for tree, src in trees.items():
                for sigma in args.sigmas:
                    out = os.path.join(work, "out")
                    results[dtype, variant, tree, sigma] = run(
                        src, path, sigma, extra, args.repeat, out
                    )
    for dtype in inputs:
        for variant in variants:
            print(f"\n{dtype}, {variant} command")
            head = f"{'sigma':>6}" + "".join(
                f"{t + ' s':>12}{'MB':>7}{'/ s8':>7}{'MB / s8':>9}" for t in trees
            )
            print(head + ("   new / baseline: time, MB" if args.baseline else ""))
            for sigma in args.sigmas:
                line = f"{sigma:>6g}"
                for tree in trees:
                    t, m = results[dtype, variant, tree, sigma]
                    t8, m8 = results.get((dtype, variant, tree, 8.0), (t, m))
                    line += f"{t:>12.2f}{m / 1e6:>7.0f}{t / t8:>7.2f}{m / m8:>9.2f}"
                if args.baseline:
                    t, m = results[dtype, variant, "new", sigma]
                    tb, mb = results[dtype, variant, "baseline", sigma]
                    line += f"   {t / tb:.2f}x, {m / mb:.2f}x"
                print(line)
    for sigma in args.check:
        for dtype, path in inputs.items():
            error, bound, transforms = check(path, sigma, work, dtype)
            kept = transforms["low_passes"][0]["kept"]
            print(f"sigma {sigma:g}, {dtype}: error / max|image| {error:.2e}, reported bound "
                  f"{bound:.2e} ({'within' if error <= bound else 'OVER'}); "
                  f"{transforms['pair']} pair on {transforms['window']}, kept {kept}")  # fmt: skip


if __name__ == "__main__":
    main()
