"""Zarr v2/v3 arrays (zarr): read in windows aligned to the store's chunks, and the
stores the tasks fill (channels first where the stored axes say so).

An array may be stored with named axes (an OME-Zarr level's, e.g. "tczyx"): it is
read as (y, x[, c]); OME-Zarr's groups are :mod:`daskfft.io.omezarr`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from daskfft.errors import InputError
from daskfft.io.base import Backend, ImageInfo, NotThisFormat, Store, aligned_chunks, reason
from daskfft.messages import io as msg

__all__ = ["ZarrBackend", "ZARR", "ZarrArrayStore"]


#: Dim names (xarray's ``_ARRAY_DIMENSIONS``, Zarr v3's ``dimension_names``) and the axes they
#: are: the names :mod:`daskfft.api.axes` knows a DataArray's dims by.
_DIM_LETTERS = {"band": "c", "c": "c", "channel": "c", "t": "t", "time": "t"}
_DIM_LETTERS.update({a: a for a in "zyx"})


def _named_axes(array):
    """The letters of the dims ``array`` names (v3 ``dimension_names``, else xarray's
    ``_ARRAY_DIMENSIONS`` attribute), or None where it names none."""
    names = getattr(array.metadata, "dimension_names", None) or array.attrs.get("_ARRAY_DIMENSIONS")
    if not names or all(n is None for n in names):
        return None
    return tuple(names)


def _letters(names, path):
    """The axes letters of the dim ``names``; refuses a name that is none of them."""
    unknown = [n for n in names if _DIM_LETTERS.get(str(n).lower()) is None]
    if unknown:
        raise InputError(msg.DIM_NAME_UNKNOWN.format(path=path, dim=unknown[0], dims=tuple(names)))
    return "".join(_DIM_LETTERS[str(n).lower()] for n in names)


def _image_of(info, axes, shape, chunks):
    """``info`` read through the stored ``axes`` (letters of "tczyx"): its (y, x[, c]) shape
    and native chunks.  Refuses axes that repeat, lack y or x, or have a z or t longer than 1
    (a volume or a time series: the lazy API's, ``daskfft.lowpass``)."""
    if len(axes) != len(shape) or len(set(axes)) != len(axes) or not {"y", "x"} <= set(axes):
        raise InputError(msg.AXES_DO_NOT_FIT.format(path=info.path, axes=axes, shape=shape))
    sizes = dict(zip(axes, shape))
    if any(sizes.get(a, 1) > 1 for a in "tz"):
        raise InputError(msg.STACK_NOT_IN_RUN.format(path=info.path, axes=axes, shape=shape))
    image = (sizes["y"], sizes["x"]) + ((sizes["c"],) if "c" in sizes else ())
    native = dict(zip(axes, chunks))
    plain = axes in ("yx", "yxc")
    return replace(
        info,
        shape=image,
        native_chunks=(native["y"], native["x"]),
        axes=None if plain else axes,
        untold=False,
    )


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
        info = ImageInfo(
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
        names = _named_axes(array)
        if names is not None:
            return _image_of(info, _letters(names, path), array.shape, array.chunks)
        # daskfft's own output (its attributes): (y, x[, c]), as it wrote it
        untold = array.ndim == 3 and "photometric" not in attrs
        return replace(info, untold=untold, axes=None)

    def tell_axes(self, info, axes):
        """The ``--axes`` of an array with no named dims; where it names them, ``axes`` must
        agree."""
        if axes is None:
            return info
        import zarr

        array = zarr.open_array(info.path, mode="r")
        names = _named_axes(array)
        if names is not None and _letters(names, info.path) != axes:
            raise InputError(msg.AXES_DISAGREE.format(path=info.path, axes=axes, dims=tuple(names)))
        return _image_of(info, axes, tuple(array.shape), tuple(array.chunks))

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
