"""The project's own sbatch script on a real Slurm (CI starts one: .ci/slurm/start.sh)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mpi_helpers import needs_mpi
from slurm_helpers import sbatch_wait

from daskfft.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "slurm" / "daskfft.sbatch"
MULTINODE = ROOT / "slurm" / "daskfft-multinode.sbatch"


def _slurm_up():
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return False
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and any(s.startswith(("idle", "mix")) for s in proc.stdout.split())


pytestmark = [
    needs_mpi,
    pytest.mark.slow,
    # CI sets DASKFFT_REQUIRE_SLURM=1 after starting Slurm: there these tests never skip.
    pytest.mark.skipif(
        not os.environ.get("DASKFFT_REQUIRE_SLURM") and not _slurm_up(),
        reason="no Slurm answering: bash .ci/slurm/start.sh",
    ),
]

ARGS = ["--chunks", "128", "--filter", "butterworth", "--cutoff", "0.1"]


def _sbatch(tmp_path, launcher, ranks, *args, script=SCRIPT, extra=()):
    log = tmp_path / f"job-{launcher}.log"
    env = dict(
        os.environ,
        DASKFFT_LAUNCHER=launcher,
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )
    proc = sbatch_wait(
        [],
        [
            f"--ntasks={ranks}",
            "--time=3",
            f"--output={log}",
            f"--chdir={tmp_path}",
            *extra,
            str(script),
            *args,
        ],
        env=env,
    )
    return proc, log.read_text() if log.exists() else ""


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    path = tmp_path_factory.mktemp("input") / "city.png"
    assert main(["sample", "-o", str(path), "--size", "320", "-q"]) == 0
    return path


@pytest.fixture(scope="module")
def local_out(tmp_path_factory, city):
    out = tmp_path_factory.mktemp("local") / "out"
    assert main(["run", str(city), *ARGS, "-o", str(out), "--cluster", "threads", "-q"]) == 0
    return out


@pytest.mark.parametrize(("launcher", "ranks"), [("mpiexec", 3), ("srun", 4)])
def test_sbatch_script_runs_and_matches_local(tmp_path, city, local_out, launcher, ranks):
    out = tmp_path / "out"
    proc, log = _sbatch(tmp_path, launcher, ranks, str(city), str(out), *ARGS)
    assert proc.returncode == 0, proc.stderr + log
    assert "Traceback" not in log and "error" not in log.lower(), log
    assert f"{ranks} ranks, launcher {launcher}" in log
    assert "finished with exit status 0" in log and "dashboard: http" in log
    for name in ("filtered.png", "spectra.png"):
        assert (out / name).read_bytes() == (local_out / name).read_bytes(), name
    report = json.loads((out / "report.json").read_text())
    assert report["cluster"]["launcher"] == launcher
    assert report["cluster"]["ranks"] == ranks and report["cluster"]["workers"] == ranks - 1
    assert report["cluster"]["slurm_job_id"]


def test_multinode_script_on_one_node(tmp_path, city, local_out):
    out = tmp_path / "out"
    proc, log = _sbatch(
        tmp_path,
        "srun",
        3,
        str(city),
        str(out),
        *ARGS,
        script=MULTINODE,
        extra=("--nodes=1", "--ntasks-per-node=3"),
    )
    assert proc.returncode == 0, proc.stderr + log
    assert "Traceback" not in log and "(1 nodes), 3 ranks, launcher srun" in log
    assert (out / "filtered.png").read_bytes() == (local_out / "filtered.png").read_bytes()


def test_sbatch_script_fails_with_the_run(tmp_path):
    proc, log = _sbatch(tmp_path, "srun", 2, str(tmp_path / "missing.png"), str(tmp_path / "o"))
    assert proc.returncode != 0
    assert "daskfft: error: input" in log and "no such file" in log
    assert "Traceback" not in log
    assert not (tmp_path / "o").exists()


def _daskfft_jobs(within=30):
    """The daskfft worker jobs Slurm still knows of after ``within`` seconds: cancelled
    jobs pass through COMPLETING while Slurm ends them."""
    deadline = time.monotonic() + within
    while True:
        proc = subprocess.run(
            ["squeue", "-h", "--name", "daskfft-worker", "-o", "%i %T"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        jobs = proc.stdout.split("\n")[:-1]
        if not jobs or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def test_cluster_slurm_submits_the_workers_as_jobs_and_cancels_them(tmp_path, city, local_out):
    """--cluster slurm from a login node (here, this one): two worker jobs through
    dask-jobqueue, the bytes of threads, and no job nor credential left afterwards."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "daskfft", "run", str(city), *ARGS, "-o", str(out)]
        + ["--cluster", "slurm", "--workers", "2", "--memory", "1GiB", "--walltime", "00:05:00"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (
        "2 worker job(s) submitted" in proc.stderr and "cancelled when the run ends" in proc.stderr
    )
    for name in ("filtered.png", "spectra.png"):
        assert (out / name).read_bytes() == (local_out / name).read_bytes(), name
    cluster = json.loads((out / "report.json").read_text())["cluster"]
    assert cluster["kind"] == "slurm" and cluster["workers"] >= 1 and cluster["tls"] is True
    assert cluster["job_options"] == {"cores": 1, "memory": "1GiB", "walltime": "00:05:00"}
    assert _daskfft_jobs() == []
    assert sorted(os.listdir(tmp_path)) == ["out"]  # the credentials' folder is gone


def test_cluster_slurm_listens_only_where_it_must(tmp_path, monkeypatch):
    """The jobs' workers and this scheduler: TLS comms; dashboards and health pages on
    127.0.0.1 only."""
    import psutil

    from daskfft.cluster.kinds import ClusterSpec, open_cluster

    def listening():
        return sorted(
            (c.laddr.ip, c.laddr.port)
            for c in psutil.Process().net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        )

    monkeypatch.chdir(tmp_path)
    spec = ClusterSpec("slurm", workers=1, slurm={"memory": "1GiB"})
    with open_cluster(spec) as cl:
        client = cl.client
        assert client.scheduler.address.startswith("tls://")
        http = client.scheduler_info()["services"]["dashboard"]
        assert ("127.0.0.1", http) in listening()
        (worker,) = client.run(lambda dask_worker: dask_worker.http_server.port).items()
        address, port = worker
        assert address.startswith("tls://")
        (sockets,) = client.run(listening).values()
        assert ("127.0.0.1", port) in [tuple(s) for s in sockets]
        comm = int(address.rsplit(":", 1)[1])
        assert {tuple(s)[1] for s in sockets} == {comm, port}
    assert _daskfft_jobs() == []


def test_worker_jobs_that_end_at_once_are_one_line_and_keep_their_logs(tmp_path):
    """A worker that cannot start on its node (no such interface) ends its job: the run
    says so in one line within seconds, instead of waiting for ever, and keeps the logs."""
    proc = subprocess.run(
        [sys.executable, "-m", "daskfft", "run", "--sample", "256", "-o", str(tmp_path / "o")]
        + ["--cluster", "slurm", "--memory", "1GiB", "--interface", "nosuch0"]
        + ["--scheduler-interface", "lo", "-q"],  # the scheduler here, on loopback
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "ended before any worker connected" in proc.stderr
    (logs,) = [p for p in tmp_path.iterdir() if p.name.startswith(".daskfft-slurm-")]
    assert str(logs) in proc.stderr
    assert "nosuch0" in "".join(p.read_text() for p in logs.glob("*.err"))
    assert not [p for p in logs.iterdir() if ".dask-jobqueue.worker." in p.name]  # no keys
    assert _daskfft_jobs() == []
