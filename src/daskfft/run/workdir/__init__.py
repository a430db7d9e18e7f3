"""A run's work folder: its lock, fingerprint, done markers, resume, and atomic publishing.

While a run works, everything it writes lives in ``OUTDIR/.daskfft-work/``,
on OUTDIR's own filesystem (so publishing is a rename even when OUTDIR is a
mount point, and a run needs write access to OUTDIR only):

- ``lock``: held for the whole run (:mod:`daskfft.run.workdir.lock`: ``flock``, or where
  the file system has none an atomic ``O_EXCL`` file with a heartbeat), and
  naming its host and PID; a second run into the same OUTDIR is refused at
  once, and a lock left by a dead process is taken over;
- ``run.json``: the input's identity, every parameter and the daskfft
  version, so that ``--resume`` continues only the same run;
- ``filtered.zarr`` (and ``sample.zarr``): the result, chunk by chunk;
- ``cells/i_j.npz`` and ``done/i_j``: each chunk's summaries, then its marker
  (:mod:`daskfft.run.tasks`);
- ``out/``: the other finished files, staged for publishing;
- ``publish.json`` and ``replaced/``: only while publishing.

The work folder and its lock are used only when they are this user's own
folder and file, never through a symbolic link: anything else is refused.
Cleaning removes only the names a run creates (:data:`RUN_NAMES`, and
``*.zarr``, ``*.tmp`` and ``traceback-*.txt``), nothing else that may lie there.

Every check of OUTDIR's existing outputs happens under the lock, so that no
other run can publish between the check and this run's publishing.

The work folder is this package, split by job: its layout and cleaning
(:mod:`~daskfft.run.workdir.layout`), its record of the run and its finished chunks
(:mod:`~daskfft.run.workdir.journal`), publishing (:mod:`~daskfft.run.workdir.publish`),
the lock (:mod:`~daskfft.run.workdir.lock`) and what it tells the user
(:mod:`daskfft.messages.workdir`); :class:`WorkDir` here ties them into one object
whose :meth:`WorkDir.session` holds a run.  Every command that writes outputs into an
OUTDIR (``run``, ``align``; ``sample``, whose OUTDIR is its file's folder) stages them in
``out/`` and publishes them through it.
Finished chunks are never discarded by a failure: the work folder is removed only
after publishing, by ``--overwrite``, or when a run fails before its first chunk
finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from daskfft.errors import (
    AlreadyComplete,
    InputError,
    Interrupted,
    RunError,
    RunFailed,
    Terminated,
    TermSignal,
)
from daskfft.messages import workdir as msg
from daskfft.run.workdir import journal
from daskfft.run.workdir.layout import (
    COMPANIONS,
    RETIRED_PREFIX,
    RUN_NAMES,
    WORK_NAME,
    companions,
    no_space,
    os_reason,
    remove_ours,
)
from daskfft.run.workdir.lock import RunLock
from daskfft.run.workdir.publish import Publishing

__all__ = ["COMPANIONS", "WORK_NAME", "RETIRED_PREFIX", "RUN_NAMES", "WorkDir"]


log = logging.getLogger("daskfft")


class WorkDir(Publishing):
    """The work folder of runs into ``outdir``; use :meth:`session` around a run."""

    def __init__(self, outdir):
        self.outdir = Path(os.path.abspath(outdir))
        self.root = self.outdir / WORK_NAME
        self._lock = None
        self._created = []  # folders this run made, removed again if it leaves nothing
        self._outputs_in = False  # every output in place: from then on the run has succeeded

    @property
    def out(self):
        return self.root / "out"

    # --- lock -------------------------------------------------------------------------------

    def _makedirs(self):
        missing = []
        p = self.outdir
        while not p.exists():
            missing.append(p)
            p = p.parent
        for p in list(reversed(missing)) + [self.root] * (not os.path.lexists(self.root)):
            try:
                p.mkdir()
            except FileExistsError:
                if p.is_dir():
                    continue  # made by a run starting at the same moment: not ours to remove
                self._remove_created()
                raise InputError(msg.NOT_A_DIRECTORY.format(outdir=self.outdir, path=p)) from None
            except OSError as exc:
                self._remove_created()
                raise InputError(
                    msg.CANNOT_CREATE.format(outdir=self.outdir, path=p, reason=os_reason(exc))
                ) from None
            self._created.append(p)
        self._check_own()

    def _must_own(self):
        """What must be this user's own folder or file, never a link: ``(path, kind)``."""
        return ((self.root, stat.S_ISDIR), (self.root / "lock", stat.S_ISREG))

    def _check_own(self):
        """Refuse a work folder or lock that is a link, of another type, or another user's."""
        for path, kind in self._must_own():
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                why = msg.IS_A_LINK.format(target=os.readlink(path))
            elif not kind(st.st_mode):
                why = msg.IS_NOT_A.format(
                    kind=msg.KIND_FOLDER if kind is stat.S_ISDIR else msg.KIND_FILE
                )
            elif st.st_uid != os.geteuid():
                why = msg.OTHER_USER.format(uid=st.st_uid)
            else:
                continue
            self._remove_created()
            raise InputError(msg.NOT_OWN.format(outdir=self.outdir, path=path, why=why))

    def acquire(self):
        """Create OUTDIR and the work folder if missing and take the run's lock
        (:class:`daskfft.run.workdir.lock.RunLock`)."""
        lock = RunLock(self.root / "lock", self.outdir)
        while True:
            self._makedirs()
            try:
                previous = lock.acquire()
                break
            except FileNotFoundError:
                continue  # the work folder went with the lock of a run that just ended
            except BaseException:
                self._remove_created()
                raise
        if previous:
            log.warning(msg.LOCK_TAKEN_OVER.format(outdir=self.outdir, previous=previous))
        self._lock = lock

    def release(self):
        """Drop the lock; remove what this run created if it holds nothing else."""
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        try:
            lock.release()
        except OSError as exc:  # closing it (EIO, ESTALE on NFS)
            if not self._outputs_in:
                raise
            log.warning(msg.LOCK_NOT_RELEASED.format(path=lock.path, reason=os_reason(exc)))
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only if empty
        self._remove_created()

    def _remove_created(self):
        for p in reversed(self._created):
            with contextlib.suppress(OSError):
                p.rmdir()  # only if empty
        self._created = []

    # --- start or resume ----------------------------------------------------------------------

    def has_run(self):
        """Whether the work folder holds a run (:func:`daskfft.run.workdir.journal.has_run`)."""
        return journal.has_run(self.root)

    def holds_run_of(self, command):
        """Whether the work folder holds a run of ``command`` (``"align"``, ``"sample"``:
        :func:`daskfft.run.workdir.journal.command`)."""
        return self.has_run() and journal.command(self.root) == command

    def holds_finished(self, names, fingerprint):
        """True when OUTDIR holds every output ``names`` of the run ``fingerprint`` describes
        (its report.json says which run made them) and no work in progress."""
        return not self.has_run() and journal.finished(self.outdir, names, fingerprint)

    def differences(self, fingerprint):
        """What differs between the folder's run and ``fingerprint``, as readable lines."""
        return journal.differences(self.root, fingerprint)

    def start_or_resume(
        self,
        fingerprint,
        *,
        resume,
        overwrite,
        create_stores,
        names=(),
        hint=msg.RESUME_HINT,
    ):
        """Resume the folder's run (True) or start afresh (False); refuse what is ambiguous.

        Under the lock: a publish that a killed run left half done is
        completed first, then OUTDIR's outputs ``names`` are checked (the same
        run's, after ``resume`` or a completed publish: :class:`AlreadyComplete`;
        others' without ``overwrite``: refused).  ``create_stores(root)`` makes
        the result stores of a fresh start.  ``hint`` is what the refusal of an
        interrupted run's folder (without ``resume`` or ``overwrite``) tells the
        user to do, in the options of the command that calls.
        """
        self._remove_retired()
        completed = self.finish_publishing()
        self._check_outputs(names, fingerprint, resume=resume or completed, overwrite=overwrite)
        if self.has_run():
            if resume:
                diffs = self.differences(fingerprint)
                if diffs:
                    raise InputError(
                        msg.RESUME_DIFFERS.format(root=self.root, diffs="; ".join(diffs))
                    )
                self._drop_partial_writes()
                self._opened = True
                return True
            if not overwrite:
                raise InputError(msg.INTERRUPTED_RUN_LEFT.format(root=self.root, hint=hint))
        self._clear()
        for sub in ("cells", "done", "out"):
            (self.root / sub).mkdir()
        create_stores(self.root)
        journal.write_run(self.root, fingerprint)  # last: a folder with run.json is a whole start
        self._fresh = self._opened = True
        return False

    def _check_outputs(self, names, fingerprint, *, resume, overwrite):
        """Say when OUTDIR already holds this run's outputs; refuse others' unless ``overwrite``."""
        if resume and self.holds_finished(names, fingerprint):
            raise AlreadyComplete(msg.ALREADY_COMPLETE.format(outdir=self.outdir))
        there = sorted(n for n in {*names, *companions(names)} if os.path.lexists(self.outdir / n))
        if there and not overwrite:
            raise InputError(msg.OUTPUTS_THERE.format(outdir=self.outdir, names=", ".join(there)))

    def _drop_partial_writes(self):
        """Remove what a killed writer left half-written: zarr writes each chunk to a
        ``*.partial`` file and renames it once complete, so these are never data."""
        for path in self.root.rglob("*.partial"):
            with contextlib.suppress(OSError):
                path.unlink()

    def _clear(self):
        """Empty the work folder of what runs made in it (its run first), but its lock; a
        folder that is gone (retired) is left so."""
        for name in ("run.json", "publish.json"):  # an interruption then leaves only leftovers
            with contextlib.suppress(FileNotFoundError):
                (self.root / name).unlink()
        try:
            left = set(remove_ours(self.root, keep=("lock",))) - {"lock"}
        except FileNotFoundError:
            if self.root.exists():
                raise  # a name that went while it was removed: not a folder that is gone
            return
        if left:
            log.warning(msg.LEFT_NOT_OURS.format(names=", ".join(sorted(left)), root=self.root))

    def done(self):
        """Indices ``(i, j)`` of the chunks whose task finished."""
        return journal.done(self.root)

    # --- one run ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, total):
        """Hold the lock around a run of ``total`` chunks; on failure keep finished chunks.

        A failure before any chunk finished (and not resuming one that had)
        removes the work folder, unless a publish could not be put back: then
        its journal and the old outputs moved aside stay, as its error says,
        for the next run to complete.  Otherwise the chunks are kept, and the
        error is re-raised as :class:`RunFailed` (or :class:`Interrupted` for
        Ctrl-C) whose one-line message says how to resume.  Once
        :meth:`publish` has put every output in place the run has succeeded:
        a SIGTERM or Ctrl-C that comes after it only says so in a warning, and
        nothing is cleared (the work folder may be a new run's by then).
        """
        self._fresh = self._opened = self._outputs_in = False
        self.acquire()
        try:
            yield self
        except BaseException as exc:
            if self._outputs_in:
                if not isinstance(exc, KeyboardInterrupt):
                    raise  # a bug: said as one, but no failure of the run, nothing cleared
                what = msg.SIGTERM if isinstance(exc, TermSignal) else msg.AN_INTERRUPT
                log.warning(msg.CAME_AFTER_PUBLISHED.format(what=what, outdir=self.outdir))
                return
            reported = self._failed(exc, total)
            if reported is exc:
                raise
            raise reported from exc
        finally:
            self.release()

    def _failed(self, exc, total):
        if os.path.lexists(self.root / "publish.json"):
            # A publish that could not be put back: its error says what is where (the old
            # files in replaced/, the journal), and the next run completes it.  Nothing is
            # cleared, whether the session had chunks or none (align's).
            return exc
        kept = len(self.done()) if self.has_run() else 0
        if kept == 0 and self._fresh:
            self._clear()
        full = no_space(exc, self.outdir)
        if full and (kept == 0 or not self._opened):
            return RunError(msg.NOTHING_KEPT.format(full=full))
        if kept == 0 or not self._opened or isinstance(exc, GeneratorExit):
            return exc  # nothing of this run's to keep; a refusal says what to do itself
        first = full or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        tail = (msg.SOME_KEPT if kept < total else msg.ALL_KEPT).format(
            kept=kept, total=total, root=self.root
        )
        if isinstance(exc, TermSignal):
            return Terminated(msg.TERMINATED.format(tail=tail))
        if isinstance(exc, KeyboardInterrupt):
            return Interrupted(msg.INTERRUPTED.format(tail=tail))
        return RunFailed(
            msg.FAILED.format(first=first, tail=tail),
            kept=kept,
            total=total,
            workdir=str(self.root),
        )
