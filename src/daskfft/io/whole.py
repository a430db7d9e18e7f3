"""PNG and JPEG (imageio): read and written whole, never in windows.

Only images below :data:`daskfft.io.WHOLE_IMAGE_CAP` pixels are written here;
reading a larger one warns (:func:`daskfft.io.probe`).  A run writes them from
a filled Zarr store at the end (:meth:`WholeBackend.finish`).
"""

from __future__ import annotations

import os

import dask
import numpy as np

from daskfft.errors import InputError
from daskfft.io import url
from daskfft.io.base import Backend, ImageInfo, aligned_chunks, open_filled, reason
from daskfft.messages import io as msg

__all__ = ["WholeBackend", "PNG", "JPEG", "write_image"]


def write_image(path, array, fmt):
    """Write a whole in-memory ``array`` to ``path`` as "png" or "jpeg"
    (TIFF: :func:`daskfft.io.tiff.write_tiff`)."""
    import imageio.v3 as iio

    iio.imwrite(path, array, extension=".png" if fmt == "png" else ".jpg")


def _load_whole(info):
    """Decode a whole PNG/JPEG and check it against its header; runs inside a task."""
    import imageio.v3 as iio

    try:
        with url.open_binary(info.path) as fh:
            data = iio.imread(fh, extension=os.path.splitext(info.path)[1].lower())
    except Exception as exc:
        raise InputError(msg.CANNOT_DECODE.format(path=info.path, reason=reason(exc))) from None
    if data.shape != info.shape or data.dtype != info.dtype:
        raise InputError(
            msg.DECODED_NOT_AS_SAID.format(
                path=info.path,
                shape=data.shape,
                dtype=data.dtype,
                header_shape=info.shape,
                header_dtype=info.dtype,
            )
        )
    return data


class WholeBackend(Backend):
    """A format imageio reads and writes whole: "png" or "jpeg".

    ``holds``: the pixels an output may have, (dtype, channel counts), or None: any
    (JPEG's 8-bit gray or RGB; :meth:`check_output`)."""

    whole, windowed = True, False

    def __init__(self, name, ext, suffixes, *, holds=None):
        self.name, self.ext, self.suffixes = name, ext, suffixes
        self.label, self.holds = name.upper(), holds

    def probe(self, path):
        import imageio.v3 as iio

        # imageio leaks the file handle when no plugin accepts a file; our own closes.
        with url.open_binary(path) as fh:
            props = iio.improps(fh, extension=os.path.splitext(path)[1].lower())
        shape = tuple(props.shape)
        alpha = self.name == "png" and len(shape) == 3 and shape[2] in (2, 4)
        return ImageInfo(
            str(path),
            self.name,
            shape,
            np.dtype(props.dtype),
            alpha=alpha,
            photometric="rgb" if len(shape) == 3 and shape[2] >= 3 else "minisblack",
        )

    def read_window(self, info, rows, cols):
        return _load_whole(info)[rows[0] : rows[1], cols[0] : cols[1]]

    def read(self, info, chunks):
        """One task decodes the whole file; the chunks are cut from it."""
        import dask.array as da

        rows, cols = aligned_chunks(info, chunks)
        whole = da.from_delayed(
            dask.delayed(_load_whole, pure=True)(
                info, dask_key_name=f"read-{dask.base.tokenize(info)}"
            ),
            shape=info.shape,
            dtype=info.dtype,
            meta=np.empty((0,) * len(info.shape), dtype=info.dtype),
        )
        return whole.rechunk((rows, cols) + (-1,) * (len(info.shape) - 2))

    def check_output(self, info):
        """Refuse pixels the format cannot hold (:attr:`holds`)."""
        channels = info.shape[2] if len(info.shape) == 3 else 1
        if self.holds and (info.dtype != self.holds[0] or channels not in self.holds[1]):
            raise InputError(msg.JPEG_PIXELS.format(dtype=info.dtype, shape=info.shape))

    def write(self, path, image, compute, *, kept=None, options=None):
        """``image`` computed whole (``progress``: under dask's bar), then written."""
        (whole,) = compute([image], progress=(options or {}).get("progress", False))
        write_image(path, whole, self.name)

    def finish(self, source, path, info, *, options=None):
        """``path`` from the whole of ``source`` (an array, or a Zarr store, read whole)."""
        write_image(path, open_filled(source)[...], self.name)


PNG = WholeBackend("png", "png", (".png",))
JPEG = WholeBackend("jpeg", "jpg", (".jpg", ".jpeg"), holds=(np.dtype(np.uint8), (1, 3)))
