"""The work folder of a run whose OUTDIR is a URL (``s3://bucket/out``): local bookkeeping,
the result's chunks in the store, and publishing by copies within the store.

An object store has no rename and no lock, so a run into a URL keeps two places:

- **a local work folder**, ``.daskfft-remote/<OUTDIR's name>/.daskfft-work/`` in the current
  directory (shared with the workers on a cluster, as the working directory of a Slurm or MPI
  job is): the lock, run.json, the done markers, each chunk's summaries, and the finished
  files other than the image store (report.json, pictures; a TIFF or COG output), staged in
  ``out/``; it is what ``--resume`` reads;
- **the store's stage**, ``OUTDIR/.daskfft-work/``: a Zarr or OME-Zarr output, into which
  the workers write their chunks themselves, in parallel.

Publishing (:meth:`StoreWorkDir.publish`) replaces each output in OUTDIR: an old one of the
same name is deleted (there is no moving it aside), the image store's chunks are copied into
place within the store (server-side, nothing through this machine), then its metadata
(``zarr.json``, ``.zarray``...), so that a reader finds either no array or a complete one;
the local files are uploaded; ``report.json`` goes last, so that OUTDIR holding it means it
holds the whole set.  Each object is written whole (a PUT is atomic), but the set is not:
during publishing a reader may find some outputs new and some not yet.  The steps are in a
local journal first: a run killed while publishing is completed by the next run into the
same OUTDIR from the same directory, with or without ``--resume``.  The lock is local: two
runs into one URL from two machines (or two directories) are not kept apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import stat
from pathlib import Path

from daskfft import io
from daskfft.errors import AlreadyComplete, InputError, RunError
from daskfft.io import url
from daskfft.messages import workdir as msg
from daskfft.run.workdir import WorkDir
from daskfft.run.workdir.journal import canonical
from daskfft.run.workdir.layout import WORK_NAME, companions
from daskfft.run.workdir.publish import JOURNAL, signals_held

__all__ = ["LOCAL_NAME", "StoreWorkDir", "work_dir"]

log = logging.getLogger("daskfft")

#: The folder of the current directory holding the local work folders of URL OUTDIRs.
LOCAL_NAME = ".daskfft-remote"

#: The keys of a Zarr store that make it an array or group: copied last.
_METADATA = frozenset(url.ZARR_METADATA + (".zattrs",))


def work_dir(config):
    """The work folder of the run ``config``: a :class:`WorkDir` in OUTDIR, or where OUTDIR is
    a URL, a :class:`StoreWorkDir`."""
    if url.is_url(config.outdir):
        remote = url.location(config.outdir, dict(config.storage_options), name="OUTDIR")
        return StoreWorkDir(remote)
    return WorkDir(config.outdir)


def local_folder(remote):
    """The local folder standing for the URL ``remote``: in ``.daskfft-remote/`` of the
    current directory, named after the URL (readable, and a digest of it)."""
    text = remote.text.rstrip("/")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text.split("://", 1)[-1])[-60:].strip("._")
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return Path(os.path.abspath(LOCAL_NAME)) / f"{remote.protocol}-{slug}-{digest}"


class StoreWorkDir(WorkDir):
    """The work folder of runs into the URL ``remote`` (a :class:`~daskfft.io.url.Remote`):
    local, with the image store's stage in the store (see the module's description)."""

    def __init__(self, remote):
        self.remote = remote
        super().__init__(local_folder(remote))

    @property
    def stage(self):
        """Where the image store is filled: ``OUTDIR/.daskfft-work/`` in the store."""
        return self.remote / WORK_NAME

    def _fs(self):
        return url.filesystem(self.remote)[0]

    def _key(self, where):
        return url.filesystem(where)[1]

    # --- OUTDIR's outputs -------------------------------------------------------------------

    def _check_outputs(self, names, fingerprint, *, resume, overwrite):
        """As :meth:`WorkDir._check_outputs`, of the outputs in the store."""
        if resume and self.holds_finished(names, fingerprint):
            raise AlreadyComplete(msg.ALREADY_COMPLETE.format(outdir=self.remote))
        there = sorted(n for n in {*names, *companions(names)} if url.exists(self.remote / n))
        if there and not overwrite:
            raise InputError(msg.OUTPUTS_THERE.format(outdir=self.remote, names=", ".join(there)))

    def holds_finished(self, names, fingerprint):
        """Whether the store holds every output ``names`` of the run ``fingerprint`` (its
        report.json says so) and no run is in progress here."""
        if self.has_run() or not all(url.exists(self.remote / n) for n in names):
            return False
        try:
            text = self._fs().cat_file(self._key(self.remote / "report.json"))
            made_by = json.loads(text).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            return False
        return made_by == canonical(fingerprint)

    def _clear(self):
        """The local work folder emptied (:meth:`WorkDir._clear`), and the store's stage."""
        super()._clear()
        self._remove_stage()

    def _remove_stage(self):
        if url.exists(self.stage):
            fs = self._fs()
            url.retried(lambda: fs.rm(self._key(self.stage), recursive=True), self.stage)

    # --- publishing -------------------------------------------------------------------------

    def publish(self, staged):
        """Put ``staged`` (name -> a local path, or the stage's :class:`~daskfft.io.url.Remote`)
        into the store's OUTDIR, as the module's description says; then retire the local work
        folder."""
        entries = {
            name: {"stage": source.text} if io.is_remote(source) else {"local": str(source)}
            for name, source in staged.items()
        }
        with signals_held() as came:
            tmp = self.root / f"{JOURNAL}.tmp"
            tmp.write_text(json.dumps(entries))
            os.replace(tmp, self.root / JOURNAL)
            self._put_all(entries)
            self._outputs_in = True
            trash = self._retire()
        if came:
            names = " and ".join(signal.Signals(s).name for s in sorted(set(came)))
            log.warning(msg.SIGNALS_WHILE_PUBLISHING.format(signals=names))
        self._delete_retired(trash, stop=bool(came))
        self._remove_local()

    def finish_publishing(self):
        """Complete a publish that a killed run left (its local journal says what): every step
        is a copy or an upload, done again from the start.  True when there was one."""
        journal = self.root / JOURNAL
        if not journal.exists():
            return False
        self._put_all(json.loads(journal.read_text()))
        log.warning(msg.FINISHED_PUBLISHING.format(outdir=self.remote))
        self._clear()
        return True

    def _put_all(self, entries):
        """Each output of the journal ``entries`` into place: report.json last."""
        order = sorted(entries, key=lambda name: name == "report.json")
        for name in order:
            try:
                self._put(name, entries[name])
            except Exception as exc:
                if not url.not_read(exc):
                    raise
                why = str(url.failure(self.remote / name, exc))
                raise RunError(
                    msg.REMOTE_PUBLISH_LEFT.format(outdir=self.remote, why=why, root=self.root)
                ) from None

    def _put(self, name, entry):
        fs, target = self._fs(), self.remote / name
        key = self._key(target)
        if "stage" in entry:
            source = url.Remote(entry["stage"], self.remote.storage)
            src_key = self._key(source)
            if not url.exists(source):  # moved already, by the publish this completes
                return
            found = url.retried(lambda: fs.find(src_key), source)
        if url.exists(target):
            url.retried(lambda: fs.rm(key, recursive=True), target)
        if "local" in entry:
            local = entry["local"]
            url.retried(lambda: fs.put(local, key, recursive=os.path.isdir(local)), target)
            return
        data = [k for k in found if k.rsplit("/", 1)[-1] not in _METADATA]
        meta = [k for k in found if k.rsplit("/", 1)[-1] in _METADATA]
        for keys in (data, meta):  # the metadata last: a reader sees no array until whole
            if keys:
                dest = [key + k[len(src_key) :] for k in keys]
                url.retried(lambda keys=keys, dest=dest: fs.copy(keys, dest), target)
        url.retried(lambda: fs.rm(src_key, recursive=True), source)

    def release(self):
        """Drop the lock (:meth:`WorkDir.release`), and the local folder where it is empty."""
        super().release()
        self._remove_local()

    def _remove_local(self):
        """The local folder standing for the URL, and ``.daskfft-remote`` itself, where empty."""
        for folder in (self.outdir, self.outdir.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()

    def _must_own(self):
        """The local folders standing for the URL too (``.daskfft-remote`` and the URL's
        folder in it): never a link another user left in a shared directory."""
        return (
            (self.outdir.parent, stat.S_ISDIR),
            (self.outdir, stat.S_ISDIR),
            *super()._must_own(),
        )

    def _remove_retired(self):
        if self.outdir.is_dir():
            super()._remove_retired()
