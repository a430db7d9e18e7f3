"""The backends known here, by format name and by suffix: one :func:`register` each.

Registration order is the order of ``--output-format``'s choices, and for a
suffix that several backends read (``.zarr``: an array, or an OME-Zarr group),
the order in which they are tried.
"""

from __future__ import annotations

from daskfft.io.base import NotThisFormat
from daskfft.messages import io as msg

__all__ = [
    "BACKENDS",
    "FORMATS",
    "OUTPUT_EXT",
    "register",
    "backend",
    "readers",
    "probe_with",
    "image_stem",
]

#: Every backend, by format name, in registration order.
BACKENDS = {}

#: File suffixes understood, and the format each means (the first backend reading it).
FORMATS = {}

#: The suffix written for each output format.
OUTPUT_EXT = {}


def register(entry):
    """Make the backend ``entry`` (a :class:`~daskfft.io.base.Backend`) known: by its name,
    the suffixes it reads and, if it writes, its output suffix.  Returns ``entry``."""
    if entry.name in BACKENDS:
        raise ValueError(msg.REGISTERED_ALREADY.format(name=entry.name))
    BACKENDS[entry.name] = entry
    for suffix in entry.suffixes:
        FORMATS.setdefault(suffix, entry.name)
    if entry.ext is not None:
        OUTPUT_EXT[entry.name] = entry.ext
    return entry


def image_stem(name):
    """A file name (or a store's folder name) less the suffix of a format known here, and
    less OME's ``.ome`` before it: ``scene.tif`` -> ``scene``, ``cells.ome.zarr`` ->
    ``cells``; a name with no known suffix less its last one, if any."""
    lowered = name.lower()
    known = sorted((s for s in FORMATS if lowered.endswith(s) and len(name) > len(s)), key=len)
    if known:
        name = name[: -len(known[-1])]
    elif "." in name.strip("."):
        name = name.rsplit(".", 1)[0]
    return name[:-4] if name.lower().endswith(".ome") and len(name) > 4 else name


def backend(name):
    """The backend of the format ``name`` ("tiff", "cog", "zarr", ...)."""
    return BACKENDS[name]


def readers(path):
    """The backends that may read ``path``, in registration order."""
    return [b for b in BACKENDS.values() if b.guess_can_open(path)]


def probe_with(path):
    """The first reader's :meth:`~daskfft.io.base.Backend.probe` of ``path`` that does not
    say it is another's (:class:`~daskfft.io.base.NotThisFormat`)."""
    found = readers(path)
    for entry in found[:-1]:
        try:
            return entry.probe(path)
        except NotThisFormat:
            continue
    return found[-1].probe(path)
