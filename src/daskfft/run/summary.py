"""The run's summary, made from the small per-chunk cells the tasks saved.

The atlas, the overview thumbnails and the mean radial power spectra come
from ``cells/i_j.npz`` (:mod:`daskfft.run.cells`), so the summary of a gigapixel
run costs no more than that of a small one.  :mod:`daskfft.run.plots` draws it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["assemble"]


def assemble(root, rows, cols, cell, *, atlas=True, plots=True, frames=()):
    """The atlas, the overview thumbnails and the mean radial spectra, from the chunks' cells;
    and a time series' ``frames``' thumbnails (``frames``: (frame, thumb_in, thumb_out)).

    Only the parts asked for (``atlas``; ``plots``: thumbnails and spectra)
    are read, as the tasks saved only those.
    """
    root = Path(root)
    n0, n1 = len(rows) - 1, len(cols) - 1
    out = {}
    if atlas:
        out["atlas"] = np.zeros((n0 * cell, n1 * cell), dtype=np.float32)
    thumbs_in, thumbs_out = [], []
    power_in = power_out = counts = 0
    for i in range(n0):
        row_in, row_out = [], []
        for j in range(n1):
            with np.load(root / "cells" / f"{i}_{j}.npz") as c:
                if atlas:
                    out["atlas"][i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = c["atlas"]
                if plots:
                    row_in.append(c["thumb_in"])
                    row_out.append(c["thumb_out"])
                    power_in = power_in + c["power_in"]
                    power_out = power_out + c["power_out"]
                    counts = counts + c["counts"]
        if plots:
            thumbs_in.append(np.concatenate(row_in, axis=1))
            thumbs_out.append(np.concatenate(row_out, axis=1))
    if frames:
        out["frames"] = [(f, *_frame_thumbs(root, f, n0, n1)) for f in frames]
    if plots:
        with np.errstate(invalid="ignore", divide="ignore"):
            out.update(
                thumb_in=np.concatenate(thumbs_in, axis=0),
                thumb_out=np.concatenate(thumbs_out, axis=0),
                power_in=power_in / counts,
                power_out=power_out / counts,
                counts=counts,
            )
    return out


def _frame_thumbs(root, frame, n0, n1):
    """Time point ``frame``'s overview thumbnails (input, output), from its cells."""
    rows_in, rows_out = [], []
    for i in range(n0):
        parts = []
        for j in range(n1):
            with np.load(root / "cells" / f"t{frame}_{i}_{j}.npz") as c:
                parts.append((c["thumb_in"], c["thumb_out"]))
        rows_in.append(np.concatenate([p[0] for p in parts], axis=1))
        rows_out.append(np.concatenate([p[1] for p in parts], axis=1))
    return np.concatenate(rows_in, axis=0), np.concatenate(rows_out, axis=0)
