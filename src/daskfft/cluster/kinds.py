"""Where the graph runs: the threaded scheduler, a LocalCluster, MPI, or a running scheduler
(what to open, and why, is a :class:`~daskfft.cluster.spec.ClusterSpec`)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass, field

import dask

from daskfft.cluster.spec import (
    AUTO_DASHBOARD_MEGAPIXELS_PER_CORE,
    CLUSTER_KINDS,
    CONNECT_TIMEOUT,
    ClusterSpec,
    check_cluster,
    cpu_count,
)
from daskfft.errors import InputError, RunError
from daskfft.messages import cluster as msg

__all__ = [
    "AUTO_DASHBOARD_MEGAPIXELS_PER_CORE",
    "CLUSTER_KINDS",
    "CONNECT_TIMEOUT",
    "check_cluster",
    "cpu_count",
    "ClusterSpec",
    "Cluster",
    "open_cluster",
]


log = logging.getLogger("daskfft")


@dataclass
class Cluster:
    """A place to compute: ``client`` is None for the threaded scheduler."""

    kind: str
    client: object = None
    dashboard: str | None = None
    workers: int = 0
    threads: int = 0
    extra: dict = field(default_factory=dict)

    def check_memory(self, task_bytes, what):
        """Refuse, in one line, a run whose tasks cannot fit in the workers' memory limit.

        A worker holds its own Python (measured on the workers) plus
        ``task_bytes`` per thread; above dask's pause fraction of its limit a
        worker stops taking tasks, and a job whose every worker is paused
        waits forever.  In-process clusters have no per-worker limit.
        ``what`` says what the tasks hold, for the message.
        """
        if self.client is None or self.kind in ("local", "threads"):
            return
        import psutil

        workers = self.client.scheduler_info().get("workers", {})
        limits = [w.get("memory_limit") or 0 for w in workers.values()]
        if not limits or not min(limits):
            return
        limit = min(limits)
        threads = max(w.get("nthreads", 1) for w in workers.values())
        own = max(self.client.run(lambda: psutil.Process().memory_info().rss).values())
        pause = dask.config.get("distributed.worker.memory.pause", 0.8) or 1.0
        need = own + threads * task_bytes
        if need > pause * limit:
            mib = 2**20
            raise InputError(
                msg.MEMORY_LIMIT_TOO_LOW.format(
                    limit=limit / mib,
                    own=own / mib,
                    threads=threads,
                    task=task_bytes / mib,
                    what=what,
                    pause=pause,
                )
            )

    def describe(self):
        """The cluster's part of ``report.json``."""
        return {
            "kind": self.kind,
            "workers": self.workers,
            "threads": self.threads,
            "dashboard": self.dashboard,
            **self.extra,
        }


def _slurm_made(*, client, workers, threads, extra):
    return Cluster(
        "slurm",
        client=client,
        dashboard=_dashboard_url(client, "127.0.0.1"),
        workers=workers,
        threads=threads,
        extra=extra,
    )


def _count(client):
    nthreads = client.nthreads()
    return len(nthreads), sum(nthreads.values())


