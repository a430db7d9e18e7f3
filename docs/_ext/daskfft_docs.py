"""Pictures the documentation shows, made at build time from the project's own code.

On ``builder-inited`` this Sphinx extension

* runs the tool itself (``python -m daskfft``, the same CLI users run) on small
  built-in samples, into ``docs/_generated/gallery/``: a low-pass run with its
  ``overview.png``, ``radial_spectrum.png`` and ``spectra.png`` atlas, a
  high-pass and a band-pass run's ``overview.png``, and ``daskfft align`` on the
  sample and a copy of it moved by a smooth shift field, for ``shift_field.png``;
* writes every command's ``--help`` from ``daskfft.cli.build_parser()`` into
  ``docs/_generated/cli/`` for the command-line reference;
* draws the design page's two diagrams (the layers and a run's stages) with
  matplotlib into ``docs/_generated/design/``.

Nothing is committed: ``docs/_generated/`` is in ``.gitignore``.  About 10 s on
2 cores.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent.parent  # docs/
OUT = HERE / "_generated"

#: The gallery's runs: (folder, daskfft arguments, files kept).
RUNS = [
    (
        "lowpass",
        "run --sample 1024 --chunks 256 --sigma 4",
        ["overview.png", "radial_spectrum.png", "spectra.png", "report.json"],
    ),
    (
        "highpass",
        "run --sample 1024 --chunks 256 --pass high --sigma 4 --spectra none",
        ["overview.png"],
    ),
    (
        "bandpass",
        "run --sample 1024 --chunks 256 --pass band --sigma 1,6 --spectra none",
        ["overview.png", "radial_spectrum.png"],
    ),
]


def _daskfft(args, cwd):
    """Run the daskfft command line in a fresh process; fail the build if it fails."""
    cmd = [sys.executable, "-m", "daskfft", *args, "-q"]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")


def _moved_copy(reference, moving):
    """Write ``moving``: ``reference`` moved by a smooth shift field (3-5 px)."""
    import numpy as np
    import tifffile
    from scipy import ndimage

    ref = tifffile.imread(reference)
    h, w = ref.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    dy = 3.3 + 1.5 * np.sin(2 * np.pi * xx / w)
    dx = -2.4 + 1.5 * np.cos(2 * np.pi * yy / h)
    chans = [
        ndimage.map_coordinates(
            ref[..., c].astype(float), [yy - dy, xx - dx], order=3, mode="reflect"
        )
        for c in range(ref.shape[2])
    ]
    out = np.clip(np.rint(np.stack(chans, -1)), 0, 255).astype(np.uint8)
    tifffile.imwrite(moving, out, tile=(256, 256))


def make_gallery(dest: Path):
    """Run the tool as users do and keep the pictures it makes in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="daskfft-docs-") as tmp:
        tmp = Path(tmp)
        for name, line, keep in RUNS:
            args = shlex.split(line)
            _daskfft([*args, "-o", str(tmp / name)], cwd=tmp)
            for f in keep:
                shutil.copyfile(tmp / name / f, dest / f"{name}_{f}")
        _daskfft(["sample", "-o", str(tmp / "reference.tif"), "--size", "1024"], cwd=tmp)
        _moved_copy(tmp / "reference.tif", tmp / "moving.tif")
        _daskfft(
            [
                "align",
                str(tmp / "reference.tif"),
                str(tmp / "moving.tif"),
                "-o",
                str(tmp / "align"),
                "--window",
                "128",
            ],
            cwd=tmp,
        )
        for f in ("shift_field.png", "transform.json"):
            shutil.copyfile(tmp / "align" / f, dest / f"align_{f}")


# ----------------------------------------------------------------------------
# The design page's diagrams.


def _box(ax, x, y, w, h, title, body="", color="#dbe9f6"):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            fc=color,
            ec="#2b4c6f",
            lw=1.2,
        )
    )
    text = {"ha": "center", "va": "top", "family": "DejaVu Sans"}
    ax.text(x + w / 2, y + h - 0.17, title, fontsize=11, fontweight="bold", **text)
    if body:
        ax.text(x + w / 2, y + h - 0.47, body, fontsize=8.5, linespacing=1.3, **text)


def _arrow(ax, x0, y0, x1, y1, label=""):
    ax.annotate(
        "", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="-|>", color="#2b4c6f", lw=1.3)
    )
    if label:
        ax.text(
            (x0 + x1) / 2 + 0.08,
            (y0 + y1) / 2,
            label,
            fontsize=8,
            va="center",
            family="DejaVu Sans",
            color="#444444",
        )


def _figure(width, height):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: small, searchable
    plt.rcParams["svg.hashsalt"] = "daskfft"  # the same file on every build
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    return fig, ax


