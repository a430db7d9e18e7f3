"""Tasks cancelled by the cluster (a scheduler restarted under ``--cluster ADDRESS``) are a
failed run, one line and exit 1, never reported as a bug."""

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
