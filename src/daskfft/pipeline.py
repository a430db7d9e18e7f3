"""The one ``run`` that the command line, notebooks and batch jobs call."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

import dask
import dask.array as da
import numpy as np

from . import io
from .blockwise import as_image, check_boundary, lowpass
from .cluster import open_cluster
from .errors import InputError
from .filters import HaloWarning, check_filter, cutoff_from_sigma, expected_deviation, halo_depth
from .sample import sample_image
from .spectra import spectra as spectra_of
from .spectra import spectra_atlas

__all__ = ["run", "SPECTRA_CHOICES", "DEFAULT_CUTOFF"]

log = logging.getLogger("daskfft")

SPECTRA_CHOICES = ("atlas", "chunks", "all", "none")
#: Default cutoff, cycles/pixel: a Gaussian of sigma 3.2 px, a visible smoothing.
DEFAULT_CUTOFF = 0.05
_VERSIONED = ("daskfft", "dask", "distributed", "numpy", "ducc0", "imageio", "tifffile", "bokeh")


def _versions():
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}")
    return int(value)


def _check_outdir(outdir, names, overwrite):
    """Refuse an unusable OUTDIR before any work; return the folder to stage in."""
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {outdir}: exists and is not a directory")
    if out.is_dir() and not overwrite:
        there = sorted(n for n in names if (out / n).exists())
        if there:
            raise InputError(
                f"output {outdir}: {', '.join(there)} already there; pass --overwrite to replace"
            )
    anchor = out
    while not anchor.exists():
        anchor = anchor.parent
    if not anchor.is_dir():
        raise InputError(f"output {outdir}: {anchor} is a file, not a directory")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise InputError(f"output {outdir}: {anchor} is not writable")
    return anchor


def _publish(stage, outdir, names):
    """Move finished outputs from ``stage`` into ``outdir``, each by one rename."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(Path(stage) / name, target)


def _port(url):
    from urllib.parse import urlparse

    return urlparse(url).port or 8787


def _compute(cluster, arrays, progress, report_path=None):
    """Compute ``arrays`` on ``cluster``, with a progress bar and a performance report when asked."""
    if cluster.client is None:
        if progress:
            from dask.diagnostics import ProgressBar

            with ProgressBar():
                return dask.compute(*arrays)
        return dask.compute(*arrays)
    from distributed import performance_report

    with (performance_report(filename=report_path) if report_path else contextlib.nullcontext()):
        futures = cluster.client.compute(list(arrays))
        if progress:
            from distributed import progress as bar

            bar(futures)
        return cluster.client.gather(futures)


