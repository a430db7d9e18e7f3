"""A chunk's cell: the small summaries its task saves beside its result (``cells/i_j.npz``).

One windowed FFT of the chunk's central window gives its atlas cell or spectrum tile, and
with the input's times ``|H|**2`` (or a flat-field's measured output) its radial power; the
overview takes every few pixels of its input and output.  :mod:`daskfft.run.summary`
assembles the cells into the run's pictures.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from daskfft.kernels.block import data_mask, nodata_mask
from daskfft.kernels.spectra import (
    atlas_cell,
    atlas_from_half,
    central_volume,
    central_window,
    log_spectrum,
    radial_power_from,
    radial_power_nd_from,
    windowed_spectrum,
    windowed_spectrum_nd,
)
from daskfft.run import plots

__all__ = [
    "summaries",
    "save_summaries",
    "save_cell",
    "thumbs",
    "shells",
    "squared_transfer",
    "masked",
]


def save_summaries(target, index, color_in, color_out, volume=None, kept=None):
    """The summaries of chunk ``index`` (i, j), saved as its cell (``cells/i_j.npz``); of a
    volume's chunk (``volume``: its input and output), the power in spherical shells; pixels
    the mask ``kept`` leaves out are holes."""
    cell = summaries(target, index, color_in, color_out, kept)
    if volume is not None and "power_in" in cell:
        spec = target.spec
        cell["power_in"], cell["power_out"], cell["counts"] = shells(volume[0], spec)
        if spec.flatfield is not None:  # not the input's times |H|**2: measured
            cell["power_out"] = shells(volume[1], spec.replace(flatfield=None))[0]
    if cell:
        save_cell(Path(target.root) / "cells" / f"{index[0]}_{index[1]}.npz", cell)


def save_cell(path, cell):
    """``cell`` (arrays by name) saved as ``path``, whole or not at all."""
    with open(f"{path}.tmp", "wb") as fh:  # np.savez on a handle keeps the name
        np.savez(fh, **cell)
    os.replace(f"{path}.tmp", path)


def shells(volume, spec):
    """The power of a volume chunk's central window in spherical shells (its holes given the
    data's mean), that of its filtered window (the input's times ``|H|**2``, as a plane's
    is: one FFT), and the shells' voxel counts."""
    window = central_volume(volume)
    valid = nodata_mask(window, spec.nodata)
    if valid is not None:
        fill = window[valid].mean(dtype=np.float64) if valid.any() else 0.0
        window = np.where(valid, window, np.float32(fill))
    half, mean, windows = windowed_spectrum_nd(window)
    h2 = squared_transfer(window.shape[:3], spec)
    return radial_power_nd_from(half, window.shape[:3], mean, windows, h2)


@lru_cache(maxsize=8)
def squared_transfer(shape, spec):
    """``|H|**2`` on a chunk's half-plane grid, float32: the filtered power is this times the
    input's (``H`` of the spec's pass band)."""
    h = spec.transfer(shape, np.float32)
    out = h * h
    out.flags.writeable = False
    return out


def summaries(target, index, color_in, color_out, kept=None):
    """What the requested pictures need of one chunk, all from one windowed FFT of its input
    (of its central :data:`~daskfft.kernels.spectra.SUMMARY_WINDOW` pixels, for a larger chunk); a
    flat-field's output power, not a transfer function's, from one of its output too."""
    if not (target.atlas or target.tiles or target.plots):
        return {}
    cell = {}
    half, mean, windows, shape = _windowed(target, color_in, kept)
    if target.tiles:
        spectrum = log_spectrum(half, shape, windows)
        if target.atlas:
            cell["atlas"] = atlas_cell(spectrum, cell=target.cell)
        i, j = index
        plots.write_picture(
            Path(target.root) / "out" / "spectra" / f"spectrum_r{i:03d}_c{j:03d}.png", spectrum
        )
    elif target.atlas:
        cell["atlas"] = atlas_from_half(half, shape, windows, cell=target.cell)
    if target.plots:
        spec = target.spec
        # A flat-field's output, and a stack's plane (filtered across planes too), are not
        # the plane's spectrum times a 2-D transfer function: their power is measured.
        if spec.flatfield is None and not target.stack:
            cell["power_in"], cell["power_out"], cell["counts"] = radial_power_from(
                half, shape, mean, windows, squared_transfer(shape, spec)
            )
        else:
            cell["power_in"], _, cell["counts"] = radial_power_from(half, shape, mean, windows)
            out_half, out_mean, out_windows, _ = _windowed(target, color_out, kept)
            cell["power_out"] = radial_power_from(out_half, shape, out_mean, out_windows)[0]
        cell.update(thumbs(target, index, color_in, color_out, kept))
    return cell


def thumbs(target, index, color_in, color_out, kept=None):
    """Chunk ``index``'s part of the overview: every ``target.thumb``-th pixel of the whole
    image that falls in it, of its input and output (NaN where ``kept`` leaves pixels out)."""
    s = target.thumb  # the overview shows every s-th pixel of the whole image
    r0, _, c0, _ = target.box(index)
    step = ((-r0) % s, (-c0) % s)
    cell = {}
    for name, data in (("thumb_in", color_in), ("thumb_out", color_out)):
        thumb = data[step[0] :: s, step[1] :: s]
        cell[name] = thumb if kept is None else masked(thumb, kept[step[0] :: s, step[1] :: s])
    return cell


def _windowed(target, color, kept):
    """:func:`~daskfft.kernels.spectra.windowed_spectrum` of the chunk's central window, its holes
    (nodata, masked) given the data's mean; and the window's shape."""
    window = central_window(color)
    valid = data_mask(
        window,
        None if target.spec is None else target.spec.nodata,
        None if kept is None else central_window(kept),
    )
    if valid is not None:  # holes take the data's mean: the spectrum is the data's
        valid = np.broadcast_to(valid, window.shape)
        fill = window[valid].mean(dtype=np.float64) if valid.any() else 0.0
        window = np.where(valid, window, np.float32(fill)).astype(np.float32, copy=False)
    return (*windowed_spectrum(window), window.shape[:2])


def masked(x, kept):
    """``x`` as float32 with NaN where the mask ``kept`` (rows, cols) leaves pixels out: the
    pictures' holes, like a NaN nodata's."""
    x = np.array(x, dtype=np.float32)
    x[~kept] = np.nan
    return x
