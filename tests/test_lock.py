"""The run's lock where the file system has no flock: atomic, with a heartbeat, stale after a
stated time, its refusal saying what to do; and a symbolic link never followed."""

import errno
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tifffile
from reference import make_image

from daskfft.cli import main
from daskfft.errors import InputError
from daskfft.run.workdir import WORK_NAME, WorkDir
from daskfft.run.workdir.lock import (
    BREAK_NAME,
    STALE_ENV,
    STALE_SECONDS,
    RunLock,
    _pid_namespace,
    stale_after,
)

FAST = ["--cluster", "threads", "-q"]

# flock fails as on Lustre mounted without -o flock (or holds only within a node, as with
# -o localflock, each racer on a node of its own), and the file system is slow (each open and
# read of the lock returns after 0.2 s: every run sees it before any has written to it); then
# wait for the start signal (a file), take the lock, say whether it was won, and hold it until
# stdin closes.
_RACER = """
import errno, fcntl, os, sys, time

def no_flock(fd, operation):
    raise OSError(errno.ENOSYS, "Function not implemented")

def slow_open(path, *args, _open=os.open, **kwargs):
    fd = _open(path, *args, **kwargs)
    if str(path).endswith("lock"):
        time.sleep(0.2)
    return fd

def slow_pread(*args, _pread=os.pread):
    data = _pread(*args)
    time.sleep(0.2)
    return data

if sys.argv[3] == "node-local flock":  # succeeds on every node: each racer on a node of its own
    import socket
    fcntl.flock = lambda fd, operation: None
    socket.gethostname = lambda: f"node-{os.getpid()}"
else:
    fcntl.flock = no_flock
os.open, os.pread = slow_open, slow_pread
from daskfft.errors import Busy
from daskfft.run.workdir import WorkDir

work = WorkDir(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
try:
    work.acquire()
except Busy as exc:
    print("busy", exc, flush=True)
    sys.exit(0)
print("won", flush=True)
sys.stdin.read()
work.release()
"""


def _no_flock(fd, operation):
    raise OSError(errno.ENOSYS, "Function not implemented")


@pytest.fixture
def tiled(tmp_path):
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, make_image((128, 128), np.float32, seed=5), tile=(64, 64))
    return path


def _one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("daskfft: error: "), err
    return lines[0]


def _local_flock(fd, operation):
    """flock as on Lustre mounted -o localflock, seen from another node: it always succeeds."""


def _leave_lock(out, host, pid, age, kind="file", **more):
    """A lock as a run without flock (or with ``kind``) on ``host`` leaves it, its last
    heartbeat ``age`` s ago."""
    (out / WORK_NAME).mkdir(parents=True)
    lock = out / WORK_NAME / "lock"
    lock.write_text(
        json.dumps({"host": host, "pid": pid, "since": "2026-01-01T00:00:00", "kind": kind, **more})
    )
    os.utime(lock, (time.time() - age,) * 2)
    return lock


def _leave_break(out, host, pid, age, **more):
    """The lock.break of a run on ``host`` that began to take over a left lock ``age`` s ago."""
    brk = out / WORK_NAME / BREAK_NAME
    brk.write_text(
        json.dumps(
            {"host": host, "pid": pid, "kind": "break", "since": "2026-01-01T00:00:00", **more}
        )
    )
    os.utime(brk, (time.time() - age,) * 2)
    return brk


def _dead_pid():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    return dead.pid


