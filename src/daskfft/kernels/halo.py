"""The halo rule: how wide a chunk's halo must be for the block-wise result to stay within
``tol`` of a whole-image filter, and the bound a given halo keeps.

Kernel layer: NumPy only, no dask, no files.  The spatial kernel's L1 mass outside a square
(or box) of half-width ``d`` bounds what the pixels beyond the halo can change; for the
Gaussian it comes from the sampled 1-D Gaussian, for the others from the inverse transform of
their transfer function (:mod:`daskfft.kernels.transfer`) on a large grid.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import ducc0
import numpy as np

from daskfft._docs import docfiller
from daskfft.kernels.transfer import axis_cutoffs, transfer_grid
from daskfft.messages import api as msg
from daskfft.validate import check_filter, check_int

__all__ = [
    "DEPTH_CAP",
    "HaloWarning",
    "expected_deviation",
    "halo_depth",
    "needed_depth",
    "axis_depths",
    "box_deviation",
]

#: Largest halo, in pixels, that ``depth="auto"`` will choose.  Beyond it the
#: extra FFT work (a chunk of ``c`` pixels becomes ``c + 2 * depth``) costs more
#: than the deviation it would remove; the ideal filter always ends here.
DEPTH_CAP = 1024

# Kernels are measured on grids up to this size: four times the cap, so that
# the periodic copies of a kernel cut at the cap barely overlap.
_MAX_GRID = 4 * DEPTH_CAP


class HaloWarning(UserWarning):
    """The halo is too narrow for the block-wise result to match a whole-image filter.

    Raised (as a warning) by ``depth="auto"`` when the halo rule needs more
    than :data:`DEPTH_CAP` pixels.

    Parameters
    ----------
    message : str
        The warning's text.
    depth : int
        The halo actually used, in pixels.
    deviation : float
        The bound on ``max|blockwise - whole_image| / max|image|`` at that
        halo.
    """

    def __init__(self, message: str, *, depth: int, deviation: float):
        super().__init__(message)
        self.depth = depth
        self.deviation = deviation


@lru_cache(maxsize=64)
def _tail_profile(cutoff, filter, order, size):
    """L1 mass of the spatial kernel outside the square of half-width d, for each d.

    The kernel is the inverse DTFT of ``H`` on [-0.5, 0.5)^2, sampled on a
    ``size``-periodic grid (so accurate while the tail at ``size/4`` is small).
    """
    if filter == "gaussian":
        # Separable, and its kernel is the sampled Gaussian itself: the 2-D
        # mass outside the square comes from the 1-D profile.
        outside = _axis_outside(cutoff, size)
        return outside * (2.0 - outside)  # 1 - (1 - outside)**2, without cancellation
    # H is even along both axes (radial in |f|): so is its kernel, whose quadrant
    # 0..size/2 is the 2-D DCT-I of H's quadrant, 1/4 of the grid's inverse FFT (4096^2:
    # 0.18 s where the complex c2r took 1.4 s; equal to 5e-15).  Each quadrant point
    # stands for 1, 2 or 4 of the grid's (x and -x, y and -y; 0 and size/2 for one).
    f = np.fft.rfftfreq(size)
    h = np.asarray(transfer_grid(f, f, cutoff, filter, order), np.float64)
    k = ducc0.fft.dct(h, type=1, axes=(0, 1), inorm=0)
    k = np.abs(k, out=k)
    k *= 1.0 / float(size) ** 2
    both = np.full(size // 2 + 1, 2.0)
    both[0] = both[-1] = 1.0
    k *= both[:, None] * both[None, :]
    idx = np.arange(size // 2 + 1)
    ring = np.maximum(idx[:, None], idx[None, :])  # square rings around the origin
    mass = np.bincount(ring.ravel(), weights=k.ravel(), minlength=size // 2 + 1)
    return np.maximum(mass.sum() - np.cumsum(mass), 0.0)


@lru_cache(maxsize=64)
def _axis_outside(cutoff, size=8 * _MAX_GRID):
    """The sampled Gaussian's (``sigma = 1 / (2 pi cutoff)``) 1-D L1 mass beyond ``d`` px of
    its centre, both sides, for each ``d`` in ``0 .. size // 2``; normalised to 1."""
    sigma = 1.0 / (2.0 * math.pi * cutoff)
    g = np.exp(-0.5 * (np.arange(size // 2 + 1) / sigma) ** 2)
    g /= g[0] + 2.0 * g[1:].sum()
    outside = 2.0 * np.concatenate((np.cumsum(g[:0:-1])[::-1], [0.0]))  # beyond d
    outside.flags.writeable = False
    return outside


def _isotropic_2d(cutoffs, depths=None):
    """Whether ``cutoffs`` (and ``depths``) are one value on two axes: the 2-D rule's case."""
    same_depth = depths is None or depths[0] == depths[1]
    return len(cutoffs) == 2 and cutoffs[0] == cutoffs[1] and same_depth


def axis_depths(cutoff, ndim, *, filter="gaussian", order=4, tol=1e-6):
    """The halo per axis that the halo rule asks of a filter on ``ndim`` spatial axes, with
    ``cutoff`` one value or one per axis: ``(depths, None)``, or ``(None, message)`` where
    some axis needs more than :data:`DEPTH_CAP` pixels.

    Two axes with one cutoff follow :func:`needed_depth` (the square of half-width ``d``).
    Otherwise (three axes, or a cutoff per axis) the filter must be the Gaussian, which is
    separable: the mass outside the box of half-widths ``d_i`` is
    ``1 - prod(1 - o_i(d_i))``, ``o_i`` the 1-D mass beyond ``d_i`` along axis ``i``, and
    each axis takes the smallest ``d_i`` with ``o_i(d_i) <= 1 - (1 - tol)**(1 / ndim)``,
    so the box's mass is at most ``tol``.
    """
    cutoffs = axis_cutoffs(cutoff, ndim)
    if _isotropic_2d(cutoffs):
        depth, message = needed_depth(cutoffs[0], filter=filter, order=order, tol=tol)
        return (None if depth is None else (depth, depth)), message
    _gaussian_only(filter, cutoffs)
    share = -math.expm1(math.log1p(-tol) / ndim)
    depths = []
    for c in cutoffs:
        found = np.flatnonzero(_axis_outside(c)[: DEPTH_CAP + 1] <= share)
        if not found.size:
            deviation = box_deviation(cutoffs, (DEPTH_CAP,) * ndim)
            return None, msg.HALO_CAPPED.format(
                filter=filter, cutoff=c, cap=DEPTH_CAP, tol=tol, deviation=deviation
            )
        depths.append(int(found[0]))
    return tuple(depths), None


def box_deviation(cutoff, depths, *, filter="gaussian", order=4):
    """:func:`expected_deviation` on as many axes as ``depths`` has, with ``cutoff`` one value
    or one per axis: ``2 * T``, ``T`` the kernel's L1 mass outside the box of half-widths
    ``depths`` (for the Gaussian ``1 - prod(1 - o_i(d_i))``, see :func:`axis_depths`)."""
    depths = tuple(int(d) for d in depths)
    cutoffs = axis_cutoffs(cutoff, len(depths))
    if _isotropic_2d(cutoffs, depths):
        return expected_deviation(cutoffs[0], depths[0], filter=filter, order=order)
    _gaussian_only(filter, cutoffs)
    kept = sum(
        math.log1p(-float(_axis_outside(c)[min(d, 4 * _MAX_GRID)])) for c, d in zip(cutoffs, depths)
    )
    return float(2.0 * -math.expm1(kept))


def _gaussian_only(filter, cutoffs):
    """Refuse a filter other than the Gaussian on three axes or with a cutoff per axis: no
    halo rule bounds it there yet."""
    if filter != "gaussian":
        raise ValueError(msg.GAUSSIAN_ONLY_ND.format(filter=filter, ndim=len(cutoffs)))


def _profile_for(cutoff, filter, order, tol):
    """Tail profile on a grid large enough that doubling it no longer moves the halo."""
    if filter == "gaussian":
        return _tail_profile(cutoff, filter, order, 8 * _MAX_GRID)
    size, previous = 256, None
    while True:
        tail = _tail_profile(cutoff, filter, order, size)
        found = np.flatnonzero(tail <= tol)
        depth = int(found[0]) if found.size and found[0] <= size // 4 else None
        if size >= _MAX_GRID or (depth is not None and depth == previous):
            return tail
        size, previous = 2 * size, depth


@docfiller
def expected_deviation(cutoff, depth, *, filter="gaussian", order=4):
    """Bound on how far a block-wise result with halo ``depth`` is from a whole-image filter.

    The block-wise and whole-image results differ only through kernel
    weights beyond the halo, each applied to a difference of two pixel
    values, at most ``2 * max|image|`` apart.

    Parameters
    ----------
    cutoff : float
        ``D0`` in cycles/pixel, ``0 < cutoff <= 0.5``.
    %(bound_options)s

    Returns
    -------
    float
        ``2 * T``, where ``T`` is the L1 mass of the filter's spatial kernel
        outside the square of half-width ``depth``; relative to
        ``max|image|``.  ``inf`` for the ideal filter.

    Notes
    -----
    The ideal filter has no such bound, and ``inf`` is returned: its kernel
    (an Airy pattern, falling as ``d**-1.5``) is not absolutely summable, so
    its mass outside any square is infinite on an unbounded grid, and a figure
    measured on a finite grid would depend on the grid's size alone.

    Examples
    --------
    >>> expected_deviation(0.05, 40) < 1e-9
    True
    >>> expected_deviation(0.05, 40, filter="ideal")
    inf
    """
    cutoff, filter, order, _ = check_filter(cutoff, filter, order)
    depth = check_int("depth", depth, 0)
    if filter == "ideal":
        return math.inf
    tail = _profile_for(cutoff, filter, order, 0.0)
    return float(2.0 * tail[min(depth, tail.size - 1)])


def halo_depth(cutoff, *, filter="gaussian", order=4, tol=1e-6):
    """Smallest halo, in pixels, outside which the kernel's L1 mass is at most ``tol``.

    Parameters
    ----------
    cutoff : float
        Cutoff in cycles/pixel, ``0 < cutoff <= 0.5``.
    filter : {"gaussian", "butterworth", "ideal"}, default "gaussian"
    order : int, default 4
        Butterworth order.
    tol : float, default 1e-6
        Allowed L1 mass of the kernel outside the halo, in ``[1e-10, 0.5)``.

    Returns
    -------
    int
        The halo depth, at most :data:`DEPTH_CAP`.

    Warns
    -----
    HaloWarning
        When the rule needs more than :data:`DEPTH_CAP` pixels (always for
        ``"ideal"``, whose kernel decays too slowly for any halo); the
        warning carries the expected deviation at the cap (``inf`` for
        ``"ideal"``: no bound exists, see :func:`expected_deviation`).

    Notes
    -----
    The kernel is the inverse transform of ``H`` over the whole frequency
    square: for the Gaussian the sampled Gaussian itself (a 1-D sum, as it is
    separable), for the others measured numerically on a grid large enough
    that its periodic copies do not overlap where it matters.  With the returned
    depth the block-wise result is within ``(2 * tol + r) * max|image|`` of a
    whole-image filter, ``r`` being the working precision's rounding
    (``daskfft.kernels.block.ROUNDING``); the ideal filter has no depth that
    bounds it.  The result is cached per argument set.

    Examples
    --------
    >>> halo_depth(0.05)  # Gaussian, sigma = 3.2 px
    16
    """
    depth, message = needed_depth(cutoff, filter=filter, order=order, tol=tol)
    if depth is None:
        deviation = expected_deviation(cutoff, DEPTH_CAP, filter=filter, order=order)
        warnings.warn(HaloWarning(message, depth=DEPTH_CAP, deviation=deviation), stacklevel=2)
        return DEPTH_CAP
    return depth


def needed_depth(cutoff, *, filter="gaussian", order=4, tol=1e-6):
    """The halo :func:`halo_depth`'s rule asks for, without warning: ``(depth, None)``, or
    ``(None, message)`` when no halo up to :data:`DEPTH_CAP` reaches ``tol``, ``message``
    being what :class:`HaloWarning` says then.  Arguments as for :func:`halo_depth`."""
    cutoff, filter, order, tol = check_filter(cutoff, filter, order, tol)
    if filter != "ideal":
        tail = _profile_for(cutoff, filter, order, tol)
        found = np.flatnonzero(tail[: DEPTH_CAP + 1] <= tol)
        if found.size:
            return int(found[0]), None
    deviation = expected_deviation(cutoff, DEPTH_CAP, filter=filter, order=order)
    return None, _cap_message(cutoff, filter, tol, deviation)


def _cap_message(cutoff, filter, tol, deviation):
    """What a halo capped at :data:`DEPTH_CAP` means: its bound, or that none exists."""
    if math.isinf(deviation):
        return msg.HALO_UNBOUNDED.format(cap=DEPTH_CAP)
    return msg.HALO_CAPPED.format(
        filter=filter, cutoff=cutoff, cap=DEPTH_CAP, tol=tol, deviation=deviation
    )
