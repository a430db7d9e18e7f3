"""The protocol every format backend follows, and what they share.

A backend (:class:`Backend`) knows one format: how to recognise a path
(:meth:`~Backend.guess_can_open`), read its header into an :class:`ImageInfo`
(:meth:`~Backend.probe`), read a window of pixels in a task
(:meth:`~Backend.read_window`) or the whole image lazily (:meth:`~Backend.read`),
create an empty output that tasks fill (:meth:`~Backend.create`, a :class:`Store`),
reopen it (:meth:`~Backend.open_store`) and turn a filled store into the finished
file with its companions (:meth:`~Backend.finish`).  It is xarray's
``BackendEntrypoint`` (``guess_can_open``, ``open_dataset``) for images that are
written as well as read.  :mod:`daskfft.io.registry` picks one for a path or format.

Every backend's ``create``, ``open_store`` and ``finish`` take the same arguments: the
run's ``options``, one dict (see :class:`Backend`), of which each takes what it needs
and ignores the rest; and its capabilities are attributes (``whole``, ``windowed``,
``masks``, ``creation_keys``, ``default_tile``, ``pyramid``, ``plain``, ``folder``,
``label``, ``channel_first``) and methods (:meth:`~Backend.fills_in_place`,
:meth:`~Backend.in_place_tile`, :meth:`~Backend.check_output`) that the run asks instead
of naming formats.  An output made in one pass rather than by tasks (``daskfft sample``,
``daskfft align --apply``) is written by :meth:`~Backend.write`, streamed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from daskfft.errors import InputError
from daskfft.messages import io as msg

__all__ = [
    "ImageInfo",
    "Store",
    "Backend",
    "NotThisFormat",
    "reason",
    "check_finite",
    "aligned_chunks",
]


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says: enough to plan the run before any pixel is read."""

    path: str
    format: str
    shape: tuple
    dtype: np.dtype
    native_chunks: tuple = ()  # tile or strip (TIFF), chunk (Zarr); () when read whole
    tiled: bool = False
    photometric: str = "minisblack"
    alpha: bool = False
    tags: tuple = field(default=(), compare=False)  # GeoTIFF/GDAL tags, as tifffile extratags
    nodata: float | None = None
    pixel_size: tuple | None = field(default=None, compare=False)  # (dy, dx, unit) if known
    mask: tuple | None = None  # (file, page) of a TIFF mask, read as the last (alpha) channel
    axes: str | None = None  # the stored array's axes, e.g. "cyx", read as (y, x, c); None:
    # (y, x[, c]) as stored, or, for an array with no named dims, not told (see ``untold``)
    untold: bool = False  # a 3-D array whose dims nothing names: --axes must say
    # A volume or time series: ((letter, length, native chunk), ...) of its t and z axes
    # longer than 1, t first; () for an image.  ``shape`` is then one plane's (y, x[, c]).
    stack: tuple = ()
    spacing: tuple | None = field(default=None, compare=False)  # (dz, dy, dx, unit) if known
    ome: bool = False  # an OME-Zarr image: its output is OME-Zarr too, unless asked otherwise

    @property
    def has_alpha(self):
        """The last channel is opacity, not image: it passes through unfiltered."""
        return self.alpha and len(self.shape) == 3

    @property
    def frames(self):
        """How many time points (1 but for a time series)."""
        return next((n for a, n, _ in self.stack if a == "t"), 1)

    @property
    def planes(self):
        """How many z planes (1 but for a volume)."""
        return next((n for a, n, _ in self.stack if a == "z"), 1)

    @property
    def isotropic(self):
        """A volume whose voxels are cubes (its spacing known, dz = dy = dx): its pyramid
        halves z with y and x."""
        if self.planes == 1 or self.spacing is None or None in self.spacing[:3]:
            return False
        dz, dy, dx = self.spacing[:3]
        return math.isclose(dz, dy, rel_tol=1e-6) and math.isclose(dy, dx, rel_tol=1e-6)

    @property
    def megapixels(self):
        """Millions of pixels, of voxels for a volume, over every frame of a time series."""
        return self.shape[0] * self.shape[1] * self.frames * self.planes / 1e6


class Store:
    """An output in the making that tasks read and write in windows: a page of a tiled
    TIFF, a Zarr array.  Small and picklable: shipped with every task, which opens the
    file itself."""

    path: str
    shape: tuple  # rows, cols (, channels)

    def read(self, rows, cols):
        """Pixels ``rows[0]:rows[1], cols[0]:cols[1]`` as (rows, cols[, channels])."""
        raise NotImplementedError

    def write(self, y, r0, c0):
        """Write ``y``, whose top-left pixel is ``(r0, c0)``."""
        raise NotImplementedError


