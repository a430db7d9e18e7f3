"""The run's graph and its computation: one task per chunk, only those not yet done."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from functools import cached_property, partial

import dask
import numpy as np

from daskfft import io
from daskfft.api.bands import data_mean, filter_spec
from daskfft.api.lowpass import as_image, overlap_map
from daskfft.api.sample import sample_image
from daskfft.cluster.spec import cpu_count
from daskfft.kernels.bands import output_offset
from daskfft.kernels.block import data_mask
from daskfft.messages import run as msg
from daskfft.run.levels import level_store
from daskfft.run.outputs import sample_store
from daskfft.run.tasks import (
    ChunkTarget,
    WindowSource,
    filter_and_save,
    read_filter_save,
    read_filter_save_stack,
    save_filtered,
    window_sums,
)

__all__ = [
    "STOP",
    "Graph",
    "build_graph",
    "flat_mean",
    "reads_windows",
    "compute",
    "compute_missing",
    "rechunk_method",
]


log = logging.getLogger("daskfft")

#: Set to stop the computation from another thread: under MPI, rank 0's SIGTERM handler
#: runs in the thread of the scheduler, while the client waits in its own.
STOP = threading.Event()

#: How often (seconds) a distributed computation looks at :data:`STOP`.
STOP_POLL = 0.2


class Graph:
    """The tasks of a run, one per chunk, each filtering and saving its chunk; and, built only
    when asked for (the deviation's measurement, the overview's crop, the pyramid), the lazy
    input image and its colour channels.

    Where each task reads its own window of the input (:func:`reads_windows`), the tasks are
    a plain grid of independent calls and no dask array is made: the command's usual run
    never imports ``dask.array`` (0.4-0.6 s of start-up, measured here).
    """

    def __init__(self, plan, *, status=None, chunk_task=None, source=None):
        self.plan = plan
        self._status = status  # a dask array of 1 x 1 markers, one per chunk
        self._chunk_task = chunk_task  # or the task of chunk (i, j), a plain call,
        self._source = source  # reading its window from this WindowSource

    @cached_property
    def image(self):
        return _input(self.plan)

    @cached_property
    def color(self):
        return self.image[..., :-1] if self.plan.info.has_alpha else self.image

    def input_window(self, cluster, rows, cols):
        """The input's pixels ``rows`` x ``cols`` (a small window): read here, as the tasks
        read theirs, or computed from the lazy image."""
        if self._source is not None:
            return self._source.read(rows, cols)
        return compute(cluster, [self.image[rows[0] : rows[1], cols[0] : cols[1]]])[0]

    def targets(self, todo):
        """What to compute for the chunks ``todo`` ((i, j) pairs)."""
        if self._chunk_task is not None:
            # Keys unique to this run: on a scheduler shared between runs (--cluster
            # ADDRESS), equal keys would be taken for the same tasks.
            task = dask.delayed(self._chunk_task)  # wrapped (and tokenised) once
            key = f"daskfft-chunk-{self._token}"
            return [task(index, dask_key_name=(key, *index)) for index in todo]
        if len(todo) == self.plan.total:
            # One array, one graph: peer-to-peer rechunks need their whole barrier.
            return [self._status]
        blocks = self._status.to_delayed()
        return [blocks[i, j] for i, j in todo]

    @cached_property
    def _token(self):
        return uuid.uuid4().hex


def _input(plan):
    info, rows, cols = plan.info, plan.rows, plan.cols
    if plan.config.sample is not None:
        image = sample_image(info.shape[0], chunks=rows[0])
    else:
        image = io.read(info, rows[0], nodata=plan.spec.nodata)
    return as_image(image).rechunk((rows, cols) + (-1,) * (image.ndim - 2))


def build_graph(plan, root, *, flat_mean=None):
    """The graph of ``plan`` writing into the work folder ``root``; nothing is computed.

    ``flat_mean``: a block-wise flat-field's level per channel (:func:`flat_mean`).
    """
    target = _chunk_target(plan, root, flat_mean)
    if plan.info.stack:
        return _stack_graph(plan, target)
    if reads_windows(plan):
        return _window_graph(plan, target)
    return _array_graph(plan, target)


def _chunk_target(plan, root, flat_mean):
    """Where and how each task saves its chunk and the chunk's summaries, in ``root``."""
    return ChunkTarget(
        str(root),
        plan.row_edges,
        plan.col_edges,
        plan.info.dtype,
        plan.info.has_alpha,
        plan.cell,
        plan.thumb,
        tiles=plan.config.spectra in ("chunks", "all"),
        sample=plan.config.sample is not None,
        atlas=plan.config.spectra in ("atlas", "all"),
        plots=plan.config.plots,
        spec=plan.spec,
        result=level_store(plan, root, 0),
        sample_store=sample_store(plan, root),
        alpha_is_mask=plan.info.mask is not None,
        offset=output_offset(plan.spec, plan.info.dtype),
        flat_mean=None if flat_mean is None else tuple(np.ravel(flat_mean)),
        z_edges=plan.z_edges,
        view=plan.view,
        stack=bool(plan.info.stack),
        frames_shown=plan.frames_shown,
    )


