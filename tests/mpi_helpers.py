"""Launching real MPI jobs from the tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

MPIEXEC = shutil.which("mpiexec")
HAVE_MPI = MPIEXEC is not None and all(
    importlib.util.find_spec(m) for m in ("mpi4py", "dask_mpi", "cryptography")
)

# CI sets DASKFFT_REQUIRE_MPI=1: there a missing MPI fails the tests instead of skipping them.
needs_mpi = pytest.mark.skipif(
    not HAVE_MPI and not os.environ.get("DASKFFT_REQUIRE_MPI"),
    reason='needs mpiexec, mpi4py and dask-mpi: pip install ".[test]" brings them',
)


def mpi_run(n, *args, timeout=120, **kwargs):
    """``mpiexec -n N python -m daskfft ARGS``; a finished process or a test failure on timeout."""
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "daskfft", *args]
    env = dict(os.environ, **kwargs.pop("env", {}))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