class NotThisFormat(Exception):
    """A backend's :meth:`Backend.probe` says the path is another backend's (a Zarr group
    is not a Zarr array): the registry tries the next backend for the suffix."""


class Backend:
    """One format: recognise, probe, read windows; create, write windows, finish.

    Attributes
    ----------
    name : str
        The format's name: ``ImageInfo.format`` of what it reads, ``--output-format``
        of what it writes.
    ext : str or None
        The suffix an output of this format is written with; None: not an output format.
    suffixes : tuple of str
        The suffixes it reads (lower case, with the dot); () for a write-only format.
    whole : bool
        Read and written whole, never in windows (PNG, JPEG).
    windowed : bool
        A task reads its own window of an input (:meth:`read_window`) cheaply.
    masks : tuple of str
        The forms of GDAL's per-dataset mask an output keeps: "internal" (a mask page),
        "sidecar" (``<file>.msk``); () for a format without masks (the mask is then the
        last, alpha, channel).
    creation_keys : tuple of str
        The GDAL creation options (``--co KEY=VALUE``) it takes; see
        :meth:`check_creation_value` and :meth:`check_creation`.
    default_tile : int or None
        The tile edge of its output unless the input's or ``--co BLOCKSIZE`` say
        otherwise (:meth:`output_tile`); None: not a tiled output.
    pyramid : str or None
        Where an output's overview levels lie: "pages" (pages of one TIFF after the full
        size, the COG), "group" (arrays of one group, level ``k`` at ``<group>/k``,
        OME-Zarr); None: no overviews.
    plain : str or None
        The format of the same image without its pyramid ("tiff" for a COG); None: its own.
    folder : bool
        An output is a folder (a store), staged in the work folder itself rather than in
        its ``out/``: it stays where the tasks filled it until published.
    label : str
        The format's name in a sentence ("TIFF", "COG").
    channel_first : bool
        A 3-D image is stored channels first, (c, y, x).
    stacks : bool
        Reads and writes stacks (volumes, time series: :attr:`ImageInfo.stack`) in
        windows of planes.
    stack_ext : str or None
        The extension of a stack written in this format where it is not :attr:`ext`
        ("ome.tif": a TIFF's stack is an OME-TIFF).

    The ``options`` of :meth:`create`, :meth:`open_store` and :meth:`finish` are one dict
    the run builds for every backend; each takes the keys it knows: ``chunks`` (a Zarr
    store's, rows, cols[, channels]), ``tile`` (a TIFF's), ``photometric``, ``alpha``,
    ``tags`` (the input's), ``levels`` (every level's shape, the full size first),
    ``level`` (which one a store is), ``mask`` ("internal", "sidecar" or None),
    ``creation`` (the checked GDAL creation options), ``attrs`` (daskfft's metadata),
    ``kind`` and ``metadata`` (how the levels were made), ``subfile_type``.
    """

    name = ""
    ext = None
    suffixes = ()
    whole = False
    windowed = True
    masks = ()
    creation_keys = ()
    default_tile = None
    pyramid = None
    plain = None
    folder = False
    label = ""
    channel_first = False
    stacks = False
    stack_ext = None

    def guess_can_open(self, path):
        """Whether ``path`` looks like this format (by its suffix)."""
        return Path(path).suffix.lower() in self.suffixes

    def probe(self, path):
        """The header of ``path`` (a :class:`~pathlib.Path`) as an :class:`ImageInfo`."""
        raise NotImplementedError(msg.NOT_READ_HERE.format(name=self.name))

    def read_window(self, info, rows, cols, *, frame=0, planes=None):
        """Pixels ``rows[0]:rows[1], cols[0]:cols[1]`` of ``info``'s image; runs in a task.
        Of a stack (``info.stack``): of time point ``frame``, and of the z planes
        ``planes[0]:planes[1]`` (all but a volume's: none), as (z, y, x[, c])."""
        raise NotImplementedError(msg.NOT_READ_HERE.format(name=self.name))

    def read(self, info, chunks):
        """The image as a lazy dask array in chunks of about ``chunks`` pixels square
        (:func:`aligned_chunks`: on the file's own), channels in one."""
        raise NotImplementedError(msg.NOT_READ_HERE.format(name=self.name))

    def tell_axes(self, info, axes):
        """``info`` with its axes as ``axes`` (``--axes``: letters of "tczyx") says, for a
        format whose files do not name them; this one's files name their own: a given
        ``axes`` is refused (:class:`~daskfft.errors.InputError`)."""
        if axes is not None:
            raise InputError(msg.AXES_NAMED_HERE.format(path=info.path, label=self.label))
        return info

    def output_tile(self, info):
        """The tile edge of an output made from the input ``info`` unless ``--co
        BLOCKSIZE`` gives one, and why; ``(None, None)`` for an untiled format."""
        return None, None

    def check_creation_value(self, key, value):
        """Refuse (:class:`ValueError`) the value of the creation option ``key`` (one of
        :attr:`creation_keys`), whatever the output."""

    def check_creation(self, options, dtype, bands, *, alpha=False, tile=None):
        """The creation ``options`` (KEY -> VALUE, their keys this backend's) checked against
        the output's pixels, defaults filled in; ``tile``: the BLOCKSIZE unless given.
        Raises :class:`~daskfft.errors.InputError`."""
        return dict(options)

    def check_output(self, info):
        """Refuse (:class:`~daskfft.errors.InputError`) an output of this format made from
        the input ``info``: pixels it cannot hold, a library it needs that is missing."""

    def fills_in_place(self, creation):
        """Whether tasks fill an output written with the GDAL ``creation`` options in place,
        tile by tile (an uncompressed tiled TIFF, a COG's levels), rather than a store
        turned into the output at the end."""
        return False

    def in_place_tile(self, creation):
        """The tile edge of an output written with the GDAL ``creation`` options when its
        tiles lie at known offsets (uncompressed), so that tasks fill them in place; None
        when they cannot."""
        return None

    def write(self, path, image, compute, *, kept=None, options=None):
        """The output ``path`` from ``image``, a lazy dask array of its pixels, in one pass
        (``daskfft sample``, ``daskfft align --apply``), streamed: memory holds a band of
        rows, never the image, where the format is written in parts.

        ``image`` is a dask array, not a function of rows, so that each format is written
        where it is best written: a TIFF is one file written in order, so its bands of
        rows are computed (``compute``) and written here, one at a time; a Zarr store is
        written chunk by chunk by whoever computes the chunks (dask's ``to_zarr``), never
        through this process; PNG and JPEG are computed whole.

        ``compute(arrays, progress=False)`` computes a list of dask collections where the
        work runs (the run's cluster), with ``progress`` under dask's progress bar; ``kept``:
        a lazy boolean (rows, cols) array, where the image's mask keeps pixels, written as
        the ``mask`` option says ("internal": a mask page, "sidecar": GDAL's ``.msk``).
        ``options``: ``photometric``, ``alpha``, ``tags``, ``mask``, ``band`` (rows at a
        time), ``compression`` (tifffile's name), ``progress`` (dask's bar over a whole
        computation), ``rows_done`` (called with the rows written so far: 0 first, then
        after each band of a streamed one)."""
        raise NotImplementedError(msg.NOT_WRITTEN_HERE.format(name=self.name))

    def create(self, path, shape, dtype, *, options=None):
        """An empty output at ``path``, for tasks to fill; its :class:`Store`."""
        raise NotImplementedError(msg.WRITTEN_FROM_STORE.format(name=self.name))

    def open_store(self, path, shape, *, options=None):
        """The :class:`Store` of an output :meth:`create` made."""
        raise NotImplementedError(msg.WRITTEN_FROM_STORE.format(name=self.name))

    def finish(self, source, path, info, *, options=None):
        """The finished output ``path`` from the filled ``source`` (its companions too):
        ``source`` is the path of what the tasks filled (a Zarr store, a TIFF) or an array."""
        raise NotImplementedError(msg.NOT_WRITTEN_HERE.format(name=self.name))


