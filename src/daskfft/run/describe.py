"""The filter in words and in JSON: what a run logs about its plan and what its
``run.json`` and ``report.json`` record of the filter.

:class:`~daskfft.kernels.spec.FilterSpec` is a validated value with its halo; how it reads in
a log line or a JSON file is decided here, for every command.
"""

from __future__ import annotations

import dataclasses
import logging
import math

__all__ = ["json_number", "spec_json", "spec_line", "log_plan"]

log = logging.getLogger("daskfft")


def json_number(value):
    """A float as JSON can hold it: NaN and infinities become the strings "nan", "inf", "-inf"."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def spec_json(spec):
    """The filter ``spec`` as JSON-safe values, one per field (a NaN nodata becomes "nan")."""
    out = dataclasses.asdict(spec)
    out["nodata"] = json_number(spec.nodata)
    return out


def spec_line(spec):
    """One line for logs: the filter, its pass band, its cutoff(s) and how it is applied."""
    if spec.flatfield is not None:
        return f"flat-field correction ({spec.flatfield}) by the background, the " + spec_line(
            spec.replace(flatfield=None)
        )
    if spec.band == "band":
        what = f"{spec.filter} band-pass, {spec.low_cutoff:.4g} to {spec.cutoff:.4g} cycles/px"
        if spec.filter == "gaussian":
            what += (
                f" (difference of Gaussians, sigma {1 / (2 * math.pi * spec.cutoff):.3g}"
                f" and {1 / (2 * math.pi * spec.low_cutoff):.3g} px)"
            )
    else:
        what = f"{spec.filter} {spec.band}-pass, cutoff {spec.cutoff:.4g} cycles/px"
        if spec.filter == "gaussian":
            what += f" (sigma {spec.sigma:.3g} px)"
    if spec.filter == "butterworth":
        what += f", order {spec.order}"
    return what


def log_plan(plan):
    """Log what the run ``plan`` will do: the filter, its halo and the bound it promises."""
    spec, halo = plan.spec, plan.halo
    if spec.method == "exact":
        log.info("%s, exact whole-image FFT", spec_line(spec))
    elif math.isinf(halo.deviation):
        log.warning(
            "%s, halo %d px (%s), no bound on the deviation from a whole-image "
            "filter: measured below",
            spec_line(spec),
            halo.depth,
            halo.rule,
        )
    else:
        log.info(
            "%s, halo %d px (%s), expected max deviation %.2g x max|image|",
            spec_line(spec),
            halo.depth,
            halo.rule,
            halo.deviation,
        )
    if halo.warning:
        log.warning("%s", halo.warning)
    for note in plan.notes:
        log.info("%s", note)
