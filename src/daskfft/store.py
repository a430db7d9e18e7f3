"""A run's partial output: the per-chunk task, its markers, resuming, and the final files.

While a run works, everything it writes lives in one folder beside OUTDIR,
``.<OUTDIR name>.daskfft-partial/``:

- ``run.json``: the input's identity and every parameter, so that ``--resume``
  continues only the same run;
- ``filtered.zarr`` (and ``sample.zarr``): the result, written chunk by chunk
  by the workers, with Zarr chunks equal to the run's chunks;
- ``cells/i_j.npz``: each chunk's small summaries: its spectrum tile for the
  atlas, its pixels on the overview's thumbnail grid (input and output), and
  its radially binned power spectrum (input and output);
- ``done/i_j``: written last by each chunk's task, so a chunk counts as done
  only when all of its outputs are complete;
- ``out/``: the final files, moved into OUTDIR one rename each at the end.

A run killed at any moment leaves OUTDIR untouched and this folder behind;
``--resume`` computes only the chunks without a marker.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import lru_cache
from pathlib import Path

import ducc0
import numpy as np

from . import io
from .blockwise import filter_block
from .errors import InputError
from .spectra import atlas_cell, spectrum_block

__all__ = ["PARTIAL_SUFFIX", "partial_dir", "plan_grid", "Partial", "process_chunk", "store_chunk"]

PARTIAL_SUFFIX = ".daskfft-partial"


def partial_dir(outdir):
    """Where a run into ``outdir`` keeps its partial work: a hidden sibling folder."""
    out = Path(os.path.abspath(outdir))
    return out.parent / f".{out.name}{PARTIAL_SUFFIX}"


def plan_grid(length, chunk, depth):
    """Chunk sizes along one axis: ``chunk`` pixels, none smaller than the halo.

    A short last chunk is merged into the one before it, and an axis no
    longer than the halo is one chunk, so that dask never re-chunks for the
    overlap and every Zarr chunk of the output is written by exactly one task.
    """
    if depth >= length:
        return (length,)
    sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
    if len(sizes) > 1 and sizes[-1] < depth:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)


class Partial:
    """The partial-output folder of one run."""

    def __init__(self, root):
        self.root = Path(root)

    @property
    def out(self):
        return self.root / "out"

    def exists(self):
        return (self.root / "run.json").exists()

    def fingerprint(self):
        return json.loads((self.root / "run.json").read_text())

    def create(self, fingerprint, *, shape, dtype, chunks, with_sample, sample_dtype=None,
               tiles=False):
        import zarr

        self.root.mkdir(parents=True)
        for sub in ("cells", "done", "out"):
            (self.root / sub).mkdir()
        if tiles:
            (self.out / "spectra").mkdir()
        zchunks = tuple(chunks) + tuple(shape[2:])
        zarr.create_array(str(self.root / "filtered.zarr"), shape=shape, dtype=dtype,
                          chunks=zchunks, fill_value=0)
        if with_sample:
            zarr.create_array(str(self.root / "sample.zarr"), shape=shape, dtype=sample_dtype,
                              chunks=zchunks, fill_value=0)
        # Written last: a folder with run.json is a complete start.
        tmp = self.root / "run.json.tmp"
        tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True))
        os.replace(tmp, self.root / "run.json")

    def done(self):
        """Indices ``(i, j)`` of the chunks whose task finished."""
        names = os.listdir(self.root / "done") if (self.root / "done").is_dir() else []
        return {tuple(int(k) for k in n.split("_")) for n in names}

    def differences(self, fingerprint):
        """What differs between this folder's run and ``fingerprint``, as readable lines."""
        old = self.fingerprint()
        diffs = []
        for section in sorted(set(old) | set(fingerprint)):
            a, b = old.get(section, {}), fingerprint.get(section, {})
            if not isinstance(a, dict) or not isinstance(b, dict):
                if a != b:
                    diffs.append(f"{section}: {a!r} then, {b!r} now")
                continue
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    diffs.append(f"{section}.{key}: {a.get(key)!r} then, {b.get(key)!r} now")
        return diffs

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


