"""A chunk's window read band by band as the pruned transforms ask for its rows: the window
is never whole in memory, only the band being transformed and the chunk's own pixels."""

from __future__ import annotations

import numpy as np

__all__ = ["RowBands", "band_rows"]


class RowBands:
    """The window ``rows`` x ``cols`` of an image, as an array-like of its shape whose slices
    ``x[a:b]`` (rows, window coordinates) are read by ``read(rows, cols)`` a band at a time:
    bands of ``band`` rows on the image's own grid (its tiles' or chunks'), the last two
    read kept (a slice across a band's edge reads none twice).  The pixels of ``keep``
    ((r0, r1), (c0, c1), image coordinates, inside the window) are copied as they pass
    into :attr:`kept`: the chunk's input, for its summaries and the sample's file.

    :func:`~daskfft.kernels.pruned.pruned_filter` asks for each padded row once, in order:
    every band is read once, but where rows past the image's edges reflect rows of bands
    other than the last two read (a halo of more than two bands at the top or bottom edge).
    """

    def __init__(self, read, rows, cols, *, tail, band, keep):
        self._read, self._rows, self._cols = read, rows, cols
        self.shape = (rows[1] - rows[0], cols[1] - cols[0]) + tuple(tail)
        self._band = max(1, int(band))
        self._keep = keep
        self.kept = None  # the chunk's pixels, once a band holding them is read
        self._held = []  # the bands kept, last read last: (image rows a, b, their pixels)

    def __getitem__(self, index):
        a, b, _ = index.indices(self.shape[0])  # a slice of rows, step 1
        a, b = a + self._rows[0], b + self._rows[0]  # image rows
        parts = []
        while a < b:
            held_a, held_b, pixels = self._hold(a)
            stop = min(b, held_b)
            parts.append(pixels[a - held_a : stop - held_a])
            a = stop
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _hold(self, row):
        """The band of image rows holding ``row``, read if it is not one of those kept."""
        for held in self._held:
            if held[0] <= row < held[1]:
                return held
        a = max(self._rows[0], row - row % self._band)
        b = min(self._rows[1], row - row % self._band + self._band)
        pixels = self._read((a, b), self._cols)
        self._held = self._held[-1:] + [(a, b, pixels)]
        self._copy_kept(a, b, pixels)
        return self._held[-1]

    def _copy_kept(self, a, b, pixels):
        (r0, r1), (c0, c1) = self._keep
        lo, hi = max(a, r0), min(b, r1)
        if lo < hi:
            if self.kept is None:
                self.kept = np.empty((r1 - r0, c1 - c0) + pixels.shape[2:], pixels.dtype)
            cols = slice(c0 - self._cols[0], c1 - self._cols[0])
            self.kept[lo - r0 : hi - r0] = pixels[lo - a : hi - a, cols]


def band_rows(info):
    """The rows a window is read by (:class:`RowBands`): whole tiles or chunks of the input
    ``info``, at least 512 rows (a strip TIFF's few rows a strip are read many at once)."""
    n = info.native_chunks[0] if info.native_chunks else 512
    return n * -(-512 // n)
