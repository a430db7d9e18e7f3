"""The output's pyramid in the work folder: where each level lies (a page of a COG's
``pyramid.tif``, an array of an OME-Zarr group, or the full-size result), the overview
levels made each from the one above, and a COG or an OME-Zarr finished from them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from daskfft import io
from daskfft.messages import run as msg
from daskfft.run.outputs import (
    full_size,
    jsonable,
    mask_kind,
    pyramid_of,
    result_root,
    store_options,
)

__all__ = [
    "OVERVIEW_BLOCK",
    "VOLUME_BLOCK",
    "PLANES_BLOCK",
    "overview_block",
    "level_stack",
    "level_planes",
    "level_store",
    "build_overviews",
    "write_cog",
    "write_ome_zarr_metadata",
]

log = logging.getLogger("daskfft")


#: Overview blocks are made at least this many pixels square, one task each.
OVERVIEW_BLOCK = 512


#: The (z, y-x) block of a level of a volume whose voxels are cubes, one task each: its
#: window, with the anti-alias filter's halo on every side, is 256 x 640 x 640 voxels of the
#: level above (the halo is 64 at the default tolerance).
VOLUME_BLOCK = (64, 256)

#: The planes of a task of a level that keeps every plane (its blocks are an image's, of
#: :func:`overview_block`): 32 windows of 1152 x 1152 px, read together.
PLANES_BLOCK = 32


def overview_block(plan):
    """The edge of an overview block: :data:`OVERVIEW_BLOCK` rounded up to whole tiles of a
    COG's levels (and the Zarr chunk of OME-Zarr's), so that no two tasks write the same one."""
    tile = int(plan.creation["BLOCKSIZE"]) if pyramid_of(plan) == "pages" else OVERVIEW_BLOCK
    return tile * -(-OVERVIEW_BLOCK // tile)


def level_store(plan, root, k):
    """Where level ``k`` of the output's pyramid lies in the work folder (an
    :class:`~daskfft.io.Store`): a page of a COG's ``pyramid.tif``, an array of the
    OME-Zarr group, or, for level 0, wherever the tasks put the full-size result."""
    root, shape, result = Path(root), plan.levels[k], result_root(plan, root)
    if pyramid_of(plan) == "pages" and (k or plan.tiff_tile):
        return _tiff_level(plan, root / "pyramid.tif", k)
    if pyramid_of(plan) == "group":
        return io.backend(plan.fmt).open_store(
            result / plan.names[0], shape, options={"level": k, **_level_options(plan, k)}
        )
    path, in_place = full_size(plan)
    if in_place:
        return _tiff_level(plan, root / path, 0)
    where = result if io.backend(plan.fmt).folder else root  # else a scratch store
    return io.SCRATCH.open_store(where / path, shape, options=store_options(plan))


def level_stack(info, k):
    """The stack (:attr:`~daskfft.io.ImageInfo.stack`) of level ``k`` of the pyramid of
    ``info``: z halved ``k`` times (rounded up) where the voxels are cubes, else as it is."""
    if not info.isotropic:
        return info.stack
    return tuple((a, -(-n // 2**k) if a == "z" else n, c) for a, n, c in info.stack)


def level_planes(info, k):
    """How many z planes level ``k`` has."""
    return next((n for a, n, _ in level_stack(info, k) if a == "z"), 1)


def _level_options(plan, k):
    """:func:`store_options` of level ``k``: a stack's with the level's z."""
    options = store_options(plan)
    if plan.info.stack:
        options["stack"] = level_stack(plan.info, k)
    return options


def _tiff_level(plan, path, k):
    """Level ``k`` of the TIFF at ``path`` (a COG's levels' or a TIFF output's), with the
    input's mask as :func:`mask_kind` says."""
    return io.backend(plan.fmt).open_store(
        path, plan.levels[k], options={"level": k, "mask": mask_kind(plan.fmt, plan.info)}
    )


def build_overviews(plan, root, compute):
    """The overview levels of ``plan.levels``, each from the one above (written first): one
    task per block of a level, which reads its haloed window from the level above, reduces
    it and writes its block in place, so memory holds a block, never a level.  An image's
    block is 512 px square (:func:`daskfft.kernels.overview.overview_block`); a volume's,
    :data:`PLANES_BLOCK` planes of one (each plane halved as an image), or, where the voxels
    are cubes, :data:`VOLUME_BLOCK` voxels with z halved too (:func:`volume_task`).
    ``compute`` runs a list of tasks on the cluster."""
    import dask

    from daskfft.kernels.overview import overview_depth
    from daskfft.run.tasks import overview_task

    depth, block = overview_depth(plan.spec.tol), overview_block(plan)
    alpha = "mask" if plan.info.mask is not None else plan.info.has_alpha
    _log_volume_levels(plan)
    for k, shape in enumerate(plan.levels[1:], 1):
        volume = plan.info.planes > 1  # made in blocks of planes (z halved where cubes)
        if pyramid_of(plan) == "group":  # a COG's levels are pages of its TIFF, made already
            edge, zchunk = block, 1  # a plane a chunk, as viewers browse a stack's planes
            if _halves_z(plan, k):  # a block of voxels a task and a chunk
                zchunk, edge = VOLUME_BLOCK
            chunks = (min(edge, shape[0]), min(edge, shape[1])) + shape[2:]
            options = {**_level_options(plan, k), "zchunk": zchunk}
            io.backend(plan.fmt).create(
                result_root(plan, root) / plan.names[0],
                shape,
                plan.info.dtype,
                options={"chunks": chunks, "level": k, **options},
            )
        target = level_store(plan, root, k)
        source = level_store(plan, root, k - 1)
        started = time.perf_counter()
        if volume:
            compute(_volume_tasks(plan, source, target, k, depth, block))
            log.debug("overview %d: %.2f s", k, time.perf_counter() - started)
            continue
        planes = [(source, target)]
        if plan.info.stack:  # a time series' levels: each time point alone
            planes = [(source.plane(f, 0), target.plane(f, 0)) for f in range(plan.info.frames)]
        tasks = [
            dask.delayed(overview_task, pure=False)(
                above,
                below,
                (r, min(r + block, shape[0]), c, min(c + block, shape[1])),
                depth=depth,
                nodata=plan.spec.nodata,
                alpha=alpha,
                tol=plan.spec.tol,
            )
            for above, below in planes
            for r in range(0, shape[0], block)
            for c in range(0, shape[1], block)
        ]
        compute(tasks)
        log.debug(
            "overview %d (%d x %d): %.2f s", k, shape[1], shape[0], time.perf_counter() - started
        )


def _log_volume_levels(plan):
    """Say whether a volume's levels halve z, and why."""
    info = plan.info
    if info.planes == 1:
        return
    if info.isotropic:
        planes = [level_planes(info, k) for k in range(len(plan.levels))]
        size, unit = info.spacing[2], info.spacing[3]
        log.info(
            msg.OVERVIEWS_ZYX.format(
                size=size, unit=f" {unit}" if unit else " px", planes=", ".join(map(str, planes))
            )
        )
        return
    if info.spacing is None or None in info.spacing[:3]:
        why = msg.VOXELS_UNKNOWN
    else:
        dz, dy, dx, unit = info.spacing
        why = msg.VOXELS_NOT_CUBES.format(dz=dz, dy=dy, dx=dx, unit=f" {unit}" if unit else "")
    log.info(msg.OVERVIEWS_YX.format(why=why))


def _halves_z(plan, k):
    """Whether level ``k`` halves z: the voxels are cubes and the level above has planes to
    halve."""
    return plan.info.isotropic and level_planes(plan.info, k - 1) > 1


def _volume_tasks(plan, source, target, k, depth, block):
    """The tasks of level ``k`` of a volume, each time point's: where the voxels are cubes,
    one per block of :data:`VOLUME_BLOCK` voxels, z halved with y and x; else one per
    :data:`PLANES_BLOCK` planes of a ``block``-px square, each plane halved as an image."""
    import dask

    (rows, cols), planes = plan.levels[k][:2], level_planes(plan.info, k)
    zblock, block = VOLUME_BLOCK if _halves_z(plan, k) else (PLANES_BLOCK, block)
    return [
        dask.delayed(volume_task, pure=False)(
            source,
            target,
            (z, min(z + zblock, planes), r, min(r + block, rows), c, min(c + block, cols)),
            frame=f,
            above=level_planes(plan.info, k - 1),
            halve_z=_halves_z(plan, k),
            depth=depth,
            nodata=plan.spec.nodata,
            tol=plan.spec.tol,
        )
        for f in range(plan.info.frames)
        for z in range(0, planes, zblock)
        for r in range(0, rows, block)
        for c in range(0, cols, block)
    ]


def volume_task(source, target, box, *, frame, above, halve_z, depth, nodata, tol):
    """Block ``box`` (z0, z1, r0, r1, c0, c1) of time point ``frame`` of the level ``target``
    of a volume from the level ``source`` above (``above`` planes): its window read with the
    halo (in z too where the level ``halve_z``), mirrored past the volume's faces, reduced
    (:func:`daskfft.kernels.overview.overview_volume`, or plane by plane,
    :func:`daskfft.kernels.overview.overview_planes`) and written; one task."""
    from daskfft.kernels.block import halo_window, pad_block
    from daskfft.kernels.overview import overview_planes, overview_volume

    z0, z1, r0, r1, c0, c1 = box
    height, width = source.shape[:2]
    window = (2 * r0, min(height, 2 * r1), 2 * c0, min(width, 2 * c1))
    rows, cols, pads = halo_window(window, depth, (height, width))
    if not halve_z:
        block = source.read(rows, cols, frame=frame, planes=(z0, z1))
        block = pad_block(block, [(0, 0), *pads], "reflect")
        y = overview_planes(block, depth=depth, nodata=nodata, tol=tol)
        target.write(y, r0, c0, frame=frame, z0=z0)
        return z1 - z0
    end = min(above, 2 * z1)
    planes = (max(0, 2 * z0 - depth), min(above, end + depth))
    zpads = (depth - (2 * z0 - planes[0]), depth - (planes[1] - end))
    block = source.read(rows, cols, frame=frame, planes=planes)
    block = pad_block(block, [zpads, *pads], "reflect")
    y = overview_volume(block, depth=depth, nodata=nodata, tol=tol)
    target.write(y, r0, c0, frame=frame, z0=z0)
    return z1 - z0


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
        result_root(plan, root) / plan.names[0],
        plan.info,
        options={
            "levels": plan.levels,
            "kind": "Butterworth low-pass (order 8, 0.2 cycles/px) and every other pixel",
            # The method's name as outputs have carried it since the first release (its
            # module, daskfft.pyramid, is now daskfft.api.pyramid): kept, so that a file
            # written before and after the layering is the same byte for byte.
            "metadata": {"method": "daskfft.pyramid.overview"},
            "attrs": {
                "nodata": jsonable(plan.spec.nodata),
                "photometric": plan.info.photometric,
                "alpha": plan.info.has_alpha,
            },
        },
    )
