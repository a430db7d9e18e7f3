"""What a run asks of its cluster (:class:`ClusterSpec`), validated when made, and how
``auto`` is settled; :mod:`daskfft.cluster.kinds` opens it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from daskfft.messages import cluster as msg
from daskfft.validate import check_connect_timeout, check_positive_int

__all__ = [
    "AUTO_DASHBOARD_MEGAPIXELS_PER_CORE",
    "CLUSTER_KINDS",
    "CONNECT_TIMEOUT",
    "ClusterSpec",
    "check_cluster",
    "cpu_count",
]

#: Named kinds of cluster; any other value of ``cluster`` is a scheduler's address.
CLUSTER_KINDS = ("auto", "local", "processes", "threads", "mpi", "slurm")

#: From this many megapixels a core up, ``auto`` is the in-process "local" cluster with
#: its dashboard; below, dask's threaded scheduler, which starts at once and has no
#: event loop of its own taking turns with the tasks.  Measured here (2 cores, default
#: command and outputs, sigma 8): a 32768^2 (1074 Mpx) gray TIFF took 6.8-8.3 s with
#: dask's threads and 8.2-9.6 s on the in-process cluster (its start 0.55 s, its event
#: loop and profiler about 1 s of the tasks' time), a run over about as soon as the
#: dashboard's page would be opened.  At ~75 Mpx a second a core (gray, sigma 8), 1024
#: Mpx a core is a run of 14 s or more (three times that for RGB): long enough to watch.
AUTO_DASHBOARD_MEGAPIXELS_PER_CORE = 1024


#: Seconds to wait for a running scheduler at an address before giving up.
CONNECT_TIMEOUT = 8.0


def cpu_count():
    """The cores this process may use: dask's count, which heeds its CPU affinity and cgroup
    quota (a Slurm job's ``-c 4`` on a 128-core node is 4), where ``os.cpu_count`` gives
    the machine's."""
    from dask.system import CPU_COUNT

    return max(1, int(CPU_COUNT))


def check_cluster(cluster):
    """Validate ``cluster``: one of :data:`CLUSTER_KINDS` or a scheduler address."""
    if not isinstance(cluster, str) or not (cluster in CLUSTER_KINDS or ":" in cluster):
        raise ValueError(msg.BAD_CLUSTER.format(kinds=", ".join(CLUSTER_KINDS), value=cluster))
    return cluster


@dataclass(frozen=True)
class ClusterSpec:
    """Where a run computes, validated when made; opened by
    :func:`~daskfft.cluster.kinds.open_cluster`."""

    kind: str = "auto"
    workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: str | int | float = "auto"
    dashboard: bool = True
    dashboard_address: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT
    tls: bool = True
    # slurm: dask-jobqueue's job options, ((name, value), ...) of SLURM_OPTIONS
    slurm: tuple = ()

    def __post_init__(self):
        check_cluster(self.kind)
        object.__setattr__(self, "slurm", _slurm_options(self.slurm))
        for name in ("workers", "threads_per_worker"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        check_connect_timeout(self.connect_timeout)

    def resolve(self, megapixels, *, performance_report=False):
        """The spec with ``auto`` settled for an image of ``megapixels``, and why (or None).

        ``auto`` is "local" (with the dashboard) from
        :data:`AUTO_DASHBOARD_MEGAPIXELS_PER_CORE` times the cores it would compute on
        (:meth:`thread_count`) up or for a performance report, and "threads" below that
        or with ``dashboard=False``.
        """
        if self.kind != "auto":
            return self, None
        cores = self.thread_count()
        threshold = AUTO_DASHBOARD_MEGAPIXELS_PER_CORE * cores
        if performance_report:
            kind, why = "local", msg.AUTO_FOR_REPORT
        elif not self.dashboard:
            kind, why = "threads", msg.AUTO_NO_DASHBOARD
        else:
            kind = "local" if megapixels >= threshold else "threads"
            why = (msg.AUTO_LARGE if kind == "local" else msg.AUTO_SMALL).format(
                megapixels=f"{megapixels:.3g}" if megapixels < 100 else f"{megapixels:.0f}",
                threshold=f"{threshold:g}",
                per_core=f"{AUTO_DASHBOARD_MEGAPIXELS_PER_CORE:g}",
                threads=cores,
            )
        return dataclasses.replace(self, kind=kind), msg.AUTO_CHOSEN.format(kind=kind, why=why)

    def thread_count(self):
        """Threads of the threaded scheduler: workers x threads per worker, or every core this
        process may use (:func:`cpu_count`)."""
        if self.workers is None and self.threads_per_worker is None:
            return cpu_count()
        return (self.workers or 1) * (self.threads_per_worker or 1)


def _slurm_options(options):
    """``options`` (a dict or pairs) as sorted ``(name, value)`` pairs of dask-jobqueue's
    job options, None values left out; an unknown name is a ValueError."""
    from daskfft.cluster.slurm import SLURM_OPTIONS

    pairs = dict(options or ())
    unknown = sorted(set(pairs) - set(SLURM_OPTIONS))
    if unknown:
        raise ValueError(
            msg.BAD_SLURM_OPTION.format(names=", ".join(unknown), known=", ".join(SLURM_OPTIONS))
        )
    return tuple(sorted((k, str(v)) for k, v in pairs.items() if v is not None))
