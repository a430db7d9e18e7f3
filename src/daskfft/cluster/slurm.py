"""``--cluster slurm``: workers as Slurm jobs, submitted from here (a login node, a notebook)
by dask-jobqueue's ``SLURMCluster``, with the scheduler in this process.

``SLURMCluster`` rather than ``SLURMRunner``: the runner starts the scheduler, the client and
the workers inside one job's allocation (what ``--cluster mpi`` already does under
``sbatch``); the cluster submits the workers as jobs of their own from the process that
holds the scheduler and the client, which is what working from a login node or a
notebook needs, and cancels them when the run ends.

Security as with the other kinds: the scheduler and workers talk TLS with credentials made
for this run (the workers get theirs in files only their owner can read, in a folder the
compute nodes see, removed at the end); the scheduler's dashboard and health pages and the
workers' listen on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time

from daskfft.errors import MissingPackage, RunError
from daskfft.messages import cluster as msg

__all__ = ["SLURM_OPTIONS", "slurm_cluster", "DEFAULT_MEMORY_PER_CORE"]

log = logging.getLogger("daskfft")

#: dask-jobqueue's names of the job options the command line passes on.
SLURM_OPTIONS = ("account", "queue", "walltime", "memory", "interface", "scheduler_interface")

#: A job's memory when none is given: this much per core (dask-jobqueue needs one).
DEFAULT_MEMORY_PER_CORE = "4GiB"

#: Seconds to wait for the first worker's job to start and connect before saying so.
_FIRST_WORKER_NOTICE = 30


@contextlib.contextmanager
def slurm_cluster(spec, make_cluster):
    """The jobs' cluster of ``spec`` (``workers`` jobs of one worker with
    ``threads_per_worker`` threads each, ``spec.slurm``'s job options), as
    ``make_cluster(client=..., workers=..., threads=..., extra=...)`` makes it; every job
    cancelled on exit."""
    from distributed import Client
    from distributed.security import Security

    jobs = _Jobs.of(spec)
    # Credentials and the jobs' logs in a folder of this run, in the working directory,
    # which a cluster's compute nodes see (dask-jobqueue's assumption too).
    shared = tempfile.mkdtemp(prefix=".daskfft-slurm-", dir=os.getcwd())
    os.chmod(shared, 0o700)
    security = Security.temporary() if spec.tls else None
    keep = False  # the jobs' logs, where the jobs ended before a worker came
    try:
        cluster = _submitter(jobs, shared, security)
        with (
            contextlib.closing(_Credentials(cluster)),
            cluster,
            Client(cluster, security=security) as client,
        ):
            cluster.scale(jobs=jobs.count)
            log.info(
                msg.SLURM_SUBMITTED.format(jobs=jobs.count, cores=jobs.cores, memory=jobs.memory)
            )
            try:
                _wait_for_workers(client, cluster, jobs.count)
            except _JobsEnded:
                keep = True
                raise RunError(msg.SLURM_JOBS_ENDED.format(jobs=jobs.count, logs=shared)) from None
            workers = client.nthreads()
            yield make_cluster(
                client=client,
                workers=len(workers),
                threads=sum(workers.values()),
                extra=jobs.described(client, spec.tls),
            )
    finally:
        if not keep:
            shutil.rmtree(shared, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class _Jobs:
    """The worker jobs a spec asks for: how many, their cores and memory, dask-jobqueue's
    other job options, and the scheduler's options."""

    count: int
    cores: int
    memory: str
    options: dict
    scheduler: dict

    @classmethod
    def of(cls, spec):
        options = dict(spec.slurm)
        cores = spec.threads_per_worker or 1
        memory = options.pop("memory", None) or _times(DEFAULT_MEMORY_PER_CORE, cores)
        # The scheduler listens where the workers reach it: the interface named, else the
        # workers' (dask-jobqueue's ``interface``), else the address distributed finds.
        scheduler = {"dashboard_address": "127.0.0.1:0"}
        if options.get("scheduler_interface"):
            scheduler["interface"] = options.pop("scheduler_interface")
        return cls(spec.workers or 1, cores, memory, options, scheduler)

    def described(self, client, tls):
        """The cluster's part of report.json."""
        return {
            "jobs": self.count,
            "job_options": {"cores": self.cores, "memory": self.memory, **self.options},
            "scheduler_interface": self.scheduler.get("interface"),
            "worker_hosts": sorted(set(client.run(socket.gethostname).values())),
            "tls": tls,
            "transport": "tls" if tls else "tcp",
        }


def _submitter(jobs, shared, security):
    """dask-jobqueue's ``SLURMCluster`` for ``jobs``, its credentials and logs in ``shared``;
    a failure to make it (no sbatch, a bad option) is one RunError line."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise MissingPackage(msg.JOBQUEUE_MISSING.format(reason=exc)) from None
    try:
        return SLURMCluster(
            cores=jobs.cores,
            processes=1,
            memory=jobs.memory,
            job_name="daskfft-worker",
            security=security,
            protocol="tls://" if security is not None else "tcp://",
            shared_temp_directory=shared,
            log_directory=shared,
            scheduler_options=jobs.scheduler,
            worker_extra_args=["--dashboard-address", "127.0.0.1:0"],
            **jobs.options,
        )
    except Exception as exc:  # dask-jobqueue's words
        raise RunError(msg.SLURM_CANNOT_START.format(reason=_first_line(exc))) from exc


class _JobsEnded(Exception):
    """Every worker job ended before its worker connected."""


def _wait_for_workers(client, cluster, jobs, look=5.0):
    """Wait until every job's worker runs and connects, or, when that takes a while (the
    jobs may wait in the queue), say so and go on from the first one; every ``look``
    seconds, ask Slurm whether any job is still queued or running (:class:`_JobsEnded`
    where none is: a job that failed on its node would be waited for for ever)."""
    started, wanted = time.monotonic(), jobs
    while True:
        try:
            client.wait_for_workers(wanted, timeout=look)
            return
        except TimeoutError:
            pass
        if client.nthreads() and wanted == 1:
            return
        if not _jobs_alive(cluster):
            raise _JobsEnded()
        if wanted > 1 and time.monotonic() - started >= _FIRST_WORKER_NOTICE:
            log.warning(msg.SLURM_WAITING.format(jobs=jobs, seconds=_FIRST_WORKER_NOTICE))
            wanted = 1


def _jobs_alive(cluster):
    """Whether Slurm still has any of ``cluster``'s jobs queued or running (True where it
    cannot tell: no job id yet, no squeue)."""
    ids = [getattr(job, "job_id", None) for job in getattr(cluster, "workers", {}).values()]
    ids = [str(i) for i in ids if i]
    if not ids:
        return True
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-j", ",".join(ids), "-o", "%i"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return True
    return bool(proc.stdout.split())


def _times(size, n):
    """``size`` (e.g. "4GiB") times ``n``, as dask writes a size."""
    from dask.utils import format_bytes, parse_bytes

    return format_bytes(parse_bytes(size) * n).replace(" ", "")


def _first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _Credentials:
    """The files dask-jobqueue wrote the workers' credentials into: closed (and so removed)
    with the cluster, before their folder is."""

    def __init__(self, cluster):
        self.cluster = cluster

    def close(self):
        for key in ("ca_file", "cert", "key"):
            handle = getattr(self.cluster, f"_job_{key}", None)
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
