"""Images behind URLs: ``s3://``, ``gs://``, ``https://`` and any other protocol fsspec has
installed, read where they are.

A URL input becomes a :class:`Remote`: the URL's text, which is all that is ever said or
written of it, carrying the fsspec storage options it is opened with, so that every task
(in whatever process or node) opens it the same way.  A TIFF is opened as a file whose
reads are HTTP range requests (:func:`open_binary`: the header's first 64 KiB cached), and
a task fetches the tiles its window touches together (:func:`read_ranges`); a Zarr store
is opened by zarr through fsspec (:func:`zarr_options`).

Credentials and endpoints follow GDAL's conventions for ``/vsis3/``
(:func:`gdal_options`): ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and the shared credentials file (read by botocore
itself), ``AWS_S3_ENDPOINT`` with ``AWS_HTTPS`` and ``AWS_VIRTUAL_HOSTING``,
``AWS_REGION``, ``AWS_NO_SIGN_REQUEST``; ``--storage-option KEY=VALUE`` (fsspec's own
names) overrides them.  A URL with a user, a password or a query (a pre-signed URL's
signature) is refused: what is in a URL ends up in logs and report.json.

Which failures are tried again, and the one line each says, are
:mod:`daskfft.io.retry`'s (its names are re-exported here).
"""

from __future__ import annotations

import copy
import hashlib
import os
import uuid

from daskfft.errors import InputError
from daskfft.io.gdalenv import TIMEOUT, gdal_options, timeouts
from daskfft.io.retry import (
    ATTEMPTS,
    RangesIgnored,
    backoff,
    failure,
    first_line,
    not_read,
    retried,
    status_of,
    transient,
)
from daskfft.messages import io as msg
from daskfft.validate import check_url, is_url

__all__ = [
    "Remote",
    "RangesIgnored",
    "ATTEMPTS",
    "backoff",
    "is_url",
    "location",
    "gdal_options",
    "merged",
    "OWN_OPTIONS",
    "PARTS",
    "HEADER_BYTES",
    "TIMEOUT",
    "ZARR_METADATA",
    "filesystem",
    "open_binary",
    "stat",
    "exists",
    "child",
    "add_suffix",
    "identity",
    "zarr_options",
    "glob",
    "read_ranges",
    "retried",
    "transient",
    "not_read",
    "reading",
    "writing",
    "isdir",
    "failure",
]


#: The keys of which one is at the root of a Zarr store (v3; v2's array, group).
ZARR_METADATA = ("zarr.json", ".zarray", ".zgroup")

#: What a remote TIFF's first read caches: its header, and the IFD of most files.
HEADER_BYTES = 65536


class Remote(str):
    """A URL that carries the fsspec storage options it is opened with.

    It is its URL's text wherever it is said, formatted, joined or written to JSON; the
    options (which may hold credentials) only travel with it, pickled into the tasks, and so
    does its ``token``: the bytes read of it may be kept under it by a process
    (:func:`daskfft.io.cache.read_tiles`), so a URL located anew is read anew.  A Zarr store's
    URL may have a ``meta``: the URL its metadata is kept at (:mod:`daskfft.io.zarrstore`).
    """

    __slots__ = ("storage", "token", "meta")

    def __new__(cls, url, storage=None, token=None, meta=None):
        self = super().__new__(cls, url)
        self.storage, self.token = dict(storage or {}), token or uuid.uuid4().hex
        self.meta = meta
        return self

    def __str__(self):
        return self  # str() keeps the options: backends pass paths through str()

    def __repr__(self):
        return repr(self.text)

    def __reduce__(self):
        return (Remote, (self.text, self.storage, self.token, self.meta))

    def __truediv__(self, name):
        """``self/name``, as :class:`pathlib.Path` joins: a key under this prefix."""
        meta = None if self.meta is None else self.meta / name
        return Remote(f"{self.text.rstrip('/')}/{name}", self.storage, meta=meta)

    @property
    def text(self):
        """The URL as a plain :class:`str`."""
        return str.__str__(self)

    @property
    def protocol(self):
        return self.text.split("://", 1)[0].lower()


def location(path, storage=None, *, name="input"):
    """``path`` as daskfft opens it: a :class:`Remote` for a URL (with GDAL's options from
    the environment, then ``storage``, ``--storage-option``'s, over them), else unchanged.

    Refuses a URL with a user, a password or a query, and one of a protocol fsspec does
    not have (:class:`~daskfft.errors.InputError`)."""
    if isinstance(path, Remote) or not is_url(path):
        return path
    check_url(name, path)
    protocol = path.split("://", 1)[0].lower()
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise InputError(
            msg.URL_PROTOCOL.format(name=name, url=path, protocol=protocol, why=first_line(exc))
        ) from None
    options = merged(OWN_OPTIONS.get(protocol, {}), gdal_options(protocol), storage)
    check_url("endpoint_url", options.get("endpoint_url"))  # said in the log: no user in it
    return Remote(path, options)


