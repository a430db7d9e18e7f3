"""daskfft on a (z, y, x) volume beside the floor, dask-image and scipy, in one run.

Writes a uint16 (z, y, x) volume (a cheap structured pattern: a 3-D chirp,
a grid and slow ramps over the whole uint16 range), z-slab by z-slab, as a
Zarr v3 array whose dims are named ``("z", "y", "x")``.  For each sigma
(``Z,Y,X``, one per axis, or one value for all three):

- the floor: the whole volume already in memory as float32, padded on each
  side by daskfft's halo per axis (``axis_depths``, reflected), then up to
  ducc0's next good size, one ducc0 r2c/c2r 3-D pair on all cores (the
  reading of the volume is not timed).  Where the r2c/c2r pair's two arrays
  would not fit in memory, it is done in place in one complex array, the
  y-x transforms z-slab by z-slab and the z one over the whole (the table
  says which);
- ``python -m daskfft run IN -o OUT --sigma ...`` in a fresh process with the
  default options and outputs (pictures, spectra, report), and lean
  (``--no-plots --spectra none``);
- dask-image's ``gaussian_filter`` (``mode="reflect"``, its default
  ``truncate=4``) on ``dask.array.from_zarr`` of the same Zarr in chunks of
  ``--chunks``, stored to a Zarr array (file to file), threaded scheduler;
- scipy.ndimage's ``gaussian_filter`` in memory, one thread, on the uint16
  volume already read, to float32 (``--skip-scipy`` leaves it out).

Each result's error is ``max|result - reference| / max|reference|`` against a
float64 FFT filter with the sampled Gaussian per axis (the kernel's own DFT,
untruncated) and reflected edges, computed on the central sub-volume of
``--ref-crop`` (the whole volume where it is no larger), with a margin of
``10 sigma + 8`` voxels per axis read around it.  daskfft's and dask-image's
outputs are uint16 like the input (the table gives the least error rounding
to uint16 allows: 0.5 / max|reference|; dask-image truncates rather than
rounds); "levels" is the same error in uint16 levels, 0.5 being
exact up to rounding.

Per-axis sigma on the command line (``--sigma 2,4,4``) needs a daskfft whose
``run --sigma`` takes one value per spatial axis; with three equal values the
script passes one (``--sigma 4``).  The sigma that each run reports
(report.json's ``stack.sigma_per_axis``) is checked against the one asked.

Needs, besides daskfft: ``pip install dask-image`` (not a daskfft
dependency), scipy and psutil.  Memory: the floor about twice the padded
volume in float32 (once, in place, where that does not fit), scipy the
uint16 volume and a float32 one.  Disk: the input and one output at a time.

    python benchmarks/bench_volume.py --shape 512 2048 2048 --sigma 2,4,4 8,16,16
    python benchmarks/bench_volume.py --shape 32 256 256 --sigma 2 4   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import ducc0
import numpy as np
import psutil
import zarr

from daskfft.kernels.halo import axis_depths
from daskfft.kernels.transfer import cutoff_from_sigma


def make_volume(path, shape, chunks=(64, 256, 256)):
    """A uint16 (z, y, x) Zarr volume of a structured pattern, written z-slab by z-slab."""
    nz, ny, nx = shape
    chunks = tuple(min(c, n) for c, n in zip(chunks, shape))
    arr = zarr.create_array(
        path, shape=shape, chunks=chunks, dtype="uint16", dimension_names=("z", "y", "x")
    )
    y = np.arange(ny, dtype=np.float32)[:, None]
    x = np.arange(nx, dtype=np.float32)[None, :]
    r2 = x * x + y * y
    grid = ((x % 97 < 6) | (y % 89 < 6)).astype(np.float32)
    for z0 in range(0, nz, chunks[0]):
        z1 = min(z0 + chunks[0], nz)
        slab = np.empty((z1 - z0, ny, nx), np.uint16)
        for i, z in enumerate(range(z0, z1)):
            v = (
                35000.0
                + 20000 * np.cos((r2 + (4.0 * z) ** 2) * (np.pi / (4 * max(nx, ny))))
                + 8000 * np.sin(0.013 * x + 0.021 * y + 0.05 * z)
                + 4500 * grid * (1 if (z // 7) % 2 else -1)
            )
            slab[i] = np.clip(v, 0, 65535).astype(np.uint16)
        arr[z0:z1] = slab
    return arr


def parse_sigma(text):
    """``"2,4,4"`` -> (2.0, 4.0, 4.0); ``"4"`` -> (4.0, 4.0, 4.0) (isotropic)."""
    values = tuple(float(v) for v in text.split(","))
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"sigma {text!r}: one value, or three (z,y,x)")
    return values


def sigma_arg(sigma):
    """The command line's ``--sigma``: one value where the three are equal."""
    if len(set(sigma)) == 1:
        return f"{sigma[0]:g}"
    return ",".join(f"{s:g}" for s in sigma)


