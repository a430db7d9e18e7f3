"""The plan of a run: everything decided before the first pixel is read or file written.

:func:`make_plan` reads the input's header (never its pixels), settles the
nodata value, the output format and names, the halo, the chunk grid and the
run's fingerprint, and notes every choice the user did not make explicitly
or every option that goes unused, so the log can say so.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass

import numpy as np

from daskfft import io
from daskfft.errors import InputError
from daskfft.kernels.bands import output_offset
from daskfft.kernels.block import working_precision
from daskfft.kernels.grid import chunk_edges
from daskfft.kernels.overview import level_shapes
from daskfft.kernels.spec import FilterSpec, Halo
from daskfft.kernels.spectra import SUMMARY_WINDOW
from daskfft.kernels.transfer import cutoff_from_sigma
from daskfft.messages import run as msg
from daskfft.run import taskmem
from daskfft.run.fingerprint import run_fingerprint
from daskfft.run.grid import chunk_grid
from daskfft.run.options import check_outdir, remote_notes, unused_options
from daskfft.run.outputs import creation_options, mask_kind, output_names

__all__ = ["Plan", "make_plan"]


@dataclass(frozen=True)
class Plan:
    """A run, fully decided: see :func:`make_plan`."""

    config: object  # the RunConfig
    spec: FilterSpec  # the config's filter, with the input's own nodata if none was given
    info: io.ImageInfo
    fmt: str
    names: tuple
    halo: Halo
    rows: tuple  # chunk sizes along the rows
    cols: tuple
    measure: str | None  # how the deviation from a whole-image filter is measured, if at all
    performance_report: bool
    fingerprint: dict
    notes: tuple = ()
    cluster: object = None  # the config's ClusterSpec with "auto" settled
    creation: dict = dataclasses.field(default_factory=dict)  # checked --co, with defaults
    zs: tuple = ()  # chunk sizes along z, for a volume; () for an image or a time series

    @property
    def tiff_tile(self):
        """Tile edge of a TIFF that tasks write in place, or None (Zarr, then a pass).

        Uncompressed TIFF tiles lie at known offsets, so each task writes its
        own when every chunk edge falls on the tile grid of the output's
        BLOCKSIZE (:meth:`daskfft.io.Backend.output_tile`; :func:`make_plan` rounds the
        chunks to it).  A COG's full-size level is such a TIFF in the work folder, then
        compressed with its overviews.
        """
        if self.info.stack or not io.backend(self.fmt).fills_in_place(self.creation):
            return None  # a stack's OME-TIFF is written from a Zarr store at the end
        tile = int(self.creation["BLOCKSIZE"])
        inner = self.row_edges[1:-1] + self.col_edges[1:-1]
        return tile if all(e % tile == 0 for e in inner) else None

    @property
    def task_memory(self):
        """About what one chunk's task holds at its peak, bytes, and what it is, in words
        (:func:`daskfft.run.taskmem.task_memory`)."""
        return taskmem.task_memory(self)

    @property
    def reads_windows(self):
        """Whether each task reads its own haloed window from the input, with no overlap
        exchange.

        So for TIFF, Zarr and the sample, block-wise, with any boundary but
        "periodic" (whose halo at one edge comes from the far edge of the
        image); PNG and JPEG are decoded whole once, then split with
        ``map_overlap``.
        """
        return (
            self.spec.method == "blockwise"
            and self.spec.boundary != "periodic"
            and (self.config.sample is not None or io.backend(self.info.format).windowed)
        )

    @property
    def chunk_window(self):
        """The fast FFT shape of a full chunk's window
        (:func:`daskfft.run.taskmem.chunk_window`)."""
        return taskmem.chunk_window(self)

    @property
    def levels(self):
        """Shapes of the output's pyramid (full size first): COG and OME-Zarr have overviews
        down to one tile (:func:`daskfft.kernels.overview.level_shapes`), the other formats none."""
        pyramid = io.backend(self.fmt).pyramid
        if pyramid == "pages":  # a COG's: its pages' tiles
            return level_shapes(self.info.shape, int(self.creation["BLOCKSIZE"]))
        if pyramid == "group":
            return level_shapes(self.info.shape, 256)
        return (self.info.shape,)

    @property
    def work_dtype(self):
        """Working precision of the filter: see :func:`working_precision`."""
        return working_precision(self.info.dtype, self.spec.tol)[0]

    @property
    def row_edges(self):
        return chunk_edges(self.rows)

    @property
    def col_edges(self):
        return chunk_edges(self.cols)

    @property
    def grid(self):
        return len(self.rows), len(self.cols)

    @property
    def z_edges(self):
        return chunk_edges(self.zs) if self.zs else (0, 1)

    @property
    def stack_grid(self):
        """(frames, z chunks) of a stack: its tasks' first two indices; () for an image."""
        return (self.info.frames, max(1, len(self.zs))) if self.info.stack else ()

    @property
    def total(self):
        return math.prod(self.stack_grid) * len(self.rows) * len(self.cols)

    def indices(self):
        """Every task's index: (i, j) of an image's chunk; (frame, k, i, j) of a stack's."""
        return list(itertools.product(*(range(n) for n in self.stack_grid + self.grid)))

    @property
    def view(self):
        """The plane a stack's pictures show, (frame, z): the middle ones; (0, 0) else."""
        return (self.info.frames // 2, self.info.planes // 2)

    @property
    def frames_shown(self):
        """The time points ``frames.png`` shows, a row each: at most 4, first to last, evenly
        spaced; () but for a time series with pictures."""
        if self.info.frames < 2 or "frames.png" not in self.names:
            return ()
        n = self.info.frames
        m = min(n, 4)
        return tuple(sorted({round(k * (n - 1) / (m - 1)) for k in range(m)}))

    @property
    def view_chunk(self):
        """The (frame, k) whose chunks hold :attr:`view`: theirs give the pictures."""
        frame, z = self.view
        return frame, next(k for k in range(len(self.z_edges) - 1) if z < self.z_edges[k + 1])

    @property
    def cell(self):
        """Atlas tile edge: as large as 256 px while the atlas stays within 1024 px.

        The atlas picture shows it about 1000 px wide, so a larger atlas would
        only be resampled away (at 2048 px that took 0.5 s of its 1.3 s).
        """
        return max(1, min(256, 1024 // max(self.grid)))

    @property
    def thumb(self):
        """The overview keeps every thumb-th pixel: about 512 px along the longer side.

        Its panels are about 450 px wide: more pixels would be resampled away.
        """
        return max(1, -(-max(self.info.shape[:2]) // 512))


def make_plan(config):
    """Plan ``config`` (a :class:`~daskfft.run.config.RunConfig`); reads headers, writes nothing.

    Raises
    ------
    InputError
        For an input or output location the run cannot use.
    """
    notes = []
    info = _source_info(config)
    spec, info = _resolve_nodata(config, info)
    spec = _per_axis(config, spec, info, notes)
    fmt = _output_format(config, info)
    _note_mask_and_offset(spec, info, fmt, notes)
    creation, tile = _creation(config, info, fmt)
    halo = _halo(spec, info)
    rows, cols = chunk_grid(config, info, max(halo.depths[-2:]), notes, tile=tile)
    zs = _z_grid(config, info, halo.depths[0]) if info.planes > 1 else ()
    if (config.spectra != "none" or config.plots) and max(rows[0], cols[0]) > SUMMARY_WINDOW:
        notes.append(msg.SUMMARY_WINDOW.format(window=SUMMARY_WINDOW, chunk=max(rows[0], cols[0])))
    cluster, report = _cluster(config, info, notes)
    names = output_names(
        fmt,
        sample=config.sample is not None,
        spectra=config.spectra,
        plots=config.plots,
        performance_report=report,
        mask=mask_kind(fmt, info),
        stack=bool(info.stack),
    )
    if info.frames > 1 and config.plots:
        names.append("frames.png")
    measure_notes = []  # said after the options' notes, as the log has them
    measure = _measure(config, halo, measure_notes)
    fingerprint = run_fingerprint(
        config, spec, info, fmt, halo, (rows, cols, zs), creation, measured=measure is not None
    )
    check_outdir(config.outdir, dict(config.storage_options))
    notes += unused_options(config, cluster, spec, fmt) + remote_notes(config, info, fmt)
    notes += measure_notes
    return Plan(
        config,
        spec,
        info,
        fmt,
        tuple(names),
        halo,
        rows,
        cols,
        _stack_measure(info, measure),
        report,
        fingerprint,
        tuple(notes),
        cluster,
        creation,
        zs,
    )


def _spatial_axes(info):
    """The input's spatial axes, as letters: "zyx" for a volume, "yx" else."""
    return "zyx" if info.planes > 1 else "yx"


def _per_axis(config, spec, info, notes):
    """``spec`` with a physical sigma made per-axis pixels by the input's pixel size (noted),
    and a cutoff per axis checked against the input's spatial axes."""
    axes = _spatial_axes(info)
    if config.physical_sigma is not None:
        spec = _physical(config.physical_sigma, spec, info, axes, notes)
    if isinstance(spec.cutoff, tuple) and len(spec.cutoff) != len(axes):
        raise InputError(
            msg.PER_AXIS_COUNT.format(
                path=info.path, given=len(spec.cutoff), count=len(axes), axes=", ".join(axes)
            )
        )
    return spec


def _physical(sigma, spec, info, axes, notes):
    """``spec``'s cutoff from the physical ``sigma``: pixels along each axis by its size."""
    sizes = info.spacing if info.spacing is not None else (None,) + (info.pixel_size or (None,) * 3)
    spacing, unit = sizes[-1 - len(axes) : -1], sizes[-1] or ""
    if any(s is None for s in spacing):  # e.g. a TIFF stack's pixel size, but no z step
        raise InputError(msg.PHYSICAL_NO_SPACING.format(path=info.path))
    values = sigma if isinstance(sigma, tuple) else (sigma,) * len(axes)
    if len(values) != len(axes):
        raise InputError(
            msg.PER_AXIS_COUNT.format(
                path=info.path, given=len(values), count=len(axes), axes=", ".join(axes)
            )
        )
    pixels = tuple(s / d for s, d in zip(values, spacing))
    shown = ", ".join(f"{p:.4g}" for p in pixels)
    try:
        cutoff = tuple(cutoff_from_sigma(p) for p in pixels)
    except ValueError as exc:
        raise InputError(
            msg.PHYSICAL_TOO_SMALL.format(
                path=info.path, sigma=sigma, pixels=shown, axes=axes, said=exc
            )
        ) from None
    notes.append(
        msg.PHYSICAL_SIGMA.format(
            sigma=sigma, unit=unit, pixels=shown, axes=", ".join(axes), spacing=spacing
        )
    )
    return spec.replace(cutoff=cutoff)


def _halo(spec, info):
    """The halo on the input's spatial axes (z, y, x for a volume), its stack checked first:
    refused in one line where the run cannot filter it yet."""
    if not info.stack:
        return spec.halo()
    what = msg.STACK_WHAT.format(
        axes=", ".join(f"{a} {n}" for a, n, _ in info.stack), shape=info.shape
    )
    refusal = next(
        (
            said
            for bad, said in (
                (spec.method == "exact", msg.STACK_EXACT),
                (spec.filter == "ideal", msg.STACK_IDEAL),
                (spec.boundary == "periodic", msg.STACK_PERIODIC),
                (info.has_alpha, msg.STACK_ALPHA),
            )
            if bad
        ),
        None,
    )
    if refusal is not None:
        raise InputError(refusal.format(path=info.path, what=what))
    try:
        return spec.halo(3 if info.planes > 1 else 2)
    except ValueError as exc:
        raise InputError(msg.STACK_FILTER.format(path=info.path, what=what, said=exc)) from None


def _stack_measure(info, measure):
    """``measure``, refused for a stack: its deviation is not measured yet."""
    if info.stack and measure is not None:
        raise InputError(msg.STACK_MEASURE.format(path=info.path))
    return measure


def _z_grid(config, info, depth):
    """A volume's chunk sizes along z: ``--chunks`` or the volume's default edge, made whole
    store chunks of the input, at least the z halo (:func:`~daskfft.kernels.grid.plan_grid`)."""
    from daskfft.kernels.grid import DEFAULT_VOLUME_CHUNKS, plan_grid

    native = next(c for a, _, c in info.stack if a == "z")
    want = config.chunks or DEFAULT_VOLUME_CHUNKS
    edge = min(info.planes, native * max(1, round(want / native)))
    return plan_grid(info.planes, max(edge, min(depth, info.planes)), depth)


def _note_mask_and_offset(spec, info, fmt, notes):
    """Refuse a mask with the exact method; note where the input's mask is and how the
    output keeps it, and the mid-gray offset of a band-pass or flat-field output."""
    if info.mask is not None:
        if spec.method == "exact":
            raise InputError(
                msg.EXACT_NO_MASK.format(path=info.path, mask=os.path.basename(info.mask[0]))
            )
        where = (
            msg.MASK_INTERNAL.format(page=info.mask[1])
            if info.mask[0] == info.path
            else os.path.basename(info.mask[0])
        )
        kept = {
            "internal": msg.MASK_KEPT_INTERNAL,
            "sidecar": msg.MASK_KEPT_SIDECAR.format(ext=io.OUTPUT_EXT[fmt]),
        }.get(mask_kind(fmt, info), msg.MASK_AS_ALPHA)
        notes.append(msg.MASK_NOTE.format(where=where, kept=kept))
    offset = output_offset(spec, info.dtype)
    if offset:
        notes.append(msg.MID_GRAY.format(band=spec.band, offset=offset, dtype=info.dtype.name))


def _creation(config, info, fmt):
    """The output's checked creation options, and its tile for the chunk grid: (edge, why,
    format), or None for an untiled output."""
    bands = info.shape[2] if len(info.shape) == 3 else 1
    tile, tile_why = io.backend(fmt).output_tile(info)
    creation = creation_options(
        fmt,
        config.creation_options,
        info.dtype,
        bands,
        alpha=info.has_alpha,
        compression=config.compression,
        tile=tile,
    )
    if dict(config.creation_options).get("BLOCKSIZE"):
        tile, tile_why = int(creation["BLOCKSIZE"]), "--co BLOCKSIZE"
    return creation, (tile, tile_why, fmt) if tile else None


def _cluster(config, info, notes):
    """The config's cluster with "auto" settled, and whether a performance report is
    written (not with threads: noted)."""
    report = (
        config.cluster.kind == "mpi"
        if config.performance_report is None
        else config.performance_report
    )
    cluster, why = config.cluster.resolve(info.megapixels, performance_report=report)
    if why:
        notes.append(why)
    if report and cluster.kind == "threads":
        notes.append(msg.NO_REPORT_WITH_THREADS)
        report = False
    return cluster, report


def _source_info(config):
    if config.sample is None:
        return io.probe(config.input, axes=config.axes, storage=dict(config.storage_options))
    n = config.sample
    return io.made_in_memory("<sample>", (n, n, 3), np.uint8, photometric="rgb")


def _resolve_nodata(config, info):
    spec = config.filter
    if spec.nodata is None and info.nodata is not None:
        spec = spec.replace(nodata=info.nodata)
    own = (
        any(t[0] == 42113 for t in info.tags)  # the file's GDAL_NODATA, as it is written
        and np.array_equal(spec.nodata, info.nodata, equal_nan=True)
    )
    if spec.nodata is not None and not own:  # the output's GDAL_NODATA says the value used
        tags = [t for t in info.tags if t[0] != 42113]
        tags.append((42113, 2, 0, f"{spec.nodata:.17g}", True))  # every digit: float32's too
        info = dataclasses.replace(info, tags=tuple(tags))
    return spec, dataclasses.replace(info, nodata=spec.nodata)


def _output_format(config, info):
    big = info.megapixels * 1e6 > io.WHOLE_IMAGE_CAP
    fmt = config.output_format or io.default_output(
        info, streamed=config.sample is not None and big
    )
    entry = io.backend(fmt)
    if info.stack and not entry.stacks:
        raise InputError(msg.STACK_OUTPUT.format(path=info.path, fmt=entry.label))
    if entry.whole and big:
        raise InputError(
            msg.WRITTEN_WHOLE.format(
                fmt=fmt.upper(), megapixels=info.megapixels, cap=io.WHOLE_IMAGE_CAP / 1e6
            )
        )
    entry.check_output(info)
    return fmt


def _measure(config, halo, notes):
    """How the block-wise deviation is measured (:mod:`daskfft.run.deviation`), and why.

    "local" where the halo is narrower than ``tol`` asks (or ``--measure-deviation`` where
    some halo reaches it); "exact" for ``--measure-deviation`` where none does; "sampled", a
    few chunks, by default where no bound exists (the ideal filter: its kernel is not
    absolutely summable); None otherwise, so a Gaussian or Butterworth run with the halo
    ``tol`` asks for measures nothing.
    """
    if halo.rule == "exact":
        return None
    if halo.needed is not None and (halo.depth < halo.needed or config.measure_deviation):
        return "local"
    if config.measure_deviation and config.filter.nodata is None:
        return "exact"
    unbounded = math.isinf(halo.deviation)
    if config.measure_deviation:
        notes.append(msg.MEASURE_UNUSED_NODATA + (msg.MEASURED_INSTEAD if unbounded else ""))
    if unbounded:
        notes.append(msg.NO_BOUND)
        return "sampled"
    if halo.narrower_than_tol_asks:
        notes.append(msg.BOUNDED_NOT_MEASURED)
    return None
