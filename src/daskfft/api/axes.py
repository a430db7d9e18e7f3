"""Which axes of an array are space, channels and frames: told, never guessed.

scikit-image's convention: ``channel_axis=None`` means every axis is spatial,
``channel_axis=-1`` (or any axis) marks the channels, each filtered alone.  An
``xarray.DataArray`` names its own: ``band``/``c``/``channel`` are channels,
``t``/``time`` frames (each filtered alone: nothing is filtered across time),
``z``/``y``/``x`` space.  What cannot be told from either is refused with what to
pass, never guessed: a 3-D array whose last axis looks like colours (at most 4)
given without ``channel_axis``, a 4-D array without one, a dim of another name.

The filters work on an arranged array: the spatial axes first (2 or 3, in their
order), then the channels, then the frames.  :class:`Axes` arranges an array so
and puts a result back.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from daskfft.kernels.grid import DEFAULT_CHUNKS, DEFAULT_VOLUME_CHUNKS
from daskfft.messages import api as msg

__all__ = [
    "UNSET",
    "CHANNEL_DIMS",
    "FRAME_DIMS",
    "SPACE_DIMS",
    "Axes",
    "array_axes",
    "dims_axes",
]

#: DataArray dims that are channels, frames and space, by name.
CHANNEL_DIMS = ("band", "c", "channel")
FRAME_DIMS = ("t", "time")
SPACE_DIMS = ("z", "y", "x")

#: The last axis of a 3-D array at most this long looks like colours (gray and alpha,
#: RGB, RGBA): too close a call to make without ``channel_axis``.
COLOURS = 4


class _Unset:
    """``channel_axis`` not given (None is an answer: every axis spatial)."""

    def __repr__(self):
        return "<not given>"


UNSET = _Unset()


@dataclass(frozen=True)
class Axes:
    """An array's axes by role, as positions in the array: ``spatial`` (2 or 3, in their
    order), ``channel`` (one or None) and ``frames`` (time: zero or one)."""

    spatial: tuple
    channel: int | None = None
    frames: tuple = ()

    @property
    def order(self):
        """The arranged order: spatial axes, the channel, the frames."""
        return self.spatial + (() if self.channel is None else (self.channel,)) + self.frames

    def arrange(self, image):
        """``image`` (NumPy or dask) with its axes in :attr:`order`, as a dask array: NumPy
        cut into chunks of ``DEFAULT_CHUNKS`` pixels (``DEFAULT_VOLUME_CHUNKS`` voxels in
        3-D), one frame each; the channels always in one chunk."""
        import dask.array as da

        k = len(self.spatial)
        if isinstance(image, da.Array):
            image = image.transpose(self.order)
        else:
            image = np.asarray(image).transpose(self.order)
            edge = DEFAULT_CHUNKS if k == 2 else DEFAULT_VOLUME_CHUNKS
            chunks = (
                (edge,) * k + ((-1,) if self.channel is not None else ()) + (1,) * len(self.frames)
            )
            return da.from_array(image, chunks=chunks)
        if self.channel is not None and image.numblocks[k] != 1:
            image = image.rechunk({k: -1})
        return image

    def restore(self, result):
        """``result``, arranged as :meth:`arrange` does, back in the input's axis order."""
        return result.transpose(tuple(np.argsort(self.order)))


def _axis(channel_axis, ndim):
    """``channel_axis`` as a position in ``0 .. ndim - 1``."""
    message = msg.CHANNEL_AXIS_NOT_AN_AXIS.format(value=channel_axis, ndim=ndim)
    try:
        axis = operator.index(channel_axis)
    except TypeError:
        raise TypeError(message) from None
    if not -ndim <= axis < ndim:
        raise ValueError(message)
    return axis % ndim


def array_axes(shape, channel_axis=UNSET):
    """The :class:`Axes` of an array of ``shape`` (NumPy or dask) with ``channel_axis``.

    Raises
    ------
    ValueError
        Where the roles cannot be told (a 3-D array whose last axis is at most
        ``COLOURS`` long, or a 4-D one, without ``channel_axis``), or would leave
        other than 2 or 3 spatial axes; the message says what to pass.
    TypeError
        For a ``channel_axis`` that is not an integer or None.
    """
    ndim = len(shape)
    if channel_axis is UNSET:
        if ndim == 3 and shape[-1] <= COLOURS:
            raise ValueError(msg.CHANNELS_AMBIGUOUS.format(shape=tuple(shape)))
        if ndim == 4:
            raise ValueError(msg.FOUR_D_NEEDS_CHANNEL_AXIS.format(shape=tuple(shape)))
        channel_axis = None
    if channel_axis is None:
        return _checked(Axes(tuple(range(ndim))), shape)
    axis = _axis(channel_axis, ndim)
    return _checked(Axes(tuple(a for a in range(ndim) if a != axis), axis), shape)


def dims_axes(dims, shape, channel_axis=UNSET):
    """The :class:`Axes` of a DataArray with ``dims`` and ``shape``: by the dims' names, the
    dim named (or numbered) by ``channel_axis`` being the channels.  Dims that name no role
    at all (xarray's ``dim_0``, ``dim_1``...) are taken as an array's, by ``channel_axis``.

    Raises
    ------
    ValueError
        For a dim of another name among named ones, two channel or frame dims, or
        other than 2 or 3 spatial dims; the message names the dims.
    """
    known = CHANNEL_DIMS + FRAME_DIMS + SPACE_DIMS
    if channel_axis is not UNSET and channel_axis is not None and channel_axis in dims:
        channel_axis = dims.index(channel_axis)
    if not any(d in known for d in dims):
        return array_axes(shape, channel_axis)
    channel = None if channel_axis in (UNSET, None) else _axis(channel_axis, len(dims))
    spatial, frames, channels = [], [], [] if channel is None else [channel]
    for i, d in enumerate(dims):
        if i == channel:
            continue
        if d in CHANNEL_DIMS:
            channels.append(i)
        elif d in FRAME_DIMS:
            frames.append(i)
        elif d in SPACE_DIMS:
            spatial.append(i)
        else:
            raise ValueError(msg.DIM_UNKNOWN.format(dim=d, dims=tuple(dims)))
    if len(channels) > 1 or len(frames) > 1:
        raise ValueError(msg.TOO_MANY_DIMS.format(dims=tuple(dims)))
    axes = Axes(tuple(spatial), channels[0] if channels else None, tuple(frames))
    return _checked(axes, shape, dims)


def _checked(axes, shape, dims=None):
    """``axes``, where they leave 2 or 3 spatial axes."""
    if len(axes.spatial) not in (2, 3):
        found = msg.SHAPE_AND_DIMS if dims is not None else msg.SHAPE_ONLY
        found = found.format(shape=tuple(shape), dims=dims and tuple(dims))
        raise ValueError(msg.SPATIAL_AXES.format(count=len(axes.spatial), found=found))
    return axes
