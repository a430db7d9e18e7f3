"""``report.html``: the run's report as one page to open, self-contained (every picture
inline, no script or style from the network), showing first what a user looks for: the
input and the result side by side, a full-resolution crop of both to zoom into, the
radial spectrum and the atlas, the filter and its halo with the bound, the timings as a
bar, the choices made and the warnings.  Made from ``report.json``'s content and the
pictures the run drew; nothing here is measured anew.
"""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np

from daskfft.run import canvas as cv

__all__ = ["views", "write_html"]


def views(thumb_in, thumb_out, step, crops, *, dtype, nodata=None):
    """What the page shows of the images, as RGB(A) uint8 as :mod:`daskfft.run.plots` shows
    them: the reduced input and result (every ``step``-th pixel) and the full-resolution
    ``crops`` ((input, result, (r0, r1, c0, c1))); pixels equal to ``nodata`` blank."""
    crop_in, crop_out, box = crops
    shown = [thumb_in, thumb_out, crop_in, crop_out]
    if nodata is not None:
        shown = [cv.holes(x, nodata) for x in shown]
    return {"pictures": [cv.shown(x, dtype) for x in shown], "step": step, "box": box}


def write_html(path, report, pictures, shown):
    """``report.html`` at ``path`` from the ``report`` (report.json's content), the run's
    ``pictures`` (name -> path of the PNGs it drew, those that exist) and ``shown``
    (:func:`views`)."""
    body = [
        _header(report),
        _images(shown),
        _spectra(pictures),
        _filter(report),
        _timings(report["seconds"]),
        _lists(report),
        _details(report),
    ]
    title = html.escape(f"daskfft - {_source(report)}")
    page = _PAGE.format(title=title, style=_STYLE, body="\n".join(body), script=_SCRIPT)
    path.write_text(page, encoding="utf-8")
    return path


def _source(report):
    """The input's name as the page titles it."""
    inp = report["input"]
    return inp["path"] or f"built-in sample, {inp['sample']} px"


def _header(report):
    f, halo = report["filter"], report["halo"]
    shape = " x ".join(map(str, report["input"]["shape"]))
    return (
        f"<header><h1>{html.escape(_source(report))}</h1>"
        f"<p>{html.escape(_filter_line(f))}, halo {halo['depth']} px, {_bound(halo, '.2g')}; "
        f"{html.escape(shape)} "
        f"{html.escape(report['input']['dtype'])}, {report['megapixels']:.1f} Mpx in "
        f"{report['seconds']['total']:.2f} s; output {html.escape(', '.join(report['outputs']))} "
        f"in {html.escape(report['outdir'])}</p></header>"
    )


def _bound(halo, spec):
    """The halo's bound as the page says it: "bound 7.8e-07 x max|image|", or why none."""
    value = halo["expected_max_deviation"]
    if value is None:
        return "no bound: " + html.escape(halo["expected_max_deviation_note"])
    return f"bound {value:{spec}} x max|image|"


def _filter_line(f):
    """ "gaussian low-pass, sigma 3.18 px (cutoff 0.05 cycles/px)"."""
    name = f"{f['filter']} {f['pass_band']}-pass"
    sigma = f.get("sigma_pixels")
    cut = f"cutoff {_value(f['cutoff_cycles_per_pixel'])} cycles/px"
    return f"{name}, sigma {_value(sigma)} px ({cut})" if sigma is not None else f"{name}, {cut}"


def _value(v):
    """A number (or one per axis) as the page writes it."""
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


#: A picture whose PNG is larger than this goes on the page as a JPEG (quality 90), unless it
#: has transparent pixels: a gigapixel run's atlas and overview came to 3.8 MB of the
#: page's 5.2 MB as PNGs.  The PNG files beside the page stay exact.
_JPEG_FROM = 256 * 1024


