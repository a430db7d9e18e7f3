"""A run's output files: which ones, where their stores lie, when each is finished, and the
pictures.

What to write is decided here; how each format is written is its
:mod:`daskfft.io` backend's.  Everything is written into the work folder
(:class:`daskfft.run.workdir.WorkDir`) and published into OUTDIR only when all of
it is complete.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
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
    "channel_first",
    "create_stores",
    "store_chunks",
    "level_store",
    "build_overviews",
    "write_cog",
    "write_ome_zarr_metadata",
    "sample_format",
    "sample_tile",
    "sample_store",
    "staged",
    "staged_path",
    "finalize",
    "write_pictures",
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


def output_names(fmt, *, sample, spectra, plots, performance_report, mask=None):
    """The names a run publishes into OUTDIR, the filtered image first; ``mask``: how the
    output keeps the input's mask (:func:`mask_kind`), a "sidecar" in ``filtered.tif.msk``."""
    ext = io.OUTPUT_EXT[fmt]
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
        names += ["overview.png", "radial_spectrum.png"]
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
        return ("pyramid.tif" if _pyramid(plan) == "pages" else f"out/{plan.names[0]}"), True
    if _pyramid(plan) == "group":
        return f"{plan.names[0]}/0", False
    return "filtered.zarr", False


def _pyramid(plan):
    """Where the output's overview levels lie (:attr:`daskfft.io.Backend.pyramid`)."""
    return io.backend(plan.fmt).pyramid


def channel_first(plan):
    """Whether the result is stored channels first: OME-Zarr's axes are (c, y, x)."""
    return io.backend(plan.fmt).channel_first and len(plan.info.shape) == 3


def create_stores(plan, root):
    """The empty result stores of ``plan`` in the work folder ``root``, to be filled by tasks.

    zarr is imported only for a Zarr store: its import took 0.2 s of a 0.8 s TIFF run.
    """
    info, root = plan.info, Path(root)
    path, in_place = full_size(plan)
    if in_place:
        _create_tiff(plan, root / path, plan.tiff_tile)
    elif _pyramid(plan) == "group":
        io.backend(plan.fmt).create(
            root / plan.names[0], info.shape, info.dtype, options={"chunks": _chunks(plan)}
        )
    else:
        io.SCRATCH.create(root / path, info.shape, info.dtype, options={"chunks": _chunks(plan)})
    if _pyramid(plan) == "pages" and not in_place:
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


#: Overview blocks are made at least this many pixels square, one task each.
OVERVIEW_BLOCK = 512