def padded_shape(shape, depths):
    return tuple(
        ducc0.fft.good_size(n + 2 * d, i == len(shape) - 1)
        for i, (n, d) in enumerate(zip(shape, depths))
    )


def gaussian_axes(shape, sigma):
    """daskfft's transfer per axis (the sampled Gaussian's) for r2c of ``shape``, broadcastable."""
    from daskfft.kernels.transfer import transfer_nd

    out = []
    for i, (n, s) in enumerate(zip(shape, sigma)):
        f = np.fft.rfftfreq(n) if i == len(shape) - 1 else np.fft.fftfreq(n)
        h = transfer_nd((f,), cutoff_from_sigma(s), "gaussian", 4).astype(np.float32)
        out.append(h.reshape((-1,) + (1,) * (len(shape) - 1 - i)))
    return out


def fill_padded(buf, shape, depths):
    """Reflect (``symmetric``) the volume at ``buf[d0:d0+n0, ...]`` out to all of ``buf``'s
    first ``shape`` extents, axis by axis, in place (the padding's work)."""
    for ax, (n, d) in enumerate(zip(shape, depths)):
        total = buf.shape[ax]
        lo, hi = d, d + n
        idx = np.arange(total)
        period = np.mod(idx - lo, 2 * n)
        src = lo + np.where(period < n, period, 2 * n - 1 - period)
        outside = np.flatnonzero((idx < lo) | (idx >= hi))
        if outside.size:
            take = [slice(None)] * buf.ndim
            put = [slice(None)] * buf.ndim
            take[ax], put[ax] = src[outside], outside
            buf[tuple(put)] = buf[tuple(take)]


