"""The per-chunk task of a run: filter -> write -> cell summary -> done marker.

Every task writes its own chunk of the result store, its small summaries
(``cells/i_j.npz``, :mod:`daskfft.run.cells`: spectrum tile, overview pixels, radial
power) and, last, its marker ``done/i_j``: a chunk counts as done only when all of its
outputs are complete, which is what ``--resume`` relies on.  The folder layout is
:class:`daskfft.run.workdir.WorkDir`'s; a task gets it as a small picklable
:class:`ChunkTarget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daskfft import io
from daskfft.kernels.bands import corrected, filter_spec_block
from daskfft.kernels.block import (
    data_mask,
    fast_pads,
    fast_window,
    filter_padded,
    halo_window,
    nodata_mask,
    pad_block,
    pruned_window,
    to_dtype,
)
from daskfft.kernels.overview import overview_block
from daskfft.kernels.sample import sample_window
from daskfft.run import cells
from daskfft.run.heap import trim_heap
from daskfft.run.rowbands import RowBands, band_rows

__all__ = [
    "ChunkTarget",
    "filter_and_save",
    "WindowSource",
    "read_filter_save",
    "read_filter_save_stack",
    "save_filtered",
    "overview_task",
]


@dataclass(frozen=True)
class ChunkTarget:
    """Where and how a chunk's task saves its results; shipped with every task."""

    root: str  # the work folder
    rows: tuple  # chunk edges along the rows, pixels
    cols: tuple
    out_dtype: np.dtype
    alpha: bool  # the last channel passes through unfiltered
    cell: int  # atlas tile edge, pixels
    thumb: int  # the overview keeps every thumb-th pixel
    tiles: bool  # one spectrum PNG per chunk
    sample: bool  # also store the input (the built-in sample is made, not read)
    atlas: bool = True  # the chunk's tile of the spectra atlas
    plots: bool = True  # overview pixels and radial power (input and filtered)
    spec: object = None  # the FilterSpec, for |H|**2 of the filtered power
    result: io.Store | None = None  # where the full-size result goes (level 0)
    alpha_is_mask: bool = False  # the alpha channel is the input's mask: alpha 0 is left out
    offset: float = 0  # added to the result's data pixels (mid-gray for a high-pass in uint)
    flat_mean: tuple | None = None  # a flat-field's level per channel: the image's data mean
    sample_store: io.Store | None = None  # the sample's TIFF, filled in place (else Zarr)
    z_edges: tuple = (0, 1)  # a volume's chunk edges along z
    view: tuple = (0, 0)  # a stack's plane (frame, z) whose chunks' summaries are the pictures
    stack: bool = False  # a volume's or time series' task: its pictures show one plane
    frames_shown: tuple = ()  # a time series' frames whose view plane frames.png shows

    def box(self, index):
        i, j = index
        return self.rows[i], self.rows[i + 1], self.cols[j], self.cols[j + 1]


def filter_and_save(block, *, block_info=None, self_pad, pad_mode, target, spec, halo, work_dtype):
    """Filter one haloed chunk, then save it like :func:`save_filtered`; runs in a task."""
    i, j = block_info[None]["chunk-location"][:2]
    r0, r1, c0, c1 = target.box((i, j))
    d0 = 0 if self_pad[0] else halo
    d1 = 0 if self_pad[1] else halo
    color = block[..., :-1] if target.alpha else block
    y = filter_spec_block(
        color,
        spec,
        work_dtype=work_dtype,
        self_pad=self_pad,
        pad_mode=pad_mode,
        valid=_kept(target, block),
    )
    return _save(
        target,
        (i, j),
        y[d0 : d0 + r1 - r0, d1 : d1 + c1 - c0],
        block[d0 : d0 + r1 - r0, d1 : d1 + c1 - c0],
    )


