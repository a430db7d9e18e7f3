"""The package's own exception types."""

from __future__ import annotations

from daskfft.messages import api as msg

__all__ = [
    "DaskfftError",
    "InputError",
    "TooFewRanksError",
    "RunFailed",
    "RunError",
    "MissingPackage",
    "Interrupted",
    "TermSignal",
    "Terminated",
    "Busy",
    "AlreadyComplete",
    "BatchFailed",
]


class DaskfftError(Exception):
    """Base of the errors daskfft raises on purpose, each with a message that says what to do.

    The command prints such an error as one line and exits with status 1;
    any other exception is a bug (status 70, its traceback saved).
    """


class InputError(DaskfftError, ValueError):
    """An input file or output location the run cannot use; the message says why."""


class TooFewRanksError(DaskfftError, RuntimeError):
    """An MPI job has fewer ranks than the cluster layout needs."""

    def __init__(self, found, needed):
        super().__init__(msg.TOO_FEW_RANKS.format(needed=needed, found=found))
        self.found = found
        self.needed = needed


class RunFailed(DaskfftError, RuntimeError):
    """A run failed after some chunks were finished: they are kept for ``--resume``.

    The message is the cause's first line followed by what was kept and how
    to finish; the cause is ``__cause__``.
    """

    def __init__(self, message, *, kept, total, workdir):
        super().__init__(message)
        self.kept, self.total, self.workdir = kept, total, workdir


class RunError(DaskfftError, RuntimeError):
    """The run cannot go on for a reason outside daskfft (no space left, no scheduler
    answering, no TLS certificate); the message says what to do."""


class MissingPackage(DaskfftError, ImportError):
    """An optional package that the options ask for is not installed; the message says
    how to install it."""


class Interrupted(KeyboardInterrupt):
    """A run was interrupted (Ctrl-C); the message says what was kept and how to resume."""


class TermSignal(KeyboardInterrupt):
    """SIGTERM arrived (a batch job's time limit, ``scancel``, ``kill``): stop like Ctrl-C."""


class Terminated(Interrupted):
    """A run was stopped by SIGTERM; the message says what was kept and how to resume."""


class Busy(InputError):
    """Another live run holds the output folder's lock."""


class BatchFailed(DaskfftError, RuntimeError):
    """Some images of a batch failed (each said as it happened); the others were done."""


class AlreadyComplete(Exception):
    """``--resume`` found every output of the same run already in OUTDIR: nothing to do.

    A job at its time limit may have finished before the signal came; its
    continuation (``--resume``) then succeeds without work.
    """
