"""Pictures of what the filter did: overview, radial power spectrum, labelled spectra atlas,
and plain grayscale pictures of an array (:func:`picture`, :func:`write_picture`).

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
from functools import lru_cache

import numpy as np

from daskfft import io
from daskfft.kernels.phase import gray

__all__ = ["overview", "radial_spectrum", "atlas", "picture", "write_picture"]


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
    io.write_image(path, picture(values, grid=grid), "png")
    return str(path)


def _lut(colours):
    """A 256-entry colour table interpolated through ``colours`` (hex RGB, evenly spaced)."""
    ctrl = np.array([[int(c[k : k + 2], 16) for k in (0, 2, 4)] for c in colours.split()], float)
    at = np.linspace(0, 1, len(ctrl))
    return (
        np.stack([np.interp(np.linspace(0, 1, 256), at, ctrl[:, k]) for k in range(3)], axis=1)
        .round()
        .astype(np.uint8)
    )


#: matplotlib's magma and RdBu_r through 33 and 11 of their colours (within 2.2/255 of them).
MAGMA = _lut(
    "000004 030312 0a0822 130d34 1d1147 29115a 36106b 440f76 51127c 5d177f 6a1c81 "
    "762181 832681 902a81 9c2e7f aa337d b73779 c43c75 d0416f dc4869 e75263 ef5d5e "
    "f56b5c f9795d fc8961 fd9869 fea772 feb67c fec488 fed395 fde2a3 fcf0b2 fcfdbf"
)

RDBU = _lut("053061 2065ab 4393c3 90c4dd d1e5f0 f7f6f6 fddbc7 f3a481 d6604d b1182b 67001f")

GRAY = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)

BLUE, ORANGE, GREEN = (31, 119, 180), (255, 127, 14), (44, 160, 44)  # matplotlib's tab: colours


@lru_cache(maxsize=16)
def _font(size):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


class _Canvas:
    """A white RGB picture to place images, text, frames and colour bars on, ``scale`` times
    its final size (reduced on saving)."""

    def __init__(self, width, height, scale=1):
        from PIL import Image, ImageDraw

        self.s = scale
        self.image = Image.new("RGB", (width * scale, height * scale), "white")
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy, text, size=13, anchor="la", fill="black", rotate=False):
        s = self.s
        font = _font(size * s)
        if not rotate:
            self.draw.multiline_text(
                (xy[0] * s, xy[1] * s), text, font=font, fill=fill, anchor=anchor, align="center"
            )
            return
        from PIL import Image, ImageDraw

        box = self.draw.textbbox((0, 0), text, font=font, anchor="lt")
        label = Image.new("L", (box[2] + 2, box[3] + 2), 0)
        ImageDraw.Draw(label).text((1, 1), text, font=font, fill=255, anchor="lt")
        label = label.rotate(90, expand=True)
        x, y = xy[0] * s - label.width // 2, xy[1] * s - label.height // 2
        self.image.paste(Image.new("RGB", label.size, fill), (int(x), int(y)), label)

    def paste(self, xy, rgb):
        """An RGB(A) uint8 array, its top left at ``xy``; transparency shows the white page."""
        from PIL import Image

        picture = Image.fromarray(np.ascontiguousarray(rgb))
        if self.s != 1:
            picture = picture.resize(
                (picture.width * self.s, picture.height * self.s), Image.Resampling.NEAREST
            )
        at = (int(xy[0] * self.s), int(xy[1] * self.s))
        self.image.paste(picture, at, picture if picture.mode == "RGBA" else None)

    def line(self, points, fill, width=1, dash=None):
        s = self.s
        points = [(x * s, y * s) for x, y in points]
        if dash is None:
            self.draw.line(points, fill=fill, width=max(1, round(width * s)))
            return
        (x0, y0), (x1, y1) = points  # a straight dashed line
        length = math.hypot(x1 - x0, y1 - y0)
        on, off = dash[0] * s, dash[1] * s
        t = 0.0
        while t < length:
            a, b = t / length, min(t + on, length) / length
            self.draw.line(
                [
                    (x0 + a * (x1 - x0), y0 + a * (y1 - y0)),
                    (x0 + b * (x1 - x0), y0 + b * (y1 - y0)),
                ],
                fill=fill,
                width=max(1, round(width * s)),
            )
            t += on + off

    def frame(self, box, fill="black", width=1, background=None):
        s = self.s
        self.draw.rectangle(
            [box[0] * s, box[1] * s, box[2] * s, box[3] * s],
            outline=fill,
            width=max(1, round(width * s)),
            fill=background,
        )

    def colour_bar(self, box, lut, lo, hi, label=None):
        """A vertical colour bar in ``box`` (x0, y0, x1, y1) from ``lo`` (bottom) to ``hi``,
        with ticks and ``label`` on its right."""
        x0, y0, x1, y1 = box
        ramp = np.linspace(255, 0, y1 - y0).round().astype(np.uint8)
        self.paste((x0, y0), np.repeat(lut[ramp][:, None, :], x1 - x0, axis=1))
        self.frame((x0, y0, x1, y1))
        width = 0
        for tick in _ticks(lo, hi):
            y = y1 - (tick - lo) / (hi - lo) * (y1 - y0)
            self.line([(x1, y), (x1 + 4, y)], "black")
            text = _number(tick)
            self.text((x1 + 7, y), text, size=12, anchor="lm")
            width = max(width, len(text))
        if label:
            self.text((x1 + 16 + 7 * width, (y0 + y1) / 2), label, size=13, rotate=True)

    def save(self, path):
        from PIL import Image

        image = self.image
        if self.s != 1:
            image = image.resize(
                (image.width // self.s, image.height // self.s), Image.Resampling.BOX
            )
        # zlib level 1: a third of the time of the default level, for somewhat larger files.
        image.save(path, format="PNG", compress_level=1)
        return str(path)


def _ticks(lo, hi, most=7):
    """Round-numbered ticks within [lo, hi], at most ``most`` of them."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / (most - 1)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _number(value):
    """A tick label: few digits, no trailing zeros, no "-0"."""
    text = f"{value:.4g}"
    return "0" if text in ("-0", "0") else text