@dataclass(frozen=True)
class WindowSource:
    """Where a task reads its chunk and halo: a TIFF or Zarr file, or the built-in sample."""

    info: io.ImageInfo
    nodata: float | None = None
    sample: int | None = None

    view: tuple = (0, 0)  # a stack's plane (frame, z) that a window of rows and cols is of

    def read(self, rows, cols, *, frame=None, planes=None):
        """The window ``rows`` x ``cols``; of a stack, of time point ``frame`` and the z
        ``planes`` (:func:`daskfft.io.read_window`), or of the plane :attr:`view`."""
        if self.sample is not None:
            return sample_window(self.sample, rows, cols)
        if not self.info.stack:
            return io.read_window(self.info, rows, cols, nodata=self.nodata)
        plane = frame is None and planes is None and self.info.planes > 1
        frame = self.view[0] if frame is None else frame
        if plane:
            planes = (self.view[1], self.view[1] + 1)
        window = io.read_window(self.info, rows, cols, nodata=self.nodata, frame=frame,
                                planes=planes)  # fmt: skip
        return window[0] if plane else window


def read_filter_save(index, *, source, target, spec, halo, work_dtype, grow=True):
    """Read chunk ``index`` (i, j) with its halo straight from the source, filter it, save it;
    one task.

    The halo comes from the file, and past the image's edges from the
    ``boundary`` extension of the window (reflect, nearest or a constant:
    the same pixels as extending the whole image), so no task waits for its
    neighbours' data.  With ``grow``, the window reaches a fast FFT length
    with more of the file's pixels where it has them (:func:`fast_window`);
    without, it is what ``map_overlap`` would give the chunk, pixel for pixel
    (what a measured deviation recomputes).
    """
    i, j = index
    r0, r1, c0, c1 = target.box((i, j))
    shape = source.info.shape
    rows, cols, pads = halo_window((r0, r1, c0, c1), halo, shape)
    if grow:
        rows, cols = fast_window(rows, pads[0], shape[0]), fast_window(cols, pads[1], shape[1])
    inner = (slice(halo, halo + r1 - r0), slice(halo, halo + c1 - c0))
    shape = (rows[1] - rows[0], cols[1] - cols[0])
    fast = fast_pads(shape, pads)
    if grow and not target.alpha and _plain(spec, target, shape, fast, work_dtype):
        # The window read band by band as the pruned pair transforms its rows.
        window = RowBands(source.read, rows, cols, tail=source.info.shape[2:],
                          band=band_rows(source.info), keep=((r0, r1), (c0, c1)))  # fmt: skip
        y = _padded_filter(window, fast, inner, spec, work_dtype, target)
        return _save(target, (i, j), y, window.kept)
    window = source.read(rows, cols)
    block = pad_block(window, pads, spec.boundary) if any(map(any, pads)) else window
    color = block[..., :-1] if target.alpha else block
    y = filter_spec_block(color, spec, work_dtype=work_dtype, valid=_kept(target, block))
    return _save(target, (i, j), y[inner], block[inner])


def _plain(spec, target, shape, pads, work_dtype):
    """Whether a chunk's window of ``shape``, padded by ``pads`` to its fast FFT shape, takes
    the pruned pair padding it while it is transformed (:func:`filter_padded`): a Gaussian
    low-pass of data alone (no nodata, no mask) in 3-D, and in 2-D where its band leaves
    something out (:func:`pruned_window`; else the whole pair, bit for bit as before)."""
    if not spec.plain_gaussian or target.alpha_is_mask:
        return False
    return len(shape) == 3 or pruned_window(shape, pads, spec, work_dtype)


def _padded_filter(window, pads, inner, spec, work_dtype, target):
    """:func:`filter_padded` of a plain chunk's ``window`` (:func:`_plain`): ``inner`` of it
    padded by ``pads``, cast to the output's dtype where nothing comes first."""
    return filter_padded(
        window,
        pads=pads,
        boundary=spec.boundary,
        cutoff=spec.cutoff,
        work_dtype=work_dtype,
        crop=inner,
        out_dtype=_cast_to(target),
    )


