"""``report.json``: what a run did, with what, how well and how fast; always valid JSON."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import platform
from importlib import metadata

from daskfft.kernels.bands import output_offset
from daskfft.kernels.block import ROUNDING, pair_bands, working_precision
from daskfft.kernels.pruned import pruned_tail
from daskfft.messages import run as msg
from daskfft.run.describe import json_number
from daskfft.run.levels import level_planes
from daskfft.run.outputs import mask_kind
from daskfft.run.stack import stack_section

__all__ = ["versions", "make_report", "write_report"]


_VERSIONED = (
    "daskfft",
    "dask",
    "distributed",
    "numpy",
    "ducc0",
    "imageio",
    "tifffile",
    "zarr",
    "bokeh",
)


def versions():
    """Versions of Python and of the libraries that shape the result."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def make_report(
    plan, *, started, seconds, computed, resumed, cluster, measured, flat_mean=None, warnings=()
):
    """The report of a run of ``plan``; ``seconds`` maps stage names to durations;
    ``flat_mean``: a block-wise flat-field's level per channel; ``warnings``: what the run
    warned of, as it said it."""
    spec, info = plan.spec, plan.info
    work = seconds.get("compute", 0.0)
    return {
        "daskfft": versions().get("daskfft"),
        "started": started.isoformat(timespec="seconds"),
        "input": _input_section(plan),
        "outdir": str(plan.config.outdir),
        "output_format": plan.fmt,
        "output_mask": mask_kind(plan.fmt, info),  # "internal", "sidecar" (.msk) or None
        "outputs": sorted(plan.names),
        "creation_options": plan.creation,
        "pyramid": _pyramid_section(plan),
        "filter": _filter_section(spec, info, flat_mean),
        "method": spec.method,
        "precision": _precision(info.dtype, spec.tol),
        "halo": _halo_section(plan.halo, measured),
        "transforms": _transforms_section(plan),
        "chunks": _chunks_section(plan, computed, resumed),
        "choices": list(plan.notes),
        "warnings": list(warnings),
        "cluster": cluster,
        "seconds": seconds,
        "megapixels": info.megapixels,
        "megapixels_per_second": info.megapixels * computed / plan.total / max(work, 1e-9),
        "versions": versions(),
        "fingerprint": plan.fingerprint,  # what --resume compares, when every output is here
        **({"stack": stack_section(plan)} if info.stack else {}),
    }


def _input_section(plan):
    """The report's "input": where the image came from and how it is stored."""
    info, config = plan.info, plan.config
    return {
        "path": config.input,
        "sample": config.sample,
        "format": info.format,
        "shape": list(info.shape),
        "dtype": info.dtype.name,
        "tiled": info.tiled,
        "native_chunks": list(info.native_chunks),
        "georeferenced": any(t[0] in (33922, 34264, 34735) for t in info.tags),
        "alpha_passed_through": info.has_alpha and mask_kind(plan.fmt, info) is None,
    }


def _pyramid_section(plan):
    """The report's "pyramid": its levels' shapes and overview filter (a volume's: each
    level's z planes too); None for one level."""
    if len(plan.levels) == 1:
        return None
    section = {"levels": [list(s[:2]) for s in plan.levels], "overview_filter": msg.OVERVIEW_FILTER}
    if plan.info.planes > 1:
        section["planes"] = [level_planes(plan.info, k) for k in range(len(plan.levels))]
    return section


def _floats(values):
    """``values`` (a sequence, or one of sequences: a stack's flat-field levels, a row per
    time point) as lists of floats."""
    return [_floats(v) if hasattr(v, "__len__") else float(v) for v in values]


def _filter_section(spec, info, flat_mean):
    """The report's "filter": the transfer function, its pass band and its edge handling."""
    return {
        "filter": spec.filter,
        "pass_band": spec.band,
        "cutoff_cycles_per_pixel": spec.cutoff,
        "sigma_pixels": spec.sigma,
        "low_cutoff_cycles_per_pixel": spec.low_cutoff,
        "low_sigma_pixels": (
            1 / (2 * math.pi * spec.low_cutoff)
            if spec.low_cutoff and spec.filter == "gaussian"
            else None
        ),
        "output_offset": output_offset(spec, info.dtype),
        "flatfield": spec.flatfield,
        "flatfield_mean": None if flat_mean is None else _floats(flat_mean),
        "order": spec.order if spec.filter == "butterworth" else None,
        "tol": spec.tol,
        "boundary": spec.boundary,
        "nodata": json_number(spec.nodata),
    }


def _halo_section(halo, measured):
    """The report's "halo": its depth, why, and the deviation expected and measured."""
    return {
        "depth": halo.depth,
        "rule": halo.rule,
        "needed_for_tol": halo.needed,
        **_bound(halo.deviation),
        "measured_deviation": measured,
        "warning": halo.warning,
    }


def _chunks_section(plan, computed, resumed):
    """The report's "chunks": the grid, and how many were computed and resumed."""
    return {
        "size": [plan.rows[0], plan.cols[0]],
        "grid": list(plan.grid),
        "rows": list(plan.rows),
        "cols": list(plan.cols),
        "total": plan.total,
        "computed": computed,
        "resumed": resumed,
    }


def _transforms_section(plan):
    """The report's "transforms": the FFT pair a full chunk's window takes, whole or pruned
    (:func:`~daskfft.kernels.block.pair_bands`), and per low-pass the frequencies the
    pruned pair keeps of each axis."""
    spec, work = plan.spec, plan.work_dtype
    if spec.method == "exact":
        return {"pair": "whole image", "window": None, "low_passes": [], "note": msg.PAIR_EXACT}
    window = plan.chunk_window
    masked = spec.nodata is not None or plan.info.mask is not None
    if spec.band == "low":
        lows = (spec,)
    elif len(window) == 3 or masked:  # the image minus (or the difference of) low-passes
        lows = spec.edges()
    else:
        lows = ()
    kept = [pair_bands(window, low.cutoff, low.filter, work) for low in lows]
    return {
        "pair": "pruned" if any(k is not None for k in kept) else "whole",
        "window": list(window),
        "low_passes": [
            {"cutoff_cycles_per_pixel": low.cutoff, "kept": None if k is None else _lists(k)}
            for low, k in zip(lows, kept)
        ],
        "tail_per_axis": pruned_tail(work),
        "note": msg.PAIR_NOTE,
    }


def _lists(pairs):
    return [list(p) for p in pairs]


def _bound(deviation):
    """The halo's bound for the report: a number, or null and why none exists."""
    if math.isinf(deviation):
        return {
            "expected_max_deviation": None,
            "expected_max_deviation_note": msg.NO_BOUND_NOTE,
        }
    return {
        "expected_max_deviation": deviation,
        "expected_max_deviation_note": msg.BOUND_NOTE,
    }


def _precision(dtype, tol):
    work, why = working_precision(dtype, tol)
    return {
        "dtype": work.name,
        "why": why,
        "max_rounding_relative": ROUNDING[work.name],
        "max_rounding_note": msg.ROUNDING_NOTE,
    }


def write_report(path, report):
    """Write ``report`` as JSON; NaN or infinity anywhere is a bug, refused here."""
    text = json.dumps(report, indent=2, allow_nan=False)
    with open(path, "w") as fh:
        fh.write(text + "\n")


def utc_now():
    return _dt.datetime.now(_dt.UTC)
