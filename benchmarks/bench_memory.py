"""Peak memory of every process of a disk-to-disk run, at two image sizes.

Writes a uint8 tiled TIFF of each size, filters it to a tiled TIFF and to
Zarr with the default command and outputs (options after ``--`` are added),
and samples the resident memory of the command and all its descendants
(scheduler, nanny, workers, if any) every 0.1 s.
Prints each run's largest process, the ratio of the large image's to the
small one's, and the total of all processes.

    python benchmarks/bench_memory.py --sizes 8192 32768 --chunks 2048
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

from daskfft import io


def make_tiff(path, n):
    """A cheap gray test pattern (a zone-plate-like chirp plus a grid), streamed to a tiled TIFF."""

    def rows(r0, r1):
        y = np.arange(r0, r1, dtype=np.float32)[:, None]
        x = np.arange(n, dtype=np.float32)[None, :]
        v = (
            127.5
            + 60 * np.cos((x * x + y * y) * (np.pi / (4 * n)))
            + 60 * ((x % 97 < 6) | (y % 89 < 6))
        )
        return v.astype(np.uint8)

    io.write_tiff(path, rows, (n, n), np.uint8, band=2048)


def peak_rss(cmd, env=None):
    """Run ``cmd`` (in ``env``); return (exit code, seconds, {pid: (name, peak RSS bytes)})."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    peaks, stop = {}, threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = " ".join(p.cmdline()[1:4])[-60:]
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                if rss > peaks.get(p.pid, ("", 0))[1]:
                    peaks[p.pid] = (name, rss)
            time.sleep(0.1)

    t0 = time.perf_counter()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    stop.set()
    thread.join()
    if proc.returncode:
        sys.stderr.write(err)
    return proc.returncode, time.perf_counter() - t0, peaks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[8192, 32768])
    parser.add_argument("--chunks", type=int, default=2048)
    parser.add_argument("--workdir", default=None, help="where the images go (default: a temp dir)")
    parser.add_argument(
        "--formats",
        nargs="+",
        default=["tiff", "zarr"],
        choices=["tiff", "zarr", "cog", "ome-zarr"],
        help="output formats",
    )
    parser.add_argument("extra", nargs="*", help="more daskfft run options, after --")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="daskfft-bench-")
    print(f"uint8 tiled TIFF in, the default command and outputs, chunks {args.chunks}; {work}")
    print(f"{'size':>7} {'output':>8} {'seconds':>8} {'largest process':>16} {'all processes':>14}")
    largest = {}
    for n in args.sizes:
        src = os.path.join(work, f"in{n}.tif")
        if not os.path.exists(src):
            make_tiff(src, n)
        for fmt in args.formats:
            out = os.path.join(work, f"out{n}-{fmt}")
            # The default command, default outputs (pictures included): what users run.
            cmd = [
                sys.executable,
                "-m",
                "daskfft",
                "run",
                src,
                "-o",
                out,
                "--overwrite",
                "--chunks",
                str(args.chunks),
                "--output-format",
                fmt,
                "-q",
                *args.extra,
            ]
            rc, seconds, peaks = peak_rss(cmd)
            if rc:
                raise SystemExit(f"run failed with exit status {rc}")
            top = max(rss for _, rss in peaks.values())
            largest[(n, fmt)] = top
            print(
                f"{n:>7} {fmt:>8} {seconds:8.1f} {top / 2**20:13.0f} MB "
                f"{sum(r for _, r in peaks.values()) / 2**20:11.0f} MB"
            )
    small, big = args.sizes
    for fmt in args.formats:
        print(
            f"{fmt}: largest process {big}^2 / {small}^2 = "
            f"{largest[(big, fmt)] / largest[(small, fmt)]:.2f} "
            f"(pixels x{(big / small) ** 2:.0f})"
        )


if __name__ == "__main__":
    main()
