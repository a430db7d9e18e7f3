"""A gigapixel file to file, where daskfft earns its place: against the floor and libvips.

In one run, on a uint8 tiled TIFF of ``--size`` squared (32768: 1 Gpx):

- the block-wise FFT floor (issue #17's): the plain 2-D FFT pair of every chunk's window
  (2048-px chunks and the halo rule's halo, at a fast length) on all cores, nothing else;
  and the output's bytes alone written to a new file (what any run adds to it);
- the floor: the whole image read into memory, padded, one ducc0 real FFT
  pair in float32 with all cores, written back as a tiled TIFF;
- ``daskfft run`` with its default outputs, and lean (``--spectra none
  --no-plots``);
- libvips ``gaussblur`` file to file, in float precision and in its default
  integer precision for 8-bit data.

Each line gives the wall seconds (the best of ``--repeat`` runs, the methods taking
turns), the ratio to the floor, the peak resident
memory of the process and its children, and the error of the result against
a float64 reference: the sampled Gaussian applied by FFT on two windows (the
centre and the top-left corner, where the reflected edge counts), each with
a margin of 12 sigma of real neighbours, in gray levels (max and mean on
each).  Every result is rounded to 8 bits, so 0.5 is the least error possible.

    python benchmarks/bench_gigapixel.py --size 32768 --sigma 8 --chunks 2048
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import psutil
import tifffile
from bench_memory import make_tiff

WINDOW = 2048


def watch(fn):
    """Run ``fn()``; return (seconds, peak bytes: this process's growth plus its children's RSS)."""
    me, peak, stop = psutil.Process(), [0], threading.Event()

    def sample():
        while not stop.is_set():
            try:
                # This process's growth (an in-memory method) plus its children (a command):
                # the floor's freed gigabytes make this process's own size a poor baseline.
                mine = max(0, me.memory_info().rss - base)
                kids = sum(p.memory_info().rss for p in me.children(recursive=True))
                peak[0] = max(peak[0], mine + kids)
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.05)

    base = me.memory_info().rss
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    stop.set()
    thread.join()
    return seconds, peak[0]


def floor(src, dst, sigma):
    import ducc0

    from daskfft.kernels.halo import halo_depth
    from daskfft.kernels.transfer import cutoff_from_sigma, transfer_function

    x = tifffile.imread(src)
    d = halo_depth(cutoff_from_sigma(sigma))
    n = x.shape[0]
    size = tuple(ducc0.fft.good_size(n + 2 * d, True) for _ in range(2))
    xp = np.pad(x, [(d, size[0] - n - d), (d, size[1] - n - d)], mode="symmetric")
    del x
    xp = xp.astype(np.float32)
    spec = ducc0.fft.r2c(xp, axes=(0, 1), nthreads=os.cpu_count())
    del xp
    spec *= transfer_function(size, cutoff_from_sigma(sigma), "gaussian", 4, np.float32)
    y = ducc0.fft.c2r(
        spec,
        axes=(0, 1),
        lastsize=size[1],
        forward=False,
        inorm=2,
        nthreads=os.cpu_count(),
        allow_overwriting_input=True,
    )
    del spec
    out = np.clip(np.rint(y[d : d + n, d : d + n]), 0, 255).astype(np.uint8)
    del y
    tifffile.imwrite(dst, out, tile=(256, 256))


def block_floor(n, sigma, chunks):
    """Seconds of the block-wise FFT floor: the plain 2-D FFT pair (ducc0, float32, the
    transfer function's grid) of every chunk's window, at the halo rule's window and its
    fast length, from a uint8 window already in memory, one window a core at a time on
    every core; no reading, writing or anything else (issue #17's floor)."""
    from concurrent.futures import ThreadPoolExecutor

    import ducc0

    from daskfft.kernels.spec import FilterSpec
    from daskfft.kernels.transfer import cutoff_from_sigma, transfer_function

    cutoff = cutoff_from_sigma(sigma)
    m = ducc0.fft.good_size(chunks + 2 * FilterSpec(cutoff=cutoff).halo().depth, True)
    count = (-(-n // chunks)) ** 2
    h = transfer_function((m, m), cutoff, "gaussian", 4, np.float32)
    window = np.random.default_rng(0).integers(0, 256, (m, m)).astype(np.uint8)

    def pair(_):
        spec = ducc0.fft.r2c(window.astype(np.float32), axes=(0, 1))
        spec *= h
        ducc0.fft.c2r(spec, axes=(0, 1), lastsize=m, forward=False, inorm=2,
                      allow_overwriting_input=True)  # fmt: skip

    pair(0)  # plans and the grid made
    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(pair, range(count)))
    return time.perf_counter() - t0, count, m


def write_floor(n, work):
    """Seconds to write an output's bytes (``n``² of uint8, 4 MiB at a time) to a new file
    beside the runs' and nothing else: what any run pays to hand its result to the file
    system (on this VM mostly the host backing the page cache's fresh pages)."""
    path = os.path.join(work, "bytes-alone.bin")
    block = np.ones(4 << 20, np.uint8)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for offset in range(0, n * n, block.size):
            os.pwrite(fd, memoryview(block[: min(block.size, n * n - offset)]), offset)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - t0
    os.unlink(path)
    return seconds


def reference_windows(src, sigma):
    """(box, float64 reference) for the centre and the top-left corner windows."""
    n = tifffile.TiffFile(src).pages[0].shape[0]
    m = int(12 * sigma) + 8
    k = np.arange(-m, m + 1)
    g = np.exp(-(k**2) / (2.0 * sigma**2))
    g /= g.sum()
    out = []
    with tifffile.TiffFile(src) as tif:
        for r0, c0 in ((n // 2 - WINDOW // 2, n // 2 - WINDOW // 2), (0, 0)):
            a0, a1 = max(0, r0 - m), min(n, r0 + WINDOW + m)
            b0, b1 = max(0, c0 - m), min(n, c0 + WINDOW + m)
            region = _region(tif, a0, a1, b0, b1).astype(np.float64)
            # Past the image's edge, the reflection the filters use.
            region = np.pad(
                region,
                ((m - (r0 - a0), m - (a1 - r0 - WINDOW)), (m - (c0 - b0), m - (b1 - c0 - WINDOW))),
                mode="symmetric",
            )
            y = _convolve_fft(region, g)[m : m + WINDOW, m : m + WINDOW]
            out.append(((r0, r0 + WINDOW, c0, c0 + WINDOW), y))
    return out


def _region(tif, r0, r1, c0, c1):
    from daskfft.io.tiff.read import _tiff_segments

    return _tiff_segments(tif, (slice(r0, r1), slice(c0, c1)), (r1 - r0, c1 - c0))


def _convolve_fft(x, g):
    """Circular convolution of x with the separable kernel g x g (x is padded enough)."""

    def transform(size, real):
        k = np.zeros(size)
        k[np.arange(-(g.size // 2), g.size // 2 + 1) % size] = g
        return (np.fft.rfft(k) if real else np.fft.fft(k)).real

    spec = np.fft.rfft2(x)
    spec *= transform(x.shape[0], False)[:, None] * transform(x.shape[1], True)[None, :]
    return np.fft.irfft2(spec, s=x.shape)


def errors(path, refs):
    """(max, mean) gray-level error on each reference window."""
    out = []
    with tifffile.TiffFile(path) as tif:
        for (r0, r1, c0, c1), ref in refs:
            diff = np.abs(_region(tif, r0, r1, c0, c1).astype(np.float64) - ref)
            out += [diff.max(), diff.mean()]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32768)
    parser.add_argument("--sigma", type=float, default=8.0)
    parser.add_argument("--chunks", type=int, default=2048)
    parser.add_argument("--workdir", default=None, help="where the images go (default: a temp dir)")
    parser.add_argument("--skip", nargs="*", default=[], help="leave out runs naming these")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each method (the block floor too) this many times, in turn, and keep the "
        "best (this VM's runs vary by 10-20 %%: the host backs freed memory again on first touch)",
    )
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="daskfft-giga-")
    src = os.path.join(work, f"in{args.size}.tif")
    if not os.path.exists(src):
        make_tiff(src, args.size)
    refs = reference_windows(src, args.sigma)
    print(
        f"{args.size}^2 uint8 tiled TIFF, sigma {args.sigma:g}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; errors in gray levels on two "
        f"{WINDOW}^2 windows"
    )
    print(f"{'':<69}{'centre':>18}{'corner':>18}")
    print(
        f"{'method':<34}{'seconds':>8}{'x floor':>9}{'x blocks':>9}{'peak MB':>9}"
        + f"{'max err':>9}{'mean err':>9}" * 2
    )
    daskfft = [
        sys.executable,
        "-m",
        "daskfft",
        "run",
        src,
        "--overwrite",
        "-q",
        "--sigma",
        str(args.sigma),
        "--chunks",
        str(args.chunks),
    ]

    def vips(precision):
        import pyvips

        def go():
            image = pyvips.Image.new_from_file(src).gaussblur(args.sigma, precision=precision)
            if precision == "float":
                image = image.rint().cast("uchar")
            image.write_to_file(os.path.join(work, f"vips-{precision}.tif"), tile=True)

        return go

    runs = [
        (
            "floor (whole image in memory)",
            os.path.join(work, "floor.tif"),
            lambda: floor(src, os.path.join(work, "floor.tif"), args.sigma),
        ),
        (
            "daskfft default",
            os.path.join(work, "default", "filtered.tif"),
            lambda: subprocess.run(daskfft + ["-o", os.path.join(work, "default")], check=True),
        ),
        (
            "daskfft lean",
            os.path.join(work, "lean", "filtered.tif"),
            lambda: subprocess.run(
                daskfft + ["-o", os.path.join(work, "lean"), "--spectra", "none", "--no-plots"],
                check=True,
            ),
        ),
        ("libvips gaussblur, float", os.path.join(work, "vips-float.tif"), vips("float")),
        ("libvips gaussblur, integer", os.path.join(work, "vips-integer.tif"), vips("integer")),
    ]
    runs = [run for run in runs if not any(word in run[0] for word in args.skip)]
    blocks, written = float("inf"), float("inf")
    best = {name: (float("inf"), 0) for name, _, _ in runs}
    for _ in range(max(1, args.repeat)):  # each method once a round, the rounds in turn
        seconds, count, m = block_floor(args.size, args.sigma, args.chunks)
        blocks = min(blocks, seconds)
        written = min(written, write_floor(args.size, work))
        for name, _, fn in runs:
            seconds, peak = watch(fn)
            best[name] = (min(best[name][0], seconds), max(best[name][1], peak))
    print(f"block-wise FFT floor: {count} windows of {m}^2, {blocks:.1f} s; 'x blocks' is a "
          f"run's seconds over it (best of {max(1, args.repeat)})")  # fmt: skip
    print(f"the output's bytes alone ({args.size**2 / 1e9:.2f} GB) written to a new file: "
          f"{written:.1f} s; block floor + them: {blocks + written:.1f} s")  # fmt: skip
    base = None
    for name, out, _ in runs:
        seconds, peak = best[name]
        base = base or seconds
        errs = errors(out, refs)
        print(
            f"{name:<34}{seconds:>8.1f}{seconds / base:>9.2f}{seconds / blocks:>9.2f}"
            f"{peak / 2**20:>9.0f}" + "".join(f"{e:>9.3g}" for e in errs),
            flush=True,
        )


if __name__ == "__main__":
    main()
