"""Each MPI rank's scratch folder, and the ones that killed ranks left behind.

A rank makes a folder of its own under the scratch root (``mkdtemp``: /tmp is every user's,
and dask's fixed ``dask-scratch-space`` there belongs to whoever made it first), gives it to
its worker or scheduler and removes it when it ends.  A rank killed outright (SIGKILL from
mpiexec ending a job, from Slurm after ``KillWait``, from the OOM killer) cannot, and its
folder would stay for good with whatever its worker had spilled.  So each folder holds a
lock for its process's life (``flock``, which the kernel lets go when the process dies,
however it dies), and a rank, before it makes its own, removes this host's folders whose
lock nobody holds, as dask's own work space purges its stale worker folders.

Only folders of this user and this host are looked at (a scratch root on a shared file
system holds other nodes' folders, whose locks this node may not see), and a folder
whose lock cannot be taken or read at all is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import stat
import tempfile

__all__ = ["make", "remove", "sweep"]

#: The lock file in each folder, held while its rank runs.
LOCK = ".owner"


def _prefix():
    return f"daskfft-{socket.gethostname()}-rank"


def make(root, rank):
    """A new scratch folder for ``rank`` under ``root``, locked while this process lives:
    ``(path, fd)``, ``fd`` the lock's descriptor (None where the file system has no locks:
    then :func:`sweep` never takes the folder).  Close ``fd`` after removing the folder."""
    path = tempfile.mkdtemp(prefix=f"{_prefix()}{rank}-", dir=root)
    new = os.path.join(path, LOCK + ".new")
    fd = None
    try:
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(new, os.path.join(path, LOCK))  # sweep() sees it only once it is held
    except OSError:
        if fd is not None:
            os.close(fd)
        return path, None
    return path, fd


def remove(path):
    """Remove the scratch folder ``path``, its lock file last: a folder that cannot be
    emptied (a worker still spilling into it) keeps its lock file, so that a later
    :func:`sweep` takes it once its process is gone."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        if name != LOCK:
            _remove_entry(os.path.join(path, name))
    with contextlib.suppress(OSError):
        if set(os.listdir(path)) <= {LOCK}:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(path, LOCK))
            os.rmdir(path)


def _remove_entry(path):
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def sweep(root):
    """Remove the scratch folders under ``root`` that this user's ranks on this host left
    when they were killed (their lock free); the number removed."""
    prefix, removed = _prefix(), 0
    try:
        names = os.listdir(root)
    except OSError:
        return 0
    for name in names:
        if name.startswith(prefix) and _remove_if_free(os.path.join(root, name)):
            removed += 1
    return removed


def _remove_if_free(path):
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        # Open for writing: NFS and SMB take an flock as a byte-range lock, which needs it.
        fd = os.open(os.path.join(path, LOCK), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False  # gone, not ours, or its lock not made yet
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False  # held (its rank runs), or no locks here: left alone
    try:
        remove(path)
    finally:
        os.close(fd)
    return not os.path.lexists(path)
