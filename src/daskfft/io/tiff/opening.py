"""Opening a TIFF, local or behind a URL, as every reader here does."""

from __future__ import annotations

import contextlib

from daskfft.io import cache, url

__all__ = ["open_tiff"]


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
