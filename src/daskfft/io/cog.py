"""Cloud-Optimized GeoTIFF (GDAL's COG driver, through rasterio).

The tasks fill an uncompressed tiled TIFF whose pages hold every level, the
full size and its overviews (:meth:`CogBackend.create`, a
:class:`~daskfft.io.tiff.TiffBackend` file); :meth:`CogBackend.finish` has GDAL
copy it into the COG, compressed, keeping those overviews.  A COG is read as
a TIFF.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

from daskfft.errors import InputError
from daskfft.io.base import Backend
from daskfft.io.tiff import CREATION_KEYS, TIFF, check_creation, check_creation_value, output_tile
from daskfft.messages import io as msg

__all__ = ["CogBackend", "COG", "FULL_MARGIN"]


log = logging.getLogger("daskfft")


class CogBackend(Backend):
    """A COG: created and filled as a TIFF with overview pages, finished by GDAL."""

    name, ext, label = "cog", "tif", "COG"
    masks = ("internal",)  # GDAL's COG driver keeps a mask internal
    creation_keys = (*CREATION_KEYS, "BIGTIFF")
    default_tile = 512
    pyramid, plain = "pages", "tiff"

    def output_tile(self, info):
        return output_tile(info, self.default_tile, msg.TILE_COG)

    def check_output(self, info):
        """GDAL writes it, through rasterio: refused where rasterio is not installed."""
        import importlib.util

        if importlib.util.find_spec("rasterio") is None:
            raise InputError(msg.COG_NEEDS_RASTERIO)

    def fills_in_place(self, creation):
        """Always: every level is a page of an uncompressed TIFF until GDAL copies it."""
        return True

    def check_creation_value(self, key, value):
        check_creation_value(key, value)

    def check_creation(self, options, dtype, bands, *, alpha=False, tile=None):
        return check_creation(
            options, dtype, bands, alpha=alpha, compress="DEFLATE", tile=tile or self.default_tile
        )

    def create(self, path, shape, dtype, *, options=None):
        """The TIFF of every level (``levels``: the full size, then its overviews); the
        options are :meth:`~daskfft.io.tiff.TiffBackend.create`'s."""
        return TIFF.create(path, shape, dtype, options=options)

    def open_store(self, path, shape, *, options=None):
        return TIFF.open_store(path, shape, options=options)

    def finish(self, source, path, info, *, options=None):
        """The COG ``path`` from the filled TIFF ``source``: GDAL's COG driver with the
        ``creation`` options (KEY -> VALUE), keeping its overviews.

        GDAL's failures (its ``CPLE_*`` errors) are the run's, not bugs: a full disk is
        raised as the :class:`OSError` ENOSPC (EDQUOT for a quota) the work folder names the
        file system for, anything else as :class:`~daskfft.errors.RunError`.  GDAL rarely
        says the disk is full in its error (``TIFFWriteDirectoryTagData:IO error writing
        tag data``): libtiff prints ``_tiffWriteProc: No space left on device.`` on the
        process's standard error, and rasterio logs the rest.  Both are held while GDAL
        copies (:func:`_gdal_held`), read for that, and dropped when the copy fails (the
        error is one line; ``-vv`` logs them); and a file system left with less than
        :data:`FULL_MARGIN` free is full too.
        """
        failure, held = _copy(source, f"{path}.tmp", (options or {}).get("creation") or {})
        if failure is None:
            held.pass_on()
            os.replace(f"{path}.tmp", path)
            return
        _raise(failure, held, path)


def _copy(source, tmp, options):
    """GDAL's copy of ``source`` into the COG ``tmp``: its failure (an exception, a line it
    said) or None, and what it said (:class:`_Held`)."""
    import rasterio
    import rasterio.shutil
    from rasterio._err import CPLE_BaseError

    options = {**options, "OVERVIEWS": "FORCE_USE_EXISTING", "NUM_THREADS": "ALL_CPUS"}
    failure = None
    # GDAL's block cache defaults to 5 % of RAM; a bounded one keeps this copy's memory flat.
    with rasterio.Env(GDAL_CACHEMAX=256), warnings.catch_warnings(), _gdal_held() as held:
        # An image without georeferencing is a plain image here, as it was in the input.
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            rasterio.shutil.copy(str(source), tmp, driver="COG", **options)
        except (CPLE_BaseError, rasterio.errors.RasterioError) as exc:
            failure = exc
    if failure is None and _full_disk(None, held.lines):
        # GDAL can return as if it had written the file when libtiff could not write its
        # last blocks (seen with DEFLATE on a full tmpfs): a truncated COG, never published.
        failure = next(line for line in held.lines if _full_disk(None, [line]))
    return failure, held


def _raise(failure, held, path):
    """The COG's failure as the run's error: :class:`OSError` for a full disk, else
    :class:`~daskfft.errors.RunError`; its ``.tmp`` removed, GDAL's lines logged."""
    from daskfft.errors import RunError

    tmp = f"{path}.tmp"
    said = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
    full = _full_disk(os.path.dirname(os.path.abspath(tmp)), [str(failure), *held.lines])
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)  # after the free space was read: while GDAL's file still fills it
    for line in held.lines:  # the error is one line: GDAL's own, with -vv only
        log.debug("GDAL: %s", line)
    cause = failure if isinstance(failure, BaseException) else None
    if full:
        raise OSError(full, msg.COG_DISK_FULL.format(said=said), tmp) from cause
    raise RunError(msg.COG_FAILED.format(path=path, said=said)) from cause


#: Free space (bytes) below which a file system that GDAL failed to write on is full: a
#: write that fails for want of space leaves less than the block it wrote.
FULL_MARGIN = 2**20


def _full_disk(folder, said):
    """``errno.ENOSPC`` or ``errno.EDQUOT`` when what GDAL ``said`` (its lines) names a full
    disk or quota, or the file system holding ``folder`` (None: not read) has less than
    :data:`FULL_MARGIN` free (to this user); None otherwise."""
    import errno

    text = " ".join(said).lower()
    if "disk quota exceeded" in text:
        return errno.EDQUOT
    if "no space left on device" in text or "free disk space available is" in text:
        return errno.ENOSPC
    if folder is None:
        return None
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    free = (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize
    return errno.ENOSPC if free < FULL_MARGIN else None


class _Held:
    """What :func:`_gdal_held` held: ``lines`` (what libtiff printed, then rasterio's log
    messages) once the block is over, to be passed on as they would have gone
    (:meth:`pass_on`) or dropped."""

    def __init__(self):
        self.lines, self.records, self.text = [], [], b""

    def pass_on(self):
        if self.text:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
                os.write(2, self.text)
        for record in self.records:
            logging.getLogger(record.name).handle(record)


class _Collect(logging.Handler):
    def __init__(self, records):
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def _gdal_held():
    """Hold what GDAL says while the block runs: what libtiff prints on file descriptor 2
    (sent to a temporary file meanwhile) and rasterio's log records (its ``rasterio``
    loggers kept from the root's handlers), for the caller to read and then pass on or
    drop (:class:`_Held`)."""
    import tempfile

    held = _Held()
    handler = _Collect(held.records)
    logger = logging.getLogger("rasterio")
    propagate = logger.propagate
    saved = spool = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the block)
        saved = os.dup(2)
        os.dup2(spool.fileno(), 2)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield held
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        text = b""
        if saved is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            spool.seek(0)
            text = spool.read()
        if spool is not None:
            spool.close()
        held.text = text
        held.lines = text.decode(errors="replace").splitlines() + [
            record.getMessage() for record in held.records
        ]


COG = CogBackend()
