"""A run's output files: their names, the result stores turned into files, and the pictures.

Everything is written into the work folder (:class:`daskfft.workdir.WorkDir`)
and published into OUTDIR only when all of it is complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import io

__all__ = ["SPECTRA_CHOICES", "output_names", "finalize", "staged", "write_pictures"]

#: Which spectra pictures a run writes: the atlas, one PNG per chunk, both, or none.
SPECTRA_CHOICES = ("atlas", "chunks", "all", "none")


def output_names(fmt, *, sample, spectra, plots, performance_report):
    """The names a run publishes into OUTDIR, the filtered image first."""
    ext = io.OUTPUT_EXT[fmt]
    names = [f"filtered.{ext}", "report.json"]
    if sample:
        names.append(f"sample.{ext}")
    if spectra in ("atlas", "all"):
        names.append("spectra.png")
    if spectra in ("chunks", "all"):
        names.append("spectra")
    if plots:
        names += ["overview.png", "radial_spectrum.png"]
    if performance_report:
        names.append("performance-report.html")
    return names


def staged(root, names):
    """Where each output waits in the work folder ``root``: stores in it, files in ``out/``."""
    root = Path(root)
    return {n: root / n if n.endswith(".zarr") else root / "out" / n for n in names}


def finalize(root, name, path, fmt, info, *, compression=None):
    """Turn ``root/<name>.zarr`` into the output ``path`` in format ``fmt``.

    A Zarr output is the store itself, given the input's metadata as
    attributes; it stays where it is until published, so that a failure
    afterwards still finds it for ``--resume``.
    """
    import zarr

    src = Path(root) / f"{name}.zarr"
    z = zarr.open_array(str(src), mode="r+" if fmt == "zarr" else "r")
    if fmt == "zarr":
        z.attrs.update({"photometric": info.photometric, "alpha": info.has_alpha,
                        "nodata": _jsonable(info.nodata),
                        "geotiff_tags": {str(t[0]): _jsonable(t[3]) for t in info.tags}})
    elif fmt == "tiff":
        tmp = f"{path}.tmp"
        compression = None if compression in (None, "none") else compression
        io.write_tiff(tmp, lambda r0, r1: z[r0:r1], z.shape, z.dtype,
                      photometric=info.photometric, alpha=info.has_alpha, tags=info.tags,
                      compression=compression, band=z.chunks[0])
        os.replace(tmp, path)
    else:
        io.write_image(path, z[...], fmt)


def _jsonable(value):
    from .params import json_number

    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float):
        return json_number(value)
    return value


def write_pictures(out, plan, summary, crops):
    """The spectra atlas, the overview and the radial spectrum that ``plan`` asks for."""
    from . import plots
    from .spectra import RADIAL_EDGES

    spec, rows, cols = plan.spec, plan.row_edges, plan.col_edges
    source = "sample" if plan.config.sample is not None else os.path.basename(plan.config.input)
    label = (f"{source}: {spec.filter} low-pass, cutoff {spec.cutoff:.3g} cycles/px, "
             + ("exact" if spec.method == "exact" else f"halo {plan.halo.depth} px")
             + f", chunks {plan.rows[0]}")
    if "spectra.png" in plan.names:
        if plan.config.plots:
            plots.atlas(out / "spectra.png", summary["atlas"], rows, cols, plan.cell,
                        title=f"spectra per chunk - {label}")
        else:
            io.write_picture(out / "spectra.png", summary["atlas"], grid=plan.cell)
    if plan.config.plots:
        crop_in, crop_out, box = crops
        plots.overview(out / "overview.png", summary["thumb_in"], summary["thumb_out"],
                       plan.thumb, crop_in, crop_out, box, dtype=plan.info.dtype, title=label,
                       nodata=spec.nodata)
        plots.radial_spectrum(out / "radial_spectrum.png", RADIAL_EDGES, summary["power_in"],
                              summary["power_out"], cutoff=spec.cutoff, filter=spec.filter,
                              order=spec.order, title=f"radially averaged power - {label}")
