"""The one ``run`` that the command line, notebooks and batch jobs call, as its stages.

plan -> open the work folder (start or resume) -> cluster -> graph -> compute
what is missing -> finalize outputs -> report -> publish.  Each stage is a
function or object with one job, in its own module.
"""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np

from daskfft import io
from daskfft.cluster.kinds import open_cluster
from daskfft.messages import run as msg
from daskfft.run.cells import masked
from daskfft.run.config import RunConfig
from daskfft.run.describe import log_plan
from daskfft.run.deviation import measure_deviation
from daskfft.run.graph import build_graph, compute, compute_missing, flat_mean, rechunk_method
from daskfft.run.html import write_html
from daskfft.run.levels import build_overviews, level_store, write_cog, write_ome_zarr_metadata
from daskfft.run.outputs import (
    create_stores,
    finalize,
    result_root,
    sample_format,
    sample_tile,
    staged,
    staged_path,
)
from daskfft.run.plan import make_plan
from daskfft.run.plots import write_pictures
from daskfft.run.report import make_report, utc_now, write_report
from daskfft.run.summary import assemble
from daskfft.run.workdir.store import work_dir

__all__ = ["run", "run_config", "planned", "log_cluster"]


log = logging.getLogger("daskfft")


def run(input=None, outdir="daskfft-out", **options):
    """Filter an image file (or the built-in sample) into ``outdir``; return the report.

    Parameters
    ----------
    input : str or path-like, optional
        TIFF, Zarr, PNG or JPEG; exactly one of ``input`` and ``sample``.
    outdir : str or path-like
        Folder for ``filtered.<ext>``, the pictures and ``report.json``;
        created if missing.  Work in progress lives in its hidden
        ``.daskfft-work/`` folder (:mod:`daskfft.run.workdir`), and the outputs
        are moved in only when all are complete.
    **options
        Those of :meth:`daskfft.run.config.RunConfig.create`: ``sample`` (edge of
        the synthetic sample, pixels), ``axes`` (a Zarr array's, where it names no
        dims: letters of "tczyx", as ``--axes``), the filter (``cutoff`` or ``sigma``, a
        pair of either for ``band="band"``; ``band``: "low", "high" or
        "band"; ``flatfield``: "divide" or "subtract"; ``filter``, ``order``,
        ``depth``, ``tol``, ``boundary``, ``nodata``, ``method``), ``chunks``,
        outputs (``output_format``, ``compression``, ``spectra``, ``plots``,
        ``performance_report``), the cluster
        (``cluster``, ``workers``, ``threads_per_worker``, ``memory_limit``,
        ``dashboard``, ``dashboard_address``, ``connect_timeout``, ``tls``) and
        ``overwrite``, ``resume``, ``progress``, ``measure_deviation``.

    Returns
    -------
    dict
        The contents of ``report.json``.

    Raises
    ------
    ValueError, TypeError
        For bad parameters, before anything is read or written.
    InputError
        For an unusable input or output, before anything is written.
    RunFailed, Interrupted
        When the run failed or was interrupted after finishing some chunks,
        which are kept for ``resume=True``.
    """
    return run_config(RunConfig.create(input, outdir, **options))


def planned(config):
    """``make_plan(config)`` and the warnings it logged, for a run made later with its plan
    (a batch plans every image first): ``(plan, warnings)``."""
    warned = _Warnings()
    log.addHandler(warned)
    try:
        return make_plan(config), warned.said
    finally:
        log.removeHandler(warned)


def run_config(
    config, *, cluster_info=None, launched_at=None, plan=None, planning=(), cluster=None
):
    """Run ``config`` (a :class:`~daskfft.run.config.RunConfig`) stage by stage; return the report.

    ``launched_at`` (seconds since the epoch): when the process started, so
    that the report can count the imports in the start-up (the command does).
    A batch (:mod:`daskfft.run.batch`) gives the image's ``plan``, made already by
    :func:`planned`, the warnings said while making it (``planning``: they go first into
    the report), and the open ``cluster`` its images share.
    """
    warned = _Warnings()
    warned.said.extend(planning)
    log.addHandler(warned)
    try:
        return _run(config, cluster_info, _Clock(launched_at), warned, plan, cluster)
    finally:
        log.removeHandler(warned)


