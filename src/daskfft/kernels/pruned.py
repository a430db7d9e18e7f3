"""The pruned FFT pair of a separable (Gaussian) low-pass, 2-D or 3-D, NumPy and ducc0 only:
the forward transform keeps each axis' band before the next axis, the inverse drops the
halo before the next axis, the window padded and converted, and the chunk cast, slab by
slab.  :func:`daskfft.kernels.block.filter_block` takes it for every Gaussian whose band
leaves something out (:func:`bands`)."""

from __future__ import annotations

from functools import lru_cache

import ducc0
import numpy as np

from daskfft.kernels.cast import cast_into

__all__ = ["SLAB_BYTES", "bands", "pruned_filter", "pruned_tail", "slab_rows"]

#: About how many bytes of an image's rows, in the working precision, go through the 2-D
#: pair's row transforms and casts at once.  Each slab is a few calls into ducc0 and
#: NumPy, each giving the interpreter's lock back and taking it again: with two threads
#: filtering side by side, slabs of 64 rows (0.55 MB of a gray 2160-px window in float32)
#: made a 32768^2 run wait on that lock (dask's threads, 2 cores, alternating runs): 64
#: rows 7.5-7.8 s, 128 and 256 rows 6.9-7.2 s, 512 (4 MiB) 7.1-7.5 s; 2 MiB (192 rows)
#: against 64 in four more pairs, 6.8-7.7 s against 7.6-8.1 s.
SLAB_BYTES = 2 << 20


