"""The built-in sample against its own file: ``daskfft run --sample N`` as fast as the filter.

In one run, interleaved, ``--repeat`` rounds of the three commands a newcomer
types, each in a fresh process with the default options and outputs:

  A  daskfft run --sample N -o A        (the sample drawn in the tasks that filter it)
  S  daskfft sample -o s.tif --size N   (the sample alone, written to a file)
  B  daskfft run s.tif -o B             (the filter alone, on that file)

Each command's wall time, CPU time (user + system, all its processes) and
peak resident memory (of its largest process, as ``/usr/bin/time -v``
reports it: the ``ru_maxrss`` of the children of a small wrapper) are
printed per round, then the median of each round's ratios against the
targets of issue 25: A/B time and memory within 1.3, S/B time within 1.0.
The targets are on wall time; CPU time is printed beside it because on a
machine shared with other work it varies far less from round to round.
A's sample.tif is checked to be byte-identical to S's file.

At N = 12288 both runs write TIFF; below 10000 px the sample's output
defaults to PNG (written whole), so compare there with ``-- --output-format tiff``.

    python benchmarks/bench_sample.py --size 12288 --repeat 3
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

#: Runs the command given after it; prints its exit status, wall seconds, CPU seconds and
#: the peak resident memory (KiB) of the largest process among its waited-for descendants.
WRAPPER = """\
import resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t0
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(rc, wall, use.ru_utime + use.ru_stime, use.ru_maxrss)
"""

TARGETS = {
    "run --sample / run file, time": 1.3,
    "run --sample / run file, memory": 1.3,
    "sample command / run file, time": 1.0,
    "run --sample / run file, CPU": 1.3,
    "sample command / run file, CPU": 1.0,
}


def measure(args):
    """(wall seconds, CPU seconds, peak RSS bytes of the largest process) of
    ``daskfft *args``."""
    cmd = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "daskfft", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    rc, wall, cpu, kib = int(out[0]), float(out[1]), float(out[2]), int(out[3])
    if rc:
        raise SystemExit(f"daskfft {' '.join(args)} failed with exit status {rc}")
    return wall, cpu, kib * 1024


def one_round(work, n, extra):
    """The three commands once, in order; {name: (seconds, CPU seconds, bytes)}."""
    a, s, b = (os.path.join(work, name) for name in ("A", "s.tif", "B"))
    got = {
        "run --sample": measure(["run", "--sample", str(n), "-o", a, "-q", *extra]),
        "sample command": measure(["sample", "-o", s, "--size", str(n), "-q"]),
        "run file": measure(["run", s, "-o", b, "-q", *extra]),
    }
    sample = os.path.join(a, "sample.tif")
    if os.path.exists(sample) and not filecmp.cmp(sample, s, shallow=False):
        raise SystemExit(f"{sample} differs from {s}: the two samples must be byte-identical")
    for path in (a, b):
        shutil.rmtree(path)
    os.remove(s)
    return got


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=12288)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workdir", default=None, help="where the outputs go (default: a temp dir)"
    )
    parser.add_argument("extra", nargs="*", help="more daskfft run options, after --")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="daskfft-bench-", dir=args.workdir)
    print(f"N = {args.size}, {os.cpu_count()} cores, {args.repeat} rounds, interleaved; {work}")
    print(f"{'round':>5}  {'command':<16}{'seconds':>9}{'CPU s':>9}{'peak MB':>9}")
    ratios = {name: [] for name in TARGETS}
    try:
        for r in range(args.repeat):
            got = one_round(work, args.size, args.extra)
            for name, (wall, cpu, rss) in got.items():
                print(f"{r + 1:>5}  {name:<16}{wall:>9.2f}{cpu:>9.2f}{rss / 2**20:>9.0f}")
            (a_t, a_c, a_m), (s_t, s_c, _), (b_t, b_c, b_m) = got.values()
            ratios["run --sample / run file, time"].append(a_t / b_t)
            ratios["run --sample / run file, memory"].append(a_m / b_m)
            ratios["sample command / run file, time"].append(s_t / b_t)
            ratios["run --sample / run file, CPU"].append(a_c / b_c)
            ratios["sample command / run file, CPU"].append(s_c / b_c)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'ratio (median of rounds)':<34}{'median':>7}{'rounds':>26}{'target':>8}")
    for name, values in ratios.items():
        ok = "ok" if statistics.median(values) <= TARGETS[name] else "MISSED"
        print(
            f"{name:<34}{statistics.median(values):>7.2f}"
            f"{' '.join(f'{v:.2f}' for v in values):>26}{'<= ' + str(TARGETS[name]):>8} {ok}"
        )


if __name__ == "__main__":
    main()
