"""daskfft beside the tools users pick instead, in one run, as ratios to the in-memory floor.

For each sigma: the floor (the whole image in memory, padded, one ducc0 real
FFT pair on all cores, float32), ``daskfft run`` file to file (default outputs
and lean on the default cluster, the default with ``--cluster local``'s dashboard
and with ``--cluster processes``), dask-image's ``gaussian_filter``
(threads, in memory), OpenCV's ``GaussianBlur`` (in memory), libvips'
``gaussblur`` file to file (float precision) and scipy.ndimage's
``gaussian_filter`` (one thread, in memory).  Each result's error is
``max|result - reference| / max|reference|`` against a float64 whole-image
FFT filter with reflected edges.  Needs the peers, which are not daskfft's
dependencies: ``pip install dask-image opencv-python-headless pyvips
pyvips-binary scipy``.

    python benchmarks/bench_peers.py --size 8192 --sigma 1 2 8 32 64 --chart docs/peers.png
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import tifffile
from bench_command import floor, make_input


def reference(x, sigma):
    """float64 whole-image Gaussian with reflected edges: the sampled Gaussian kernel of
    ``sigma`` (``scipy.ndimage.gaussian_filter``'s, untruncated), applied by FFT.

    The kernel's transform is taken here by numpy from the kernel itself, not
    from daskfft's transfer function.
    """
    import ducc0

    pad = int(12 * sigma) + 8
    xp = np.pad(x.astype(np.float64), pad, mode="symmetric")
    n = np.arange(-pad, pad + 1)
    g = np.exp(-(n**2) / (2.0 * sigma**2))
    g /= g.sum()

    def transform(size, real):
        k = np.zeros(size)
        k[n % size] = g
        return (np.fft.rfft(k) if real else np.fft.fft(k)).real

    spec = ducc0.fft.r2c(xp, axes=(0, 1), nthreads=os.cpu_count())
    spec *= transform(xp.shape[0], False)[:, None] * transform(xp.shape[1], True)[None, :]
    y = ducc0.fft.c2r(
        spec, axes=(0, 1), lastsize=xp.shape[1], forward=False, inorm=2, nthreads=os.cpu_count()
    )
    return y[pad:-pad, pad:-pad]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_daskfft(path, sigma, extra):
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        args = ["run", path, "-o", tmp, "-q", "--sigma", str(sigma), *extra]
        subprocess.run([sys.executable, "-m", "daskfft", *args], check=True)
        return time.perf_counter() - t0, tifffile.imread(os.path.join(tmp, "filtered.tif"))


def peers(path, x, sigma):
    """(name, seconds, result) of each method; in-memory peers get the image already read."""
    import cv2
    import dask
    import dask.array as da
    import pyvips
    import scipy.ndimage as ndi
    from dask_image.ndfilters import gaussian_filter

    yield ("daskfft default",) + run_daskfft(path, sigma, [])
    yield ("daskfft lean",) + run_daskfft(path, sigma, ["--spectra", "none", "--no-plots"])
    yield ("daskfft default, dashboard",) + run_daskfft(path, sigma, ["--cluster", "local"])
    yield ("daskfft default, processes",) + run_daskfft(path, sigma, ["--cluster", "processes"])
    with dask.config.set(scheduler="threads"):
        yield ("dask-image (threads)",) + timed(
            lambda: gaussian_filter(da.from_array(x, chunks=1024), sigma, mode="reflect").compute()
        )
    cv2.setNumThreads(os.cpu_count())
    yield ("OpenCV GaussianBlur",) + timed(
        lambda: cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "vips.tif")
        seconds, _ = timed(
            lambda: (
                pyvips.Image.new_from_file(path)
                .gaussblur(sigma, precision="float")
                .write_to_file(out, tile=True)
            )
        )
        yield "libvips gaussblur (file)", seconds, tifffile.imread(out)
    yield ("scipy.ndimage (1 thread)",) + timed(
        lambda: ndi.gaussian_filter(x, sigma, mode="reflect")
    )


def chart(path, rows, sigmas):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots(gridspec_kw=dict(left=0.1, right=0.7, bottom=0.12, top=0.9))
    for name in dict.fromkeys(r[1] for r in rows):
        pts = [(r[0], r[2]) for r in rows if r[1] == name]
        ax.loglog(*zip(*pts), marker="o", label=name)
    ax.set_xticks(sigmas, [f"{s:g}" for s in sigmas])
    ax.set_xlabel("Gaussian sigma (pixels)")
    ax.set_ylabel("seconds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    ax.set_title(f"{os.cpu_count()} cores: seconds against sigma", fontsize=10)
    fig.savefig(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--sigma", type=float, nargs="+", default=[1, 2, 8, 32, 64])
    parser.add_argument("--chart", help="write seconds against sigma to this PNG")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.tif")
        make_input(path, args.size)
        x = tifffile.imread(path)
        print(f"{args.size}^2 float32 tiled TIFF, {os.cpu_count()} cores")
        print(f"{'sigma':>5}  {'method':<26}{'seconds':>8}{'x floor':>9}{'max error':>11}")
        for sigma in args.sigma:
            base = floor(path, sigma, 2)
            ref = reference(x, sigma)
            scale = np.abs(ref).max()
            rows.append((sigma, "floor (in memory)", base))
            print(f"{sigma:>5g}  {'floor (in memory)':<26}{base:>8.2f}{1:>9.2f}")
            for name, seconds, out in peers(path, x, sigma):
                err = float(np.abs(np.asarray(out, np.float64) - ref).max() / scale)
                rows.append((sigma, name, seconds))
                print(
                    f"{sigma:>5g}  {name:<26}{seconds:>8.2f}{seconds / base:>9.2f}{err:>11.1e}",
                    flush=True,
                )
    if args.chart:
        chart(args.chart, rows, args.sigma)


if __name__ == "__main__":
    main()
