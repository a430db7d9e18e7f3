"""The work folder of a run whose OUTDIR is a URL (``s3://bucket/out``): local bookkeeping,
the result's chunks in the store, and publishing by copies within the store.

An object store has no rename and no lock, so a run into a URL keeps two places:

- **a local work folder**, ``.daskfft-remote/<OUTDIR's name>/.daskfft-work/`` in the current
  directory (shared with the workers on a cluster, as the working directory of a Slurm or MPI
  job is): the lock, run.json, the done markers, each chunk's summaries, and the finished
  files other than the image store (report.json, pictures; a TIFF or COG output), staged in
  ``out/``; it is what ``--resume`` reads;
- **the store's stage**, ``OUTDIR/.daskfft-work/``: a Zarr or OME-Zarr output's metadata
  (``zarr.json``, ``.zarray``...), its chunks written by the workers themselves, in parallel,
  in place where OUTDIR held none of the run's outputs when it began (nothing to open there
  without the metadata), else into the stage too, so that the old outputs stay whole until
  this run's replace them.

The stage is claimed before anything is made in it: an id in ``OUTDIR/.daskfft-work/owner.json``
and in the local ``stage.json``.  A run deletes or resumes only a stage it claimed; one that
another run claimed (from another directory or machine: its chunks may be that run's
finished work) is refused unless ``--overwrite``.

Publishing (:meth:`StoreWorkDir.publish`) replaces each output in OUTDIR: an old one of the
same name is deleted (there is no moving it aside), the image store's chunks are copied into
place within the store where they are in the stage (server-side, nothing through this
machine), then its metadata, so that a reader finds either no array or a complete one;
the local files are uploaded; ``report.json`` goes last, so that OUTDIR holding it means it
holds the whole set.  Each object is written whole (a PUT is atomic), but the set is not:
during publishing a reader may find some outputs new and some not yet.  The steps are in a
local journal first, each output marked placed there before its stage is deleted: a run
killed while publishing is completed by the next run into the same OUTDIR from the same
directory, with or without ``--resume``.  The lock is local: two
runs into one URL from two machines (or two directories) are not kept apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import stat
import uuid
from pathlib import Path

from daskfft import io
from daskfft.errors import AlreadyComplete, InputError
from daskfft.io import url
from daskfft.io.zarrstore import METADATA
from daskfft.messages import workdir as msg
from daskfft.run.workdir import WorkDir
from daskfft.run.workdir.journal import canonical
from daskfft.run.workdir.layout import IN_PLACE, WORK_NAME, companions
from daskfft.run.workdir.store_publish import StorePublishing

__all__ = ["LOCAL_NAME", "StoreWorkDir", "work_dir"]

log = logging.getLogger("daskfft")

#: The folder of the current directory holding the local work folders of URL OUTDIRs.
LOCAL_NAME = ".daskfft-remote"

#: The claim on the store's stage (in it), and its id in the local work folder.
OWNER, STAGE_ID = "owner.json", "stage.json"


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


class StoreWorkDir(StorePublishing, WorkDir):
    """The work folder of runs into the URL ``remote`` (a :class:`~daskfft.io.url.Remote`):
    local, with the image store's stage in the store (see the module's description)."""

    def __init__(self, remote):
        self.remote = remote
        self._starting = self._overwrite = self._cleaning_up = False
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
        there = self._there(sorted({*names, *companions(names)}))
        if there and self._own_in_place():  # this folder's run's chunks, written in place
            there = [n for n in there if n not in self._in_place()]
        if there and not overwrite and self._stage_owner() not in (None, self._local_id()):
            # another run's chunks in place, its metadata in its stage: its work
            raise InputError(msg.STAGE_NOT_OURS.format(stage=self.stage, root=self.root))
        if there and not overwrite:
            raise InputError(msg.OUTPUTS_THERE.format(outdir=self.remote, names=", ".join(there)))

    def _there(self, names, *, publishing=False):
        """Those of ``names`` that are in OUTDIR, by one listing of it.  A failure is one line,
        or while ``publishing`` raised as it came (as :meth:`_rm`'s)."""
        fs, key = self._fs(), self._key(self.remote)
        try:
            listed = url.retried(lambda: fs.ls(key, detail=False, refresh=True), self.remote)
        except FileNotFoundError:
            return []
        except Exception as exc:
            if publishing:
                raise
            raise url.failure(self.remote, exc) from None
        finally:
            fs.invalidate_cache(key)  # no later question answered from this listing
        found = {k.rstrip("/").rsplit("/", 1)[-1] for k in listed}
        return [n for n in names if n in found]

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
        """The local work folder emptied (:meth:`WorkDir._clear`), and the store's stage where
        it is this run's (:meth:`_remove_stage`), with the chunks it wrote in place."""
        ours = self._local_id()
        with self._best_effort():
            names = self._in_place() if self._own_in_place() else []
            if names:  # the run's record first: a deletion cut short leaves no run to resume
                with contextlib.suppress(FileNotFoundError):
                    (self.root / "run.json").unlink()
                for name in self._there(names):
                    self._rm(self.remote / name)
        super()._clear()
        with self._best_effort():
            self._remove_stage(ours)

    def _failed(self, exc, total):
        """As :meth:`WorkDir._failed`; the store's part of its cleaning up is best effort
        (:meth:`_best_effort`): the failure is what is said."""
        self._cleaning_up = True
        try:
            return super()._failed(exc, total)
        finally:
            self._cleaning_up = False

    @contextlib.contextmanager
    def _best_effort(self):
        """While cleaning up after a failure, a store that cannot be reached leaves what it
        holds for the next run (said in a warning), the failure's own error standing."""
        try:
            yield
        except Exception as exc:
            if not self._cleaning_up:
                raise
            log.warning(msg.CLEANUP_LEFT.format(outdir=self.remote, why=url.first_line(exc)))

    # --- chunks written in place ------------------------------------------------------------

    def _in_place(self):
        """The outputs whose chunks this folder's run writes in place (:data:`IN_PLACE`)."""
        try:
            return json.loads((self.root / IN_PLACE).read_text())
        except (OSError, ValueError):
            return []

    def _own_in_place(self):
        """Whether this folder's run wrote chunks in place, and its stage (where their
        metadata waits) is still its own: what is in place of its outputs' names is then
        its work, never another run's."""
        if not self._in_place():
            return False
        ours = self._local_id()
        return ours is not None and self._stage_owner() == ours

    def _choose_in_place(self, names):
        """The stores among the outputs ``names`` (Zarr, OME-Zarr) whose chunks go in place:
        all where OUTDIR holds none of ``names`` (their metadata in the stage until
        published: no array to open there before then), so that publishing copies no
        chunk; else none, the stores made in the stage, the old outputs kept whole until
        this run's replace them."""
        stores = [n for n in names if io.is_store_name(n)]
        if not stores:
            return []
        if self._there(names):
            log.info(msg.STAGED.format(outdir=self.remote, stage=self.stage))
            return []
        log.info(msg.IN_PLACE.format(outdir=self.remote, stage=self.stage))
        return stores

    def _has_metadata(self, name):
        """Whether the store ``name`` in OUTDIR has its metadata: a published output, not
        chunks written in place by a run that never published."""
        fs, key = self._fs(), self._key(self.remote / name)
        listed = url.retried(lambda: fs.ls(key, detail=False, refresh=True), self.remote / name)
        fs.invalidate_cache(key)
        return any(k.rstrip("/").rsplit("/", 1)[-1] in METADATA for k in listed)

    # --- the stage in the store, and whose it is --------------------------------------------

    def start_or_resume(self, fingerprint, *, resume, overwrite, create_stores, **options):
        """As :meth:`WorkDir.start_or_resume`; the store's stage is claimed (an id in
        ``OUTDIR/.daskfft-work/owner.json`` and in the local ``stage.json``) before any store
        is made in it, and a resumed run's stage must be the one it claimed.  A stage that
        another run claimed (from another directory or machine) is refused unless
        ``overwrite``: its chunks may be that run's finished work."""
        self._starting, self._overwrite = True, overwrite

        def claim_then_create(root):
            in_place = self._choose_in_place(options.get("names", ()))
            self._claim_stage(in_place)
            if in_place:
                (self.root / IN_PLACE).write_text(json.dumps(in_place))
            create_stores(root)

        try:
            resuming = super().start_or_resume(
                fingerprint,
                resume=resume,
                overwrite=overwrite,
                create_stores=claim_then_create,
                **options,
            )
        finally:
            self._starting = False
        return resuming

    def differences(self, fingerprint):
        """As :meth:`WorkDir.differences`, and the store's stage, where it is not the one this
        folder's run claimed (gone, or another run's since)."""
        diffs = super().differences(fingerprint)
        if self._stage_owner() != self._local_id():
            diffs.append(msg.STAGE_NOT_THIS_RUNS.format(stage=self.stage))
        return diffs

    def _claim_stage(self, in_place=()):
        """A new id for this run's stage, in the store and locally (the local one last), with
        the stores whose chunks it writes in place (whoever discards the stage deletes them)."""
        claim = {"id": uuid.uuid4().hex, "host": socket.gethostname(), "folder": str(self.root)}
        claim["in_place"] = list(in_place)
        fs, key = self._fs(), self._key(self.stage / OWNER)
        url.writing(self.stage, lambda: fs.pipe_file(key, json.dumps(claim).encode()))
        (self.root / STAGE_ID).write_text(claim["id"])

    def _local_id(self):
        try:
            return (self.root / STAGE_ID).read_text().strip() or None
        except OSError:
            return None

    def _stage_owner(self):
        """The id in the store's stage (None: no stage, or no claim in it)."""
        return self._stage_claim().get("id")

    def _stage_claim(self):
        """The claim in the store's stage (empty: no stage, or no claim in it)."""
        fs, key = self._fs(), self._key(self.stage / OWNER)
        try:
            claim = json.loads(url.retried(lambda: fs.cat_file(key), self.stage))
            return claim if isinstance(claim, dict) else {}
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}
        except Exception as exc:
            if url.not_read(exc):
                raise url.failure(self.stage / OWNER, exc) from None
            raise

    def _remove_stage(self, ours):
        """Delete the store's stage if it is the run ``ours``'s (its id); while starting, a
        stage another run claimed is refused, unless ``--overwrite``; otherwise (cleaning up
        after a failure) it is left as it is."""
        if not url.exists(self.stage):
            return
        claim = self._stage_claim()
        if ours is None or claim.get("id") != ours:
            if not self._starting:
                return
            if not self._overwrite:
                raise InputError(msg.STAGE_NOT_OURS.format(stage=self.stage, root=self.root))
            # another run's, discarded: with the chunks it wrote in place, never published
            for name in self._there(claim.get("in_place", [])):
                if not self._has_metadata(name):
                    self._rm(self.remote / name)
        self._rm(self.stage)

    def _rm(self, where, *, publishing=False):
        """Delete ``where`` (a prefix or an object) in the store, tried again as any request;
        gone already (a delete whose answer was lost) is done.  A failure is one line
        (:func:`daskfft.io.url.failure`), or while ``publishing`` raised as it came, for
        :meth:`_step` to say that the next run completes the publish."""
        fs, key = self._fs(), self._key(where)

        def rm():
            with contextlib.suppress(FileNotFoundError):
                fs.rm(key, recursive=True)

        if publishing:
            url.retried(rm, where)
        else:
            url.writing(where, rm)

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
