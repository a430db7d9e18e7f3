"""Zarr v2/v3 arrays (zarr): read in windows aligned to the store's chunks, and the
stores the tasks fill (channels first where the stored axes say so).

An array may be stored with named axes (an OME-Zarr level's, e.g. "tczyx"): it is
read as (y, x[, c]); OME-Zarr's groups are :mod:`daskfft.io.omezarr`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskfft.errors import InputError
from daskfft.io.base import Backend, ImageInfo, NotThisFormat, Store, aligned_chunks, reason
from daskfft.messages import io as msg

__all__ = ["ZarrBackend", "ZARR", "ZarrArrayStore"]


def _from_axes(data, axes):
    """An array stored with ``axes`` (OME-Zarr's, e.g. "tczyx") as (y, x[, c])."""
    if axes is None:
        return data
    index = tuple(slice(None) if a in "yxc" else 0 for a in axes)
    kept = [a for a in axes if a in "yxc"]
    order = [kept.index(a) for a in "yxc" if a in kept]
    return data[index].transpose(order)


def _to_axes(window, axes):
    """The (y, x) ``window`` slices as an index of an array stored with ``axes``."""
    if axes is None:
        return window
    rows, cols = window[:2]
    return tuple(
        rows if a == "y" else cols if a == "x" else slice(None) if a == "c" else slice(0, 1)
        for a in axes
    )


@dataclass(frozen=True)
class ZarrArrayStore(Store):
    """A Zarr array the tasks read and write in windows; stored (channels, rows, cols)
    with ``channel_first`` (OME-Zarr's axes), else (rows, cols[, channels])."""

    path: str
    shape: tuple  # rows, cols (, channels)
    channel_first: bool = False

    def read(self, rows, cols):
        import zarr

        z = zarr.open_array(self.path, mode="r")
        if self.channel_first:
            return np.moveaxis(z[:, rows[0] : rows[1], cols[0] : cols[1]], 0, 2)
        return z[rows[0] : rows[1], cols[0] : cols[1]]

    def write(self, y, r0, c0):
        import zarr

        z = zarr.open_array(self.path, mode="r+")
        if self.channel_first:
            z[:, r0 : r0 + y.shape[0], c0 : c0 + y.shape[1]] = np.moveaxis(y, 2, 0)
        else:
            z[r0 : r0 + y.shape[0], c0 : c0 + y.shape[1]] = y


class ZarrBackend(Backend):
    """A Zarr array: read in windows, created empty for tasks to fill, finished by giving it
    the input's metadata as attributes (the output is the store itself)."""

    name, ext, suffixes, label = "zarr", "zarr", (".zarr",), "Zarr"
    folder = True

    def probe(self, path):
        import zarr

        try:
            array = zarr.open_array(str(path), mode="r")
        except (
            zarr.errors.ContainsGroupError,
            zarr.errors.NodeTypeValidationError,
            zarr.errors.ArrayNotFoundError,
        ):  # a group (Zarr v3, v2): OME-Zarr's, or refused there
            raise NotThisFormat(path) from None
        attrs = dict(array.attrs)
        nodata = attrs.get("nodata")
        return ImageInfo(
            str(path),
            self.name,
            tuple(array.shape),
            np.dtype(array.dtype),
            native_chunks=tuple(array.chunks[:2]),
            tiled=True,
            photometric=attrs.get("photometric", "minisblack"),
            alpha=bool(attrs.get("alpha", False)),
            nodata=None if nodata is None else float(nodata),
        )

    def read_window(self, info, rows, cols):
        window, axes = (slice(*rows), slice(*cols)), info.axes
        shape = (rows[1] - rows[0], cols[1] - cols[0]) + info.shape[2:]
        try:
            import zarr

            data = _from_axes(zarr.open_array(info.path, mode="r")[_to_axes(window, axes)], axes)
        except Exception as exc:
            raise InputError(msg.CANNOT_DECODE.format(path=info.path, reason=reason(exc))) from None
        return np.asarray(data).reshape(shape)

    def read(self, info, chunks):
        """``chunks`` rounded to the store's chunks."""
        import dask.array as da

        rows, cols = aligned_chunks(info, chunks)
        if info.axes:
            stored = da.from_zarr(
                info.path,
                chunks=tuple(rows if a == "y" else cols if a == "x" else -1 for a in info.axes),
            )
            return _from_axes(stored, info.axes)
        return da.from_zarr(info.path, chunks=(rows, cols) + (-1,) * (len(info.shape) - 2))

    def create(self, path, shape, dtype, *, options=None):
        """An array of zeros at ``path`` in ``chunks`` (rows, cols[, channels]): the
        ``options``' only one taken here."""
        return self._create(path, shape, dtype, options["chunks"])

    def _create(self, path, shape, dtype, chunks, *, channel_first=False, **extra):
        """:meth:`create`, stored channels first with ``channel_first``; ``extra``: zarr's
        (``dimension_names``, ``overwrite``)."""
        import zarr

        stored, chunks = (
            (shape[2:] + shape[:2], chunks[2:] + chunks[:2]) if channel_first else (shape, chunks)
        )
        zarr.create_array(
            str(path), shape=stored, dtype=dtype, chunks=chunks, fill_value=0, **extra
        )
        return ZarrArrayStore(str(path), shape, channel_first=channel_first)

    def open_store(self, path, shape, *, options=None):
        return ZarrArrayStore(str(path), shape)

    def write(self, path, image, compute, *, kept=None, options=None):
        """``image`` stored chunk by chunk (dask's ``to_zarr``) by whoever computes the
        chunks, in ``image``'s chunks (``progress``: under dask's bar)."""
        stored = image.to_zarr(str(path), compute=False)
        compute([stored], progress=(options or {}).get("progress", False))

    def finish(self, source, path, info, *, options=None):
        """The store ``source`` is the output: ``attrs`` (the input's metadata) added."""
        import zarr

        zarr.open_array(str(source), mode="r+").attrs.update((options or {}).get("attrs", {}))


ZARR = ZarrBackend()