def slab_rows(width, layers, itemsize):
    """Rows of a ``width`` x ``layers`` image a 2-D slab holds: about :data:`SLAB_BYTES` of
    them in a working precision of ``itemsize`` bytes, a multiple of 64.  ducc0 transforms
    rows a SIMD vector's width at a time and the rest one by one: on slabs of 64 rows
    throughout, a row's transform does not depend on the slab size, bit for bit."""
    return 64 * max(1, SLAB_BYTES // max(1, 64 * width * layers * itemsize))


def pruned_tail(dtype):
    """What :func:`pruned_filter` may leave out along each axis, in ``dtype``: the sum of the
    transfer factor's values dropped, ``eps / 64`` (1.9e-9 for float32, 3.5e-18 for
    float64).  The filtered image then differs from the whole transform's by at most
    ``3 * tail * (1 + tail)**2 * range / 2``, ``range`` the window's max - min: below
    ``eps / 40`` of the range, under one rounding of the working precision."""
    return float(np.finfo(dtype).eps) / 64.0


def _band(factor, tail, weight=1.0):
    """The indices of ``factor`` kept: all but its smallest values whose sum (times
    ``weight``: 2 on a real FFT's half axis, each value standing for two) is at most
    ``tail``."""
    order = np.argsort(np.abs(factor), kind="stable")
    dropped = np.cumsum(np.abs(factor[order]), dtype=np.float64) * weight
    return np.sort(order[int(np.searchsorted(dropped, tail, side="right")) :])


def bands(factors):
    """How much of each axis the pruned pair keeps, as (kept, total) per axis: the band of
    its factor (the last axis' a prefix of the real FFT's half axis), in the factors'
    precision.  Nothing is left out where every one is whole."""
    tail = pruned_tail(factors[0].dtype)
    out = [(len(_band(f, tail)), len(f)) for f in factors[:-1]]
    last = factors[-1]
    return out + [(int(_band(last, tail, 2.0)[-1]) + 1, len(last))]


def _along(factor, axis, ndim):
    """``factor`` shaped to multiply axis ``axis`` of an ``ndim``-D array."""
    return factor.reshape((-1,) + (1,) * (ndim - axis - 1))


def _source_index(n, pad, mode):
    """For each index of an axis of length ``n`` padded by ``pad`` (before, after) as ``mode``
    (``np.pad``'s, or a constant) says, the index it copies, or -1 where the constant
    fills it."""
    if isinstance(mode, str):
        return np.pad(np.arange(n), pad, mode=mode)
    return np.pad(np.arange(n), pad, mode="constant", constant_values=-1)


def _padded_slab(x, planes, pads, mode, dtype):
    """The planes ``planes`` (:func:`_source_index`) of ``x`` padded by ``pads`` (y's and
    x's (before, after)) as ``mode`` (``np.pad``'s, or a constant) says, in ``dtype``:
    each plane converted into place, then the columns and rows past its edges copied (or
    filled) in the slab."""
    (top, bottom), (left, right) = pads
    ny, nx = x.shape[1:3]
    out = np.empty((len(planes), top + ny + bottom, left + nx + right) + x.shape[3:], dtype)
    rows = slice(top, top + ny)
    for k, plane in enumerate(planes):
        if plane < 0:
            out[k] = mode
        else:
            out[k, rows, left : left + nx] = x[plane]
    _fill_edges(out, 2, (left, right), nx, mode, rows)
    _fill_edges(out, 1, (top, bottom), ny, mode, slice(None))
    return out


def _fill_edges(out, axis, pad, n, mode, rows):
    """Fill ``out``'s ``pad`` (before, after) along ``axis`` (1 or 2) past its ``n`` middle
    ones from those, as ``np.pad`` would (on ``rows`` only, for axis 2)."""
    before, after = pad
    if not before and not after:
        return
    lead = (slice(None), rows) if axis == 2 else (slice(None),)
    if not isinstance(mode, str):
        out[lead + (slice(0, before),)] = mode
        out[lead + (slice(before + n, before + n + after),)] = mode
        return
    for to, start, step, length in _edge_runs(n, before, after, mode):
        if step:  # a run of middle ones, forwards or backwards: a slice, not an index
            stop = start + step * length
            frm = slice(start, None if stop < 0 else stop, step)
        else:  # one repeated ("edge")
            frm = slice(start, start + 1)
        out[lead + (slice(to, to + length),)] = out[lead + (frm,)]


@lru_cache(maxsize=64)
def _edge_runs(n, before, after, mode):
    """What :func:`_fill_edges` copies, as runs (first index filled, first index copied,
    step -1, 0 or 1, length): the edges' sources (:func:`_source_index`) cut where they stop
    being consecutive, so each run is one slice assignment (a few runs, where fancy indexing
    copied index by index: a fifth of a large sigma's slab conversion)."""
    source = _source_index(n, (before, after), mode) + before
    edges = np.r_[0:before, before + n : before + n + after]
    src = source[edges]
    runs = []
    i = 0
    while i < len(edges):
        step = (
            int(src[i + 1] - src[i]) if i + 1 < len(edges) and edges[i + 1] == edges[i] + 1 else 1
        )
        step = step if step in (-1, 0, 1) else 1
        j = i + 1
        while j < len(edges) and edges[j] == edges[j - 1] + 1 and src[j] - src[j - 1] == step:
            j += 1
        runs.append((int(edges[i]), int(src[i]), step, j - i))
        i = j
    return tuple(runs)


def _slabs(n, slab):
    """``slice`` objects cutting ``range(n)`` into runs of ``slab``."""
    return [slice(i, min(i + slab, n)) for i in range(0, n, slab)]


def pruned_filter(x, factors, kept, *, pads=None, mode="symmetric", out_dtype=None, slab=None):
    """``x`` ((z,) y, x, then any layers) filtered by a separable transfer function given by
    its ``factors`` (z's and y's over ``fftfreq``, x's over ``rfftfreq``), returning only
    the part ``kept`` (one slice per spatial axis): a pruned 2-D or 3-D FFT pair, in the
    factors' precision (``x``, of any real dtype, is converted ``slab`` planes (16) or, in
    2-D, rows (:func:`slab_rows`) at a time; an image's ``x`` may be any object with a
    ``shape`` whose slices ``x[a:b]`` give its rows, e.g. rows read from a file as they are
    asked for).

    A Gaussian leaves almost nothing of the frequencies far from 0, and the halo is
    thrown away once filtered.  So the forward transform runs along x on every line
    but keeps only x's band, then along y on those columns only, keeping y's band,
    then along z on what is left; the inverse runs along z, drops the planes outside
    ``kept``, along y, drops those rows, and along x on the kept lines only.  Each
    band leaves out the factor's smallest values summing to at most
    :func:`pruned_tail`, so the result differs from the whole transform's by less
    than ``eps / 40`` of the window's range (the kernel of what is left out has an
    L1 norm of at most that tail per axis; it keeps the mean, so the range bounds
    it).  At a sigma of (8, 16, 16) px a 256^3 chunk's window of 360 x 432 x 432
    keeps (93, 55, 28) of (360, 432, 217) frequencies, and the pair takes a fifth
    of the whole transform's time.  Lines go through x's transforms ``slab``
    planes at a time, so no full-size complex array is ever made.

    With ``pads`` ((before, after) per spatial axis), ``x`` is the window before its
    padding, which each slab gets as it is converted (``mode``: ``np.pad``'s, or a
    constant), as ``np.pad`` would give it whole: the same result, with no padded
    copy of the window; ``kept`` is then in the padded window's
    coordinates.  With ``out_dtype``, the result is cast to it as
    :func:`~daskfft.kernels.cast.to_dtype` casts, slab by slab
    (:func:`~daskfft.kernels.cast.cast_into`), with no array of the whole result in the
    working precision.

    In 2-D the forward transform runs along x on every row, keeping x's band, then
    along y on those columns; the inverse along y, then along x on the rows
    ``kept`` only.  A 2048-px chunk's window at a sigma of 8 px keeps 286 of x's
    1065 frequencies and 570 of y's 2128.
    """
    if len(factors) == 2:
        if slab is None:
            width = x.shape[1] + (sum(pads[1]) if pads else 0)
            slab = slab_rows(width, int(np.prod(x.shape[2:], dtype=int)), factors[0].dtype.itemsize)
        return _pruned_2d(x, factors, kept, pads, mode, out_dtype, slab)
    return _pruned_3d(x, factors, kept, pads, mode, out_dtype, slab or 16)


def _pruned_2d(x, factors, kept, pads, mode, out_dtype, slab):
    """:func:`pruned_filter` of an image (y, x, then any layers), ``slab`` rows at a time."""
    fy, fx = factors
    ny, nx = (len(fy), x.shape[1] + sum(pads[1])) if pads else x.shape[:2]
    more = x.shape[2:]
    work = fy.dtype
    tail = pruned_tail(work)
    iy = _band(fy, tail)
    bx = int(_band(fx, tail, 2.0)[-1]) + 1
    ctype = np.result_type(work, np.complex64)
    s = np.empty((ny, bx) + more, ctype)
    rows = _source_index(x.shape[0], pads[0], mode) if pads else np.arange(ny)
    half = np.empty((slab, nx // 2 + 1) + more, ctype)
    for r in _slabs(ny, slab):
        part = _padded_rows(x, rows[r], pads[1] if pads else (0, 0), mode, work)
        n = r.stop - r.start
        s[r] = ducc0.fft.r2c(part, axes=(1,), out=half[:n])[:, :bx]
    s *= _along(fx[:bx], 1, s.ndim)
    ducc0.fft.c2c(s, axes=(0,), out=s)
    t = _first_axis_back(s, iy, fy, kept[0])  # a view of s, transformed in place
    cols = range(nx)[kept[1]]
    out = np.empty((t.shape[0], len(cols)) + more, out_dtype or work)
    v = np.zeros((slab, nx // 2 + 1) + more, ctype)  # zero past the band, slab after slab
    w = np.empty((slab, nx) + more, work)
    for r in _slabs(t.shape[0], slab):
        n = r.stop - r.start
        v[:n, :bx] = t[r]
        ducc0.fft.c2r(v[:n], axes=(1,), lastsize=nx, forward=False, inorm=2, out=w[:n])
        cast_into(out[r], w[:n], (kept[1],))
    return out


def _first_axis_back(s, band, factor, kept):
    """``s`` (transformed along its first axis, overwritten) times ``factor`` on that axis'
    ``band``, zero elsewhere, transformed back along it: only its ``kept`` part.  In place,
    run by run of the band (a low-pass's two: the lowest and the highest frequencies), the
    same numbers as a zeroed copy's, with no copy made."""
    start = 0
    for run in _index_runs(band):
        s[start : run.start] = 0
        s[run] *= _along(factor[run], 0, s.ndim)
        start = run.stop
    s[start:] = 0
    ducc0.fft.c2c(s, axes=(0,), forward=False, inorm=2, out=s)
    return s[kept]


def _index_runs(index):
    """The sorted indices ``index`` as slices of consecutive ones."""
    cuts = np.flatnonzero(np.diff(index) != 1) + 1
    return [slice(int(p[0]), int(p[-1]) + 1) for p in np.split(index, cuts) if len(p)]


def _padded_rows(x, rows, pad, mode, dtype):
    """The rows ``rows`` (:func:`_source_index`) of the image ``x`` padded by ``pad`` (x's
    (before, after)) as ``mode`` says, in ``dtype``.  ``x`` is sliced once, by the run of
    rows these copy (``x[a:b]``): an array, or rows read as they are asked for.  Rows of
    ``x`` in order, in ``dtype`` already and with no padding are that slice itself, not a
    copy (a float32 image's inner chunks: a copy of each window fewer)."""
    left, right = pad
    nx = x.shape[1]
    # The image's rows in order: _source_index steps by at most +1 (a constant's -1 to 0 too),
    # so a first row of the image and a last one n - 1 further make n consecutive rows.
    if rows[0] >= 0 and rows[-1] - rows[0] == len(rows) - 1:
        run = x[int(rows[0]) : int(rows[-1]) + 1]
        if not left and not right and run.dtype == dtype:
            return run  # as they are: read, never written
        out = np.empty((len(rows), left + nx + right) + x.shape[2:], dtype)
        out[:, left : left + nx] = run
    else:
        out = np.empty((len(rows), left + nx + right) + x.shape[2:], dtype)
        data = rows >= 0
        if data.any():
            first, last = int(rows[data].min()), int(rows[data].max())
            out[data, left : left + nx] = x[first : last + 1][rows[data] - first]
        if not data.all():  # a constant's rows
            out[~data] = mode
    _fill_edges(out, 1, (left, right), nx, mode, slice(None))
    return out


def _pruned_3d(x, factors, kept, pads, mode, out_dtype, slab):
    """:func:`pruned_filter` of a volume (z, y, x, then any layers), ``slab`` planes at a
    time."""
    fz, fy, fx = factors
    nz, ny, nx = (len(fz), len(fy), x.shape[2] + sum(pads[2])) if pads else x.shape[:3]
    more = x.shape[3:]
    work = fz.dtype  # the working precision; ``x`` is converted slab by slab
    tail = pruned_tail(work)
    iz, iy = _band(fz, tail), _band(fy, tail)
    bx = int(_band(fx, tail, 2.0)[-1]) + 1  # the Gaussian falls with |f|: a prefix
    ctype = np.result_type(work, np.complex64)
    s = np.empty((nz, ny, bx) + more, ctype)
    planes = _source_index(x.shape[0], pads[0], mode) if pads else None
    for z in _slabs(nz, slab):
        if pads:
            part = _padded_slab(x, planes[z], pads[1:], mode, work)
        else:
            part = np.asarray(x[z], dtype=work)
        s[z] = ducc0.fft.r2c(part, axes=(2,))[:, :, :bx]
    s *= _along(fx[:bx], 2, s.ndim)
    ducc0.fft.c2c(s, axes=(1,), out=s)
    s = s[:, iy] * _along(fy[iy], 1, s.ndim)
    ducc0.fft.c2c(s, axes=(0,), out=s)
    t = _first_axis_back(s, iz, fz, kept[0])  # a view of s: freed with t
    u = np.zeros((t.shape[0], ny, bx) + more, ctype)
    u[:, iy] = t
    del t
    ducc0.fft.c2c(u, axes=(1,), forward=False, inorm=2, out=u)
    u = u[:, kept[1]]
    cols = range(nx)[kept[2]]
    out = np.empty(u.shape[:2] + (len(cols),) + more, out_dtype or work)
    for z in _slabs(u.shape[0], slab):
        v = np.zeros((z.stop - z.start, u.shape[1], nx // 2 + 1) + more, ctype)
        v[:, :, :bx] = u[z]
        w = ducc0.fft.c2r(
            v, axes=(2,), lastsize=nx, forward=False, inorm=2, allow_overwriting_input=True
        )
        cast_into(out[z], w, (slice(None), kept[2]))
    return out
