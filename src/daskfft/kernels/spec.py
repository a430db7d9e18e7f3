"""The filter as one frozen, validated value: :class:`FilterSpec`, and its :class:`Halo`.

Every entry point builds it the same way: the Python API (``lowpass``, the run) and
the command line, whose argparse types call the validators of :mod:`daskfft.validate`
(so a bad value is a usage error there, exit status 2).  Nothing here reads a file or
starts anything.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from daskfft.kernels.halo import DEPTH_CAP, axis_depths, box_deviation
from daskfft.kernels.transfer import cutoff_from_sigma, transfer_function, transfer_profile
from daskfft.messages import api as msg
from daskfft.validate import (
    DEFAULT_CUTOFF,
    DEFAULT_ORDER,
    DEFAULT_TOL,
    FLATFIELD_MODES,
    PASS_BANDS,
    check_boundary,
    check_choice,
    check_cutoff,
    check_depth,
    check_filter_name,
    check_method,
    check_nodata,
    check_order,
    check_tol,
)

__all__ = ["Halo", "FilterSpec"]


@dataclass(frozen=True)
class Halo:
    """The halo a block-wise filter uses, and what it promises."""

    depth: int
    rule: str  # "auto" (from tol), "given", or "exact" (no halo: whole-image FFT)
    needed: int | None  # what tol asks; None when that is beyond DEPTH_CAP or for "exact"
    deviation: float  # bound on max|blockwise - whole image| / max|image|
    warning: str | None = None
    depths: tuple = ()  # per spatial axis, in their order; depth is their largest

    @property
    def narrower_than_tol_asks(self):
        """True when the block-wise result may be further from a whole-image filter than 2 tol."""
        return self.rule != "exact" and (self.needed is None or self.depth < self.needed)


@dataclass(frozen=True)
class FilterSpec:
    """A filter and how it is applied, validated when made.

    Fields are those of :func:`daskfft.lowpass`; ``cutoff`` is in
    cycles/pixel.  ``band`` is the pass band: "low" (transfer function
    ``H``), "high" (``1 - H``) or "band" (``H(cutoff) - H(low_cutoff)``,
    frequencies between ``low_cutoff`` and ``cutoff``).  Build it directly, or
    with :meth:`create` to give a Gaussian's ``sigma`` in pixels instead of a
    cutoff.
    """

    cutoff: float
    filter: str = "gaussian"
    order: int = DEFAULT_ORDER
    tol: float = DEFAULT_TOL
    boundary: str | float = "reflect"
    depth: str | int = "auto"
    method: str = "blockwise"
    nodata: float | None = None
    band: str = "low"
    low_cutoff: float | None = None  # the band-pass's lower edge
    flatfield: str | None = None  # the image over (or minus) this low-pass, its background

    def __post_init__(self):
        checked = dict(
            cutoff=_checked_cutoff(self.cutoff),
            filter=check_filter_name(self.filter),
            order=check_order(self.order),
            tol=check_tol(self.tol),
            boundary=check_boundary(self.boundary),
            depth=check_depth(self.depth),
            method=check_method(self.method),
            nodata=check_nodata(self.nodata),
            band=check_choice("band", self.band, PASS_BANDS),
        )
        if self.band == "band":
            if self.low_cutoff is None:
                raise ValueError(msg.BAND_NEEDS_LOW_CUTOFF)
            checked["low_cutoff"] = _checked_cutoff(self.low_cutoff, "low_cutoff")
            if not _below(checked["low_cutoff"], checked["cutoff"]):
                raise ValueError(
                    msg.BAND_EDGES_REVERSED.format(low=self.low_cutoff, high=self.cutoff)
                )
        elif self.low_cutoff is not None:
            raise ValueError(msg.LOW_CUTOFF_NOT_BAND.format(band=self.band))
        if self.flatfield is not None:
            check_choice("flatfield", self.flatfield, FLATFIELD_MODES)
            if self.band != "low":
                raise ValueError(msg.FLATFIELD_NOT_LOW.format(band=self.band))
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def create(
        cls, cutoff=None, *, sigma=None, filter="gaussian", order=None, band="low", **options
    ):
        """A spec from a ``cutoff`` or a Gaussian ``sigma`` (pixels); neither: DEFAULT_CUTOFF.

        For ``band="band"`` either is a pair, in any order: the two cutoffs,
        or the two sigmas of a difference of Gaussians.  ``order=None`` means
        :data:`DEFAULT_ORDER`; other keywords are fields.
        """
        check_choice("band", band, PASS_BANDS)
        if sigma is not None:
            if cutoff is not None:
                raise ValueError(msg.CUTOFF_AND_SIGMA)
            if filter != "gaussian":
                raise ValueError(msg.SIGMA_NOT_GAUSSIAN.format(filter=filter))
            cutoff = (
                [cutoff_from_sigma(s) for s in _values(sigma, band, "sigma")]
                if band == "band"
                else _per_axis(sigma, cutoff_from_sigma)
            )
        elif band != "band" and isinstance(cutoff, list):
            cutoff = tuple(cutoff)  # one per axis
        if band == "band":
            if cutoff is None:
                raise ValueError(msg.BAND_NEEDS_VALUES)
            low, high = sorted(_values(cutoff, band, "cutoff"))
            options["low_cutoff"] = low
            cutoff = high
        return cls(
            DEFAULT_CUTOFF if cutoff is None else cutoff,
            filter=filter,
            order=DEFAULT_ORDER if order is None else order,
            band=band,
            **options,
        )

    def replace(self, **changes):
        """A validated copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    @property
    def sigma(self):
        """The Gaussian's spatial sigma in pixels (None for the other filters); of the upper
        edge for a band-pass; a tuple for a cutoff per axis."""
        if self.filter != "gaussian":
            return None
        if isinstance(self.cutoff, tuple):
            return tuple(1 / (2 * math.pi * c) for c in self.cutoff)
        return 1 / (2 * math.pi * self.cutoff)

    def kernel_options(self):
        """``cutoff``, ``filter`` and ``order`` as keywords: this spec's low-pass (of the upper
        edge for a band-pass) to the kernels, e.g. :func:`~daskfft.kernels.block.filter_block`."""
        return dict(cutoff=self.cutoff, filter=self.filter, order=self.order)

    @property
    def plain_gaussian(self):
        """Whether this is a Gaussian low-pass of data alone (no nodata): what a chunk with
        no mask filters by the pruned pair, padding (and reading) its window as it goes."""
        return self.band == "low" and self.nodata is None and self.filter == "gaussian"

    def edges(self):
        """The low-pass specs whose transfer functions make this one's: ``(H,)`` for a low- or
        high-pass, ``(H(low_cutoff), H(cutoff))`` for a band-pass."""
        low = self.replace(band="low", low_cutoff=None, flatfield=None)
        if self.band != "band":
            return (low,)
        return (low.replace(cutoff=self.low_cutoff), low)

    def transfer(self, shape, dtype=None):
        """The transfer function on the half-plane grid of a real FFT of ``shape``:
        ``H``, ``1 - H`` or ``H(cutoff) - H(low_cutoff)``."""

        make = _transfer if len(shape) == 2 else _transfer.__wrapped__  # a 3-D grid: uncached
        return make(self.edges(), self.band, tuple(shape), np.float64 if dtype is None else dtype)

    def profile(self, f):
        """The transfer function along the column axis at frequencies ``f``, for plots."""
        return _combined(
            self.band,
            [transfer_profile(f, _last(e.cutoff), e.filter, e.order) for e in self.edges()],
        )

    def halo(self, ndim=2):
        """The :class:`Halo` of this spec on ``ndim`` spatial axes: the rule's depth (capped)
        or the given one, per axis in ``depths``.

        A band-pass takes the wider of its two low-passes' halos and the sum of
        their bounds; a high-pass's bound is its low-pass's (``1 - H``'s kernel
        is a delta minus ``H``'s, so only ``H``'s is cut by the halo).
        """
        if self.method == "exact":
            return Halo(0, "exact", None, 0.0, depths=(0,) * ndim)
        if self.band == "band":
            halos = [edge.halo(ndim) for edge in self.edges()]
            needed = [h.needed for h in halos]
            depths = tuple(max(axis) for axis in zip(*(h.depths for h in halos)))
            deviation = sum(
                box_deviation(edge.cutoff, depths, filter=self.filter, order=self.order)
                for edge in self.edges()
            )
            warning = next((h.warning for h in halos if h.warning), None)
            needed = None if None in needed else max(needed)
            return Halo(max(depths), halos[0].rule, needed, deviation, warning, depths)
        return self._low_halo(ndim)

    def _low_halo(self, ndim):
        needed, message = axis_depths(
            self.cutoff, ndim, filter=self.filter, order=self.order, tol=self.tol
        )
        if self.depth == "auto":
            depths, rule = ((DEPTH_CAP,) * ndim if needed is None else needed), "auto"
        else:
            depths, rule, message = (self.depth,) * ndim, "given", None
        deviation = box_deviation(self.cutoff, depths, filter=self.filter, order=self.order)
        needed = None if needed is None else max(needed)
        return Halo(max(depths), rule, needed, deviation, message, depths)