def _stack_graph(plan, target):
    """A stack's graph of plain calls, one per chunk of every time point, each reading its
    own haloed window (z, y, x for a volume)."""
    source = WindowSource(plan.info, plan.spec.nodata, view=plan.view)
    return _calls(plan, source, read_filter_save_stack, target, halos=plan.halo.depths)


def _window_graph(plan, target):
    """The graph of plain calls, one per chunk, each reading its own haloed window."""
    source = WindowSource(plan.info, plan.spec.nodata, plan.config.sample)
    # A measured deviation recomputes chunks as map_overlap gives them: so must the tasks.
    grow = plan.measure is None
    return _calls(plan, source, read_filter_save, target, halo=plan.halo.depth, grow=grow)


def _calls(plan, source, task, target, **options):
    """The :class:`Graph` of ``task`` (a chunk's, with ``options``) called once per chunk,
    each reading its own window from ``source`` and saving to ``target``."""
    chunk_task = partial(
        task, source=source, target=target, spec=plan.spec, work_dtype=plan.work_dtype, **options
    )
    return Graph(plan, chunk_task=chunk_task, source=source)


def _array_graph(plan, target):
    """The graph of a dask array of the input, filtered and saved chunk by chunk."""
    import dask.array as da

    graph = Graph(plan)
    image = graph.image
    tiny = dict(
        chunks=((1,) * plan.grid[0], (1,) * plan.grid[1]),
        drop_axis=[2] if image.ndim == 3 else [],
        dtype=np.int8,
        meta=np.empty((0, 0), dtype=np.int8),
    )
    if plan.spec.method == "exact":
        exact = filter_spec(graph.color, plan.spec)
        graph._status = da.map_blocks(save_filtered, exact, image, target=target, **tiny)
    else:
        graph._status = overlap_map(
            filter_and_save,
            image,
            plan.halo.depth,
            plan.spec.boundary,
            trim=False,
            target=target,
            spec=plan.spec,
            halo=plan.halo.depth,
            work_dtype=plan.work_dtype,
            **tiny,
        )
    return graph


def flat_mean(cluster, plan):
    """The level a block-wise flat-field brings the image to: its mean per channel over the
    data pixels (not nodata, kept by a mask), float64, in one reading pass; None without a
    flat-field (the exact method takes it inside its own graph)."""
    if plan.spec.flatfield is None or plan.spec.method == "exact":
        return None
    if plan.info.stack:
        return _stack_mean(cluster, plan)
    image = _input(plan)
    color = image[..., :-1] if plan.info.has_alpha else image
    valid = data_mask(
        color, plan.spec.nodata, image[..., -1] > 0 if plan.info.mask is not None else None
    )
    (mean,) = compute(cluster, [data_mean(color, valid)])
    return np.atleast_1d(mean)


def _stack_mean(cluster, plan):
    """A stack's flat-field levels: each time point's mean per channel over its data voxels,
    as ``daskfft.flatfield`` takes it, (frames, channels) float64, in one reading pass of
    the chunks (:func:`window_sums`)."""
    import dask
    import dask.array as da

    channels = plan.info.shape[2] if len(plan.info.shape) == 3 else 1
    source = WindowSource(plan.info, plan.spec.nodata, view=plan.view)
    sums = dask.delayed(window_sums, pure=True)
    z = plan.z_edges
    parts = [
        da.from_delayed(
            sums(
                plan.row_edges[i : i + 2],
                plan.col_edges[j : j + 2],
                frame,
                z[k : k + 2] if plan.zs else None,
                source=source,
                channels=channels,
            ),
            shape=(2, channels),
            dtype=np.float64,
        )
        for frame, k, i, j in plan.indices()
    ]
    frames = plan.info.frames
    by_frame = da.stack(parts).reshape((frames, -1, 2, channels)).sum(axis=1)
    (total,) = compute(cluster, [by_frame])
    return total[:, 0] / np.maximum(total[:, 1], 1)


def reads_windows(plan):
    """Whether each task reads its own haloed window from the input, with no overlap exchange
    (:attr:`daskfft.run.plan.Plan.reads_windows`)."""
    return plan.reads_windows


def compute(cluster, arrays, *, progress=False, report_path=None):
    """Compute ``arrays`` on ``cluster``, with a progress bar and a performance report if asked."""
    if cluster.client is None:
        return _compute_threaded(cluster, arrays, progress)
    with _performance_report(report_path):
        futures = cluster.client.compute(list(arrays))
        try:
            bar = _progress_bar(futures) if progress else None
            _wait(futures)
            if bar is not None:  # let it print its 100 % before what follows
                bar.join(timeout=2)
            return cluster.client.gather(futures)
        except BaseException as exc:
            cluster.client.cancel(futures)
            if _cancelled(exc):
                from daskfft.errors import RunError

                said = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise RunError(msg.CLUSTER_CANCELLED.format(said=said)) from exc
            raise


