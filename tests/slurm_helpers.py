"""Submitting real Slurm jobs from the tests and waiting for their end."""

from __future__ import annotations

import re
import subprocess
import time

#: Job states in which a job may still write its log (``scontrol show job``'s JobState).
NOT_OVER = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED"}


def sbatch_wait(command, args, *, timeout=240, env=None):
    """Submit ``args`` with ``COMMAND... sbatch`` and wait for the job to end, as
    ``sbatch --wait`` does: the job's exit status as ``returncode`` (1 if a signal ended it).

    ``sbatch --wait`` polls after 2, 10 and 42 s (its back-off grows up to MinJobAge / 2, 30 s
    here), so a job of 12 s was seen done after 42; this polls every 0.2 s.  ``command`` is
    what runs a Slurm command: ``[]`` for the one-node Slurm, ``["bash", TWO_NODES, "run"]``.
    """
    sub = subprocess.run(
        [*command, "sbatch", "--parsable", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    if sub.returncode:
        return sub
    job = sub.stdout.strip().split(";")[0]
    deadline = time.monotonic() + timeout
    while True:
        show = subprocess.run(
            [*command, "scontrol", "-o", "show", "job", job],
            capture_output=True,
            text=True,
            timeout=60,
        )
        state = re.search(r"\bJobState=(\S+)", show.stdout)
        if state and state.group(1) not in NOT_OVER:
            break
        if time.monotonic() > deadline:
            subprocess.run([*command, "scancel", job], timeout=60)
            raise subprocess.TimeoutExpired(sub.args, timeout)
        time.sleep(0.2)
    status, signal = map(int, re.search(r"\bExitCode=(\d+):(\d+)", show.stdout).groups())
    sub.returncode = status or (1 if signal else 0)
    return sub