#: Options under GDAL's and the user's: botocore retries nothing (its ``max_attempts`` counts
#: retries, not tries; nor does s3fs: :func:`filesystem`), so :func:`retried`'s tries are
#: all; a whole object (a Zarr chunk) is one GET (s3fs's default concurrency, 10, asks its
#: size by a HEAD first); uploads pass their own (:data:`PARTS`).
OWN_OPTIONS = {
    p: {"config_kwargs": {"retries": {"max_attempts": 0, "mode": "standard"}}, "max_concurrency": 1}
    for p in ("s3", "s3a")
}

#: The 50-MB parts of an S3 upload sent at once: 200 MB in memory at most.
PARTS = {"s3": {"max_concurrency": 4}, "s3a": {"max_concurrency": 4}}


def merged(*layers):
    """Storage options, each of ``layers`` over the ones before; dicts merged key by key."""
    out = {}
    for layer in layers:
        for key, value in dict(layer or {}).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                value = merged(out[key], value)
            out[key] = copy.deepcopy(value)
    return out


def _options(path):
    """``path``'s storage options as fsspec takes them: copied, HTTP timeouts made aiohttp's."""
    options = copy.deepcopy(path.storage)
    timeout = options.get("client_kwargs", {}).get("timeout")
    if path.protocol in ("http", "https") and isinstance(timeout, dict):
        import aiohttp

        options["client_kwargs"]["timeout"] = aiohttp.ClientTimeout(total=None, **timeout)
    return options


def filesystem(path):
    """The fsspec file system of the :class:`Remote` ``path`` and the path within it."""
    from fsspec.core import url_to_fs

    fs, inner = url_to_fs(path.text, **_options(path))
    if path.protocol in ("s3", "s3a"):
        fs.retries = 1  # s3fs's own tries (5, an attribute, not an option): ours count
    return fs, inner


def open_binary(path):
    """``path`` opened for reading bytes: a local file, or a :class:`Remote` whose reads are
    range requests, the first :data:`HEADER_BYTES` cached (a TIFF's header and IFDs, read
    in many small pieces) and every other read fetched as asked (a tile)."""
    if not isinstance(path, Remote):
        return open(path, "rb")
    fs, inner = filesystem(path)
    return fs.open(inner, "rb", cache_type="first", block_size=HEADER_BYTES)


def stat(path):
    """What the server says of the remote file ``path`` (fsspec's ``info``: ``size``, ...),
    tried :data:`ATTEMPTS` times; one line (:func:`failure`) where it is missing, refused or
    unreachable.  A missing file is ``FileNotFoundError`` of :func:`exists` only."""
    try:
        return retried(lambda: _info(path), path)
    except Exception as exc:
        raise failure(path, exc) from None


def exists(path, *, denied_absent=False):
    """Whether ``path`` (local, or a :class:`Remote`) is there; a remote one that cannot be
    asked (refused, unreachable) is one line (:func:`failure`), never "not there".  With
    ``denied_absent`` (a companion file looked for, a ``.msk``), a refusal means "not there":
    S3 answers 403 for a key that is missing where listing the bucket is not allowed."""
    if not isinstance(path, Remote):
        return os.path.exists(path)
    try:
        retried(lambda: _info(path), path)
    except FileNotFoundError:
        return False
    except Exception as exc:
        if denied_absent and (isinstance(exc, PermissionError) or status_of(exc) in (401, 403)):
            return False
        raise failure(path, exc) from None
    return True


def _info(path):
    """fsspec's ``info`` of ``path``; over HTTP, where fsspec says "not found" of every
    failure (a 403, a dropped connection), the server's own answer instead."""
    fs, inner = filesystem(path)
    try:
        return fs.info(inner)
    except FileNotFoundError:
        if path.protocol in ("http", "https"):
            _http_status(path)
        raise


