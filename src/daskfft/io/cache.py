"""What a process keeps of remote files while its tasks need it again: Zarr arrays opened,
their chunks, and a TIFF's tiles.

Every task of a run opens the stores it reads or writes; a remote array's opening is a
request or three (its metadata), and neighbouring tasks read the same bytes again: an
overview block's window the 3 x 3 chunks of the level above around it (its halo), a chunk's
window the tiles of its halo that its neighbours' windows hold too.  Here a store's array is
opened once per process (:func:`open_array`, by the store's ``token``: a store made anew is
opened anew, so no run sees another's metadata), and the bytes of its chunks
(:data:`CHUNK_CACHE_BYTES`) and of a remote TIFF's tiles (:func:`read_tiles`,
:data:`TILE_CACHE_BYTES`, by the :class:`~daskfft.io.url.Remote`'s token: a URL located anew
is read anew) are kept in least-recently-used caches, one per process.  A chunk written or
deleted through the cache is dropped from it; a level is read only after every task writing
it has finished (the overviews are made level by level), so a chunk kept is never one another
process has since rewritten.  A bytes' fetch already under way is awaited, not made again.
Local files are read as before, each time.
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
import threading
from collections import OrderedDict

from daskfft.io import url
from daskfft.messages import io as msg

__all__ = [
    "CHUNK_CACHE_BYTES",
    "TILE_CACHE_BYTES",
    "open_array",
    "open_remote",
    "read_tiles",
    "clear",
]

#: The bytes of remote Zarr chunks a process keeps: two rows of 16 chunks of a 32768-px wide
#: output (2048-px chunks of RGB uint8 compress to ~4 MB).
CHUNK_CACHE_BYTES = 128 * 2**20

#: The bytes of remote TIFF tiles a process keeps: the halo tiles of a row of chunks, which
#: the next row's windows read again (a 32768-px wide RGB uint8 TIFF's 512-px rows hold 48 MB).
TILE_CACHE_BYTES = 128 * 2**20

#: Remote arrays kept open per process: the stores of the last few levels.
ARRAYS_KEPT = 16

#: Remote files whose size and first :data:`~daskfft.io.url.HEADER_BYTES` a process keeps.
HEADERS_KEPT = 64


class _Kept:
    """Bytes by key, the least recently used dropped past ``budget`` bytes; thread-safe."""

    def __init__(self, budget):
        self.budget, self.held = budget, 0
        self.lock = threading.Lock()
        self.items = OrderedDict()

    def get(self, key):
        with self.lock:
            data = self.items.get(key)
            if data is not None:
                self.items.move_to_end(key)
            return data

    def put(self, key, data):
        with self.lock:
            if key in self.items or len(data) > self.budget:
                return
            self.items[key] = data
            self.held += len(data)
            while self.held > self.budget:
                self.held -= len(self.items.popitem(last=False)[1])

    def drop(self, key):
        with self.lock:
            data = self.items.pop(key, None)
            if data is not None:
                self.held -= len(data)

    def drop_under(self, scope, prefix):
        """Drop the keys ``(*scope, key)`` whose key starts with ``prefix``."""
        n = len(scope)
        with self.lock:
            for key in [k for k in self.items if k[:n] == scope and k[n].startswith(prefix)]:
                self.held -= len(self.items.pop(key))


def clear():
    """Forget every array and bytes kept, and every fetch under way: new, empty caches and
    locks (in a forked child none is taken: another thread may have held one at the fork,
    and the arrays' connections and fetches are the parent's)."""
    global _chunks, _tiles, _lock, _arrays, _fetching, _generation, _heads
    _chunks = _Kept(CHUNK_CACHE_BYTES)  # (token, URL, key) -> bytes
    _tiles = _Kept(TILE_CACHE_BYTES)  # (URL's token, start, size) -> bytes
    _lock = threading.Lock()
    _arrays = OrderedDict()  # (token, URL) -> zarr.Array
    _fetching = {}  # (token, URL, key) -> the future of a chunk's fetch under way
    _generation = {}  # (token, URL, key) -> how many times it was written or deleted here
    _heads = OrderedDict()  # URL's token -> (size, its first HEADER_BYTES)


clear()
os.register_at_fork(after_in_child=clear)


def read_tiles(path, starts, sizes):
    """:func:`daskfft.io.url.read_ranges` of the remote file ``path`` (a TIFF's tiles), those
    a task of this process fetched before taken from the cache."""
    keys = [(path.token, int(a), int(n)) for a, n in zip(starts, sizes)]
    out = [_tiles.get(key) for key in keys]
    missing = [k for k, data in enumerate(out) if data is None]
    if missing:
        got = url.read_ranges(path, [starts[k] for k in missing], [sizes[k] for k in missing])
        for k, data in zip(missing, got):
            out[k] = data
            _tiles.put(keys[k], data)
    return out


def open_remote(path):
    """The remote file ``path`` (a :class:`~daskfft.io.url.Remote`; a TIFF) opened for reading
    bytes: its size and first :data:`~daskfft.io.url.HEADER_BYTES` (a TIFF's header and the
    IFDs of most files, read in many small pieces) asked once per process, by the URL's
    token, not once a task; any other read one range request of what it asks.  A file whose
    size the server does not say is fsspec's (:func:`daskfft.io.url.open_binary`)."""
    with _lock:
        head = _heads.get(path.token)
    if head is None:
        fs, inner = url.filesystem(path)
        size = fs.info(inner).get("size")
        if size is None:
            return url.open_binary(path)
        head = (size, _ranged(path, fs, inner, 0, min(size, url.HEADER_BYTES)))
        with _lock:
            _heads[path.token] = head
            while len(_heads) > HEADERS_KEPT:
                _heads.popitem(last=False)
    return _RemoteFile(path, *head)


def _ranged(path, fs, inner, start, end):
    """Bytes ``start:end`` of the remote file: a server that ignores the range (sends more)
    is one line, a range cut short a dropped connection (tried again by the caller)."""
    data = fs.cat_file(inner, start=start, end=end)
    if len(data) > end - start:
        raise url.RangesIgnored(
            msg.RANGES_IGNORED.format(url=path, sent=len(data), asked=end - start)
        )
    if len(data) < end - start:
        raise ConnectionResetError(msg.SHORT_READ.format(sent=len(data), asked=end - start))
    return data


class _RemoteFile(io.RawIOBase):
    """A remote file's bytes, ``head`` (its first bytes) kept: :func:`open_remote`'s."""

    def __init__(self, path, size, head):
        super().__init__()
        self.path, self.size, self.head, self.pos = path, size, head, 0
        self.fs, self.inner = url.filesystem(path)

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def read(self, n=-1):
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        kept = self.head[self.pos : end]
        start = self.pos + len(kept)
        rest = _ranged(self.path, self.fs, self.inner, start, end) if start < end else b""
        self.pos = end
        return kept + rest

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")  # a numpy array's bytes (tifffile's read_array)
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


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
    from daskfft.io import zarrstore

    return _cached_store_class()(zarrstore.store(path), (token, path.text))


class _ChunkCaching:
    """The chunk cache of :func:`open_array`'s zarr stores (with zarr's ``WrapperStore``, in
    :func:`_cached_store_class`): whole-key reads kept in the process's cache under
    ``scope`` (``extra``)."""

    @property
    def scope(self):
        return self.extra

    async def get(self, key, prototype, byte_range=None):
        if byte_range is not None:
            return await self._store.get(key, prototype, byte_range)
        entry = (*self.scope, key)
        data = _chunks.get(entry)
        if data is None:
            data = await self._fetch(entry, key, prototype)
        return None if data is None else prototype.buffer.from_bytes(data)

    async def _fetch(self, entry, key, prototype):
        """The bytes of ``key``, fetched once however many tasks ask at once (zarr's
        requests all run on its one event loop: no lock needed between them); kept
        unless the key was written or deleted meanwhile."""
        loop = asyncio.get_running_loop()
        pending = _fetching.get(entry)
        if pending is not None and pending.get_loop() is loop:
            return await asyncio.shield(pending)
        pending = _fetching[entry] = loop.create_future()
        written = _generation.get(entry)
        try:
            value = await self._store.get(key, prototype)
            data = None if value is None else value.to_bytes()
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # said where it is awaited, if it is
            raise
        finally:
            if _fetching.get(entry) is pending:
                del _fetching[entry]
        if data is not None and _generation.get(entry) == written:
            _chunks.put(entry, data)
        pending.set_result(data)
        return data

    def _changed(self, key):
        """``key`` written or deleted: its bytes kept, and a fetch under way, forgotten."""
        entry = (*self.scope, key)
        _generation[entry] = _generation.get(entry, 0) + 1
        _fetching.pop(entry, None)
        _chunks.drop(entry)

    async def set(self, key, value):
        self._changed(key)
        await self._store.set(key, value)
        self._changed(key)

    async def set_if_not_exists(self, key, value):
        self._changed(key)
        await self._store.set_if_not_exists(key, value)
        self._changed(key)

    async def delete(self, key):
        self._changed(key)
        await self._store.delete(key)

    async def delete_dir(self, prefix):
        _chunks.drop_under(self.scope, prefix)
        await self._store.delete_dir(prefix)
        _chunks.drop_under(self.scope, prefix)

    async def clear(self):
        _chunks.drop_under(self.scope, "")
        await self._store.clear()


@functools.cache
def _cached_store_class():
    """The zarr store class of :func:`open_array`'s arrays (zarr imported on first use)."""
    from daskfft.io.zarrstore import wrapper_class

    return type("ChunkCache", (_ChunkCaching, wrapper_class()), {"__module__": __name__})
