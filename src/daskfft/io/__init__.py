"""Reading images lazily and in windows, and writing them in windows or streamed.

One module per format, each a :class:`~daskfft.io.base.Backend` (probe -> layout;
read a window; create; write a window; finish), registered below:

- :mod:`daskfft.io.whole`: PNG and JPEG (imageio), read and written whole, so only
  below :data:`WHOLE_IMAGE_CAP` pixels;
- :mod:`daskfft.io.tiff`: TIFF/BigTIFF (tifffile); tiled files read tile-aligned,
  striped ones in row bands, each task opening the file itself; written streamed, or
  filled in place;
- :mod:`daskfft.io.cog`: Cloud-Optimized GeoTIFF, a TIFF of every level finished by GDAL;
- :mod:`daskfft.io.zarr`: Zarr v2/v3 arrays, chunks aligned to the store's;
- :mod:`daskfft.io.omezarr`: OME-Zarr multiscale images.

A new format (or store) is a new module with its backend, and one more line in the
registration below; :mod:`daskfft.io.registry` picks a backend for a path or format.
The functions here are what the rest of daskfft calls.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from daskfft.errors import InputError
from daskfft.io import cog, omezarr, tiff, url, whole, zarr
from daskfft.io.base import Backend, ImageInfo, Store, check_finite, reason
from daskfft.io.registry import FORMATS, OUTPUT_EXT, backend, image_stem, probe_with, register
from daskfft.io.tiff import (
    GEO_TAGS,
    TiffLayout,
    create_tiff,
    read_page_window,
    tiff_layout,
    write_tiff,
)
from daskfft.io.whole import write_image
from daskfft.messages import io as msg

__all__ = [
    "FORMATS",
    "image_stem",
    "OUTPUT_EXT",
    "OUTPUT_FORMATS",
    "COMPRESSIONS",
    "WHOLE_IMAGE_CAP",
    "GEO_TAGS",
    "ImageInfo",
    "Backend",
    "Store",
    "register",
    "backend",
    "SCRATCH",
    "default_output",
    "made_in_memory",
    "probe",
    "is_remote",
    "is_store_name",
    "url",
    "read_page_window",
    "read_window",
    "read",
    "write_image",
    "write_tiff",
    "TiffLayout",
    "create_tiff",
    "tiff_layout",
]

# The formats, in the order of --output-format's choices.
for _entry in (whole.PNG, whole.JPEG, tiff.TIFF, cog.COG, zarr.ZARR, omezarr.OME_ZARR):
    register(_entry)

log = logging.getLogger("daskfft")

#: The backend of the store tasks fill where an output cannot be filled in place
#: (:meth:`Backend.fills_in_place`), turned into the output at the end: Zarr.
SCRATCH = zarr.ZARR

#: Output formats, for ``--output-format``.
OUTPUT_FORMATS = tuple(OUTPUT_EXT)

#: TIFF output compressions.
COMPRESSIONS = ("none", "zlib")

#: PNG and JPEG cannot be read or written in parts: above this many pixels
#: reading them warns, and writing them is refused (use TIFF or Zarr).
WHOLE_IMAGE_CAP = 100_000_000


def probe(path, axes=None, storage=None):
    """Check that ``path`` is an image daskfft can filter and read its header; ``axes``
    (``--axes``, letters of "tczyx") names the axes of an array whose file does not.

    ``path`` may be a URL (``s3://``, ``https://``, any fsspec protocol installed), opened
    with the storage options ``storage`` (``--storage-option``) over GDAL's variables
    (:func:`daskfft.io.url.location`); the :class:`ImageInfo`'s path is then a
    :class:`~daskfft.io.url.Remote` that every task opens the same way.

    Raises
    ------
    InputError
        One line naming the path and the problem: missing, a directory that
        is not a Zarr array, empty, an unknown suffix, unreadable, not 2-D or
        3-D, or a pixel type that is not integer or real.
    """
    remote = url.location(path, storage)
    p = remote if isinstance(remote, url.Remote) else Path(path)
    fmt = _check_remote(p) if isinstance(p, url.Remote) else _check_path(p, path)
    try:
        info = probe_with(p)
    except InputError:
        raise
    except Exception as exc:  # every decoder has its own exception types
        said = msg.NOT_A_READABLE_STORE if fmt == "zarr" else msg.NOT_A_READABLE_FILE
        raise InputError(said.format(path=path, fmt=fmt.upper(), reason=reason(exc))) from None
    info = backend(info.format).tell_axes(info, axes)
    if info.untold:
        raise InputError(msg.AXES_UNTOLD.format(path=path, shape=info.shape))
    _check_image(info, path)
    if backend(fmt).whole and info.megapixels * 1e6 > WHOLE_IMAGE_CAP:
        log.warning(msg.READ_WHOLE.format(path=path, fmt=fmt.upper(), mpx=info.megapixels))
    return info


def _check_path(p, path):
    """The format ``path`` names by its suffix, once it is there and not empty."""
    if not p.exists():
        raise InputError(msg.NO_SUCH_FILE.format(path=path))
    fmt = FORMATS.get(p.suffix.lower())
    if p.is_dir() and fmt != "zarr":
        raise InputError(msg.IS_A_DIRECTORY.format(path=path))
    if fmt is None:
        raise InputError(
            msg.UNSUPPORTED_FORMAT.format(
                path=path, suffix=p.suffix or msg.NO_SUFFIX, formats=", ".join(sorted(FORMATS))
            )
        )
    if fmt != "zarr" and p.stat().st_size == 0:
        raise InputError(msg.FILE_EMPTY.format(path=path))
    return fmt


def is_remote(path):
    """Whether ``path`` (an :class:`ImageInfo`'s) is a URL read through fsspec."""
    return isinstance(path, url.Remote)


def is_store_name(name):
    """Whether the output ``name`` is a folder store (Zarr, OME-Zarr), by the format its
    suffix names."""
    fmt = FORMATS.get(Path(name).suffix.lower())
    return fmt is not None and backend(fmt).folder


def _check_remote(p):
    """The format the URL ``p`` names by its suffix, once it is there: a file that is not
    empty, or a Zarr store's metadata; one line where the server refuses or cannot be
    reached (:func:`daskfft.io.url.failure`)."""
    suffix = os.path.splitext(p.text.rstrip("/").rsplit("/", 1)[-1])[1]
    fmt = FORMATS.get(suffix.lower())
    if fmt is None:
        raise InputError(
            msg.UNSUPPORTED_FORMAT.format(
                path=p, suffix=suffix or msg.NO_SUFFIX, formats=", ".join(sorted(FORMATS))
            )
        )
    if fmt == "zarr":
        if not any(url.exists(url.child(p, k), denied_absent=True) for k in url.ZARR_METADATA):
            raise InputError(msg.NOT_A_STORE_URL.format(url=p))
    elif not url.stat(p).get("size", 1):
        raise InputError(msg.FILE_EMPTY.format(path=p))
    return fmt


def _check_image(info, path):
    """Refuse an image that is not 2-D or 3-D, not integer or real, or empty."""
    shape, dtype = info.shape, info.dtype
    if len(shape) not in (2, 3):
        raise InputError(msg.NOT_2D_OR_3D.format(path=path, shape=shape))
    if dtype.kind not in "uif":
        raise InputError(msg.PIXEL_TYPE.format(path=path, dtype=dtype))
    if 0 in shape:
        raise InputError(msg.IMAGE_EMPTY.format(path=path, shape=shape))


def read_window(info, rows, cols, *, nodata=None, frame=0, planes=None):
    """Pixels ``rows[0]:rows[1], cols[0]:cols[1]`` of a TIFF or Zarr image; runs in a task.
    Of a stack (a volume, a time series): of time point ``frame`` and the z ``planes``, as
    (z, y, x[, c]) (:meth:`~daskfft.io.base.Backend.read_window`).

    The task opens the file itself and reads only the tiles (or store chunks)
    that the window touches.  Float pixels must be finite, unless NaN is the
    ``nodata``.
    """
    where = {"frame": frame, "planes": planes} if info.stack else {}
    data = backend(info.format).read_window(info, rows, cols, **where)
    return check_finite(data, info.path, nodata)


def read(info, chunks, *, nodata=None):
    """The image as a lazy dask array, read by the workers; channels in one chunk.

    TIFF: every task opens the file and reads its own region, tile-aligned
    for a tiled file; a striped file is read in full-width row bands, split
    into column chunks afterwards.  Zarr: ``chunks`` rounded to the store's
    chunks.  PNG/JPEG: one task decodes the whole file.  Float pixels must
    be finite, unless they are the (NaN) ``nodata``.
    """
    image = backend(info.format).read(info, chunks)
    if info.dtype.kind == "f":
        meta = np.empty((0,) * len(info.shape), dtype=info.dtype)
        image = image.map_blocks(check_finite, info.path, nodata, dtype=info.dtype, meta=meta)
    return image


def default_output(info, *, streamed=False):
    """The output format of an image made from the input ``info`` unless one is asked for:
    its own (an OME-Zarr image's is OME-Zarr); for a stack that is not a Zarr array,
    OME-Zarr (an OME-TIFF or ImageJ stack's too: its tasks write their chunks in place
    and it gets a pyramid, where an OME-TIFF is written page by page at the end); with
    ``streamed`` (too large to be written whole), a TIFF where its own is written whole."""
    fmt = "ome-zarr" if info.ome else info.format
    if info.stack and fmt != "zarr":
        fmt = "ome-zarr"
    return "tiff" if streamed and backend(fmt).whole else fmt


def made_in_memory(path, shape, dtype, *, photometric="minisblack"):
    """The :class:`ImageInfo` of an image made in memory, not read (the built-in sample):
    a PNG's, written as one unless asked otherwise or too large."""
    return ImageInfo(path, "png", shape, np.dtype(dtype), photometric=photometric)
