"""Validated parameters: one frozen value for the filter, one for a whole run.

Every entry point builds these the same way: the Python API (``lowpass``,
``pipeline.run``) and the command line, whose argparse types call the
validators below (so a bad value is a usage error there, exit status 2).
Nothing here reads a file or starts anything.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from numbers import Integral, Real

from .filters import (
    DEPTH_CAP,
    check_cutoff,
    check_filter_name,
    check_order,
    check_tol,
    cutoff_from_sigma,
    expected_deviation,
    halo_depth,
)

__all__ = ["BOUNDARIES", "METHODS", "DEFAULT_CUTOFF", "DEFAULT_ORDER", "DEFAULT_TOL",
           "FilterSpec", "Halo", "check_boundary", "check_depth", "check_method",
           "check_nodata", "check_positive_int", "check_choice", "json_number"]

#: How an image is extended past its edges (dask's names), besides a constant.
BOUNDARIES = ("reflect", "periodic", "nearest")
#: "blockwise": every chunk with a halo; "exact": one FFT over the whole image.
METHODS = ("blockwise", "exact")
#: Default cutoff, cycles/pixel: a Gaussian of sigma 3.2 px, a visible smoothing.
DEFAULT_CUTOFF = 0.05
DEFAULT_ORDER = 4
DEFAULT_TOL = 1e-6


def check_boundary(boundary):
    """Validate ``boundary``: one of :data:`BOUNDARIES`, or a finite number for a constant."""
    if isinstance(boundary, str):
        if boundary not in BOUNDARIES:
            raise ValueError(f"`boundary` must be one of {', '.join(BOUNDARIES)} or a number, "
                             f"got {boundary!r}")
        return boundary
    if isinstance(boundary, bool) or not isinstance(boundary, Real) or not math.isfinite(boundary):
        raise ValueError(f"`boundary` must be one of {', '.join(BOUNDARIES)} or a finite "
                         f"number, got {boundary!r}")
    return float(boundary)


def check_depth(depth):
    """Validate ``depth``: "auto" or a whole number of pixels >= 0."""
    if isinstance(depth, str) and depth == "auto":
        return depth
    if isinstance(depth, bool) or not isinstance(depth, Integral) or depth < 0:
        raise ValueError(f'`depth` must be "auto" or an integer >= 0, got {depth!r}')
    return int(depth)


def check_method(method):
    """Validate ``method``: one of :data:`METHODS`."""
    return check_choice("method", method, METHODS)


def check_nodata(nodata):
    """Validate ``nodata``: None or a number (NaN allowed)."""
    if nodata is None:
        return None
    if isinstance(nodata, bool) or not isinstance(nodata, Real):
        raise TypeError(f"`nodata` must be a number or None, got {nodata!r}")
    return float(nodata)


def check_positive_int(name, value):
    """Validate an integer >= 1 named ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}")
    return int(value)


def check_choice(name, value, choices):
    """Validate that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def json_number(value):
    """A float as JSON can hold it: NaN and infinities become the strings "nan", "inf", "-inf"."""
    if value is None or math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


@dataclass(frozen=True)
class Halo:
    """The halo a block-wise filter uses, and what it promises."""

    depth: int
    rule: str  # "auto" (from tol), "given", or "exact" (no halo: whole-image FFT)
    needed: int | None  # what tol asks; None when that is beyond DEPTH_CAP or for "exact"
    deviation: float  # bound on max|blockwise - whole image| / max|image|
    warning: str | None = None

    @property
    def narrower_than_tol_asks(self):
        """True when the block-wise result may be further from a whole-image filter than 2 tol."""
        return self.rule != "exact" and (self.needed is None or self.depth < self.needed)


@dataclass(frozen=True)
class FilterSpec:
    """A low-pass filter and how it is applied, validated when made.

    Fields are those of :func:`daskfft.lowpass`; ``cutoff`` is in
    cycles/pixel.  Build it directly, or with :meth:`create` to give a
    Gaussian's ``sigma`` in pixels instead of a cutoff.
    """

    cutoff: float
    filter: str = "gaussian"
    order: int = DEFAULT_ORDER
    tol: float = DEFAULT_TOL
    boundary: str | float = "reflect"
    depth: str | int = "auto"
    method: str = "blockwise"
    nodata: float | None = None

    def __post_init__(self):
        checked = dict(cutoff=check_cutoff(self.cutoff), filter=check_filter_name(self.filter),
                       order=check_order(self.order), tol=check_tol(self.tol),
                       boundary=check_boundary(self.boundary), depth=check_depth(self.depth),
                       method=check_method(self.method), nodata=check_nodata(self.nodata))
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def create(cls, cutoff=None, *, sigma=None, filter="gaussian", order=None, **options):
        """A spec from a ``cutoff`` or a Gaussian ``sigma`` (pixels); neither: DEFAULT_CUTOFF.

        ``order=None`` means :data:`DEFAULT_ORDER`; other keywords are fields.
        """
        if sigma is not None:
            if cutoff is not None:
                raise ValueError("give `cutoff` or `sigma`, not both")
            if filter != "gaussian":
                raise ValueError(f"`sigma` applies to the gaussian filter only, not {filter!r}; "
                                 "give a cutoff")
            cutoff = cutoff_from_sigma(sigma)
        return cls(DEFAULT_CUTOFF if cutoff is None else cutoff, filter=filter,
                   order=DEFAULT_ORDER if order is None else order, **options)

    def replace(self, **changes):
        """A validated copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    @property
    def sigma(self):
        """The Gaussian's spatial sigma in pixels (None for the other filters)."""
        return 1 / (2 * math.pi * self.cutoff) if self.filter == "gaussian" else None

    def halo(self):
        """The :class:`Halo` of this spec: the rule's depth (capped) or the given one."""
        import warnings

        from .filters import HaloWarning

        if self.method == "exact":
            return Halo(0, "exact", None, 0.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HaloWarning)
            needed = halo_depth(self.cutoff, filter=self.filter, order=self.order, tol=self.tol)
        message = next((str(w.message) for w in caught if w.category is HaloWarning), None)
        if message is not None:
            needed = None  # beyond DEPTH_CAP: no halo reaches tol
        if self.depth == "auto":
            depth, rule = (DEPTH_CAP if needed is None else needed), "auto"
        else:
            depth, rule, message = self.depth, "given", None
        deviation = expected_deviation(self.cutoff, depth, filter=self.filter, order=self.order)
        return Halo(depth, rule, needed, deviation, message)

    def to_json(self):
        """The spec as JSON-safe values (a NaN nodata becomes "nan")."""
        out = dataclasses.asdict(self)
        out["nodata"] = json_number(self.nodata)
        return out

    def describe(self):
        """One line for logs: the filter, its cutoff and how it is applied."""
        what = f"{self.filter} filter, cutoff {self.cutoff:.4g} cycles/px"
        if self.filter == "gaussian":
            what += f" (sigma {self.sigma:.3g} px)"
        elif self.filter == "butterworth":
            what += f", order {self.order}"
        return what

