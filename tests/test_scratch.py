"""The MPI ranks' scratch folders: a killed rank's is removed by the next rank to start,
never a running one's, another user's or another host's (daskfft.cluster.scratch)."""

import os
import socket
import subprocess
import sys

import pytest

from daskfft.cluster import scratch


@pytest.mark.slow  # a process to kill
def test_a_killed_ranks_folder_goes_and_a_running_ranks_stays(tmp_path):
    live, fd = scratch.make(tmp_path, 0)
    assert fd is not None and os.path.basename(live).startswith(
        f"daskfft-{socket.gethostname()}-rank0-"
    )
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
        tmp_path / "daskfft-otherhost-rank1-abc",  # another node's, on a shared file system
        tmp_path / f"daskfft-{socket.gethostname()}-rank2-nolock",  # its lock not made yet
        tmp_path / "unrelated",
    ]
    for folder in others:
        folder.mkdir()
        (folder / scratch.LOCK).touch()
    os.remove(others[1] / scratch.LOCK)
    assert scratch.sweep(tmp_path) == 1
    assert not os.path.exists(killed) and os.path.isdir(live)
    assert all(folder.is_dir() for folder in others)
    os.close(fd)


def test_a_link_named_like_a_folder_is_never_followed(tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / scratch.LOCK).touch()
    (target / "data").write_text("keep")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(target, root / f"daskfft-{socket.gethostname()}-rank0-link")
    assert scratch.sweep(root) == 0
    assert (target / "data").read_text() == "keep"
