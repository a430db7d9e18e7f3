"""The multi-node sbatch script across two Slurm nodes (CI starts them: .ci/slurm/two-nodes.sh).

Each node is a slurmd in its own network, UTS and mount namespace, with its own hostname and
address on a bridge that the script made; all traffic stays inside those namespaces.
"""

import datetime
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mpi_helpers import needs_mpi
from slurm_helpers import sbatch_wait

from daskfft.cli import main

ROOT = Path(__file__).resolve().parents[1]
TWO_NODES = ROOT / ".ci" / "slurm" / "two-nodes.sh"
MULTINODE = ROOT / "slurm" / "daskfft-multinode.sbatch"
ARGS = ["--chunks", "128", "--filter", "butterworth", "--cutoff", "0.1"]


def _two_nodes_up():
    try:
        proc = subprocess.run(
            ["bash", str(TWO_NODES), "run", "sinfo", "-h", "-N", "-o", "%t"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.split().count("idle") == 2


pytestmark = [
    needs_mpi,
    pytest.mark.slow,
    # CI sets DASKFFT_REQUIRE_SLURM=1 after starting both Slurms: there these never skip.
    pytest.mark.skipif(
        not os.environ.get("DASKFFT_REQUIRE_SLURM") and not _two_nodes_up(),
        reason="no two-node Slurm: bash .ci/slurm/two-nodes.sh start (root)",
    ),
]


@pytest.mark.parametrize("launcher", ["mpiexec", "srun"])
def test_multinode_script_runs_across_two_nodes(tmp_path, launcher):
    city = tmp_path / "city.png"
    assert main(["sample", "-o", str(city), "--size", "320", "-q"]) == 0
    local = tmp_path / "local"
    assert (
        main(
            [
                "run",
                str(city),
                *ARGS,
                "-o",
                str(local),
                "--cluster",
                "local",
                "-q",
                "--no-dashboard",
            ]
        )
        == 0
    )
    env = dict(
        os.environ,
        DASKFFT_LAUNCHER=launcher,
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )
    env.pop("MPIR_CVAR_CH4_NETMOD", None)
    # srun --mpi=pmi2 with PyPI's MPICH failed MPI_Init in 1 to 2 of 3 such jobs before daskfft
    # chose its OFI netmod: three jobs make a regression show.
    for attempt in range(3 if launcher == "srun" else 1):
        out, log = tmp_path / f"out{attempt}", tmp_path / f"job{attempt}.log"
        proc = sbatch_wait(
            ["bash", str(TWO_NODES), "run"],
            [
                "--nodes=2",
                "--ntasks-per-node=2",
                "--time=3",
                f"--output={log}",
                f"--chdir={tmp_path}",
                str(MULTINODE),
                str(city),
                str(out),
                *ARGS,
            ],
            env=env,
        )
        text = log.read_text() if log.exists() else ""
        assert proc.returncode == 0, f"job {attempt}: " + proc.stderr + text
        assert "Traceback" not in _without_gc_diagnosis(text), text
        assert f"(2 nodes), 4 ranks, launcher {launcher}" in text, text
        report = json.loads((out / "report.json").read_text())
        cluster = report["cluster"]
        assert cluster["launcher"] == launcher
        assert cluster["worker_hosts"] == ["dfnode1", "dfnode2"]
        assert cluster["scheduler_node"] == "dfnode1"
        assert cluster["mpi_netmod"] == ("ofi" if launcher == "srun" else None)
        for name in ("filtered.png", "spectra.png"):
            assert (out / name).read_bytes() == (local / name).read_bytes(), name


# --- Faults under Slurm: the time limit, a killed rank --------------------------------------

SIZE = 2048  # with BIG, 256 chunks: a run of several seconds on 3 workers here
BIG = ["--chunks", "128"]


def _slurm(*args, **kwargs):
    return subprocess.run(
        ["bash", str(TWO_NODES), "run", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def _gone(job):
    return not _slurm("squeue", "-h", "-j", job).stdout.strip()


def _wait_gone(job, limit):
    # Each look is a bash, an nsenter, an squeue and slurmctld's answer: twice a second.
    t0 = time.monotonic()
    while not _gone(job):
        assert time.monotonic() - t0 < limit, f"job {job} still there after {limit} s"
        time.sleep(0.5)


def _ranks(out):
    """{MPI rank: PID} of the run writing into ``out`` (PMI_RANK, from srun or Hydra)."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        rank = [v.split(b"=", 1)[1] for v in env if v.startswith(b"PMI_RANK=")]
        if str(out).encode() in argv and rank and b"python" in os.path.basename(argv[0]):
            found[int(rank[0])] = int(pid)
    return found


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A SIZE^2 image and its LocalCluster outputs."""
    base = tmp_path_factory.mktemp("limit")
    city = base / "city.png"
    assert main(["sample", "-o", str(city), "--size", str(SIZE), "-q"]) == 0
    assert (
        main(
            [
                "run",
                str(city),
                *BIG,
                "-o",
                str(base / "local"),
                "--cluster",
                "local",
                "-q",
                "--no-dashboard",
            ]
        )
        == 0
    )
    return city, base / "local"


def _job_and_continuation(tmp_path, city, launcher, script=MULTINODE):
    """Submit the run and, as the scripts' header shows, its continuation with --resume
    (--dependency=afternotok); return both job ids once the run has 5 chunks done."""
    env = dict(
        os.environ,
        DASKFFT_LAUNCHER=launcher,
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )
    out = tmp_path / "out"
    common = ["--parsable", "--nodes=2", "--ntasks-per-node=2", "--time=5", f"--chdir={tmp_path}"]
    first = _slurm(
        "sbatch", *common, f"--output={tmp_path}/first.log", script, city, out, *BIG, env=env
    ).stdout.strip()
    second = _slurm(
        "sbatch",
        *common,
        f"--output={tmp_path}/second.log",
        f"--dependency=afternotok:{first}",
        "--kill-on-invalid-dep=yes",
        script,
        city,
        out,
        *BIG,
        "--resume",
        env=env,
    ).stdout.strip()
    assert first.isdigit() and second.isdigit(), (first, second)
    done = out / ".daskfft-work" / "done"
    deadline = time.monotonic() + 120
    for look in itertools.count():
        if done.is_dir() and len(os.listdir(done)) >= 5:
            return out, first, second
        gone = look % 5 == 4 and _gone(first)  # squeue twice a second, the folder ten times
        assert time.monotonic() < deadline and not gone, (tmp_path / "first.log").read_text()
        time.sleep(0.1)


def _continuation_finishes(tmp_path, out, second, local, kept, *, lock_left=False):
    _wait_gone(second, 180)
    log = (tmp_path / "second.log").read_text()
    assert "finished with exit status 0" in log, log
    assert ("took over the lock" in log) == lock_left, log  # only a killed rank 0 leaves it
    report = json.loads((out / "report.json").read_text())
    assert report["chunks"]["resumed"] + report["chunks"]["computed"] == 256
    assert report["chunks"]["resumed"] >= kept
    for name in ("filtered.png", "spectra.png"):
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    return log


@pytest.mark.parametrize("launcher", ["srun", "mpiexec"])
@pytest.mark.parametrize("how", ["time limit", "warning signal"])
def test_time_limit_keeps_the_chunks_and_the_dependent_job_finishes(tmp_path, big, launcher, how):
    """The time limit: SIGTERM to every process of the job, SIGKILL KillWait (30 s, Slurm's
    default) later.  The warning: the script's own --signal=B:TERM@60, SIGTERM to the batch
    shell alone, which passes it on (sent here as Slurm sends it, with scancel --batch, not
    60 s before a limit).  Then the continuation that the scripts' header shows,
    --dependency=afternotok + --resume."""
    city, local = big
    script = MULTINODE
    if how == "time limit":  # the limit itself, without the warning before it
        script = tmp_path / "limit.sbatch"
        script.write_text(re.sub(r"(?m)^#SBATCH --signal=.*\n", "", MULTINODE.read_text()))
        assert "--signal" not in script.read_text().split("set -uo")[0]
    out, first, second = _job_and_continuation(tmp_path, city, launcher, script)
    t0 = time.monotonic()
    if how == "time limit":
        # slurmctld enforces limits every 30 s: the worker ranks are stopped (SIGSTOP) to hold
        # the run mid-way until then; Slurm sends SIGCONT before SIGTERM, as to any step.
        workers = [pid for rank, pid in _ranks(out).items() if rank > 0]
        assert len(workers) == 3, _ranks(out)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        assert _slurm("scontrol", "update", f"JobId={first}", "TimeLimit=0").returncode == 0
    else:
        assert _slurm("scancel", "--batch", "--signal=TERM", first).returncode == 0
    _wait_gone(first, 60)
    seconds, ended = time.monotonic() - t0, time.time()
    log = (tmp_path / "first.log").read_text()
    if how == "time limit":  # from Slurm's SIGTERM, which its log line dates to the second
        at = re.search(r"JOB \d+ ON \S+ CANCELLED AT (\S+) DUE TO TIME LIMIT", log).group(1)
        seconds = ended - datetime.datetime.fromisoformat(at).timestamp()
    print(f"{how}, {launcher}: the job ended {seconds:.1f} s after SIGTERM")
    state = _slurm("scontrol", "show", "job", first).stdout
    assert ("JobState=TIMEOUT" if how == "time limit" else "JobState=FAILED") in state, state
    said = [line for line in log.splitlines() if line.startswith("daskfft: terminated")]
    assert len(said) == 1 and "Traceback" not in _without_gc_diagnosis(log), log
    kept = int(
        re.search(
            r"SIGTERM \(a job's time limit, scancel or kill\); (\d+) of 256 "
            r"chunks kept in .*; rerun with --resume",
            said[0],
        ).group(1)
    )
    assert 5 <= kept < 256
    assert "finished with exit status 143" in log, log
    _continuation_finishes(tmp_path, out, second, local, kept)


@pytest.mark.parametrize(
    "launcher, victim", [("srun", 0), ("srun", 2), ("mpiexec", 0), ("mpiexec", 2)]
)
def test_a_killed_rank_costs_a_continuation_not_the_work(tmp_path, big, launcher, victim):
    """SIGKILL of rank 0 (scheduler and client) or of rank 2 (a worker on the second node).
    srun: a lost worker's tasks go to the others and the run finishes (srun still fails the
    job, so the continuation finds the outputs complete); a lost rank 0 ends the step.
    mpiexec: Hydra ends the job when any rank dies.  Either way --resume finishes."""
    city, local = big
    out, first, second = _job_and_continuation(tmp_path, city, launcher)
    ranks = _ranks(out)
    assert sorted(ranks) == [0, 1, 2, 3], ranks
    t0 = time.monotonic()
    os.kill(ranks[victim], signal.SIGKILL)
    _wait_gone(first, 60)
    seconds = time.monotonic() - t0
    log = (tmp_path / "first.log").read_text()
    finished = "daskfft: wrote " in log
    print(
        f"SIGKILL of rank {victim}, {launcher}: the job ended {seconds:.1f} s after it, "
        f"{'the run finished' if finished else 'the run ended'}"
    )
    assert finished == (launcher == "srun" and victim != 0), log
    assert "finished with exit status 0" not in log, log
    assert "Traceback" not in _without_gc_diagnosis(log), log
    kept = 0 if finished else len(os.listdir(out / ".daskfft-work" / "done"))
    assert finished or kept >= 5
    log2 = _continuation_finishes(
        tmp_path, out, second, local, kept, lock_left=victim == 0 or not finished
    )
    assert ("already complete" in log2) == finished, log2


_GC_DIAGNOSIS = re.compile(
    r"Exception ignored in: <(?:function|bound method) GCDiagnosis\._gc_callback[^\n]*\n"
    r"Traceback \(most recent call last\):\n(?:[ \t][^\n]*\n)*[^\n]*\n?"
)


def _without_gc_diagnosis(log):
    """``log`` less what distributed's GC diagnosis (a ``gc.callbacks`` hook in every worker
    and scheduler) prints when a full collection starts deep in a stack and its own
    ``psutil`` call overflows it: "Exception ignored", a RecursionError that does not reach
    the run (CI saw it with the link down, and in a plain two-node job)."""
    return _GC_DIAGNOSIS.sub("", log)


@pytest.mark.parametrize("launcher", ["srun", "mpiexec"])
def test_a_node_link_down_for_20_s_the_run_survives(tmp_path, big, launcher):
    """The second node's link to the bridge goes down for 20 s mid-run, then up: Dask's
    connections outlive it (their TCP timeout is 30 s), the run finishes byte-identical."""
    city, local = big
    out, first, second = _job_and_continuation(tmp_path, city, launcher)
    t0 = time.monotonic()
    try:
        assert subprocess.run(["bash", str(TWO_NODES), "link", "dfnode2", "down"]).returncode == 0
        assert len(os.listdir(out / ".daskfft-work" / "done")) < 256  # mid-run
        time.sleep(20)
    finally:
        assert subprocess.run(["bash", str(TWO_NODES), "link", "dfnode2", "up"]).returncode == 0
    _wait_gone(first, 120)
    print(
        f"link down 20 s, {launcher}: the job ended {time.monotonic() - t0:.1f} s after "
        "the link went down"
    )
    log = _without_gc_diagnosis((tmp_path / "first.log").read_text())
    assert "finished with exit status 0" in log and "Traceback" not in log, log
    assert "JobState=COMPLETED" in _slurm("scontrol", "show", "job", first).stdout
    report = json.loads((out / "report.json").read_text())
    assert report["cluster"]["worker_hosts"] == ["dfnode1", "dfnode2"]
    assert report["chunks"]["computed"] == 256
    for name in ("filtered.png", "spectra.png"):
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    _wait_gone(second, 30)  # the continuation is never started (afternotok on a success)
    assert not (tmp_path / "second.log").exists()


def test_cluster_slurm_from_the_login_node_puts_a_worker_job_on_each_node(tmp_path):
    """--cluster slurm run on the controller's namespace (the login node, on the bridge as
    br0): a worker job of 4 cores on each node of 4 CPUs, TLS, the bytes of a local run, no
    job left."""
    city = tmp_path / "city.png"
    assert main(["sample", "-o", str(city), "--size", "320", "-q"]) == 0
    local = tmp_path / "local"
    assert main(["run", str(city), *ARGS, "-o", str(local), "--cluster", "threads", "-q"]) == 0
    out = tmp_path / "out"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run(
        ["bash", str(TWO_NODES), "run", sys.executable, "-m", "daskfft", "run", str(city)]
        + [*ARGS, "-o", str(out), "--cluster", "slurm", "--workers", "2", "--memory", "1GiB"]
        + ["--threads-per-worker", "4", "--scheduler-interface", "br0"],  # a node's 4 CPUs
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in _without_gc_diagnosis(proc.stderr), proc.stderr
    cluster = json.loads((out / "report.json").read_text())["cluster"]
    assert cluster["kind"] == "slurm" and cluster["transport"] == "tls"
    assert cluster["worker_hosts"] == ["dfnode1", "dfnode2"]
    assert cluster["scheduler_interface"] == "br0"
    for name in ("filtered.png", "spectra.png"):
        assert (out / name).read_bytes() == (local / name).read_bytes(), name
    deadline = time.monotonic() + 30
    while True:
        jobs = subprocess.run(
            ["bash", str(TWO_NODES), "run", "squeue", "-h", "--name", "daskfft-worker"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split()
        if not jobs or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert jobs == []
    assert sorted(os.listdir(tmp_path)) == ["city.png", "local", "out"]