def _png(rgba, *, exact=False):
    """A data URI of ``rgba`` (uint8 RGB or RGBA): PNG, or JPEG where that is large and
    not ``exact`` (a crop, shown zoomed pixel for pixel, always is)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgba))
    if exact:
        return _data("png", _encoded(image, "PNG", compress_level=6))
    return _uri(image)


def _file(path):
    """A data URI of the PNG file at ``path``: its bytes, or a JPEG where they are large."""
    from PIL import Image

    data = path.read_bytes()
    if len(data) <= _JPEG_FROM:
        return _data("png", data)
    with Image.open(path) as image:
        return _uri(image, png=data)


def _uri(image, png=None):
    """The smaller of ``image``'s PNG (``png``, if made already) and, when that is large and
    nothing in it is transparent, its JPEG."""
    if png is None:
        png = _encoded(image, "PNG", compress_level=6)
    if len(png) <= _JPEG_FROM or _transparent(image):
        return _data("png", png)
    jpeg = _encoded(image.convert("RGB"), "JPEG", quality=90)
    return _data("jpeg", jpeg) if len(jpeg) < len(png) else _data("png", png)


def _encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _transparent(image):
    """Whether any pixel of ``image`` is not fully opaque."""
    if image.mode not in ("RGBA", "LA", "P"):
        return False
    alpha = image.convert("RGBA").getchannel("A")
    return alpha.getextrema()[0] < 255


def _data(kind, data):
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def _images(shown):
    thumb_in, thumb_out, crop_in, crop_out = shown["pictures"]
    r0, r1, c0, c1 = shown["box"]
    step = shown["step"]
    reduced = f", {step}x reduced" if step > 1 else ""
    where = f"rows {r0}-{r1}, cols {c0}-{c1}, full resolution"
    exact_in, exact_out = _png(crop_in, exact=True), _png(crop_out, exact=True)
    height, width = (n * step for n in thumb_in.shape[:2])  # the image's, near enough
    frame = (
        f'<div class="where" style="left:{100 * c0 / width:.2f}%;top:{100 * r0 / height:.2f}%;'
        f'width:{100 * (c1 - c0) / width:.2f}%;height:{100 * (r1 - r0) / height:.2f}%"></div>'
    )
    return f"""<section><h2>Input and result</h2>
<div class="pair">
<figure><figcaption>input{reduced}</figcaption><div class="framed">
<img src="{_png(thumb_in)}" alt="input">{frame}</div></figure>
<figure><figcaption>filtered{reduced}</figcaption><div class="framed">
<img src="{_png(thumb_out)}" alt="filtered">{frame}</div></figure>
</div>
<h3>Crop: {where}</h3>
<p class="zoom"><label for="zoom">zoom</label>
<input type="range" id="zoom" min="1" max="8" step="1" value="2">
<output id="zoom-value" for="zoom">2x</output>
<span class="hint">the two crops scroll together</span></p>
<div class="pair">
<figure><figcaption>input</figcaption><div class="crop"><img class="zoomed" src="{exact_in}"
 alt="input crop" width="{crop_in.shape[1] * 2}"></div></figure>
<figure><figcaption>filtered</figcaption><div class="crop"><img class="zoomed"
 src="{exact_out}" alt="filtered crop" width="{crop_out.shape[1] * 2}"></div></figure>
