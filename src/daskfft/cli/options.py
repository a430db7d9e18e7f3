"""What the commands share: the parser class, the argparse types, and the option groups
that more than one command declares (``--cluster`` and its kin, ``-v/-q/--debug``).

Every argparse type parses the text and calls the library's own validator from
:mod:`daskfft.validate`, the one the Python API calls: a refused value is argparse's
usage error (exit status 2) with the validator's message less its argument name.
"""

from __future__ import annotations

import argparse
import re
import sys

from daskfft.cluster.kinds import CONNECT_TIMEOUT
from daskfft.messages import cli as msg
from daskfft.validate import BOUNDARIES, check_connect_timeout, check_positive_int

__all__ = [
    "Parser",
    "checked",
    "one_or_more",
    "depth_or_auto",
    "boundary_value",
    "positive",
    "add_cluster",
    "cluster_options",
    "add_common",
    "show_progress",
]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to read more; and negative
    numbers with an exponent (``--nodata -3.4e+38``, float32's lowest) taken as values,
    which argparse's own rule (no exponent) reads as an unknown option."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

    def error(self, message):
        self.exit(2, msg.USAGE_ERROR.format(prog=self.prog, message=message) + "\n")


def local_path(name, *, output=False):
    """An argparse type for a path argument (``name``: PATH, OUTDIR...; ``output``: written
    to): a URL is refused (:func:`daskfft.validate.check_local_path`), a usage error."""
    from daskfft.validate import check_local_path

    return checked(lambda text: check_local_path(name, text, output=output), "local path", str)


def input_path(name):
    """An argparse type for an input that may be a URL (``name``: INPUT): one with a user,
    password or query is refused (:func:`daskfft.validate.check_input_path`)."""
    from daskfft.validate import check_input_path

    return checked(lambda text: check_input_path(name, text), "input", str)


#: Storage options that are credentials (or may carry them: headers, a connection string):
#: refused on the command line, which every user of the machine can read (``ps``), at any
#: depth of a JSON value; they come from the environment or a profile instead.
SECRET_OPTIONS = frozenset(
    {"key", "token", "headers", "session_token", "account_key", "sas_token", "credentials"}
)
SECRET_WORDS = ("secret", "password", "connection_string", "authorization")


def _secret_names(key, value):
    """The names in ``key`` and, of a JSON object ``value``, its keys at any depth, that are
    credentials."""
    found = []
    name = str(key).lower()
    if name in SECRET_OPTIONS or any(word in name for word in SECRET_WORDS):
        found.append(str(key))
    if isinstance(value, dict):
        for k, v in value.items():
            found += _secret_names(k, v)
    return found


def storage_option(text):
    """An argparse type for ``--storage-option KEY=VALUE``: a credential's name refused."""
    from daskfft.validate import check_storage_options

    try:
        ((key, value),) = check_storage_options([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    secret = _secret_names(key, value)
    if secret:
        raise argparse.ArgumentTypeError(msg.SECRET_ON_COMMAND_LINE.format(key=secret[0]))
    return text


def checked(validator, name, parse=float):
    """An argparse type that parses ``text`` and calls the library's own validator.

    A refused value becomes argparse's usage error (exit status 2), with the
    validator's message less its leading argument name.
    """

    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(msg.NOT_PARSED.format(name=name, text=text)) from None
        try:
            checked = validator(value)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(re.sub(r"^`\w+` ", "", str(exc))) from None
        return value if checked is None else checked

    convert.__name__ = name  # argparse names the type in "invalid <type> value" messages
    return convert


def one_or_more(validator, name):
    """An argparse type for ``X``, or ``X,Y`` or ``X,Y,Z`` (one per spatial axis, y,x or
    z,y,x; a band-pass's two edges), each checked by ``validator``: a float, or a tuple."""
    one = checked(validator, name)

    def convert(text):
        parts = text.split(",")
        if len(parts) > 3:
            raise argparse.ArgumentTypeError(msg.TOO_MANY_VALUES.format(name=name, text=text))
        values = tuple(one(part) for part in parts)
        return values[0] if len(values) == 1 else values

    convert.__name__ = name
    return convert


def depth_or_auto(text):
    """``--depth``'s text as :func:`~daskfft.validate.check_depth` takes it: "auto" or an int."""
    return text if text == "auto" else int(text)


def boundary_value(text):
    """``--boundary``'s text as :func:`~daskfft.validate.check_boundary` takes it: a name
    or a float."""
    return text if text in BOUNDARIES else float(text)


def positive():
    """The argparse type of a whole number >= 1 (:func:`~daskfft.validate.check_positive_int`)."""
    return checked(lambda v: check_positive_int("value", v), "positive integer", int)


def add_cluster(exe):
    """The options naming where the work runs, shared by ``run`` and ``align``."""
    _add_cluster_kind(exe)
    _add_cluster_size(exe)
    _add_cluster_network(exe)
    _add_slurm_jobs(exe)


def _add_cluster_kind(exe):
    """Add --cluster: which kind of cluster, or the address of one."""
    exe.add_argument(
        "--cluster",
        default="auto",
        metavar="auto|local|processes|threads|mpi|slurm|ADDRESS",
        help="auto: local from 1024 Mpx a core up (a thread of --workers x "
        "--threads-per-worker where given; or with --performance-report), "
        "threads below, where the run is over in seconds; "
        "local: a Dask scheduler and workers as threads of this process, "
        "with the dashboard, nothing listening on the network but its "
        "health/metrics pages and dashboard on a free 127.0.0.1 port (the "
        "fastest here); processes: worker processes, each with its memory limit, "
        "reachable only with this run's TLS credentials; threads: dask's "
        "threaded scheduler, no dashboard; mpi: dask-mpi across the ranks of "
        "this MPI job (launch with mpiexec or srun --mpi=pmi2); slurm: workers "
        "submitted as Slurm jobs from here (a login node, a notebook) by dask-jobqueue, "
        "--workers jobs of --threads-per-worker cores, cancelled when the run ends; "
        "ADDRESS: a running scheduler such as tls://host:8786 (default: auto)",
    )


def _add_cluster_size(exe):
    """Add the workers, threads and memory each worker gets."""
    exe.add_argument(
        "--workers",
        type=positive(),
        metavar="N",
        help="local: workers (default 1 with a thread per core); processes: "
        "worker processes (default: dask's choice from the cores); threads: "
        "workers x threads-per-worker threads",
    )
    exe.add_argument(
        "--threads-per-worker",
        type=positive(),
        metavar="N",
        help="threads per worker (default: dask's choice; mpi: 1)",
    )
    exe.add_argument(
        "--memory-limit",
        metavar="BYTES",
        help="memory limit per worker, e.g. 4GB (default: processes: dask's share "
        "of this machine; mpi: the node's memory divided by its ranks)",
    )


def _add_slurm_jobs(exe):
    """Add the Slurm job options of --cluster slurm, dask-jobqueue's names."""
    exe.add_argument("--account", metavar="NAME", help="slurm: account the jobs are charged to")
    exe.add_argument("--queue", metavar="PARTITION", help="slurm: partition (default: Slurm's)")
    exe.add_argument("--walltime", metavar="HH:MM:SS", help="slurm: each job's time limit")
    exe.add_argument(
        "--memory",
        metavar="SIZE",
        help="slurm: each job's memory, e.g. 8GiB (default: 4GiB per core), its worker's limit",
    )
    exe.add_argument(
        "--interface",
        metavar="IFACE",
        help="slurm: the network interface the workers talk on, e.g. ib0 (and the "
        "scheduler, unless --scheduler-interface)",
    )
    exe.add_argument(
        "--scheduler-interface",
        metavar="IFACE",
        help="slurm: the interface of this machine the workers reach the scheduler on "
        "(a login node's cluster network)",
    )


def _add_cluster_network(exe):
    """Add the dashboard, TLS and connection options: what listens and who connects."""
    exe.add_argument(
        "--no-dashboard",
        dest="dashboard",
        action="store_false",
        help="do not serve the Dask dashboard (default: served on a free port of "
        "127.0.0.1; the URL is printed)",
    )
    exe.add_argument(
        "--dashboard-address",
        metavar="HOST:PORT",
        help="mpi: where rank 0 serves the dashboard (default: 127.0.0.1 and a "
        "free port, reached through the printed ssh tunnel; a routable "
        "address exposes it, unauthenticated, to the cluster network)",
    )
    exe.add_argument(
        "--no-tls",
        dest="tls",
        action="store_false",
        help="processes and mpi: plain TCP between scheduler, workers and client, "
        "which anyone who reaches it can use to run code as you: processes "
        "and an MPI job on one node listen on 127.0.0.1, open to every user "
        "logged in to that machine (a shared login node's too); an MPI job "
        "across nodes on each node's own interface, open to anyone on that "
        "network (default: TLS with credentials made for this run, so nobody "
        "else can connect)",
    )
    exe.add_argument(
        "--connect-timeout",
        type=checked(check_connect_timeout, "seconds"),
        default=CONNECT_TIMEOUT,
        metavar="S",
        help="ADDRESS: seconds to wait for the scheduler (default: %(default)g)",
    )


def cluster_options(args):
    """The options of :func:`add_cluster` as :class:`~daskfft.cluster.kinds.ClusterSpec`
    takes them, less its ``kind`` (``args.cluster``)."""
    return {
        "workers": args.workers,
        "threads_per_worker": args.threads_per_worker,
        "memory_limit": args.memory_limit or "auto",
        "dashboard": args.dashboard,
        "dashboard_address": args.dashboard_address,
        "connect_timeout": args.connect_timeout,
        "tls": args.tls,
        "slurm": {
            k: getattr(args, k)
            for k in ("account", "queue", "walltime", "memory", "interface", "scheduler_interface")
        },
    }


def add_common(parser):
    """``-v``, ``-q`` and ``--debug``, which every command takes."""
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: dask's too)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only, no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def show_progress(args):
    """Whether a command shows a progress bar: not with ``-q`` (:func:`add_common`), and only
    on a terminal."""
    return not args.quiet and sys.stderr.isatty()


def job_options(args):
    """What a command's job (:mod:`daskfft.run.job`) takes from its arguments: whether it
    runs in a process of its own (SIGTERM then stops it as Ctrl-C does), the workers'
    memory limit, and whether it shows a progress bar (:func:`show_progress`)."""
    return dict(
        own_process=args.from_command_line,
        memory_limit=args.memory_limit,
        progress=show_progress(args),
    )
