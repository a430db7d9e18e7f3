"""Shared fixtures."""

import contextlib
import functools
import glob
import os
import sys

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


@pytest.fixture(autouse=True)
def _no_client_left_as_default():
    """A test that leaves a distributed Client as dask's default makes every later
    ``.compute()`` in the same process go to it: to a cluster that may be gone, where it
    waits for ever.  The suite runs a test file to a worker process (pytest-xdist), in an
    order no test may count on, so a client left behind fails the test that left it (and is
    closed, so that the next test runs alone)."""
    yield
    client_module = sys.modules.get("distributed.client")
    left = client_module and client_module._get_global_client()
    if left:
        with contextlib.suppress(Exception):
            left.close()
        pytest.fail(f"this test left a distributed Client as dask's default: {left!r}")


# --- The slow tier's guard ----------------------------------------------------------------
# `pytest -m "not slow"` is the fast tier, so every test that starts a cluster (any
# distributed Scheduler, Worker, Nanny, Client or LocalCluster, in-process ones too), a
# subprocess (subprocess, multiprocessing, os.fork/posix_spawn/system: mpiexec, sbatch, the
# notebook's kernel) must be marked slow.  The entry points below are wrapped for the whole
# session; a test NOT marked slow that reaches one of them, in its setup, call or teardown,
# fails, naming what it started.  DASKFFT_SLOW_GUARD=record:PATH records instead (a line per
# start: node id, whether it is marked slow, what it started) and fails nothing: that is how
# the marks were found.

_guard = {"item": None, "started": [], "record": None, "undo": []}


def _started(what):
    item = _guard["item"]
    if _guard["record"] is not None:
        slow = item is not None and item.get_closest_marker("slow") is not None
        with open(_guard["record"], "a") as f:
            f.write(f"{item.nodeid if item else '-'}\t{'slow' if slow else 'fast'}\t{what}\n")
    elif item is not None:
        _guard["started"].append(what)


def _argv(args):
    words = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in args or ()]
    words = [" ".join(w.split()) for w in words[:6]] + (["..."] if len(words) > 6 else [])
    return " ".join(w if len(w) <= 80 else w[:77] + "..." for w in words)


def _wrap(owner, name, describe):
    original = getattr(owner, name, None)
    if original is None:
        return

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        with contextlib.suppress(Exception):
            _started(describe(*args, **kwargs))
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)
    _guard["undo"].append((owner, name, original))


def _install_guard():
    import _posixsubprocess
    import multiprocessing.process
    import subprocess

    import distributed
    import distributed.deploy.spec

    # subprocess.Popen (and so subprocess.run, asyncio's subprocesses, os.popen) starts every
    # child in _execute_child; multiprocessing's spawn and forkserver (and others) call
    # _posixsubprocess.fork_exec themselves.
    _wrap(
        subprocess.Popen,
        "_execute_child",
        lambda self, args, *a, **k: (
            "a subprocess: "
            + _argv([args] if isinstance(args, (str, bytes, os.PathLike)) else args)
        ),
    )
    _wrap(_posixsubprocess, "fork_exec", lambda args, *a, **k: f"a subprocess: {_argv(args)}")
    for name in ("posix_spawn", "posix_spawnp"):
        _wrap(os, name, lambda path, argv, *a, **k: f"a subprocess: {_argv(argv)}")
    _wrap(os, "system", lambda command, *a, **k: f"a subprocess (os.system): {_argv([command])}")
    for name in ("fork", "forkpty"):
        _wrap(os, name, lambda *a, _n=name, **k: f"a process (os.{_n}())")
    _wrap(
        multiprocessing.process.BaseProcess,
        "start",
        lambda self, *a, **k: f"a process (multiprocessing: {self.name})",
    )
    for cls in (
        distributed.Scheduler,
        distributed.Worker,
        distributed.Nanny,
        distributed.Client,
        distributed.deploy.spec.SpecCluster,
    ):
        _wrap(
            cls,
            "__init__",
            lambda self, *a, _c=cls.__name__, **k: (
                f"a cluster ({type(self).__name__}, a distributed.{_c})"
            ),
        )


def _warm_font_cache():
    """matplotlib builds its font cache on its first import, by running ``fc-list``: done
    here, before the guard, not by whichever test draws first on a fresh machine."""
    with contextlib.suppress(ImportError):
        import matplotlib.font_manager  # noqa: F401


def pytest_configure(config):
    _warm_font_cache()
    mode = os.environ.get("DASKFFT_SLOW_GUARD", "")
    if mode.startswith("record:"):
        _guard["record"] = mode.removeprefix("record:")
    if mode != "off":
        _install_guard()


def pytest_unconfigure(config):
    for owner, name, original in reversed(_guard["undo"]):
        setattr(owner, name, original)
    _guard["undo"].clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _guard["item"], _guard["started"] = item, []
    try:
        return (yield)
    finally:
        _guard["item"], _guard["started"] = None, []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    started, _guard["started"] = _guard["started"], []
    if started and item.get_closest_marker("slow") is None and report.when != "setup":
        message = (
            f"{item.nodeid} is not marked slow but started "
            + "; ".join(dict.fromkeys(started))
            + '.  Mark it @pytest.mark.slow: `pytest -m "not slow"` (the fast tier) '
            "must start no cluster, subprocess or Slurm job."
        )
        if report.passed:
            report.outcome, report.longrepr = "failed", message
        else:
            report.sections.append(("slow-tier guard", message))
    elif report.when == "setup" and started:
        _guard["started"] = started  # reported with the call (or teardown if setup failed)
    return report


#: The test files that took longest (seconds of test time in one whole run here, 2 cores,
#: 2026-12-07: 458, 209, 206, 104, 91, 83, 58, 48, 47), run first.  pytest-xdist hands
#: each worker a whole file when it is free (``--dist loadfile``), in collection order
#: (``--no-loadscope-reorder``: by default it starts the files with the most tests first,
#: and the two-node Slurm file, 13 tests and a quarter of the suite's time, went last
#: while the other worker sat idle: 902 s of wall time for 1598 s of tests).
LONGEST_FIRST = (
    "test_slurm_two_nodes.py",
    "test_mpi.py",
    "test_remote.py",
    "test_run_stacks.py",
    "test_memory.py",
    "test_faults.py",
    "test_slurm.py",
    "test_exact.py",
    "test_align.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files in order
