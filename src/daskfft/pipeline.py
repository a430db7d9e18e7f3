"""The one ``run`` that the command line, notebooks and batch jobs call."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import time
import warnings
from importlib import metadata
from pathlib import Path

import dask
import dask.array as da
import numpy as np

from . import io
from .blockwise import as_image, check_boundary, check_nodata, lowpass, overlap_map
from .cluster import open_cluster
from .errors import InputError
from .filters import HaloWarning, check_filter, cutoff_from_sigma, expected_deviation, halo_depth
from .sample import sample_image
from . import plots as plots_mod
from .store import RADIAL_EDGES, Partial, assemble, check_resumable, finalize, partial_dir
from .store import plan_grid
from .store import process_chunk, store_chunk

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


def _fingerprint(info, input, sample, params):
    if sample is not None:
        source = {"sample": sample}
    else:
        st = os.stat(input)
        source = {"path": os.path.abspath(input), "bytes": st.st_size,
                  "mtime_ns": st.st_mtime_ns, "shape": list(info.shape), "dtype": info.dtype.name}
    return {"daskfft": 1, "input": source, "params": params}


def run(input=None, outdir="daskfft-out", *, sample=None, cutoff=None, sigma=None,
        filter="gaussian", order=4, depth="auto", tol=1e-6, boundary="reflect", chunks=1024,
        nodata=None, method="blockwise", output_format=None, compression=None, cluster="local",
        workers=None, threads_per_worker=None, memory_limit="auto", dashboard=True,
        spectra="atlas", plots=True, overwrite=False, resume=False, progress=False,
        performance_report=None, cluster_info=None):
    """Filter an image file (or the built-in sample) into ``outdir``; return the report.

    Parameters
    ----------
    input : str or path-like, optional
        TIFF, Zarr, PNG or JPEG; exactly one of ``input`` and ``sample``.
    outdir : str or path-like
        Folder for ``filtered.<ext>``, ``spectra.png``, ``spectra/`` and
        ``report.json``; created if missing.  Work in progress lives in a
        hidden sibling folder (:mod:`daskfft.store`) and the outputs are moved
        in only when all are complete: a failed run leaves ``outdir`` as it was.
    sample : int, optional
        Edge in pixels of the synthetic sample image to filter instead.
    cutoff : float, optional
        Cycles/pixel, ``0 < cutoff <= 0.5``; default :data:`DEFAULT_CUTOFF`.
    sigma : float, optional
        Gaussian only: spatial sigma in pixels, instead of ``cutoff``.
    filter, order, depth, tol, boundary
        As for :func:`daskfft.lowpass`.
    chunks : int
        Chunk edge in pixels, rounded to whole tiles of a tiled input and
        raised to the halo depth if smaller.
    nodata : float, optional
        No-data value; default: the input's own (GDAL_NODATA tag, Zarr attribute).
    method : {"blockwise", "exact"}
        As for :func:`daskfft.lowpass`.  When the block-wise method's halo is
        narrower than ``tol`` asks (always for "ideal"), the report also gives
        the deviation from the exact result measured on up to four chunks.
    output_format : {"tiff", "zarr", "png", "jpeg"}, optional
        Default: the input's format (for the sample: PNG, or TIFF above
        :data:`daskfft.io.WHOLE_IMAGE_CAP` pixels).
    compression : str, optional
        TIFF output compression ("zlib"); default none.
    cluster, workers, threads_per_worker, memory_limit, dashboard
        As for :func:`daskfft.cluster.open_cluster`.
    spectra : {"atlas", "chunks", "all", "none"}
        Which spectra pictures to write.
    plots : bool
        Also write ``overview.png`` (input, filtered, difference, whole and a
        full-resolution crop) and ``radial_spectrum.png``, and label the
        atlas with its chunk grid (matplotlib).
    overwrite : bool
        Replace outputs already in ``outdir`` (and an interrupted run's work).
    resume : bool
        Finish an interrupted run with the same input and parameters,
        computing only the chunks it had not finished.
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
    nodata = check_nodata(nodata)
    if method not in ("blockwise", "exact"):
        raise ValueError(f'`method` must be "blockwise" or "exact", got {method!r}')
    if method == "exact" and nodata is not None:
        raise ValueError("--nodata needs the block-wise method, not --exact")
    if spectra not in SPECTRA_CHOICES:
        raise ValueError(f"`spectra` must be one of {', '.join(SPECTRA_CHOICES)}, got {spectra!r}")
    if output_format is not None and output_format not in io.OUTPUT_EXT:
        raise ValueError(f"`output_format` must be one of {', '.join(io.OUTPUT_EXT)}, "
                         f"got {output_format!r}")
    if compression not in (None, "none", "zlib"):
        raise ValueError(f"`compression` must be none or zlib, got {compression!r}")
    compression = None if compression == "none" else compression
    for name, value in (("workers", workers), ("threads_per_worker", threads_per_worker)):
        if value is not None:
            _positive_int(name, value)
    if not (isinstance(depth, str) and depth == "auto"):
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f'`depth` must be "auto" or an integer >= 0, got {depth!r}')

    if sample is not None:
        size = _positive_int("sample", sample)
        info = io.ImageInfo("<sample>", "png", (size, size, 3), np.dtype(np.uint8),
                            photometric="rgb")
    else:
        info = io.probe(input)
    if nodata is None:
        nodata = info.nodata
    elif info.tags:  # the output's GDAL_NODATA must say the value actually used
        info = _with_nodata_tag(info, nodata)
    info = dataclasses.replace(info, nodata=nodata)
    fmt = output_format or ("tiff" if info.format == "png" and sample is not None
                            and info.megapixels * 1e6 > io.WHOLE_IMAGE_CAP else info.format)
    if fmt in ("png", "jpeg") and info.megapixels * 1e6 > io.WHOLE_IMAGE_CAP:
        raise InputError(
            f"output: {fmt.upper()} is written whole, and {info.megapixels:.0f} Mpx is above "
            f"the cap of {io.WHOLE_IMAGE_CAP / 1e6:.0f} Mpx; use --output-format tiff or zarr")
    if fmt == "jpeg" and (info.dtype != np.uint8 or (len(info.shape) == 3 and info.shape[2] not in (1, 3))):
        raise InputError(f"output: JPEG holds 8-bit gray or RGB, not {info.dtype} with shape "
                         f"{info.shape}; use --output-format tiff, zarr or png")
    ext = io.OUTPUT_EXT[fmt]
    names = [f"filtered.{ext}", "report.json"]
    if sample is not None:
        names.append(f"sample.{ext}")
    if spectra in ("atlas", "all"):
        names.append("spectra.png")
    if spectra in ("chunks", "all"):
        names.append("spectra")
    if plots:
        names += ["overview.png", "radial_spectrum.png"]
    if performance_report is None:
        performance_report = cluster == "mpi"
    if performance_report and cluster != "threads":
        names.append("performance-report.html")
    anchor = _check_outdir(outdir, names, overwrite)

    halo_warning, needed = None, None
    if method == "exact":
        depth, depth_rule, deviation = 0, "exact", 0.0
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HaloWarning)
            needed = halo_depth(cutoff, filter=filter, order=order, tol=tol)
        if depth == "auto":
            depth, depth_rule = needed, "auto"
            for w in caught:
                halo_warning = str(w.message)
                log.warning("%s", halo_warning)
        else:
            depth, depth_rule = int(depth), "given"
        deviation = expected_deviation(cutoff, depth, filter=filter, order=order)
    if method == "exact":
        log.info("%s filter, cutoff %.4g cycles/px, exact whole-image FFT", filter, cutoff)
    else:
        log.info("%s filter, cutoff %.4g cycles/px (sigma %.3g px), halo %d px (%s), "
                 "expected max deviation %.2g x max|image|", filter, cutoff,
                 1 / (2 * math.pi * cutoff), depth, depth_rule, deviation)
    measure = method == "blockwise" and (halo_warning is not None or depth < needed)

    chunk_rows, chunk_cols = io.aligned_chunks(info, chunks)
    if min(chunk_rows, chunk_cols) < depth:
        log.warning("chunks raised from %d to %d px, the halo", min(chunk_rows, chunk_cols), depth)
        chunk_rows, chunk_cols = max(chunk_rows, depth), max(chunk_cols, depth)
    grid_rows = plan_grid(info.shape[0], chunk_rows, depth)
    grid_cols = plan_grid(info.shape[1], chunk_cols, depth)
    nblocks = (len(grid_rows), len(grid_cols))
    cell = max(1, min(256, 2048 // max(nblocks)))
    thumb = max(1, -(-max(info.shape[:2]) // 1024))  # overview: every thumb-th pixel
    params = {"cutoff": cutoff, "filter": filter, "order": order, "tol": tol, "depth": depth,
              "method": method,
              "boundary": boundary, "chunks": [chunk_rows, chunk_cols], "nodata": nodata,
              "output_format": fmt, "spectra": spectra, "compression": compression}
    fingerprint = _fingerprint(info, input, sample, params)
    partial = Partial(partial_dir(outdir))
    resuming = check_resumable(partial, fingerprint, resume=resume, overwrite=overwrite)
    t_plan = time.perf_counter()

    try:
        if not resuming:
            try:
                partial.create(fingerprint, shape=info.shape, dtype=info.dtype,
                               chunks=(chunk_rows, chunk_cols), with_sample=sample is not None,
                               sample_dtype=np.uint8, tiles=spectra in ("chunks", "all"))
            except OSError as exc:
                raise InputError(f"output {outdir}: cannot write in {anchor} "
                                 f"({exc.strerror or exc})") from None
        done = partial.done()
        if resuming:
            log.warning("resuming %s: %d of %d chunks already done", partial.root, len(done),
                        nblocks[0] * nblocks[1])
        elif resume:
            log.info("nothing to resume in %s; starting", partial.root)

        with open_cluster(cluster, workers=workers, threads_per_worker=threads_per_worker,
                          dashboard=dashboard, memory_limit=memory_limit,
                          info=cluster_info) as cl, _rechunk_method(cl):
            t_cluster = time.perf_counter()
            if cl.dashboard:
                log.warning("dashboard: %s", cl.dashboard)
                if cl.kind == "mpi":
                    log.warning("from a login node: ssh -N -L 8787:%s:%s <user>@<login-node>, "
                                "then open http://localhost:8787/status",
                                cl.extra.get("scheduler_node"), _port(cl.dashboard))
            log.info("cluster: %s, %d workers, %d threads%s", cl.kind, cl.workers, cl.threads,
                     f", scheduler {cl.client.scheduler.address}" if cl.client else "")

            image = (sample_image(info.shape[0], chunks=chunk_rows) if sample is not None
                     else io.read(info, chunk_rows if info.native_chunks else chunks,
                                  nodata=nodata))
            image = as_image(image).rechunk((grid_rows, grid_cols) + (-1,) * (image.ndim - 2))
            work_dtype = np.float32 if info.dtype == np.float32 else np.float64
            color = image[..., :-1] if info.has_alpha else image
            common = dict(root=str(partial.root), rows=_edges(grid_rows), cols=_edges(grid_cols),
                          out_dtype=info.dtype, alpha=info.has_alpha, cell=cell,
                          tiles=spectra in ("chunks", "all"), sample=sample is not None,
                          thumb=thumb)
            tiny = dict(chunks=((1,) * nblocks[0], (1,) * nblocks[1]),
                        drop_axis=[2] if image.ndim == 3 else [], dtype=np.int8,
                        meta=np.empty((0, 0), dtype=np.int8))
            if method == "exact":
                exact = lowpass(color, cutoff, filter=filter, order=order, boundary=boundary,
                                tol=tol, method="exact")
                status = da.map_blocks(store_chunk, exact, image, **tiny, **common)
            else:
                status = overlap_map(
                    process_chunk, image, depth, boundary, trim=False, **tiny, **common,
                    halo=depth, cutoff=cutoff, filter=filter, order=order,
                    work_dtype=work_dtype, nodata=nodata)
            todo = [(i, j) for i in range(nblocks[0]) for j in range(nblocks[1])
                    if (i, j) not in done]
            if todo:
                report_path = (str(partial.out / "performance-report.html")
                               if "performance-report.html" in names else None)
                if len(todo) == nblocks[0] * nblocks[1]:
                    # One array, one graph: peer-to-peer rechunks need their whole barrier.
                    targets = [status]
                else:
                    blocks = status.to_delayed()
                    targets = [blocks[i, j] for i, j in todo]
                _compute(cl, targets, progress, report_path)
            elif "performance-report.html" in names:
                names.remove("performance-report.html")
            measured = (_measure_deviation(cl, color, cutoff, filter, order, depth, boundary, tol)
                        if measure else None)
            crop_box = _crop_box(info.shape)
            crop_in = crop_out = None
            if plots:
                import zarr

                r0, r1, c0, c1 = crop_box
                crop_in = _compute(cl, [color[r0:r1, c0:c1]], False)[0]
                crop_out = zarr.open_array(str(partial.root / "filtered.zarr"),
                                           mode="r")[r0:r1, c0:c1]
                if info.has_alpha:
                    crop_out = crop_out[..., :-1]
            t_compute = time.perf_counter()
            cluster_report = cl.describe()

        out = partial.out
        finalize(partial.root, "filtered", str(out / names[0]), fmt, info,
                 compression=compression)
        if sample is not None:
            finalize(partial.root, "sample", str(out / f"sample.{ext}"), fmt,
                     dataclasses.replace(info, tags=(), nodata=None), compression=compression)
        summary = assemble(partial.root, _edges(grid_rows), _edges(grid_cols), cell)
        label = (f"{'sample' if sample is not None else os.path.basename(str(input))}: {filter} "
                 f"low-pass, cutoff {cutoff:.3g} cycles/px, "
                 + ("exact" if method == "exact" else f"halo {depth} px") + f", chunks {grid_rows[0]}")
        if spectra in ("atlas", "all"):
            if plots:
                plots_mod.atlas(out / "spectra.png", summary["atlas"], _edges(grid_rows),
                                _edges(grid_cols), cell, title=f"spectra per chunk - {label}")
            else:
                io.write_picture(out / "spectra.png", summary["atlas"], grid=cell)
        if plots:
            plots_mod.overview(out / "overview.png", summary["thumb_in"], summary["thumb_out"],
                               thumb, crop_in, crop_out, crop_box, dtype=info.dtype, title=label)
            plots_mod.radial_spectrum(out / "radial_spectrum.png", RADIAL_EDGES,
                                      summary["power_in"], summary["power_out"], cutoff=cutoff,
                                      filter=filter, order=order,
                                      title=f"radially averaged power - {label}")
        t_write = time.perf_counter()
        megapixels = info.megapixels
        compute_seconds = max(t_compute - t_cluster, 1e-9)
        report = {
            "daskfft": _versions().get("daskfft"),
            "started": started.isoformat(timespec="seconds"),
            "input": {"path": None if sample is not None else str(input),
                      "sample": sample, "format": info.format,
                      "shape": list(info.shape), "dtype": info.dtype.name,
                      "tiled": info.tiled, "native_chunks": list(info.native_chunks),
                      "georeferenced": any(t[0] in (33922, 34264, 34735) for t in info.tags),
                      "alpha_passed_through": info.has_alpha},
            "outdir": str(outdir),
            "output_format": fmt,
            "outputs": sorted(names),
            "filter": {
                "filter": filter, "cutoff_cycles_per_pixel": cutoff,
                "sigma_pixels": 1 / (2 * math.pi * cutoff) if filter == "gaussian" else None,
                "order": order if filter == "butterworth" else None,
                "tol": tol, "boundary": boundary, "nodata": nodata,
            },
            "method": method,
            "halo": {"depth": depth, "rule": depth_rule, "needed_for_tol": needed,
                     "expected_max_deviation": deviation,
                     "expected_max_deviation_note": "bound on max|blockwise - whole-image| / max|image|",
                     "measured_deviation": measured,
                     "warning": halo_warning},
            "chunks": {"size": [chunk_rows, chunk_cols], "grid": list(nblocks),
                       "rows": list(grid_rows), "cols": list(grid_cols),
                       "total": nblocks[0] * nblocks[1], "computed": len(todo),
                       "resumed": len(done)},
            "cluster": cluster_report,
            "seconds": {"plan": t_plan - t_start, "cluster_start": t_cluster - t_plan,
                        "compute": t_compute - t_cluster, "write": t_write - t_compute,
                        "total": t_write - t_start},
            "megapixels": megapixels,
            "megapixels_per_second": megapixels * len(todo) / max(1, nblocks[0] * nblocks[1])
            / compute_seconds,
            "versions": _versions(),
        }
        with open(out / "report.json", "w") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
        _publish(out, outdir, names)
    except (InputError, ValueError, TypeError):
        partial.remove()  # bad input: nothing worth resuming
        raise
    except BaseException:
        if partial.done():
            log.warning("partial work kept in %s; rerun with --resume to finish it", partial.root)
        else:
            partial.remove()
        raise
    partial.remove()
    log.info("wrote %s into %s (%.1f Mpx in %.2f s, %.1f Mpx/s)", ", ".join(sorted(names)),
             outdir, megapixels, report["seconds"]["total"], report["megapixels_per_second"])
    return report


def _rechunk_method(cl, method="tasks"):
    """The rechunk method for the exact method's two rechunks (DASKFFT_RECHUNK overrides).

    "tasks", not "p2p": measured here on a 25 Mpx float64 image with 2 workers,
    p2p took 11.4 s and tasks 10.8 s, and with workers limited to less memory
    than the image p2p failed (workers restarted, P2PConsistencyError) where
    tasks spilled and finished.  DASKFFT_RECHUNK=p2p opts in.
    """
    method = os.environ.get("DASKFFT_RECHUNK", method)
    if cl.client is None:
        return contextlib.nullcontext()
    return dask.config.set({"array.rechunk.method": method})


def _sample_blocks(numblocks, most=4):
    """Up to ``most`` chunk indices spread over the grid: corners first, then the centre."""
    n0, n1 = numblocks
    picks = [(0, 0), (n0 - 1, n1 - 1), (0, n1 - 1), (n0 - 1, 0), (n0 // 2, n1 // 2)]
    return list(dict.fromkeys(picks))[:most]


def _measure_deviation(cl, color, cutoff, filter, order, depth, boundary, tol):
    """max|blockwise - exact| / max|image| on a few chunks, in the working precision."""
    blocks = _sample_blocks(color.numblocks[:2])
    blockwise = lowpass(color, cutoff, filter=filter, order=order, depth=depth, boundary=boundary)
    exact = lowpass(color, cutoff, filter=filter, order=order, boundary=boundary, tol=tol,
                    method="exact")
    pairs = []
    for i, j in blocks:
        pairs += [blockwise.blocks[i, j], exact.blocks[i, j], color.blocks[i, j]]
    values = _compute(cl, pairs, False)
    scale = max(float(np.abs(np.asarray(v, dtype=np.float64)).max()) for v in values[2::3]) or 1.0
    worst = max(float(np.abs(a - b).max()) for a, b in zip(values[0::3], values[1::3]))
    log.warning("measured deviation from the exact filter on %d chunks: %.3g x max|image|",
                len(blocks), worst / scale)
    return {"chunks": [list(b) for b in blocks], "max_relative": worst / scale}


def _crop_box(shape, size=256):
    """A ``size``-pixel square at the image's centre (the whole image if smaller)."""
    boxes = []
    for n in shape[:2]:
        a = max(0, n // 2 - size // 2)
        boxes += [a, min(n, a + size)]
    return tuple(boxes)


def _edges(sizes):
    return tuple(int(v) for v in np.concatenate([[0], np.cumsum(sizes)]))


def _with_nodata_tag(info, nodata):
    tags = [t for t in info.tags if t[0] != 42113]
    tags.append((42113, 2, 0, f"{nodata:g}", True))
    return dataclasses.replace(info, tags=tuple(tags))
