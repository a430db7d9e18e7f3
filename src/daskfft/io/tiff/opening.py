"""Opening a TIFF, local or behind a URL, as every reader here does."""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections import OrderedDict

from daskfft.io import cache, url

__all__ = ["open_tiff", "pread", "shared_tiff"]

#: Local TIFFs a process keeps open, their headers parsed: a 32768^2 file's 16384 tile
#: offsets took 3.2 ms to parse, once for every band of rows a task read.
KEPT_OPEN = 8


@contextlib.contextmanager
def open_tiff(path):
    """The TIFF ``path`` opened by tifffile: a local file, or a URL (a
    :class:`~daskfft.io.url.Remote`) whose reads are range requests, so that reading a
    window fetches the header (once a process: :func:`daskfft.io.cache.open_remote`) and
    the tiles it touches, nothing else."""
    import tifffile

    if not isinstance(path, url.Remote):
        with tifffile.TiffFile(path) as tif:
            yield tif
        return
    name = path.text.rstrip("/").rsplit("/", 1)[-1]
    with cache.open_remote(path) as fh, tifffile.TiffFile(fh, name=name) as tif:
        yield tif


@contextlib.contextmanager
def shared_tiff(path):
    """The local TIFF ``path`` opened once a process while it is the same file (its device,
    inode, size, modification and change times), its first series' first page parsed: for
    reads by :func:`pread`, which leave the file's position alone, from any thread at once.
    A changed file is opened anew and the handle on its old self closed once unused.  A
    URL's: :func:`open_tiff`'s (its header is kept by :mod:`daskfft.io.cache`)."""
    if isinstance(path, url.Remote):
        with open_tiff(path) as tif:
            yield tif
        return
    name = os.fspath(path)
    key, entry = _opened(name)
    try:
        yield entry[0]
    finally:
        with _lock:
            entry[1] -= 1
            if not entry[1] and _kept.get(key) is not entry:  # dropped while in use
                entry[0].close()


def _opened(name):
    """``(key, entry)``: the kept entry of the file ``name`` is now, one user more; parsed by
    one thread while the others asking for it wait (readers of other files go on)."""
    while True:
        key = _key(name, os.stat(name))
        with _lock:
            entry = _take(key)
            parsing = None if entry else _parsing.get(key)
            if entry is None and parsing is None:
                parsing = _parsing[key] = threading.Event()
                mine = True
            else:
                mine = False
        if entry is not None:
            return key, entry
        if not mine:
            parsing.wait()  # then kept (or failed: this thread tries itself)
            continue
        try:
            tif = _parsed(name)
            kept = _key(name, os.fstat(tif.filehandle.fileno()))  # the file this handle holds
            with _lock:
                return kept, _keep(kept, tif)
        finally:
            with _lock:
                _parsing.pop(key, None)
            parsing.set()


def _key(name, st):
    return (name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _take(key):
    """The kept entry ``[TiffFile, users]`` of ``key``, one user more, or None (``_lock``
    held)."""
    entry = _kept.get(key)
    if entry is not None:
        _kept.move_to_end(key)
        entry[1] += 1
    return entry


def _keep(key, tif):
    """``tif`` kept under ``key`` (or the one another thread kept meanwhile), one user more;
    the same path's older files and the least recently used past :data:`KEPT_OPEN` dropped,
    closed unless in use (their last user closes them); ``_lock`` held."""
    entry = _kept.get(key)
    if entry is None:
        entry = _kept[key] = [tif, 0]
    else:
        tif.close()
    _kept.move_to_end(key)
    entry[1] += 1
    stale = [k for k in _kept if k[0] == key[0] and k != key]
    stale += list(_kept)[: max(0, len(_kept) - len(stale) - KEPT_OPEN)]
    for old in [_kept.pop(k) for k in dict.fromkeys(stale)]:
        if not old[1]:
            old[0].close()
    return entry


def _parsed(path):
    """``path`` opened, what readers ask of its first page built now, in one thread: tifffile
    builds these on first use, and building ``decode`` moves the file's position."""
    import tifffile

    tif = tifffile.TiffFile(path)
    try:
        page = tif.series[0].pages[0]
        if isinstance(page, tifffile.TiffPage):
            _ = page.dataoffsets, page.databytecounts, page.decode, page.keyframe
            if page.compression in (6, 7, 34892, 33007):  # the JPEG family
                _ = page.jpegtables, page.keyframe.jpegheader
            if page.photometric == tifffile.PHOTOMETRIC.PALETTE:
                _ = page.colormap
    except Exception:
        tif.close()
        raise
    return tif


def pread(fh, offset, count):
    """``count`` bytes at ``offset`` of tifffile's file handle ``fh`` (fewer at the file's
    end); of a local file by ``os.pread``, which any thread may call at once on one handle,
    as many times as it takes (Linux reads at most 2 GiB a call: a whole image's one
    strip may be more)."""
    if not fh.is_file:
        fh.seek(offset)
        return fh.read(count)
    fd = fh.fileno()  # opened here by its path: tifffile's offsets are the file's
    data = os.pread(fd, count, offset)
    if len(data) == count or not data:
        return data
    parts = [data]
    got = len(data)
    while got < count:
        more = os.pread(fd, count - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _forget():
    """Keep no file: in a forked child, whose handles are copies of its parent's (none of its
    threads is reading them; a lock its parent's thread held may be held in it: new ones)."""
    global _kept, _parsing, _lock
    for tif, _ in globals().get("_kept", {}).values():
        with contextlib.suppress(Exception):
            tif.close()
    _kept = OrderedDict()  # _key(path, stat) -> [TiffFile, users]
    _parsing = {}  # _key(path, stat) -> an Event set once its one parser is done
    _lock = threading.Lock()


def _close_unused():
    """At exit: close the files no thread is reading (a daemon thread may be)."""
    with _lock:
        for key, (tif, users) in list(_kept.items()):
            if not users:
                del _kept[key]
                with contextlib.suppress(Exception):
                    tif.close()


_forget()
os.register_at_fork(after_in_child=_forget)
atexit.register(_close_unused)
