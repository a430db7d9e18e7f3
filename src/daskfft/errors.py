"""The package's own exception types."""

from __future__ import annotations

__all__ = ["InputError", "TooFewRanksError"]


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
