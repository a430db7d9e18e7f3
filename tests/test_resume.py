"""Kill a real run halfway (SIGKILL of its whole process group), then --resume it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from daskfft.cli import main
from daskfft.run.workdir import WorkDir


def partial_dir(outdir):
    return WorkDir(outdir).root


pytestmark = pytest.mark.slow

ARGS = [
    "--sample",
    "1800",
    "--chunks",
    "128",
    "--filter",
    "butterworth",
    "--cutoff",
    "0.1",
    "--spectra",
    "all",
    "--cluster",
    "threads",
    "-q",
]
TOTAL = 14 * 14  # 1800 = 14 x 128 + 8: the 8 px remainder joins the last chunk (halo 62)


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """An OUTDIR whose run was SIGKILLed with some, not all, chunks done."""
    base = tmp_path_factory.mktemp("resume")
    out = base / "out"
    log = open(base / "run.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskfft", "run", *ARGS, "-o", str(out)],
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    done_dir = partial_dir(out) / "done"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            n = len(os.listdir(done_dir)) if done_dir.is_dir() else 0
            if n >= TOTAL // 4:
                break
            assert proc.poll() is None, (base / "run.log").read_text()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        log.close()
    done = len(os.listdir(done_dir))
    assert 0 < done < TOTAL, done
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "out"
    assert main(["run", *ARGS, "-o", str(out)]) == 0
    return out


def test_a_killed_run_leaves_no_output_names(killed):
    assert os.listdir(killed) == [".daskfft-work"]  # final names: nothing, or complete files
    assert (partial_dir(killed) / "run.json").exists()


def test_rerun_without_resume_is_refused(killed, capsys):
    assert main(["run", *ARGS, "-o", str(killed)]) == 1
    err = capsys.readouterr().err
    assert "interrupted run left" in err and "--resume" in err


def test_resume_with_other_parameters_is_refused(killed, capsys):
    args = [a if a != "0.1" else "0.2" for a in ARGS]
    assert main(["run", *args, "-o", str(killed), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "params.cutoff: 0.1 then, 0.2 now" in err
    assert "chunks kept" not in err  # a refusal is not a failure of the run
    assert main(["run", *ARGS, "--chunks", "256", "-o", str(killed), "--resume"]) == 1
    assert "params.chunks" in capsys.readouterr().err


def test_resume_finishes_byte_identical_computing_only_missing_chunks(killed, uninterrupted):
    done_before = len(os.listdir(partial_dir(killed) / "done"))
    assert main(["run", *ARGS, "-o", str(killed), "--resume"]) == 0
    report = json.loads((killed / "report.json").read_text())
    assert report["chunks"]["resumed"] == done_before
    assert report["chunks"]["computed"] == TOTAL - done_before
    for name in ["filtered.png", "sample.png", "spectra.png"]:
        assert (killed / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    tiles = sorted(os.listdir(killed / "spectra"))
    assert len(tiles) == TOTAL and tiles == sorted(os.listdir(uninterrupted / "spectra"))
    assert not partial_dir(killed).exists()
    assert sorted(os.listdir(killed)) == sorted(os.listdir(uninterrupted))


def test_resume_of_a_finished_run_does_nothing_and_succeeds(killed, uninterrupted, capsys):
    """A job that finished just before its time limit: the continuation (--resume) exits 0."""
    if partial_dir(killed).exists():  # the test above, which finishes it, did not run
        assert main(["run", *ARGS, "-o", str(killed), "--resume"]) == 0
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in killed.iterdir()}
    assert main(["run", *ARGS[:-1], "-o", str(killed), "--resume"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already complete, with the same input and parameters" in err
    assert {p.name: p.stat().st_mtime_ns for p in killed.iterdir()} == before  # nothing written
    # Other parameters, or no --resume: the outputs are someone else's, as before.
    args = [a if a != "0.1" else "0.2" for a in ARGS]
    assert main(["run", *args, "-o", str(killed), "--resume"]) == 1
    assert main(["run", *ARGS, "-o", str(killed)]) == 1
    assert "already there; pass --overwrite" in capsys.readouterr().err
