"""Interruptions, busy ports, dead schedulers, odd output folders, and choices said aloud."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
from reference import make_image

from daskfft.cli import main
from daskfft.run.workdir import WORK_NAME


def _daskfft(*args):
    return [sys.executable, "-m", "daskfft", *map(str, args)]


@pytest.mark.slow
def test_ctrl_c_on_a_local_cluster_prints_one_line_and_resume_finishes(tmp_path):
    out = tmp_path / "o"
    args = [
        "run",
        "--sample",
        "2500",
        "--chunks",
        "256",
        "--cluster",
        "processes",
        "--workers",
        "2",
        "--threads-per-worker",
        "1",
        "--no-dashboard",
        "-q",
    ]
    # A terminal's Ctrl-C: SIGINT to the whole process group, workers included.
    proc = subprocess.Popen(
        _daskfft(*args, "-o", out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    done = out / WORK_NAME / "done"
    deadline = time.monotonic() + 120
    while not (done.is_dir() and len(os.listdir(done)) >= 5):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "interrupted;" in lines[0] and "of 100 chunks kept" in lines[0]
    assert "rerun with --resume" in lines[0]
    resumed = subprocess.run(
        _daskfft(*args, "-o", out, "--resume"), capture_output=True, text=True, timeout=240
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["chunks"]["resumed"] >= 5 and report["chunks"]["computed"] >= 1
    assert report["chunks"]["resumed"] + report["chunks"]["computed"] == 100


@pytest.mark.slow
@pytest.mark.parametrize("cluster", ["threads", "processes"])
def test_sigterm_as_a_time_limit_sends_it_keeps_chunks_in_one_line(tmp_path, cluster):
    """SIGTERM to the process group (Slurm's time limit, scancel): one line with the chunks
    kept, exit status 143 (128 + 15), and --resume finishes byte-identical."""
    args = [
        "run",
        "--sample",
        "2500",
        "--chunks",
        "256",
        "--cluster",
        cluster,
        "--no-plots",
        "--no-dashboard",
        "-q",
    ]
    reference = tmp_path / "reference"
    assert subprocess.run(_daskfft(*args, "-o", reference)).returncode == 0
    out = tmp_path / "o"
    proc = subprocess.Popen(
        _daskfft(*args, "-o", out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    done = out / WORK_NAME / "done"
    deadline = time.monotonic() + 120
    while not (done.is_dir() and len(os.listdir(done)) >= 5):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    seconds = time.monotonic() - t0
    print(f"SIGTERM, {cluster}: exited {seconds:.1f} s after the signal")
    assert proc.returncode == 143 and seconds < 60
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("daskfft: terminated by SIGTERM (a job's time limit")
    assert "of 100 chunks kept" in lines[0] and "rerun with --resume" in lines[0]
    resumed = subprocess.run(
        _daskfft(*args, "-o", out, "--resume"), capture_output=True, text=True, timeout=240
    )
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "filtered.png").read_bytes() == (reference / "filtered.png").read_bytes()


@pytest.mark.slow
def test_a_taken_dashboard_port_is_quiet_and_the_url_printed(tmp_path):
    """Whoever holds 8787 (this test, or anything else on the machine), the run says nothing."""
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 8787))
        blocker.listen()
    except OSError:
        pass  # already taken: the same situation
    try:
        proc = subprocess.run(
            _daskfft(
                "run",
                "--sample",
                "200",
                "-o",
                tmp_path / "o",
                "--workers",
                "1",
                "--cluster",
                "local",
            ),
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        blocker.close()
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "already in use" not in proc.stderr, proc.stderr
    url = [line for line in proc.stderr.splitlines() if "dashboard: http://127.0.0.1:" in line]
    assert len(url) == 1 and ":8787/" not in url[0]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["cluster"]["dashboard"].startswith("http://127.0.0.1:")


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "limit"), [([], 10.0), (["--connect-timeout", "2"], 4.0)])
def test_no_scheduler_at_the_address_fails_within_the_timeout(tmp_path, capsys, extra, limit):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    png = tmp_path / "in.png"
    import imageio.v3 as iio

    iio.imwrite(png, make_image((32, 32), np.uint8))
    t0 = time.monotonic()
    assert (
        main(["run", str(png), "-o", str(tmp_path / "o"), "--cluster", address, "-q", *extra]) == 1
    )
    assert time.monotonic() - t0 <= limit
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cluster {address}: no scheduler answered" in err
    assert "--connect-timeout" in err and not (tmp_path / "o").exists()


def test_sample_file_gets_the_usual_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["sample", "-o", str(tmp_path / "s.png"), "--size", "64", "-q"]) == 0
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "s.png").st_mode & 0o777) == 0o644


# --- OUTDIR a mount point, below a folder the user cannot write --------------------------

_MOUNTED = """
set -eu
mount --bind "$PARENT" "$PARENT"
mount -o remount,bind,ro "$PARENT"
mount --bind "$BACKING" "$PARENT/user"
if touch "$PARENT/probe" 2>/dev/null; then echo "parent is writable"; exit 3; fi
"$PY" -m daskfft run "$INPUT" -o "$PARENT/user" --cluster threads -q --chunks 64
echo "first=$?"
set +e
"$PY" -m daskfft run "$INPUT" -o "$PARENT/new" --cluster threads -q
echo "second=$?"
"""


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"),
    reason="needs root and unshare(1) for a private mount namespace",
)
def test_outdir_that_is_a_mount_point_under_a_read_only_parent(tmp_path):
    """Like ``-o /scratch/$USER``: a root-owned parent, and OUTDIR a file system of its own."""
    parent, backing = tmp_path / "scratch", tmp_path / "backing"
    (parent / "user").mkdir(parents=True)
    backing.mkdir()
    tifffile.imwrite(tmp_path / "in.tif", make_image((200, 150), np.uint16), tile=(64, 64))
    env = dict(
        os.environ,
        PARENT=str(parent),
        BACKING=str(backing),
        PY=sys.executable,
        INPUT=str(tmp_path / "in.tif"),
    )
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNTED],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert "first=0" in proc.stdout, proc.stdout + proc.stderr
    assert sorted(os.listdir(backing)) == [
        "filtered.tif",
        "overview.png",
        "radial_spectrum.png",
        "report.html",
        "report.json",
        "spectra.png",
    ]
    # A new OUTDIR there cannot be made: said before any work, in one line.
    assert "second=1" in proc.stdout
    assert proc.stderr.strip().count("\n") == 0 and "is not writable" in proc.stderr


# --- choices and unused options, at default verbosity ------------------------------------


@pytest.fixture
def tiled(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, make_image((300, 300), np.uint8), tile=(128, 128))
    return path


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--order", "2"], "--order 2 is unused: only the butterworth filter has an order"),
        (["--exact", "--depth", "8"], "--depth 8 is unused: --exact needs no halo"),
        (
            ["--compression", "zlib", "--output-format", "png"],
            "--compression zlib is unused: it applies to TIFF output, and this run writes png",
        ),
        (["--workers", "2"], "2 threads (--workers 2 x --threads-per-worker 1)"),
        (["--performance-report"], "--performance-report needs a distributed cluster"),
        ([], "chunks 128 x 128 px instead of 100: whole 128 x 128 tiles of the input"),
    ],
)
def test_unused_options_and_choices_are_said(tmp_path, tiled, capsys, extra, said):
    assert (
        main(
            [
                "run",
                str(tiled),
                "-o",
                str(tmp_path / "o"),
                "--chunks",
                "100",
                "--cluster",
                "threads",
                *extra,
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert said in err, err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert any(said in c for c in report["choices"])
    if "--workers" in extra:
        assert report["cluster"]["threads"] == 2  # not every core


def test_workers_under_mpi_are_said_unused(tmp_path, tiled):
    from daskfft.run.config import RunConfig
    from daskfft.run.plan import make_plan

    plan = make_plan(RunConfig.create(tiled, tmp_path / "o", cluster="mpi", workers=3))
    assert any("--workers 3 is unused under MPI" in n for n in plan.notes)


@pytest.mark.slow
def test_stop_ends_a_distributed_computation_with_a_progress_bar(capsys):
    """Under MPI, SIGTERM reaches rank 0's client only through graph.STOP: a progress bar
    (a terminal) must not hold the client until the work is done."""
    import threading
    import time

    import dask

    from daskfft.cluster.kinds import ClusterSpec, open_cluster
    from daskfft.errors import TermSignal
    from daskfft.run import graph

    with open_cluster(ClusterSpec("local", workers=1, threads_per_worker=1, dashboard=False)) as cl:
        slow = dask.delayed(time.sleep)(12)
        threading.Timer(1.0, graph.STOP.set).start()
        t0 = time.monotonic()
        try:
            with pytest.raises(TermSignal):
                graph.compute(cl, [slow], progress=True)
        finally:
            graph.STOP.clear()
        assert time.monotonic() - t0 < 6  # the task alone takes 12 s


@pytest.mark.slow
def test_a_stopped_computation_leaves_its_performance_report_out(tmp_path):
    """Rendering the report took the scheduler ~1 s of the few a job's time limit gives
    between SIGTERM and SIGKILL: a stopped run (SIGTERM, Ctrl-C) writes none, its
    continuation does; a finished and a failed computation each get theirs."""
    import threading
    import time

    import dask

    from daskfft.cluster.kinds import ClusterSpec, open_cluster
    from daskfft.errors import TermSignal
    from daskfft.run import graph

    def fail():
        raise ValueError("a task's own error")

    with open_cluster(ClusterSpec("local", workers=1, threads_per_worker=1, dashboard=False)) as cl:
        stopped, failed, done = (tmp_path / f"{n}.html" for n in ("stopped", "failed", "done"))
        timer = threading.Timer(0.5, graph.STOP.set)
        timer.start()
        try:
            with pytest.raises(TermSignal):
                graph.compute(cl, [dask.delayed(time.sleep)(3)], report_path=stopped)
        finally:
            timer.cancel()
            graph.STOP.clear()
        with pytest.raises(ValueError, match="own error"):
            graph.compute(cl, [dask.delayed(fail)()], report_path=failed)
        assert graph.compute(cl, [dask.delayed(sum)([1, 2])], report_path=done) == [3]
    assert not stopped.exists()
    for report in (failed, done):
        text = report.read_text()
        assert report.stat().st_size > 10_000 and "<html" in text.lower()
    assert "def compute(cluster, arrays" in text  # its calling code: compute, not the helper