def _cast_to(target):
    """The dtype a plain chunk is cast to slab by slab: the output's, but where a
    flat-field's correction or a pass band's offset comes first (None: the floats)."""
    return None if target.offset or target.flat_mean is not None else target.out_dtype


def _inside(window, inner, pads):
    """``inner`` (slices of the window padded by ``pads``) of the unpadded ``window``."""
    return window[tuple(slice(k.start - p[0], k.stop - p[0]) for k, p in zip(inner, pads))]


def read_filter_save_stack(index, *, source, target, spec, halos, work_dtype):
    """Read chunk ``index`` (frame, k, i, j) of a stack with its halo (``halos``: z, y, x for
    a volume, y, x for a time series' planes), filter it, save it; one task.

    A time point is filtered alone; a volume's window reaches ``halos[0]`` planes past its
    chunk's along z, extended past the volume's faces as ``boundary`` says, as rows and
    columns are.  The chunks that hold the plane ``target.view`` save that plane's
    summaries, the stack's pictures."""
    frame, k, i, j = index
    r0, r1, c0, c1 = box = target.box((i, j))
    z0, z1 = target.z_edges[k], target.z_edges[k + 1]
    hy, hx = halos[-2], halos[-1]  # a sigma per axis: y's and x's halos may differ
    shape = source.info.shape
    rows, _, (pad_rows, _) = halo_window(box, hy, shape)
    _, cols, (_, pad_cols) = halo_window(box, hx, shape)
    pads = [pad_rows, pad_cols]
    rows, cols = fast_window(rows, pad_rows, shape[0]), fast_window(cols, pad_cols, shape[1])
    if len(halos) == 3:
        planes, _, zpads = halo_window((z0, z1, 0, 1), halos[0], (source.info.planes, 1))
        pads = [zpads[0]] + pads
        inner = (slice(halos[0], halos[0] + z1 - z0),)
    else:
        planes, inner = None, ()
    window = source.read(rows, cols, frame=frame, planes=planes)
    inner += (slice(hy, hy + r1 - r0), slice(hx, hx + c1 - c0))
    y, interior = _filtered(window, pads, inner, spec, work_dtype, target)
    level = None  # a flat-field's: each time point is brought to its own mean
    if target.flat_mean is not None:
        level = np.reshape(target.flat_mean, (source.info.frames, -1))[frame]
    y = to_dtype(_finished(target, y, interior, level=level), target.out_dtype)
    target.result.write(y, r0, c0, frame=frame, z0=z0)
    if z0 <= target.view[1] < z1:
        at = target.view[1] - z0 if len(halos) == 3 else slice(None)
        if frame == target.view[0]:
            volume = (interior, y) if len(halos) == 3 else None
            cells.save_summaries(target, (i, j), interior[at], y[at], volume)
        if frame in target.frames_shown:  # a time series' row of frames.png
            cell = cells.thumbs(target, (i, j), interior[at], y[at])
            cells.save_cell(Path(target.root) / "cells" / f"t{frame}_{i}_{j}.npz", cell)
    Path(target.root, "done", "_".join(map(str, index))).touch()
    del window, y, interior
    trim_heap()
    return np.ones((1, 1), dtype=np.int8)


def _filtered(window, pads, inner, spec, work_dtype, target):
    """A window filtered, and its chunk: ``inner`` of the window padded by ``pads`` (grown to
    the fast FFT shape).  A Gaussian low-pass of data alone (:func:`_plain`) is padded slab
    by slab as it is transformed (:func:`filter_padded`), not copied whole, and cast to the
    output's dtype slab by slab too."""
    spatial = len(inner)
    fast = fast_pads(window.shape, pads)
    if spatial == 3:
        pads = fast
    if _plain(spec, target, window.shape[:spatial], fast, work_dtype):
        y = _padded_filter(window, fast, inner, spec, work_dtype, target)
        return y, _inside(window, inner, fast)
    block = pad_block(window, pads, spec.boundary) if any(map(any, pads)) else window
    y = filter_spec_block(block, spec, work_dtype=work_dtype, spatial=spatial, crop=inner)
    return y, block[inner]


