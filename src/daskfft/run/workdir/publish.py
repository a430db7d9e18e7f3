"""Publishing: the staged outputs moved into OUTDIR all or nothing, and the work folder
retired after.

Publishing moves every staged file into OUTDIR by rename, moving the old
file of the same name aside first, and with it the old file's companions
that the new run does not write (:data:`~daskfft.run.workdir.layout.COMPANIONS`: a ``.msk``
GDAL would apply to the new file), with SIGTERM and SIGINT held until it is done (or
undone).  Its journal ``publish.json`` names each source relative
to OUTDIR (so a moved OUTDIR keeps it valid) with its inode, so that a
source already renamed into place is told from one that was lost: a lost one
is an error, never skipped.  A failure part-way puts everything back, so
OUTDIR holds the old complete set; where putting back fails too, the error
says what is where and the journal stays.  A process killed part-way leaves
the journal, and the next run into OUTDIR, with or without ``--resume``,
completes it first.

Once the outputs are published the run has succeeded: its work folder is
retired by one rename into ``OUTDIR/.daskfft-retired-*/`` and deleted
afterwards; an interruption or error while deleting only leaves that folder,
which the next run into OUTDIR deletes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import tempfile
import threading
from pathlib import Path

from daskfft.errors import InputError, RunError
from daskfft.messages import workdir as msg
from daskfft.run.workdir.layout import (
    RETIRED_PREFIX,
    WORK_NAME,
    companions,
    delete_trash,
    is_ours,
    os_reason,
    own_folder,
)

__all__ = ["JOURNAL", "signals_held", "Publishing"]

log = logging.getLogger("daskfft")

#: The journal of a publish under way, in the work folder.
JOURNAL = "publish.json"


@contextlib.contextmanager
def signals_held():
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


class Publishing:
    """The publishing half of :class:`~daskfft.run.workdir.WorkDir` (mixed into it): moves
    the staged outputs into ``self.outdir``, retires ``self.root`` and completes a publish
    that a killed run left.  Uses the work folder's ``_lock``, ``_outputs_in`` and
    ``_clear``."""

    def publish(self, staged):
        """Move ``staged`` (name -> path in the work folder) into OUTDIR, all or nothing.

        SIGTERM and SIGINT wait until the renames are done or undone.  Once
        every output is in place, nothing fails the run: the work folder is
        retired by one rename and then deleted, and an interruption or error
        while deleting only leaves it for the next run to delete.
        """
        with signals_held() as came:
            stale = [n for n in companions(staged) if os.path.lexists(self.outdir / n)]
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
            names = " and ".join(signal.Signals(s).name for s in sorted(set(came)))
            log.warning(msg.SIGNALS_WHILE_PUBLISHING.format(signals=names))
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
                    msg.NOT_STAGED.format(outdir=self.outdir, name=name, source=source)
                ) from None
            entries[name] = {"source": os.path.relpath(source, self.outdir), "inode": inode}
        entries.update((name, {"aside": True}) for name in stale)
        (self.root / "replaced").mkdir(exist_ok=True)
        tmp = self.root / "publish.json.tmp"
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, self.root / JOURNAL)

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
                    raise OSError(errno.EEXIST, msg.OCCUPIED)
                os.rename(new, old)
            except OSError as err:
                stuck.append(
                    msg.STUCK.format(new=self._rel(new), old=self._rel(old), reason=os_reason(err))
                )
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        if stuck:
            raise RunError(
                msg.PUBLISH_FAILED_STUCK.format(
                    outdir=self.outdir,
                    reason=reason,
                    stuck="; ".join(stuck),
                    journal=self._rel(self.root / JOURNAL),
                )
            ) from exc
        (self.root / JOURNAL).unlink()
        raise RunError(msg.PUBLISH_FAILED.format(outdir=self.outdir, reason=reason)) from exc

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
            movable = all(is_ours(name) for name in os.listdir(self.root))
        except OSError as exc:
            log.warning(msg.CANNOT_READ_WORK.format(root=self.root, reason=os_reason(exc)))
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
                log.warning(msg.CANNOT_RETIRE.format(root=self.root, reason=os_reason(exc)))
                if trash is not None:
                    with contextlib.suppress(OSError):
                        trash.rmdir()
                if self._lock is not None:  # still where runs look for it: keep it fresh
                    self._lock.start_heartbeat()
        with contextlib.suppress(OSError):
            (self.root / "run.json").unlink()  # published: the run is over
        with contextlib.suppress(OSError):
            (self.root / JOURNAL).unlink()
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
                delete_trash(trash)
        except (OSError, KeyboardInterrupt) as exc:
            why = "stopped" if isinstance(exc, KeyboardInterrupt) else exc.strerror or str(exc)
            log.warning(
                msg.LEFT_TO_DELETE.format(folder=trash or self.root, why=why, outdir=self.outdir)
            )

    def _remove_retired(self):
        """Delete the work folders that earlier runs retired but could not delete."""
        for name in os.listdir(self.outdir):
            path = self.outdir / name
            if name.startswith(RETIRED_PREFIX) and own_folder(path):
                with contextlib.suppress(OSError):  # another run may be deleting it too
                    delete_trash(path)

    def finish_publishing(self):
        """Complete a publish that a killed process left half done (its journal says what).

        Returns True when there was one.  A source neither in the work folder
        nor renamed into OUTDIR (the inode tells) is an error, before any rename.
        """
        journal = self.root / JOURNAL
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
                    msg.CANNOT_FINISH_PUBLISHING.format(
                        outdir=self.outdir, source=entry["source"], name=name, root=self.root
                    )
                )
        with signals_held() as came:
            for name, source in todo.items():
                self._swap_in(name, source, [])
            for name in aside:
                self._move_aside(name, [])
        for s in came:  # this run has done nothing yet: stop it now, as asked
            signal.raise_signal(s)
        log.warning(msg.FINISHED_PUBLISHING.format(outdir=self.outdir))
        self._clear()
        return True

    def _published(self, name, inode):
        """Whether OUTDIR's ``name`` is the source whose inode was ``inode`` (None: unknown)."""
        try:
            return inode is None or os.lstat(self.outdir / name).st_ino == inode
        except FileNotFoundError:
            return False