def run(input=None, outdir="daskfft-out", *, sample=None, cutoff=None, sigma=None,
        filter="gaussian", order=4, depth="auto", tol=1e-6, boundary="reflect", chunks=1024,
        cluster="local", workers=None, threads_per_worker=None, dashboard=True,
        spectra="atlas", overwrite=False, progress=False, performance_report=None,
        cluster_info=None):
    """Filter an image file (or the built-in sample) into ``outdir``; return the report.

    Parameters
    ----------
    input : str or path-like, optional
        PNG, JPEG or TIFF; exactly one of ``input`` and ``sample``.
    outdir : str or path-like
        Folder for ``filtered.<ext>``, ``spectra.png``, ``spectra/`` and
        ``report.json``; created if missing.  Outputs are staged beside it and
        moved in only when all are complete: a failed run leaves it as it was.
    sample : int, optional
        Edge in pixels of the synthetic sample image to filter instead.
    cutoff : float, optional
        Cycles/pixel, ``0 < cutoff <= 0.5``; default :data:`DEFAULT_CUTOFF`.
    sigma : float, optional
        Gaussian only: spatial sigma in pixels, instead of ``cutoff``.
    filter, order, depth, tol, boundary
        As for :func:`daskfft.lowpass`.
    chunks : int
        Chunk edge in pixels.
    cluster, workers, threads_per_worker, dashboard
        As for :func:`daskfft.cluster.open_cluster`.
    spectra : {"atlas", "chunks", "all", "none"}
        Which spectra pictures to write.
    overwrite : bool
        Replace outputs already in ``outdir``.
    progress : bool
        Show a progress bar on stderr.
    performance_report : bool, optional
        Save Dask's HTML performance report as ``performance-report.html``;
        default: on under MPI (where nobody watches the dashboard), else off.
    cluster_info : dict, optional
        Passed to :func:`daskfft.cluster.open_cluster` as ``info``.

    Returns
    -------
    dict
        The contents of ``report.json``.

    Raises
    ------
    InputError, ValueError, TypeError
        For unusable input, output or parameters, before anything is written.
    """
    t_start = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc)

    # --- plan: every check before the first pixel or file ------------------------------
    if (input is None) == (sample is None):
        raise ValueError("give exactly one of an input file and `sample`")
    if sigma is not None:
        if cutoff is not None:
            raise ValueError("give `cutoff` or `sigma`, not both")
        if filter != "gaussian":
            raise ValueError(f"`sigma` applies to the gaussian filter only, not {filter!r}")
        cutoff = cutoff_from_sigma(sigma)
    cutoff = DEFAULT_CUTOFF if cutoff is None else cutoff
    cutoff, filter, order, tol = check_filter(cutoff, filter, order, tol)
    boundary = check_boundary(boundary)
    chunks = _positive_int("chunks", chunks)
    if spectra not in SPECTRA_CHOICES:
        raise ValueError(f"`spectra` must be one of {', '.join(SPECTRA_CHOICES)}, got {spectra!r}")
    for name, value in (("workers", workers), ("threads_per_worker", threads_per_worker)):
        if value is not None:
            _positive_int(name, value)
    if not (isinstance(depth, str) and depth == "auto"):
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f'`depth` must be "auto" or an integer >= 0, got {depth!r}')

    if sample is not None:
        size = _positive_int("sample", sample)
        info = io.ImageInfo("<sample>", "png", (size, size, 3), np.dtype(np.uint8))
    else:
        info = io.probe(input)
    ext = {"png": "png", "tiff": "tif", "jpeg": "jpg"}[info.format]
    names = [f"filtered.{ext}", "report.json"]
    if sample is not None:
        names.append("sample.png")
    if spectra in ("atlas", "all"):
        names.append("spectra.png")
    if spectra in ("chunks", "all"):
        names.append("spectra")
    if performance_report is None:
        performance_report = cluster == "mpi"
    if performance_report and cluster != "threads":
        names.append("performance-report.html")
    anchor = _check_outdir(outdir, names, overwrite)

    halo_warning = None
    if depth == "auto":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HaloWarning)
            depth = halo_depth(cutoff, filter=filter, order=order, tol=tol)
        for w in caught:
            halo_warning = str(w.message)
            log.warning("%s", halo_warning)
        depth_rule = "auto"
    else:
        depth, depth_rule = int(depth), "given"
    deviation = expected_deviation(cutoff, depth, filter=filter, order=order)
    log.info("%s filter, cutoff %.4g cycles/px (sigma %.3g px), halo %d px (%s), "
             "expected max deviation %.2g x max|image|", filter, cutoff,
             1 / (2 * math.pi * cutoff), depth, depth_rule, deviation)
    t_plan = time.perf_counter()

    try:
        stage = tempfile.mkdtemp(prefix=".daskfft-staging-", dir=anchor)
    except OSError as exc:
        raise InputError(f"output {outdir}: cannot write in {anchor} ({exc.strerror})") from None
    try:
        with open_cluster(cluster, workers=workers, threads_per_worker=threads_per_worker,
                          dashboard=dashboard, info=cluster_info) as cl:
            t_cluster = time.perf_counter()
            if cl.dashboard:
                log.warning("dashboard: %s", cl.dashboard)
                if cl.kind == "mpi":
                    log.warning("from a login node: ssh -N -L 8787:%s:%s <user>@<login-node>, "
                                "then open http://localhost:8787/status",
                                cl.extra.get("scheduler_node"), _port(cl.dashboard))
            log.info("cluster: %s, %d workers, %d threads%s", cl.kind, cl.workers, cl.threads,
                     f", scheduler {cl.client.scheduler.address}" if cl.client else "")

            image = (sample_image(info.shape[0], chunks=chunks) if sample is not None
                     else io.read(info, chunks))
            image = as_image(image)
            color = image[..., :-1] if info.has_alpha else image
            filtered = lowpass(color, cutoff, filter=filter, order=order, depth=depth,
                               boundary=boundary)
            filtered = filtered.map_blocks(io.to_dtype, info.dtype, dtype=info.dtype,
                                           meta=np.empty((0,) * image.ndim, dtype=info.dtype))
            if info.has_alpha:
                filtered = da.concatenate([filtered, image[..., -1:]], axis=2)

            targets = [filtered]
            if sample is not None:
                targets.append(image)
            spec = spectra_of(color) if spectra != "none" else None
            if spectra in ("atlas", "all"):
                atlas = spectra_atlas(spec)
                targets.append(atlas)
            if spectra in ("chunks", "all"):
                os.mkdir(os.path.join(stage, "spectra"))
                blocks = spec.to_delayed()
                targets.append(dask.delayed(list)([
                    dask.delayed(io.write_spectrum_tile)(
                        blocks[i, j], directory=os.path.join(stage, "spectra"), index=(i, j))
                    for i in range(blocks.shape[0]) for j in range(blocks.shape[1])
                ]))
            report_path = (os.path.join(stage, "performance-report.html")
                           if "performance-report.html" in names else None)
            results = list(_compute(cl, targets, progress, report_path))
            t_compute = time.perf_counter()

            io.write_image(os.path.join(stage, names[0]), results.pop(0), info.format)
            if sample is not None:
                io.write_image(os.path.join(stage, "sample.png"), results.pop(0), "png")
            if spectra in ("atlas", "all"):
                io.write_picture(os.path.join(stage, "spectra.png"), results.pop(0),
                                 grid=atlas.chunks[0][0])
            tiles = results.pop(0) if spectra in ("chunks", "all") else []
            cluster_report = cl.describe()

        t_write = time.perf_counter()
        megapixels = info.shape[0] * info.shape[1] / 1e6
        report = {
            "daskfft": _versions().get("daskfft"),
            "started": started.isoformat(timespec="seconds"),
            "input": {"path": None if sample is not None else str(input),
                      "sample": sample, "format": info.format,
                      "shape": list(info.shape), "dtype": info.dtype.name,
                      "alpha_passed_through": info.has_alpha},
            "outdir": str(outdir),
            "outputs": sorted(names),
            "spectra_tiles": len(tiles),
            "filter": {
                "filter": filter, "cutoff_cycles_per_pixel": cutoff,
                "sigma_pixels": 1 / (2 * math.pi * cutoff) if filter == "gaussian" else None,
                "order": order if filter == "butterworth" else None,
                "tol": tol, "boundary": boundary,
            },
            "halo": {"depth": depth, "rule": depth_rule,
                     "expected_max_deviation": deviation,
                     "expected_max_deviation_note": "bound on max|blockwise - whole-image| / max|image|",
                     "warning": halo_warning},
            "chunks": {"size": chunks, "grid": list(image.numblocks[:2]),
                       "rows": list(image.chunks[0]), "cols": list(image.chunks[1])},
            "cluster": cluster_report,
            "seconds": {"plan": t_plan - t_start, "cluster_start": t_cluster - t_plan,
                        "compute": t_compute - t_cluster, "write": t_write - t_compute,
                        "total": t_write - t_start},
            "megapixels": megapixels,
            "megapixels_per_second": megapixels / max(t_compute - t_cluster, 1e-9),
            "versions": _versions(),
        }
        with open(os.path.join(stage, "report.json"), "w") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
        _publish(stage, outdir, names)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("wrote %s into %s (%.1f Mpx in %.2f s, %.1f Mpx/s)", ", ".join(sorted(names)),
             outdir, megapixels, report["seconds"]["total"], report["megapixels_per_second"])
    return report
