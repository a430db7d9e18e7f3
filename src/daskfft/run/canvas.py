"""What the run's pictures are drawn with: a canvas (Pillow and NumPy, text in Pillow's
scalable font, line plots drawn at twice the size and reduced), colour maps, the display
range of an image, fitting a picture into a box, and plain grayscale pictures of an array
(:func:`picture`, :func:`write_picture`).  :mod:`daskfft.run.plots` draws the run's
pictures with them.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from daskfft import io

__all__ = [
    "picture",
    "write_picture",
    "Canvas",
    "MAGMA",
    "RDBU",
    "GRAY",
    "BLUE",
    "ORANGE",
    "GREEN",
    "font",
    "ticks",
    "number",
    "display",
    "coloured",
    "shown",
    "fit",
    "holes",
    "limit",
]


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


def lut(colours):
    """A 256-entry colour table interpolated through ``colours`` (hex RGB, evenly spaced)."""
    ctrl = np.array([[int(c[k : k + 2], 16) for k in (0, 2, 4)] for c in colours.split()], float)
    at = np.linspace(0, 1, len(ctrl))
    return (
        np.stack([np.interp(np.linspace(0, 1, 256), at, ctrl[:, k]) for k in range(3)], axis=1)
        .round()
        .astype(np.uint8)
    )


#: matplotlib's magma and RdBu_r through 33 and 11 of their colours (within 2.2/255 of them).
MAGMA = lut(
    "000004 030312 0a0822 130d34 1d1147 29115a 36106b 440f76 51127c 5d177f 6a1c81 "
    "762181 832681 902a81 9c2e7f aa337d b73779 c43c75 d0416f dc4869 e75263 ef5d5e "
    "f56b5c f9795d fc8961 fd9869 fea772 feb67c fec488 fed395 fde2a3 fcf0b2 fcfdbf"
)

RDBU = lut("053061 2065ab 4393c3 90c4dd d1e5f0 f7f6f6 fddbc7 f3a481 d6604d b1182b 67001f")

GRAY = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)

BLUE, ORANGE, GREEN = (31, 119, 180), (255, 127, 14), (44, 160, 44)  # matplotlib's tab: colours


@lru_cache(maxsize=16)
def font(size):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


class Canvas:
    """A white RGB picture to place images, text, frames and colour bars on, ``scale`` times
    its final size (reduced on saving)."""

    def __init__(self, width, height, scale=1):
        from PIL import Image, ImageDraw

        self.s = scale
        self.image = Image.new("RGB", (width * scale, height * scale), "white")
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy, text, size=13, anchor="la", fill="black", rotate=False):
        s = self.s
        face = font(size * s)
        if not rotate:
            self.draw.multiline_text(
                (xy[0] * s, xy[1] * s), text, font=face, fill=fill, anchor=anchor, align="center"
            )
            return
        from PIL import Image, ImageDraw

        box = self.draw.textbbox((0, 0), text, font=face, anchor="lt")
        label = Image.new("L", (box[2] + 2, box[3] + 2), 0)
        ImageDraw.Draw(label).text((1, 1), text, font=face, fill=255, anchor="lt")
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
        for tick in ticks(lo, hi):
            y = y1 - (tick - lo) / (hi - lo) * (y1 - y0)
            self.line([(x1, y), (x1 + 4, y)], "black")
            text = number(tick)
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


def ticks(lo, hi, most=7):
    """Round-numbered ticks within [lo, hi], at most ``most`` of them."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / (most - 1)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def number(value):
    """A tick label: few digits, no trailing zeros, no "-0"."""
    text = f"{value:.4g}"
    return "0" if text in ("-0", "0") else text


def display(x, dtype):
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


def coloured(values, lut, lo, hi):
    """``values`` through the colour table ``lut`` from ``lo`` to ``hi``: RGBA uint8, NaN
    transparent."""
    v = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(v)
    index = np.clip((np.where(finite, v, lo) - lo) * (255 / (hi - lo)), 0, 255)
    rgba = np.empty(v.shape + (4,), np.uint8)
    rgba[..., :3] = lut[index.astype(np.uint8)]
    rgba[..., 3] = np.where(finite, 255, 0)
    return rgba


def shown(x, dtype):
    """What :func:`display` gives, as RGB(A) uint8."""
    img, kw = display(x, dtype)
    return img if not kw else coloured(img, GRAY, kw["vmin"], kw["vmax"])


def fit(rgba, width, height):
    """``rgba`` scaled to fit ``width`` x ``height``, its aspect kept: reduced by box means
    (each screen pixel the mean of those it covers), enlarged pixel by pixel."""
    from PIL import Image

    rows, cols = rgba.shape[:2]
    k = min(width / cols, height / rows)
    size = (max(1, round(cols * k)), max(1, round(rows * k)))
    method = Image.Resampling.BOX if k < 1 else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgba)).resize(size, method)), k


def holes(x, nodata):
    """``x`` as float32 with NaN where it equals ``nodata`` (or is NaN)."""
    x = np.array(x, dtype=np.float32)
    x[np.isnan(x) if np.isnan(nodata) else x == nodata] = np.nan
    return x


def limit(diff):
    """The colour limit of a difference picture: its 99.5th percentile of magnitude."""
    finite = np.abs(diff[np.isfinite(diff)])
    return (float(np.percentile(finite, 99.5)) if finite.size else 0.0) or 1.0
