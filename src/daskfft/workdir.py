"""A run's work folder: its lock, fingerprint, done markers, resume, and atomic publishing.

While a run works, everything it writes lives in ``OUTDIR/.daskfft-work/``,
on OUTDIR's own filesystem (so publishing is a rename even when OUTDIR is a
mount point, and a run needs write access to OUTDIR only):

- ``lock``: held with ``flock`` for the whole run, and naming its host and
  PID; a second run into the same OUTDIR is refused at once, and a lock left
  by a dead process is taken over;
- ``run.json``: the input's identity, every parameter and the daskfft
  version, so that ``--resume`` continues only the same run;
- ``filtered.zarr`` (and ``sample.zarr``): the result, chunk by chunk;
- ``cells/i_j.npz`` and ``done/i_j``: each chunk's summaries, then its marker
  (:mod:`daskfft.tasks`);
- ``out/``: the other finished files, staged for publishing;
- ``publish.json`` and ``replaced/``: only while publishing.

Publishing moves every staged file into OUTDIR by rename, moving the old
file of the same name aside first.  A failure part-way puts everything back,
so OUTDIR holds the old complete set; a process killed part-way leaves the
journal ``publish.json``, and the next run into OUTDIR completes it first.
Finished chunks are never discarded by a failure: the work folder is removed
only after publishing, by ``--overwrite``, or when a run fails before its
first chunk finished.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
from pathlib import Path

from .errors import Busy, InputError, Interrupted, RunError, RunFailed, Terminated, TermSignal

__all__ = ["WORK_NAME", "WorkDir"]

log = logging.getLogger("daskfft")

WORK_NAME = ".daskfft-work"


def _canonical(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, allow_nan=False))


class WorkDir:
    """The work folder of runs into ``outdir``; use :meth:`session` around a run."""

    def __init__(self, outdir):
        self.outdir = Path(os.path.abspath(outdir))
        self.root = self.outdir / WORK_NAME
        self._lock = None
        self._created = []  # folders this run made, removed again if it leaves nothing

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
        for p in list(reversed(missing)) + [self.root] * (not self.root.exists()):
            try:
                p.mkdir()
            except OSError as exc:
                self._remove_created()
                raise InputError(f"output {self.outdir}: cannot create {p} "
                                 f"({exc.strerror or exc})") from None
            self._created.append(p)

    def acquire(self):
        """Create OUTDIR and the work folder if missing and take the run's lock."""
        self._makedirs()
        path = self.root / "lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                os.close(fd)
                self._remove_created()
                raise Busy(f"output {self.outdir}: in use by another daskfft run "
                           f"({holder}); wait for it to finish or stop it") from None
            except OSError as exc:  # a filesystem without flock: the PID must tell
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                if self._holder_alive(fd):
                    holder = self._holder(fd)
                    os.close(fd)
                    self._remove_created()
                    raise Busy(f"output {self.outdir}: in use by another daskfft run "
                               f"({holder}); wait for it to finish or stop it") from None
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break  # not a lock file that its holder removed while we waited
            os.close(fd)
        previous = self._holder(fd)
        if previous:
            log.warning("took over the lock of %s, left by %s, which is gone", self.outdir,
                        previous)
        os.ftruncate(fd, 0)
        me = {"host": socket.gethostname(), "pid": os.getpid(),
              "since": _dt.datetime.now().isoformat(timespec="seconds")}
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self._lock = fd

    @staticmethod
    def _holder(fd):
        try:
            who = json.loads(os.pread(fd, 4096, 0) or b"null")
        except ValueError:
            return None
        if not who:
            return None
        return f"host {who.get('host')}, PID {who.get('pid')}, since {who.get('since')}"

    @staticmethod
    def _holder_alive(fd):
        try:
            who = json.loads(os.pread(fd, 4096, 0) or b"null") or {}
        except ValueError:
            return False
        if who.get("host") != socket.gethostname():
            return bool(who)  # cannot tell: assume it lives
        try:
            os.kill(int(who["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return int(who["pid"]) != os.getpid()

    def release(self):
        """Drop the lock; remove what this run created if it holds nothing else."""
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        if self.root.exists() and {p.name for p in self.root.iterdir()} <= {"lock"}:
            with contextlib.suppress(OSError):
                (self.root / "lock").unlink()
                self.root.rmdir()
        with contextlib.suppress(OSError):
            os.ftruncate(lock, 0)  # let go, not left: the next run takes it without a warning
        os.close(lock)
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

    def start_or_resume(self, fingerprint, *, resume, overwrite, create_stores):
        """Resume the folder's run (True) or start afresh (False); refuse what is ambiguous.

        ``create_stores(root)`` makes the result stores of a fresh start.
        """
        self.finish_publishing()
        if self.has_run():
            if resume:
                diffs = self.differences(fingerprint)
                if diffs:
                    raise InputError(f"--resume: the interrupted run in {self.root} differs: "
                                     + "; ".join(diffs) + " (use --overwrite to start over)")
                self._drop_partial_writes()
                self._opened = True
                return True
            if not overwrite:
                raise InputError(f"an interrupted run left {self.root}; pass --resume to finish "
                                 "it or --overwrite to start over")
        self._clear()
        for sub in ("cells", "done", "out"):
            (self.root / sub).mkdir()
        create_stores(self.root)
        tmp = self.root / "run.json.tmp"
        tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True, allow_nan=False))
        os.replace(tmp, self.root / "run.json")  # last: a folder with run.json is a whole start
        self._fresh = self._opened = True
        return False

    def _drop_partial_writes(self):
        """Remove what a killed writer left half-written: zarr writes each chunk to a
        ``*.partial`` file and renames it once complete, so these are never data."""
        for path in self.root.rglob("*.partial"):
            with contextlib.suppress(OSError):
                path.unlink()

    def _clear(self):
        for p in self.root.iterdir():
            if p.name == "lock":
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()

    def done(self):
        """Indices ``(i, j)`` of the chunks whose task finished."""
        folder = self.root / "done"
        names = os.listdir(folder) if folder.is_dir() else []
        return {tuple(int(k) for k in n.split("_")) for n in names}

    # --- publish --------------------------------------------------------------------------------

    def publish(self, staged):
        """Move ``staged`` (name -> path in the work folder) into OUTDIR, all or nothing."""
        journal = self.root / "publish.json"
        (self.root / "replaced").mkdir(exist_ok=True)
        tmp = journal.with_suffix(".tmp")
        tmp.write_text(json.dumps({name: str(path) for name, path in staged.items()}))
        os.replace(tmp, journal)
        moved = []
        try:
            for name, source in staged.items():
                self._swap_in(name, Path(source), moved)
        except BaseException as exc:
            for old, new in reversed(moved):
                with contextlib.suppress(OSError):
                    os.rename(new, old)
            journal.unlink()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise RunError(f"output {self.outdir}: publishing failed ({reason}); OUTDIR holds "
                          f"its previous files") from exc
        self._clear()  # published: only the lock is left, removed on release

    def _swap_in(self, name, source, moved):
        """Rename the old ``name`` aside and ``source`` into place, adding each step to ``moved``."""
        target = self.outdir / name
        aside = self.root / "replaced" / name
        if target.exists() or target.is_symlink():
            os.rename(target, aside)
            moved.append((target, aside))
        os.rename(source, target)
        moved.append((source, target))

    def finish_publishing(self):
        """Complete a publish that a killed process left half done (its journal says what)."""
        journal = self.root / "publish.json"
        if not journal.exists():
            return
        staged = json.loads(journal.read_text())
        for name, source in staged.items():
            if Path(source).exists():
                self._swap_in(name, Path(source), [])
        log.warning("finished publishing %s, which an earlier run had started", self.outdir)
        self._clear()

    # --- one run ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, total):
        """Hold the lock around a run of ``total`` chunks; on failure keep finished chunks.

        A failure before any chunk finished (and not resuming one that had)
        removes the work folder; after that the chunks are kept, and the
        error is re-raised as :class:`RunFailed` (or :class:`Interrupted` for
        Ctrl-C) whose one-line message says how to resume.
        """
        self._fresh = self._opened = False
        self.acquire()
        try:
            yield self
        except BaseException as exc:
            reported = self._failed(exc, total)
            if reported is exc:
                raise
            raise reported from exc
        finally:
            self.release()

    def _failed(self, exc, total):
        kept = len(self.done()) if self.has_run() else 0
        if kept == 0 and self._fresh:
            self._clear()
        full = _no_space(exc, self.outdir)
        if full and (kept == 0 or not self._opened):
            return RunError(f"{full}; nothing was kept")
        if kept == 0 or not self._opened or isinstance(exc, GeneratorExit):
            return exc  # nothing of this run's to keep; a refusal says what to do itself
        first = full or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        tail = (f"{kept} of {total} chunks kept in {self.root}; rerun with --resume to finish"
                if kept < total else f"all {total} chunks kept in {self.root}; rerun with "
                "--resume to write the outputs")
        if isinstance(exc, TermSignal):
            return Terminated(f"terminated by SIGTERM (a job's time limit, scancel or kill); "
                              f"{tail}")
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
                size = f"{st.f_blocks * st.f_frsize / 2**20:.0f} MiB, " \
                       f"{st.f_bavail * st.f_frsize / 2**20:.1f} MiB free"
            except OSError:
                size = "size unknown"
            what = "quota exceeded" if exc.errno == errno.EDQUOT else "no space left"
            return (f"output {outdir}: {what} on the file system mounted at {mount} ({size}); "
                    "free space there, or give another OUTDIR")
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
