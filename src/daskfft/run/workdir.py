"""A run's work folder: its lock, fingerprint, done markers, resume, and atomic publishing.

While a run works, everything it writes lives in ``OUTDIR/.daskfft-work/``,
on OUTDIR's own filesystem (so publishing is a rename even when OUTDIR is a
mount point, and a run needs write access to OUTDIR only):

- ``lock``: held for the whole run (:mod:`daskfft.run.lock`: ``flock``, or where
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

Publishing moves every staged file into OUTDIR by rename, moving the old
file of the same name aside first, and with it the old file's companions
that the new run does not write (:data:`COMPANIONS`: a ``.msk`` GDAL would
apply to the new file), with SIGTERM and SIGINT held until it is done (or
undone).  Its journal ``publish.json`` names each source relative
to OUTDIR (so a moved OUTDIR keeps it valid) with its inode, so that a
source already renamed into place is told from one that was lost: a lost one
is an error, never skipped.  A failure part-way puts everything back, so
OUTDIR holds the old complete set; where putting back fails too, the error
says what is where and the journal stays.  A process killed part-way leaves
the journal, and the next run into OUTDIR, with or without ``--resume``,
completes it first; when it then finds the outputs of its own run there, it
says so and does nothing.

Once the outputs are published the run has succeeded: its work folder is
retired by one rename into ``OUTDIR/.daskfft-retired-*/`` and deleted
afterwards; an interruption or error while deleting only leaves that folder,
which the next run into OUTDIR deletes.  Finished chunks are never
discarded by a failure: the work folder is removed only after publishing, by
``--overwrite``, or when a run fails before its first chunk finished.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import stat
import tempfile
import threading
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
from daskfft.run.lock import BREAK_NAME, RunLock

__all__ = ["COMPANIONS", "WORK_NAME", "RETIRED_PREFIX", "RUN_NAMES", "WorkDir"]


log = logging.getLogger("daskfft")

#: What GDAL reads beside a file ``<name>`` as part of it: its mask, its PAM metadata
#: (statistics, nodata, georeferencing) and its external overviews.  Publishing ``<name>``
#: moves an old one aside with the old file: it describes the old file, never the new.
COMPANIONS = (".msk", ".aux.xml", ".ovr")

WORK_NAME = ".daskfft-work"

RETIRED_PREFIX = ".daskfft-retired-"

#: What a run creates in its work folder (``lock.break``: while it takes over a left lock),
#: besides its ``*.zarr`` stores, ``*.tmp`` files and the ``traceback-*.txt`` that earlier
#: versions of the command saved there for a bug (it now saves one beside the outputs,
#: ``OUTDIR/daskfft-traceback-*.txt``, which no run deletes).
RUN_NAMES = frozenset(
    {
        "lock",
        BREAK_NAME,
        "run.json",
        "publish.json",
        "cells",
        "done",
        "out",
        "replaced",
        "pyramid.tif",
    }
)


def _canonical(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, allow_nan=False))


def _is_ours(name):
    return (
        name in RUN_NAMES
        or name.endswith((".zarr", ".tmp"))
        or (name.startswith("traceback-") and name.endswith(".txt"))
    )


def _companions(names):
    """The files GDAL reads as part of the outputs ``names`` (:data:`COMPANIONS`), but those
    that are outputs themselves."""
    return [name + tail for name in names for tail in COMPANIONS if name + tail not in names]


def _remove_ours(folder, keep=()):
    """Remove the names a run creates from ``folder`` (a real folder), never following links;
    return the names left there."""
    left = []
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name in keep or not _is_ours(name):
            left.append(name)
        elif stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return left


def _own_folder(path):
    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()


def _delete_trash(trash):
    """Delete a retired work folder ``trash``/:data:`WORK_NAME`, only the names runs make."""
    work = os.path.join(trash, WORK_NAME)
    if os.path.lexists(work) and _own_folder(work) and not _remove_ours(work):
        os.rmdir(work)
    os.rmdir(trash)


@contextlib.contextmanager
def _signals_held():
    """Hold SIGTERM and SIGINT while the block runs; yield the list of those that came.

    Python runs signal handlers in the main thread only, so there the
    handlers are swapped for one that notes the signal; in another thread
    (an MPI rank 0's client) the main thread's handler cannot interrupt the
    block anyway.  Afterwards a signal whose handler was the default one
    (a library caller's SIGTERM) ends the process as it would have; one that
    Python handles (the command's) is left to the caller, which says it came.
    """
    came = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return
    old = {
        s: signal.signal(s, lambda signum, frame: came.append(signum))
        for s in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield came
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for s in set(came):
            if old[s] == signal.SIG_DFL:
                signal.raise_signal(s)


class WorkDir:
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
                raise InputError(
                    f"output {self.outdir}: {p} exists and is not a directory"
                ) from None
            except OSError as exc:
                self._remove_created()
                raise InputError(
                    f"output {self.outdir}: cannot create {p} ({exc.strerror or exc})"
                ) from None
            self._created.append(p)
        self._check_own()

    def _check_own(self):
        """Refuse a work folder or lock that is a link, of another type, or another user's."""
        for path, kind in ((self.root, stat.S_ISDIR), (self.root / "lock", stat.S_ISREG)):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                why = f"is a symbolic link (to {os.readlink(path)})"
            elif not kind(st.st_mode):
                why = "is not a " + ("folder" if kind is stat.S_ISDIR else "file")
            elif st.st_uid != os.geteuid():
                why = f"belongs to another user (uid {st.st_uid})"
            else:
                continue
            self._remove_created()
            raise InputError(
                f"output {self.outdir}: {path} {why}; daskfft keeps its work only "
                "in a folder of its own: remove it, or give another OUTDIR"
            )

    def acquire(self):
        """Create OUTDIR and the work folder if missing and take the run's lock
        (:class:`daskfft.run.lock.RunLock`)."""
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
            log.warning(
                "took over the lock of %s, left by %s, which is gone", self.outdir, previous
            )
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
            log.warning(
                "could not release the lock %s (%s); the outputs are published",
                lock.path,
                exc.strerror or exc,
            )
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
        return (self.root / "run.json").exists()

    def holds_finished(self, names, fingerprint):
        """True when OUTDIR holds every output ``names`` of the run ``fingerprint`` describes
        (its report.json says which run made them) and no work in progress."""
        if self.has_run() or not all((self.outdir / n).exists() for n in names):
            return False
        try:
            done = json.loads((self.outdir / "report.json").read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            return False
        return done == _canonical(fingerprint)

    def differences(self, fingerprint):
        """What differs between the folder's run and ``fingerprint``, as readable lines."""
        old = json.loads((self.root / "run.json").read_text())
        new = _canonical(fingerprint)
        diffs = []
        for section in sorted(set(old) | set(new)):
            a, b = old.get(section, {}), new.get(section, {})
            if not isinstance(a, dict) or not isinstance(b, dict):
                if a != b:
                    diffs.append(f"{section}: {a!r} then, {b!r} now")
                continue
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    diffs.append(f"{section}.{key}: {a.get(key)!r} then, {b.get(key)!r} now")
        return diffs

    def start_or_resume(
        self,
        fingerprint,
        *,
        resume,
        overwrite,
        create_stores,
        names=(),
        hint="pass --resume to finish it or --overwrite to start over",
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
                        f"--resume: the interrupted run in {self.root} differs: "
                        + "; ".join(diffs)
                        + " (use --overwrite to start over)"
                    )
                self._drop_partial_writes()
                self._opened = True
                return True
            if not overwrite:
                raise InputError(f"an interrupted run left {self.root}; {hint}")
        self._clear()
        for sub in ("cells", "done", "out"):
            (self.root / sub).mkdir()
        create_stores(self.root)
        tmp = self.root / "run.json.tmp"
        tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True, allow_nan=False))
        os.replace(tmp, self.root / "run.json")  # last: a folder with run.json is a whole start
        self._fresh = self._opened = True
        return False

    def _check_outputs(self, names, fingerprint, *, resume, overwrite):
        """Say when OUTDIR already holds this run's outputs; refuse others' unless ``overwrite``."""
        if resume and self.holds_finished(names, fingerprint):
            raise AlreadyComplete(
                f"{self.outdir}: already complete, with the same input and "
                "parameters (its report.json); nothing to resume"
            )
        there = sorted(n for n in {*names, *_companions(names)} if os.path.lexists(self.outdir / n))
        if there and not overwrite:
            raise InputError(
                f"output {self.outdir}: {', '.join(there)} already there; pass "
                "--overwrite to replace"
            )

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
            left = set(_remove_ours(self.root, keep=("lock",))) - {"lock"}
        except FileNotFoundError:
            if self.root.exists():
                raise  # a name that went while it was removed: not a folder that is gone
            return
        if left:
            log.warning("left %s in %s: not daskfft's", ", ".join(sorted(left)), self.root)

    def done(self):
        """Indices ``(i, j)`` of the chunks whose task finished."""
        folder = self.root / "done"
        names = os.listdir(folder) if folder.is_dir() else []
        return {tuple(int(k) for k in n.split("_")) for n in names}

    # --- publish --------------------------------------------------------------------------------

    def publish(self, staged):
        """Move ``staged`` (name -> path in the work folder) into OUTDIR, all or nothing.

        SIGTERM and SIGINT wait until the renames are done or undone.  Once
        every output is in place, nothing fails the run: the work folder is
        retired by one rename and then deleted, and an interruption or error
        while deleting only leaves it for the next run to delete.
        """
        with _signals_held() as came:
            stale = [n for n in _companions(staged) if os.path.lexists(self.outdir / n)]
            self._write_journal(staged, stale)
            moved = []
            try:
                for name in staged:
                    self._swap_in(name, Path(staged[name]), moved)
                for name in stale:
                    self._move_aside(name, moved)
            except BaseException as exc:
                self._roll_back(moved, exc)
            self._outputs_in = True  # before a signal can come: nothing fails the run now
            trash = self._retire()
        if came:
            log.warning(
                "%s came while publishing; the outputs were published first",
                " and ".join(signal.Signals(s).name for s in sorted(set(came))),
            )
        self._delete_retired(trash, stop=bool(came))

    def _write_journal(self, staged, stale=()):
        """Write ``publish.json``: each source relative to OUTDIR, and its inode; and the
        companions ``stale`` of the outputs, which are only moved aside (``{"aside": true}``)."""
        entries = {}
        for name, source in staged.items():
            try:
                inode = os.lstat(source).st_ino
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"output {self.outdir}: {name} is not in the work "
                    f"folder ({source}); nothing was published"
                ) from None
            entries[name] = {"source": os.path.relpath(source, self.outdir), "inode": inode}
        entries.update((name, {"aside": True}) for name in stale)
        (self.root / "replaced").mkdir(exist_ok=True)
        tmp = self.root / "publish.json.tmp"
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, self.root / "publish.json")

    def _swap_in(self, name, source, moved):
        """Rename the old ``name`` aside and ``source`` into place, noting each in ``moved``."""
        target = self.outdir / name
        self._move_aside(name, moved)
        os.rename(source, target)
        moved.append((source, target))

    def _move_aside(self, name, moved):
        """Rename OUTDIR's ``name``, if there, into ``replaced/``, noting it in ``moved``."""
        target = self.outdir / name
        aside = self.root / "replaced" / name
        if os.path.lexists(target):
            os.rename(target, aside)
            moved.append((target, aside))

    def _roll_back(self, moved, exc):
        """Undo the renames ``moved``, then raise the failure ``exc`` saying what is where."""
        stuck = []
        for old, new in reversed(moved):
            try:
                if os.path.lexists(old):  # the file that belongs there could not leave it
                    raise OSError(errno.EEXIST, "occupied")
                os.rename(new, old)
            except OSError as err:
                stuck.append(
                    f"{self._rel(new)} stays there, not back at {self._rel(old)} "
                    f"({err.strerror or err})"
                )
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        if stuck:
            raise RunError(
                f"output {self.outdir}: publishing failed ({reason}), and so did "
                f"putting OUTDIR back: {'; '.join(stuck)}; the journal "
                f"{self._rel(self.root / 'publish.json')} is kept, and the next run "
                "into OUTDIR completes the publishing"
            ) from exc
        (self.root / "publish.json").unlink()
        raise RunError(
            f"output {self.outdir}: publishing failed ({reason}); OUTDIR holds its previous files"
        ) from exc

    def _rel(self, path):
        return os.path.relpath(path, self.outdir)

    def _retire(self):
        """Move the published run's work folder out of the way by one rename; return where.

        A folder that holds names no run makes is not moved: its run is retired
        where it is (None), and only the names runs make are deleted.  The
        outputs are in place: an error here (reading the folder, making the
        retired folder, the rename) only leaves the folder where it is.
        """
        try:
            movable = all(_is_ours(name) for name in os.listdir(self.root))
        except OSError as exc:
            log.warning(
                "could not read %s (%s); retiring it where it is", self.root, exc.strerror or exc
            )
            movable = False
        if movable:
            trash = None
            if self._lock is not None:  # the lock file moves away with the folder: no run
                self._lock.stop_heartbeat()  # can take it there, and none must say it is lost
            try:
                trash = Path(tempfile.mkdtemp(prefix=RETIRED_PREFIX, dir=self.outdir))
                os.rename(self.root, trash / WORK_NAME)
                return trash
            except OSError as exc:
                log.warning(
                    "could not retire %s (%s); deleting it where it is",
                    self.root,
                    exc.strerror or exc,
                )
                if trash is not None:
                    with contextlib.suppress(OSError):
                        trash.rmdir()
                if self._lock is not None:  # still where runs look for it: keep it fresh
                    self._lock.start_heartbeat()
        with contextlib.suppress(OSError):
            (self.root / "run.json").unlink()  # published: the run is over
        with contextlib.suppress(OSError):
            (self.root / "publish.json").unlink()
        return None

    def _delete_retired(self, trash, *, stop=False):
        """Delete the retired work folder ``trash`` (None: the work folder, where it is); an
        error or interruption (``stop``: one that came before) only leaves it, said in a
        warning."""
        try:
            if stop:
                raise KeyboardInterrupt
            if trash is None:
                self._clear()
            else:
                _delete_trash(trash)
        except (OSError, KeyboardInterrupt) as exc:
            why = "stopped" if isinstance(exc, KeyboardInterrupt) else exc.strerror or str(exc)
            log.warning(
                "left %s to delete (%s); the outputs are published, and the next run "
                "into %s deletes it",
                trash or self.root,
                why,
                self.outdir,
            )

    def _remove_retired(self):
        """Delete the work folders that earlier runs retired but could not delete."""
        for name in os.listdir(self.outdir):
            path = self.outdir / name
            if name.startswith(RETIRED_PREFIX) and _own_folder(path):
                with contextlib.suppress(OSError):  # another run may be deleting it too
                    _delete_trash(path)

    def finish_publishing(self):
        """Complete a publish that a killed process left half done (its journal says what).

        Returns True when there was one.  A source neither in the work folder
        nor renamed into OUTDIR (the inode tells) is an error, before any rename.
        """
        journal = self.root / "publish.json"
        if not journal.exists():
            return False
        entries = json.loads(journal.read_text())
        todo = {}
        aside = []
        for name, entry in entries.items():
            if not isinstance(entry, dict):  # an older journal's: an absolute path
                entry = {"source": entry}
            if entry.get("aside"):  # an old output's companion: moved aside, if still there
                aside.append(name)
                continue
            source = self.outdir / entry["source"]
            if os.path.lexists(source):
                todo[name] = source
            elif not self._published(name, entry.get("inode")):
                raise InputError(
                    f"output {self.outdir}: the publishing an earlier run began cannot be "
                    f"finished: {entry['source']} is missing and {name} is not the file it "
                    f"held; put it back there, or remove {self.root} to start over"
                )
        with _signals_held() as came:
            for name, source in todo.items():
                self._swap_in(name, source, [])
            for name in aside:
                self._move_aside(name, [])
        for s in came:  # this run has done nothing yet: stop it now, as asked
            signal.raise_signal(s)
        log.warning("finished publishing %s, which an earlier run had started", self.outdir)
        self._clear()
        return True

    def _published(self, name, inode):
        """Whether OUTDIR's ``name`` is the source whose inode was ``inode`` (None: unknown)."""
        try:
            return inode is None or os.lstat(self.outdir / name).st_ino == inode
        except FileNotFoundError:
            return False

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
                log.warning(
                    "%s came once the outputs were published into %s: the run has "
                    "succeeded, and the next run into it deletes what is left of its "
                    "work",
                    "SIGTERM" if isinstance(exc, TermSignal) else "an interrupt",
                    self.outdir,
                )
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
        full = _no_space(exc, self.outdir)
        if full and (kept == 0 or not self._opened):
            return RunError(f"{full}; nothing was kept")
        if kept == 0 or not self._opened or isinstance(exc, GeneratorExit):
            return exc  # nothing of this run's to keep; a refusal says what to do itself
        first = full or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        tail = (
            f"{kept} of {total} chunks kept in {self.root}; rerun with --resume to finish"
            if kept < total
            else f"all {total} chunks kept in {self.root}; rerun with --resume to write the outputs"
        )
        if isinstance(exc, TermSignal):
            return Terminated(
                f"terminated by SIGTERM (a job's time limit, scancel or kill); {tail}"
            )
        if isinstance(exc, KeyboardInterrupt):
            return Interrupted(f"interrupted; {tail}")
        return RunFailed(f"{first}; {tail}", kept=kept, total=total, workdir=str(self.root))


def _no_space(exc, outdir):
    """One line naming the full file system, when ``exc`` (or what caused it) is ENOSPC or
    EDQUOT; None otherwise."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            mount = _mount_point(outdir)
            try:
                st = os.statvfs(mount)
                size = (
                    f"{st.f_blocks * st.f_frsize / 2**20:.0f} MiB, "
                    f"{st.f_bavail * st.f_frsize / 2**20:.1f} MiB free"
                )
            except OSError:
                size = "size unknown"
            what = "quota exceeded" if exc.errno == errno.EDQUOT else "no space left"
            return (
                f"output {outdir}: {what} on the file system mounted at {mount} ({size}); "
                "free space there, or give another OUTDIR"
            )
        exc = exc.__cause__ or exc.__context__
    return None


def _mount_point(path):
    """The mount point of the file system holding ``path`` (its nearest existing folder)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    dev = path.stat().st_dev
    while path != path.parent and path.parent.stat().st_dev == dev:
        path = path.parent
    return path
