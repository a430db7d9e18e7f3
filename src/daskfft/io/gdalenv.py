"""GDAL's configuration for ``/vsis3/`` and ``/vsicurl/`` (its environment variables) as the
fsspec storage options they mean: what :func:`daskfft.io.url.location` opens a URL with,
under the user's own (``--storage-option``)."""

from __future__ import annotations

import os

__all__ = ["TIMEOUT", "gdal_options", "timeouts"]


def _truthy(value, words=("YES", "TRUE", "ON", "1")):
    return str(value).strip().upper() in words


def _falsy(value):
    return _truthy(value, ("NO", "FALSE", "OFF", "0"))


#: Seconds to wait for a connection, and for a server's answer, unless GDAL's
#: ``GDAL_HTTP_CONNECTTIMEOUT`` and ``GDAL_HTTP_TIMEOUT`` say otherwise: a server that
#: stops answering is then a transient failure, tried again (:func:`daskfft.io.retry.retried`).
TIMEOUT = 60


def timeouts(environ):
    """Seconds to wait for a connection and for an answer: GDAL's ``GDAL_HTTP_CONNECTTIMEOUT``
    and ``GDAL_HTTP_TIMEOUT`` in ``environ``, else :data:`TIMEOUT`."""

    def seconds(name):
        try:
            value = float(environ.get(name, TIMEOUT))
        except ValueError:
            return TIMEOUT
        return value if value > 0 else TIMEOUT

    return seconds("GDAL_HTTP_CONNECTTIMEOUT"), seconds("GDAL_HTTP_TIMEOUT")


def gdal_options(protocol, environ=None):
    """The fsspec storage options that GDAL's configuration in ``environ`` (the process's)
    means for ``protocol``: for ``/vsis3/``, endpoint, addressing, region, anonymous access;
    for every protocol fsspec's S3 and HTTP take, the timeouts.  Keys and profiles are
    botocore's own variables and files: read by it, not copied here."""
    environ = os.environ if environ is None else environ
    connect, answer = timeouts(environ)
    if protocol in ("http", "https"):
        # made an aiohttp.ClientTimeout by url.filesystem(): here it stays plain data
        return {"client_kwargs": {"timeout": {"sock_connect": connect, "sock_read": answer}}}
    if protocol not in ("s3", "s3a"):
        return {}
    options = {"config_kwargs": {"connect_timeout": connect, "read_timeout": answer}}
    endpoint = environ.get("AWS_S3_ENDPOINT")
    if endpoint:
        if "://" not in endpoint:
            scheme = "http" if _falsy(environ.get("AWS_HTTPS", "YES")) else "https"
            endpoint = f"{scheme}://{endpoint}"
        options["endpoint_url"] = endpoint
    if _falsy(environ.get("AWS_VIRTUAL_HOSTING", "TRUE")):
        options["config_kwargs"]["s3"] = {"addressing_style": "path"}
    if environ.get("AWS_REGION"):  # else botocore's AWS_DEFAULT_REGION, or its default
        options["client_kwargs"] = {"region_name": environ["AWS_REGION"]}
    if _truthy(environ.get("AWS_NO_SIGN_REQUEST", "NO")):
        options["anon"] = True
    return options
