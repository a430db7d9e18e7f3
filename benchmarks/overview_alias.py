"""Aliasing of pyramid overviews: this engine's against every GDAL resampling, on a zone plate.

A 1024-px zone plate's local frequency rises from 0 at the centre to 0.5
cycles/px at the middle of each edge.  A level-1 overview (512 px) can hold
frequencies up to 0.25 cycles/px of the full size: above that it should be
flat gray, and what is left there is alias (moire).  Below 0.12 it should
keep the plate.  Figures are RMS amplitudes relative to the plate's; the
tests (tests/test_pyramids.py) assert this engine's and GDAL average's.

    python benchmarks/overview_alias.py [--picture docs/overview_alias.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

RESAMPLINGS = ("nearest", "average", "gauss", "cubic", "lanczos")


def zone_plate(n):
    y, x = np.mgrid[:n, :n] - n / 2 + 0.5
    r2 = y * y + x * x
    k = 0.5 / (n / 2)
    return (127.5 + 127.0 * np.cos(np.pi * k * r2)).astype(np.float32), k * np.sqrt(r2)


def main():
    import rasterio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--picture", help="write GDAL average | daskfft side by side here")
    args = parser.parse_args()
    warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
    n = args.size
    plate, freq = zone_plate(n)
    levels = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with rasterio.open(
            tmp / "plate.tif",
            "w",
            driver="GTiff",
            width=n,
            height=n,
            count=1,
            dtype="float32",
            tiled=True,
            blockxsize=256,
            blockysize=256,
        ) as dst:
            dst.write(plate, 1)
        for name in RESAMPLINGS:
            shutil.copy(tmp / "plate.tif", tmp / f"{name}.tif")
            with rasterio.open(tmp / f"{name}.tif", "r+") as ds:
                ds.build_overviews([2], getattr(rasterio.enums.Resampling, name))
            with rasterio.open(tmp / f"{name}.tif", overview_level=0) as ds:
                levels[f"GDAL {name}"] = ds.read(1)
        # --filter ideal --cutoff 0.5 leaves the full size as it is: the overview alone differs.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "daskfft",
                "run",
                str(tmp / "plate.tif"),
                "-o",
                str(tmp / "o"),
                "--output-format",
                "cog",
                "--co",
                "BLOCKSIZE=256",
                "--no-plots",
                "--spectra",
                "none",
                "--filter",
                "ideal",
                "--cutoff",
                "0.5",
                "--cluster",
                "threads",
                "-q",
            ],
            check=True,
        )
        with rasterio.open(tmp / "o" / "filtered.tif", overview_level=0) as ds:
            levels["daskfft"] = ds.read(1)
    f = freq[::2, ::2]
    amplitude = 127.0 / np.sqrt(2)

    def rms(level, lo, hi):
        return np.sqrt(np.mean((level[(f >= lo) & (f < hi)] - 127.5) ** 2)) / amplitude

    print("| overview | alias, 0.26-0.3 | alias, 0.3-0.5 | kept, < 0.12 | kept, 0.12-0.2 |")
    print("| --- | --- | --- | --- | --- |")
    for name, level in levels.items():
        print(
            f"| {name} | {rms(level, 0.26, 0.3):.3f} | {rms(level, 0.3, 0.5):.3f} | "
            f"{rms(level, 0, 0.12):.3f} | {rms(level, 0.12, 0.2):.3f} |"
        )
    if args.picture:
        import imageio.v3 as iio

        band = slice(n // 8, 3 * n // 8)  # the rows through the centre and the edges' moire
        gap = np.full((n // 4, 8), 255.0)
        side = np.concatenate([levels["GDAL average"][band], gap, levels["daskfft"][band]], axis=1)
        iio.imwrite(args.picture, np.clip(np.rint(side), 0, 255).astype(np.uint8))
        print(f"wrote {args.picture}: GDAL average (left), daskfft (right)")


if __name__ == "__main__":
    main()
