"""Publishing a run into a URL OUTDIR (:class:`~daskfft.run.workdir.store.StoreWorkDir`'s
part): each output put into place in the store from a local journal, which the next run
completes where a run was cut off; see :mod:`daskfft.run.workdir.store` for what goes where
and how far an object store lets it be all or nothing."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal

from daskfft import io
from daskfft.errors import InputError, RunError
from daskfft.io import url
from daskfft.io.zarrstore import METADATA
from daskfft.messages import workdir as msg
from daskfft.run.workdir.layout import companions
from daskfft.run.workdir.publish import JOURNAL, signals_held

__all__ = ["StorePublishing"]

log = logging.getLogger("daskfft")

#: The keys of a Zarr store that make it an array or group: copied last.
_METADATA = frozenset(METADATA)


def _entry(source):
    """The publishing journal's entry of an output staged at ``source``: a local file, a
    store in the stage, or the stage's metadata of a store whose chunks are in place."""
    if not io.is_remote(source):
        return {"local": str(source)}
    if source.meta is not None:
        return {"stage": source.meta.text, "in_place": True}
    return {"stage": source.text}


class StorePublishing:
    """The publishing of :class:`~daskfft.run.workdir.store.StoreWorkDir` (a mixin: the
    store, its stage and the local work folder are the work folder's)."""

    def publish(self, staged):
        """Put ``staged`` (name -> a local path, or the stage's :class:`~daskfft.io.url.Remote`)
        into the store's OUTDIR, as the module's description says; then retire the local work
        folder."""
        entries = {name: _entry(source) for name, source in staged.items()}
        with signals_held() as came:
            self._write_journal(entries)
            self._put_all(entries)
            self._remove_stage(self._local_id())  # its claim, all that is left of it
            self._outputs_in = True
            trash = self._retire()
        if came:
            names = " and ".join(signal.Signals(s).name for s in sorted(set(came)))
            log.warning(msg.SIGNALS_WHILE_PUBLISHING.format(signals=names))
        self._delete_retired(trash, stop=bool(came))
        self._remove_local()

    def _write_journal(self, entries):
        tmp = self.root / f"{JOURNAL}.tmp"
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, self.root / JOURNAL)

    def finish_publishing(self):
        """Complete a publish that a killed run left (its local journal says what): each output
        not yet in place is put there again, from the start.  True when there was one."""
        journal = self.root / JOURNAL
        if not journal.exists():
            return False
        self._put_all(json.loads(journal.read_text()))
        log.warning(msg.FINISHED_PUBLISHING.format(outdir=self.remote))
        ours = self._local_id()
        super()._clear()
        self._remove_stage(ours)
        return True

    def _put_all(self, entries):
        """Each output of the journal ``entries`` into place, report.json last; the old
        outputs' companions that this run does not write (a ``.msk`` GDAL would apply to the
        new file) deleted first.  Each entry is marked placed in the journal before its
        source in the stage is deleted, so that a publish cut off at any point is completed
        from what is left, never from part of a stage."""
        old = self._step("", lambda: self._there(companions(list(entries)), publishing=True))
        for name in old:
            self._step(name, lambda name=name: self._rm(self.remote / name, publishing=True))
        for name in sorted(entries, key=lambda name: name == "report.json"):
            entry = entries[name]
            if not entry.get("placed"):
                self._step(name, lambda name=name, entry=entry: self._place(name, entry))
                entry["placed"] = True
                self._write_journal(entries)
            if "stage" in entry:
                where = url.Remote(entry["stage"], self.remote.storage)
                self._step(name, lambda where=where: self._rm(where, publishing=True))

    def _step(self, name, call):
        """``call()``, a step of publishing ``name``; a failure to reach the store is one line
        saying that the next run completes the publish."""
        try:
            return call()
        except Exception as exc:
            if not url.not_read(exc):
                raise
            why = str(url.failure(self.remote / name, exc))
            raise RunError(
                msg.REMOTE_PUBLISH_LEFT.format(outdir=self.remote, why=why, root=self.root)
            ) from None

    def _place(self, name, entry):
        """The output ``name`` in place: the old one deleted, then the local file or folder
        uploaded, or the stage's chunks copied within the store, its metadata last."""
        fs, target = self._fs(), self.remote / name
        key = self._key(target)
        if "local" in entry:
            local = entry["local"]
            folder = os.path.isdir(local)

            def upload():  # the old one first, each try: a folder put twice would nest
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(key, recursive=True)
                parts = url.PARTS.get(self.remote.protocol, {})
                fs.put(local.rstrip("/") + "/" if folder else local, key, recursive=folder, **parts)

            url.retried(upload, target)
            return
        source = url.Remote(entry["stage"], self.remote.storage)
        src_key = self._key(source)
        found = url.retried(lambda: fs.find(src_key), source)
        if not found:  # not placed, and not in the stage: lost
            raise InputError(
                msg.REMOTE_CANNOT_FINISH.format(outdir=self.remote, name=name, root=self.root)
            )
        if not entry.get("in_place"):  # its chunks are in place already: not deleted
            self._rm(target, publishing=True)
        data = [k for k in found if k.rsplit("/", 1)[-1] not in _METADATA]
        meta = [k for k in found if k.rsplit("/", 1)[-1] in _METADATA]
        for keys in (data, meta):  # the metadata last: a reader sees no array until whole
            if keys:
                dest = [key + k[len(src_key) :] for k in keys]
                url.retried(lambda keys=keys, dest=dest: fs.copy(keys, dest), target)