def open_filled(source):
    """The filled store ``source`` as an array read in slices: a Zarr store's path opened,
    anything else (an array) as it is."""
    if isinstance(source, (str, Path)):
        import zarr

        return zarr.open_array(str(source), mode="r")
    return source


def reason(exc):
    """An exception in one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    kind = type(exc).__name__
    return msg.EXCEPTION_IN_ONE_LINE.format(kind=kind, line=text[0]) if text else kind


def parse_nodata(value):
    """A nodata value written as text (GDAL_NODATA, attributes) as a float, or None."""
    text = value.strip().strip("\x00") if isinstance(value, str) else str(value)
    try:
        return float(text)
    except ValueError:
        return None


def check_finite(block, path, nodata):
    """``block``, refused when a float pixel is NaN or infinite (unless NaN is ``nodata``)."""
    if block.dtype.kind == "f":
        ok = np.isfinite(block)
        if nodata is not None and np.isnan(nodata):
            ok |= np.isnan(block)
        if not ok.all():
            count = int(ok.size - np.count_nonzero(ok))
            raise InputError(msg.NOT_FINITE.format(path=path, count=count))
    return block


def aligned_chunks(info, chunks):
    """Chunk edge(s) near ``chunks``, whole multiples of the file's tiles or store chunks."""
    if not info.native_chunks:
        return (chunks, chunks)
    out = []
    for n, size in zip(info.native_chunks, info.shape[:2]):
        out.append(min(size, max(n, round(chunks / n) * n)))
    return tuple(out)
