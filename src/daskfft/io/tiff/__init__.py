"""TIFF and BigTIFF (tifffile): read in windows, written streamed or filled in place.

The backend (:class:`TiffBackend`) is here, with the names the rest of daskfft imports;
reading is :mod:`daskfft.io.tiff.read`'s, writing :mod:`daskfft.io.tiff.write`'s.

Reading: a tiled file tile-aligned, a striped one in row bands, each task opening
the file itself; GeoTIFF tags, GDAL's nodata, a mask page or ``.msk`` (read as the
last channel), palettes and band-interleaved files.  Writing: :func:`write_tiff`
streams a tiled BigTIFF from bands of rows; :func:`create_tiff` makes an
uncompressed one of zeros (as holes) whose tiles tasks write in place
(:class:`TiffLayout`, :class:`TiffPageStore`), each level followed by its mask page
or with GDAL's ``.msk`` beside it.
"""

from __future__ import annotations

import os

import numpy as np

from daskfft.io.base import Backend, aligned_chunks, open_filled
from daskfft.io.tiff.read import (
    GEO_TAGS,
    _probe_tiff,
    _read_region,
    _read_tiff_region,
    read_page_window,
)
from daskfft.io.tiff.stack import read_stack_block, read_stack_window, write_stack_tiff
from daskfft.io.tiff.write import (
    COMPRESS_CHOICES,
    CREATION_KEYS,
    MIN_TILE,
    TIFF_TILE,
    TiffLayout,
    TiffPageStore,
    check_creation,
    check_creation_value,
    create_tiff,
    image_shape,
    msk_tags,
    output_tile,
    tiff_layout,
    tifffile_options,
    write_tiff,
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
    stacks, stack_ext = True, "ome.tif"  # written as OME-TIFF (write_stack_tiff)

    def probe(self, path):
        return _probe_tiff(path, self.name)

    def read_window(self, info, rows, cols, *, frame=0, planes=None):
        """A stack's or a series of pages' (``info.axes``) through tifffile's Zarr store
        (:func:`~daskfft.io.tiff.stack.read_stack_window`), the pages the window needs."""
        if info.axes is not None:
            return read_stack_window(info, rows, cols, frame=frame, planes=planes)
        shape = (rows[1] - rows[0], cols[1] - cols[0]) + info.shape[2:]
        return _read_region(info.path, (slice(*rows), slice(*cols)), shape, mask=info.mask)

    def read(self, info, chunks):
        """Every task opens the file and reads its own region, tile-aligned for a tiled
        file; a striped file is read in full-width row bands, split into column chunks
        afterwards."""
        import dask.array as da

        rows, cols = aligned_chunks(info, chunks)
        if info.axes is not None:  # channels in pages of their own: read as windows
            return da.map_blocks(
                read_stack_block,
                chunks=da.core.normalize_chunks((rows, cols) + info.shape[2:], info.shape),
                dtype=info.dtype,
                meta=np.empty((0,) * len(info.shape), dtype=info.dtype),
                info=info,
            )
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
        written = tifffile_options(options.get("creation") or {"COMPRESS": "NONE"})
        if info.stack:
            write_stack_tiff(f"{path}.tmp", source, info, **written)
            os.replace(f"{path}.tmp", path)
            return
        source, mask = open_filled(source), options.get("mask")
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
