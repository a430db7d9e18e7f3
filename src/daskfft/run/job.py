"""Where a command's work runs: in this process, or on rank 0 of an MPI job.

:func:`on_cluster` runs a piece of work here, or under ``--cluster mpi`` starts a
dask-mpi cluster across the job's ranks (:func:`daskfft.cluster.mpi.launch`) and
runs it on rank 0.  In a process of its own (the ``daskfft`` command) it also makes
SIGTERM, a batch job's time limit, stop the work as Ctrl-C does
(:func:`on_sigterm`).  :func:`run_job` and :func:`align_job` are the two commands'
work so placed; :func:`launched_at` is when this process started, so that a run
report can count the imports' time.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from daskfft.errors import TermSignal

__all__ = ["launched_at", "on_sigterm", "on_cluster", "run_job", "batch_job", "align_job"]


def launched_at():
    """When this process started (seconds since the epoch), to count the imports' time.

    On Linux from the process's start in clock ticks since boot, to 10 ms:
    psutil's ``create_time`` adds the boot time, which Linux gives in whole
    seconds, and was measured up to 0.4 s early.
    """
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil  # distributed's dependency

        return psutil.Process().create_time()
    except Exception:  # an unusual platform: the report then leaves the imports out
        return None


def on_sigterm(signum, frame):
    """The SIGTERM handler of a process of its own: raise :class:`TermSignal`, a
    ``KeyboardInterrupt``, so that the work stops as on Ctrl-C."""
    raise TermSignal()


def on_cluster(work, cluster, *, own_process=False, memory_limit=None):
    """``work(cluster_info)`` in this process, or under ``--cluster mpi`` on rank 0 of a
    dask-mpi cluster across the job's ranks (``cluster_info`` describes the job).

    Parameters
    ----------
    work : callable
        Takes the MPI job's description (None outside MPI) and returns the result.
    cluster : ClusterSpec
        Where the work runs; only ``kind == "mpi"`` is acted on here, with its
        TLS, dashboard and threads per worker (default 1).
    own_process : bool
        True in a process of its own (the command): SIGTERM then stops the
        work like Ctrl-C (finished chunks kept, exit status 143), where this is
        the main thread.
    memory_limit : str or int, optional
        Under mpi, each worker's memory limit as given (``--memory-limit``);
        None (default): the node's memory divided by its ranks.

    Returns
    -------
    (True, result), or (False, status) on an MPI worker rank: its exit status,
    rank 0 reporting what went wrong.
    """
    # A batch job's time limit (Slurm: SIGTERM, then SIGKILL after KillWait) stops the work
    # like Ctrl-C: finished chunks kept, one line saying so, exit status 143.
    handle_term = own_process and threading.current_thread() is threading.main_thread()
    if cluster.kind != "mpi":
        if handle_term:
            signal.signal(signal.SIGTERM, on_sigterm)
        return True, work(None)
    from daskfft.cluster.mpi import launch
    from daskfft.run.graph import STOP

    # Every rank gets the signal; rank 0's scheduler has the main thread, so the
    # signal stops its client through STOP, and the worker ranks wait to be retired.
    ok, result = launch(
        work,
        tls=cluster.tls,
        dashboard=cluster.dashboard,
        dashboard_address=cluster.dashboard_address,
        threads_per_worker=cluster.threads_per_worker or 1,
        memory_limit=memory_limit,
        stop=STOP if handle_term else None,
    )
    if ok is None:  # a worker rank: rank 0 reports, also what went wrong
        return False, 0 if result is None else 1
    if not ok:
        raise result
    return True, result


def run_job(config, *, own_process=False, memory_limit=None):
    """Run ``config``, a :class:`~daskfft.run.config.RunConfig`, where it asks
    (:func:`on_cluster`); returns ``(True, report)`` or ``(False, status)``."""
    from daskfft.run.pipeline import run_config

    launched = launched_at() if own_process else None
    return on_cluster(
        lambda info: run_config(config, cluster_info=info, launched_at=launched),
        config.cluster,
        own_process=own_process,
        memory_limit=memory_limit,
    )


def batch_job(configs, outdir, *, expected, own_process=False, memory_limit=None, progress=False):
    """Run a batch of ``configs`` into ``outdir`` (:func:`daskfft.run.batch.run_batch`, which
    takes ``expected`` and ``progress``) on one cluster, where the first asks
    (:func:`on_cluster`); returns ``(True, summary)`` or ``(False, status)``."""
    from daskfft.run.batch import run_batch

    return on_cluster(
        lambda info: run_batch(
            configs, outdir, expected=expected, cluster_info=info, progress=progress
        ),
        configs[0].cluster,
        own_process=own_process,
        memory_limit=memory_limit,
    )


def align_job(
    reference, moving, outdir, *, cluster, own_process=False, memory_limit=None, **options
):
    """Register ``moving`` with ``reference`` into ``outdir``
    (:func:`daskfft.run.align.align_files`, which takes ``options``) where ``cluster``,
    a :class:`~daskfft.cluster.kinds.ClusterSpec`, asks (:func:`on_cluster`); returns
    ``(True, transform)`` or ``(False, status)``."""
    from daskfft.run.align import align_files

    return on_cluster(
        lambda info: align_files(
            reference, moving, outdir, cluster=cluster, cluster_info=info, **options
        ),
        cluster,
        own_process=own_process,
        memory_limit=memory_limit,
    )
