"""How far a block-wise result is from the whole-image filter, measured where no bound says it.

Three ways, each costing what the report says:

- "local" (automatic when the halo is narrower than ``tol`` asks and the
  filter's kernel has a finite reach): on up to four chunks, the block-wise
  result against the same filter with the halo ``tol`` asks for, computed on
  a window around each chunk.  Cost: one FFT pair per sampled window of
  ``chunk + 2 * needed`` pixels; the reference itself is within
  ``(2 * tol + r) * max|image|`` of the whole-image filter (``r``: the
  working precision's rounding, :data:`daskfft.kernels.block.ROUNDING`).
- "sampled" (automatic where no bound exists: the ideal filter, whose kernel
  is not absolutely summable): on up to four chunks, corners first, and at
  most a quarter of the run's, the
  block-wise result against the same filter with a halo half as wide again,
  on a window around each chunk, in the run's working precision: how much
  the result still moves when the halo grows by half.  Cost: one FFT pair
  per sampled window of ``chunk + 3 * depth`` pixels and one of the chunk's
  own, about eight of the run's tasks (measured: 0.6 s each for a 1024-px
  RGB chunk with the ideal filter's 1024-px halo, float32).
- "exact" (opt-in, ``--measure-deviation`` where no halo reaches ``tol``, as
  for the ideal filter): the block-wise result against the exact
  whole-image filter on every chunk.  Cost: a full exact pass (two rechunks
  of the whole image) and a second block-wise pass.
"""

from __future__ import annotations

import dataclasses
import logging

import dask
import numpy as np

from daskfft.api.bands import filter_spec
from daskfft.kernels.bands import filter_spec_block
from daskfft.kernels.block import halo_window, pad_block
from daskfft.messages import run as msg

__all__ = ["sample_blocks", "reference_reach", "measure_deviation"]


log = logging.getLogger("daskfft")


def sample_blocks(numblocks, most=4):
    """Up to ``most`` chunk indices spread over the grid: corners first, then the centre."""
    n0, n1 = numblocks
    picks = [(0, 0), (n0 - 1, n1 - 1), (0, n1 - 1), (n0 - 1, 0), (n0 // 2, n1 // 2)]
    return list(dict.fromkeys(picks))[:most]


def _window_deviation(window, *, pads, box, depth, reach, spec, dtype, reference_dtype):
    """max|block-wise - reference| and max|chunk| for one chunk inside its window."""
    w = pad_block(np.asarray(window), pads, spec.boundary)
    h, v = box  # the chunk's rows and columns
    inner = w[reach - depth : reach + h + depth, reach - depth : reach + v + depth]
    blockwise = filter_spec_block(inner, spec, work_dtype=dtype)[
        depth : depth + h, depth : depth + v
    ]
    reference = filter_spec_block(w, spec, work_dtype=reference_dtype)[
        reach : reach + h, reach : reach + v
    ]
    chunk = w[reach : reach + h, reach : reach + v].astype(np.float64)
    ok = np.isfinite(reference) & np.isfinite(blockwise)
    diff = np.abs(blockwise[ok] - reference[ok])
    return float(diff.max(initial=0.0)), float(np.abs(chunk[np.isfinite(chunk)]).max(initial=0.0))


def _window(color, box, reach, boundary):
    """The part of ``color`` (a dask array) within ``reach`` of the chunk ``box``, and the
    pads that complete it past the image's edges.  A periodic image wraps around instead:
    its halo at one edge is the far edge's pixels."""
    if boundary != "periodic":
        rows, cols, pads = halo_window(box, reach, color.shape)
        return color[rows[0] : rows[1], cols[0] : cols[1]], pads
    r0, r1, c0, c1 = box
    rows = np.arange(r0 - reach, r1 + reach) % color.shape[0]
    cols = np.arange(c0 - reach, c1 + reach) % color.shape[1]
    return color[rows][:, cols], [(0, 0), (0, 0)]


def reference_reach(plan):
    """The halo of the reference that :func:`measure_deviation` compares with, pixels: what
    ``tol`` asks for ("local"), or the run's halo and half again ("sampled")."""
    if plan.measure == "local":
        return plan.halo.needed
    return max(plan.halo.depth + plan.halo.depth // 2, 16)


def _local(color, plan, reach=None):
    reach = plan.halo.needed if reach is None else reach
    depth = plan.halo.depth
    edges = (plan.row_edges, plan.col_edges)
    # By default ("sampled"), at most a quarter of the chunks: the run's FFT work and half.
    blocks = sample_blocks(
        plan.grid, 4 if plan.measure != "sampled" else min(4, max(1, plan.total // 4))
    )
    tasks = []
    for i, j in blocks:
        box = (edges[0][i], edges[0][i + 1], edges[1][j], edges[1][j + 1])
        window, pads = _window(color, box, reach, plan.spec.boundary)
        tasks.append(
            dask.delayed(_window_deviation, pure=True)(
                window,
                pads=pads,
                box=(box[1] - box[0], box[3] - box[2]),
                depth=depth,
                reach=reach,
                spec=plan.spec,
                dtype=plan.work_dtype,
                reference_dtype=np.float64 if plan.measure == "local" else plan.work_dtype,
            )
        )
    return blocks, tasks


def measure_deviation(cluster, graph, plan):
    """The measured deviation as the report gives it, or None when ``plan`` measures none.

    ``graph``: the run's :class:`~daskfft.run.graph.Graph`, whose input image is made only here,
    when a deviation is measured.  For a flat-field, that of its background (the low-pass the
    bound is about).
    """
    plan = dataclasses.replace(plan, spec=plan.spec.replace(flatfield=None))
    if plan.measure is None:
        return None
    import dask.array as da

    from daskfft.run.graph import compute

    color = graph.color
    if plan.measure in ("local", "sampled"):
        reach = reference_reach(plan)
        blocks, tasks = _local(color, plan, reach)
        values = compute(cluster, tasks)
        worst, scale = max(v[0] for v in values), max(v[1] for v in values) or 1.0
        where = [list(b) for b in blocks]
        reference = _reference(plan, reach)
    else:
        blockwise = filter_spec(color, plan.spec.replace(depth=plan.halo.depth))
        exact = filter_spec(color, plan.spec.replace(method="exact", depth="auto"))
        worst, scale = compute(cluster, [da.abs(blockwise - exact).max(), da.abs(color).max()])
        worst, scale, where = float(worst), float(scale) or 1.0, "all"
        reference = msg.EXACT_REFERENCE
    log.warning(
        msg.MEASURED_DEVIATION.format(
            reference=msg.FROM_WHOLE_IMAGE
            if plan.measure != "sampled"
            else msg.FROM_WIDER_HALO.format(reach=reach),
            deviation=worst / scale,
            chunks=len(where) if where != "all" else "all",
        )
    )
    return {
        "method": plan.measure,
        "chunks": where,
        "max_relative": worst / scale,
        "reference": reference,
    }


def _reference(plan, reach):
    """The report's words for what a "local" or "sampled" measurement compares with."""
    if plan.measure == "local":
        return msg.LOCAL_REFERENCE.format(
            reach=reach, deviation=plan.spec.replace(depth=reach).halo().deviation
        )
    return msg.SAMPLED_REFERENCE.format(reach=reach)
