"""A run's output files: which ones, where their stores lie, when each is finished (the
pyramid's levels are :mod:`daskfft.run.levels`', the pictures :mod:`daskfft.run.plots`').

What to write is decided here; how each format is written is its
:mod:`daskfft.io` backend's.  Everything is written into the work folder
(:class:`daskfft.run.workdir.WorkDir`) and published into OUTDIR only when all of
it is complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from daskfft import io
from daskfft.messages import run as msg

__all__ = [
    "SPECTRA_CHOICES",
    "creation_keys",
    "parse_creation_options",
    "creation_options",
    "output_names",
    "mask_kind",
    "full_size",
    "pyramid_of",
    "jsonable",
    "channel_first",
    "create_stores",
    "store_chunks",
    "store_options",
    "sample_format",
    "sample_tile",
    "sample_store",
    "staged",
    "staged_path",
    "finalize",
    "result_root",
    "remote_outdir",
]


log = logging.getLogger("daskfft")

#: Which spectra pictures a run writes: the atlas, one PNG per chunk, both, or none.
SPECTRA_CHOICES = ("atlas", "chunks", "all", "none")


def creation_keys():
    """``--co KEY=VALUE`` keys (GDAL's creation options), and the formats taking each: what
    the backends take (:attr:`daskfft.io.Backend.creation_keys`), in registration order."""
    keys = {}
    for entry in io.registry.BACKENDS.values():
        for key in entry.creation_keys:
            keys.setdefault(key, []).append(entry.name)
    return {key: tuple(names) for key, names in keys.items()}


def parse_creation_options(pairs):
    """``KEY=VALUE`` strings (``--co``) as a sorted tuple of (KEY, VALUE), upper case.

    Only the syntax, the keys and each value on its own (by the first backend taking the
    key) are checked here (a bad one is a usage error); :func:`creation_options` checks
    them against the output's format and pixels.
    """
    known = creation_keys()
    options = {}
    for pair in pairs or ():
        key, sep, value = str(pair).partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not key or not value:
            raise ValueError(msg.CO_SYNTAX.format(pair=pair))
        if key not in known:
            raise ValueError(msg.CO_UNKNOWN.format(key=key, known=", ".join(known)))
        if key in options and options[key] != value:
            raise ValueError(msg.CO_TWICE.format(key=key, first=options[key], second=value))
        io.backend(known[key][0]).check_creation_value(key, value)
        options[key] = value
    return tuple(sorted(options.items()))


def creation_options(fmt, options, dtype, bands, *, alpha=False, compression=None, tile=None):
    """The creation options of an output, checked against its format and pixels.

    Parameters
    ----------
    fmt : str
        The output format.
    options : tuple of (str, str)
        From :func:`parse_creation_options`.
    dtype, bands, alpha
        The output's pixels: numpy dtype, number of channels, whether the last is alpha.
    compression : str, optional
        ``--compression`` ("none" or "zlib"), the older spelling of ``COMPRESS``.
    tile : int, optional
        The BLOCKSIZE unless ``options`` give one (:meth:`daskfft.io.Backend.output_tile`);
        default the backend's :attr:`~daskfft.io.Backend.default_tile`.

    Returns
    -------
    dict
        KEY -> VALUE, checked and completed by the format's backend
        (:meth:`~daskfft.io.Backend.check_creation`).

    Raises
    ------
    InputError
        One line naming the option and why it does not apply to this output.
    """
    from daskfft.errors import InputError

    entry, known = io.backend(fmt), creation_keys()
    opts = dict(options)
    if compression is not None and "COMPRESS" in entry.creation_keys:
        given = {"none": "NONE", "zlib": "DEFLATE"}[compression]
        if opts.setdefault("COMPRESS", given) != given:
            raise InputError(
                msg.COMPRESSION_DISAGREES.format(compression=compression, given=opts["COMPRESS"])
            )
    for key in opts:
        if key not in entry.creation_keys:
            raise InputError(
                msg.CO_NOT_FOR_FORMAT.format(key=key, fmt=fmt, formats=" and ".join(known[key]))
            )
    if not entry.creation_keys:
        return opts
    return entry.check_creation(opts, dtype, bands, alpha=alpha, tile=tile)


def output_names(fmt, *, sample, spectra, plots, performance_report, mask=None, stack=False):
    """The names a run publishes into OUTDIR, the filtered image first; ``mask``: how the
    output keeps the input's mask (:func:`mask_kind`), a "sidecar" in ``filtered.tif.msk``;
    a ``stack`` as TIFF is an OME-TIFF, ``filtered.ome.tif``."""
    ext = (stack and io.backend(fmt).stack_ext) or io.OUTPUT_EXT[fmt]
    names = [f"filtered.{ext}", "report.json"]
    if mask == "sidecar":
        names.append(f"filtered.{ext}.msk")
    if sample:  # the input as it was made: a plain TIFF or Zarr beside a COG or OME-Zarr
        names.append(f"sample.{io.OUTPUT_EXT[sample_format(fmt)]}")
    if spectra in ("atlas", "all"):
        names.append("spectra.png")
    if spectra in ("chunks", "all"):
        names.append("spectra")
    if plots:
        names += ["overview.png", "radial_spectrum.png", "report.html"]
    if performance_report:
        names.append("performance-report.html")
    return names


def mask_kind(fmt, info):
    """How an output of ``fmt`` keeps the GDAL mask of the input ``info``, as GDAL would:
    "internal" (a TIFF mask page, as the input had; a COG's always is), "sidecar" (GDAL's
    ``<file>.msk``, as the input had), or None: no mask, or a format without masks (Zarr,
    PNG), which gets it as its last (alpha) channel, as the run holds it."""
    masks = io.backend(fmt).masks
    if info.mask is None or not masks:
        return None
    return "sidecar" if "sidecar" in masks and info.mask[0] != info.path else "internal"


def full_size(plan):
    """Where the tasks put the full-size result, relative to the work folder, and whether
    it is the output's own format filled in place (else a store of :data:`daskfft.io.SCRATCH`).

    An uncompressed TIFF output is filled in place; a COG's full-size level
    is an uncompressed TIFF with room for its overviews (``pyramid.tif``);
    OME-Zarr's is level ``0`` of the multiscale group; the rest go to a
    Zarr store that is turned into the output at the end.
    """
    if plan.tiff_tile:
        return ("pyramid.tif" if pyramid_of(plan) == "pages" else f"out/{plan.names[0]}"), True
    if pyramid_of(plan) == "group":
        return f"{plan.names[0]}/0", False
    return "filtered.zarr", False


def pyramid_of(plan):
    """Where the output's overview levels lie (:attr:`daskfft.io.Backend.pyramid`)."""
    return io.backend(plan.fmt).pyramid


def channel_first(plan):
    """Whether the result is stored channels first: OME-Zarr's axes are (c, y, x)."""
    return io.backend(plan.fmt).channel_first and len(plan.info.shape) == 3


def remote_outdir(config):
    """OUTDIR as a :class:`~daskfft.io.url.Remote` where it is a URL (with the run's storage
    options), else None."""
    if not io.url.is_url(config.outdir):
        return None
    return io.url.location(config.outdir, dict(config.storage_options), name="OUTDIR")


def result_root(plan, root):
    """Where the output's own stores are made: in the work folder ``root``; where OUTDIR is a
    URL and the output a folder store (Zarr, OME-Zarr), in the store, where the workers
    write their chunks themselves: in place where OUTDIR held none of the run's outputs
    (its metadata in the stage, ``OUTDIR/.daskfft-work/``, until published), else in the
    stage, from where publishing copies it into place.  Any other output is made in
    ``root`` and uploaded whole when published."""
    remote = remote_outdir(plan.config)
    if remote is not None and io.backend(plan.fmt).folder:
        from daskfft.run.workdir.layout import WORK_NAME, writes_in_place

        if writes_in_place(root):
            return io.url.Remote(remote.text, remote.storage, meta=remote / WORK_NAME)
        return remote / WORK_NAME
    return Path(root)


def create_stores(plan, root):
    """The empty result stores of ``plan`` in the work folder ``root`` (the output's own,
    where :func:`result_root` says), to be filled by tasks.

    zarr is imported only for a Zarr store: its import took 0.2 s of a 0.8 s TIFF run.
    """
    info, root, result = plan.info, Path(root), result_root(plan, root)
    path, in_place = full_size(plan)
    if in_place:
        _create_tiff(plan, root / path, plan.tiff_tile)
    elif pyramid_of(plan) == "group":
        io.backend(plan.fmt).create(
            result / plan.names[0], info.shape, info.dtype, options=_store_options(plan)
        )
    else:
        where = result if io.backend(plan.fmt).folder else root  # else a scratch store
        io.SCRATCH.create(where / path, info.shape, info.dtype, options=_store_options(plan))
    if pyramid_of(plan) == "pages" and not in_place:
        _create_tiff(plan, root / "pyramid.tif", int(plan.creation["BLOCKSIZE"]))
    if sample_tile(plan):
        io.backend(sample_format(plan.fmt)).create(
            root / "out" / "sample.tif",
            info.shape,
            np.uint8,
            options={"tile": sample_tile(plan), "photometric": "rgb", "subfile_type": False},
        )
    elif plan.config.sample is not None:
        io.SCRATCH.create(
            root / "sample.zarr", info.shape, "uint8", options={"chunks": _chunks(plan)}
        )
    if plan.config.spectra in ("chunks", "all"):
        (root / "out" / "spectra").mkdir()


def _create_tiff(plan, path, tile):
    """An empty tiled TIFF for ``plan``'s result at ``path`` (every level of a COG), with
    the input's mask as :func:`mask_kind` says."""
    info = plan.info  # the TIFF's tags: GDAL_NODATA says the value used
    io.backend(plan.fmt).create(
        path,
        info.shape,
        info.dtype,
        options={
            "photometric": info.photometric,
            "alpha": info.has_alpha,
            "tags": info.tags,
            "tile": tile,
            "levels": plan.levels,  # a TIFF's one, a COG's with its overviews
            "mask": mask_kind(plan.fmt, info),
        },
    )


def _store_options(plan):
    """The options of the result store the tasks fill: its chunks; a stack's, its axes and
    z chunk (one plane, for a store that becomes an OME-TIFF: its pages are written one
    after the other, each store chunk read once), and the plane its pictures show."""
    options = {"chunks": _chunks(plan)}
    if plan.info.stack:
        tiff = io.backend(plan.fmt).default_tile is not None
        zchunk = plan.zs[0] if plan.zs and not tiff else 1
        options.update(stack=plan.info.stack, zchunk=zchunk, view=plan.view)
    return options


def store_options(plan):
    """:func:`_store_options` less the chunks: what reopening the result store takes."""
    return {k: v for k, v in _store_options(plan).items() if k != "chunks"}


def _chunks(plan):
    """The chunks of the Zarr stores the tasks fill, channels whole."""
    return store_chunks(plan) + plan.info.shape[2:]


def store_chunks(plan):
    """The (rows, cols) chunk of the Zarr stores the tasks fill: a chunk's, or, for a store
    that becomes a TIFF, one row of its tiles by a chunk's width, so that the TIFF is written
    a row of tiles at a time, each store chunk read once (:func:`finalize`)."""
    rows, cols = plan.rows[0], plan.cols[0]
    tile = int(plan.creation.get("BLOCKSIZE", 0))
    tiff = io.backend(plan.fmt).default_tile is not None  # a COG's sample is a TIFF
    if tiff and tile and (rows % tile == 0 or len(plan.rows) == 1):
        rows = min(rows, tile)
    return rows, cols


def sample_format(fmt):
    """The format the built-in sample is saved in beside an output of ``fmt``."""
    return io.backend(fmt).plain or fmt


def sample_tile(plan):
    """Tile edge of the sample's TIFF when the tasks write it in place, or None (then they
    write ``sample.zarr``, turned into the output at the end).

    The sample is saved as ``daskfft sample`` saves it (uncompressed, 256-px tiles, the
    same bytes) unless the run's creation options ask for more; its tiles then lie at
    known offsets, and each task writes its own when every chunk edge falls on the tile
    grid: no second pass over the sample, no copy of it in memory.
    """
    if plan.config.sample is None:
        return None
    entry = io.backend(sample_format(plan.fmt))
    tile = entry.in_place_tile(_sample_creation(plan) or {"COMPRESS": "NONE"})
    if tile is None or tile != entry.default_tile:  # saved with the default tiles
        return None
    inner = plan.row_edges[1:-1] + plan.col_edges[1:-1]
    return tile if all(e % tile == 0 for e in inner) else None


def sample_store(plan, root):
    """The sample's TIFF in the work folder ``root`` as a level the tasks fill in place
    (:class:`~daskfft.io.Store`), or None where :func:`sample_tile` says not."""
    if not sample_tile(plan):
        return None
    return io.backend(sample_format(plan.fmt)).open_store(
        Path(root) / "out" / "sample.tif", plan.info.shape
    )


def _sample_creation(plan):
    """The creation options the sample is saved with: the run's, where the sample is in the
    output's own format (a TIFF beside a TIFF); none beside a COG or OME-Zarr."""
    return plan.creation if sample_format(plan.fmt) == plan.fmt else {}


def staged(root, names, result=None):
    """Where each output waits in the work folder ``root``: stores in it, files in ``out/``;
    the first (the filtered image) in ``result`` where given (:func:`result_root`)."""
    root = Path(root)
    where = {n: root / n if io.is_store_name(n) else root / "out" / n for n in names}
    if result is not None and names and io.is_store_name(names[0]):
        where[names[0]] = result / names[0]
    return where


def staged_path(root, name, fmt):
    """Where the output ``name``, of format ``fmt``, is made in the work folder ``root``: a
    folder store (:attr:`daskfft.io.Backend.folder`) in it, a file in ``out/``."""
    root = root if io.is_remote(root) else Path(root)
    return str(root / name) if io.backend(fmt).folder else str(root / "out" / name)


def finalize(root, name, path, fmt, info, *, creation=None):
    """Turn ``root/<name>.zarr`` into the output ``path`` in format ``fmt``.

    A Zarr output is the store itself, given the input's metadata as
    attributes; it stays where it is until published, so that a failure
    afterwards still finds it for ``--resume``.
    """
    src = (root if io.is_remote(root) else Path(root)) / f"{name}.zarr"
    attrs = {
        "photometric": info.photometric,
        "alpha": info.has_alpha,
        "nodata": jsonable(info.nodata),
        "geotiff_tags": {str(t[0]): jsonable(t[3]) for t in info.tags},
    }
    options = {"attrs": attrs, "mask": mask_kind(fmt, info), "creation": creation}
    io.backend(fmt).finish(src, path, info, options=options)


def jsonable(value):
    from daskfft.run.describe import json_number

    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float):
        return json_number(value)
    return value
