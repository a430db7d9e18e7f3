"""Zarr v2/v3 arrays (zarr): read in windows aligned to the store's chunks, and the
stores the tasks fill (channels first where the stored axes say so).

An array may be stored with named axes (an OME-Zarr level's, e.g. "tczyx"): it is
read as (y, x[, c]); OME-Zarr's groups are :mod:`daskfft.io.omezarr`'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

import numpy as np

from daskfft.errors import InputError
from daskfft.io import cache, url, zarrstore
from daskfft.io.base import Backend, ImageInfo, NotThisFormat, Store, aligned_chunks, reason
from daskfft.messages import io as msg

__all__ = ["ZarrBackend", "ZARR", "ZarrArrayStore"]


#: Dim names (xarray's ``_ARRAY_DIMENSIONS``, Zarr v3's ``dimension_names``) and the axes they
#: are: the names :mod:`daskfft.api.axes` knows a DataArray's dims by.
_DIM_LETTERS = {"band": "c", "c": "c", "channel": "c", "t": "t", "time": "t"}
_DIM_LETTERS.update({a: a for a in "zyx"})
#: The dim names a stack's output is written with, by axis letter.
_DIM_NAMES = {"t": "t", "c": "c", "z": "z", "y": "y", "x": "x"}


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
    image = (sizes["y"], sizes["x"]) + ((sizes["c"],) if "c" in sizes else ())
    native = dict(zip(axes, chunks))
    plain = axes in ("yx", "yxc")
    stack = tuple((a, sizes[a], native[a]) for a in "tz" if sizes.get(a, 1) > 1)
    return replace(
        info,
        shape=image,
        native_chunks=(native["y"], native["x"]),
        axes=None if plain else axes,
        untold=False,
        stack=stack,
    )


def _from_axes(data, axes):
    """An array stored with ``axes`` (OME-Zarr's, e.g. "tczyx") as (y, x[, c])."""
    if axes is None:
        return data
    index = tuple(slice(None) if a in "yxc" else 0 for a in axes)
    kept = [a for a in axes if a in "yxc"]
    order = [kept.index(a) for a in "yxc" if a in kept]
    return data[index].transpose(order)


def _to_axes(window, axes, frame=0, planes=None):
    """The (y, x) ``window`` slices as an index of an array stored with ``axes``; of a stack,
    at time point ``frame`` (dropped) and over the z ``planes`` (kept, where given)."""
    if axes is None:
        return window
    rows, cols = window[:2]
    picked = {"y": rows, "x": cols, "c": slice(None), "t": slice(frame, frame + 1)}
    picked["z"] = slice(0, 1) if planes is None else slice(*planes)
    return tuple(picked[a] for a in axes)


def _stack_window(data, axes):
    """A window read through :func:`_to_axes` with z planes, as (z, y, x[, c])."""
    index = tuple(0 if a == "t" else slice(None) for a in axes)
    kept = [a for a in axes if a != "t"]
    return data[index].transpose([kept.index(a) for a in "zyxc" if a in kept])


def _token():
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ZarrArrayStore(Store):
    """A Zarr array the tasks read and write in windows; stored (channels, rows, cols)
    with ``channel_first`` (OME-Zarr's axes), else (rows, cols[, channels])."""

    path: str
    shape: tuple  # rows, cols (, channels)
    channel_first: bool = False
    #: This store's own id: a remote array is opened once per process and id
    #: (:func:`daskfft.io.cache.open_array`).
    token: str = field(default_factory=_token, compare=False, repr=False)

    def read(self, rows, cols):
        z = cache.open_array(self.path, self.token)
        if self.channel_first:
            return np.moveaxis(z[:, rows[0] : rows[1], cols[0] : cols[1]], 0, 2)
        return z[rows[0] : rows[1], cols[0] : cols[1]]

    def write(self, y, r0, c0):
        def write():
            z = cache.open_array(self.path, self.token, "r+")
            if self.channel_first:
                z[:, r0 : r0 + y.shape[0], c0 : c0 + y.shape[1]] = np.moveaxis(y, 2, 0)
            else:
                z[r0 : r0 + y.shape[0], c0 : c0 + y.shape[1]] = y

        url.writing(self.path, write)


def stack_axes(shape, stack):
    """The stored axes of a stack's output, NGFF's order (t, c, z, y, x), as letters."""
    letters = {a for a, _, _ in stack}
    return "".join(
        a for a in "tczyx" if a in letters or a in "yx" or (a == "c" and len(shape) == 3)
    )


@dataclass(frozen=True)
class StackStore(Store):
    """A volume's or time series' Zarr array, stored with ``axes`` (NGFF's order, e.g.
    "tczyx"), that the tasks write a chunk at a time: (z, y, x[, c]) of one time point.
    ``shape`` is one plane's (y, x[, c]); :meth:`read` of rows and columns alone reads the
    plane ``view`` ((frame, z)), what the pictures show."""

    path: str
    shape: tuple
    axes: str
    view: tuple = (0, 0)
    token: str = field(default_factory=_token, compare=False, repr=False)  # as ZarrArrayStore's

    def _index(self, rows, cols, frame, planes):
        picked = {"t": frame, "c": slice(None), "z": slice(*planes)}
        picked.update(y=slice(*rows), x=slice(*cols))
        return tuple(picked[a] for a in self.axes)

    def read(self, rows, cols, *, frame=None, planes=None):
        """(z, y, x[, c]) of time point ``frame`` and the z ``planes``; (y, x[, c]) of the
        plane :attr:`view` where neither is given, or where the stack has no z."""
        frame = self.view[0] if frame is None else frame
        plane = planes is None
        planes = (self.view[1], self.view[1] + 1) if plane else planes
        data = cache.open_array(self.path, self.token)[self._index(rows, cols, frame, planes)]
        kept = [a for a in self.axes if a != "t"]
        out = np.transpose(data, [kept.index(a) for a in "zyxc" if a in kept])
        return out[0] if plane and "z" in kept else out

    def plane(self, frame, z):
        """The plane ``z`` of time point ``frame`` as a 2-D :class:`~daskfft.io.base.Store`."""
        return PlaneStore(self, frame, z)

    def write(self, y, r0, c0, *, frame=0, z0=0):
        """Write ``y``, (z, y, x[, c]) of time point ``frame`` (or (y, x[, c]) where the stack
        has no z), from ``(z0, r0, c0)``."""
        kept = [a for a in self.axes if a != "t"]
        order = [a for a in "zyxc" if a in kept]
        size = dict(zip(order, y.shape))
        rows, cols = (r0, r0 + size["y"]), (c0, c0 + size["x"])
        index = self._index(rows, cols, frame, (z0, z0 + size.get("z", 1)))
        stored = np.transpose(y, [order.index(a) for a in kept])

        def write():
            cache.open_array(self.path, self.token, "r+")[index] = stored

        url.writing(self.path, write)


@dataclass(frozen=True)
class PlaneStore(Store):
    """One plane of a :class:`StackStore`, read and written as an image (y, x[, c]): what the
    2-D overview tasks take."""

    stack: StackStore
    frame: int
    z: int

    @property
    def shape(self):
        return self.stack.shape

    def read(self, rows, cols):
        window = self.stack.read(rows, cols, frame=self.frame, planes=(self.z, self.z + 1))
        return window[0] if "z" in self.stack.axes else window

    def write(self, y, r0, c0):
        self.stack.write(
            y[None] if "z" in self.stack.axes else y, r0, c0, frame=self.frame, z0=self.z
        )


class ZarrBackend(Backend):
    """A Zarr array: read in windows, created empty for tasks to fill, finished by giving it
    the input's metadata as attributes (the output is the store itself)."""

    name, ext, suffixes, label = "zarr", "zarr", (".zarr",), "Zarr"
    folder = stacks = True

    def probe(self, path):
        import zarr

        try:
            array = zarr.open_array(str(path), mode="r", **url.zarr_options(str(path)))
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

        array = zarr.open_array(info.path, mode="r", **url.zarr_options(info.path))
        names = _named_axes(array)
        if names is not None and _letters(names, info.path) != axes:
            raise InputError(msg.AXES_DISAGREE.format(path=info.path, axes=axes, dims=tuple(names)))
        return _image_of(info, axes, tuple(array.shape), tuple(array.chunks))

    def read_window(self, info, rows, cols, *, frame=0, planes=None):
        window, axes = (slice(*rows), slice(*cols)), info.axes
        shape = (rows[1] - rows[0], cols[1] - cols[0]) + info.shape[2:]
        if planes is not None:
            shape = (planes[1] - planes[0],) + shape

        def read():
            import zarr

            array = zarr.open_array(info.path, mode="r", **url.zarr_options(info.path))
            stored = array[_to_axes(window, axes, frame, planes)]
            return _from_axes(stored, axes) if planes is None else _stack_window(stored, axes)

        def undecoded(exc):
            return InputError(msg.CANNOT_DECODE.format(path=info.path, reason=reason(exc)))

        return np.asarray(url.reading(info.path, read, undecoded)).reshape(shape)

    def read(self, info, chunks):
        """``chunks`` rounded to the store's chunks."""
        import dask.array as da

        rows, cols = aligned_chunks(info, chunks)
        if info.axes:
            stored = da.from_zarr(
                info.path,
                **url.zarr_options(info.path),
                chunks=tuple(rows if a == "y" else cols if a == "x" else -1 for a in info.axes),
            )
            return _from_axes(stored, info.axes)
        return da.from_zarr(
            info.path,
            chunks=(rows, cols) + (-1,) * (len(info.shape) - 2),
            **url.zarr_options(info.path),
        )

    def create(self, path, shape, dtype, *, options=None):
        """An array of zeros at ``path`` in ``chunks`` (rows, cols[, channels]): the
        ``options``' only one taken here; of a stack (``stack``, ``zchunk``: its
        :class:`~daskfft.io.base.ImageInfo`'s, and the z chunk), its :class:`StackStore`."""
        if options.get("stack"):
            return self._create_stack(path, shape, dtype, options)
        return self._create(path, shape, dtype, options["chunks"])

    def _create_stack(self, path, shape, dtype, options, **extra):
        """A stack's array of zeros, NGFF's axes order with their names, in chunks of one
        time point, every channel, ``zchunk`` planes and ``chunks`` (rows, cols)."""
        import zarr

        stack = options["stack"]
        axes = stack_axes(shape, stack)
        sizes = {a: n for a, n, _ in stack}
        sizes.update(y=shape[0], x=shape[1], c=shape[2] if len(shape) == 3 else 1)
        chunk = {"t": 1, "c": sizes["c"], "z": options.get("zchunk") or 1}
        chunk.update(y=options["chunks"][0], x=options["chunks"][1])
        zarr.create_array(
            zarrstore.open_target(path),
            shape=tuple(sizes[a] for a in axes),
            dtype=dtype,
            chunks=tuple(min(chunk[a], sizes[a]) for a in axes),
            fill_value=0,
            dimension_names=tuple(_DIM_NAMES[a] for a in axes),
            **extra,
        )
        return self.open_store(path, shape, options=options)

    def _create(self, path, shape, dtype, chunks, *, channel_first=False, **extra):
        """:meth:`create`, stored channels first with ``channel_first``; ``extra``: zarr's
        (``dimension_names``, ``overwrite``)."""
        import zarr

        stored, chunks = (
            (shape[2:] + shape[:2], chunks[2:] + chunks[:2]) if channel_first else (shape, chunks)
        )
        zarr.create_array(
            zarrstore.open_target(path),
            shape=stored,
            dtype=dtype,
            chunks=chunks,
            fill_value=0,
            **extra,
        )
        return ZarrArrayStore(str(path), shape, channel_first=channel_first)

    def open_store(self, path, shape, *, options=None):
        """The store at ``path``; of a stack (``stack``, ``view``), its :class:`StackStore`."""
        options = options or {}
        if options.get("stack"):
            axes = stack_axes(shape, options["stack"])
            return StackStore(str(path), shape, axes, options.get("view", (0, 0)))
        return ZarrArrayStore(str(path), shape)

    def write(self, path, image, compute, *, kept=None, options=None):
        """``image`` stored chunk by chunk (dask's ``to_zarr``) by whoever computes the
        chunks, in ``image``'s chunks (``progress``: under dask's bar)."""
        stored = image.to_zarr(str(path), compute=False)
        compute([stored], progress=(options or {}).get("progress", False))

    def finish(self, source, path, info, *, options=None):
        """The store ``source`` is the output: ``attrs`` (the input's metadata) added."""
        import zarr

        zarr.open_array(zarrstore.open_target(source), mode="r+").attrs.update(
            (options or {}).get("attrs", {})
        )


ZARR = ZarrBackend()