@contextlib.contextmanager
def _worker_log_level():
    """Give spawned workers this process's level for the ``distributed`` logger.

    Worker processes configure logging from the environment when they import
    distributed, before any config the nanny hands them, so the level travels
    as ``DASK_LOGGING__DISTRIBUTED``.  Task errors still reach the client as
    exceptions; this keeps workers from printing them a second time.
    """
    key = "DASK_LOGGING__DISTRIBUTED"
    level = logging.getLevelName(logging.getLogger("distributed").getEffectiveLevel()).lower()
    old = os.environ.get(key)
    os.environ[key] = level
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@contextlib.contextmanager
def _workers_ignore_sigint():
    """Start worker processes with SIGINT ignored: Ctrl-C is for the client to handle.

    A terminal sends Ctrl-C to the whole process group; workers that got it
    too would each print a traceback while the client shuts them down.
    Child processes inherit the ignored signal (Python keeps SIG_IGN).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def open_cluster(spec, *, info=None):
    """Start (or connect to) the cluster that ``spec`` names, and close it on exit.

    Parameters
    ----------
    spec : ClusterSpec
        ``kind`` "local": a scheduler and workers as threads of this process,
        with the dashboard on a free loopback port; "processes": a
        LocalCluster of worker processes on loopback, with TLS credentials
        made for this run (nobody without them can connect; ``tls=False`` for
        plain TCP); "threads": dask's threaded scheduler in this process (no
        dashboard, least start-up time); "auto" must be settled first
        (:meth:`ClusterSpec.resolve`); "mpi":
        the dask-mpi scheduler that :func:`daskfft.cluster.mpi.launch` started;
        anything else is the address of a running scheduler, given up on
        after ``connect_timeout`` seconds.
    info : dict, optional
        For "mpi": the job's description from :func:`daskfft.cluster.mpi.launch`,
        kept in the report; its ``workers_expected`` are waited for.

    Yields
    ------
    Cluster
    """
    if spec.kind == "auto":
        raise ValueError(msg.AUTO_NOT_SETTLED)
    if spec.kind == "threads":
        n = spec.thread_count()
        with dask.config.set(scheduler="threads", num_workers=n):
            yield Cluster("threads", workers=1, threads=n)
        return
    if spec.kind in ("local", "processes"):
        with _local_cluster(spec) as cluster:
            yield cluster
        return
    if spec.kind == "mpi":
        with _mpi_client(spec, info) as cluster:
            yield cluster
        return
    if spec.kind == "slurm":
        from daskfft.cluster.slurm import slurm_cluster

        with _log_levels_kept(), slurm_cluster(spec, _slurm_made) as cluster:
            yield cluster
        return
    with _scheduler_at_address(spec) as cluster:
        yield cluster


@contextlib.contextmanager
def _scheduler_at_address(spec):
    """Connect to the running scheduler at the address ``spec.kind``, and close the client."""
    from distributed import Client

    try:
        try:
            client = Client(spec.kind, timeout=f"{spec.connect_timeout}s")
        except BaseException:
            _drop_half_made_client()
            raise
    except (OSError, TimeoutError) as exc:
        raise RunError(
            msg.NO_SCHEDULER.format(
                address=spec.kind, timeout=spec.connect_timeout, reason=str(exc).splitlines()[0]
            )
        ) from None
    except TypeError as exc:
        # distributed's words for a tls:// address with no TLS settings to connect with.
        if "ssl_context" not in str(exc):
            raise
        raise InputError(msg.NO_TLS_SETTINGS.format(address=spec.kind)) from None
    with client:
        n, t = _count(client)
        yield Cluster(
            "address",
            client=client,
            dashboard=client.dashboard_link,
            workers=n,
            threads=t,
            extra={"address": spec.kind},
        )


def _drop_half_made_client():
    """Close the client a failed ``Client(address)`` left behind: distributed makes it
    dask's default before it connects, so every later ``.compute()`` in this process (a
    notebook's, the next run's) would wait for ever on a scheduler it never reached."""
    from distributed.client import _get_global_client

    left = _get_global_client()
    if left is not None and left.status != "running":
        with contextlib.suppress(Exception):
            left.close(timeout=1)


@contextlib.contextmanager
def _log_levels_kept(names=("distributed", "bokeh", "tornado", "asyncio")):
    """Keep the levels already set on these loggers: distributed resets them on import."""
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        if level:
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _local_cluster(spec):
    """A LocalCluster: in this process ("local") or with worker processes ("processes").

    "local" runs the scheduler and its workers as threads of this process,
    talking over ``inproc://``: nothing listens on the network but the
    loopback dashboard, and nothing starts in other processes.  Measured
    here (2 cores, 8192^2 float32 TIFF, default outputs) it took 0.4 s to
    start and 4.0-4.2 s to compute where worker processes took 1.6-1.8 s and
    4.7-5.2 s: the FFTs and codecs release the GIL, and no chunk crosses a
    process boundary.  "processes" gives each worker its memory limit and
    serves them over TLS with credentials made for this run.
    """
    with _log_levels_kept():
        from distributed import Client, LocalCluster

    processes = spec.kind == "processes"
    options = _local_options(spec, processes)
    who = None
    if processes and not spec.tls:
        who = msg.WHO_ON_THIS_MACHINE
        log.warning(msg.NO_TLS_LOCAL.format(who=who))
    lc = _started_local(LocalCluster, spec, options)
    with lc, Client(lc) as client:
        n, t = _count(client)
        yield Cluster(
            spec.kind,
            client=client,
            dashboard=_dashboard_url(client, "127.0.0.1") if spec.dashboard else None,
            workers=n,
            threads=t,
            extra={
                "tls": spec.tls if processes else None,
                "who_can_connect": who or (msg.WHO_TLS if processes else None),
                "transport": "tls" if processes and spec.tls else "tcp" if processes else "inproc",
            },
        )


def _local_options(spec, processes):
    """The LocalCluster's keyword arguments for ``spec``: worker processes or threads here."""
    # The scheduler's HTTP server runs with or without the dashboard: on a free loopback
    # port, not dask's fixed 8787 (every interface for in-process workers).
    options = dict(
        n_workers=spec.workers,
        threads_per_worker=spec.threads_per_worker,
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": bool(spec.dashboard)},
    )
    if processes:
        options.update(
            processes=True,
            host="127.0.0.1",
            security=spec.tls or None,
            protocol="tls://" if spec.tls else "tcp://",
            memory_limit=spec.memory_limit,
        )
    else:
        options.update(
            processes=False,
            n_workers=spec.workers or 1,
            memory_limit=0,
            threads_per_worker=spec.threads_per_worker or (None if spec.workers else cpu_count()),
            worker_class=_loopback_worker(),
        )
    return options


