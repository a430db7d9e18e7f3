"""Pictures of what the filter did: overview, radial power spectrum, labelled spectra atlas
(drawn on :mod:`daskfft.run.canvas`, which also makes the plain grayscale pictures of an
array: :func:`picture`, :func:`write_picture`, re-exported here).

Drawn with Pillow and NumPy from the small per-chunk summaries the tasks
saved, so pictures of a gigapixel run cost no more than those of a small one.
Not matplotlib: measured here, importing it took 0.4 s and its three
figures 0.6-1.0 s of a default run whose filtering took 0.7 s; these take
0.21-0.26 s in all, most of it zlib encoding the atlas.  Images are placed
pixel for pixel (an atlas pixel is a screen pixel, so no spectral peak is
lost to resampling), text in Pillow's own scalable font, line plots drawn at
twice the size and reduced, for smooth lines.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from daskfft.cluster.spec import cpu_count
from daskfft.kernels.phase import gray
from daskfft.run import canvas as cv
from daskfft.run.canvas import picture, write_picture

__all__ = ["overview", "radial_spectrum", "atlas", "picture", "write_picture", "write_pictures"]


def overview(
    path,
    thumb_in,
    thumb_out,
    step,
    crop_in,
    crop_out,
    crop_box,
    *,
    dtype,
    title,
    nodata=None,
    offset=0,
):
    """Input, filtered and their difference, whole (every ``step``-th pixel) and in a crop.

    Pixels equal to ``nodata`` are left blank and out of the contrast stretch.
    ``offset`` (a high-pass's mid-gray) is taken off the filtered image in
    the difference, which then shows what the filter removed.  1500 x 1000 px.
    """
    if nodata is not None:
        thumb_in, thumb_out, crop_in, crop_out = (
            cv.holes(x, nodata) for x in (thumb_in, thumb_out, crop_in, crop_out)
        )
    canvas = cv.Canvas(1500, 1000)
    canvas.text((750, 18), title, size=15, anchor="ma")
    rows, diffs, names = _overview_rows(
        thumb_in, thumb_out, step, crop_in, crop_out, crop_box, offset
    )
    for k, (panels, diff, name) in enumerate(zip(rows, diffs, names)):
        top = 75 + k * 465
        for j, (data, label) in enumerate(panels):
            x0, scale = _draw_panel(canvas, 50 + j * 490, top, data, label, dtype)
            if k == 0:  # where the crop is
                _frame_crop(canvas, x0, top, crop_box, step, scale)
        _draw_difference(canvas, top, diff, name)
    return canvas.save(path)


def frames(path, rows, step, *, dtype, title, nodata=None, offset=0):
    """A time series' frames, a row each: input, filtered and their difference, every
    ``step``-th pixel; ``rows`` holds (frame, input, filtered).  1500 px wide."""
    canvas = cv.Canvas(1500, 75 + 465 * len(rows))
    canvas.text((750, 18), title, size=15, anchor="ma")
    for k, (frame, thumb_in, thumb_out) in enumerate(rows):
        if nodata is not None:
            thumb_in, thumb_out = cv.holes(thumb_in, nodata), cv.holes(thumb_out, nodata)
        top = 75 + k * 465
        reduced = f", {step}x reduced" if step > 1 else ""
        for j, (data, name) in enumerate(((thumb_in, "input"), (thumb_out, "filtered"))):
            _draw_panel(
                canvas, 50 + j * 490, top, data, f"{name}, time point {frame}{reduced}", dtype
            )
        diff = gray(thumb_in) - (gray(thumb_out) - offset)
        _draw_difference(canvas, top, diff, f"input - filtered, time point {frame}")
    return canvas.save(path)


def _overview_rows(thumb_in, thumb_out, step, crop_in, crop_out, crop_box, offset):
    """The overview's two rows: their (image, label) panels, differences and their names."""
    r0, r1, c0, c1 = crop_box
    diffs = (
        gray(thumb_in) - (gray(thumb_out) - offset),
        gray(crop_in) - (gray(crop_out) - offset),
    )
    rows = (
        [
            (thumb_in, f"input, {step}x reduced" if step > 1 else "input"),
            (thumb_out, f"filtered, {step}x reduced" if step > 1 else "filtered"),
        ],
        [
            (crop_in, f"input, rows {r0}-{r1}, cols {c0}-{c1} (full resolution)"),
            (crop_out, f"filtered, rows {r0}-{r1}, cols {c0}-{c1} (full resolution)"),
        ],
    )
    names = ("input - filtered (what was taken out)", "input - filtered, crop")
    return rows, diffs, names


def _paste_labelled(canvas, x0, top, shown, label):
    """Paste ``shown`` with its top-left at (``x0``, ``top``), framed, ``label`` above it."""
    canvas.text((x0 + shown.shape[1] / 2, top - 8), label, size=14, anchor="md")
    canvas.paste((x0, top), shown)
    canvas.frame((x0 - 1, top - 1, x0 + shown.shape[1], top + shown.shape[0]))


def _draw_panel(canvas, left, top, data, label, dtype):
    """Draw ``data`` centred in a 400 x 390 box from ``left``; its left edge and scale."""
    shown, scale = cv.fit(cv.shown(data, dtype), 400, 390)
    x0 = left + (400 - shown.shape[1]) // 2
    _paste_labelled(canvas, x0, top, shown, label)
    return x0, scale


def _frame_crop(canvas, x0, top, crop_box, step, scale):
    """Frame in yellow, on the reduced picture at (``x0``, ``top``), where the crop is."""
    r0, r1, c0, c1 = crop_box
    canvas.frame(
        (
            x0 + c0 / step * scale,
            top + r0 / step * scale,
            x0 + c1 / step * scale,
            top + r1 / step * scale,
        ),
        "yellow",
        2,
    )


def _draw_difference(canvas, top, diff, name):
    """Draw the difference ``diff`` in red-blue, symmetric about 0, with its colour bar."""
    lim = cv.limit(diff)
    shown, _ = cv.fit(cv.coloured(diff, cv.RDBU, -lim, lim), 330, 390)
    x0 = 1030
    _paste_labelled(canvas, x0, top, shown, name)
    canvas.colour_bar(
        (
            x0 + shown.shape[1] + 15,
            top + 20,
            x0 + shown.shape[1] + 30,
            top + max(shown.shape[0] - 20, 140),
        ),
        cv.RDBU,
        -lim,
        lim,
    )


def _decades(lo, hi):
    """Powers of ten to label a log axis from ``lo`` to ``hi``: at most about 8."""
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    every = max(1, math.ceil((last - first + 1) / 8))
    return [10.0**e for e in range(first, last + 1, every)]


def radial_spectrum(path, edges, power_in, power_out, *, spec, title):
    """Radially averaged power of input and output (log scale), with the transfer function
    of ``spec`` (a :class:`~daskfft.kernels.spec.FilterSpec`, any pass band) and its cutoffs.
    900 x 550 px."""
    canvas = cv.Canvas(900, 550, scale=2)
    keep = np.isfinite(power_in) & (power_in > 0)
    keep_out = np.isfinite(power_out) & (power_out > 0)
    lo, hi = _power_range(power_in, keep, power_out, keep_out)
    ax = _SpectrumAxes(float(edges[-1]), lo, hi)
    _draw_spectrum_axes(canvas, ax)
    canvas.text((450, 12), title.replace(" - ", "\n", 1), size=13, anchor="ma")
    marks = _draw_cutoffs(canvas, ax, spec)
    fine = np.linspace(0, ax.fmax, 400)
    canvas.line(list(zip(ax.x_of(fine), ax.y_lin(spec.profile(fine)))), cv.GREEN, 1.5)
    f = 0.5 * (edges[1:] + edges[:-1])
    for power, ok, colour in ((power_in, keep, cv.BLUE), (power_out, keep_out, cv.ORANGE)):
        if ok.sum() > 1:
            canvas.line(list(zip(ax.x_of(f[ok]), ax.y_log(power[ok]))), colour, 1.5)
    background = ", the background" if spec.flatfield else ""
    legend = [
        ("input", cv.BLUE, None),
        ("filtered", cv.ORANGE, None),
        *marks,
        (f"H ({spec.filter} {spec.band}-pass{background})", cv.GREEN, None),
    ]
    _draw_legend(canvas, ax, legend)
    return canvas.save(path)


def _power_range(power_in, keep, power_out, keep_out):
    """The power axis' (lo, hi): from six decades below the input's least to above its most."""
    if keep.any():  # the filtered power falls as |H|**2: show six decades below the input
        hi = max(power_in[keep].max(), power_out[keep_out].max(initial=0)) * 10
        lo = power_in[keep].min() * 1e-6
    else:
        lo, hi = 1e-6, 1.0
    return lo, hi


class _SpectrumAxes:
    """The radial spectrum's plot box: frequency across, log power on the left, H on the right."""

    left, right, top, bottom = 90, 810, 66, 490

    def __init__(self, fmax, lo, hi):
        self.fmax, self.lo, self.hi = fmax, lo, hi

    def x_of(self, v):
        """The x of frequency ``v``."""
        return self.left + v / self.fmax * (self.right - self.left)

    def y_log(self, v):
        """The y of power ``v``, on the log scale from ``lo`` to ``hi``."""
        lo, hi = self.lo, self.hi
        t = (math.log10(hi) - np.log10(np.maximum(v, lo))) / (math.log10(hi) - math.log10(lo))
        return self.top + t * (self.bottom - self.top)

    def y_lin(self, v):
        """The y of transfer function value ``v``, 0 to 1.05."""
        return self.bottom - np.asarray(v) / 1.05 * (self.bottom - self.top)


def _draw_spectrum_axes(canvas, ax):
    """Draw the plot box, its ticks and the names of its three axes."""
    left, right, top, bottom = ax.left, ax.right, ax.top, ax.bottom
    canvas.frame((left, top, right, bottom))
    for v in cv.ticks(0, ax.fmax, 8):
        canvas.line([(ax.x_of(v), bottom), (ax.x_of(v), bottom + 5)], "black")
        canvas.text((ax.x_of(v), bottom + 8), f"{v:.1f}", size=12, anchor="ma")
    for v in _decades(ax.lo, ax.hi):
        canvas.line([(left - 5, ax.y_log(v)), (left, ax.y_log(v))], "black")
        canvas.text(
            (left - 8, ax.y_log(v)),
            f"{v:.0e}".replace("e+0", "e+").replace("e-0", "e-"),
            size=12,
            anchor="rm",
        )
    for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        canvas.line([(right, ax.y_lin(v)), (right + 5, ax.y_lin(v))], "black")
        canvas.text((right + 8, ax.y_lin(v)), f"{v:.1f}", size=12, anchor="lm")
    canvas.text(
        ((left + right) / 2, bottom + 30), "radial frequency (cycles/pixel)", size=14, anchor="ma"
    )
    canvas.text((22, (top + bottom) / 2), "mean power per frequency bin", size=14, rotate=True)
    canvas.text(
        (866, (top + bottom) / 2), "transfer function H", size=14, rotate=True, fill=cv.GREEN
    )


def _draw_cutoffs(canvas, ax, spec):
    """Draw the cutoffs of ``spec`` and Nyquist as dashed lines; their legend entries."""
    legend = []
    cutoffs = (spec.cutoff,) if spec.band != "band" else (spec.low_cutoff, spec.cutoff)
    for cutoff in (c[-1] if isinstance(c, tuple) else c for c in cutoffs):  # along x
        canvas.line(
            [(ax.x_of(cutoff), ax.top), (ax.x_of(cutoff), ax.bottom)], "black", 1, dash=(6, 4)
        )
        legend.append((f"cutoff {cutoff:.3g}", "black", (6, 4)))
    canvas.line([(ax.x_of(0.5), ax.top), (ax.x_of(0.5), ax.bottom)], "gray", 1, dash=(2, 3))
    legend.append(("Nyquist (0.5)", "gray", (2, 3)))
    return legend


def _draw_legend(canvas, ax, legend):
    """Draw the legend's (name, colour, dash) entries in a box at the plot's bottom left."""
    x0, y0 = ax.left + 10, ax.bottom - 10 - 19 * len(legend)
    width = 40 + 7 * max(len(name) for name, _, _ in legend)
    canvas.frame((x0, y0 - 6, x0 + width, ax.bottom - 6), (200, 200, 200), background="white")
    for k, (name, colour, dash) in enumerate(legend):
        y = y0 + 19 * k + 7
        canvas.line([(x0 + 6, y), (x0 + 30, y)], colour, 1.5, dash=dash)
        canvas.text((x0 + 36, y), name, size=12, anchor="lm")


def atlas(path, values, rows, cols, cell, *, title):
    """The spectra atlas with its chunk grid: one tile per chunk, labelled by row and column.

    One screen pixel per atlas pixel (a small atlas is enlarged by a whole
    factor to at least 400 px), so no single-pixel peak is lost.
    """
    n0, n1 = len(rows) - 1, len(cols) - 1
    k = max(1, math.ceil(400 / max(values.shape[1], 1)))
    height, width = values.shape[0] * k, values.shape[1] * k
    left, top, bar = 90, 62, 60
    tall = max(height, 240)  # the colour bar's length: readable, however flat the atlas
    canvas = cv.Canvas(left + width + bar + 110, top + tall + 75)
    lo, hi = np.percentile(values, [1, 99.9]) if values.size > 1 else (0, 1)
    hi = hi if hi > lo else lo + 1
    rgba = cv.coloured(values, cv.MAGMA, lo, hi)
    rgba[..., 3] = 255
    if k > 1:
        rgba = np.repeat(np.repeat(rgba, k, axis=0), k, axis=1)
    for j in range(1, n1):  # the chunk grid, white, between the tiles
        rgba[:, j * cell * k - 1] = 255
    for i in range(1, n0):
        rgba[i * cell * k - 1, :] = 255
    canvas.paste((left, top), rgba)
    canvas.frame((left - 1, top - 1, left + width, top + height))
    every0, every1 = max(1, n0 // 16), max(1, n1 // 16)
    for i in range(0, n0, every0):
        y = top + (i + 0.5) * cell * k
        canvas.line([(left - 5, y), (left - 1, y)], "black")
        canvas.text((left - 8, y), f"{i}\n(y {rows[i]})", size=10, anchor="rm")
    for j in range(0, n1, every1):
        x = left + (j + 0.5) * cell * k
        canvas.line([(x, top + height), (x, top + height + 4)], "black")
        canvas.text((x, top + height + 7), f"{j}\n(x {cols[j]})", size=10, anchor="ma")
    canvas.text((22, top + height / 2), "chunk row", size=14, rotate=True)
    canvas.text((left + width / 2, top + height + 42), "chunk column", size=14, anchor="ma")
    canvas.text((left + width / 2, 12), title.replace(" - ", "\n", 1), size=13, anchor="ma")
    canvas.colour_bar(
        (left + width + 15, top, left + width + 33, top + tall),
        cv.MAGMA,
        lo,
        hi,
        "log1p |FFT| (zero frequency at tile centre)",
    )
    return canvas.save(path)


def _label(plan, *, frame=True):
    """What the pictures' titles say the run did: its input, filter, cutoff, halo, chunks."""
    spec = plan.spec
    source = "sample" if plan.config.sample is not None else os.path.basename(plan.config.input)
    cutoffs = (
        f"{spec.low_cutoff:.3g}-{spec.cutoff:.3g}"
        if spec.band == "band"
        else _per_axis(spec.cutoff)
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
        + _plane(plan, frame=frame)
    )


def _per_axis(value):
    """A cutoff, or one per axis as "a/b/c"."""
    if isinstance(value, tuple):
        return "/".join(f"{v:.3g}" for v in value)
    return f"{value:.3g}"


def _plane(plan, *, frame=True):
    """Which plane of a stack the pictures show, for their titles (without its time point
    unless ``frame``); "" for an image."""
    shown, z = plan.view
    parts = ([f"z plane {z}"] if plan.info.planes > 1 else []) + (
        [f"time point {shown}"] if plan.info.frames > 1 and frame else []
    )
    return ", " + " of ".join(parts) if parts else ""


def write_pictures(out, plan, summary, crops):
    """The spectra atlas, the overview and the radial spectrum that ``plan`` asks for (and a
    time series' frames)."""
    drawings = _atlas_drawing(out, plan, summary)
    if plan.config.plots:
        drawings += _plot_drawings(out, plan, summary, crops)
    # Drawn side by side: NumPy, Pillow's resizing and zlib let go of the GIL (0.25 -> 0.17 s
    # for the three at 8192^2 on 2 cores).
    with ThreadPoolExecutor(max(1, min(len(drawings), cpu_count()))) as pool:
        for done in [pool.submit(draw) for draw in drawings]:
            done.result()


def _atlas_drawing(out, plan, summary):
    """The spectra atlas' drawing, as a list (empty where it is not asked for)."""
    if "spectra.png" not in plan.names:
        return []
    if not plan.config.plots:
        return [lambda: write_picture(out / "spectra.png", summary["atlas"], grid=plan.cell)]
    title = f"spectra per chunk - {_label(plan)}"
    return [
        lambda: atlas(
            out / "spectra.png",
            summary["atlas"],
            plan.row_edges,
            plan.col_edges,
            plan.cell,
            title=title,
        )
    ]


def _plot_drawings(out, plan, summary, crops):
    """The overview's, the radial spectrum's and a time series' frames' drawings."""
    from daskfft.kernels.bands import output_offset
    from daskfft.kernels.spectra import RADIAL_EDGES, RADIAL_EDGES_3D

    spec, label, (crop_in, crop_out, box) = plan.spec, _label(plan), crops
    offset, dtype = output_offset(spec, plan.info.dtype), plan.info.dtype
    nodata = float("nan") if plan.info.mask is not None else spec.nodata
    thumbs = (summary["thumb_in"], summary["thumb_out"], plan.thumb)
    drawings = [
        lambda: overview(
            out / "overview.png",
            *thumbs,
            crop_in,
            crop_out,
            box,
            dtype=dtype,
            title=label,
            nodata=nodata,
            offset=offset,
        )
    ]
    if "frames.png" in plan.names:
        title = f"time points - {_label(plan, frame=False)}"
        drawings.append(
            lambda: frames(
                out / "frames.png",
                summary["frames"],
                plan.thumb,
                dtype=dtype,
                title=title,
                nodata=spec.nodata,
                offset=offset,
            )
        )
    volume = plan.info.planes > 1  # the power in spherical shells of the middle chunks
    edges = RADIAL_EDGES_3D if volume else RADIAL_EDGES
    title = ("spherically" if volume else "radially") + f" averaged power - {label}"
    drawings.append(
        lambda: radial_spectrum(
            out / "radial_spectrum.png",
            edges,
            summary["power_in"],
            summary["power_out"],
            spec=spec,
            title=title,
        )
    )
    return drawings
