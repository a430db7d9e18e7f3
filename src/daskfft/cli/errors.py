"""What the ``daskfft`` command says when a command fails, and its exit status.

One line on stderr for what a user meets (exit status 1; 130 for Ctrl-C, 143 for
SIGTERM; 0 when ``--resume`` finds nothing to do), and for a bug in daskfft (status
70) a one-line notice with its traceback saved to a file.  Usage errors (status 2)
are argparse's (:class:`daskfft.cli.options.Parser`).
"""

from __future__ import annotations

import errno
import os
import sys
import time

from daskfft.errors import (
    AlreadyComplete,
    DaskfftError,
    Interrupted,
    RunFailed,
    Terminated,
    TermSignal,
)
from daskfft.messages import cli as msg

__all__ = ["EX_SOFTWARE", "exit_status", "expected", "report_bug", "save_traceback"]


#: What the operating system reports about files, folders, memory and the network: the
#: user's to fix (space, permissions, a path, a node), never daskfft's.
_IO_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ENOSPC",
        "EDQUOT",
        "EACCES",
        "EPERM",
        "EROFS",
        "ENOENT",
        "ENOTDIR",
        "EISDIR",
        "EEXIST",
        "ENOTEMPTY",
        "EIO",
        "ENAMETOOLONG",
        "ELOOP",
        "ESTALE",
        "EMFILE",
        "ENFILE",
        "ENOMEM",
        "EFBIG",
        "ETXTBSY",
        "EBUSY",
        "ENXIO",
        "ENODEV",
        "EXDEV",
        "EPIPE",
        "ETIMEDOUT",
        "ECONNREFUSED",
        "ECONNRESET",
        "ECONNABORTED",
        "EHOSTUNREACH",
        "ENETUNREACH",
        "EADDRINUSE",
        "EADDRNOTAVAIL",
        "EREMOTEIO",
    )
    if hasattr(errno, name)
)

#: Failures of a distributed cluster (a worker killed, say by its memory limit, a
#: connection lost, tasks cancelled by a scheduler's restart), not of daskfft's code.
_CLUSTER_FAILURES = (
    "KilledWorker",
    "CommClosedError",
    "FatalCommClosedError",
    "FutureCancelledError",
)


def expected(exc):
    """True for what a run can meet that is not a bug: one line and exit status 1.

    daskfft's own errors (:class:`~daskfft.errors.DaskfftError`; a
    :class:`~daskfft.errors.RunFailed` only when what failed is itself
    expected), the operating system's I/O errors (:data:`_IO_ERRNOS`), running
    out of memory, timeouts and a distributed cluster's failures.  Anything else
    (a plain ``ValueError``, ``TypeError``, ``RuntimeError``, ``KeyError``...)
    is a bug.
    """
    if isinstance(exc, RunFailed) and exc.__cause__ is not None:
        return expected(exc.__cause__)
    if isinstance(exc, (DaskfftError, MemoryError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in _IO_ERRNOS:
        return True
    return any(
        type(exc).__name__ == name and type(exc).__module__.startswith("distributed")
        for name in _CLUSTER_FAILURES
    )


#: The exit status of a bug (sysexits.h's EX_SOFTWARE).
EX_SOFTWARE = 70


def report_bug(exc, args):
    """Save the traceback of ``exc``, a bug, and say so in one line; return 70.

    The traceback goes beside the outputs, into OUTDIR, where this run kept
    its finished chunks there (a :class:`RunFailed`: it held OUTDIR's lock),
    else into the temporary folder (:func:`save_traceback`); ``--debug``
    also prints it.
    """
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if args.debug:
        print(text, end="", file=sys.stderr)
    failed = isinstance(exc, RunFailed) and exc.__cause__ is not None
    saved = save_traceback(text, os.path.dirname(exc.workdir) if failed else None)
    cause = exc.__cause__ if failed else exc
    first = (str(cause).strip().splitlines() or [""])[0]
    kept = (
        msg.BUG_KEPT.format(kept=exc.kept, total=exc.total, workdir=exc.workdir) if failed else ""
    )
    detail = msg.BUG_DETAIL.format(first=first) if first else ""
    print(
        msg.BUG.format(type=type(cause).__name__, detail=detail, kept=kept, saved=saved),
        file=sys.stderr,
    )
    return EX_SOFTWARE


def save_traceback(text, outdir=None):
    """Write ``text`` into a new file; return its path.

    Into ``outdir`` as ``daskfft-traceback-*.txt``: given only where this
    run, holding OUTDIR's lock, kept its work there, so that a bug found
    before any work leaves nothing in OUTDIR, and another run's work folder
    (live or interrupted) is never written in.  Never into the work folder,
    which a later run deletes: no run deletes the file the user was pointed
    at.  Else, or where OUTDIR cannot take it, into the temporary folder
    (:func:`tempfile.gettempdir`), in a file only this user can read.
    """
    import tempfile

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    if outdir:
        path = os.path.join(outdir, f"daskfft-traceback-{stamp}-{os.getpid()}.txt")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            with os.fdopen(os.open(path, flags, 0o644), "w") as fh:
                fh.write(text)
            return path
        except OSError:
            pass  # OUTDIR cannot take it: the temporary folder then
    try:
        fd, path = tempfile.mkstemp(prefix=f"daskfft-traceback-{stamp}-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return path
    except OSError:
        return msg.TRACEBACK_NOWHERE


def exit_status(exc, args):
    """Say in one line on stderr what ``exc``, raised by a command, means; return the
    command's exit status.

    With ``--debug`` an expected error is raised again, for its traceback.
    """
    if isinstance(exc, AlreadyComplete):
        if not args.quiet:
            print(msg.LINE.format(message=exc), file=sys.stderr)
        return 0
    if isinstance(exc, Interrupted):
        print(msg.LINE.format(message=exc), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    if isinstance(exc, KeyboardInterrupt):
        what = msg.WHAT_TERMINATED if isinstance(exc, TermSignal) else msg.WHAT_INTERRUPTED
        print(msg.NOTHING_KEPT.format(what=what), file=sys.stderr)
        return 143 if isinstance(exc, TermSignal) else 130
    if not expected(exc):
        return report_bug(exc, args)
    if args.debug:
        raise exc
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(msg.ERROR_LINE.format(message=message), file=sys.stderr)
    return 1