def _started_local(local_cluster, spec, options):
    """Start ``local_cluster(**options)``; a failure to start becomes one RunError line."""
    with _worker_log_level(), _workers_ignore_sigint():
        try:
            return local_cluster(**options)
        except RuntimeError as exc:  # distributed's "Cluster failed to start", whatever failed
            cause = exc.__cause__ or exc
            text = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise RunError(msg.CANNOT_START.format(kind=spec.kind, reason=text)) from exc


def _loopback_worker():
    """A distributed Worker whose HTTP server (health, metrics) listens on a free loopback
    port: an in-process worker's would otherwise listen on every interface."""
    from distributed import Worker

    class LoopbackWorker(Worker):
        def __init__(self, *args, **kwargs):
            kwargs.update(dashboard_address="127.0.0.1:0", dashboard=False)
            super().__init__(*args, **kwargs)

    return LoopbackWorker


@contextlib.contextmanager
def _mpi_client(spec, info):
    from distributed import Client

    address = dask.config.get("scheduler_address", None)
    if not address:
        raise InputError(msg.NOT_UNDER_MPI)
    info = dict(info or {})
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(info.get("workers_expected", 1), timeout=120)
        n, t = _count(client)
        import socket

        # Which nodes the workers run on, as they name themselves: a multi-node job's check.
        info["worker_hosts"] = sorted(set(client.run(socket.gethostname).values()))
        yield Cluster(
            "mpi",
            client=client,
            workers=n,
            threads=t,
            extra=info,
            dashboard=_dashboard_url(
                client, (spec.dashboard_address or "127.0.0.1:0").rsplit(":", 1)[0].strip("[]")
            )
            if spec.dashboard
            else None,
        )


def _dashboard_url(client, host):
    """The dashboard's URL on ``host``, where it listens (dask's link names the node instead)."""
    port = client.scheduler_info().get("services", {}).get("dashboard")
    if not port or host in ("", "0.0.0.0", "::"):
        return client.dashboard_link
    return f"http://{host}:{port}/status"