@pytest.mark.slow
@pytest.mark.parametrize("flock", ["no flock", "node-local flock"])
@pytest.mark.parametrize("left", [False, True], ids=["free", "stale lock left"])
def test_without_a_cluster_wide_flock_exactly_one_of_three_racing_processes_wins(
    tmp_path, left, flock
):
    out, go = tmp_path / "out", tmp_path / "go"
    if left:  # all three find it stale at once: one removes it, none removes the winner's
        _leave_lock(out, "node-killed", 4242, age=STALE_SECONDS + 60)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(out), str(go), flock],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for p in racers:
            assert p.stdout.readline().strip() == "ready"
        go.touch()
        said, logged = {}, {}
        for p in racers:  # its verdict, after what it logged (a takeover)
            logged[p.pid] = [line := p.stdout.readline().strip()]
            while line and not line.startswith(("won", "busy", "Traceback")):
                logged[p.pid].append(line := p.stdout.readline().strip())
            said[p.pid] = line
        winners = [pid for pid, line in said.items() if line == "won"]
        assert len(winners) == 1, logged
        took_over = [
            pid
            for pid, lines in logged.items()
            if any("took over the lock" in line for line in lines)
        ]
        # Only the winner may say it took over.  It need not: the racer that removed the
        # left lock can lose the O_EXCL create to one that found no lock at all.
        assert set(took_over) <= set(winners), logged
        if not left:
            assert took_over == [], logged
        lock = json.loads((out / WORK_NAME / "lock").read_text())
        assert lock["host"] != "node-killed" and lock["pid"] == winners[0], lock
        for pid, line in said.items():
            if pid != winners[0]:
                assert line.startswith("busy output ") and f"PID {winners[0]}," in line, line
                assert f"delete {out / WORK_NAME / 'lock'}" in line and STALE_ENV in line
        for p in racers:
            p.stdin.close()
            assert p.wait(timeout=60) == 0
        assert not (out / WORK_NAME).exists()  # released: nothing left behind
    finally:
        for p in racers:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
            p.stdin.close()
            p.stdout.close()


