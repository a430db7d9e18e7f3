"""What a run's plan says of the options given and of OUTDIR, before any work.

:func:`unused_options` and :func:`remote_notes` are notes for the log (an option that goes
unused, a choice made for the user, how a URL is reached); :func:`check_outdir` refuses an
OUTDIR that cannot be written, writing nothing.  :func:`daskfft.run.plan.make_plan` asks them.
"""

from __future__ import annotations

import os
from pathlib import Path

from daskfft import io
from daskfft.cluster.kinds import CLUSTER_KINDS
from daskfft.errors import InputError
from daskfft.messages import run as msg

__all__ = ["unused_options", "remote_notes", "check_outdir"]


def unused_options(config, cl, spec, fmt):
    """The notes of options given that this run does not use (``cl``: its cluster, ``auto``
    settled), and of the cluster's choices the user did not make."""
    notes = []
    if config.order_given and spec.filter != "butterworth":
        notes.append(msg.ORDER_UNUSED.format(order=spec.order))
    if spec.method == "exact" and spec.depth != "auto":
        notes.append(msg.DEPTH_UNUSED.format(depth=spec.depth))
    if config.compression not in (None, "none") and "COMPRESS" not in io.backend(fmt).creation_keys:
        notes.append(msg.COMPRESSION_UNUSED.format(compression=config.compression, fmt=fmt))
    if cl.kind == "mpi" and cl.workers:
        notes.append(msg.WORKERS_UNUSED_MPI.format(workers=cl.workers))
    if cl.kind == "threads":
        n = cl.thread_count()
        how = (
            msg.EVERY_CORE
            if cl.workers is None and cl.threads_per_worker is None
            else msg.WORKERS_BY_THREADS.format(
                workers=cl.workers or 1, threads=cl.threads_per_worker or 1
            )
        )
        notes.append(msg.THREADED.format(n=n, how=how))
        if cl.memory_limit not in ("auto", None):
            notes.append(msg.MEMORY_LIMIT_THREADS)
    if cl.kind == "local" and cl.memory_limit not in ("auto", None):
        notes.append(msg.MEMORY_LIMIT_LOCAL)
    if cl.kind == "local" and not cl.tls:
        notes.append(msg.NO_TLS_LOCAL)
    if cl.kind not in CLUSTER_KINDS and (cl.workers or cl.threads_per_worker):
        notes.append(msg.WORKERS_RUNNING_SCHEDULER)
    if cl.dashboard_address and cl.kind != "mpi":
        notes.append(msg.DASHBOARD_ADDRESS)
    if cl.slurm and cl.kind != "slurm":
        given = ", ".join(f"--{k.replace('_', '-')}" for k, _ in cl.slurm)
        notes.append(msg.SLURM_OPTIONS_UNUSED.format(options=given, kind=cl.kind))
    return notes


def remote_notes(config, info, fmt):
    """What the log says of a URL input or OUTDIR: how it is reached, where the work is."""
    notes = []
    if io.is_remote(info.path):
        endpoint = info.path.storage.get("endpoint_url")
        how = msg.BY_CHUNKS if io.backend(info.format).folder else msg.BY_RANGES
        notes.append(
            msg.REMOTE_INPUT.format(
                url=info.path,
                protocol=info.path.protocol,
                endpoint=msg.AT_ENDPOINT.format(endpoint=endpoint) if endpoint else "",
                how=how,
                tries=io.url.ATTEMPTS,
            )
        )
    if io.url.is_url(config.outdir):
        from daskfft.run.workdir.store import local_folder

        remote = io.url.location(config.outdir, dict(config.storage_options), name="OUTDIR")
        stage = msg.STAGED_IN_STORE if io.backend(fmt).folder else msg.UPLOADED
        notes.append(
            msg.REMOTE_OUTDIR.format(outdir=config.outdir, stage=stage, local=local_folder(remote))
        )
    return notes


def _check_remote_outdir(outdir, storage):
    """Refuse a URL OUTDIR that cannot be written: of a read-only protocol (HTTP), or whose
    bucket (container) is not there."""
    remote = io.url.location(outdir, storage, name="OUTDIR")
    if remote.protocol in ("http", "https"):
        raise InputError(msg.OUTDIR_READ_ONLY.format(outdir=outdir, protocol=remote.protocol))
    bucket = remote.text.split("://", 1)[1].split("/", 1)[0]
    if not io.url.exists(io.url.Remote(f"{remote.protocol}://{bucket}", remote.storage)):
        raise InputError(msg.OUTDIR_NO_BUCKET.format(outdir=outdir, bucket=bucket))


def check_outdir(outdir, storage=None):
    """Refuse an unusable OUTDIR before any work, without writing anything.

    Its outputs are checked later, under the run's lock
    (:meth:`daskfft.run.workdir.WorkDir.start_or_resume`): checked here, another
    run could publish between the check and this run's publishing.
    """
    if io.url.is_url(outdir):
        return _check_remote_outdir(outdir, storage)
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InputError(msg.OUTDIR_NOT_A_DIRECTORY.format(outdir=outdir))
    anchor = out
    while not anchor.exists():
        anchor = anchor.parent
    if not anchor.is_dir():
        raise InputError(msg.OUTDIR_UNDER_A_FILE.format(outdir=outdir, anchor=anchor))
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise InputError(msg.OUTDIR_NOT_WRITABLE.format(outdir=outdir, anchor=anchor))