def _kept(target, block):
    """Where the input's mask keeps pixels (its alpha channel above 0), or None without one."""
    return block[..., -1] > 0 if target.alpha_is_mask else None


def save_filtered(filtered, image, *, block_info=None, target):
    """Save one chunk already filtered (by the exact method) and its input; runs in a task."""
    i, j = block_info[None]["chunk-location"][:2]
    return _save(target, (i, j), filtered, image)


def _finished(target, y, color, kept=None, level=None):
    """A chunk's filtered ``y`` made the output's values, before their cast: a flat-field's
    corrected ``color`` (``y`` is its background, ``level`` the mean it is brought to, per
    channel: ``target.flat_mean`` unless given), or a high- or band-pass moved by the
    unsigned output's offset; holes (nodata, left out by ``kept``) keep their value."""
    if target.flat_mean is None and not target.offset:
        return y
    data = data_mask(color, target.spec.nodata, kept)
    if target.flat_mean is not None:
        level = np.asarray(target.flat_mean if level is None else level, y.dtype)
        out = corrected(color.astype(y.dtype), y, level, target.spec.flatfield)
    else:
        out = y + target.offset
    return out if data is None else np.where(data, out, y)


def window_sums(rows, cols, frame, planes, *, source, channels):
    """The sums of a window's data values and their counts per channel, as (2, channels)
    float64: a stack's flat-field level is their total's ratio; runs in a task."""
    window = source.read(rows, cols, frame=frame, planes=planes)
    values = window.reshape(-1, channels)
    data = nodata_mask(values, source.nodata)
    if data is None:
        return np.stack(
            [values.sum(axis=0, dtype=np.float64), np.full(channels, float(len(values)))]
        )
    kept = np.where(data, values, 0)
    return np.stack([kept.sum(axis=0, dtype=np.float64), data.sum(axis=0).astype(np.float64)])


def _save(target, index, y, interior):
    """Write a chunk's result (and input, for the sample), its summaries, then its marker.

    Returns a 1 x 1 array: the graph's output is the marker, the data go to disk.
    """
    i, j = index
    r0, r1, c0, c1 = target.box(index)
    color = interior[..., :-1] if target.alpha else interior
    y = to_dtype(_finished(target, y, color, _kept(target, interior)), target.out_dtype)
    if target.alpha:
        y = np.concatenate([y, interior[..., -1:].astype(target.out_dtype)], axis=2)
    root = Path(target.root)
    target.result.write(y, r0, c0)
    if target.sample_store is not None:
        target.sample_store.write(interior, r0, c0)
    elif target.sample:
        import zarr

        zarr.open_array(str(root / "sample.zarr"), mode="r+")[r0:r1, c0:c1] = interior
    color_out = y[..., :-1] if target.alpha else y
    cells.save_summaries(target, index, color, color_out, kept=_kept(target, interior))
    (root / "done" / f"{i}_{j}").touch()
    return np.ones((1, 1), dtype=np.int8)


def overview_task(source, target, box, *, depth, nodata, alpha, tol):
    """Block ``box`` (r0, r1, c0, c1) of the level ``target`` from the level ``source`` above:
    read its window with the halo straight from the store, reduce it, write it; one task."""
    r0, r1, c0, c1 = box
    above = (2 * r0, min(source.shape[0], 2 * r1), 2 * c0, min(source.shape[1], 2 * c1))
    rows, cols, pads = halo_window(above, depth, source.shape)
    window = source.read(rows, cols)
    block = pad_block(window, pads, "reflect") if any(map(any, pads)) else window
    target.write(overview_block(block, depth=depth, nodata=nodata, alpha=alpha, tol=tol), r0, c0)
    return r1 - r0