</div></section>"""


#: The run's pictures the page shows, in this order, with their captions.
_PICTURES = {
    "radial_spectrum.png": "Radial power spectrum, input and filtered, with the filter",
    "spectra.png": "Spectra atlas: each chunk's spectrum",
    "frames.png": "Time points",
    "overview.png": "Overview with the differences (what the filter took out)",
}


def _spectra(pictures):
    figures = [
        f'<figure><figcaption>{caption}</figcaption><img src="{_file(pictures[name])}" '
        f'alt="{name}"></figure>'
        for name, caption in _PICTURES.items()
        if name in pictures
    ]
    return "<section><h2>Spectra and pictures</h2>" + "\n".join(figures) + "</section>"


def _filter(report):
    f, halo, precision = report["filter"], report["halo"], report["precision"]
    rows = [(k.replace("_", " "), _value(v)) for k, v in f.items() if v is not None]
    rows += [
        ("method", _value(report["method"])),
        ("working precision", f"{precision['dtype']}: {html.escape(precision['why'])}"),
        ("halo", f"{halo['depth']} px ({html.escape(str(halo['rule']))})"),
        ("halo needed for tol", _value(halo["needed_for_tol"])),
        ("bound", _bound(halo, ".3g")),
    ]
    if halo["expected_max_deviation"] is not None:
        rows[-1] = ("bound", f"{rows[-1][1]} ({html.escape(halo['expected_max_deviation_note'])})")
    if halo.get("measured_deviation") is not None:
        rows.append(("measured deviation", _value(halo["measured_deviation"])))
    chunks = report["chunks"]
    rows.append(
        (
            "chunks",
            f"{' x '.join(map(str, chunks['size']))} px, {chunks['total']} in all "
            f"({chunks['computed']} computed, {chunks['resumed']} resumed)",
        )
    )
    return "<section><h2>Filter, halo and bound</h2>" + _table(rows) + "</section>"


def _table(rows):
    cells = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


#: The stages of a run, in order, as report.json's "seconds" names them, with their colours.
_STAGES = {
    "imports": "#bbbbbb",
    "plan": "#9467bd",
    "cluster_start": "#8c564b",
    "compute": "#1f77b4",
    "overviews": "#17becf",
    "write": "#ff7f0e",
}


def _timings(seconds):
    stages = [(s, seconds[s]) for s in _STAGES if seconds.get(s)]
    total = sum(t for _, t in stages) or 1.0
    bars = "".join(
        f'<div class="stage" style="width:{100 * t / total:.2f}%;background:{_STAGES[s]}" '
        f'title="{s}: {t:.2f} s"></div>'
        for s, t in stages
    )
    legend = "".join(
        f'<li><span class="key" style="background:{_STAGES[s]}"></span>'
        f"{s.replace('_', ' ')} {t:.2f} s ({100 * t / total:.0f} %)</li>"
        for s, t in stages
    )
    return (
        f"<section><h2>Timings: {total:.2f} s</h2>"
        f'<div class="bar">{bars}</div><ul class="legend">{legend}</ul></section>'
    )


def _lists(report):
    choices = "".join(f"<li>{html.escape(c)}</li>" for c in report["choices"])
    warnings = report.get("warnings") or []
    said = "".join(f"<li>{html.escape(w)}</li>" for w in warnings) or "<li>none</li>"
    return (
        f'<section><h2>Warnings</h2><ul class="warnings">{said}</ul>'
        f"<h2>Choices made</h2><ul>{choices}</ul></section>"
    )


def _details(report):
    text = html.escape(json.dumps(report, indent=1, allow_nan=False))
    return f"<section><details><summary>report.json</summary><pre>{text}</pre></details></section>"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body>
{body}
<script>{script}</script>
</body></html>
"""

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px;
  padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
h3 { font-size: 1em; }
.pair { display: flex; gap: 1em; flex-wrap: wrap; }
.pair figure { flex: 1 1 45%; margin: 0; min-width: 280px; }
figure img { max-width: 100%; border: 1px solid #ccc; }
figcaption { font-size: 0.9em; color: #555; margin-bottom: 0.3em; }
.framed { position: relative; display: inline-block; line-height: 0; }
.where { position: absolute; border: 2px solid #ffd000; box-sizing: border-box; }
.crop { overflow: auto; max-height: 520px; border: 1px solid #ccc; }
.crop img.zoomed { max-width: none; border: 0; image-rendering: pixelated; display: block; }
.zoom input { vertical-align: middle; } .hint { color: #777; font-size: 0.85em; }
table { border-collapse: collapse; } th, td { text-align: left; vertical-align: top;
  padding: 0.2em 1em 0.2em 0; border-bottom: 1px solid #eee; }
th { font-weight: 600; white-space: nowrap; }
.bar { display: flex; height: 1.6em; border: 1px solid #999; }
.stage { height: 100%; }
.legend { list-style: none; padding: 0; display: flex; gap: 1.2em; flex-wrap: wrap; }
.key { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em;
  vertical-align: -0.1em; }
.warnings li { color: #a04000; }
pre { font-size: 0.8em; overflow: auto; background: #f6f6f6; padding: 0.6em; }
"""

_SCRIPT = """
(function () {
  var range = document.getElementById("zoom");
  var value = document.getElementById("zoom-value");
  var crops = document.querySelectorAll("img.zoomed");
  function zoom() {
    crops.forEach(function (img) { img.width = img.naturalWidth * range.value; });
    value.textContent = range.value + "x";
  }
  range.addEventListener("input", zoom);
  window.addEventListener("load", zoom);
  var boxes = document.querySelectorAll(".crop");
  boxes.forEach(function (box) {
    box.addEventListener("scroll", function () {
      boxes.forEach(function (other) {
        if (other !== box) { other.scrollLeft = box.scrollLeft; other.scrollTop = box.scrollTop; }
      });
    });
  });
})();
"""
