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
    inode, size and modification time), its first series' first page parsed: for reads by
    :func:`pread`, which leave the file's position alone, from any thread at once.  A
    URL's: :func:`open_tiff`'s (its header is kept by :mod:`daskfft.io.cache`)."""
    if isinstance(path, url.Remote):
        with open_tiff(path) as tif:
            yield tif
        return
    st = os.stat(path)
    key = (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _lock:
        entry = _kept.get(key)
        if entry is None:
            entry = _kept[key] = [_parsed(path), 0]
            while len(_kept) > KEPT_OPEN:
                _, old = _kept.popitem(last=False)
                if not old[1]:
                    old[0].close()
        _kept.move_to_end(key)
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _lock:
            entry[1] -= 1
            if not entry[1] and _kept.get(key) is not entry:  # dropped while in use
                entry[0].close()


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
    """``count`` bytes at ``offset`` of tifffile's file handle ``fh``; of a local file by
    ``os.pread``, which any thread may call at once on one handle."""
    if fh.is_file:  # opened here by its path: tifffile's offsets are the file's
        return os.pread(fh.fileno(), count, offset)
    fh.seek(offset)
    return fh.read(count)


def _forget():
    """Close the files kept here and keep none: in a forked child (its copies of the parent's
    handles: none of its threads is reading them) and at exit."""
    global _kept, _lock
    for tif, _ in globals().get("_kept", {}).values():
        with contextlib.suppress(Exception):
            tif.close()
    _kept = OrderedDict()  # (path, device, inode, size, mtime) -> [TiffFile, users]
    _lock = threading.Lock()


_forget()
os.register_at_fork(after_in_child=_forget)
atexit.register(_forget)