def overview_block(plan):
    """The edge of an overview block: :data:`OVERVIEW_BLOCK` rounded up to whole tiles of a
    COG's levels (and the Zarr chunk of OME-Zarr's), so that no two tasks write the same one."""
    tile = int(plan.creation["BLOCKSIZE"]) if _pyramid(plan) == "pages" else OVERVIEW_BLOCK
    return tile * -(-OVERVIEW_BLOCK // tile)


def level_store(plan, root, k):
    """Where level ``k`` of the output's pyramid lies in the work folder (an
    :class:`~daskfft.io.Store`): a page of a COG's ``pyramid.tif``, an array of the
    OME-Zarr group, or, for level 0, wherever the tasks put the full-size result."""
    root, shape = Path(root), plan.levels[k]
    if _pyramid(plan) == "pages" and (k or plan.tiff_tile):
        return _tiff_level(plan, root / "pyramid.tif", k)
    if _pyramid(plan) == "group":
        return io.backend(plan.fmt).open_store(root / plan.names[0], shape, options={"level": k})
    path, in_place = full_size(plan)
    if in_place:
        return _tiff_level(plan, root / path, 0)
    return io.SCRATCH.open_store(root / path, shape)


def _tiff_level(plan, path, k):
    """Level ``k`` of the TIFF at ``path`` (a COG's levels' or a TIFF output's), with the
    input's mask as :func:`mask_kind` says."""
    return io.backend(plan.fmt).open_store(
        path, plan.levels[k], options={"level": k, "mask": mask_kind(plan.fmt, plan.info)}
    )


def build_overviews(plan, root, compute):
    """The overview levels of ``plan.levels``, each from the one above (written first) by
    :func:`daskfft.kernels.overview.overview_block`: one task per 512-px block of a level, which
    reads its haloed window from the level above and writes its block in place, so
    memory holds a block, never a level.  ``compute`` runs a list of tasks on the cluster."""
    import dask

    from daskfft.kernels.overview import overview_depth
    from daskfft.run.tasks import overview_task

    depth, block = overview_depth(plan.spec.tol), overview_block(plan)
    alpha = "mask" if plan.info.mask is not None else plan.info.has_alpha
    for k, shape in enumerate(plan.levels[1:], 1):
        if _pyramid(plan) == "group":  # a COG's levels are pages of its TIFF, made already
            chunks = (min(block, shape[0]), min(block, shape[1])) + shape[2:]
            io.backend(plan.fmt).create(
                Path(root) / plan.names[0],
                shape,
                plan.info.dtype,
                options={"chunks": chunks, "level": k},
            )
        target = level_store(plan, root, k)
        source = level_store(plan, root, k - 1)
        tasks = [
            dask.delayed(overview_task, pure=False)(
                source,
                target,
                (r, min(r + block, shape[0]), c, min(c + block, shape[1])),
                depth=depth,
                nodata=plan.spec.nodata,
                alpha=alpha,
                tol=plan.spec.tol,
            )
            for r in range(0, shape[0], block)
            for c in range(0, shape[1], block)
        ]
        started = time.perf_counter()
        compute(tasks)
        log.debug(
            "overview %d (%d x %d): %.2f s", k, shape[1], shape[0], time.perf_counter() - started
        )


def write_cog(plan, root, path):
    """The Cloud-Optimized GeoTIFF ``path`` from the work folder's ``pyramid.tif``, whose
    pages hold every level: the full size laid in here, a row of tiles at a time, when the
    tasks could not write it in place (:meth:`daskfft.io.cog.CogBackend.finish` says how
    GDAL's failures are raised)."""
    pyramid = Path(root) / "pyramid.tif"
    if not plan.tiff_tile:  # the tasks wrote the full size into a Zarr store
        source, target = level_store(plan, root, 0), _tiff_level(plan, pyramid, 0)
        (height, width), tile = source.shape[:2], target.layout.tile
        span = max(tile, plan.cols[0] // tile * tile)  # a row of tiles, a part at a time
        for r0 in range(0, height, tile):
            for c0 in range(0, width, span):
                target.write(
                    source.read((r0, min(height, r0 + tile)), (c0, min(width, c0 + span))), r0, c0
                )
    io.backend(plan.fmt).finish(pyramid, path, plan.info, options={"creation": plan.creation})


def write_ome_zarr_metadata(plan, root):
    """NGFF 0.5 ``multiscales`` on the OME-Zarr group, its levels made by
    :func:`daskfft.api.pyramid.overview`; the input's nodata and colours as daskfft's."""
    io.backend(plan.fmt).finish(
        None,
        Path(root) / plan.names[0],
        plan.info,
        options={
            "levels": plan.levels,
            "kind": "Butterworth low-pass (order 8, 0.2 cycles/px) and every other pixel",
            # The method's name as outputs have carried it since the first release (its
            # module, daskfft.pyramid, is now daskfft.api.pyramid): kept, so that a file
            # written before and after the layering is the same byte for byte.
            "metadata": {"method": "daskfft.pyramid.overview"},
            "attrs": {
                "nodata": _jsonable(plan.spec.nodata),
                "photometric": plan.info.photometric,
                "alpha": plan.info.has_alpha,
            },
        },
    )


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


def staged(root, names):
    """Where each output waits in the work folder ``root``: stores in it, files in ``out/``."""
    root = Path(root)
    return {n: root / n if _folder(n) else root / "out" / n for n in names}


def _folder(name):
    """Whether the output ``name`` is a folder store, by the format its suffix names."""
    fmt = io.FORMATS.get(Path(name).suffix.lower())
    return fmt is not None and io.backend(fmt).folder


def staged_path(root, name, fmt):
    """Where the output ``name``, of format ``fmt``, is made in the work folder ``root``: a
    folder store (:attr:`daskfft.io.Backend.folder`) in it, a file in ``out/``."""
    return str(Path(root) / name) if io.backend(fmt).folder else str(Path(root) / "out" / name)


def finalize(root, name, path, fmt, info, *, creation=None):
    """Turn ``root/<name>.zarr`` into the output ``path`` in format ``fmt``.

    A Zarr output is the store itself, given the input's metadata as
    attributes; it stays where it is until published, so that a failure
    afterwards still finds it for ``--resume``.
    """
    src = Path(root) / f"{name}.zarr"
    attrs = {
        "photometric": info.photometric,
        "alpha": info.has_alpha,
        "nodata": _jsonable(info.nodata),
        "geotiff_tags": {str(t[0]): _jsonable(t[3]) for t in info.tags},
    }
    options = {"attrs": attrs, "mask": mask_kind(fmt, info), "creation": creation}
    io.backend(fmt).finish(src, path, info, options=options)


def _jsonable(value):
    from daskfft.run.describe import json_number

    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float):
        return json_number(value)
    return value


def _label(plan):
    """What the pictures' titles say the run did: its input, filter, cutoff, halo, chunks."""
    spec = plan.spec
    source = "sample" if plan.config.sample is not None else os.path.basename(plan.config.input)
    cutoffs = (
        f"{spec.low_cutoff:.3g}-{spec.cutoff:.3g}" if spec.band == "band" else f"{spec.cutoff:.3g}"
    )
    what = (
        f"flat-field ({spec.flatfield}) by its {spec.filter} low-pass"
        if spec.flatfield
        else f"{spec.filter} {spec.band}-pass"
    )
    return (
        f"{source}: {what}, cutoff {cutoffs} cycles/px, "
        + ("exact" if spec.method == "exact" else f"halo {plan.halo.depth} px")
        + f", chunks {plan.rows[0]}"
    )


def write_pictures(out, plan, summary, crops):
    """The spectra atlas, the overview and the radial spectrum that ``plan`` asks for."""
    from daskfft.kernels.bands import output_offset
    from daskfft.kernels.spectra import RADIAL_EDGES
    from daskfft.run import plots

    spec, rows, cols = plan.spec, plan.row_edges, plan.col_edges
    label = _label(plan)
    drawings = []
    if "spectra.png" in plan.names:
        if plan.config.plots:
            drawings.append(
                lambda: plots.atlas(
                    out / "spectra.png",
                    summary["atlas"],
                    rows,
                    cols,
                    plan.cell,
                    title=f"spectra per chunk - {label}",
                )
            )
        else:
            drawings.append(
                lambda: plots.write_picture(out / "spectra.png", summary["atlas"], grid=plan.cell)
            )
    if plan.config.plots:
        crop_in, crop_out, box = crops
        drawings.append(
            lambda: plots.overview(
                out / "overview.png",
                summary["thumb_in"],
                summary["thumb_out"],
                plan.thumb,
                crop_in,
                crop_out,
                box,
                dtype=plan.info.dtype,
                title=label,
                nodata=float("nan") if plan.info.mask is not None else spec.nodata,
                offset=output_offset(spec, plan.info.dtype),
            )
        )
        drawings.append(
            lambda: plots.radial_spectrum(
                out / "radial_spectrum.png",
                RADIAL_EDGES,
                summary["power_in"],
                summary["power_out"],
                spec=spec,
                title=f"radially averaged power - {label}",
            )
        )
    # Drawn side by side: NumPy, Pillow's resizing and zlib let go of the GIL (0.25 -> 0.17 s
    # for the three at 8192^2 on 2 cores).
    with ThreadPoolExecutor(max(1, min(len(drawings), os.cpu_count() or 1))) as pool:
        for done in [pool.submit(draw) for draw in drawings]:
            done.result()
