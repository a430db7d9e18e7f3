"""Many images in one run: each filtered into a folder of its own under OUTDIR, one after
the other on one cluster, with one progress bar over all their chunks, each image's own
report.json (and report.html), and a summary (``batch.json``, and a table in the log).

An image that fails (an unreadable file, a run that fails) is reported in one line and
skipped; the others go on, and the batch ends with an error naming it.  Each image keeps
its own work folder, so a killed batch resumes image by image (``--resume``), byte for
byte.  Memory is that of one image's chunks in flight, whatever the number of images.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from daskfft import io
from daskfft.cluster.kinds import open_cluster
from daskfft.errors import AlreadyComplete, InputError
from daskfft.messages import run as msg
from daskfft.run.graph import rechunk_method
from daskfft.run.workdir.store import work_dir

__all__ = ["expand_inputs", "image_name", "batch_configs", "run_batch", "SUMMARY"]

log = logging.getLogger("daskfft")

#: The batch's summary in OUTDIR.
SUMMARY = "batch.json"


def expand_inputs(paths, from_list=None, storage=None):
    """The images that ``paths`` (paths, URLs or glob patterns of either, in order) and the
    file ``from_list`` (a path or URL a line; blank lines and ``#`` comments left out) name:
    a pattern that matches nothing, or a list that cannot be read, is an
    :class:`InputError`.  A URL's pattern is matched by its store's listing (fsspec's glob),
    with the storage options ``storage``."""
    named = []
    for path in paths:
        text = os.fspath(path)
        if io.url.is_url(text) and glob.has_magic(text):
            found = io.url.glob(text, storage)
            if not found:
                raise InputError(msg.BATCH_NO_MATCH.format(pattern=text))
            named += found
        elif glob.has_magic(text) and not os.path.exists(text):
            found = sorted(glob.glob(text))
            if not found:
                raise InputError(msg.BATCH_NO_MATCH.format(pattern=text))
            named += found
        else:
            named.append(text)
    if from_list is not None:
        try:
            lines = Path(from_list).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(msg.BATCH_LIST.format(path=from_list, reason=exc)) from None
        named += [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
    if not named:
        raise InputError(msg.BATCH_EMPTY.format(path=from_list))
    return named


def image_name(path):
    """The folder an image's outputs go into: its file's name less its format's suffix
    (:func:`daskfft.io.image_stem`); a ``ValueError`` (a usage error) where that names no
    folder of its own in OUTDIR (``.``, ``..``, the summary's name)."""
    text = os.fspath(path)
    if io.url.is_url(text):
        name = io.image_stem(text.rstrip("/").rsplit("/", 1)[-1])
    else:
        name = io.image_stem(Path(os.path.abspath(text)).name)
    if name in ("", ".", "..", SUMMARY) or name.startswith(".daskfft"):
        raise ValueError(msg.BATCH_BAD_NAME.format(path=path, name=name))
    return name


def batch_configs(inputs, outdir, create):
    """One :class:`~daskfft.run.config.RunConfig` per image, into ``outdir/<name>``
    (:func:`image_name`), made by ``create(input, outdir)``; two images of one name, or the
    same image twice, are a ``ValueError`` (a usage error) naming both."""
    seen, named = {}, {}
    for path in inputs:
        name = image_name(path)
        key = name.casefold()  # a.tif and A.tif: one folder on macOS and Windows
        if key in seen:
            first = seen[key]
            raise ValueError(msg.BATCH_SAME_NAME.format(first=first, second=path, name=name))
        seen[key], named[name] = path, path
    return [create(path, _inside(outdir, name)) for name, path in named.items()]


def _inside(outdir, name):
    """``outdir/name``: of a URL, as a URL."""
    text = os.fspath(outdir)
    return f"{text.rstrip('/')}/{name}" if io.url.is_url(text) else Path(text) / name


def run_batch(configs, outdir, *, expected, cluster_info=None, progress=False):
    """Run every config of ``configs`` (:func:`batch_configs`) on one cluster; write and
    return the summary (``outdir/batch.json``).

    ``expected(exc)`` says whether an image's failure is one a user meets (it is reported
    and skipped) rather than a bug (which stops the batch and is raised).  A signal stops
    the batch too: each image's work folder keeps what it finished.
    """
    from daskfft.run.pipeline import log_cluster, planned, run_config

    started = time.perf_counter()
    rows, plans = [], []
    for config in configs:
        try:
            plans.append((config, planned(config)))
        except Exception as exc:
            if not expected(exc):
                raise
            rows.append(_failed(config, exc, 0.0))
    if plans:
        largest = max(plans, key=lambda cp: cp[1][0].info.megapixels)[1][0]
        plans = [_on(largest.cluster, config, made, planned) for config, made in plans]
        log.info(
            msg.BATCH_START.format(
                images=len(configs), outdir=outdir, largest=image_name(largest.config.input)
            )
        )
        bar = _Bar([p for _, (p, _) in plans]) if progress else None
        with (
            open_cluster(largest.cluster, info=cluster_info) as cl,
            rechunk_method(cl),
            bar or contextlib.nullcontext(),
        ):
            log_cluster(cl)
            for config, (plan, said) in plans:
                if bar:
                    bar.start(plan)
                rows.append(_one(config, plan, said, cl, cluster_info, expected, run_config))
                _settle(cl, rows[-1])
                if bar:
                    bar.finished(plan)
    order = {c.input: i for i, c in enumerate(configs)}
    rows.sort(key=lambda r: order[r["input"]])
    summary = {
        "outdir": os.fspath(outdir),
        "images": rows,
        "failed": sum(r["status"] == "failed" for r in rows),
        "seconds": time.perf_counter() - started,
    }
    _write_summary(outdir, summary, configs[0].storage_options if configs else ())
    for line in _table(rows):
        log.info(line)
    return summary


def _on(spec, config, made, planned):
    """``(config, (plan, warnings))`` of an image on the batch's one cluster ``spec``: planned
    again where its own plan chose another (``auto`` by its own size), so that its notes and
    report say the cluster it runs on."""
    if made[0].cluster == spec:
        return config, made
    config = dataclasses.replace(config, cluster=spec)
    return config, planned(config)


def _one(config, plan, said, cl, cluster_info, expected, run_config):
    """One image's row of the summary, run on the open cluster ``cl`` with its ``plan`` and
    the warnings ``said`` while making it."""
    t0 = time.perf_counter()
    try:
        report = run_config(config, cluster_info=cluster_info, plan=plan, planning=said, cluster=cl)
    except AlreadyComplete:
        return _row(config, "complete", time.perf_counter() - t0)
    except Exception as exc:
        if not expected(exc):
            raise
        return _failed(config, exc, time.perf_counter() - t0)
    row = _row(config, "done", time.perf_counter() - t0)
    row["bound"] = report["halo"]["expected_max_deviation"]
    row["chunks"] = report["chunks"]["computed"]
    row["resumed"] = report["chunks"]["resumed"]
    return row


def _settle(cl, row, timeout=60):
    """After an image failed on a distributed cluster, wait until its tasks still running
    have ended (cancelling does not stop a running task), so that none of them writes
    while the next image runs."""
    if row["status"] != "failed" or cl.client is None:
        return
    deadline = time.monotonic() + timeout
    while any(cl.client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)


def _row(config, status, seconds):
    return {
        "input": config.input,
        "outdir": os.fspath(config.outdir),
        "status": status,
        "seconds": seconds,
        "bound": None,
        "error": None,
    }


def _failed(config, exc, seconds):
    """The row of an image that failed, said in one line as it happens."""
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    said = line if config.input in line else f"{config.input}: {line}"
    log.error(msg.BATCH_IMAGE_FAILED.format(reason=said))
    row = _row(config, "failed", seconds)
    row["error"] = line
    return row


def _table(rows):
    """The summary as the log shows it: a line per image."""
    width = max(len(os.path.basename(r["input"])) for r in rows)
    lines = [msg.BATCH_HEADER.format(image="image".ljust(width))]
    for r in rows:
        bound = "" if r["bound"] is None else f"{r['bound']:.1e}"
        lines.append(
            msg.BATCH_ROW.format(
                image=os.path.basename(r["input"]).ljust(width),
                status=r["status"],
                seconds=r["seconds"],
                bound=bound,
                error=r["error"] or "",
            ).rstrip()
        )
    return lines


def _write_summary(outdir, summary, storage=()):
    """``outdir/batch.json``, whole or not at all: written beside, then renamed; into a URL
    OUTDIR, one object written whole."""
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    if io.url.is_url(os.fspath(outdir)):
        where = io.url.location(_inside(outdir, SUMMARY), dict(storage), name="OUTDIR")
        fs, key = io.url.filesystem(where)
        io.url.writing(where, lambda: fs.pipe_file(key, text.encode()))
        return
    path = Path(outdir) / SUMMARY
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


class _Bar:
    """One progress bar over the chunks of every image of the batch, drawn on stderr twice a
    second by a thread of its own: the images finished (:meth:`finished`) and the done
    chunks (the work folder's journal) of the one under way (:meth:`start`)."""

    def __init__(self, plans):
        self.total, self.count = sum(p.total for p in plans), len(plans)
        self._ended = self._images = 0
        self._current = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._draw, name="daskfft-batch", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._show(final=True)

    def start(self, plan):
        self._current = plan

    def finished(self, plan):
        self._current = None
        self._ended += plan.total
        self._images += 1

    def _done(self):
        current = self._current
        if current is None:
            return self._ended
        with contextlib.suppress(OSError):
            return self._ended + len(work_dir(current.config).done())
        return self._ended

    def _draw(self):
        while not self._stop.wait(0.5):
            self._show()

    def _show(self, final=False):
        done, width = min(self._done(), self.total), 30
        filled = round(width * done / max(self.total, 1))
        line = msg.BATCH_BAR.format(
            bar="#" * filled + "-" * (width - filled),
            done=done,
            total=self.total,
            images=self._images,
            count=self.count,
        )
        sys.stderr.write("\r" + line + ("\n" if final else ""))
        sys.stderr.flush()
