"""What the cluster layer tells the user: where a run computes and why, its refusals and
its warnings.

The modules of :mod:`~daskfft.cluster` (:mod:`~daskfft.cluster.spec`,
:mod:`~daskfft.cluster.kinds`, :mod:`~daskfft.cluster.mpi`) fill them in.
"""

from __future__ import annotations

# --- cluster/spec, cluster/kinds ---------------------------------------------------------------

BAD_CLUSTER = (
    "`cluster` must be one of {kinds} or a scheduler address such as tcp://host:8786, got {value!r}"
)
AUTO_FOR_REPORT = "a performance report needs the distributed scheduler"
AUTO_NO_DASHBOARD = "no dashboard asked for: the threaded scheduler starts at once"
AUTO_LARGE = (
    "{megapixels} Mpx, at least {threshold} Mpx ({per_core} Mpx a thread x {threads}): a run "
    "long enough to watch on the dashboard"
)
AUTO_SMALL = (
    "{megapixels} Mpx, under {threshold} Mpx ({per_core} Mpx a thread x {threads}): done "
    "before a dashboard would be looked at; --cluster local serves one"
)
AUTO_CHOSEN = "cluster auto: {kind} ({why})"
MEMORY_LIMIT_TOO_LOW = (
    "the workers' memory limit, {limit:.0f} MiB (--memory-limit), is below what a worker "
    "needs: {own:.0f} MiB of its own and {threads} x {task:.0f} MiB for {threads} task(s) "
    "of {what}, where dask pauses it at {pause:.0%}; lower --chunks or --threads-per-worker, "
    "or raise --memory-limit"
)
AUTO_NOT_SETTLED = "`cluster` 'auto' is settled by ClusterSpec.resolve before it is opened"
NO_SCHEDULER = (
    "cluster {address}: no scheduler answered within {timeout:g} s ({reason}); check the "
    "address, or wait longer with --connect-timeout"
)
NO_TLS_SETTINGS = (
    "cluster {address}: a tls:// scheduler needs dask's TLS settings, and none are "
    "set: give distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
    "distributed.comm.tls.client.key in dask's config, or the environment variables "
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT "
    "and DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"
)
WHO_ON_THIS_MACHINE = "any user logged in to this machine (a shared login node's too)"
NO_TLS_LOCAL = (
    "--no-tls: the scheduler and worker processes listen in plain TCP on 127.0.0.1: "
    "{who} can connect and run code as you (leave out --no-tls for TLS)"
)
CANNOT_START = (
    "cluster {kind}: could not start ({reason}); see -vv for dask's log, or try --cluster threads"
)
NOT_UNDER_MPI = (
    "--cluster mpi runs only under an MPI launcher: mpiexec -n N daskfft run ... --cluster mpi"
)

# --- cluster/mpi -------------------------------------------------------------------------------

MPI_MISSING = (
    '--cluster mpi needs mpi4py and dask-mpi: pip install "daskfft[mpi]" '
    "(and an MPI: the PyPI 'mpich' wheel, or mpi4py built against the site's MPI) ({reason})"
)
NO_TLS_CERTIFICATE = (
    "--cluster mpi: rank 0 could not make the job's TLS certificate "
    "({reason}); pip install cryptography, or pass --no-tls"
)
WHO_ANY_NETWORK = (
    "anyone who can reach {host} on any of its networks (no interface of its own holds {ip})"
)
WHO_ONE_NODE = "any user logged in to {host}, the job's one node"
WHO_THAT_NETWORK = "anyone who can reach {ip} ({host}) on that network"
NO_TLS_MPI = (
    "--no-tls: the scheduler and workers listen in plain TCP on {listen}{where}: {who} can "
    "connect and run code as you (leave out --no-tls for TLS)"
)
ON_INTERFACE = " ({interface})"
ON_EVERY_INTERFACE = ", every interface"

# --- cluster/kinds, cluster/mpi: who can connect, as report.json says --------------------------

WHO_TLS = "only this run (TLS with credentials made for it)"
LISTEN_TLS = "every interface, TLS"
JOBQUEUE_MISSING = (
    '--cluster slurm needs dask-jobqueue ({reason}): pip install dask-jobqueue, or "daskfft[slurm]"'
)
SLURM_CANNOT_START = "cluster slurm: could not submit the workers' jobs ({reason})"
SLURM_SUBMITTED = (
    "cluster slurm: {jobs} worker job(s) submitted (sbatch, dask-jobqueue's SLURMCluster), "
    "{cores} core(s) and {memory} each; cancelled when the run ends"
)
SLURM_WAITING = (
    "cluster slurm: not every worker after {seconds} s: of the {jobs} job(s), some wait in "
    "Slurm's queue (squeue --name daskfft-worker); going on from the first worker"
)
BAD_SLURM_OPTION = "slurm job options: unknown {names}; known: {known}"
SLURM_JOBS_ENDED = (
    "cluster slurm: the {jobs} worker job(s) ended before any worker connected; their logs "
    "are kept in {logs}"
)
STALE_SCRATCH = "removed {count} scratch folder(s) of ranks killed earlier from {root}"
