"""Shared fixtures."""

import contextlib
import glob
import os

import pytest

SHM = "/dev/shm/mpich_shm_*"


def _mapped():
    """Every /dev/shm file some live process still maps."""
    seen = set()
    for maps in glob.glob("/proc/[0-9]*/maps"):
        with contextlib.suppress(OSError), open(maps) as f:
            seen.update(line.split()[-1] for line in f if "/dev/shm/" in line)
    return seen


@pytest.fixture(autouse=True)
def _no_leaked_mpi_shared_memory():
    """MPICH's ranks share memory through /dev/shm/mpich_shm_* files that a rank killed by a
    test (SIGKILL, a torn-down job) never removes; a later job whose name hashes the same
    then fails MPI_Init ("Out of memory"), on this machine or the next test run.  After each
    test, remove the files that appeared during it and that no live process maps."""
    before = set(glob.glob(SHM))
    yield
    new = set(glob.glob(SHM)) - before
    if new:
        live = _mapped()
        for path in new - live:
            with contextlib.suppress(OSError):
                os.remove(path)
