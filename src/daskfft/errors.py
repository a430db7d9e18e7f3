"""The package's own exception types."""

from __future__ import annotations

__all__ = ["InputError", "TooFewRanksError", "RunFailed", "Interrupted", "TermSignal",
           "Terminated", "Busy", "AlreadyComplete"]


class InputError(ValueError):
    """An input file or output location the run cannot use; the message says why."""


class TooFewRanksError(RuntimeError):
    """An MPI job has fewer ranks than the cluster layout needs."""

    def __init__(self, found, needed):
        super().__init__(
            f"--cluster mpi needs at least {needed} MPI ranks (rank 0: scheduler and client; "
            f"ranks 1..N-1: workers), found {found}; launch with mpiexec -n {needed} or more"
        )
        self.found = found
        self.needed = needed


class RunFailed(RuntimeError):
    """A run failed after some chunks were finished: they are kept for ``--resume``.

    The message is the cause's first line followed by what was kept and how
    to finish; the cause is ``__cause__``.
    """

    def __init__(self, message, *, kept, total, workdir):
        super().__init__(message)
        self.kept, self.total, self.workdir = kept, total, workdir


class Interrupted(KeyboardInterrupt):
    """A run was interrupted (Ctrl-C); the message says what was kept and how to resume."""


class TermSignal(KeyboardInterrupt):
    """SIGTERM arrived (a batch job's time limit, ``scancel``, ``kill``): stop like Ctrl-C."""


class Terminated(Interrupted):
    """A run was stopped by SIGTERM; the message says what was kept and how to resume."""


class Busy(InputError):
    """Another live run holds the output folder's lock."""


class AlreadyComplete(Exception):
    """``--resume`` found every output of the same run already in OUTDIR: nothing to do.

    A job at its time limit may have finished before the signal came; its
    continuation (``--resume``) then succeeds without work.
    """
