"""A chunk's FFT pair, whole or pruned, for a 2-D Gaussian low-pass (issue #17's method choice).

A Gaussian of sigma 8 leaves nothing above ~0.13 cycles/px at float32 precision, yet a task
transforms every row and column of its window both ways and inverts the halo rows it then
throws away.  This times, on the window of one 2048-px chunk of an RGB image (the chunk and
the halo rule's halo at each sigma, float32, single-threaded as in a task, best of
``--repeat``), as ratios to today's pair in the same run:

- **whole**: today's pair (:func:`daskfft.kernels.block._fft_filter`, channels last): a 2-D
  r2c, the separable factors, a 2-D c2r, the chunk cropped;
- **pruned 3-D**: :func:`daskfft.kernels.pruned.pruned_filter`, the volumes' pruned pair, on
  the window as a volume of one plane;
- **pruned, channels first**: r2c along x of every row keeping x's band, c2c along y of
  those columns keeping y's band, the inverse along y, the rows the chunk keeps, then c2r
  along x: what the 3-D pair does, on a (channels, y, x) copy of the window made as it is
  converted to float32 (that copy timed too).

Each band leaves out the factor's smallest values summing to at most
:func:`~daskfft.kernels.pruned.pruned_tail` (eps / 64); the printed difference is the
largest against a float64 whole pair of the same window, over the window's range.

    python benchmarks/bench_pruned_2d.py --repeat 3
"""

from __future__ import annotations

import argparse

import ducc0
import numpy as np
from bench_fft_split import best  # this folder: the scripts run as benchmarks/<name>.py

from daskfft.kernels.block import _fft_filter
from daskfft.kernels.pruned import _band, pruned_filter, pruned_tail
from daskfft.kernels.spec import FilterSpec
from daskfft.kernels.transfer import transfer_factors


def pruned_channels_first(window, fy, fx, keep):
    """The pruned pair on ``window`` (y, x, channels), channels first inside; returns the
    kept part (y, x, channels) in the factors' precision."""
    n = window.shape[1]
    tail = pruned_tail(fy.dtype)
    iy, bx = _band(fy, tail), int(_band(fx, tail, 2.0)[-1]) + 1
    x = np.empty((window.shape[2],) + window.shape[:2], fy.dtype)
    for c in range(window.shape[2]):  # the conversion, written channels first
        x[c] = window[..., c]
    s = np.ascontiguousarray(ducc0.fft.r2c(x, axes=(2,))[:, :, :bx])
    s *= fx[:bx]
    ducc0.fft.c2c(s, axes=(1,), out=s)
    t = np.zeros_like(s)
    t[:, iy] = s[:, iy] * fy[iy][:, None]
    ducc0.fft.c2c(t, axes=(1,), forward=False, inorm=2, out=t)
    t = t[:, keep[0]]
    v = np.zeros((t.shape[0], t.shape[1], n // 2 + 1), t.dtype)
    v[:, :, :bx] = t
    w = ducc0.fft.c2r(
        v, axes=(2,), lastsize=n, forward=False, inorm=2, allow_overwriting_input=True
    )
    return np.moveaxis(w[:, :, keep[1]], 0, 2), (len(iy), len(fy), bx, n // 2 + 1)


def one(sigma, chunk, repeat):
    cutoff = 1 / (2 * np.pi * sigma)
    halo = FilterSpec(cutoff=cutoff).halo().depth
    n = ducc0.fft.good_size(chunk + 2 * halo, True)
    keep = (slice(halo, halo + chunk),) * 2
    window = np.random.default_rng(0).integers(0, 256, (n, n, 3)).astype(np.uint8)
    x32 = window.astype(np.float32)
    fy, fx = transfer_factors((n, n), cutoff, np.float32)
    fy64, fx64 = transfer_factors((n, n), cutoff, np.float64)
    reference = _fft_filter(window.astype(np.float64), (fy64, fx64), n, keep)
    ways = {
        "whole": lambda: _fft_filter(window.astype(np.float32), (fy, fx), n, keep),
        "pruned 3-D": lambda: pruned_filter(
            x32[None], (np.ones(1, np.float32), fy, fx), (slice(0, 1), *keep)
        )[0],
        "pruned, channels first": lambda: pruned_channels_first(window, fy, fx, keep)[0],
    }
    times = {name: best(fn, repeat) for name, fn in ways.items()}
    errors = {name: float(np.abs(fn() - reference).max()) / 255 for name, fn in ways.items()}
    bands = pruned_channels_first(window, fy, fx, keep)[1]
    return n, halo, bands, times, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[4, 8, 16, 32, 64, 150])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"one {args.chunk}-px chunk's window, RGB, float32, one thread, best of "
          f"{args.repeat}; ratios to the whole pair; difference / range vs float64")  # fmt: skip
    for sigma in args.sigmas:
        n, halo, (ky, ny, kx, nx), times, errors = one(sigma, args.chunk, args.repeat)
        whole = times["whole"]
        print(f"sigma {sigma:g}: window {n}^2 (halo {halo}), bands y {ky}/{ny}, x {kx}/{nx}; "
              f"whole {whole:.3f} s")  # fmt: skip
        for name, t in times.items():
            print(f"  {name:24s} {t:.3f} s  {t / whole:.2f}x  difference {errors[name]:.1e}")


if __name__ == "__main__":
    main()
