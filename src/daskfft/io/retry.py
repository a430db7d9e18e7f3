"""Failures of remote reads and writes: which are transient and tried again (how many times,
how far apart), and the one line each says (:mod:`daskfft.io.url` uses these).

Transient: a dropped or refused connection, a timeout, HTTP 408, 429 and 5xx (over S3, the
status under s3fs's own ``OSError``).  A missing file (404) or a refusal (401, 403) is not
tried again, and neither is a server that ignores range requests (:class:`RangesIgnored`).
"""

from __future__ import annotations

import errno
import logging
import time

from daskfft.errors import InputError
from daskfft.messages import io as msg

__all__ = [
    "ATTEMPTS",
    "RangesIgnored",
    "backoff",
    "first_line",
    "transient",
    "status_of",
    "retried",
    "not_read",
    "failure",
]

log = logging.getLogger("daskfft")

#: Tries of one read or write of a remote file in all (the first and three retries).
ATTEMPTS = 4


def backoff(attempt):
    """Seconds to wait before retry ``attempt`` (1, 2, ...): 0.5, 1, 2."""
    return 0.5 * 2 ** (attempt - 1)


class RangesIgnored(OSError):
    """A server answered a range request with more than the range: it ignores them."""


def first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def transient(exc):
    """Whether the failure ``exc`` of a remote read or write may pass if tried again: a
    dropped or refused connection, a timeout, HTTP 408, 429 or 5xx."""
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    status = status_of(exc)
    if status is not None:
        return status in (408, 429) or status >= 500
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and exc.errno in (
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.EBUSY,  # s3fs's 503 (Service Unavailable, SlowDown)
        errno.EAGAIN,
    ):
        return True
    names = {k.__name__ for k in type(exc).__mro__}
    if any("SSL" in n or "Certificate" in n or "DNS" in n for n in names):
        return False  # a certificate or a host name that is wrong stays wrong
    # aiohttp's (fsspec's HTTP) and botocore's (s3fs) connection failures, by name: neither
    # library is a dependency of daskfft's core.
    return bool(
        names
        & {
            "ClientConnectionError",
            "ClientPayloadError",
            "ServerDisconnectedError",
            "ServerTimeoutError",
            "FSTimeoutError",
            "EndpointConnectionError",
            "ConnectionClosedError",
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "IncompleteRead",
            "ResponseStreamingError",
        }
    )


def status_of(exc):
    """The HTTP status of a failure (aiohttp's ``status``, urllib's ``code``, or the
    botocore error s3fs raised it from: a 500 or 502 is an ``OSError`` of its own), or
    None."""
    for name in ("status", "code"):
        value = getattr(exc, name, None)
        if isinstance(value, int) and 400 <= value < 600:
            return value
    response = getattr(exc.__cause__, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(value, int) and 400 <= value < 600:
            return value
    return None


def retried(call, path, *, attempts=ATTEMPTS):
    """``call()``, tried again after :func:`backoff` seconds while it fails
    :func:`transient`-ly, ``attempts`` times in all; its last failure is raised as it came."""
    attempt = 1
    while True:
        try:
            return call()
        except Exception as exc:
            if attempt >= attempts or not transient(exc):
                raise
            log.debug(msg.RETRYING.format(url=path, attempt=attempt, reason=first_line(exc)))
            time.sleep(backoff(attempt))
            attempt += 1


def not_read(exc):
    """Whether ``exc`` is a remote file's failure to be read (missing, refused, a network
    failure, a server ignoring range requests), not its content's (a tile that does not
    decode)."""
    return (
        isinstance(exc, (FileNotFoundError, PermissionError, RangesIgnored))
        or transient(exc)
        or (status_of(exc) is not None)
    )


def failure(path, exc):
    """The one line (an :class:`~daskfft.errors.InputError`) a remote ``path`` that could
    not be read says: missing, refused, or unreachable after every retry."""
    if isinstance(exc, RangesIgnored):
        line = str(exc)
    elif isinstance(exc, FileNotFoundError):
        line = msg.URL_NOT_FOUND.format(url=path)
    elif isinstance(exc, PermissionError) or status_of(exc) in (401, 403):
        line = msg.URL_DENIED.format(url=path)
    elif transient(exc):
        line = msg.URL_UNREACHABLE.format(url=path, attempts=ATTEMPTS, reason=first_line(exc))
    else:
        line = msg.URL_FAILED.format(url=path, reason=first_line(exc))
    return InputError(line)
