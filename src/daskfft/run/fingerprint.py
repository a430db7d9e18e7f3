"""A run's fingerprint: what a resumed run must share with the run it continues.

:func:`run_fingerprint` is what the work folder keeps of a run (JSON): the daskfft
version, the input as identified cheaply (:func:`identity`: size and mtime of every file
in it, or as a store lists its objects) and every parameter that can change an output's bytes.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

from daskfft import io
from daskfft._version import __version__
from daskfft.kernels.block import working_precision
from daskfft.run.describe import json_number, spec_json

__all__ = ["run_fingerprint", "identity"]


def identity(path):
    """What identifies the input's content cheaply: size and mtime of every file in it.

    A Zarr store is a folder whose own stat does not change when its chunks
    are rewritten, so every file below it counts.
    """
    if io.is_remote(path):
        return io.url.identity(path)
    p = Path(path)
    if not p.is_dir():
        st = p.stat()
        return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    digest, files, size = hashlib.sha256(), 0, 0
    for folder, dirs, names in os.walk(p):
        dirs.sort()
        for name in sorted(names):
            st = os.stat(os.path.join(folder, name))
            rel = os.path.relpath(os.path.join(folder, name), p)
            digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            files, size = files + 1, size + st.st_size
    return {"files": files, "bytes": size, "content_stat": digest.hexdigest()}


def _maskidentity(info):
    """The input's TIFF mask as the fingerprint holds it: None, its page in the input, or
    GDAL's ``.msk`` file with its size and mtime (a file of its own, added or rewritten
    without the input changing)."""
    if info.mask is None:
        return None
    path, page = info.mask
    if path == info.path:
        return {"page": page}
    return {"file": _where(path), "page": page, **identity(path)}


def _where(path):
    """Where an input is, as its fingerprint says: a URL as it is, a path made absolute."""
    return str.__str__(path) if io.is_remote(path) else os.path.abspath(path)


def run_fingerprint(config, spec, info, fmt, halo, grid, creation, *, measured):
    """What a resumed run must share with the run it continues (JSON-safe): everything that
    can change an output's bytes, and nothing else (not the cluster, OUTDIR or the log).

    ``grid`` is the chunk grid (rows, cols, z chunks: () for an image).  ``task_window``
    (``measured``: a deviation is measured) has each task filter exactly its chunk and halo,
    as the measurement recomputes it (:func:`daskfft.run.graph.build_graph`); otherwise the
    window grows to a fast FFT length, which moves the result's last bits.
    """
    rows, cols, zs = grid
    if config.sample is not None:
        source = {"sample": config.sample}
    else:
        # the input as given (an OME-Zarr group, not its level 0), opened as a URL where it is one
        where = io.url.location(config.input, dict(config.storage_options))
        source = {
            "path": _where(where),
            **identity(where),
            "shape": list(info.shape),
            # as stored, where not (y, x[, c]): --axes, or the dims' names
            **({"axes": info.axes} if info.axes else {}),
            **({"stack": [[a, n] for a, n, _ in info.stack]} if info.stack else {}),
            "dtype": info.dtype.name,
            "mask": _maskidentity(info),
        }
    params = {
        **spec_json(spec),
        "depth": halo.depth,
        "chunks": [rows[0], cols[0]],
        **({"depths": list(halo.depths), "z_chunks": zs[0] if zs else None} if info.stack else {}),
        "output_format": fmt,
        "spectra": config.spectra,
        "plots": config.plots,
        "creation_options": creation,
        "nodata": json_number(spec.nodata),
        "precision": working_precision(info.dtype, spec.tol)[0].name,
        "task_window": "chunk and halo" if measured else "grown to a fast FFT length",
    }
    return {"daskfft": _version(), "input": source, "params": params}


def _version():
    try:
        return metadata.version("daskfft")
    except metadata.PackageNotFoundError:  # run from a source tree
        return __version__
