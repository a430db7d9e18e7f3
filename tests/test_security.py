"""Nobody without the run's credentials can connect to its cluster and run code."""

import numpy as np
import pytest
from distributed import Client
from outsider import outsider_security, refused

from daskfft.cluster.kinds import ClusterSpec, open_cluster

pytestmark = pytest.mark.slow


def test_the_default_local_cluster_listens_on_no_network_port():
    import urllib.request

    with open_cluster(ClusterSpec("local")) as cl:
        assert cl.dashboard.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(cl.dashboard, timeout=10) as page:  # the dashboard, only
            assert page.status == 200
        assert cl.client.scheduler.address.startswith("inproc://")
        workers = cl.client.scheduler_info()["workers"]
        assert workers and all(w.startswith("inproc://") for w in workers)
        assert cl.describe()["transport"] == "inproc"


def _listening():
    import psutil

    return {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process().net_connections("inet")
        if c.status == psutil.CONN_LISTEN
    }


@pytest.mark.parametrize(
    ("kind", "dashboard"), [("local", True), ("local", False), ("processes", False)]
)
def test_what_this_process_listens_on_is_the_loopback_only(kind, dashboard):
    """The HTTP servers too (health, metrics), served with or without the dashboard: an
    in-process worker's listened on every interface, a scheduler's without the dashboard
    on dask's fixed port 8787."""
    before = _listening()
    with open_cluster(
        ClusterSpec(kind, workers=1, threads_per_worker=1, dashboard=dashboard)
    ) as cl:
        opened = _listening() - before
        assert cl.client.submit(np.add, 1, 2).result(timeout=30) == 3
    assert opened and {a for a, _ in opened} == {"127.0.0.1"}, opened
    if dashboard:
        assert ("127.0.0.1", int(cl.dashboard.split(":")[2].split("/")[0])) in opened
    assert not any(p == 8787 for _, p in opened)


def test_worker_processes_refuse_clients_without_the_runs_credentials(tmp_path):
    spec = ClusterSpec("processes", workers=1, threads_per_worker=1, dashboard=False)
    with open_cluster(spec) as cl:
        address = cl.client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        # The run's own credentials work (so the refusals below are the scheduler's doing).
        with Client(address, security=cl.client.security, timeout="10s") as friend:
            assert friend.submit(np.add, 1, 2).result(timeout=30) == 3
        outsider = outsider_security(address, tmp_path)
        # The outsider trusts the server: with the run's client key it would be let in ...
        run_key = cl.client.security
        insider = type(outsider)(
            tls_ca_file=outsider.tls_ca_file,
            tls_client_cert=run_key.tls_client_cert,
            tls_client_key=run_key.tls_client_key,
            require_encryption=True,
        )
        assert not refused(address, insider)
        # ... so its refusal with a key of its own is the scheduler's.
        assert refused(address, outsider)
        assert refused(address.replace("tls://", "tcp://"), None)


def test_no_tls_is_plain_tcp_when_asked_and_says_who_can_connect(caplog):
    spec = ClusterSpec("processes", workers=1, threads_per_worker=1, dashboard=False, tls=False)
    with caplog.at_level("WARNING", logger="daskfft"), open_cluster(spec) as cl:
        assert cl.client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert cl.describe()["tls"] is False
        who = cl.describe()["who_can_connect"]
    assert who == "any user logged in to this machine (a shared login node's too)"
    said = [r.getMessage() for r in caplog.records if "--no-tls" in r.getMessage()]
    assert len(said) == 1 and f"on 127.0.0.1: {who} can connect and run code as you" in said[0]


def test_help_says_who_can_connect_with_no_tls(capsys):
    from daskfft.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "open to every user logged in to that machine (a shared login node's too)" in text
    assert (
        "an MPI job across nodes on each node's own interface, open to anyone on that "
        "network" in text
    )


def test_plain_tcp_under_mpi_listens_on_the_jobs_own_interface():
    """Across nodes (no second node here: the choice itself), on the interface holding the
    node's address; where its name resolves to the loopback, on every one, and said so."""
    import socket

    import psutil

    from daskfft.cluster.mpi import plain_tcp_interface

    host = socket.gethostname()
    assert plain_tcp_interface(True) == (
        next(
            n for n, a in psutil.net_if_addrs().items() if any(x.address == "127.0.0.1" for x in a)
        ),
        "127.0.0.1",
        f"any user logged in to {host}, the job's one node",
    )
    routable = [
        (n, x.address)
        for n, a in psutil.net_if_addrs().items()
        for x in a
        if x.family == socket.AF_INET and not x.address.startswith("127.")
    ]
    for name, address in routable:
        assert plain_tcp_interface(False, address) == (
            name,
            address,
            f"anyone who can reach {address} ({host}) on that network",
        )
    name, address, who = plain_tcp_interface(False, "127.0.1.1")
    assert (name, address) == (None, "0.0.0.0") and "no interface of its own holds 127.0.1.1" in who


def _held_port(port):
    """A socket holding loopback ``port`` (None where someone else already holds it)."""
    import socket

    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
    except OSError:
        s.close()
        return None
    return s


@pytest.mark.parametrize(
    "kind, dashboard",
    [("local", False), ("local", True), ("processes", False), ("processes", True)],
)
def test_the_schedulers_http_server_is_on_a_free_loopback_port_only(kind, dashboard):
    """distributed serves HTTP even without the dashboard: on every interface for
    "local" and on the fixed port 8787 (a warning, and a stray line on stderr, where
    that port is taken) for "processes", before this was fixed."""
    import urllib.error
    import urllib.request

    from distributed.comm.utils import get_tcp_server_addresses

    held = _held_port(8787)  # taken, by us or by anyone: the cluster must not want it
    try:
        spec = ClusterSpec(kind, workers=1, threads_per_worker=1, dashboard=dashboard)
        with open_cluster(spec) as cl:
            server = cl.client.cluster.scheduler.http_server
            addresses = get_tcp_server_addresses(server)
            assert addresses and all(
                host == "127.0.0.1" and port != 8787 for host, port, *_ in addresses
            )
            status = f"http://127.0.0.1:{addresses[0][1]}/status"
            try:
                with urllib.request.urlopen(status, timeout=10) as page:
                    shown = page.status == 200
            except urllib.error.HTTPError as exc:
                shown = exc.code != 404
            assert shown == dashboard
    finally:
        if held is not None:
            held.close()
