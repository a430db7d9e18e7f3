"""Reading images lazily, writing them atomically, and turning spectra into pictures."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np

from .errors import InputError

__all__ = ["FORMATS", "ImageInfo", "probe", "read", "to_dtype", "write_image", "write_picture"]

#: File suffixes understood, and the format each means.
FORMATS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg", ".jpeg": "jpeg"}


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says: enough to plan the run before any pixel is read."""

    path: str
    format: str
    shape: tuple
    dtype: np.dtype

    @property
    def has_alpha(self):
        """PNG-style gray+alpha or RGBA: the last channel is opacity, not image."""
        return len(self.shape) == 3 and self.shape[2] in (2, 4) and self.format == "png"


def probe(path):
    """Check that ``path`` is an image daskfft can filter and read its header.

    Raises
    ------
    InputError
        One line naming the path and the problem: missing, a directory,
        empty, an unknown suffix, unreadable, not 2-D or 3-D, or a pixel type
        that is not integer or real.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"input {path}: no such file")
    if p.is_dir():
        raise InputError(f"input {path}: is a directory, expected an image file")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InputError(
            f"input {path}: unsupported format {p.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    if p.stat().st_size == 0:
        raise InputError(f"input {path}: file is empty")
    try:
        if fmt == "tiff":
            import tifffile

            with tifffile.TiffFile(p) as tif:
                series = tif.series[0]
                shape, dtype = tuple(series.shape), np.dtype(series.dtype)
        else:
            import imageio.v3 as iio

            # imageio leaks the file handle when no plugin accepts a file; our own closes.
            with open(p, "rb") as fh:
                props = iio.improps(fh, extension=p.suffix.lower())
            shape, dtype = tuple(props.shape), np.dtype(props.dtype)
    except Exception as exc:  # every decoder has its own exception types
        raise InputError(f"input {path}: not a readable {fmt.upper()} file ({_reason(exc)})") from None
    if len(shape) not in (2, 3):
        raise InputError(
            f"input {path}: image must be 2-D (rows, cols) or 3-D (rows, cols, channels), "
            f"got shape {shape}"
        )
    if dtype.kind not in "uif":
        raise InputError(f"input {path}: pixel type {dtype} is not supported (integers or real floats)")
    if 0 in shape:
        raise InputError(f"input {path}: image is empty, shape {shape}")
    return ImageInfo(str(path), fmt, shape, dtype)


def _reason(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load(info):
    """Decode the whole file and check it against its header; runs inside a task."""
    try:
        if info.format == "tiff":
            import tifffile

            data = tifffile.imread(info.path)
        else:
            import imageio.v3 as iio

            with open(info.path, "rb") as fh:
                data = iio.imread(fh, extension=os.path.splitext(info.path)[1].lower())
    except Exception as exc:
        raise InputError(f"input {info.path}: cannot decode ({_reason(exc)})") from None
    if data.shape != info.shape or data.dtype != info.dtype:
        raise InputError(
            f"input {info.path}: decoded {data.shape} {data.dtype}, header said "
            f"{info.shape} {info.dtype}"
        )
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise InputError(f"input {info.path}: {bad} pixels are NaN or infinite; fill them first")
    return data


def read(info, chunks):
    """The image as a lazy dask array of ``chunks``-pixel squares, channels whole.

    The file is decoded inside a task, so on a cluster the pixels go from the
    disk to a worker, never through the client.  PNG and JPEG cannot be read
    in parts, so one task decodes the whole file.
    """
    whole = da.from_delayed(
        dask.delayed(load, pure=True)(info, dask_key_name=f"read-{dask.base.tokenize(info)}"),
        shape=info.shape,
        dtype=info.dtype,
        meta=np.empty((0,) * len(info.shape), dtype=info.dtype),
    )
    return whole.rechunk((chunks, chunks) + (-1,) * (len(info.shape) - 2))


def to_dtype(x, dtype):
    """Cast filtered floats to ``dtype``: integers rounded and clipped to their range."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        lim = np.iinfo(dtype)
        return np.clip(np.rint(x), lim.min, lim.max).astype(dtype)
    return x.astype(dtype, copy=False)


def write_image(path, array, fmt):
    """Write ``array`` to ``path`` in ``fmt`` ("png", "jpeg" or "tiff")."""
    if fmt == "tiff":
        import tifffile

        photometric = "rgb" if array.ndim == 3 and array.shape[2] in (3, 4) else "minisblack"
        extrasamples = None
        if photometric == "rgb" and array.shape[2] == 4:
            extrasamples = ["unassalpha"]
        tifffile.imwrite(path, array, photometric=photometric, extrasamples=extrasamples)
    else:
        import imageio.v3 as iio

        iio.imwrite(path, array, extension=".png" if fmt == "png" else ".jpg")


def picture(values, *, grid=None):
    """Scale ``values`` to uint8 between their 1st and 99.9th percentile.

    ``grid`` draws one-pixel white lines every ``grid`` pixels, between the
    tiles of a spectra atlas.
    """
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.percentile(values, [1.0, 99.9]) if values.size > 1 else (0.0, 1.0)
    scaled = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    out = np.rint(scaled * 255).astype(np.uint8)
    if grid and grid > 2:
        out[grid - 1 :: grid, :] = 255
        out[:, grid - 1 :: grid] = 255
    return out


def write_picture(path, values, *, grid=None):
    """Write ``values`` as a grayscale PNG via :func:`picture`; returns ``path``."""
    write_image(path, picture(values, grid=grid), "png")
    return str(path)


def write_spectrum_tile(block, *, directory, index):
    """Write one chunk's spectrum as ``spectrum_r{row}_c{col}.png``; runs inside a task."""
    name = f"spectrum_r{index[0]:03d}_c{index[1]:03d}.png"
    write_picture(os.path.join(directory, name), block)
    return name
