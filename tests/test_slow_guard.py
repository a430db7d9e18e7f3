"""The slow tier's guard (tests/conftest.py): a test not marked slow that starts a cluster or
a subprocess fails, naming what it started; one marked slow passes."""

import subprocess
from pathlib import Path

import pytest

INNER = """
import multiprocessing
import os
import subprocess

import pytest


def test_unmarked_subprocess():
    subprocess.run(["true"], check=True)


@pytest.mark.slow
def test_marked_subprocess():
    subprocess.run(["true"], check=True)


def test_unmarked_starts_nothing():
    assert sum(range(4)) == 6


def test_unmarked_multiprocessing():
    p = multiprocessing.get_context("spawn").Process(target=os.getpid, name="child-17")
    p.start()
    p.join()


def test_unmarked_cluster():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert client.submit(sum, [1, 2]).result() == 3


@pytest.mark.slow
def test_marked_cluster():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert client.submit(sum, [1, 2]).result() == 3


@pytest.fixture
def started_in_a_fixture():
    subprocess.run(["echo", "from-the-fixture"], check=True, stdout=subprocess.DEVNULL)


def test_unmarked_fixture_starts(started_in_a_fixture):
    pass
"""


@pytest.mark.slow
def test_guard_fails_unmarked_tests_that_start_processes_or_clusters(pytester, monkeypatch):
    monkeypatch.delenv("DASKFFT_SLOW_GUARD", raising=False)
    pytester.makeini("[pytest]\nmarkers =\n    slow: runs a real cluster or a subprocess\n")
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=3, failed=4)
    passed = {line.split()[1] for line in result.outlines if line.startswith("PASSED ")}
    assert passed == {
        f"test_inner.py::{name}"
        for name in (
            "test_marked_subprocess",
            "test_unmarked_starts_nothing",
            "test_marked_cluster",
        )
    }
    out = result.stdout.str()
    why = "is not marked slow but started"
    assert f"test_inner.py::test_unmarked_subprocess {why} a subprocess: true." in out
    assert (
        f"test_inner.py::test_unmarked_multiprocessing {why} a process (multiprocessing: "
        "child-17)" in out
    )
    assert (
        f"test_inner.py::test_unmarked_cluster {why} a cluster (LocalCluster, a "
        "distributed.SpecCluster)"
    ) in out
    assert (
        f"test_inner.py::test_unmarked_fixture_starts {why} a subprocess: echo "
        "from-the-fixture" in out
    )
    assert "Mark it @pytest.mark.slow" in out


def test_guard_is_installed():
    """The fast tier itself checks the guard is on (DASKFFT_SLOW_GUARD=off turns it off)."""
    assert hasattr(subprocess.Popen._execute_child, "__wrapped__")
