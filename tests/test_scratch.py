"""The MPI ranks' scratch folders: a killed rank's is removed by the next rank to start,
never a running one's, another user's or another host's (daskfft.cluster.scratch)."""

import os
import socket
import subprocess
import sys

import pytest

from daskfft.cluster import scratch

HOST = socket.gethostname()


def _folder(root, name, *, lock=True):
    folder = root / name
    folder.mkdir()
    (folder / "spilled").write_bytes(b"x" * 100)
    if lock:
        (folder / scratch.LOCK).touch()
    return folder


@pytest.mark.slow  # a process to kill
def test_a_killed_ranks_folder_goes_and_a_running_ranks_stays(tmp_path):
    live, fd = scratch.make(tmp_path, 0)
    try:
        assert fd is not None and os.path.basename(live).startswith(f"daskfft-{HOST}-rank0-")
        code = (
            "import sys, time; from daskfft.cluster import scratch; "
            f"print(scratch.make({str(tmp_path)!r}, 1)[0], flush=True); time.sleep(120)"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            killed = proc.stdout.readline().strip()
            (tmp_path / killed / "spilled").write_bytes(b"x" * 1000)
            assert scratch.sweep(tmp_path) == 0  # its process runs: its lock is held
            assert os.path.isdir(killed)
        finally:
            proc.kill()
            proc.communicate()
        others = [
            _folder(tmp_path, "daskfft-otherhost-rank1-abc"),  # another node's (a shared root)
            _folder(tmp_path, f"daskfft-{HOST}-rank2-nolock", lock=False),  # being made
            _folder(tmp_path, "unrelated"),
        ]
        assert scratch.sweep(tmp_path) == 1
        assert not os.path.exists(killed) and os.path.isdir(live)
        assert all(folder.is_dir() for folder in others)
    finally:
        os.close(fd)


def test_a_lock_being_made_or_another_users_folder_is_left_alone(tmp_path, monkeypatch):
    being_made = _folder(tmp_path, f"daskfft-{HOST}-rank0-new", lock=False)
    (being_made / (scratch.LOCK + ".new")).touch()  # not renamed to LOCK yet: not looked at
    theirs = _folder(tmp_path, f"daskfft-{HOST}-rank1-theirs")
    monkeypatch.setattr(os, "getuid", lambda: os.stat(theirs).st_uid + 1)
    assert scratch.sweep(tmp_path) == 0
    assert being_made.is_dir() and theirs.is_dir()


def test_a_half_removed_folder_keeps_its_lock_until_a_sweep_takes_it(tmp_path, monkeypatch):
    path, fd = scratch.make(tmp_path, 0)
    (tmp_path / path / "worker-1").mkdir()
    (tmp_path / path / "worker-1" / "spill").write_bytes(b"x")
    monkeypatch.setattr(scratch, "_remove_entry", lambda entry: None)  # a worker still writing
    scratch.remove(path)
    os.close(fd)  # the rank ends
    assert sorted(os.listdir(path)) == [scratch.LOCK, "worker-1"]
    monkeypatch.undo()
    assert scratch.sweep(tmp_path) == 1 and not os.path.exists(path)


def test_a_link_named_like_a_folder_is_never_followed(tmp_path):
    target = _folder(tmp_path, "precious")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(target, root / f"daskfft-{HOST}-rank0-link")
    assert scratch.sweep(root) == 0
    assert (target / "spilled").exists() and (target / scratch.LOCK).exists()
