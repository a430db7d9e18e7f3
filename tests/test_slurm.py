"""The project's own sbatch script on a real Slurm (CI starts one: .ci/slurm/start.sh)."""

import json
import os
import shutil
import subprocess
import sys
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