@contextlib.contextmanager
def _performance_report(path):
    """distributed's performance report of the block into ``path`` (None: none), unless
    Ctrl-C or SIGTERM stops the block.

    The scheduler renders it, ~1 s for a 4000^2 run here and more on a busy node: time a
    job's time limit does not give (Slurm's SIGKILL comes KillWait seconds after its
    SIGTERM, and the batch script is to say how the run ended before it); the run's
    continuation writes its own.  A failure still gets its report.
    """
    if not path:
        yield
        return
    from distributed import performance_report

    # Its "calling code" is the frame stacklevel + 1 up from its __exit__: compute's.
    report = performance_report(filename=path, stacklevel=3)
    report.__enter__()
    try:
        yield
    except KeyboardInterrupt:  # Ctrl-C and SIGTERM (TermSignal): stop now
        raise
    except BaseException as exc:
        report.__exit__(type(exc), exc, exc.__traceback__)
        raise
    report.__exit__(None, None, None)


def _cancelled(exc):
    """True where ``exc`` says the cluster cancelled the tasks (distributed's
    FutureCancelledError, or the CancelledError of older versions and of asyncio), not a
    signal or Ctrl-C."""
    import asyncio
    from concurrent.futures import CancelledError

    return isinstance(exc, (CancelledError, asyncio.CancelledError))


def _compute_threaded(cluster, arrays, progress):
    """Compute ``arrays`` with dask's threaded scheduler on a pool of this call's own.

    When a task fails (or Ctrl-C, SIGTERM), dask raises at once while the
    tasks already running go on writing into the work folder: the pool is
    shut down first, its queued tasks cancelled and its running ones waited
    for, so that when this returns or raises no task of it can still write
    (and the run's lock may be let go).
    """
    # The scheduler as a function: named by a string, dask imports distributed (0.13 s) to
    # look for a client first.
    from dask.diagnostics import ProgressBar
    from dask.threaded import get

    try:  # the pool dask makes itself: its tasks see the caller's context variables
        from dask.threaded import ContextAwareThreadPoolExecutor as Pool
    except ImportError:
        from concurrent.futures import ThreadPoolExecutor as Pool

    pool = Pool(cluster.threads or cpu_count())
    try:
        with ProgressBar() if progress else contextlib.nullcontext():
            return dask.compute(*arrays, scheduler=get, pool=pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _progress_bar(futures):
    """distributed's text progress bar of ``futures``, in a thread of its own: it blocks
    until they finish, and :func:`_wait` must keep looking at :data:`STOP` meanwhile."""
    from distributed import progress

    bar = threading.Thread(target=progress, args=(futures,), name="daskfft-progress", daemon=True)
    bar.start()
    return bar


def _wait(futures):
    """Wait for ``futures`` to finish (or fail); raise TermSignal once :data:`STOP` is set.

    Each look asks only the futures still pending whether they are done.  It
    called ``distributed.wait(futures, timeout=STOP_POLL)`` instead, which left
    a waiting coroutine behind for every future at every timeout: the default
    command's largest process grew with the tasks times the time, 2.3 GB at the
    end of a 1024 x 4096^2 volume's 1024 tasks (0.45-0.5 GB with dask's threads)."""
    from daskfft.errors import TermSignal

    pending = list(futures)
    while pending:
        if STOP.wait(STOP_POLL):
            raise TermSignal()
        pending = [f for f in pending if not f.done()]


def compute_missing(cluster, graph, plan, done, *, report_path=None):
    """Compute the chunks not in ``done``; return how many were computed."""
    todo = [index for index in plan.indices() if index not in done]
    if done:
        log.warning(msg.RESUMING.format(done=len(done), total=plan.total))
    if not todo:
        return 0
    compute(cluster, graph.targets(todo), progress=plan.config.progress, report_path=report_path)
    return len(todo)


def rechunk_method(cluster, method="tasks"):
    """The rechunk method for the exact method's two rechunks (DASKFFT_RECHUNK overrides).

    "tasks", not "p2p": measured here on a 25 Mpx float64 image with 2 workers,
    p2p took 11.4 s and tasks 10.8 s, and with workers limited to less memory
    than the image p2p failed (workers restarted, P2PConsistencyError) where
    tasks spilled and finished.  DASKFFT_RECHUNK=p2p opts in.
    """
    method = os.environ.get("DASKFFT_RECHUNK", method)
    if cluster.client is None:
        return contextlib.nullcontext()
    return dask.config.set({"array.rechunk.method": method})
