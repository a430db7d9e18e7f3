"""TIFF and BigTIFF (tifffile): read in windows, written streamed or filled in place.

Reading: a tiled file tile-aligned, a striped one in row bands, each task opening
the file itself; GeoTIFF tags, GDAL's nodata, a mask page or ``.msk`` (read as the
last channel), palettes and band-interleaved files.  Writing: :func:`write_tiff`
streams a tiled BigTIFF from bands of rows; :func:`create_tiff` makes an
uncompressed one of zeros (as holes) whose tiles tasks write in place
(:class:`TiffLayout`, :class:`TiffPageStore`), each level followed by its mask page
or with GDAL's ``.msk`` beside it.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daskfft.errors import InputError
from daskfft.io.base import (
    Backend,
    ImageInfo,
    Store,
    aligned_chunks,
    open_filled,
    parse_nodata,
    reason,
)
from daskfft.messages import io as msg

__all__ = [
    "GEO_TAGS",
    "TIFF_TILE",
    "MIN_TILE",
    "CREATION_KEYS",
    "COMPRESS_CHOICES",
    "TiffBackend",
    "TIFF",
    "TiffLayout",
    "TiffPageStore",
    "create_tiff",
    "tiff_layout",
    "write_tiff",
    "read_page_window",
    "tifffile_options",
    "msk_tags",
    "image_shape",
]

#: GDAL's usual tile edge for a tiled GeoTIFF, px.
TIFF_TILE = 256

#: The smallest tile edge an output takes from its input's tiles, px.
MIN_TILE = 128

#: TIFF tags that carry georeferencing (GeoTIFF) and GDAL's nodata and
#: metadata; copied from a TIFF input to a TIFF output unchanged.
GEO_TAGS = {
    33550: "ModelPixelScaleTag",
    33922: "ModelTiepointTag",
    34264: "ModelTransformationTag",
    34735: "GeoKeyDirectoryTag",
    34736: "GeoDoubleParamsTag",
    34737: "GeoAsciiParamsTag",
    42112: "GDAL_METADATA",
    42113: "GDAL_NODATA",
}


def _probe_tiff(p, fmt):
    """The :class:`ImageInfo` of the TIFF ``p``: its first series, a palette's colours, a
    band-interleaved file's bands last, its GeoTIFF tags, pixel size and mask."""
    import tifffile

    with tifffile.TiffFile(p) as tif:
        series = tif.series[0]
        page = series.pages[0]
        shape, dtype = tuple(series.shape), np.dtype(series.dtype)
        _check_segments(p, page)
        planar = series.axes == "SYX" and len(series.pages) == 1 and page.planarconfig == 2
        if planar:
            shape = shape[1:] + shape[:1]  # band-interleaved: read band by band, bands last
        native = _native_chunks(page, shape)
        _check_photometric(p, page)
        palette = page.photometric == tifffile.PHOTOMETRIC.PALETTE
        if palette:  # indices become their colours
            shape, dtype = shape + (3,), _palette(page).dtype
        # YCbCr got past _check_photometric only JPEG-compressed (the usual COG): read as RGB.
        rgb = page.photometric in (
            tifffile.PHOTOMETRIC.RGB,
            tifffile.PHOTOMETRIC.PALETTE,
            tifffile.PHOTOMETRIC.YCBCR,
        )
        photometric = "rgb" if rgb else "minisblack"
        alpha = any(int(e) in (1, 2) for e in (page.extrasamples or ()))
        tags, nodata = _geo_tags(page)
        pixel_size = _pixel_size(tif, page)
        stack = len(shape) == 3 and series.axes != "YXS" and not (planar or palette)
        mask = None if alpha or stack else _find_mask(p, tif, shape)
        if mask is not None:  # the mask becomes an alpha channel: left out, and kept
            shape, alpha = shape[:2] + ((shape[2] if len(shape) == 3 else 1) + 1,), True
    if stack:
        raise InputError(
            msg.STACK_OF_PAGES.format(path=p, pages=shape[0], axes=series.axes, shape=shape)
        )
    return ImageInfo(
        str(p),
        fmt,
        shape,
        dtype,
        native_chunks=native,
        tiled=page.is_tiled,
        photometric=photometric,
        alpha=alpha,
        tags=tuple(tags),
        nodata=nodata,
        pixel_size=pixel_size,
        mask=mask,
    )


def _native_chunks(page, shape):
    """The page's tile, or its strip (rows, the full width)."""
    if page.is_tiled:
        return (page.tilelength, page.tilewidth)
    return (
        max(1, min(page.rowsperstrip or shape[0], shape[0])),
        shape[1] if len(shape) > 1 else 1,
    )


def _geo_tags(page):
    """The page's GeoTIFF and GDAL tags (:data:`GEO_TAGS`) as tifffile ``extratags``, and
    the nodata value its GDAL_NODATA says."""
    tags, nodata = [], None
    for code in GEO_TAGS:
        tag = page.tags.get(code)
        if tag is None:
            continue
        value = tag.value
        if code == 42113:
            nodata = parse_nodata(value)
        tags.append((code, int(tag.dtype), tag.count, value, True))
    return tags, nodata