class _Warnings(logging.Handler):
    """The warnings a run logs, for its report (not the notices logged at that level to be
    seen: the dashboard's address)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.said = []

    def emit(self, record):
        if not getattr(record, "notice", False):
            self.said.append(record.getMessage())


def _run(config, cluster_info, clock, warned, plan=None, shared=None):
    plan = plan or make_plan(config)
    work = work_dir(config)
    with work.session(plan.total):
        resumed = _open_work(work, plan)
        log_plan(plan)  # once OUTDIR is known to want this run
        clock.mark("plan")
        with _cluster(plan, cluster_info, shared) as cl, rechunk_method(cl):
            clock.mark("cluster_start")
            if plan.spec.method == "blockwise":
                cl.check_memory(*plan.task_memory)
            flat = flat_mean(cl, plan)
            if flat is not None:
                said = msg.FLAT_MEAN_STACK if plan.info.stack else msg.FLAT_MEAN
                log.info(said.format(means=", ".join(f"{m:.6g}" for m in np.ravel(flat))))
            graph = build_graph(plan, work.root, flat_mean=flat)
            report_path = work.out / "performance-report.html" if plan.performance_report else None
            computed = compute_missing(cl, graph, plan, resumed, report_path=report_path)
            measured = measure_deviation(cl, graph, plan)
            crops = _crops(cl, graph, plan, work) if config.plots else None
            clock.mark("compute")
            if len(plan.levels) > 1:
                sizes = (msg.LEVEL_SIZE.format(width=s[1], height=s[0]) for s in plan.levels[1:])
                log.info(msg.OVERVIEWS.format(levels=", ".join(sizes)))
                build_overviews(plan, work.root, lambda arrays: compute(cl, arrays))
                clock.mark("overviews")
            cluster = cl.describe()
        if report_path and not report_path.exists():  # nothing was left to compute
            report_path.write_text(msg.NOTHING_COMPUTED)
        shown = _finalize(plan, work, crops)
        clock.mark("write")
        report = make_report(
            plan,
            started=clock.started,
            seconds=clock.seconds(),
            computed=computed,
            resumed=len(resumed),
            cluster=cluster,
            measured=measured,
            flat_mean=flat,
            warnings=warned.said,
        )
        write_report(work.out / "report.json", report)
        if "report.html" in plan.names:
            pictures = {p.name: p for p in work.out.glob("*.png")}
            write_html(work.out / "report.html", report, pictures, shown)
        work.publish(staged(work.root, plan.names, result_root(plan, work.root)))
    log.info(
        msg.WROTE.format(
            names=", ".join(sorted(plan.names)),
            outdir=config.outdir,
            megapixels=plan.info.megapixels,
            seconds=report["seconds"]["total"],
        )
    )
    return report


@contextlib.contextmanager
def _cluster(plan, cluster_info, shared):
    """The cluster the run computes on: the batch's ``shared`` one, or its own, opened (and
    said) here."""
    if shared is not None:
        yield shared
        return
    with open_cluster(plan.cluster, info=cluster_info) as cl:
        log_cluster(cl)
        yield cl


class _Clock:
    """Seconds spent in each stage, from the start of the run, and start-up against work."""

    def __init__(self, launched_at=None):
        self.started = utc_now()
        self._imports = None if launched_at is None else max(0.0, time.time() - launched_at)
        self._t0 = self._last = time.perf_counter()
        self._marks = {}

    def mark(self, stage):
        now = time.perf_counter()
        self._marks[stage] = now - self._last
        self._last = now

    def seconds(self):
        """Each stage; ``startup`` (imports, when known, and the cluster), ``work`` (the rest)."""
        total = self._last - self._t0
        cluster = self._marks.get("cluster_start", 0.0)
        out = {**self._marks, "total": total, "work": total - cluster}
        if self._imports is not None:
            out["imports"] = self._imports
        out["startup"] = cluster + (self._imports or 0.0)
        return out


def _open_work(work, plan):
    """Start the work folder afresh or resume it; return the chunks already done.

    OUTDIR's outputs are checked here, under the lock: no other run can publish
    between the check and this run's publishing.
    """
    resuming = work.start_or_resume(
        plan.fingerprint,
        resume=plan.config.resume,
        overwrite=plan.config.overwrite,
        names=plan.names,
        create_stores=lambda root: create_stores(plan, root),
    )
    if plan.config.resume and not resuming:
        log.info(msg.NOTHING_TO_RESUME.format(root=work.root))
    return work.done() if resuming else set()


def log_cluster(cl):
    """Say which cluster the run has, and its dashboard."""
    if cl.dashboard:
        log.warning(msg.DASHBOARD.format(url=cl.dashboard), extra={"notice": True})
        if cl.kind == "mpi":
            from urllib.parse import urlparse

            log.warning(
                msg.SSH_TUNNEL.format(
                    port=urlparse(cl.dashboard).port, node=cl.extra.get("scheduler_node")
                ),
                extra={"notice": True},
            )
    log.info(
        msg.CLUSTER.format(
            kind=cl.kind,
            workers=cl.workers,
            threads=cl.threads,
            where=msg.CLUSTER_SCHEDULER.format(address=cl.client.scheduler.address)
            if cl.client
            else "",
        )
    )


def _crop_box(shape, size=256):
    """A ``size``-pixel square at the image's centre (the whole image if smaller)."""
    boxes = []
    for n in shape[:2]:
        a = max(0, n // 2 - size // 2)
        boxes += [a, min(n, a + size)]
    return tuple(boxes)


def _crops(cl, graph, plan, work):
    """The overview's full-resolution crop, of the input and of the stored result."""
    r0, r1, c0, c1 = box = _crop_box(plan.info.shape)
    crop_in = graph.input_window(cl, (r0, r1), (c0, c1))
    kept = crop_in[..., -1] > 0 if plan.info.mask is not None else None
    crop_in = crop_in[..., :-1] if plan.info.has_alpha else crop_in
    crop_out = level_store(plan, work.root, 0).read((r0, r1), (c0, c1))
    if plan.info.has_alpha:
        crop_out = crop_out[..., :-1]
    if kept is not None:  # the input's mask: holes in the pictures
        crop_in, crop_out = masked(crop_in, kept), masked(crop_out, kept)
    return crop_in, crop_out, box


def _finalize(plan, work, crops):
    """Every output file, complete, in the work folder; what report.html shows of the images
    (:func:`daskfft.run.html.views`), where it is made."""
    import dataclasses

    ext_name, pyramid = plan.names[0], io.backend(plan.fmt).pyramid
    if pyramid == "pages":
        write_cog(plan, work.root, work.out / ext_name)
    elif pyramid == "group":
        write_ome_zarr_metadata(plan, work.root)
    elif not plan.tiff_tile:  # else the tasks wrote their tiles in place
        result = result_root(plan, work.root) if io.backend(plan.fmt).folder else work.root
        finalize(
            result,
            "filtered",
            staged_path(result, ext_name, plan.fmt),
            plan.fmt,
            plan.info,
            creation=plan.creation,
        )
    if plan.config.sample is not None and not sample_tile(plan):  # else written in place
        fmt = sample_format(plan.fmt)
        name = f"sample.{io.OUTPUT_EXT[fmt]}"
        finalize(
            work.root,
            "sample",
            staged_path(work.root, name, fmt),
            fmt,
            dataclasses.replace(plan.info, tags=(), nodata=None),
            creation=plan.creation if fmt == plan.fmt else {},
        )
    atlas = "spectra.png" in plan.names
    if atlas or plan.config.plots:
        summary = assemble(
            work.root,
            plan.row_edges,
            plan.col_edges,
            plan.cell,
            atlas=atlas,
            plots=plan.config.plots,
            frames=plan.frames_shown,
        )
        write_pictures(work.out, plan, summary, crops)
        if plan.config.plots:
            return _views(plan, summary, crops)
    return None


def _views(plan, summary, crops):
    """What report.html shows of the images, as the overview shows them."""
    from daskfft.run.html import views

    nodata = float("nan") if plan.info.mask is not None else plan.spec.nodata
    return views(
        summary["thumb_in"],
        summary["thumb_out"],
        plan.thumb,
        crops,
        dtype=plan.info.dtype,
        nodata=nodata,
    )
