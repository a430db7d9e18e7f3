"""The filter in words and in JSON: what a run logs about its plan and what its
``run.json`` and ``report.json`` record of the filter.

:class:`~daskfft.kernels.spec.FilterSpec` is a validated value with its halo; how it reads in
a log line or a JSON file is decided here, for every command.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from daskfft.messages import run as msg
from daskfft.run.stack import stack_line

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


def _shown(value, spec):
    """A number in ``spec``'s format, or a per-axis tuple of them as "a, b, c"."""
    if isinstance(value, tuple):
        return ", ".join(format(v, spec) for v in value)
    return format(value, spec)


def spec_line(spec):
    """One line for logs: the filter, its pass band, its cutoff(s) and how it is applied."""
    if spec.flatfield is not None:
        return msg.FLATFIELD_LINE.format(
            flatfield=spec.flatfield, rest=spec_line(spec.replace(flatfield=None))
        )
    if spec.band == "band":
        what = msg.BAND_PASS_LINE.format(filter=spec.filter, low=spec.low_cutoff, high=spec.cutoff)
        if spec.filter == "gaussian":
            what += msg.DIFFERENCE_OF_GAUSSIANS.format(
                sigma_high=1 / (2 * math.pi * spec.cutoff),
                sigma_low=1 / (2 * math.pi * spec.low_cutoff),
            )
    else:
        what = msg.PASS_LINE.format(
            filter=spec.filter, band=spec.band, cutoff=_shown(spec.cutoff, ".4g")
        )
        if spec.filter == "gaussian":
            what += msg.SIGMA_PART.format(sigma=_shown(spec.sigma, ".3g"))
    if spec.filter == "butterworth":
        what += msg.ORDER_PART.format(order=spec.order)
    return what


def log_plan(plan):
    """Log what the run ``plan`` will do: the filter, its halo and the bound it promises."""
    spec, halo = plan.spec, plan.halo
    if spec.method == "exact":
        log.info(msg.PLAN_EXACT.format(spec=spec_line(spec)))
    elif math.isinf(halo.deviation):
        log.warning(
            msg.PLAN_NO_BOUND.format(spec=spec_line(spec), depth=halo.depth, rule=halo.rule)
        )
    else:
        log.info(
            msg.PLAN_BOUND.format(
                spec=spec_line(spec), depth=halo.depth, rule=halo.rule, deviation=halo.deviation
            )
        )
    if halo.warning:
        log.warning(halo.warning)
    if plan.info.stack:
        log.info(stack_line(plan))
    for note in plan.notes:
        log.info(note)
