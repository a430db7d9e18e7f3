"""The work folder's layout: its name in OUTDIR, the names a run creates there, and
how those (and only those) are removed.

A run's work lives in ``OUTDIR/.daskfft-work/`` (:data:`WORK_NAME`); a published run's
folder is retired into ``OUTDIR/.daskfft-retired-*/`` (:data:`RETIRED_PREFIX`) and then
deleted.  Cleaning removes only :data:`RUN_NAMES` and ``*.zarr``, ``*.tmp`` and
``traceback-*.txt``, never following a link.  :data:`COMPANIONS` are the files GDAL reads
beside an output as part of it.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from daskfft.messages import workdir as msg

__all__ = [
    "COMPANIONS",
    "WORK_NAME",
    "IN_PLACE",
    "writes_in_place",
    "BREAK_NAME",
    "RETIRED_PREFIX",
    "RUN_NAMES",
    "is_ours",
    "companions",
    "remove_ours",
    "own_folder",
    "delete_trash",
    "mount_point",
    "os_reason",
    "no_space",
]


#: What GDAL reads beside a file ``<name>`` as part of it: its mask, its PAM metadata
#: (statistics, nodata, georeferencing) and its external overviews.  Publishing ``<name>``
#: moves an old one aside with the old file: it describes the old file, never the new.
COMPANIONS = (".msk", ".aux.xml", ".ovr")

WORK_NAME = ".daskfft-work"

#: In the work folder of a run into a URL that held none of its outputs: their names, the
#: image store's chunks being written in place (:mod:`~daskfft.run.workdir.store`).
IN_PLACE = "in-place.json"

RETIRED_PREFIX = ".daskfft-retired-"

#: The file beside the lock that a run holds (created with ``O_EXCL``) while it removes a
#: left lock: one run at a time, so that none removes another's new lock
#: (:mod:`~daskfft.run.workdir.lock`).
BREAK_NAME = "lock.break"

#: What a run creates in its work folder (``lock.break``: while it takes over a left lock),
#: besides its ``*.zarr`` stores, ``*.tmp`` files and the ``traceback-*.txt`` that earlier
#: versions of the command saved there for a bug (it now saves one beside the outputs,
#: ``OUTDIR/daskfft-traceback-*.txt``, which no run deletes).
RUN_NAMES = frozenset(
    {
        "lock",
        BREAK_NAME,
        "run.json",
        "publish.json",
        "stage.json",  # a URL OUTDIR's claim on its stage in the store (workdir.store)
        IN_PLACE,
        "cells",
        "done",
        "out",
        "replaced",
        "pyramid.tif",
    }
)


def is_ours(name):
    """Whether ``name`` in a work folder is one that runs create there."""
    return (
        name in RUN_NAMES
        or name.endswith((".zarr", ".tmp"))
        or (name.startswith("traceback-") and name.endswith(".txt"))
    )


def companions(names):
    """The files GDAL reads as part of the outputs ``names`` (:data:`COMPANIONS`), but those
    that are outputs themselves."""
    return [name + tail for name in names for tail in COMPANIONS if name + tail not in names]


def remove_ours(folder, keep=()):
    """Remove the names a run creates from ``folder`` (a real folder), never following links;
    return the names left there."""
    left = []
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name in keep or not is_ours(name):
            left.append(name)
        elif stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return left


def own_folder(path):
    """Whether ``path`` is a real folder (no link) of this user's."""
    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()


def delete_trash(trash):
    """Delete a retired work folder ``trash``/:data:`WORK_NAME`, only the names runs make."""
    work = os.path.join(trash, WORK_NAME)
    if os.path.lexists(work) and own_folder(work) and not remove_ours(work):
        os.rmdir(work)
    os.rmdir(trash)


def mount_point(path):
    """The mount point of the file system holding ``path`` (its nearest existing folder)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    dev = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == dev:
        path = path.parent
    return path


def os_reason(exc):
    """The short reason an OSError gives (its strerror), or the error itself."""
    return exc.strerror or exc


def no_space(exc, outdir):
    """One line naming the full file system, when ``exc`` (or what caused it) is ENOSPC or
    EDQUOT; None otherwise."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            mount = mount_point(outdir)
            try:
                st = os.statvfs(mount)
                size = msg.SIZE_FREE.format(
                    size=st.f_blocks * st.f_frsize / 2**20, free=st.f_bavail * st.f_frsize / 2**20
                )
            except OSError:
                size = msg.SIZE_UNKNOWN
            what = msg.QUOTA_EXCEEDED if exc.errno == errno.EDQUOT else msg.NO_SPACE_LEFT
            return msg.NO_SPACE.format(outdir=outdir, what=what, mount=mount, size=size)
        exc = exc.__cause__ or exc.__context__
    return None


def writes_in_place(root):
    """Whether the run of the work folder ``root`` (a URL OUTDIR's) writes the image store's
    chunks in place, its metadata in the stage (:data:`IN_PLACE`)."""
    return (Path(root) / IN_PLACE).exists()