def test_without_flock_a_fresh_lock_of_another_host_is_refused_saying_what_to_do(
    tmp_path, tiled, monkeypatch, capsys
):
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "out"
    lock = _leave_lock(out, "node-elsewhere", 4242, age=20)
    assert main(["run", str(tiled), "-o", str(out), *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "in use by another daskfft run (host node-elsewhere, PID 4242, since " in line
    assert 20 <= int(re.search(r"last heartbeat (\d+) s ago", line).group(1)) < 80
    assert f"delete {lock} once no daskfft run writes into {out}" in line
    assert (
        f"no heartbeat for {STALE_SECONDS:.0f} s is taken over ({STALE_ENV} of its run, "
        "or of this one if larger)" in line
    )
    assert json.loads(lock.read_text())["host"] == "node-elsewhere"  # untouched
    assert os.listdir(out) == [WORK_NAME]


@pytest.mark.parametrize("stale, age", [(None, STALE_SECONDS + 60), ("30", 45)])
def test_without_flock_a_stale_lock_is_taken_over_with_a_warning(
    tmp_path, tiled, monkeypatch, capsys, stale, age
):
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    if stale is not None:
        monkeypatch.setenv(STALE_ENV, stale)
    out = tmp_path / "out"
    _leave_lock(out, "node-killed", 4242, age=age)
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    err = capsys.readouterr().err
    assert f"took over the lock of {out}, left by host node-killed, PID 4242" in err
    assert (out / "filtered.tif").exists() and not (out / WORK_NAME).exists()


@pytest.mark.parametrize("flock", [_no_flock, _local_flock], ids=["no flock", "local flock"])
def test_a_lock_is_judged_by_its_holders_stale_time_where_larger(tmp_path, flock, monkeypatch):
    """A run with a smaller DASKFFT_LOCK_STALE (as the refusal suggests) does not take over a
    lock whose holder touches it every 30 s: it took it over 4 s in, the holder alive."""
    from daskfft.errors import Busy

    monkeypatch.setattr(fcntl, "flock", flock)
    out = tmp_path / "out"
    lock = _leave_lock(out, "node1", 4242, age=45, kind="flock", every=30, stale=STALE_SECONDS)
    monkeypatch.setenv(STALE_ENV, "3")
    with pytest.raises(
        Busy,
        match=rf"last heartbeat \d+ s ago.* no heartbeat for "
        rf"{STALE_SECONDS:.0f} s is taken over",
    ):
        RunLock(lock, out).acquire()
    assert json.loads(lock.read_text())["pid"] == 4242
    os.utime(lock, (time.time() - STALE_SECONDS - 60,) * 2)  # no heartbeat for its stale time
    taker = RunLock(lock, out)
    assert "host node1, PID 4242," in taker.acquire()  # taken over, as left
    written = json.loads(lock.read_text())  # what others judge this holder by
    assert (written["every"], written["stale"]) == (0.75, 3)
    taker.release()


@pytest.mark.slow
def test_without_flock_a_dead_process_on_this_host_leaves_no_lock(
    tmp_path, tiled, monkeypatch, capsys
):
    """On the holder's own host (and in its PID namespace) its PID tells at once: no waiting
    for the heartbeat."""
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    dead = _dead_pid()
    out = tmp_path / "out"
    _leave_lock(out, socket.gethostname(), dead, age=0, pidns=_pid_namespace())
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    assert f"left by host {socket.gethostname()}, PID {dead}" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("pidns", ["pid:[1]", None], ids=["another", "not recorded"])
def test_without_flock_a_pid_of_another_pid_namespace_is_not_trusted(
    tmp_path, tiled, pidns, monkeypatch, capsys
):
    """A container with the host's name but its own PIDs: its PID, not found here, says
    nothing (its live lock was taken over at once); its heartbeat does."""
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "out"
    lock = _leave_lock(
        out, socket.gethostname(), _dead_pid(), age=5, **({} if pidns is None else {"pidns": pidns})
    )
    assert main(["run", str(tiled), "-o", str(out), *FAST]) == 1
    assert "last heartbeat" in _one_error_line(capsys.readouterr().err)
    assert json.loads(lock.read_text())["host"] == socket.gethostname()  # untouched


def test_without_flock_a_live_pid_keeps_a_lock_only_while_its_heartbeat_is_fresh(
    tmp_path, tiled, monkeypatch, capsys
):
    """A reused PID kept a dead run's lock forever, while the refusal said it is taken over
    after its stale time without a heartbeat."""
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "out"
    live = os.getppid()  # alive: this process's parent
    lock = _leave_lock(out, socket.gethostname(), live, age=5, pidns=_pid_namespace())
    assert main(["run", str(tiled), "-o", str(out), *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert (
        f"PID {live}," in line and f"no heartbeat for {STALE_SECONDS:.0f} s is taken over" in line
    )
    os.utime(lock, (time.time() - STALE_SECONDS - 60,) * 2)
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    assert f"left by host {socket.gethostname()}, PID {live}" in capsys.readouterr().err


def test_without_flock_the_holder_keeps_its_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    monkeypatch.setenv(STALE_ENV, "0.4")  # a heartbeat every 0.1 s
    work = WorkDir(tmp_path / "out")
    work.acquire()
    try:
        lock = work.root / "lock"
        os.utime(lock, (time.time() - 3600,) * 2)
        deadline = time.monotonic() + 30
        while time.time() - lock.stat().st_mtime > 600:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.05)
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    finally:
        work.release()
    assert not work.root.exists()


def test_without_flock_a_second_run_in_the_same_process_is_refused(tmp_path, monkeypatch):
    """Its own PID in the lock does not make it the holder's leftover (a notebook's threads)."""
    from daskfft.errors import Busy

    monkeypatch.setattr(fcntl, "flock", _no_flock)
    first, second = WorkDir(tmp_path / "out"), WorkDir(tmp_path / "out")
    first.acquire()
    try:
        with pytest.raises(Busy, match="in use by another daskfft run in this process"):
            second.acquire()
        assert json.loads((first.root / "lock").read_text())["pid"] == os.getpid()
    finally:
        first.release()
    second.acquire()  # let go: free again
    second.release()


def test_without_flock_a_lock_being_released_is_not_taken_as_left_in_the_same_process(
    tmp_path, monkeypatch
):
    """Until it is gone, a lock being let go is this process's: another thread waits, not
    taking it over as left by an earlier run (with a warning) before it is removed."""
    from daskfft.errors import Busy

    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "out"
    first, second, said = WorkDir(out), RunLock(out / WORK_NAME / "lock", out), []
    first.acquire()
    unlink, tried = os.unlink, []

    def another_thread_meanwhile(path, *args, **kwargs):
        if str(path) == str(second.path) and not tried:
            tried.append(path)
            try:
                said.append(second.acquire())
            except Busy as exc:
                said.append(str(exc))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", another_thread_meanwhile)
    first.release()
    assert said and "in use by another daskfft run in this process" in said[0], said
    second.release()


def test_with_flock_a_fresh_lock_of_a_run_without_it_is_refused(tmp_path, tiled, capsys):
    """Lustre clients mounted with and without -o flock: a run that has flock still sees the
    heartbeat of one that has not."""
    out = tmp_path / "out"
    _leave_lock(out, "node-without-flock", 4242, age=5)
    assert main(["run", str(tiled), "-o", str(out), *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "(host node-without-flock, PID 4242, since " in line and "last heartbeat" in line
    os.utime(out / WORK_NAME / "lock", (time.time() - STALE_SECONDS - 60,) * 2)
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    assert "took over the lock" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["flock", "file"])
def test_with_node_local_flock_a_fresh_lock_of_another_host_is_refused(
    tmp_path, tiled, kind, monkeypatch, capsys
):
    """Lustre -o localflock: flock succeeds on every node, so the holder's heartbeat decides
    (both processes went on before, the second saying the first was gone)."""
    monkeypatch.setattr(fcntl, "flock", _local_flock)
    out = tmp_path / "out"
    lock = _leave_lock(out, "node1", 4242, age=5, kind=kind)
    assert main(["run", str(tiled), "-o", str(out), *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "in use by another daskfft run (host node1, PID 4242, since " in line
    assert "last heartbeat" in line and f"delete {lock}" in line
    assert json.loads(lock.read_text())["host"] == "node1"  # untouched
    os.utime(lock, (time.time() - STALE_SECONDS - 60,) * 2)  # its run was killed
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    assert f"took over the lock of {out}, left by host node1, PID 4242" in capsys.readouterr().err
    assert (out / "filtered.tif").exists() and not (out / WORK_NAME).exists()


def test_with_flock_a_lock_left_on_this_host_is_taken_over_at_once(tmp_path, tiled, capsys):
    """The kernel let go of this host's flock: its holder has ended, whatever its heartbeat."""
    out = tmp_path / "out"
    _leave_lock(out, socket.gethostname(), 4242, age=0, kind="flock")
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    assert f"left by host {socket.gethostname()}, PID 4242" in capsys.readouterr().err


@pytest.mark.parametrize("flock", [True, False])
def test_a_symlinked_lock_is_refused_in_one_line_and_never_followed(
    tmp_path, tiled, flock, monkeypatch, capsys
):
    if not flock:
        monkeypatch.setattr(fcntl, "flock", _no_flock)
    victim = tmp_path / "precious.txt"
    victim.write_text("mine")
    out = tmp_path / "out"
    (out / WORK_NAME).mkdir(parents=True)
    (out / WORK_NAME / "lock").symlink_to(victim)
    assert main(["run", str(tiled), "-o", str(out), *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"{out / WORK_NAME / 'lock'} is a symbolic link" in line
    assert "remove it" in line
    assert victim.read_text() == "mine"
    # The lock itself never follows one either (a link made after the folder was checked).
    with pytest.raises(
        InputError,
        match="the lock .* is a symbolic link, which daskfft never follows; remove the link",
    ):
        RunLock(out / WORK_NAME / "lock", out).acquire()
    assert victim.read_text() == "mine"


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_a_bad_stale_time_is_refused_in_one_line(tmp_path, tiled, monkeypatch, capsys, value):
    monkeypatch.setenv(STALE_ENV, value)
    with pytest.raises(
        InputError,
        match=rf"{STALE_ENV} must be a number of seconds > 0, "
        rf"got '{value}'",
    ):
        stale_after()
    assert main(["run", str(tiled), "-o", str(tmp_path / "out"), *FAST]) == 1
    assert STALE_ENV in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


# --- the lock's lifetime -----------------------------------------------------------------


def test_after_a_failure_no_task_writes_once_the_lock_is_let_go(tmp_path, monkeypatch, capsys):
    """Under the threaded scheduler a task still running when another fails goes on to write
    its chunk: the run lets go of its lock only after it ended."""
    from daskfft import io

    path = tmp_path / "in.tif"
    tifffile.imwrite(path, make_image((256, 256), np.float32, seed=2), tile=(64, 64))
    out = tmp_path / "out"
    events, slow_started, released = [], threading.Event(), threading.Event()
    release, read = WorkDir.release, io.read_window

    def noted_release(self):
        events.append("released")
        released.set()
        return release(self)

    def reads(info, rows, cols, **kwargs):
        if rows[0] == 0 and cols[0] == 0:  # chunk (0, 0): still running when the error comes
            slow_started.set()
            released.wait(timeout=3)  # the old code let go meanwhile: then the write is late
            events.append("chunk (0, 0) writes")
        elif rows[1] == info.shape[0] and cols[1] == info.shape[1]:  # the last one fails
            assert slow_started.wait(timeout=60), "chunk (0, 0) never started"
            raise OSError(errno.EIO, "Input/output error")
        return read(info, rows, cols, **kwargs)

    monkeypatch.setattr(WorkDir, "release", noted_release)
    monkeypatch.setattr(io, "read_window", reads)
    # 64-px output tiles, so 64-px chunks: 16 (the input's tiles, raised to 128 px, make 4)
    assert (
        main(
            [
                "run",
                str(path),
                "-o",
                str(out),
                "--chunks",
                "64",
                "--co",
                "BLOCKSIZE=64",
                "--cluster",
                "threads",
                "--workers",
                "1",
                "--threads-per-worker",
                "4",
                "-q",
            ]
        )
        == 1
    )
    done = os.listdir(out / WORK_NAME / "done")  # at once: nothing can add to it now
    assert events == ["chunk (0, 0) writes", "released"]
    assert "0_0" in done
    line = _one_error_line(capsys.readouterr().err)
    assert f"{len(done)} of 16 chunks kept" in line


# "on this host" starts a process (to have a dead PID): the slow tier's.
@pytest.mark.parametrize(
    "where", ["on another host", pytest.param("on this host", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("killed", ["before removing the lock", "after removing it"])
def test_what_a_run_killed_while_taking_over_a_stale_lock_leaves_is_cleaned(
    tmp_path, tiled, monkeypatch, capsys, killed, where
):
    """Killed while it held lock.break: the next run takes over once that is judged left (as
    a lock is: its age elsewhere, its PID here), and removes it with the work folder."""
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "out"
    lock = _leave_lock(out, "node-killed", 4242, age=STALE_SECONDS + 60)
    if where == "on another host":
        _leave_break(out, "node-killed-too", 4343, age=STALE_SECONDS + 30)
    else:
        _leave_break(out, socket.gethostname(), _dead_pid(), age=0, pidns=_pid_namespace())
    if killed == "after removing it":
        lock.unlink()
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    err = capsys.readouterr().err
    assert "not daskfft's" not in err
    removed = (
        f"removed {out / WORK_NAME / BREAK_NAME}, left by a run killed while it took "
        "over a lock" in err
    )  # where it still guarded a left lock
    assert removed == ("took over the lock" in err) == (killed == "before removing the lock")
    assert WORK_NAME not in os.listdir(out) and (out / "filtered.tif").exists()


@pytest.mark.parametrize("where", ["on another host", "on this host"])
def test_a_live_runs_lock_break_is_waited_for_however_long_it_takes(tmp_path, monkeypatch, where):
    """A run paused 20 s (a Lustre MDS recovery) while it takes over a left lock keeps its
    lock.break: it was removed after 10 s, and both runs went on to hold the lock."""
    import daskfft.run.workdir.lock

    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "out"
    lock = _leave_lock(out, "node-killed", 4242, age=STALE_SECONDS + 60)
    if where == "on another host":
        brk = _leave_break(out, "node-slow", 4343, age=20)
    else:  # a live process of this host (this one's parent)
        brk = _leave_break(out, socket.gethostname(), os.getppid(), age=20, pidns=_pid_namespace())
    waited = []

    def paused_run_goes_on(seconds):  # instead of waiting: the paused run ends its takeover
        waited.append(brk.exists())
        lock.unlink(missing_ok=True)
        brk.unlink(missing_ok=True)

    monkeypatch.setattr(daskfft.run.workdir.lock.time, "sleep", paused_run_goes_on)
    taker = RunLock(lock, out)
    assert taker.acquire() is None  # the paused run removed the left lock, not this one
    taker.release()
    assert waited[:1] == [True]


@pytest.mark.parametrize("meanwhile", ["removed", "another run's now"])
def test_a_run_removes_its_lock_break_only_while_it_is_its_own(tmp_path, monkeypatch, meanwhile):
    """A run that stalled past its stale time while it held lock.break (judged left, removed,
    maybe taken by another run) does not remove another's, nor fail for want of its own."""
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "out"
    lock = _leave_lock(out, "node-killed", 4242, age=STALE_SECONDS + 60)
    brk = out / WORK_NAME / BREAK_NAME
    unlink, stalled = os.unlink, []

    def stalled_unlink(path, *args, **kwargs):
        if str(path) == str(lock) and not stalled:  # while this run stalls before it
            stalled.append(path)
            unlink(brk)
            if meanwhile == "another run's now":
                brk.write_text(json.dumps({"host": "node2", "pid": 7, "kind": "break"}))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", stalled_unlink)
    taker = RunLock(lock, out)
    assert "host node-killed, PID 4242" in taker.acquire()
    taker.release()
    assert stalled
    if meanwhile == "another run's now":
        assert json.loads(brk.read_text())["host"] == "node2"
    else:
        assert not brk.exists()


@pytest.mark.parametrize("flock", [True, False])
def test_no_lost_lock_is_reported_while_a_published_run_is_deleted(
    tmp_path, tiled, flock, monkeypatch, capsys
):
    """Deleting the retired work folder (10^5 markers) takes several heartbeats: the lock file
    went with it, and that is no lost lock."""
    import daskfft.run.workdir.layout

    if not flock:
        monkeypatch.setattr(fcntl, "flock", _no_flock)
    monkeypatch.setenv(STALE_ENV, "0.2")  # a heartbeat every 0.05 s
    rmtree = shutil.rmtree

    def slow_rmtree(path, *args, **kwargs):
        time.sleep(0.3)
        return rmtree(path, *args, **kwargs)

    monkeypatch.setattr(daskfft.run.workdir.layout.shutil, "rmtree", slow_rmtree)
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                str(tiled),
                "-o",
                str(out),
                "--chunks",
                "64",
                "--co",
                "BLOCKSIZE=64",
                "--cluster",
                "threads",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "removed or replaced" not in err and "error" not in err.lower(), err
    assert sorted(n for n in os.listdir(out) if n.startswith(".daskfft")) == []
