"""Giving a task's freed heap back to the system (glibc's ``malloc_trim``), for the stacks'
tasks, whose windows' buffers fragment the heap."""

from __future__ import annotations

import ctypes
from functools import lru_cache

__all__ = ["HEAP_SLACK", "trim_heap"]


# The heap's free bytes above which a stack's task gives them back (malloc_trim).
HEAP_SLACK = 512 << 20


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later): ``fordblks`` is the heap's free bytes."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@lru_cache(maxsize=1)
def _libc():
    """glibc, for :func:`trim_heap`, with ``mallinfo2`` typed; None elsewhere."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return None
    if not hasattr(libc, "malloc_trim"):
        return None
    if hasattr(libc, "mallinfo2"):
        libc.mallinfo2.restype = _MallInfo2
    return libc


def trim_heap(slack=HEAP_SLACK):
    """Give the heap's free pages back to the system (glibc's ``malloc_trim``) after a stack's
    task once more than ``slack`` bytes of it are free (always, on a glibc without
    ``mallinfo2``).  Its windows' buffers of up to 32 MB come from the heap (the
    command's malloc settings, cli.HEAP_OPTIONS) and are reused by the next tasks;
    what fragments of them stayed free grew the largest process with the chunks done
    (2.6 GB at 1024 x 4096^2 against 0.95 GB at 256 x 4096^2) before they were given
    back, while giving them back after every task made each next one fault them in
    again, a page at a time."""
    libc = _libc()
    if libc is None:
        return
    if hasattr(libc, "mallinfo2") and libc.mallinfo2().fordblks <= slack:
        return
    libc.malloc_trim(0)
