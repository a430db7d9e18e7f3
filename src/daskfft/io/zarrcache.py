"""Zarr arrays in an object store, opened once per process and their chunks kept a while.

Every task of a run opens the output stores it reads or writes; a remote array's opening is a
request or three (its metadata), and an overview block's window reads the 3 x 3 chunks of
the level above around it (its halo), so each chunk is fetched by up to nine tasks.  Here a
store's array is opened once per process (:func:`open_array`, by the store's ``token``: a
store made anew is opened anew, so no run sees another's metadata) and its chunks' bytes are
kept in one least-recently-used cache per process of :data:`CHUNK_CACHE_BYTES`; a chunk
written or deleted through it is dropped from it.  A level is read only after every task
writing it has finished (the overviews are made level by level), so a chunk kept is never
one another process has since rewritten.  Local arrays are opened as before, each time.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict

from daskfft.io import url

__all__ = ["CHUNK_CACHE_BYTES", "open_array", "clear"]

#: The bytes of remote chunks a process keeps: two rows of 16 chunks of a 32768-px wide
#: output (2048-px chunks of RGB uint8 compress to ~4 MB).
CHUNK_CACHE_BYTES = 128 * 2**20

#: Remote arrays kept open per process: the stores of the last few levels.
ARRAYS_KEPT = 16

_lock = threading.Lock()
_chunks = OrderedDict()  # (token, URL, key) -> bytes
_held = [0]  # their total size
_arrays = OrderedDict()  # (token, URL) -> zarr.Array
_fetching = {}  # (token, URL, key) -> the future of a fetch under way


def clear():
    """Forget every array and chunk kept (in a forked child: its arrays' connections are
    the parent's)."""
    with _lock:
        _arrays.clear()
        _chunks.clear()
        _held[0] = 0


os.register_at_fork(after_in_child=clear)


def open_array(path, token, mode="r"):
    """The Zarr array at ``path``: a local one opened by zarr in ``mode``, a
    :class:`~daskfft.io.url.Remote` one (for reading and writing) opened once per process and
    ``token`` (a store's own id), over a cache of its chunks."""
    import zarr

    if not isinstance(path, url.Remote):
        return zarr.open_array(str(path), mode=mode)
    key = (token, path.text)
    with _lock:
        array = _arrays.get(key)
        if array is not None:
            _arrays.move_to_end(key)
            return array
    array = zarr.open_array(_store(path, token), mode="r+")
    with _lock:
        _arrays[key] = array
        while len(_arrays) > ARRAYS_KEPT:
            _arrays.popitem(last=False)
    return array


def _store(path, token):
    from zarr.storage import FsspecStore

    store = FsspecStore.from_url(path.text, **url.zarr_options(path))
    return _cached_store_class()(store, (token, path.text))


def _keep(key, data):
    with _lock:
        if key in _chunks:
            return
        _chunks[key] = data
        _held[0] += len(data)
        while _held[0] > CHUNK_CACHE_BYTES:
            _, old = _chunks.popitem(last=False)
            _held[0] -= len(old)


def _kept(key):
    with _lock:
        data = _chunks.get(key)
        if data is not None:
            _chunks.move_to_end(key)
        return data


def _drop(key):
    with _lock:
        data = _chunks.pop(key, None)
        if data is not None:
            _held[0] -= len(data)


_CLASS = []


def _cached_store_class():
    """The zarr store class (made on first use: zarr is imported only where needed)."""
    if _CLASS:
        return _CLASS[0]
    from zarr.storage import WrapperStore

    class ChunkCache(WrapperStore):
        """A store whose whole-key reads are kept in the process's cache under ``scope``."""

        def __init__(self, store, scope):
            super().__init__(store)
            self.scope = scope

        def _with_store(self, store):
            return type(self)(store, self.scope)

        async def get(self, key, prototype, byte_range=None):
            if byte_range is not None:
                return await self._store.get(key, prototype, byte_range)
            entry = (*self.scope, key)
            data = _kept(entry)
            if data is None:
                data = await self._fetch(entry, key, prototype)
            return None if data is None else prototype.buffer.from_bytes(data)

        async def _fetch(self, entry, key, prototype):
            """The bytes of ``key``, fetched once however many tasks ask at once (zarr's
            requests all run on its one event loop: no lock needed between them)."""
            pending = _fetching.get(entry)
            if pending is not None:
                return await asyncio.shield(pending)
            pending = _fetching[entry] = asyncio.get_running_loop().create_future()
            try:
                value = await self._store.get(key, prototype)
                data = None if value is None else value.to_bytes()
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # said where it is awaited, if it is
                raise
            finally:
                del _fetching[entry]
            if data is not None:
                _keep(entry, data)
            pending.set_result(data)
            return data

        async def set(self, key, value):
            _drop((*self.scope, key))
            await self._store.set(key, value)
            _drop((*self.scope, key))

        async def delete(self, key):
            _drop((*self.scope, key))
            await self._store.delete(key)

    _CLASS.append(ChunkCache)
    return ChunkCache
