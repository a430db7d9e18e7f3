"""What one chunk's task holds at its peak, for the check against a worker's memory limit,
and the window a full chunk reads: from a :class:`~daskfft.run.plan.Plan`, nothing else."""

from __future__ import annotations

import ducc0

from daskfft.kernels.block import pair_bands
from daskfft.kernels.pruned import slab_rows
from daskfft.kernels.spectra import SUMMARY_WINDOW
from daskfft.messages import run as msg
from daskfft.run.rowbands import band_rows

__all__ = ["chunk_window", "streamed_memory", "task_memory"]


def task_memory(plan):
    """About what one chunk's task of ``plan`` holds at its peak, bytes, and what it is, in
    words.

    Measured with tracemalloc: the FFT filter of a haloed window holds 3.7
    to 4.2 copies of it in the working precision; with the window as read,
    the result and the summaries, 5 copies; nodata or a mask adds a second
    layer (2 more).  An image's plain Gaussian chunk reads its window band by
    band (:func:`streamed_memory`): what it holds follows the chunk, not the halo.
    """
    bands = _bands(plan)
    streamed = streamed_memory(plan)
    if streamed is not None:
        return streamed, msg.TASK_MEMORY.format(
            rows=max(plan.rows), cols=max(plan.cols), halo=plan.halo.depth,
            bands=bands, dtype=plan.work_dtype.name,
        )  # fmt: skip
    (hy, hx), rows, cols = plan.halo.depths[-2:], max(plan.rows), max(plan.cols)
    if not plan.info.stack:  # an image's tasks take the larger halo on both axes
        hy = hx = plan.halo.depth
    copies = 5 + (2 if plan.spec.nodata is not None or plan.info.mask is not None else 0)
    window = (rows + 2 * hy) * (cols + 2 * hx) * bands
    if plan.zs:
        window *= max(plan.zs) + 2 * plan.halo.depths[0]
    need = window * (copies * plan.work_dtype.itemsize + plan.info.dtype.itemsize)
    return need, msg.TASK_MEMORY.format(
        rows=rows, cols=cols, halo=max(hy, hx), bands=bands, dtype=plan.work_dtype.name
    )


def _bands(plan):
    return plan.info.shape[2] if len(plan.info.shape) == 3 else 1


def chunk_window(plan):
    """The fast FFT shape of a full chunk's window: the chunk, its halo on both sides,
    grown to a fast length (z, y, x for a volume), as the tasks read it."""
    depths = plan.halo.depths if plan.info.stack else (plan.halo.depth,) * 2
    sizes = (max(plan.rows), max(plan.cols))
    if plan.zs:
        sizes = (max(plan.zs),) + sizes
    depths = depths[-len(sizes) :]
    return tuple(ducc0.fft.good_size(n + 2 * d, True) for n, d in zip(sizes, depths))


def streamed_memory(plan):
    """Bytes one task of an image's plain Gaussian chunk holds at most, or None for the
    other tasks: those whose window is read band by band as the pruned pair transforms
    it (:class:`~daskfft.run.rowbands.RowBands`: each task reading its own window
    (:attr:`~daskfft.run.plan.Plan.reads_windows`) grown to a fast length (no measured
    deviation), no nodata, mask or alpha, the band leaving something out).  The chunk's
    result and its input (and a flat-field's four float arrays of it); two bands of the
    window as read; the pruned pair's spectrum (every row of the window, the kept
    columns: weighted and transformed back in place) and its slabs' buffers; the
    summaries' central window."""
    spec, info = plan.spec, plan.info
    if not spec.plain_gaussian or not plan.reads_windows or plan.measure is not None:
        return None
    if info.stack or info.mask is not None or info.has_alpha:
        return None
    window = chunk_window(plan)
    kept = pair_bands(window, spec.cutoff, spec.filter, plan.work_dtype)
    if kept is None:
        return None
    (h, w), c = window, _bands(plan)
    work, read = plan.work_dtype.itemsize, info.dtype.itemsize
    chunk = max(plan.rows) * max(plan.cols) * c
    held = 2 * work + read + (4 * work if spec.flatfield is not None else 0)
    complex_ = 2 * work
    slab = slab_rows(w, c, work) * w * c * (3 * work + 2 * complex_)
    spectra = h * kept[1][0] * c * complex_
    summaries = 4 * SUMMARY_WINDOW**2 * c * 4
    bands = 2 * min(band_rows(info), h) * w * c * read
    return chunk * held + bands + spectra + slab + summaries
