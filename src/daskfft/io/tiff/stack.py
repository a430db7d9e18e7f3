"""Stacks of TIFF pages whose file names their axes: ImageJ hyperstacks and OME-TIFF (and
tifffile's own shaped files that name them), read through tifffile's Zarr store of the
series (``TiffPageSeries.aszarr``) as :mod:`daskfft.io.zarr` reads a Zarr array with named
dims: a window decodes the tiles (or strips) of the pages it covers, no others.

tifffile's axes letters: T (time) is t, Z is z, C (channels) and S (samples of a pixel)
are c, at most one of them; a page sequence whose file does not say what its pages are
(tifffile's I and Q) is refused, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from daskfft.errors import InputError
from daskfft.io import url
from daskfft.io.base import reason
from daskfft.io.tiff.opening import open_tiff
from daskfft.io.zarr import _from_axes, _image_of, _stack_window, _to_axes
from daskfft.messages import io as msg

__all__ = ["is_stack", "probe_stack", "read_stack_window", "read_stack_block", "write_stack_tiff"]

#: tifffile's series axes, as daskfft's letters.
_LETTERS = {"T": "t", "Z": "z", "C": "c", "S": "c", "Y": "y", "X": "x"}
#: tifffile's letters for pages that the file does not say are planes, times or channels.
_UNTOLD = {"I", "Q"}
#: OME-XML's symbols of NGFF's (UDUNITS-2) length units.
_OME_UNITS = {
    "angstrom": "Å",
    "nanometer": "nm",
    "micrometer": "µm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
}
#: OME-XML and ImageJ length units, in metres: a z step given in another unit than x's.
_METRES = {"nm": 1e-9, "µm": 1e-6, "um": 1e-6, "micron": 1e-6, "mm": 1e-3, "cm": 1e-2, "m": 1.0}


def is_stack(series, planar, palette):
    """Whether the first ``series`` of a TIFF is more than one 2-D image with its samples
    last: pages (or a page's depth) along axes of their own.  A band-interleaved page
    (``planar``) and a palette's indices are one image."""
    return len(series.shape) > 2 and series.axes != "YXS" and not (planar or palette)


def probe_stack(p, tif, series, info):
    """``info`` (the first page's, the series' shape) as a stack, or an image with its
    channels in a series of pages (C, Y, X): its axes, one plane's (y, x[, c]) shape, the
    voxel size.  Refuses in one line axes it does not read or that the file does not name."""
    axes, shape = series.axes, tuple(series.shape)
    untold = sorted(set(axes) & _UNTOLD)
    if untold:
        raise InputError(
            msg.STACK_OF_PAGES.format(path=p, pages=len(series.pages), axes=axes, shape=shape)
        )
    unknown = [a for a in axes if a not in _LETTERS]
    if unknown:
        raise InputError(
            msg.TIFF_AXES_UNKNOWN.format(path=p, axes=axes, shape=shape, unknown=",".join(unknown))
        )
    if "C" in axes and "S" in axes:
        raise InputError(msg.TIFF_TWO_CHANNEL_AXES.format(path=p, axes=axes, shape=shape))
    import zarr

    with series.aszarr(level=0) as store:
        chunks = zarr.open_array(store, mode="r").chunks
    letters = "".join(_LETTERS[a] for a in axes)
    stacked = _image_of(info, letters, shape, chunks)
    return _with_spacing(stacked, tif)


def _with_spacing(info, tif):
    """``info`` with its voxel size (dz, dy, dx, unit): the pixel size of the plane and
    OME-XML's PhysicalSizeZ or ImageJ's ``spacing``; None where either is unknown (a stack
    without z needs no z step: 1)."""
    if info.pixel_size is None:
        return info
    dy, dx, unit = info.pixel_size
    dz = _z_step(tif) if info.planes > 1 else 1.0
    return info if dz is None else replace(info, spacing=(dz, dy, dx, unit))


def _z_step(tif):
    """The z step in the unit of x: OME-XML's PhysicalSizeZ (in PhysicalSizeZUnit), or
    ImageJ's ``spacing`` (in its ``unit``, that of x too); None where the file does not
    say."""
    try:
        if tif.is_ome:
            xml = tif.ome_metadata or ""
            size = re.search(r'PhysicalSizeZ="([0-9.eE+-]+)"', xml)
            if not size:
                return None
            units = {a: re.search(rf'PhysicalSize{a}Unit="([^"]+)"', xml) for a in "XZ"}
            ux, uz = (units[a].group(1) if units[a] else "µm" for a in "XZ")
            dz = float(size.group(1))
            # 12 digits: 2 µm in nanometres is 2000, not 1999.9999999999998
            return dz if uz == ux else float(f"{dz * _METRES[uz] / _METRES[ux]:.12g}")
        if tif.is_imagej:
            spacing = (tif.imagej_metadata or {}).get("spacing")
            return None if spacing is None else float(spacing)
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        pass
    return None


def read_stack_window(info, rows, cols, *, frame=0, planes=None):
    """Pixels ``rows[0]:rows[1], cols[0]:cols[1]`` of a TIFF series with axes
    (:attr:`~daskfft.io.base.ImageInfo.axes`): of time point ``frame`` and the z
    ``planes`` as (z, y, x[, c]), or where ``planes`` is None as (y, x[, c]); runs in a
    task, opening the file itself and decoding only the segments of the pages it needs."""
    window = (slice(*rows), slice(*cols))
    shape = (rows[1] - rows[0], cols[1] - cols[0]) + info.shape[2:]
    if planes is not None:
        shape = (planes[1] - planes[0],) + shape

    def read():
        import zarr

        with open_tiff(info.path) as tif, tif.series[0].aszarr(level=0) as store:
            return zarr.open_array(store, mode="r")[_to_axes(window, info.axes, frame, planes)]

    def undecoded(exc):
        return InputError(msg.CANNOT_DECODE.format(path=info.path, reason=reason(exc)))

    def decoded():
        stored = read()
        return _from_axes(stored, info.axes) if planes is None else _stack_window(stored, info.axes)

    data = url.reading(info.path, decoded, undecoded)
    return np.asarray(data).reshape(shape)


def read_stack_block(block_info=None, info=None):
    """The (y, x[, c]) block ``block_info`` locates of an image with channels in a series
    of pages; runs in a task."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"][:2]
    return read_stack_window(info, (r0, r1), (c0, c1))


def write_stack_tiff(path, source, info, *, tile, compression, compressionargs, predictor):
    """The stack in the Zarr array ``source`` (NGFF's axes order, as
    :class:`~daskfft.io.zarr.StackStore` stores it) written to ``path`` as a tiled BigTIFF
    OME-TIFF: a page per time point, channel and z plane, in that order (OME's XYZCT),
    its OME-XML naming the axes and, where ``info`` knows it, the voxel size.  A row of
    tiles of one page is in memory at a time; the store's chunks are one plane deep and a
    row of tiles high, so each is read once."""
    import tifffile
    import zarr

    array = zarr.open_array(str(source), mode="r")
    axes = "".join(array.metadata.dimension_names).upper()
    metadata = {"axes": axes}
    if info.spacing is not None and info.spacing[3] in _OME_UNITS:
        unit = _OME_UNITS[info.spacing[3]]
        for letter, size in zip("ZYX", info.spacing[:3]):
            if letter in axes and size is not None:
                metadata[f"PhysicalSize{letter}"] = float(size)
                metadata[f"PhysicalSize{letter}Unit"] = unit
    with tifffile.TiffWriter(path, bigtiff=True, ome=True) as tif:
        tif.write(
            _stack_tiles(array, tile),
            shape=array.shape,
            dtype=array.dtype,
            tile=(tile, tile),
            photometric="minisblack",
            compression=compression,
            compressionargs=compressionargs,
            predictor=predictor,
            metadata=metadata,
        )


def _stack_tiles(array, tile):
    """The tiles of every (y, x) page of ``array``, page after page in C order, each page
    row of tiles after row of tiles, left to right."""
    ny, nx = array.shape[-2:]
    for page in np.ndindex(*array.shape[:-2]):
        for r0 in range(0, ny, tile):
            band = array[page + (slice(r0, min(ny, r0 + tile)), slice(None))]
            for c0 in range(0, nx, tile):
                yield band[:, c0 : c0 + tile]