def _checked_cutoff(cutoff, name="cutoff"):
    """A cutoff: one value in (0, 0.5] cycles/pixel, or a tuple of them, one per axis."""
    if isinstance(cutoff, (tuple, list)) and len(cutoff) > 1:
        return tuple(check_cutoff(c, name) for c in cutoff)
    if isinstance(cutoff, (tuple, list)):
        raise ValueError(msg.CUTOFF_PER_AXIS_SHORT.format(name=name, value=cutoff))
    return check_cutoff(cutoff, name)


def _below(low, high):
    """Whether the cutoff ``low`` is below ``high`` on every axis (each one value or a tuple)."""
    lows, highs = (v if isinstance(v, tuple) else (v,) for v in (low, high))
    if len(lows) == 1 or len(highs) == 1 or len(lows) == len(highs):
        n = max(len(lows), len(highs))
        return all(a < b for a, b in zip(lows * (n // len(lows)), highs * (n // len(highs))))
    return False


def _last(cutoff):
    """The column axis's cutoff: the last of a tuple."""
    return cutoff[-1] if isinstance(cutoff, tuple) else cutoff


@lru_cache(maxsize=16)
def _transfer(edges, band, shape, dtype):
    h = [transfer_function(shape, e.cutoff, e.filter, e.order, dtype) for e in edges]
    out = _combined(band, h)
    out.flags.writeable = False
    return out


def _combined(band, h):
    """The pass band's transfer function from its edges' low-passes ``h``."""
    if band == "high":
        return 1 - h[0]
    return h[1] - h[0] if band == "band" else h[0]


def _per_axis(value, convert):
    """``convert`` of one value, or of each of a tuple's (one per axis), as a tuple."""
    if isinstance(value, (tuple, list)):
        return tuple(convert(v) for v in value)
    return convert(value)


def _values(value, band, name):
    """The two values a band-pass's ``cutoff`` or ``sigma`` must be."""
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    if len(values) != 2:
        raise ValueError(msg.BAND_TWO_VALUES.format(band=band, name=name, count=len(values)))
    return values