def _find_mask(p, tif, shape):
    """The (file, page) of the image's full-size mask: a TIFF mask page (NewSubfileType 4,
    as GDAL writes with GDAL_TIFF_INTERNAL_MASK), or page 0 of GDAL's ``<file>.msk``."""
    import tifffile

    for index, page in enumerate(tif.pages):
        if page.subfiletype == 4 and tuple(page.shape[:2]) == tuple(shape[:2]):
            return str(p), index
    external = Path(f"{p}.msk")
    if external.is_file():
        try:
            with tifffile.TiffFile(external) as msk:
                if tuple(msk.pages[0].shape[:2]) == tuple(shape[:2]):
                    return str(external), 0
        except (tifffile.TiffFileError, OSError, IndexError) as exc:
            raise InputError(
                msg.NOT_A_READABLE_MASK.format(path=external, reason=reason(exc))
            ) from None
    return None


#: OME and ImageJ length units, as NGFF names them.
_UNITS = {
    "nm": "nanometer",
    "µm": "micrometer",
    "um": "micrometer",
    "micron": "micrometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
}


def _pixel_size(tif, page):
    """``(dy, dx, unit)`` from OME-XML's PhysicalSizeY/X, or the TIFF resolution tags (in
    centimetres or inches, or ImageJ's unit); None when the file does not say."""
    import re

    try:
        if tif.is_ome:
            xml = tif.ome_metadata or ""
            size = {a: re.search(rf'PhysicalSize{a}="([0-9.eE+-]+)"', xml) for a in "YX"}
            unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', xml)
            if size["X"]:
                dx = float(size["X"].group(1))
                dy = float(size["Y"].group(1)) if size["Y"] else dx
                return dy, dx, _UNITS.get(unit.group(1) if unit else "µm", "micrometer")
        xres, yres = page.tags.get(282), page.tags.get(283)
        if xres is None or yres is None:
            return None
        per_x, per_y = (v[0] / v[1] for v in (xres.value, yres.value))
        where = int(page.tags[296].value) if 296 in page.tags else 2
        if where == 3:  # pixels per centimetre
            return 1e4 / per_y, 1e4 / per_x, "micrometer"
        if where == 2 and not tif.is_imagej and (per_x, per_y) != (72.0, 72.0):
            return 25400 / per_y, 25400 / per_x, "micrometer"
        unit = (tif.imagej_metadata or {}).get("unit") if tif.is_imagej else None
        if unit in _UNITS:
            return 1 / per_y, 1 / per_x, _UNITS[unit]
    except (ValueError, ZeroDivisionError, TypeError, KeyError, AttributeError):
        pass
    return None


def _check_photometric(p, page):
    """Refuse, in one line, the colour models whose numbers are not brightness or RGB."""
    import tifffile

    refused = {
        tifffile.PHOTOMETRIC.MINISWHITE: msg.MINISWHITE,
        tifffile.PHOTOMETRIC.SEPARATED: msg.CMYK,
        tifffile.PHOTOMETRIC.CIELAB: msg.CIELAB,
    }
    why = refused.get(page.photometric)
    if (
        why is None
        and page.photometric == tifffile.PHOTOMETRIC.YCBCR
        and page.compression != tifffile.COMPRESSION.JPEG
    ):
        why = msg.YCBCR_NOT_JPEG
    if why is not None:
        raise InputError(msg.PHOTOMETRIC_REFUSED.format(path=p, why=why))


