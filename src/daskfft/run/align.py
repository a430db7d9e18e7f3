"""``daskfft align``: the transform between two image files, their shift field, and the moving
image registered with the reference.

The global transform is measured on both images reduced by block means to at
most :data:`GLOBAL_EDGE` pixels on their long side (a gigapixel pair then
fits in memory; the shift is scaled back), the shift field at full
resolution one window per task.  As ``daskfft run`` does, align works in
OUTDIR's work folder under its lock and publishes its outputs all at once
(:mod:`daskfft.run.workdir`): a second run or align into OUTDIR is refused while
it works, and a failed align leaves OUTDIR's earlier outputs as they were.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np

from daskfft import io
from daskfft.api.register import register, shift_field
from daskfft.cluster.kinds import ClusterSpec, open_cluster
from daskfft.errors import InputError
from daskfft.kernels.block import to_dtype
from daskfft.messages import run as msg
from daskfft.run.graph import compute
from daskfft.run.outputs import mask_kind
from daskfft.run.workdir import WorkDir
from daskfft.validate import DEFAULT_MIN_CONFIDENCE, DEFAULT_WINDOW

__all__ = [
    "GLOBAL_EDGE",
    "output_names",
    "align_files",
    "WARP_MARGIN",
    "registering_affine",
    "warp",
]


log = logging.getLogger("daskfft")

#: Long side, in pixels, of the reduced images on which the global transform is measured.
GLOBAL_EDGE = 2048


def output_names(apply, fmt):
    names = ["transform.json", "shift_field.csv", "shift_field.png"]
    return names + ([f"registered.{io.OUTPUT_EXT[fmt]}"] if apply else [])


def _brightness(image, info):
    """The image's brightness: its channels' mean, an alpha channel left out."""
    if image.ndim == 2:
        return image.astype(np.float64)
    return (image[..., :-1] if info.has_alpha else image).mean(axis=2)


def _reduced(image, factor):
    if factor == 1:
        return image
    return da.coarsen(np.mean, image, {0: factor, 1: factor}, trim_excess=True)


def align_files(reference, moving, outdir, *, window=DEFAULT_WINDOW, rotation=False,
                scale=False, apply=False, min_confidence=DEFAULT_MIN_CONFIDENCE,
                overwrite=False, cluster=None, cluster_info=None, progress=False):  # fmt: skip
    """Register ``moving`` with ``reference`` (two files) and write the results into ``outdir``.

    ``cluster`` (a :class:`~daskfft.cluster.kinds.ClusterSpec`, default "auto") is
    where the work runs, as for ``daskfft run``; ``cluster_info`` describes an
    MPI job (:func:`daskfft.cluster.mpi.launch`); ``progress`` shows a progress bar
    while the shift field is computed and while the registered image is
    written.  Returns the transform as written to ``transform.json``.
    """
    ref_info, mov_info = io.probe(reference), io.probe(moving)
    _check_same_grid(reference, moving, ref_info, mov_info)
    out = Path(outdir)
    names = output_names(apply, mov_info.format)
    if apply and mask_kind(mov_info.format, mov_info) == "sidecar":
        names.append(f"{names[-1]}.msk")  # GDAL's mask beside the registered image, as given
    if out.exists() and not out.is_dir():
        raise InputError(msg.OUTDIR_NOT_A_DIRECTORY.format(outdir=outdir))
    options = dict(
        window=window, rotation=rotation, scale=scale, apply=apply, min_confidence=min_confidence
    )
    work = WorkDir(out)
    with work.session(0):
        _start(work, names, reference, moving, options, overwrite)
        spec, why = (cluster or ClusterSpec()).resolve(ref_info.megapixels)
        if why:
            log.info(why)
        with open_cluster(spec, info=cluster_info) as cl:
            _log_cluster(cl)
            transform, field, small_ref, factor, chunks = _measure(
                cl,
                reference,
                moving,
                ref_info,
                mov_info,
                window=window,
                rotation=rotation,
                scale=scale,
                min_confidence=min_confidence,
                progress=progress,
            )
            transform["cluster"] = {"kind": cl.kind, "workers": cl.workers, "threads": cl.threads}
            _write_outputs(
                work.out,
                names,
                transform,
                field,
                small_ref,
                factor,
                (mov_info, chunks) if apply else None,
                cl,
                progress,
            )
        work.publish({name: work.out / name for name in names})
    return transform


def _log_cluster(cl):
    """Say where align runs: the cluster ``cl``, and its dashboard if it has one."""
    log.info(
        msg.CLUSTER.format(
            kind=cl.kind,
            workers=cl.workers,
            threads=cl.threads,
            where=msg.CLUSTER_DASHBOARD.format(url=cl.dashboard) if cl.dashboard else "",
        )
    )


def _check_same_grid(reference, moving, ref_info, mov_info):
    """Refuse two images whose pixel grids differ: align compares them pixel for pixel."""
    if ref_info.shape[:2] != mov_info.shape[:2]:
        raise InputError(
            msg.ALIGN_GRIDS_DIFFER.format(
                moving=moving,
                moving_cols=mov_info.shape[1],
                moving_rows=mov_info.shape[0],
                reference=reference,
                reference_cols=ref_info.shape[1],
                reference_rows=ref_info.shape[0],
            )
        )


def _start(work, names, reference, moving, options, overwrite):
    """Start the locked work folder afresh, refusing to replace outputs ``names`` or their
    companions (a ``.msk``, ``.aux.xml`` or ``.ovr`` that publishing would move aside with
    them) without ``overwrite``, as ``daskfft run`` does (after completing a publish that a
    killed run left half done)."""
    fingerprint = {
        "command": "align",
        "reference": str(Path(reference).absolute()),
        "moving": str(Path(moving).absolute()),
        "options": options,
    }
    work.start_or_resume(
        fingerprint,
        resume=False,
        overwrite=overwrite,
        names=names,
        create_stores=lambda root: None,
        hint=msg.ALIGN_HINT,
    )


def _measure(
    cl, reference, moving, ref_info, mov_info, *, window, rotation, scale, min_confidence, progress
):
    """The global transform (on the reduced images) and the shift field (at full size)."""
    chunks = max(window, 1024 // window * window)
    ref = _brightness(io.read(ref_info, chunks), ref_info)
    mov = _brightness(io.read(mov_info, chunks), mov_info)
    factor = max(1, math.ceil(max(ref_info.shape[:2]) / GLOBAL_EDGE))
    small_ref, small_mov = da.compute(_reduced(ref, factor), _reduced(mov, factor))
    found = register(small_ref, small_mov, rotation=rotation, scale=scale)
    transform = {
        "shift": [found.shift[0] * factor, found.shift[1] * factor],
        "rotation_degrees": found.rotation,
        "scale": found.scale,
        "confidence": found.confidence,
        "convention": msg.CONVENTION,
        "measured_on": msg.MEASURED_REDUCED.format(factor=factor)
        if factor > 1
        else msg.MEASURED_FULL,
        "reference": str(reference),
        "moving": str(moving),
    }
    _log_global(found, transform)
    field = shift_field(ref, mov, window=window, min_confidence=min_confidence)
    (values,) = compute(cl, [field.data], progress=progress)
    field = dataclasses.replace(field, data=np.asarray(values))
    reliable = field.reliable
    if reliable.any():
        median = [float(np.median(field.dy[reliable])), float(np.median(field.dx[reliable]))]
        spread = float(
            np.sqrt(
                np.mean(
                    (field.dy[reliable] - median[0]) ** 2 + (field.dx[reliable] - median[1]) ** 2
                )
            )
        )
    else:
        median, spread = None, None
    transform["shift_field"] = {
        "window": window,
        "windows": int(field.data.shape[0] * field.data.shape[1]),
        "reliable": int(reliable.sum()),
        "min_confidence": min_confidence,
        "median_shift_of_reliable": median,
        "rms_about_median": spread,
    }
    log.info(
        msg.SHIFT_FIELD.format(
            rows=field.data.shape[0],
            cols=field.data.shape[1],
            window=window,
            reliable=int(reliable.sum()),
            median=""
            if median is None
            else msg.MEDIAN_PART.format(dy=median[0], dx=median[1], spread=spread),
        )
    )
    return transform, field, small_ref, factor, chunks


def _log_global(found, transform):
    """Log the global transform ``found``, its shift scaled back as ``transform`` has it."""
    log.info(
        msg.GLOBAL.format(
            dy=transform["shift"][0],
            dx=transform["shift"][1],
            rotation=""
            if found.rotation is None
            else msg.ROTATION_PART.format(rotation=found.rotation),
            scale="" if found.scale is None else msg.SCALE_PART.format(scale=found.scale),
            confidence=found.confidence,
            measured_on=transform["measured_on"],
        )
    )


def _write_outputs(folder, names, transform, field, small_ref, factor, registered, cl, progress):
    """Every output, complete, into ``folder`` (the work folder's ``out/``, published from
    there all at once); ``registered``: (MOVING's info, its chunks) to write it registered on
    the cluster ``cl``, or None."""
    (folder / "transform.json").write_text(json.dumps(transform, indent=2, allow_nan=False) + "\n")
    _write_csv(folder / "shift_field.csv", field)
    _picture(folder / "shift_field.png", small_ref, factor, field, transform)
    if registered is not None:
        image = next(n for n in names if n.startswith("registered."))
        _write_registered(folder / image, *registered, transform, cl, progress=progress)


def _write_csv(path, field):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "col", "dy", "dx", "confidence", "reliable"])
        for i, r in enumerate(field.rows):
            for j, c in enumerate(field.cols):
                dy, dx, conf = field.data[i, j]
                writer.writerow(
                    [
                        f"{r:g}",
                        f"{c:g}",
                        *(f"{v:.4f}" for v in (dy, dx, conf)),
                        int(field.reliable[i, j]),
                    ]
                )


def _picture(path, thumbnail, factor, field, transform):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7 * thumbnail.shape[0] / max(thumbnail.shape[1], 1) + 0.6))
    ax = fig.add_subplot()
    extent = (0, thumbnail.shape[1] * factor, thumbnail.shape[0] * factor, 0)
    ax.imshow(thumbnail, cmap="gray", extent=extent)
    cols, rows = np.meshgrid(field.cols, field.rows)
    ok = field.reliable
    magnitude = np.hypot(field.dy, field.dx)
    top = np.nanmax(magnitude[ok]) if ok.any() else 1.0
    # Data coordinates, rows downwards as in the image: an arrow is the shift itself.
    arrows = ax.quiver(
        cols[ok],
        rows[ok],
        field.dx[ok],
        field.dy[ok],
        magnitude[ok],
        cmap="viridis",
        angles="xy",
        scale_units="xy",
        scale=max(top, 1e-9) / (0.8 * field.window),
    )
    ax.plot(cols[~ok], rows[~ok], "x", color="0.6", markersize=4, label="unreliable window")
    fig.colorbar(arrows, ax=ax, label="shift, px", shrink=0.8)
    t = transform
    ax.set_title(
        f"shift field ({field.window}-px windows); global shift "
        f"({t['shift'][0]:.2f}, {t['shift'][1]:.2f}) px",
        fontsize=10,
    )
    if (~ok).any():
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("column, px")
    ax.set_ylabel("row, px")
    fig.savefig(path, dpi=100, bbox_inches="tight")  # its format by the suffix: .png


#: Extra source pixels each output chunk reads around what it maps from: the cubic spline's
#: support, and room for its prefilter (an IIR whose weight falls by 0.27 per pixel).
WARP_MARGIN = 16


def registering_affine(shape, shift=(0.0, 0.0), rotation=None, scale=None):
    """(matrix, offset) mapping an output pixel o of the registered image to its source in
    MOVING, ``matrix @ o + offset``: the turn by ``rotation`` degrees and the zoom by
    ``scale`` about the centre (as scipy.ndimage.rotate and a centred affine zoom do), then the
    shift, composed into one resampling."""
    turn = np.deg2rad(rotation or 0.0)
    rot = np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
    matrix = rot / (scale or 1.0)
    centre = (np.asarray(shape[:2], dtype=np.float64) - 1) / 2
    return matrix, centre - matrix @ (np.asarray(shift, dtype=np.float64) + centre)


def _warp_chunk(source, origin, matrix, offset, box):
    """One output chunk ``box`` ((r0, r1), (c0, c1)) resampled from ``source``, the window of
    MOVING that starts at ``origin``; cubic spline, edges repeated."""
    from scipy import ndimage

    (r0, r1), (c0, c1) = box
    local = offset + matrix @ np.array([r0, c0], dtype=np.float64) - origin
    planes = [source] if source.ndim == 2 else [source[..., k] for k in range(source.shape[2])]
    out = [
        ndimage.affine_transform(
            np.asarray(p, dtype=np.float64),
            matrix,
            offset=local,
            output_shape=(r1 - r0, c1 - c0),
            order=3,
            mode="nearest",
        )
        for p in planes
    ]
    return out[0] if source.ndim == 2 else np.stack(out, axis=-1)


def warp(image, matrix, offset):
    """``image`` (dask) resampled through ``matrix @ o + offset``, lazily, chunk by chunk:
    each output chunk reads only the window of ``image`` it maps from (plus
    :data:`WARP_MARGIN`), so memory holds a few windows, never the image."""
    import dask

    rows, cols = image.chunks[:2]
    tail = image.shape[2:]
    blocks = []
    for r0, r1 in zip(np.cumsum((0,) + rows[:-1]), np.cumsum(rows)):
        line = []
        for c0, c1 in zip(np.cumsum((0,) + cols[:-1]), np.cumsum(cols)):
            corners = np.array([[r, c] for r in (r0, r1 - 1) for c in (c0, c1 - 1)], float)
            mapped = corners @ matrix.T + offset
            low = np.clip(np.floor(mapped.min(axis=0)) - WARP_MARGIN, 0, None).astype(int)
            high = np.minimum(np.ceil(mapped.max(axis=0)) + WARP_MARGIN + 1, image.shape[:2])
            low = np.minimum(low, high - 1).astype(int)  # a chunk mapped wholly outside: an edge
            high = np.maximum(high, low + 1).astype(int)
            source = image[low[0] : high[0], low[1] : high[1]]
            chunk = dask.delayed(_warp_chunk, pure=True)(
                source, low, matrix, offset, ((int(r0), int(r1)), (int(c0), int(c1)))
            )
            line.append(da.from_delayed(chunk, (int(r1 - r0), int(c1 - c0), *tail), np.float64))
        blocks.append(line)
    return (
        da.block(blocks)
        if image.ndim == 2
        else da.concatenate([da.concatenate(line, axis=1) for line in blocks], axis=0)
    )


def _write_registered(path, info, chunks, transform, cl, *, progress=False):
    """MOVING turned, zoomed and shifted onto REFERENCE (one cubic resampling, chunk by
    chunk), in its own format, computed on the cluster ``cl`` and written by the format's
    backend (:meth:`daskfft.io.Backend.write`); with ``progress``, a progress bar (a TIFF is
    written band by band of rows: one bar over the bands).

    A GDAL mask, read as the last channel, is resampled with the image and written as a
    mask again, as the input had it (a mask page, or GDAL's ``.msk`` beside the file),
    keeping the pixels where it is at least half on (decided here: ``kept``); never as an
    extra band.  Its rows
    are computed a second time, after the image's: the file holds the mask after the
    image, and memory holds a band of rows, never the whole mask.
    """
    image = io.read(info, chunks)
    matrix, offset = registering_affine(
        info.shape, transform["shift"], transform["rotation_degrees"], transform["scale"]
    )
    result = warp(image, matrix, offset).map_blocks(to_dtype, info.dtype, dtype=info.dtype)
    entry, kind = io.backend(info.format), mask_kind(info.format, info)
    kept = None
    if kind is not None:  # the image's own bands: the last channel is the mask
        half = (np.iinfo(info.dtype).max if info.dtype.kind in "ui" else 1) / 2
        kept = result[..., -1] >= half
        result = result[..., :-1] if info.shape[2] > 2 else result[..., 0]
    bars = []  # drawn once a format written band by band says where it is

    def rows_done(done):
        if not bars:
            bars.append(_RowsBar(info.shape[0]))
        if done:
            bars[0].update(done)

    def run(arrays, progress=False):
        return compute(cl, arrays, progress=progress)

    entry.write(
        str(path),
        result,
        run,
        kept=kept,
        options={
            "photometric": info.photometric,
            "alpha": info.alpha,
            "tags": info.tags,
            "mask": kind,
            "progress": progress,
            "rows_done": rows_done if progress else None,
        },
    )


class _RowsBar:
    """A text progress bar over an image's rows, drawn as dask's ProgressBar draws its own
    (on standard output, redrawn in place)."""

    def __init__(self, total, width=40):
        self.total, self.width, self.t0 = total, width, time.perf_counter()
        self.update(0)

    def update(self, done):
        from dask.utils import format_time

        frac = done / self.total if self.total else 1.0
        bar = "#" * int(self.width * frac)
        elapsed = format_time(time.perf_counter() - self.t0)
        sys.stdout.write(
            msg.ROWS_BAR.format(bar=bar, width=self.width, percent=int(100 * frac), elapsed=elapsed)
        )
        if done >= self.total:
            sys.stdout.write("\n")
        sys.stdout.flush()