def floor(src, shape, sigma, crop, mode="auto"):
    """Seconds of the in-memory floor, how it ran, and its result on ``crop``."""
    cutoffs = tuple(cutoff_from_sigma(s) for s in sigma)
    depths, message = axis_depths(cutoffs, 3)
    if depths is None:
        raise SystemExit(message)
    full = padded_shape(shape, depths)
    nthreads = os.cpu_count()
    spec_shape = full[:-1] + (full[-1] // 2 + 1,)
    need = 4 * np.prod(full, dtype=np.int64) + 8 * np.prod(spec_shape, dtype=np.int64)
    inplace = (
        need > 0.8 * psutil.virtual_memory().available if mode == "auto" else mode == "inplace"
    )
    arr = zarr.open_array(src, mode="r")
    inner = tuple(slice(d, d + n) for d, n in zip(depths, shape))
    if not inplace:
        x = np.empty(full, np.float32)
    else:
        spec = np.empty(spec_shape, np.complex64)
        x = spec.view(np.float32)[..., : full[-1]]
    step = arr.chunks[0]
    for z0 in range(0, shape[0], step):
        z1 = min(z0 + step, shape[0])
        x[depths[0] + z0 : depths[0] + z1, inner[1], inner[2]] = arr[z0:z1]
    hz, hy, hx = gaussian_axes(full, sigma)
    t0 = time.perf_counter()
    fill_padded(x, shape, depths)
    if not inplace:
        spec = ducc0.fft.r2c(x, axes=(0, 1, 2), nthreads=nthreads)
        spec *= hz
        spec *= hy
        spec *= hx
        ducc0.fft.c2r(
            spec,
            axes=(0, 1, 2),
            lastsize=full[-1],
            forward=False,
            inorm=2,
            out=x,
            nthreads=nthreads,
            allow_overwriting_input=True,
        )
        del spec
    else:
        slab = max(1, 64 * 2**20 // (4 * full[1] * full[2]))
        for z0 in range(0, full[0], slab):
            part = np.array(x[z0 : z0 + slab])
            ducc0.fft.r2c(part, axes=(1, 2), out=spec[z0 : z0 + slab], nthreads=nthreads)
        ducc0.fft.c2c(spec, axes=(0,), out=spec, nthreads=nthreads)
        spec *= hz
        spec *= hy
        spec *= hx
        ducc0.fft.c2c(spec, axes=(0,), forward=False, out=spec, nthreads=nthreads)
        part = np.empty((slab,) + full[1:], np.float32)
        for z0 in range(0, full[0], slab):
            z1 = min(z0 + slab, full[0])
            ducc0.fft.c2r(
                spec[z0:z1],
                axes=(1, 2),
                lastsize=full[-1],
                forward=False,
                out=part[: z1 - z0],
                nthreads=nthreads,
            )
            x[z0:z1] = part[: z1 - z0]
        x *= np.float32(1.0 / np.prod(full, dtype=np.float64))
    seconds = time.perf_counter() - t0
    result = x[tuple(slice(d + c.start, d + c.stop) for d, c in zip(depths, crop))].copy()
    x = spec = None
    how = "in place, y-x by z-slabs" if inplace else "r2c/c2r pair"
    return seconds, depths, full, how, result


def central_crop(shape, size):
    out = []
    for n, c in zip(shape, size):
        c = min(n, c)
        out.append(slice((n - c) // 2, (n - c) // 2 + c))
    return tuple(out)


def reference(src, shape, sigma, crop):
    """float64 Gaussian filter of the Zarr volume on ``crop``: the sampled Gaussian kernel per
    axis (``scipy.ndimage.gaussian_filter``'s, untruncated) applied by FFT to the crop with a
    margin of ``10 sigma + 8`` voxels, reflected where the margin leaves the volume."""
    arr = zarr.open_array(src, mode="r")
    margins = [int(10 * s) + 8 for s in sigma]
    idx = []
    for n, c, m in zip(shape, crop, margins):
        i = np.mod(np.arange(c.start - m, c.stop + m), 2 * n)
        idx.append(np.where(i < n, i, 2 * n - 1 - i))
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in idx)
    raw = arr[box]
    window = tuple(len(i) for i in idx)
    size = padded_shape(window, (0, 0, 0))
    block = np.zeros(size, np.float64)
    block[tuple(slice(0, n) for n in window)] = raw[
        np.ix_(*(i - b.start for i, b in zip(idx, box)))
    ]
    del raw
    spec = ducc0.fft.r2c(block, axes=(0, 1, 2), nthreads=os.cpu_count())
    del block
    for ax, (s, m) in enumerate(zip(sigma, margins)):
        n = np.arange(-m, m + 1)
        g = np.exp(-(n**2) / (2.0 * s**2))
        g /= g.sum()
        k = np.zeros(size[ax])
        k[n % size[ax]] = g
        h = (np.fft.rfft(k) if ax == 2 else np.fft.fft(k)).real
        spec *= h.reshape((-1,) + (1,) * (2 - ax))
    y = ducc0.fft.c2r(
        spec, axes=(0, 1, 2), lastsize=size[2], forward=False, inorm=2, nthreads=os.cpu_count()
    )
    return y[tuple(slice(m, m + (c.stop - c.start)) for m, c in zip(margins, crop))]


def run_daskfft(src, out, sigma, extra):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "daskfft", "run", src, "-o", out, "-q"]
    cmd += ["--sigma", sigma_arg(sigma), *extra]
    t0 = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    seconds = time.perf_counter() - t0
    if rc:
        hint = " (does this daskfft's run --sigma take Z,Y,X?)" if len(set(sigma)) > 1 else ""
        raise SystemExit(f"{' '.join(cmd)}: exit status {rc}{hint}")
    with open(os.path.join(out, "report.json")) as fh:
        report = json.load(fh)
    got = tuple(report["stack"]["sigma_per_axis"][a] for a in "zyx")
    if not np.allclose(got, sigma) or report["filter"]["pass_band"] != "low":
        raise SystemExit(
            f"daskfft ran sigma {got} ({report['filter']['pass_band']}-pass), not {sigma}"
        )
    return seconds, report, os.path.join(out, "filtered.zarr")


def run_dask_image(src, out, sigma, chunks):
    import dask
    import dask.array as da
    from dask_image.ndfilters import gaussian_filter

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    x = da.from_zarr(src, chunks=chunks)
    y = gaussian_filter(x, sigma, mode="reflect")
    target = zarr.create_array(
        out,
        shape=x.shape,
        chunks=tuple(min(c, n) for c, n in zip(chunks, x.shape)),
        dtype=y.dtype,
        dimension_names=("z", "y", "x"),
    )
    with dask.config.set(scheduler="threads"):
        da.store(y, target, lock=False)
    return time.perf_counter() - t0, out


def run_scipy(src, sigma):
    import scipy.ndimage as ndi

    x = zarr.open_array(src, mode="r")[...]
    t0 = time.perf_counter()
    y = ndi.gaussian_filter(x, sigma, mode="reflect", output=np.float32)
    return time.perf_counter() - t0, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[512, 2048, 2048])
    parser.add_argument(
        "--sigma",
        type=parse_sigma,
        nargs="+",
        default=[(2.0, 4.0, 4.0), (8.0, 16.0, 16.0)],
        help="per axis Z,Y,X (e.g. 2,4,4), or one value for all three",
    )
    parser.add_argument(
        "--chunks", type=int, default=256, help="dask-image's chunks per axis (daskfft's default)"
    )
    parser.add_argument(
        "--ref-crop",
        type=int,
        nargs=3,
        default=[64, 512, 512],
        help="the central sub-volume the errors are measured on",
    )
    parser.add_argument(
        "--floor",
        choices=["auto", "pair", "inplace"],
        default="auto",
        help="the floor's FFT: the r2c/c2r pair, in place, or the pair where it fits (auto)",
    )
    parser.add_argument("--skip-scipy", action="store_true")
    parser.add_argument("--workdir", default=None, help="where the volumes go (default: temp)")
    args = parser.parse_args()
    shape = tuple(args.shape)
    chunks = (args.chunks,) * 3
    work = args.workdir or tempfile.mkdtemp(prefix="daskfft-bench-volume-")
    src = os.path.join(work, "in.zarr")
    t0 = time.perf_counter()
    if not os.path.exists(src):
        make_volume(src, shape)
    crop = central_crop(shape, args.ref_crop)
    where = (
        "the whole volume"
        if all(c.stop - c.start == n for c, n in zip(crop, shape))
        else ("its central " + "x".join(str(c.stop - c.start) for c in crop))
    )
    print(
        f"{'x'.join(map(str, shape))} (z, y, x) uint16 Zarr in {work} "
        f"(written in {time.perf_counter() - t0:.1f} s), {os.cpu_count()} cores; "
        f"errors on {where}"
    )
    head = f"{'sigma z,y,x':>12}  {'method':<30}{'seconds':>9}{'x floor':>9}"
    print(head + f"{'x dask-image':>14}{'work x floor':>14}{'max error':>11}{'levels':>8}")
    for sigma in args.sigma:
        name = sigma_arg(sigma)
        ref = reference(src, shape, sigma, crop)
        scale = float(np.abs(ref).max())
        rows = []
        base, depths, full, how, fl = floor(src, shape, sigma, crop, args.floor)
        rows.append(("floor (in memory)", base, None, fl))
        del fl
        for label, extra in (("default", []), ("lean", ["--no-plots", "--spectra", "none"])):
            seconds, report, out = run_daskfft(src, os.path.join(work, "out"), sigma, extra)
            res = zarr.open_array(out, mode="r")[crop]
            rows.append((f"daskfft {label}", seconds, report["seconds"]["work"], res))
            shutil.rmtree(os.path.dirname(out))
        seconds, out = run_dask_image(src, os.path.join(work, "dask_image.zarr"), sigma, chunks)
        rows.append(("dask-image (threads, to Zarr)", seconds, None, zarr.open_array(out)[crop]))
        shutil.rmtree(out)
        if not args.skip_scipy:
            seconds, y = run_scipy(src, sigma)
            rows.append(("scipy.ndimage (1 thread)", seconds, None, y[crop]))
            del y
        peer = next(r[1] for r in rows if r[0].startswith("dask-image"))
        print(
            f"{name:>12}  floor padding: halo {depths} per axis (z, y, x), "
            f"transformed {'x'.join(map(str, full))}, {how}; "
            f"uint16 rounding alone: {0.5 / scale:.1e}"
        )
        for label, seconds, work_s, res in rows:
            dev = float(np.abs(np.asarray(res, np.float64) - ref).max())
            work_col = f"{work_s / base:>14.2f}" if work_s is not None else f"{'':>14}"
            print(
                f"{name:>12}  {label:<30}{seconds:>9.2f}{seconds / base:>9.2f}"
                f"{seconds / peer:>14.2f}{work_col}{dev / scale:>11.1e}{dev:>8.2f}",
                flush=True,
            )
    if not args.workdir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
