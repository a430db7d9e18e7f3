"""A full disk under OUTDIR: one line naming the file system, finished chunks kept, and
``--resume`` finishing byte-identically once space is freed.

OUTDIR is on a small ext4 file system in a file, loop-mounted in a private mount namespace
(``unshare --mount``) of each command, so nothing outside the test sees it.
"""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
from reference import make_image

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or not shutil.which("mkfs.ext4")
    or not shutil.which("unshare")
    or not os.path.exists("/dev/loop-control"),
    reason="needs root, mkfs.ext4, unshare and loop devices (CI has them)",
)

ARGS = ["--chunks", "256", "--cutoff", "0.05", "--no-plots"]
MPIEXEC = shutil.which("mpiexec")


def _in_mount(image, mnt, script):
    """Run ``script`` (sh) with the file system ``image`` mounted at ``mnt``, privately."""
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"mount -o loop '{image}' '{mnt}' && {script}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("cluster", ["threads", "mpi"])
def test_full_disk_keeps_chunks_and_resume_finishes_once_space_is_freed(tmp_path, cluster):
    if cluster == "mpi" and not MPIEXEC:
        pytest.fail("mpiexec missing: pip install '.[test]' brings PyPI's mpich")
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, make_image((1536, 1536), np.float32), tile=(256, 256))  # 9 MiB
    whole = tmp_path / "whole"
    launch = f"'{MPIEXEC}' -n 3 " if cluster == "mpi" else ""
    run = f"{launch}'{sys.executable}' -m daskfft run '{src}' --cluster {cluster} -o"
    assert (
        subprocess.run(
            f"'{sys.executable}' -m daskfft run '{src}' -o '{whole}' {' '.join(ARGS)} -q",
            shell=True,
        ).returncode
        == 0
    )

    image, mnt = tmp_path / "fs.img", tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["truncate", "-s", "24M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    # 14 MiB of filler leaves room for about half of the 9 MiB result.
    started = time.monotonic()
    full = _in_mount(
        image,
        mnt,
        f"dd if=/dev/zero of='{mnt}/filler' bs=1M count=14 "
        f"status=none && {run} '{mnt}/out' {' '.join(ARGS)} -q",
    )
    seconds = time.monotonic() - started
    print(f"disk full, {cluster}: every process exited {seconds:.1f} s after the start")
    assert seconds < 60  # the bound for a fault to end the job
    assert full.returncode != 0, full.stderr
    err = full.stderr.strip().splitlines()
    assert len(err) == 1, err
    assert f"no space left on the file system mounted at {mnt}" in err[0], err[0]
    assert "chunks kept in" in err[0] and "rerun with --resume" in err[0], err[0]
    kept = int(err[0].split(" of 36 chunks kept")[0].rsplit(" ", 1)[1])
    assert 0 < kept < 36

    done = _in_mount(
        image,
        mnt,
        f"rm '{mnt}/filler' && {run} '{mnt}/out' {' '.join(ARGS)} "
        f"-q --resume && cp '{mnt}/out/filtered.tif' "
        f"'{tmp_path}/resumed.tif' && ls '{mnt}/out'",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "resumed.tif").read_bytes() == (whole / "filtered.tif").read_bytes()
    assert ".daskfft-work" not in done.stdout.split()
