"""The zarr store of a remote Zarr or OME-Zarr output: through fsspec, and where a run
writes into a new OUTDIR, split: its chunks written in place, its metadata in the stage.

A Zarr array or group is nothing to a reader without its metadata (``zarr.json``,
``.zarray``, ``.zgroup``, ``.zattrs``): a :class:`~daskfft.io.url.Remote` with a ``meta``
prefix (the stage's ``OUTDIR/.daskfft-work/``) is opened as a store whose metadata keys lie
there and every other key (the chunks) at the URL itself.  The workers then write the chunks
where they stay, and publishing copies the few metadata objects into place: no server-side
copy of every chunk, yet no array or group to open at the URL before the run is published.
"""

from __future__ import annotations

import functools

from daskfft.io import url

__all__ = ["METADATA", "store"]

#: The keys that are metadata, by their last part: Zarr v3's, and v2's array, group, attributes
#: and consolidated metadata.
METADATA = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


def store(path, *, read_only=False):
    """The zarr store of the :class:`~daskfft.io.url.Remote` ``path``: fsspec's, or split
    (:func:`split_class`) where ``path`` has a ``meta`` prefix."""
    from zarr.storage import FsspecStore

    def at(where):
        return FsspecStore.from_url(where.text, read_only=read_only, **url.zarr_options(where))

    if path.meta is None:
        return at(path)
    return split_class()(at(path), at(path.meta))


def open_target(path):
    """What zarr's ``store`` argument is for the output ``path``: a local path as it is, a
    :class:`~daskfft.io.url.Remote` as :func:`store`."""
    return store(path) if isinstance(path, url.Remote) else str(path)


def _is_metadata(key):
    return key.rsplit("/", 1)[-1] in METADATA


@functools.cache
def wrapper_class():
    """zarr's ``WrapperStore`` carrying one thing more, ``extra``, into the stores made from
    it (made on first use: zarr is imported only where needed)."""
    from zarr.storage import WrapperStore

    class Wrapper(WrapperStore):
        def __init__(self, store, extra):
            super().__init__(store)
            self.extra = extra

        def _with_store(self, store):
            return type(self)(store, self.extra)

    return Wrapper


class _Splitting:
    """The split store (with zarr's ``WrapperStore``, in :func:`split_class`): ``data`` (the
    wrapped store) for the chunks, ``meta`` (``extra``) for the metadata keys."""

    @property
    def meta(self):
        return self.extra

    def with_read_only(self, read_only=False):
        return type(self)(
            self._store.with_read_only(read_only), self.meta.with_read_only(read_only)
        )

    async def _open(self):
        await self._store._open()
        await self.meta._open()

    def _for(self, key):
        return self.meta if _is_metadata(key) else self._store

    async def get(self, key, prototype, byte_range=None):
        return await self._for(key).get(key, prototype, byte_range)

    async def get_partial_values(self, prototype, key_ranges):
        return [await self.get(key, prototype, r) for key, r in key_ranges]

    async def exists(self, key):
        return await self._for(key).exists(key)

    async def getsize(self, key):
        return await self._for(key).getsize(key)

    async def set(self, key, value):
        await self._for(key).set(key, value)

    async def set_if_not_exists(self, key, value):
        await self._for(key).set_if_not_exists(key, value)

    async def delete(self, key):
        await self._for(key).delete(key)

    async def delete_dir(self, prefix):  # the metadata first: never one without chunks
        await self.meta.delete_dir(prefix)
        await self._store.delete_dir(prefix)

    async def clear(self):
        await self.meta.clear()
        await self._store.clear()

    async def is_empty(self, prefix):
        return await self._store.is_empty(prefix) and await self.meta.is_empty(prefix)

    async def _union(self, listings):
        seen = set()
        for listing in listings:
            async for key in listing:
                if key not in seen:
                    seen.add(key)
                    yield key

    def list(self):
        return self._union([self._store.list(), self.meta.list()])

    def list_prefix(self, prefix):
        return self._union([self._store.list_prefix(prefix), self.meta.list_prefix(prefix)])

    def list_dir(self, prefix):
        return self._union([self._store.list_dir(prefix), self.meta.list_dir(prefix)])


@functools.cache
def split_class():
    """The split store's class (zarr imported on first use)."""
    return type("Split", (_Splitting, wrapper_class()), {"__module__": __name__})
