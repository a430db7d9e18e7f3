"""Tasks cancelled by the cluster (a scheduler restarted under ``--cluster ADDRESS``) are a
failed run, one line and exit 1, never reported as a bug."""

import threading

import pytest
from distributed.client import FutureCancelledError

from daskfft.cli.errors import expected as _expected
from daskfft.cluster.kinds import Cluster
from daskfft.errors import RunError
from daskfft.run.graph import compute


class _RestartedClient:
    """A client whose scheduler restarted while the run waited: gather raises."""

    def __init__(self):
        self.cancelled = False

    def compute(self, arrays):
        return []

    def cancel(self, futures):
        self.cancelled = True

    def gather(self, futures):
        raise FutureCancelledError("('lowpass', 0, 0)", "scheduler-restart")


def test_tasks_cancelled_by_the_cluster_are_a_run_error_not_a_bug(monkeypatch):
    import daskfft.run.graph

    monkeypatch.setattr(daskfft.run.graph, "_wait", lambda futures: None)  # done: gather raises
    client = _RestartedClient()
    with pytest.raises(
        RunError,
        match=r"^the cluster cancelled the run's tasks \(.*"
        r"scheduler-restart\.\): its scheduler restarted",
    ) as caught:
        compute(Cluster("address", client=client), [])
    assert client.cancelled and _expected(caught.value)
    assert _expected(FutureCancelledError("k", "scheduler-restart"))  # met anywhere else


_RELEASE = threading.Event()


def _held(i):
    """A task that runs until the test releases it."""
    return _RELEASE.wait(60)


@pytest.mark.slow
def test_waiting_on_a_clusters_futures_leaves_no_coroutine_behind_at_each_look():
    """The run looks at its futures every STOP_POLL seconds; distributed.wait with a timeout
    left a waiting coroutine per pending future at each look, and the largest process grew
    with the tasks times the time (2.3 GB at a 1024 x 4096^2 volume's end)."""
    import asyncio
    import time

    from distributed import Client

    from daskfft.run.graph import STOP_POLL, _wait

    _RELEASE.clear()
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        futures = c.map(_held, range(20), pure=False)
        loop = c.loop.asyncio_loop
        before = len(asyncio.all_tasks(loop))
        waiter = threading.Thread(target=_wait, args=(futures,))
        waiter.start()
        time.sleep(8 * STOP_POLL)  # eight looks, 19 or 20 futures pending at each
        grown = len(asyncio.all_tasks(loop)) - before
        _RELEASE.set()
        waiter.join(timeout=30)
        assert not waiter.is_alive() and all(f.done() for f in futures)
    assert grown < 10, grown
