"""Where the graph runs: the threaded scheduler, a LocalCluster, or a running scheduler."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field

import dask

__all__ = ["Cluster", "open_cluster"]

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

    def describe(self):
        """The cluster's part of ``report.json``."""
        return {"kind": self.kind, "workers": self.workers, "threads": self.threads,
                "dashboard": self.dashboard, **self.extra}


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
def open_cluster(cluster="local", *, workers=None, threads_per_worker=None, dashboard=True,
                 memory_limit="auto", info=None):
    """Start (or connect to) the cluster named by ``cluster`` and close it on exit.

    Parameters
    ----------
    cluster : str
        ``"local"`` for a LocalCluster of worker processes on this machine,
        ``"threads"`` for dask's threaded scheduler in this process (no
        dashboard, least start-up time), or the address of a running
        scheduler (``tcp://host:8786``), or ``"mpi"`` for the dask-mpi
        scheduler that :func:`daskfft.mpi.launch` started in this process.
    workers, threads_per_worker : int or None
        LocalCluster size; None lets dask choose from the machine's cores.
        For ``"threads"``, their product is the thread count.
    dashboard : bool
        Serve the dashboard of a LocalCluster on 127.0.0.1 (port 8787, or a
        free one).
    memory_limit : str, int or float
        Per-worker memory limit of a LocalCluster, as dask takes it.
    info : dict, optional
        For ``"mpi"``: the job's description from :func:`daskfft.mpi.launch`,
        kept in the report; its ``workers_expected`` are waited for.

    Yields
    ------
    Cluster
    """
    if cluster == "threads":
        n = (workers or 1) * (threads_per_worker or 0) or os.cpu_count() or 1
        with dask.config.set(scheduler="threads", num_workers=n):
            yield Cluster("threads", workers=1, threads=n)
        return

    from distributed import Client, LocalCluster

    if cluster == "local":
        with _worker_log_level(), LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:8787" if dashboard else None,
            memory_limit=memory_limit,
        ) as lc, Client(lc) as client:
            n, t = _count(client)
            link = client.dashboard_link if dashboard else None
            yield Cluster("local", client=client, dashboard=link, workers=n, threads=t)
        return

    if cluster == "mpi":
        address = dask.config.get("scheduler_address", None)
        if not address:
            raise ValueError("--cluster mpi runs only under an MPI launcher: "
                             "mpiexec -n N daskfft run ... --cluster mpi")
        info = dict(info or {})
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(info.get("workers_expected", 1), timeout=120)
            n, t = _count(client)
            yield Cluster("mpi", client=client, dashboard=client.dashboard_link if dashboard
                          else None, workers=n, threads=t, extra=info)
        return

    with Client(cluster, timeout="30s") as client:
        n, t = _count(client)
        yield Cluster("address", client=client, dashboard=client.dashboard_link, workers=n,
                      threads=t, extra={"address": cluster})
