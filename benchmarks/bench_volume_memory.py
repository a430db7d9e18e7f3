"""Peak memory of every process of a volume's disk-to-disk run, at two depths.

Writes a uint8 (z, y, x) Zarr v3 volume of each shape (dims named
``("z", "y", "x")``), z-slab by z-slab, in a compressible pattern (boxes and
a grid: the Zarr's default zstd keeps it a fraction of its raw size), filters
it to ``filtered.zarr`` with the default command and outputs (pictures,
spectra, report; options after ``--`` are added) and samples the resident
memory of the command and all its descendants every 0.1 s, as
``bench_memory.py`` does.  Prints each run's largest process, the total of
all processes, the bytes written, and the ratio of the deeper volume's
largest process to the shallower one's.  Each output is removed after its
run, each input after its run unless ``--keep``.

Needs psutil; disk: one input and its output at a time (the sizes are
printed).

    python benchmarks/bench_volume_memory.py --shapes 256 4096 4096 1024 4096 4096
    python benchmarks/bench_volume_memory.py --shapes 32 512 512 128 512 512   # a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np
import zarr
from bench_memory import peak_rss


def make_volume(path, shape, chunks=(64, 256, 256)):
    """A uint8 (z, y, x) Zarr volume of boxes and a grid, written z-slab by z-slab."""
    nz, ny, nx = shape
    chunks = tuple(min(c, n) for c, n in zip(chunks, shape))
    arr = zarr.create_array(
        path, shape=shape, chunks=chunks, dtype="uint8", dimension_names=("z", "y", "x")
    )
    y = np.arange(ny)[:, None]
    x = np.arange(nx)[None, :]
    grid = ((x % 97 < 6) | (y % 89 < 6)).astype(np.uint8) * 60
    for z0 in range(0, nz, chunks[0]):
        z1 = min(z0 + chunks[0], nz)
        slab = np.empty((z1 - z0, ny, nx), np.uint8)
        for i, z in enumerate(range(z0, z1)):
            boxes = ((x // 64 + y // 64 + z // 16) % 3).astype(np.uint8) * 60
            slab[i] = 40 + boxes + grid
        arr[z0:z1] = slab


def disk_bytes(path):
    return sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes",
        type=int,
        nargs=6,
        default=[256, 4096, 4096, 1024, 4096, 4096],
        metavar=("Z1", "Y1", "X1", "Z2", "Y2", "X2"),
        help="the two volumes' (z, y, x) shapes",
    )
    parser.add_argument("--workdir", default=None, help="where the volumes go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the input volumes")
    parser.add_argument("extra", nargs="*", help="more daskfft run options, after --")
    args = parser.parse_args()
    shapes = [tuple(args.shapes[:3]), tuple(args.shapes[3:])]
    work = args.workdir or tempfile.mkdtemp(prefix="daskfft-bench-volume-memory-")
    print(f"uint8 (z, y, x) Zarr in, the default command and outputs {args.extra}; {work}")
    print(
        f"{'shape':>16} {'Gvoxels':>8} {'in MB':>8} {'out MB':>8} {'seconds':>8} "
        f"{'largest process':>16} {'all processes':>14}"
    )
    largest = {}
    for shape in shapes:
        name = "x".join(map(str, shape))
        src = os.path.join(work, f"in{name}.zarr")
        out = os.path.join(work, f"out{name}")
        if not os.path.exists(src):
            make_volume(src, shape)
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "daskfft", "run", src, "-o", out, "-q", *args.extra]
        rc, seconds, peaks = peak_rss(cmd)
        if rc:
            raise SystemExit(f"run failed with exit status {rc}")
        top = max(rss for _, rss in peaks.values())
        largest[shape] = top
        print(
            f"{name:>16} {np.prod(shape) / 1e9:8.2f} {disk_bytes(src) / 1e6:8.1f} "
            f"{disk_bytes(out) / 1e6:8.1f} {seconds:8.1f} {top / 2**20:13.0f} MB "
            f"{sum(r for _, r in peaks.values()) / 2**20:11.0f} MB",
            flush=True,
        )
        shutil.rmtree(out)
        if not args.keep:
            shutil.rmtree(src)
    small, big = shapes
    print(
        f"largest process {'x'.join(map(str, big))} / {'x'.join(map(str, small))} = "
        f"{largest[big] / largest[small]:.2f} (voxels x{np.prod(big) / np.prod(small):.0f})"
    )
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