def process_chunk(block, *, block_info=None, self_pad, pad_mode, root, halo, rows, cols, cutoff,
                  filter, order, work_dtype, nodata, out_dtype, alpha, cell, tiles, sample,
                  thumb):
    """Filter one haloed chunk, then save it like :func:`store_chunk`; runs in a task."""
    i, j = block_info[None]["chunk-location"][:2]
    h, w = rows[i + 1] - rows[i], cols[j + 1] - cols[j]
    d0 = 0 if self_pad[0] else halo
    d1 = 0 if self_pad[1] else halo
    color = block[..., :-1] if alpha else block
    y = filter_block(color, cutoff=cutoff, filter=filter, order=order, work_dtype=work_dtype,
                     self_pad=self_pad, pad_mode=pad_mode, nodata=nodata)
    return _save(root, (i, j), rows, cols, y[d0 : d0 + h, d1 : d1 + w],
                 block[d0 : d0 + h, d1 : d1 + w], out_dtype=out_dtype, alpha=alpha, cell=cell,
                 tiles=tiles, sample=sample, thumb=thumb)


def store_chunk(filtered, image, *, block_info=None, root, rows, cols, out_dtype, alpha, cell,
                tiles, sample, thumb):
    """Save one chunk already filtered (by the exact method) and its input; runs in a task."""
    i, j = block_info[None]["chunk-location"][:2]
    return _save(root, (i, j), rows, cols, filtered, image, out_dtype=out_dtype, alpha=alpha,
                 cell=cell, tiles=tiles, sample=sample, thumb=thumb)


#: Radial frequency bins of the power spectra, cycles/pixel (to the corner, 0.5 * sqrt 2).
RADIAL_EDGES = np.linspace(0.0, 0.5 * np.sqrt(2.0), 65)


@lru_cache(maxsize=8)
def _radial_bins(shape):
    f = np.sqrt(np.fft.fftfreq(shape[0])[:, None] ** 2 + np.fft.rfftfreq(shape[1])[None, :] ** 2)
    idx = np.clip(np.digitize(f.ravel(), RADIAL_EDGES) - 1, 0, len(RADIAL_EDGES) - 2)
    counts = np.bincount(idx, minlength=len(RADIAL_EDGES) - 1)
    windows = tuple(np.hanning(n).astype(np.float32) if n > 2 else np.ones(n, np.float32)
                    for n in shape)
    return idx, counts, windows


def radial_power(block):
    """Hann-windowed power spectrum of a chunk's brightness, summed in radial bins.

    Returns ``(sums, counts)`` over :data:`RADIAL_EDGES`; chunks of any size
    add up, since the frequencies are in cycles/pixel.  Single precision and
    cached bins keep the task's extra memory to about two copies of the chunk.
    """
    x = np.asarray(block, dtype=np.float32)
    if x.ndim == 3:
        x = x.mean(axis=2, dtype=np.float32)
    else:
        x = x.copy()
    idx, counts, (w0, w1) = _radial_bins(x.shape)
    x -= x.mean()
    x *= w0[:, None]
    x *= w1[None, :]
    norm = max(float((w0.astype(np.float64) ** 2).sum() * (w1.astype(np.float64) ** 2).sum()), 1e-12)
    power = np.abs(ducc0.fft.r2c(x, axes=(0, 1))) ** 2
    sums = np.bincount(idx, weights=power.ravel(), minlength=len(RADIAL_EDGES) - 1) / norm
    return sums, counts