def draw_layers(path: Path):
    """The package's layers: each imports only from the layers below it."""
    fig, ax = _figure(10, 7.2)
    _box(
        ax,
        3.0,
        6.0,
        4.0,
        1.0,
        "cli",
        "argparse only: daskfft run | sample | align;\nits types call the validators",
        "#f6e3c6",
    )
    _box(
        ax,
        2.0,
        4.45,
        6.0,
        1.1,
        "run",
        "RunConfig, make_plan, WorkDir (lock, resume, publish), the graph\n"
        "of per-chunk tasks, outputs, pictures, report.json; align",
        "#f6e3c6",
    )
    _box(
        ax,
        0.2,
        2.55,
        3.1,
        1.45,
        "api",
        "lazy dask functions:\nlowpass, highpass, bandpass,\n"
        "flatfield, spectra, register,\nshift_field; FilterSpec",
    )
    _box(
        ax,
        3.45,
        2.55,
        3.1,
        1.45,
        "io",
        "TIFF/BigTIFF/COG, GeoTIFF tags,\nZarr, OME-Zarr, PNG/JPEG,\nmasks, nodata, pyramids",
    )
    _box(
        ax,
        6.7,
        2.55,
        3.1,
        1.45,
        "cluster",
        "threads, local, processes,\na scheduler's address,\nMPI (dask-mpi), TLS",
    )
    _box(
        ax,
        1.5,
        1.15,
        7.0,
        1.0,
        "kernels",
        "NumPy only, one block: transfer functions, halo rule, FFT filter\n"
        "of a chunk (ducc0), grids, spectra, phase correlation, overviews",
        "#d9eed9",
    )
    _box(ax, 0.2, 0.1, 9.6, 0.72, "validate  |  errors  |  messages", "", "#e8e8e8")
    ax.text(
        5.0,
        0.28,
        "validate: the validators the API and the CLI share;  errors: the "
        "package's exception types;  messages: every sentence said to the user",
        ha="center",
        fontsize=8.5,
        family="DejaVu Sans",
    )
    _arrow(ax, 5.0, 6.0, 5.0, 5.55)
    for x in (1.75, 5.0, 8.25):
        _arrow(ax, 5.0 if x == 5.0 else (3.0 if x < 5 else 7.0), 4.45, x, 4.0)
    _arrow(ax, 1.75, 2.55, 3.0, 2.15)
    _arrow(ax, 5.0, 2.55, 5.0, 2.15)
    fig.savefig(path, metadata={"Date": None})


def draw_stages(path: Path):
    """A run's stages, top to bottom, and what each leaves behind."""
    stages = [
        ("probe", "read the input's header: shape, dtype, tiles,\nnodata, mask, georeferencing"),
        (
            "plan",
            "validate the filter; halo from --tol; chunk grid rounded\nto tiles; output format; "
            "fingerprint; choices made",
        ),
        (
            "work folder + lock",
            "OUTDIR/.daskfft-work/: lock (heartbeat), start,\nor --resume from the done markers",
        ),
        (
            "cluster",
            "threads below 1024 Mpx a core, else in-process scheduler;\nprocesses, address or MPI "
            "when asked",
        ),
        (
            "graph: one task per chunk",
            "read window + halo -> FFT -> x H -> inverse FFT -> crop\n"
            "-> write tiles; summaries; done marker",
        ),
        (
            "outputs",
            "compressed TIFF streamed from Zarr; COG / OME-Zarr\npyramids (each level "
            "low-passed), GDAL's COG layout",
        ),
        ("pictures", "overview.png, radial_spectrum.png, spectra.png atlas\n(drawn on threads)"),
        ("report", "report.json: parameters, halo and bound, chunks,\ntimings, cluster, versions"),
        ("publish", "rename every output into OUTDIR at once;\nretire the work folder"),
    ]
    n = len(stages)
    fig, ax = _figure(8.0, 0.95 * n + 0.2)
    for i, (title, body) in enumerate(stages):
        y = 0.95 * (n - 1 - i) + 0.15
        color = "#d9eed9" if title.startswith("graph") else "#dbe9f6"
        _box(ax, 0.3, y, 7.4, 0.78, "", "", color)
        ax.text(
            0.5,
            y + 0.39,
            f"{i + 1}. {title}",
            fontsize=10.5,
            fontweight="bold",
            va="center",
            family="DejaVu Sans",
        )
        ax.text(
            3.35, y + 0.39, body, fontsize=8.5, va="center", family="DejaVu Sans", linespacing=1.3
        )
        if i:
            _arrow(ax, 1.6, y + 0.95, 1.6, y + 0.78)
    fig.savefig(path, metadata={"Date": None})


def make_cli_help(dest: Path):
    """Write each command's ``--help``, from ``daskfft.cli.build_parser()``, into ``dest``."""
    import argparse

    from daskfft.cli import build_parser

    dest.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal's width
    try:
        parser = build_parser()
        (dest / "daskfft.txt").write_text(parser.format_help())
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, sub in subs.choices.items():
            (dest / f"{name}.txt").write_text(sub.format_help())
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def check_api_page(app):
    """The API page must list exactly ``daskfft.__all__`` (less ``__version__``)."""
    import re

    import daskfft

    text = (HERE / "reference" / "api.md").read_text()
    listed = set(re.findall(r"^   ([A-Za-z_][A-Za-z0-9_]*)$", text, flags=re.M))
    listed |= set(re.findall(r"^\.\. data:: ([A-Za-z_][A-Za-z0-9_]*)$", text, flags=re.M))
    public = set(daskfft.__all__) - {"__version__"}
    if daskfft.DEPTH_CAP != 1024 and "DEPTH_CAP" in listed:
        logger.warning("reference/api.md gives DEPTH_CAP as 1024; it is now %s", daskfft.DEPTH_CAP)
    if listed != public:
        logger.warning(
            "reference/api.md does not list daskfft.__all__: missing %s, not public %s",
            sorted(public - listed),
            sorted(listed - public),
        )


def _generate(app):
    t0 = time.perf_counter()
    gallery, design = OUT / "gallery", OUT / "design"
    design.mkdir(parents=True, exist_ok=True)
    draw_layers(design / "layers.svg")
    draw_stages(design / "stages.svg")
    make_cli_help(OUT / "cli")
    if os.environ.get("DASKFFT_DOCS_SKIP_GALLERY") and (gallery / "lowpass_overview.png").exists():
        logger.info("daskfft_docs: gallery kept from the last build (DASKFFT_DOCS_SKIP_GALLERY)")
    else:
        make_gallery(gallery)
    logger.info(f"daskfft_docs: gallery and diagrams made in {time.perf_counter() - t0:.1f} s")


def setup(app):
    app.connect("builder-inited", _generate)
    app.connect("builder-inited", check_api_page)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
