"""One 2-D FFT pair per chunk, or an inverse split to transform only the rows the chunk keeps?

A task throws its halo's rows away, so the inverse's last pass (along the
rows) could skip them: the 2-D inverse as a column pass over every row and
a row pass over the kept rows only.  This times both on blocks of the sizes
the tasks use (a 1024-px chunk with the halos of sigma 8 and 32, rounded to
fast lengths), single-threaded as in a task, best of ``--repeat``.

    python benchmarks/bench_fft_split.py
"""

from __future__ import annotations

import argparse
import functools
import time

import ducc0
import numpy as np


def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _pair(x, h, n, keep):
    """The filter as one 2-D real FFT pair, cropped to the chunk."""
    s = ducc0.fft.r2c(x, axes=(0, 1))
    s *= h
    return ducc0.fft.c2r(
        s, axes=(0, 1), lastsize=n, forward=False, inorm=2, allow_overwriting_input=True
    )[keep, keep]


def _split(x, h, n, keep):
    """The same with the inverse split: columns first, then only the kept rows."""
    s = ducc0.fft.r2c(x, axes=(0, 1))
    s *= h
    s = ducc0.fft.c2c(s, axes=(0,), forward=False, out=s)
    out = ducc0.fft.c2r(
        s[keep], axes=(1,), lastsize=n, forward=False, allow_overwriting_input=True
    )[:, keep]
    out *= np.float32(1 / (n * n))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print("block  halo  2-D pair ms  split inverse ms  ratio  max difference")
    for chunk, halo in ((1024, 40), (1024, 161), (2048, 40), (2048, 161)):
        n = ducc0.fft.good_size(chunk + 2 * halo, True)
        rng = np.random.default_rng(0)
        x = rng.random((n, n), dtype=np.float32)
        h = rng.random((n, n // 2 + 1), dtype=np.float32)
        keep = slice(halo, halo + chunk)

        pair = functools.partial(_pair, x, h, n, keep)
        split = functools.partial(_split, x, h, n, keep)
        diff = float(np.abs(pair() - split()).max())
        a, b = best(pair, args.repeat), best(split, args.repeat)
        print(f"{n:5d}  {halo:4d}  {a * 1e3:11.2f}  {b * 1e3:16.2f}  {b / a:5.2f}  {diff:.1e}")


if __name__ == "__main__":
    main()