def _palette(page):
    """A palette TIFF's colour map as a (2**bits, 3) lookup table: uint8 when every entry is
    an 8-bit value scaled to 16 bits (x * 257, as GDAL writes them), else uint16."""
    table = np.asarray(page.colormap, dtype=np.uint16).T
    return (table // 257).astype(np.uint8) if not (table % 257).any() else table


def _check_segments(p, page):
    """Refuse, in one line, a TIFF whose pixels cannot all be read: unknown compression,
    tiles or strips missing from its header, or lying past the end of the file."""
    import tifffile

    if page.compression != 1:
        try:
            tifffile.TIFF.DECOMPRESSORS[page.compression]
        except KeyError:
            raise InputError(msg.NO_DECODER.format(path=p, compression=page.compression)) from None
    offsets = np.asarray(page.dataoffsets, dtype=np.int64)
    counts = np.asarray(page.databytecounts, dtype=np.int64)
    expected = int(np.prod(page.chunked))
    what = msg.TILES if page.is_tiled else msg.STRIPS
    if offsets.size != expected or counts.size != expected:
        raise InputError(
            msg.DAMAGED_HEADER.format(
                path=p,
                rows=page.imagelength,
                cols=page.imagewidth,
                expected=expected,
                segments=what,
                listed=offsets.size,
            )
        )
    size = p.stat().st_size
    past = np.flatnonzero((counts > 0) & (offsets + counts > size))
    if past.size:
        k = int(past[0])
        end = int(offsets[k] + counts[k])
        raise InputError(
            msg.TRUNCATED.format(
                path=p, segment=what[:-1], index=k, expected=expected, end=end, size=size
            )
        )


def _read_tiff_region(block_info=None, path=None, ndim=2, mask=None):
    """The block ``block_info`` locates, read from the TIFF at ``path``; runs in a task."""
    loc = block_info[None]["array-location"]
    return _read_region(
        path, tuple(slice(a, b) for a, b in loc), [b - a for a, b in loc], mask=mask
    )


def _read_region(path, window, shape, *, mask=None):
    """``window`` (slices) of a TIFF image, opened here, as an array of ``shape``.

    ``mask``: the (file, page) of a TIFF mask, appended as the last channel:
    the dtype's largest value (1.0 for floats) where the mask keeps the pixel.
    """
    if mask is not None:
        data = _read_region(path, window, list(shape[:2]) + [shape[2] - 1])
        keep = _read_mask(mask, window)
        top = np.iinfo(data.dtype).max if data.dtype.kind in "ui" else 1
        return np.concatenate([data, (keep * top).astype(data.dtype)[..., None]], axis=2)
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            data = _tiff_segments(tif, window, shape)
            if data is None:
                import zarr

                with tif.series[0].aszarr(level=0) as store:  # a pyramid's full size
                    data = zarr.open_array(store, mode="r")[window]
    except Exception as exc:
        raise InputError(msg.CANNOT_DECODE.format(path=path, reason=reason(exc))) from None
    return np.asarray(data).reshape(shape)


def read_page_window(path, page, rows, cols):
    """Pixels ``rows[0]:rows[1], cols[0]:cols[1]`` of page ``page`` of a tiled TIFF, as
    (rows, cols, samples); runs in a task (a pyramid level made here)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return _page_window(tif, tif.pages[page], (slice(*rows), slice(*cols)))


def _read_mask(mask, window):
    """Where the TIFF mask (file, page) keeps the pixels of ``window``: a bool array."""
    import tifffile

    path, index = mask
    try:
        with tifffile.TiffFile(path) as tif:
            return _page_window(tif, tif.pages[index], window)[..., 0] > 0
    except Exception as exc:
        raise InputError(msg.CANNOT_DECODE_MASK.format(path=path, reason=reason(exc))) from None


def _tiff_segments(tif, window, shape):
    """``window`` read tile by tile (or strip by strip) from the file, or None for a layout
    this does not cover (a series of several pages, volumes).  Band-interleaved files are
    read band by band, bands last; palette indices become their colours.

    The same decoding as tifffile's Zarr view (``TiffPage.decode``, so any
    compression it reads), without its per-chunk machinery: measured on an
    8192^2 float32 file with 256-px tiles, a 1104^2 window took 4-6 ms here
    against 11-35 ms through ``aszarr``.
    """
    series = tif.series[0]
    page = series.pages[0]
    if len(series.pages) != 1 or tuple(page.shape) != tuple(series.shape) or page.imagedepth != 1:
        return None
    return _page_window(tif, page, window).reshape(shape)


def _page_window(tif, page, window):
    """``window`` of one TIFF page as (rows, cols, samples), decoded tile by tile."""
    import tifffile

    (r0, r1), (c0, c1) = (window[0].start, window[0].stop), (window[1].start, window[1].stop)
    if page.is_tiled:
        th, tw = page.tilelength, page.tilewidth
    else:
        th, tw = min(page.rowsperstrip or page.imagelength, page.imagelength), page.imagewidth
    across = -(-page.imagewidth // tw)
    out = np.zeros((r1 - r0, c1 - c0, page.samplesperpixel), dtype=page.dtype)
    fh = tif.filehandle
    # What tifffile's own segment reader passes: JPEG tables, edge tiles at full size.
    args = {"_fullsize": page.is_tiled}
    if page.compression in (6, 7, 34892, 33007):  # the JPEG family
        args.update(jpegtables=page.jpegtables, jpegheader=page.keyframe.jpegheader)
    # Fetched before any seek: tifffile builds these lazily, and building ``decode`` (on first
    # access, which Python makes before reading the call's arguments) moves the file position.
    offsets, counts, decode = page.dataoffsets, page.databytecounts, page.decode
    # Band-interleaved files hold each band's tiles after the previous band's.
    planes = range(page.samplesperpixel) if page.planarconfig == 2 else [None]
    per_plane = (-(-page.imagelength // th)) * across
    for plane in planes:
        bands = slice(None) if plane is None else slice(plane, plane + 1)
        for ty in range(r0 // th, -(-r1 // th)):
            for tx in range(c0 // tw, -(-c1 // tw)):
                index = ty * across + tx + (plane or 0) * per_plane
                data = None
                if counts[index]:  # 0: a sparse tile, left as zeros
                    fh.seek(offsets[index])
                    data, _, seg = decode(fh.read(counts[index]), index, **args)
                if data is None:
                    continue
                data = data.reshape(seg[-3:])
                y0, x0 = ty * th, tx * tw
                a0, a1 = max(r0, y0), min(r1, y0 + seg[-3])
                b0, b1 = max(c0, x0), min(c1, x0 + tw)
                out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0, bands] = data[
                    a0 - y0 : a1 - y0, b0 - x0 : b1 - x0
                ]
    if page.photometric == tifffile.PHOTOMETRIC.PALETTE:  # each index becomes its colour
        out = _palette(page)[out[..., 0]]
    return out


def write_tiff(
    path,
    rows,
    shape,
    dtype,
    *,
    photometric=None,
    alpha=False,
    tags=(),
    compression=None,
    band=None,
    tile=TIFF_TILE,
    compressionargs=None,
    predictor=None,
    span=None,
    mask=None,
):
    """Stream a tiled BigTIFF to ``path``, one band of tile rows at a time.

    Parameters
    ----------
    rows : callable
        ``rows(r0, r1)`` returns image rows ``r0:r1`` as a NumPy array; it is
        called for consecutive bands of ``band`` rows (a multiple of the
        tile), so memory holds one band, never the image.  With ``span``,
        ``rows(r0, r1, c0, c1)`` returns columns ``c0:c1`` of one row of tiles,
        called for ``span`` columns at a time (rounded to whole tiles), so
        memory holds a part of one row of tiles, not a band across the width.
    tags : sequence
        tifffile ``extratags`` (the GeoTIFF tags of the input).
    compression : str, optional
        tifffile's compression name, e.g. "zlib"; None for none.
    tile, compressionargs, predictor
        The tile edge, and tifffile's ``compressionargs`` and ``predictor``.
    mask : callable, optional
        Called like ``rows``, it returns where the per-dataset mask keeps pixels
        (booleans); written after the image as its bilevel mask page, which GDAL
        reads as the image's mask (deflated where the image is compressed).
    """
    import tifffile

    band = max(tile, (band or 4 * tile) // tile * tile)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        options = _tiff_options(shape, dtype, photometric, alpha, tags, compression, (tile, tile))
        del options["bigtiff"]
        if mask is not None:  # no tifffile shape JSON, which would hide the mask page
            options.update(metadata=None, software=False)
        tif.write(
            _tiles(rows, shape, dtype, tile, band, span),
            compressionargs=compressionargs,
            predictor=predictor,
            **options,
        )
        if mask is not None:
            _write_mask_page(
                tif, _tiles(mask, shape[:2], bool, tile, band, span), shape, tile, compression
            )


def _write_mask_page(tif, tiles, shape, tile, compression):
    """The bilevel mask page of :func:`write_tiff` (NewSubfileType 4), from ``tiles``;
    deflated where the image is compressed."""
    tif.write(
        tiles,
        shape=shape[:2],
        dtype=bool,
        tile=(tile, tile),
        photometric="mask",
        subfiletype=4,
        compression=compression and "zlib",
        metadata=None,
        software=False,
    )


def _tiles(rows, shape, dtype, tile, band, span):
    """The tiles of :func:`write_tiff`, in the file's order: row of tiles after row of
    tiles, left to right; from bands of rows, or from spans of one row of tiles."""
    if span is None:
        for b0 in range(0, shape[0], band):
            data = np.asarray(rows(b0, min(shape[0], b0 + band)), dtype=dtype)
            for r in range(0, data.shape[0], tile):
                for c in range(0, shape[1], tile):
                    yield data[r : r + tile, c : c + tile]
        return
    step = max(tile, span // tile * tile)
    for r0 in range(0, shape[0], tile):
        for c0 in range(0, shape[1], step):
            data = np.asarray(
                rows(r0, min(shape[0], r0 + tile), c0, min(shape[1], c0 + step)), dtype=dtype
            )
            for c in range(0, data.shape[1], tile):
                yield data[:, c : c + tile]


def _tiff_options(shape, dtype, photometric, alpha, tags, compression, tile):
    if photometric is None:
        photometric = "rgb" if len(shape) == 3 and shape[2] in (3, 4) else "minisblack"
    extra = (shape[2] if len(shape) == 3 else 1) - (3 if photometric == "rgb" else 1)
    extrasamples = (["unspecified"] * (extra - 1) + ["unassalpha"]) if alpha and extra else None
    return dict(
        shape=shape,
        dtype=dtype,
        tile=tile,
        bigtiff=True,
        photometric=photometric,
        extrasamples=extrasamples,
        planarconfig="contig" if len(shape) == 3 else None,
        compression=compression,
        extratags=list(tags),
    )


@dataclass(frozen=True)
class TiffLayout:
    """Where each tile of an uncompressed tiled TIFF lies: tasks write their tiles in place."""

    path: str
    first: int  # byte offset of tile 0
    tile: int  # tile edge, pixels
    across: int  # tiles per row of tiles
    tile_bytes: int
    page: int = 0  # which page of the file
    bits: int = 8  # 1: a bilevel mask page (GDAL's internal mask), written from booleans

    def write(self, y, r0, c0):
        """Write ``y``, whose top-left pixel is ``(r0, c0)`` on the tile grid, tile by tile.

        Tiles at the image's far edges are padded with zeros, as TIFF stores them.
        A row of tiles lies contiguous in the file, so each row is laid out in
        memory once and written with one call.  A bilevel page takes booleans,
        packed 8 to a byte along each tile row, as TIFF stores them.
        """
        t = self.tile
        n = -(-y.shape[1] // t)
        fd = os.open(self.path, os.O_WRONLY)
        try:
            for r in range(0, y.shape[0], t):
                strip = y[r : r + t]
                if strip.shape[:2] != (t, n * t):
                    full = np.zeros((t, n * t) + y.shape[2:], y.dtype)
                    full[: strip.shape[0], : strip.shape[1]] = strip
                    strip = full
                if self.bits == 1:  # tile edges are multiples of 16: no row padding
                    strip = np.packbits(strip, axis=1)
                tiles = np.ascontiguousarray(
                    strip.reshape((t, n, strip.shape[1] // n) + y.shape[2:]).swapaxes(0, 1)
                )
                k = ((r0 + r) // t) * self.across + c0 // t
                os.pwrite(fd, memoryview(tiles).cast("B"), self.first + k * self.tile_bytes)
        finally:
            os.close(fd)


class _HolesForZeros(io.FileIO):
    """A file written through this leaves a hole where a write is all zeros.

    tifffile writes an empty tiled image as zero tiles; as holes they cost no
    disk and no time (measured: 0.12-0.23 s for 256 MiB of zeros), read back
    as zeros, and the tasks fill them in place.  The file is extended over
    each hole at once (a sparse ``truncate``), so that a writer seeking to its
    end, as tifffile does between pages, lands after it.
    """

    def __init__(self, path):
        super().__init__(path, "w+")

    def write(self, data):
        view = memoryview(data).cast("B")
        if view.nbytes >= 4096 and not np.frombuffer(view, np.uint8).any():
            end = self.seek(view.nbytes, os.SEEK_CUR)
            if os.fstat(self.fileno()).st_size < end:
                self.truncate(end)
        else:
            super().write(view)
        return view.nbytes


def create_tiff(
    path,
    shape,
    dtype,
    *,
    tile,
    photometric=None,
    alpha=False,
    tags=(),
    overviews=(),
    subfile_type=True,
    mask=False,
):
    """An uncompressed tiled BigTIFF of zeros (as holes), for tasks to fill in place; its layout.

    ``overviews``: shapes of reduced-resolution pages after the first (TIFF's
    NewSubfileType 1), which GDAL reads as the image's internal overviews.
    ``subfile_type=False`` leaves the first page's NewSubfileType tag out (0, the
    default, anyway): the header is then :func:`write_tiff`'s, byte for byte, and so is
    the file once its tiles are filled.

    ``mask``: each level is followed by its bilevel mask page (NewSubfileType 4,
    or 5 for an overview's; photometric mask), which GDAL reads as the
    per-dataset mask (as it writes with GDAL_TIFF_INTERNAL_MASK).
    """
    import tifffile

    with _HolesForZeros(path) as fh, tifffile.TiffWriter(fh, bigtiff=True) as tif:
        for k, level in enumerate([shape, *overviews]):
            options = _tiff_options(
                level, dtype, photometric, alpha, () if k else tags, None, (tile, tile)
            )
            del options["bigtiff"]
            if overviews or mask:  # no tifffile shape JSON or name for GDAL to carry over
                options.update(metadata=None, software=False)
            tif.write(**({"subfiletype": 1 if k else 0} if k or subfile_type else {}), **options)
            if mask:  # tifffile writes a bilevel page from data only: zero tiles, as holes
                zero = np.zeros((tile, tile), bool)
                count = -(-level[0] // tile) * -(-level[1] // tile)
                tif.write(
                    (zero for _ in range(count)),
                    shape=level[:2],
                    dtype=bool,
                    tile=(tile, tile),
                    photometric="mask",
                    subfiletype=5 if k else 4,
                    metadata=None,
                    software=False,
                )
    return tiff_layout(path)


def tiff_layout(path, page=0):
    """The :class:`TiffLayout` of page ``page`` of a TIFF made by :func:`create_tiff`."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[page]
        offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        size = int(page.databytecounts[0])
        across = -(-page.imagewidth // page.tilewidth)
        if page.compression != 1 or np.any(np.diff(offsets) != size):
            raise ValueError(msg.NOT_IN_PLACE.format(path=path))
        return TiffLayout(
            str(path),
            int(offsets[0]),
            int(page.tilewidth),
            int(across),
            size,
            page=page.index,
            bits=int(page.bitspersample),
        )


#: ``--co KEY=VALUE`` keys of GDAL's GTiff driver taken here (a COG's take BIGTIFF too).
CREATION_KEYS = ("COMPRESS", "PREDICTOR", "LEVEL", "QUALITY", "BLOCKSIZE")

#: COMPRESS values, and the range of LEVEL each takes (None: no LEVEL).
COMPRESS_CHOICES = {
    "NONE": None,
    "DEFLATE": (1, 9),
    "LZW": None,
    "ZSTD": (1, 22),
    "LZMA": (0, 9),
    "JPEG": None,
    "WEBP": None,
}

_PREDICTORS = {
    "NO": "NO",
    "NONE": "NO",
    "1": "NO",
    "YES": "STANDARD",
    "STANDARD": "STANDARD",
    "2": "STANDARD",
    "FLOATING_POINT": "FLOATING_POINT",
    "3": "FLOATING_POINT",
}


def check_creation_value(key, value):
    """Refuse (:class:`ValueError`, one line) a value of the GDAL creation option ``key``
    (upper case) that no TIFF or COG takes, whatever its pixels."""
    if key == "COMPRESS" and value not in COMPRESS_CHOICES:
        choices = ", ".join(COMPRESS_CHOICES)
        raise ValueError(msg.CO_COMPRESS.format(choices=choices, value=value))
    if key == "PREDICTOR" and value not in _PREDICTORS:
        choices = ", ".join(_PREDICTORS)
        raise ValueError(msg.CO_PREDICTOR.format(choices=choices, value=value))
    if key == "BIGTIFF" and value not in ("YES", "NO", "IF_NEEDED", "IF_SAFER"):
        raise ValueError(msg.CO_BIGTIFF.format(value=value))
    if key in ("LEVEL", "QUALITY", "BLOCKSIZE") and not value.isdigit():
        raise ValueError(msg.CO_WHOLE_NUMBER.format(key=key, value=value))
    if key == "QUALITY" and not 1 <= int(value) <= 100:
        raise ValueError(msg.CO_QUALITY_RANGE.format(value=value))
    if key == "BLOCKSIZE" and (int(value) % 16 or not 16 <= int(value) <= 4096):
        raise ValueError(msg.CO_BLOCKSIZE.format(value=value))


def check_creation(opts, dtype, bands, *, alpha=False, compress="NONE", tile=TIFF_TILE):
    """The GDAL creation options ``opts`` (KEY -> VALUE) of a TIFF or COG, checked against
    its pixels (``dtype``, ``bands``, whether the last is ``alpha``); COMPRESS
    (``compress``) and BLOCKSIZE (``tile``) filled in, PREDICTOR spelt as GDAL's.
    Raises :class:`~daskfft.errors.InputError`, one line naming the option."""
    opts = dict(opts)
    opts.setdefault("COMPRESS", compress)
    opts.setdefault("BLOCKSIZE", str(tile))
    comp, dtype = opts["COMPRESS"], np.dtype(dtype)
    color = bands - bool(alpha)
    if comp == "JPEG" and (dtype != np.uint8 or color not in (1, 3)):
        raise InputError(msg.CO_JPEG_PIXELS.format(dtype=dtype, bands=bands))
    if comp == "WEBP" and (dtype != np.uint8 or bands not in (3, 4)):
        raise InputError(msg.CO_WEBP_PIXELS.format(dtype=dtype, bands=bands))
    if "PREDICTOR" in opts:
        opts["PREDICTOR"] = _PREDICTORS[opts["PREDICTOR"]]
        if opts["PREDICTOR"] != "NO" and comp not in ("DEFLATE", "LZW", "ZSTD", "LZMA"):
            raise InputError(msg.CO_PREDICTOR_COMPRESSION.format(compress=comp))
        if opts["PREDICTOR"] == "FLOATING_POINT" and dtype.kind != "f":
            raise InputError(msg.CO_PREDICTOR_FLOAT.format(dtype=dtype))
        if opts["PREDICTOR"] == "STANDARD" and dtype.kind == "f":
            raise InputError(msg.CO_PREDICTOR_INTEGER.format(dtype=dtype))
    if "LEVEL" in opts:
        span = COMPRESS_CHOICES[comp]
        if span is None or not span[0] <= int(opts["LEVEL"]) <= span[1]:
            takes = (
                msg.CO_LEVEL_NONE
                if span is None
                else msg.CO_LEVEL_SPAN.format(low=span[0], high=span[1])
            )
            raise InputError(msg.CO_LEVEL.format(level=opts["LEVEL"], compress=comp, takes=takes))
    if "QUALITY" in opts and comp not in ("JPEG", "WEBP"):
        raise InputError(msg.CO_QUALITY.format(compress=comp))
    return opts


def output_tile(info, tile, why):
    """The tile edge of a TIFF or COG output made from ``info`` unless ``--co BLOCKSIZE``
    gives one, and why: the input's square tile, where it is a tiled TIFF (at least
    :data:`MIN_TILE` and at most 4096 px, what GDAL's BLOCKSIZE takes), else the format's
    usual ``tile`` (``why``).  Never the chunking's: output tiles are what GIS tools expect
    whatever the chunks, and the chunk grid is rounded to them instead."""
    own = info.native_chunks if info.format == "tiff" and info.tiled else ()
    if own and own[0] == own[1]:
        edge = min(4096, max(MIN_TILE, own[0]))
        return edge, (
            msg.TILE_OF_INPUT.format(tile=own[0])
            + (msg.TILE_RAISED.format(least=MIN_TILE) if own[0] < MIN_TILE else "")
        )
    return tile, why


#: tifffile's name of each GDAL COMPRESS value.
_TIFFFILE_COMPRESS = {
    "NONE": None,
    "DEFLATE": "zlib",
    "LZW": "lzw",
    "ZSTD": "zstd",
    "LZMA": "lzma",
    "JPEG": "jpeg",
    "WEBP": "webp",
}


def tifffile_options(opts):
    """tifffile's ``compression``, ``compressionargs``, ``predictor`` and ``tile`` for the
    GDAL-style creation options ``opts`` (COMPRESS, LEVEL or QUALITY, PREDICTOR, BLOCKSIZE)."""
    level = opts.get("LEVEL") or opts.get("QUALITY")
    predictor = {"STANDARD": "horizontal", "FLOATING_POINT": "floatingpoint"}.get(
        opts.get("PREDICTOR")
    )
    return dict(
        compression=_TIFFFILE_COMPRESS[opts.get("COMPRESS", "NONE")],
        compressionargs={"level": int(level)} if level else None,
        predictor=predictor,
        tile=int(opts.get("BLOCKSIZE", TIFF_TILE)),
    )


def image_shape(shape):
    """The shape of a masked image's own bands: the last channel, its mask, left out."""
    return shape[:2] + ((shape[2] - 1,) if shape[2] > 2 else ())


def msk_tags(bands):
    """The GDAL_METADATA of a ``.msk`` file: its band is every band's per-dataset mask."""
    items = "".join(
        f'  <Item name="INTERNAL_MASK_FLAGS_{b}">2</Item>\n' for b in range(1, bands + 1)
    )
    return ((42112, 2, 0, f"<GDALMetadata>\n{items}</GDALMetadata>", True),)


@dataclass(frozen=True)
class TiffPageStore(Store):
    """A page of an uncompressed tiled TIFF made by :func:`create_tiff`, whose tiles are
    written in place at the offsets of ``layout``; with ``mask``, the last channel lives in
    a mask page (or GDAL's ``.msk``): kept where above 0."""

    path: str
    shape: tuple  # rows, cols (, channels)
    page: int = 0
    layout: TiffLayout | None = None  # the page's tiles, read once from its header
    mask: TiffLayout | None = None  # a TIFF's mask page (or .msk), holding the last channel

    def read(self, rows, cols):
        data = read_page_window(self.path, self.page, rows, cols)
        if self.mask is not None:  # the mask as the last channel, as the input's is read
            kept = read_page_window(self.mask.path, self.mask.page, rows, cols) > 0
            top = np.iinfo(data.dtype).max if data.dtype.kind in "ui" else 1
            data = np.concatenate([data, (kept * top).astype(data.dtype)], axis=2)
        return data if len(self.shape) == 3 else data[..., 0]

    def write(self, y, r0, c0):
        if self.mask is not None:  # the last channel goes to the mask: kept where > 0
            kept = y[..., -1] > 0
            self.mask.write(kept if self.mask.bits == 1 else kept.astype(np.uint8) * 255, r0, c0)
            y = y[..., :-1]
        self.layout.write(y, r0, c0)


class TiffBackend(Backend):
    """TIFF and BigTIFF: read in windows; written in place (:meth:`create`) or streamed
    from a filled store (:meth:`finish`).

    The ``mask`` option (of :meth:`create`, :meth:`open_store`, :meth:`finish`): where the last
    channel of the run's image goes: "internal" (a mask page after each level's page),
    "sidecar" (GDAL's ``<file>.msk``) or None (it stays a channel).
    """

    name, ext, suffixes, label = "tiff", "tif", (".tif", ".tiff"), "TIFF"
    masks = ("internal", "sidecar")
    creation_keys = CREATION_KEYS
    default_tile = TIFF_TILE

    def probe(self, path):
        return _probe_tiff(path, self.name)

    def read_window(self, info, rows, cols):
        shape = (rows[1] - rows[0], cols[1] - cols[0]) + info.shape[2:]
        return _read_region(info.path, (slice(*rows), slice(*cols)), shape, mask=info.mask)

    def read(self, info, chunks):
        """Every task opens the file and reads its own region, tile-aligned for a tiled
        file; a striped file is read in full-width row bands, split into column chunks
        afterwards."""
        import dask.array as da

        rows, cols = aligned_chunks(info, chunks)
        band_cols = cols if info.tiled else info.shape[1]
        image = da.map_blocks(
            _read_tiff_region,
            chunks=da.core.normalize_chunks((rows, band_cols) + info.shape[2:], info.shape),
            dtype=info.dtype,
            meta=np.empty((0,) * len(info.shape), dtype=info.dtype),
            path=info.path,
            ndim=len(info.shape),
            mask=info.mask,
        )
        if not info.tiled:
            image = image.rechunk((rows, chunks) + (-1,) * (len(info.shape) - 2))
        return image

    def output_tile(self, info):
        return output_tile(info, TIFF_TILE, msg.TILE_GDAL)

    def check_creation_value(self, key, value):
        check_creation_value(key, value)

    def check_creation(self, options, dtype, bands, *, alpha=False, tile=None):
        return check_creation(options, dtype, bands, alpha=alpha, tile=tile or self.default_tile)

    def fills_in_place(self, creation):
        """Uncompressed: its tiles lie at known offsets."""
        return creation.get("COMPRESS") == "NONE"

    def in_place_tile(self, creation):
        """The tile edge of a TIFF written with the GDAL ``creation`` options when it is
        uncompressed, so that its tiles lie at known offsets and tasks fill them in place;
        None when it is compressed."""
        written = tifffile_options(creation)
        plain = tifffile_options({"COMPRESS": "NONE", "BLOCKSIZE": written["tile"]})
        return written["tile"] if written == plain else None

    def create(self, path, shape, dtype, *, options=None):
        """An empty tiled TIFF (:func:`create_tiff`) for an image of ``shape``, and its
        ``.msk`` for a "sidecar" ``mask``; ``options``: ``tile``, ``photometric``,
        ``alpha``, ``tags``, ``levels`` (the pages after the first: overviews),
        ``mask``, ``subfile_type``.  Its level 0."""
        options = options or {}
        mask = options.get("mask")
        bands = image_shape if mask else (lambda s: s)
        extra = {k: options[k] for k in ("photometric", "tags", "subfile_type") if k in options}
        create_tiff(
            path,
            bands(shape),
            dtype,
            tile=options["tile"],
            alpha=options.get("alpha", False) and not mask,
            overviews=[bands(s) for s in options.get("levels", ())[1:]],
            mask=mask == "internal",
            **extra,
        )
        if mask == "sidecar":
            create_tiff(
                f"{path}.msk",
                shape[:2],
                np.uint8,
                tile=options["tile"],
                photometric="minisblack",
                tags=msk_tags(shape[2] - 1),
            )
        return self.open_store(path, shape, options={**options, "level": 0})

    def open_store(self, path, shape, *, options=None):
        """Level ``level`` (its page; each followed by its mask page, for an internal mask)."""
        options = options or {}
        mask, level = options.get("mask"), options.get("level", 0)
        page = 2 * level if mask == "internal" else level
        mask_layout = None
        if mask == "internal":
            mask_layout = tiff_layout(path, page + 1)
        elif mask == "sidecar":
            mask_layout = tiff_layout(f"{path}.msk")
        return TiffPageStore(
            str(path), shape, page=page, layout=tiff_layout(path, page), mask=mask_layout
        )

    def write(self, path, image, compute, *, kept=None, options=None):
        """A tiled BigTIFF streamed (:func:`write_tiff`), a band of rows computed at a time;
        its mask after the image, from ``kept``: a mask page, or GDAL's ``.msk`` beside it
        (0 or 255, :func:`msk_tags`)."""
        options = options or {}
        mask, done = options.get("mask"), options.get("rows_done")

        def rows(r0, r1):
            (band,) = compute([image[r0:r1]])
            if done is not None:
                done(r1)
            return band

        def kept_rows(r0, r1):
            (band,) = compute([kept[r0:r1]])
            return band

        extra = {
            k: options[k] for k in ("photometric", "tags", "band", "compression") if k in options
        }
        if done is not None:
            done(0)
        write_tiff(
            path,
            rows,
            image.shape,
            image.dtype,
            alpha=options.get("alpha", False) and not mask,
            mask=kept_rows if mask == "internal" else None,
            **extra,
        )
        if mask == "sidecar":
            write_tiff(
                f"{path}.msk",
                lambda r0, r1: kept_rows(r0, r1).astype(np.uint8) * 255,
                image.shape[:2],
                np.uint8,
                photometric="minisblack",
                tags=msk_tags(image.shape[2] if image.ndim == 3 else 1),
            )

    def finish(self, source, path, info, *, options=None):
        """The TIFF ``path`` streamed from the filled store ``source`` (a Zarr store), and
        its mask from the last channel.  A row of tiles at a time, a store chunk wide:
        memory holds a few tiles' worth, never a band of chunk rows across the width.
        ``options``: ``creation`` (:func:`tifffile_options`), ``mask``."""
        options = options or {}
        source, mask = open_filled(source), options.get("mask")
        written = tifffile_options(options.get("creation") or {"COMPRESS": "NONE"})
        shape = image_shape(source.shape) if mask else source.shape

        def bands(r0, r1, c0, c1):
            data = source[r0:r1, c0:c1]
            return data if not mask else data[..., :-1] if len(shape) == 3 else data[..., 0]

        def kept(r0, r1, c0, c1):
            return source[r0:r1, c0:c1, -1] > 0

        write_tiff(
            f"{path}.tmp",
            bands,
            shape,
            source.dtype,
            photometric=info.photometric,
            alpha=info.has_alpha and not mask,
            tags=info.tags,
            span=source.chunks[1],
            mask=kept if mask == "internal" else None,
            **written,
        )
        if mask == "sidecar":  # as GDAL writes one: 0 or 255, deflated, the image's tiles
            write_tiff(
                f"{path}.msk.tmp",
                lambda *w: kept(*w).astype(np.uint8) * 255,
                source.shape[:2],
                np.uint8,
                photometric="minisblack",
                tile=written["tile"],
                tags=msk_tags(source.shape[2] - 1),
                compression="zlib",
                span=source.chunks[1],
            )
            os.replace(f"{path}.msk.tmp", f"{path}.msk")
        os.replace(f"{path}.tmp", path)


TIFF = TiffBackend()