def _save(root, index, rows, cols, y, interior, *, out_dtype, alpha, cell, tiles, sample,
          thumb):
    """Write a chunk's result (and input, for the sample), its spectrum tile, then its marker.

    Returns a 1 x 1 array: the graph's output is the marker, the data go to disk.
    """
    import zarr

    i, j = index
    r0, r1, c0, c1 = rows[i], rows[i + 1], cols[j], cols[j + 1]
    y = io.to_dtype(y, out_dtype)
    if alpha:
        y = np.concatenate([y, interior[..., -1:].astype(out_dtype)], axis=2)
    root = Path(root)
    zarr.open_array(str(root / "filtered.zarr"), mode="r+")[r0:r1, c0:c1] = y
    if sample:
        zarr.open_array(str(root / "sample.zarr"), mode="r+")[r0:r1, c0:c1] = interior
    color_in = interior[..., :-1] if alpha else interior
    color_out = y[..., :-1] if alpha else y
    spectrum = spectrum_block(color_in)
    s = thumb  # the overview shows every s-th pixel of the whole image
    t_in = color_in[(-r0) % s :: s, (-c0) % s :: s]
    t_out = color_out[(-r0) % s :: s, (-c0) % s :: s]
    p_in, counts = radial_power(color_in)
    p_out, _ = radial_power(color_out)
    np.savez(root / "cells" / f"{i}_{j}.npz", atlas=atlas_cell(spectrum, cell=cell),
             thumb_in=t_in, thumb_out=t_out, power_in=p_in, power_out=p_out, counts=counts)
    if tiles:
        io.write_picture(root / "out" / "spectra" / f"spectrum_r{i:03d}_c{j:03d}.png", spectrum)
    (root / "done" / f"{i}_{j}").touch()
    return np.ones((1, 1), dtype=np.int8)


def assemble(root, rows, cols, cell):
    """The atlas, the overview thumbnails and the mean radial spectra, from the chunks' cells."""
    root = Path(root)
    n0, n1 = len(rows) - 1, len(cols) - 1
    atlas = np.zeros((n0 * cell, n1 * cell), dtype=np.float32)
    thumbs_in, thumbs_out = [], []
    power_in = power_out = counts = 0
    for i in range(n0):
        row_in, row_out = [], []
        for j in range(n1):
            with np.load(root / "cells" / f"{i}_{j}.npz") as c:
                atlas[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = c["atlas"]
                row_in.append(c["thumb_in"])
                row_out.append(c["thumb_out"])
                power_in = power_in + c["power_in"]
                power_out = power_out + c["power_out"]
                counts = counts + c["counts"]
        thumbs_in.append(np.concatenate(row_in, axis=1))
        thumbs_out.append(np.concatenate(row_out, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in, mean_out = power_in / counts, power_out / counts
    return {"atlas": atlas, "thumb_in": np.concatenate(thumbs_in, axis=0),
            "thumb_out": np.concatenate(thumbs_out, axis=0), "power_in": mean_in,
            "power_out": mean_out, "counts": counts}


def finalize(root, name, path, fmt, info, *, compression=None):
    """Turn ``root/<name>.zarr`` into the output file ``path`` in format ``fmt``."""
    import zarr

    src = Path(root) / f"{name}.zarr"
    z = zarr.open_array(str(src), mode="r+" if fmt == "zarr" else "r")
    if fmt == "zarr":
        z.attrs.update({"photometric": info.photometric, "alpha": info.has_alpha,
                        "nodata": info.nodata,
                        "geotiff_tags": {str(t[0]): _jsonable(t[3]) for t in info.tags}})
        os.replace(src, path)
    elif fmt == "tiff":
        io.write_tiff(path, lambda r0, r1: z[r0:r1], z.shape, z.dtype,
                      photometric=info.photometric, alpha=info.has_alpha, tags=info.tags,
                      compression=compression, band=z.chunks[0])
    else:
        io.write_image(path, z[...], fmt)


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def check_resumable(partial, fingerprint, *, resume, overwrite):
    """Decide what to do with a partial folder left by an earlier run; True to resume it."""
    if not partial.root.exists():
        return False
    if not partial.exists():  # killed before it had even started
        partial.remove()
        return False
    if resume:
        diffs = partial.differences(fingerprint)
        if diffs:
            raise InputError(f"--resume: the interrupted run in {partial.root} differs: "
                             + "; ".join(diffs) + " (use --overwrite to start over)")
        return True
    if overwrite:
        partial.remove()
        return False
    raise InputError(f"an interrupted run left {partial.root}; pass --resume to finish it "
                     "or --overwrite to start over")