def _http_status(path):
    """Ask the server for ``path`` once more (a HEAD request, without fsspec) and raise what
    it answers: ``FileNotFoundError`` for 404 and 410, the HTTP error or the connection's
    failure otherwise; nothing where it now answers 2xx."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(path.text, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeouts(os.environ)[1]):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise FileNotFoundError(path.text) from None
        raise
    except urllib.error.URLError as exc:
        raise exc.reason if isinstance(exc.reason, BaseException) else exc from None
    # it answers now: what failed was passing (fsspec says "not found" of any failure)
    raise ConnectionError(msg.ANSWERS_NOW.format(url=path))


def child(path, name):
    """``path/name``: of a :class:`Remote`, with its options."""
    if isinstance(path, Remote):
        return path / name
    return os.path.join(path, name)


def add_suffix(path, suffix):
    """``path`` with ``suffix`` added (``x.tif`` -> ``x.tif.msk``), keeping its options."""
    if isinstance(path, Remote):
        return Remote(path.text + suffix, path.storage)
    return f"{path}{suffix}"


def identity(path):
    """What identifies a remote input's content cheaply: of every object under it, its size
    and its ETag or modification time, as the store says them.  Over HTTP, which lists
    nothing, the file's own (of a Zarr store, its metadata files')."""
    fs, inner = filesystem(path)
    if path.protocol in ("http", "https"):
        keys = [inner]
        if path.text.rstrip("/").lower().endswith(".zarr"):
            keys = [f"{inner.rstrip('/')}/{k}" for k in ZARR_METADATA + (".zattrs",)]
        found = {}
        for key in keys:
            try:
                found[key] = retried(lambda key=key: fs.info(key), path)
            except FileNotFoundError:
                continue
    else:
        found = retried(lambda: fs.find(inner, detail=True, withdirs=False), path) or {}
        if not found:  # a file, not a prefix
            found = {inner: retried(lambda: fs.info(inner), path)}
    digest, total = hashlib.sha256(), 0
    for key in sorted(found):
        info = found[key]
        stamp = next(
            (
                info[k]
                for k in ("ETag", "etag", "LastModified", "Last-Modified", "mtime")
                if info.get(k)
            ),
            "",
        )
        rel = key[len(inner) :]
        digest.update(f"{rel}\0{info.get('size')}\0{stamp}\n".encode())
        total += int(info.get("size") or 0)
    return {"files": len(found), "bytes": total, "content_stat": digest.hexdigest()}


#: Ranges of a file closer than this are fetched in one request (the gap read and dropped).
MERGE_GAP = 16384

#: The largest request that merged ranges make.
MERGE_MAX = 16 * 2**20


def read_ranges(path, starts, sizes):
    """The bytes ``starts[k] : starts[k] + sizes[k]`` of the remote file ``path``, each as a
    :class:`bytes`: fetched together (fsspec's ``cat_ranges``, its requests concurrent),
    ranges closer than :data:`MERGE_GAP` in one request; tried :data:`ATTEMPTS` times."""
    order = sorted(range(len(starts)), key=lambda k: starts[k])
    groups = []  # [start, end, [k, ...]]
    for k in order:
        a, b = int(starts[k]), int(starts[k]) + int(sizes[k])
        if groups and a - groups[-1][1] <= MERGE_GAP and b - groups[-1][0] <= MERGE_MAX:
            groups[-1][1] = max(groups[-1][1], b)
            groups[-1][2].append(k)
        else:
            groups.append([a, b, [k]])
    if not groups:
        return []
    fs, inner = filesystem(path)

    def fetch():
        blobs = fs.cat_ranges([inner] * len(groups), [g[0] for g in groups], [g[1] for g in groups])
        for (a, b, _), blob in zip(groups, blobs):
            if isinstance(blob, Exception):
                raise blob
            if len(blob) > b - a:  # a 200 with the whole file: the server ignores Range
                raise RangesIgnored(
                    msg.RANGES_IGNORED.format(url=path, sent=len(blob), asked=b - a)
                )
            if len(blob) < b - a:  # cut short: a dropped connection, tried again
                raise ConnectionResetError(msg.SHORT_READ.format(sent=len(blob), asked=b - a))
        return blobs

    out = [b""] * len(starts)
    for (a, _, members), blob in zip(groups, retried(fetch, path)):
        for k in members:
            out[k] = blob[int(starts[k]) - a : int(starts[k]) - a + int(sizes[k])]
    return out


def glob(pattern, storage=None):
    """The URLs that the URL ``pattern`` (``s3://bucket/scenes/*.tif``) matches, sorted: its
    store's listing matched by fsspec's glob."""
    where = location(pattern, storage)
    fs, inner = filesystem(where)
    found = retried(lambda: fs.glob(inner), where)
    return sorted(fs.unstrip_protocol(key) for key in found)


def zarr_options(path):
    """The keywords zarr's ``open_array``/``open_group``/``create_array`` (and dask's
    ``from_zarr``) take to open ``path``: its storage options for a :class:`Remote`."""
    if isinstance(path, Remote):
        return {"storage_options": _options(path)}
    return {}


def isdir(path):
    """Whether ``path`` is a folder, or for a :class:`Remote`, a store's prefix."""
    if not isinstance(path, Remote):
        return os.path.isdir(path)
    fs, inner = filesystem(path)
    return retried(lambda: fs.isdir(inner), path)


def reading(path, read, undecoded):
    """``read()`` of the file ``path``, retried (:func:`retried`) where it is remote; a remote
    failure to be read is one line (:func:`failure`), any other failure (of the content)
    ``undecoded(exc)``'s :class:`~daskfft.errors.InputError`."""
    remote = isinstance(path, Remote)
    try:
        return retried(read, path) if remote else read()
    except Exception as exc:
        if remote and not_read(exc):
            raise failure(path, exc) from None
        raise undecoded(exc) from None


def writing(path, write):
    """``write()`` into the store ``path``, retried (:func:`retried`) where it is remote; a
    remote failure is one line (:func:`failure`), anything else raised as it came."""
    if not isinstance(path, Remote):
        return write()
    try:
        return retried(write, path)
    except Exception as exc:
        if not_read(exc):
            raise failure(path, exc) from None
        raise
