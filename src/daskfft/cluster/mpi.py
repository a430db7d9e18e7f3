"""Run the pipeline inside an MPI job: dask-mpi starts the scheduler and workers.

Layout, for N ranks: rank 0 runs the scheduler and the client (the pipeline);
ranks 1..N-1 each run one worker.  No rank waits idle, and a job needs N >= 2.

The cluster is closed to outsiders: by default rank 0 makes a TLS key and
self-signed certificate in memory, hands it to the other ranks over MPI, and
every scheduler, worker and client connection requires it.

mpi4py and dask_mpi are imported only here, inside functions, so importing
daskfft never starts MPI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import tempfile
import threading

import dask

from daskfft.cluster import scratch as scratch_folders
from daskfft.errors import MissingPackage, RunError, TooFewRanksError
from daskfft.messages import cluster as msg

__all__ = [
    "MIN_RANKS",
    "mpich_netmod",
    "launcher_name",
    "scratch_root",
    "node_memory_limit",
    "launch",
]


log = logging.getLogger("daskfft")

MIN_RANKS = 2

#: Seconds a worker keeps trying to reach a scheduler that has gone before it exits.
DEATH_TIMEOUT = 30

#: Seconds a worker rank waits after SIGTERM for rank 0 to retire it, before it exits itself.
TERM_GRACE = 10


def _import_mpi(environ=os.environ):
    """Import mpi4py's MPI and start MPI, choosing PyPI MPICH's OFI netmod under srun.

    MPI starts here rather than on import so that :func:`mpich_netmod` can
    look at the library first.
    """
    try:
        import mpi4py

        mpi4py.rc.initialize = False
        mpi4py.rc.finalize = True  # at exit, as an import-time start would
        import dask_mpi  # noqa: F401
        from mpi4py import MPI
    except ImportError as exc:
        raise MissingPackage(msg.MPI_MISSING.format(reason=exc)) from None
    if not MPI.Is_initialized():
        netmod = mpich_netmod(MPI.Get_library_version(), environ)
        if netmod:
            environ["MPIR_CVAR_CH4_NETMOD"] = netmod
            log.debug(
                "srun: MPICH's %s netmod chosen (its UCX address exchange over Slurm's "
                "PMI2 fails across nodes); MPIR_CVAR_CH4_NETMOD overrides",
                netmod,
            )
        MPI.Init_thread(MPI.THREAD_MULTIPLE)
    return MPI


def mpich_netmod(library_version, environ=os.environ):
    """The MPICH netmod to start under srun, or None to leave MPI's own choice.

    PyPI's MPICH (device "ch4:ucx ofi") exchanges UCX worker addresses through
    Slurm's PMI2 in segmented values that Slurm 22.05 rejects or garbles
    across nodes, so MPI_Init fails in most two-node srun jobs; its OFI netmod
    exchanges short addresses and starts every time (tests/test_slurm_two_nodes.py).
    Dask's own traffic goes over its TCP/TLS comms, not MPI, so the netmod costs
    nothing in speed.  Only an MPICH that has both netmods, under srun, with
    MPIR_CVAR_CH4_NETMOD unset.
    """
    device = next(
        (
            line.split(":", 1)[1].split()
            for line in library_version.splitlines()
            if line.startswith("MPICH Device:")
        ),
        [],
    )
    if (
        launcher_name(environ) != "srun"
        or "MPIR_CVAR_CH4_NETMOD" in environ
        or not device
        or "ofi" not in device
        or "ucx" not in device[0]
    ):
        return None
    return "ofi"


def launcher_name(environ=os.environ):
    """Which launcher started this process: "srun", "mpiexec" or "unknown"."""
    # Hydra (MPICH's mpiexec) sets these for its ranks; srun's PMI2 does not.
    if any(k in environ for k in ("HYDI_CONTROL_FD", "MPI_LOCALNRANKS", "PMI_HOSTNAME")):
        return "mpiexec"
    if "SLURM_STEP_ID" in environ and "SLURM_PROCID" in environ:
        return "srun"
    if "OMPI_COMM_WORLD_SIZE" in environ:
        return "mpiexec"
    return "unknown"


def scratch_root(environ=os.environ):
    """Where workers spill: ``$DASKFFT_SCRATCH``, ``$SLURM_TMPDIR``, ``$TMPDIR``, or /tmp."""
    for key in ("DASKFFT_SCRATCH", "SLURM_TMPDIR", "TMPDIR"):
        if environ.get(key):
            return environ[key]
    return tempfile.gettempdir()


def node_memory_limit(ranks_on_node):
    """This node's memory (cgroup- and rlimit-aware, as dask measures it) split between its ranks.

    ``memory_limit="auto"`` would give every worker the whole node when ranks
    are bound to cores.
    """
    from distributed.system import MEMORY_LIMIT

    return int(MEMORY_LIMIT // max(1, ranks_on_node))


def _tls_config(comm):
    """Make a key and certificate on rank 0, share them over MPI, return the dask config.

    If rank 0 cannot make them, every rank learns it from the same broadcast
    and raises, so none waits for a certificate that never comes.
    """
    pem = None
    if comm.rank == 0:
        try:
            from distributed.security import Security

            sec = Security.temporary()
            pem = (sec.tls_ca_file, sec.tls_scheduler_key)
        except Exception as exc:  # ImportError (cryptography) or anything it raises
            text = (str(exc).splitlines() or [type(exc).__name__])[0]
            pem = ("error", f"{type(exc).__name__}: {text}")
    ca, key = comm.bcast(pem, root=0)
    if ca == "error":
        raise RunError(msg.NO_TLS_CERTIFICATE.format(reason=key))
    cfg = {"distributed.comm.require-encryption": True, "distributed.comm.tls.ca-file": ca}
    for role in ("scheduler", "worker", "client"):
        cfg[f"distributed.comm.tls.{role}.cert"] = ca
        cfg[f"distributed.comm.tls.{role}.key"] = key
    return cfg


def _node_address():
    name = socket.gethostname()
    with contextlib.suppress(OSError):
        return socket.gethostbyname(name), name
    return "127.0.0.1", name


def plain_tcp_interface(one_node, node_ip=None):
    """Where this rank listens in plain TCP (``--no-tls``), and who can connect there.

    A job on one node needs no network: its scheduler and workers listen on
    the loopback only.  A job across nodes listens on the interface that
    holds this node's address (:func:`_node_address`), not on every
    interface.  Returns ``(interface, address, who)``: the interface's name
    for dask-mpi (None where no interface holds a routable address of this
    node: then every interface), the address, and who can connect, in words.
    """
    host = socket.gethostname()
    ip = "127.0.0.1" if one_node else (node_ip or _node_address()[0])
    name = None if ip.startswith("127.") and not one_node else _interface_of(ip)
    if name is None:
        return None, "0.0.0.0", msg.WHO_ANY_NETWORK.format(host=host, ip=ip)
    if one_node:
        return name, ip, msg.WHO_ONE_NODE.format(host=host)
    return name, ip, msg.WHO_THAT_NETWORK.format(ip=ip, host=host)


def _interface_of(ip):
    """The name of the network interface holding the IPv4 address ``ip``, or None."""
    import psutil  # distributed's dependency

    for name, addresses in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == ip for a in addresses):
            return name
    return None


def _sigterm_handler(rank, stop, scratch):
    """What SIGTERM does on this rank: a job's time limit and ``scancel`` signal every rank.

    Rank 0 sets ``stop``: its client thread stops the computation, keeps the
    finished chunks, says so in one line and retires the workers.  A worker
    rank waits :data:`TERM_GRACE` seconds for that, then exits by itself
    (status 143) in case only it was signalled.
    """
    armed = threading.Lock()

    def leave():
        scratch_folders.remove(scratch)
        os._exit(143)

    def handler(signum, frame):
        if rank == 0:
            stop.set()
        elif armed.acquire(blocking=False):
            timer = threading.Timer(TERM_GRACE, leave)
            timer.daemon = True
            timer.start()

    return handler


def _listening(comm, tls, *, one_node):
    """(interface, address, who can connect) of the job's cluster, said in the log once
    (rank 0) where it is plain TCP."""
    if tls:
        return None, None, msg.WHO_TLS
    interface, listen, who = plain_tcp_interface(one_node)
    if comm.rank == 0:
        where = (
            msg.ON_INTERFACE.format(interface=interface) if interface else msg.ON_EVERY_INTERFACE
        )
        log.warning(msg.NO_TLS_MPI.format(listen=listen, where=where, who=who))
    return interface, listen, who


def _job_info(MPI, comm, *, tls, listen, who, limit, scheduler_node):
    """The job's description for the run report."""
    return {
        "kind": "mpi",
        "launcher": launcher_name(),
        "ranks": comm.size,
        "workers_expected": comm.size - 1,
        "mpi_library": MPI.Get_library_version().strip().splitlines()[0].strip(),
        "mpi_netmod": os.environ.get("MPIR_CVAR_CH4_NETMOD"),
        "mpi_vendor": "{} {}".format(MPI.get_vendor()[0], ".".join(map(str, MPI.get_vendor()[1]))),
        "tls": bool(tls),
        "listen": listen if not tls else msg.LISTEN_TLS,
        "who_can_connect": who,
        "scheduler_node": scheduler_node,
        "memory_limit_per_worker": limit,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def launch(client_function, *, tls=True, dashboard=True, dashboard_address=None,
           threads_per_worker=1, memory_limit=None, comm=None, stop=None):  # fmt: skip
    """Start a dask-mpi cluster across this job's ranks and run ``client_function`` on rank 0.

    Every rank calls this.  Rank 0 runs the scheduler and
    ``client_function(info)``, where ``info`` describes the job for the run
    report; ranks 1..N-1 run workers until the client is done.  The cluster
    is shut down however ``client_function`` ends.

    Returns
    -------
    (bool, object)
        ``(True, result)`` on rank 0 when ``client_function`` returned,
        ``(False, exception)`` on rank 0 when it raised, ``(None, None)`` on
        worker ranks, and ``(None, exception)`` on worker ranks when the
        cluster could not start (rank 0 raises it).

    ``stop``, a :class:`threading.Event`, makes SIGTERM stop the run on every
    rank (see :func:`_sigterm_handler`); the caller's computation must stop
    when it is set.  Only from the main thread.

    Raises
    ------
    TooFewRanksError
        With fewer than :data:`MIN_RANKS` ranks, on every rank, before anything starts.
    """
    MPI = _import_mpi()
    from dask_mpi import execute

    comm = comm or MPI.COMM_WORLD
    if comm.size < MIN_RANKS:
        raise TooFewRanksError(comm.size, MIN_RANKS)
    on_node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks_on_node = on_node.size
    limit = memory_limit if memory_limit is not None else node_memory_limit(ranks_on_node)
    interface, listen, who = _listening(comm, tls, one_node=ranks_on_node == comm.size)
    try:
        config = _tls_config(comm) if tls else {}
    except RuntimeError as exc:
        if comm.rank != 0:
            return None, exc  # rank 0 reports it
        raise
    node = _node_address()[1] if comm.rank == 0 else None
    info = _job_info(MPI, comm, tls=tls, listen=listen, who=who, limit=limit, scheduler_node=node)
    scratch, held = _rank_scratch(comm.rank, config, stop, sweep=on_node.rank == 0)
    outcome = {}
    client_side = _client_side(client_function, info, outcome)
    options = _execute_options(
        tls, interface, threads_per_worker, limit, scratch, dashboard, dashboard_address
    )
    try:
        with dask.config.set(config):
            execute(client_function=client_side, comm=comm, **options)
    finally:
        _leave_scratch(scratch, held)
    if comm.rank != 0:
        return None, None
    if "error" in outcome:
        return False, outcome["error"]
    return True, outcome.get("result")


def _rank_scratch(rank, config, stop, *, sweep):
    """This rank's scratch folder and its lock (:mod:`daskfft.cluster.scratch`), made the
    workers' and scheduler's, after removing those of ranks killed before where ``sweep``
    (the node's first rank: one look a node); SIGTERM set to stop."""
    root = scratch_root()
    removed = scratch_folders.sweep(root) if sweep else 0
    if removed:
        log.debug(msg.STALE_SCRATCH.format(count=removed, root=root))
    scratch, held = scratch_folders.make(root, rank)
    config["temporary-directory"] = scratch  # the scheduler's scratch too
    if stop is not None:
        stop.clear()
        try:
            signal.signal(signal.SIGTERM, _sigterm_handler(rank, stop, scratch))
        except BaseException:
            _leave_scratch(scratch, held)
            raise
    return scratch, held


def _leave_scratch(scratch, held):
    """Remove this rank's scratch folder, then let its lock go."""
    scratch_folders.remove(scratch)
    if held is not None:
        os.close(held)


def _client_side(client_function, info, outcome):
    """Rank 0's client: ``client_function(info)``'s result or error into ``outcome``."""

    def client_side():
        try:
            outcome["result"] = client_function(info)
        except BaseException as exc:  # the cluster must close whatever happened
            outcome["error"] = exc
        finally:
            _retire_workers()

    return client_side


def _execute_options(
    tls, interface, threads_per_worker, limit, scratch, dashboard, dashboard_address
):
    """dask-mpi ``execute``'s options: rank 0 the scheduler and client, the others workers."""
    return dict(
        client_rank=0,
        scheduler_rank=0,
        exclusive_workers=True,
        protocol="tls" if tls else "tcp",
        interface=interface,
        # With an interface the scheduler would take dask's fixed 8786: a second job
        # on the node could not start.
        scheduler_port=0 if interface else None,
        nthreads=threads_per_worker,
        memory_limit=limit,
        local_directory=scratch,
        dashboard=dashboard,
        # Unless given, nothing for other users of the cluster network:
        dashboard_address="127.0.0.1:0" if dashboard_address is None else dashboard_address,
        worker_options={"death_timeout": DEATH_TIMEOUT},
    )


def _retire_workers():
    """Close the workers before dask-mpi closes the scheduler, so nobody loses a comm."""
    from distributed import Client

    with contextlib.suppress(Exception), Client(timeout="10s") as client:
        client.retire_workers(close_workers=True)
