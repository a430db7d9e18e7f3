"""The ``daskfft`` command line: one module per command, each declaring its options and
calling the library; no work is done here.

:func:`build_parser` gathers the commands (:mod:`~daskfft.cli.run`,
:mod:`~daskfft.cli.sample`, :mod:`~daskfft.cli.align`; the options they share are in
:mod:`~daskfft.cli.options`), :func:`main` parses, sets up the log, calls the command
and turns what it raises into one line and an exit status (:mod:`~daskfft.cli.errors`),
and :func:`command` is the installed ``daskfft`` program.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from daskfft.cli import align, run, sample
from daskfft.cli.errors import exit_status
from daskfft.cli.options import Parser
from daskfft.messages import cli as msg

__all__ = ["build_parser", "main", "command"]


log = logging.getLogger("daskfft")

#: The subcommands, in the order ``--help`` lists them: each module has ``add_command``
#: and ``execute``.
COMMANDS = {"run": run, "sample": sample, "align": align}


def build_parser():
    """The ``daskfft`` argument parser (``run``, ``sample`` and ``align`` subcommands)."""
    from daskfft._version import __version__

    parser = Parser(
        prog="daskfft",
        description=(
            "FFT low-pass filtering of images larger than memory, chunk by chunk, with Dask."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=msg.VERSION.format(version=__version__)
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    parser.subparsers = sub.choices  # for usage errors found after parsing
    for module in COMMANDS.values():
        module.add_command(sub)
    return parser


def _setup_logging(args):
    if getattr(args, "cluster", "threads") not in ("threads", "auto"):
        # distributed configures its loggers on import: import it first, then quieten them
        # ("auto" may not need it, and open_cluster keeps these levels if it imports it).
        import distributed  # noqa: F401

    level = logging.ERROR if args.quiet else logging.INFO if args.verbose == 0 else logging.DEBUG
    logging.basicConfig(format="daskfft: %(message)s", stream=sys.stderr, force=True)
    # -q quietens the console, not the run: its warnings still reach report.json.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    log.setLevel(min(level, logging.WARNING))
    # "tornado.application" too: distributed's logging config gives it a level of its own
    # (error), and a Ctrl-C that lands in distributed's sync() before its future exists
    # makes tornado log its cancel callback's NameError, a traceback after the one line.
    for name in ("distributed", "bokeh", "tornado", "tornado.application", "asyncio", "tifffile"):
        # Errors inside dask (or a damaged file's, found by the probe) reach us as
        # exceptions and are reported once, below.
        logging.getLogger(name).setLevel(logging.INFO if args.verbose >= 2 else logging.CRITICAL)


def main(argv=None):
    """Entry point of the ``daskfft`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.from_command_line = argv is None  # a process of its own: its imports count too
    _setup_logging(args)
    try:
        with warnings.catch_warnings():
            # The halo warning reaches the user through the log, once.
            from daskfft.kernels.halo import HaloWarning

            warnings.simplefilter("ignore", HaloWarning)
            status = COMMANDS[args.command].execute(args, parser.subparsers[args.command])
    except (KeyboardInterrupt, Exception) as exc:
        return exit_status(exc, args)
    return status or 0


#: glibc malloc arenas a daskfft process keeps, and the processes it starts
#: (``MALLOC_ARENA_MAX``, unless set).  With one arena per thread, as glibc makes them,
#: each worker thread's arena kept the freed windows of its tasks: the default command's
#: largest process grew with the number of chunks, 1.23 GB at 256 x 4096^2 voxels and
#: 3.2 GB at 1024 x 4096^2 (256^3 chunks).  Two arenas: 584 MB against 845 MB at
#: 512 x 1024^2 (128^3 chunks, 256 tasks), and no slower (12.1 s against 12.9 s); one
#: arena, 582 MB.
HEAP_ARENAS = "2"


# glibc's malloc settings (mallopt's numbers), each also given to the processes started
# through its environment variable.  A fixed mmap threshold (its largest, 32 MiB) and a
# trim threshold of 256 MiB keep the windows' buffers of up to 32 MiB in the heap, reused
# from task to task: given back to the system at each free, every one was a new page
# fault a page at a time (a 512 x 1024^2 volume: 8.7 s of system time in a 16 s run,
# 4 s so).  What stays free in the heap is bounded by the tasks (run.heap.trim_heap).
HEAP_OPTIONS = {
    "MALLOC_ARENA_MAX": (-8, HEAP_ARENAS),
    "MALLOC_MMAP_THRESHOLD_": (-3, str(32 << 20)),
    "MALLOC_TRIM_THRESHOLD_": (-1, str(256 << 20)),
}


def _bound_heap():
    """glibc's malloc as :data:`HEAP_OPTIONS` says (at most :data:`HEAP_ARENAS` arenas),
    here (``mallopt``, before any worker thread starts) and in every process this one
    starts (the environment), unless the environment sets them; a no-op off glibc."""
    for name, (_, value) in HEAP_OPTIONS.items():
        os.environ.setdefault(name, value)
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        for name, (option, _) in HEAP_OPTIONS.items():
            libc.mallopt(option, int(os.environ[name]))
    except (OSError, AttributeError, ValueError, TypeError):  # not glibc (Windows: TypeError)
        pass


def command():
    """The ``daskfft`` program: :func:`main`, then exit without tearing the modules down.

    Every output is complete and published when :func:`main` returns, and
    the cluster closed; what is left at exit is the interpreter's teardown
    of dask, distributed and matplotlib, measured here at 0.4-0.7 s of a
    3 s run on a small image.  Under MPI the normal exit runs, since
    mpi4py finalizes MPI at exit.
    """
    _bound_heap()
    status = main()
    if "mpi4py" in sys.modules:
        sys.exit(status)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
