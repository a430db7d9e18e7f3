"""Writing a TIFF: :func:`write_tiff` streams a tiled BigTIFF from bands of rows;
:func:`create_tiff` makes an uncompressed one of zeros (as holes) whose tiles tasks write
in place (:class:`TiffLayout`, :class:`TiffPageStore`); GDAL's creation options as
tifffile's.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from daskfft.errors import InputError
from daskfft.io.base import Store
from daskfft.io.tiff.read import read_page_window
from daskfft.messages import io as msg

#: GDAL's usual tile edge for a tiled GeoTIFF, px.
TIFF_TILE = 256

#: The smallest tile edge an output takes from its input's tiles, px.
MIN_TILE = 128


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