def _display(x, dtype):
    """An image ready to show: RGB uint8 as it is (holes, NaN, transparent), anything else
    as gray, 1-99.8 % stretched: ``(values, {"cmap": "gray", "vmin", "vmax"})``."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[2] == 3 and np.dtype(dtype) == np.uint8:
        if x.dtype == np.uint8:  # no holes
            return x, {}
        holes = np.isnan(x).any(axis=2)
        rgb = np.clip(np.nan_to_num(x), 0, 255).astype(np.uint8)
        return np.dstack([rgb, np.where(holes, 0, 255).astype(np.uint8)]), {}
    g = x.astype(np.float64).mean(axis=2) if x.ndim == 3 else x.astype(np.float64)
    finite = g[np.isfinite(g)]
    lo, hi = np.percentile(finite, [1, 99.8]) if finite.size > 1 else (0.0, 1.0)
    return g, {"cmap": "gray", "vmin": lo, "vmax": hi if hi > lo else lo + 1}


def _coloured(values, lut, lo, hi):
    """``values`` through the colour table ``lut`` from ``lo`` to ``hi``: RGBA uint8, NaN
    transparent."""
    v = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(v)
    index = np.clip((np.where(finite, v, lo) - lo) * (255 / (hi - lo)), 0, 255)
    rgba = np.empty(v.shape + (4,), np.uint8)
    rgba[..., :3] = lut[index.astype(np.uint8)]
    rgba[..., 3] = np.where(finite, 255, 0)
    return rgba


def _shown(x, dtype):
    """What :func:`_display` gives, as RGB(A) uint8."""
    img, kw = _display(x, dtype)
    return img if not kw else _coloured(img, GRAY, kw["vmin"], kw["vmax"])


def _fit(rgba, width, height):
    """``rgba`` scaled to fit ``width`` x ``height``, its aspect kept: reduced by box means
    (each screen pixel the mean of those it covers), enlarged pixel by pixel."""
    from PIL import Image

    rows, cols = rgba.shape[:2]
    k = min(width / cols, height / rows)
    size = (max(1, round(cols * k)), max(1, round(rows * k)))
    method = Image.Resampling.BOX if k < 1 else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgba)).resize(size, method)), k


def _holes(x, nodata):
    """``x`` as float32 with NaN where it equals ``nodata`` (or is NaN)."""
    x = np.array(x, dtype=np.float32)
    x[np.isnan(x) if np.isnan(nodata) else x == nodata] = np.nan
    return x


def _limit(diff):
    """The colour limit of a difference picture: its 99.5th percentile of magnitude."""
    finite = np.abs(diff[np.isfinite(diff)])
    return (float(np.percentile(finite, 99.5)) if finite.size else 0.0) or 1.0


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
            _holes(x, nodata) for x in (thumb_in, thumb_out, crop_in, crop_out)
        )
    canvas = _Canvas(1500, 1000)
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
    shown, scale = _fit(_shown(data, dtype), 400, 390)
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
    lim = _limit(diff)
    shown, _ = _fit(_coloured(diff, RDBU, -lim, lim), 330, 390)
    x0 = 1030
    _paste_labelled(canvas, x0, top, shown, name)
    canvas.colour_bar(
        (
            x0 + shown.shape[1] + 15,
            top + 20,
            x0 + shown.shape[1] + 30,
            top + max(shown.shape[0] - 20, 140),
        ),
        RDBU,
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
    canvas = _Canvas(900, 550, scale=2)
    keep = np.isfinite(power_in) & (power_in > 0)
    keep_out = np.isfinite(power_out) & (power_out > 0)
    lo, hi = _power_range(power_in, keep, power_out, keep_out)
    ax = _SpectrumAxes(float(edges[-1]), lo, hi)
    _draw_spectrum_axes(canvas, ax)
    canvas.text((450, 12), title.replace(" - ", "\n", 1), size=13, anchor="ma")
    marks = _draw_cutoffs(canvas, ax, spec)
    fine = np.linspace(0, ax.fmax, 400)
    canvas.line(list(zip(ax.x_of(fine), ax.y_lin(spec.profile(fine)))), GREEN, 1.5)
    f = 0.5 * (edges[1:] + edges[:-1])
    for power, ok, colour in ((power_in, keep, BLUE), (power_out, keep_out, ORANGE)):
        if ok.sum() > 1:
            canvas.line(list(zip(ax.x_of(f[ok]), ax.y_log(power[ok]))), colour, 1.5)
    background = ", the background" if spec.flatfield else ""
    legend = [
        ("input", BLUE, None),
        ("filtered", ORANGE, None),
        *marks,
        (f"H ({spec.filter} {spec.band}-pass{background})", GREEN, None),
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
    for v in _ticks(0, ax.fmax, 8):
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
    canvas.text((866, (top + bottom) / 2), "transfer function H", size=14, rotate=True, fill=GREEN)


def _draw_cutoffs(canvas, ax, spec):
    """Draw the cutoffs of ``spec`` and Nyquist as dashed lines; their legend entries."""
    legend = []
    cutoffs = (spec.cutoff,) if spec.band != "band" else (spec.low_cutoff, spec.cutoff)
    for cutoff in cutoffs:
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
    canvas = _Canvas(left + width + bar + 110, top + tall + 75)
    lo, hi = np.percentile(values, [1, 99.9]) if values.size > 1 else (0, 1)
    hi = hi if hi > lo else lo + 1
    rgba = _coloured(values, MAGMA, lo, hi)
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
        MAGMA,
        lo,
        hi,
        "log1p |FFT| (zero frequency at tile centre)",
    )
    return canvas.save(path)
