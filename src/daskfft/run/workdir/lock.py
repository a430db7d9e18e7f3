"""The run's lock: one daskfft run at a time into an OUTDIR, on any POSIX file system.

The lock is the file ``OUTDIR/.daskfft-work/lock``, opened with ``O_NOFOLLOW``
(a symbolic link there is refused), holding its holder's host, PID, PID
namespace, start time, heartbeat interval and ``stale`` as JSON.  It is
taken in one of two ways:

- ``flock`` where the file system has it (local disks, NFSv4, GPFS, Lustre
  mounted with ``-o flock``): the kernel lets go when the holder dies, however
  it dies, so a lock left by a run killed on this host is taken over at once.
  ``flock`` may hold only within one node and succeed on every node (Lustre
  mounted ``-o localflock``, NFS with ``local_lock=flock``), so it says that a
  holder has ended only of one on this host: a holder on another host is
  judged by its heartbeat, as below, even where ``flock`` succeeded (a lock
  left on another node is taken over after ``stale`` seconds);
- where ``flock`` fails with ENOSYS, EOPNOTSUPP or ENOLCK (Lustre without the
  ``flock`` mount option, some FUSE and NFS setups), by creating the file with
  ``O_CREAT | O_EXCL``, which is atomic on every POSIX file system: of two runs
  exactly one creates it.

Every holder (both ways) touches its lock every ``min(30, stale / 4)``
seconds (a daemon thread), so a run that has ``flock`` and one that has not
(Lustre clients mounted differently) still see each other.  A lock not
touched for ``stale`` seconds (:data:`STALE_SECONDS`, or the environment
variable :data:`STALE_ENV`) is taken to be left by a run killed elsewhere and
taken over, with a warning.  The holder writes its ``stale`` into the lock,
and others judge it by the larger of that and their own: a run with a
smaller :data:`STALE_ENV` does not take over a lock touched less often.  On
the holder's own host and in its PID namespace (recorded in the lock: a
container may share the host's name but not its PIDs) a PID that no longer
exists tells at once; a live PID, perhaps reused, keeps a lock only while
its heartbeat is fresh too.

One run at a time removes a left lock: it holds ``lock.break`` (created with
``O_EXCL``, holding its host, PID and ``stale`` as the lock does) while it
checks that the lock is still the file it judged left and removes it, so
that no run removes another's new lock.  A ``lock.break`` is judged as a lock
is: one whose run was killed while it held it is removed, if still the file
judged, once its PID or its age (``stale``, as for the lock) says so; and a
run removes its own only while it is still its own.

The file's age is read from the file system's clock against this host's: the
nodes' clocks should agree to well under ``stale`` seconds (NTP does).  A
live run is assumed never to stall for ``stale`` seconds, neither between
two heartbeats nor while it holds ``lock.break`` (a ``stat`` and an
``unlink``): one that does counts as dead, and others go on without it.  Two
runs that judge the same ``lock.break`` left each check that it is still
that file just before removing it: they could clash only within that check
and removal, and only after a run was killed while holding ``lock.break``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import math
import os
import socket
import threading
import time

from daskfft.errors import Busy, InputError
from daskfft.messages import workdir as msg
from daskfft.run.workdir.layout import BREAK_NAME, os_reason

__all__ = ["STALE_SECONDS", "STALE_ENV", "BREAK_NAME", "stale_after", "RunLock"]


log = logging.getLogger("daskfft")

#: Seconds without a heartbeat after which a lock taken without ``flock`` counts as left.
STALE_SECONDS = 300.0

#: The environment variable that overrides :data:`STALE_SECONDS` (seconds, > 0).
STALE_ENV = "DASKFFT_LOCK_STALE"

_NO_FLOCK = (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK)

_HELD = set()  # lock paths this process holds, or is taking

_HELD_GUARD = threading.Lock()


def stale_after():
    """Seconds without a heartbeat after which a lock counts as left: :data:`STALE_ENV`, or
    :data:`STALE_SECONDS` when it is unset.

    Raises
    ------
    InputError
        When :data:`STALE_ENV` is not a number of seconds > 0 (a ``ValueError`` too).
    """
    text = os.environ.get(STALE_ENV, "").strip()
    if not text:
        return STALE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(
            msg.STALE_NOT_SECONDS.format(env=STALE_ENV, text=text, default=STALE_SECONDS)
        )
    return value


def _flock(fd):
    """Take ``flock`` on ``fd`` without waiting (a function of its own: tests replace it)."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class RunLock:
    """The lock file ``path`` of the work folder of ``outdir`` (named in messages).

    :meth:`acquire` takes it or raises :class:`~daskfft.errors.Busy`;
    :meth:`release` lets it go and removes the file.
    """

    def __init__(self, path, outdir):
        self.path, self.outdir = str(path), outdir
        self._fd = None
        self._stop = threading.Event()
        self._beat = None

    @property
    def held(self):
        return self._fd is not None

    def acquire(self):
        """Take the lock; return its previous holder (a description) when one had left it
        behind, else None.

        Raises
        ------
        Busy
            When a live run holds it; the message names it and says what to do.
        InputError
            When the lock is a symbolic link, or cannot be created, or for a bad
            :data:`STALE_ENV`.
        """
        stale = stale_after()
        with _HELD_GUARD:  # one thread of this process at a time takes it, or holds it
            if self.path in _HELD:
                raise Busy(msg.BUSY_IN_THIS_PROCESS.format(outdir=self.outdir))
            _HELD.add(self.path)
        try:
            fd, previous, kind = self._by_flock(stale)
            if fd is None:
                fd, previous = self._by_creating(stale)
                kind = "file"
            self._every = min(30.0, stale / 4)
            os.ftruncate(fd, 0)
            os.pwrite(fd, _record(kind, stale, every=self._every), 0)  # others judge it by it
        except BaseException:
            _HELD.discard(self.path)
            raise
        self._fd = fd
        self.start_heartbeat()
        return _describe(previous)

    def start_heartbeat(self):
        """Touch the lock file every ``min(30, stale / 4)`` seconds (a daemon thread) until
        :meth:`stop_heartbeat` or :meth:`release`."""
        if self._fd is None or self._beat is not None:
            return
        self._stop.clear()
        self._beat = threading.Thread(
            target=self._heartbeat, args=(self._every,), name="daskfft-lock-heartbeat", daemon=True
        )
        self._beat.start()

    def stop_heartbeat(self):
        """Stop touching the lock file, still holding it (its ``flock`` and file descriptor):
        before the work folder that holds it is moved away, or the heartbeat would find it
        gone and say the lock was lost."""
        if self._beat is not None:
            self._stop.set()
            self._beat.join()
            self._beat = None

    def release(self):
        """Stop the heartbeat, remove the lock file (if still this run's) and let go."""
        if self._fd is None:
            return
        self.stop_heartbeat()  # first: it reads the file descriptor
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            if os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                os.unlink(self.path)  # let go, not left: the next run takes it without a warning
        os.close(fd)
        _HELD.discard(self.path)  # last: a thread of this process would take it as left

    # --- the two ways ----------------------------------------------------------------------

    def _open(self, flags):
        try:
            return os.open(self.path, flags | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError(
                    msg.LOCK_IS_A_LINK.format(outdir=self.outdir, path=self.path)
                ) from None
            if exc.errno in (errno.EEXIST, errno.ENOENT):
                raise
            raise InputError(
                msg.CANNOT_OPEN_LOCK.format(
                    outdir=self.outdir, path=self.path, reason=os_reason(exc)
                )
            ) from None

    def _by_flock(self, stale):
        """(fd, previous holder, how) by ``flock``; (None, None, None) where the file system
        has no ``flock`` and the file was there already.

        ``flock`` may hold only within one node (Lustre ``-o localflock``, NFS
        ``local_lock=flock``): it is trusted to say that a holder has ended only
        for one that took it on this host.  A holder elsewhere is judged by its
        heartbeat, and its left lock removed as without ``flock``, then created anew.
        """
        previous = None
        while True:
            created = True
            try:
                fd = self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                created = False
                try:
                    fd = self._open(os.O_RDWR)
                except FileNotFoundError:
                    continue  # its holder let go meanwhile
            try:
                _flock(fd)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise Busy(self._refusal(holder)) from None
            except OSError as exc:
                if exc.errno not in _NO_FLOCK:
                    os.close(fd)
                    raise
                log.debug(msg.NO_FLOCK.format(path=self.path, reason=os.strerror(exc.errno)))
                if created:  # made with O_EXCL: held already
                    return fd, None, "file"
                os.close(fd)
                return None, None, None
            try:
                if os.fstat(fd).st_ino != os.stat(self.path, follow_symlinks=False).st_ino:
                    os.close(fd)  # a lock file that its holder removed while we waited
                    continue
            except FileNotFoundError:
                os.close(fd)
                continue
            if created:
                return fd, previous, "flock"
            holder = _written(fd, stale)
            if (
                holder
                and holder.get("kind") == "flock"
                and holder.get("host") == socket.gethostname()
            ):
                return fd, holder, "flock"  # this host's kernel let go: its holder has ended
            age, st = _age(fd), os.fstat(fd)
            os.close(fd)
            previous = self._take_over(holder, age, st, stale) or previous

    def _by_creating(self, stale):
        """(fd, previous holder) by creating the file with ``O_EXCL``; a stale one is removed
        first."""
        previous = None
        while True:
            try:
                return self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL), previous
            except FileExistsError:
                pass
            try:
                fd = self._open(os.O_RDONLY)
            except FileNotFoundError:
                continue  # its holder let go meanwhile
            holder, age, st = _written(fd, stale), _age(fd), os.fstat(fd)
            os.close(fd)
            previous = self._take_over(holder, age, st, stale) or previous

    def _take_over(self, holder, age, st, stale):
        """Raise :class:`Busy` where ``holder`` (its lock ``st``, ``age`` seconds since the
        last heartbeat) lives; else remove its lock if still there, and return the holder
        (a dict) if this run removed it."""
        stale = _stale_for(holder, stale)
        if _alive(holder or {}, age, stale):
            raise Busy(self._refusal(holder, age, stale))
        if self._remove_stale((st.st_ino, st.st_mtime_ns), stale):
            return holder or {
                "host": msg.UNKNOWN,
                "pid": msg.UNKNOWN,
                "since": msg.SINCE_AGO.format(age=age),
            }
        return None

    def _remove_stale(self, seen, stale):
        """Remove the left lock, ``seen`` as (inode, mtime), if it still is that file; return
        whether it was removed.

        The check and the removal happen while this run holds :data:`BREAK_NAME`
        (created with ``O_EXCL``): no other run removes the lock meanwhile, so
        none can have made a new one in its place (a run creates the lock only
        where none is), and a new lock is never removed by mistake.  Where
        another run holds it, this one waits (returns False, to judge the lock
        again); one left by a killed run is removed once judged left.
        """
        brk = os.path.join(os.path.dirname(self.path), BREAK_NAME)
        try:
            fd = os.open(brk, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            self._judge_break(brk, stale)
            return False
        except OSError as exc:
            raise InputError(
                msg.CANNOT_CREATE.format(outdir=self.outdir, path=brk, reason=os_reason(exc))
            ) from None
        try:
            os.pwrite(fd, _record("break", stale), 0)
            try:
                st = os.stat(self.path, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if (st.st_ino, st.st_mtime_ns) != seen:
                return False  # another run's new lock, or this one touched meanwhile
            os.unlink(self.path)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):  # removed as left: this run stalled
                if os.stat(brk, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                    os.unlink(brk)  # still this run's: no other removes it while it lives
            os.close(fd)

    def _judge_break(self, brk, stale):
        """Wait a little while another run holds :data:`BREAK_NAME`; remove it where it was
        left by a run killed while it held it (judged as a lock is), if still that file."""
        try:
            fd = os.open(brk, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return  # let go meanwhile
        except OSError as exc:
            raise InputError(
                msg.CANNOT_OPEN.format(outdir=self.outdir, path=brk, reason=os_reason(exc))
            ) from None
        try:
            holder, age, seen = _written(fd, stale), _age(fd), os.fstat(fd)
        finally:
            os.close(fd)
        if _alive(holder or {}, age, _stale_for(holder, stale)):
            time.sleep(0.05)  # another run is removing the left lock: judge it again
            return
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(brk, follow_symlinks=False)
            if (st.st_ino, st.st_mtime_ns) == (seen.st_ino, seen.st_mtime_ns):
                os.unlink(brk)
                log.warning(
                    msg.BREAK_REMOVED.format(
                        path=brk, holder=_describe(holder) or msg.HOLDER_UNKNOWN
                    )
                )

    def _heartbeat(self, every):
        """Touch the lock every ``every`` seconds until released; say so if it was lost."""
        lost = False
        while not self._stop.wait(every):
            try:
                os.utime(self._fd)
                mine = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(self._fd).st_ino
            except (OSError, TypeError):
                mine = False
            if not mine and not lost:
                lost = True
                log.error(msg.LOCK_LOST.format(path=self.path, outdir=self.outdir))

    def _refusal(self, holder, age=None, stale=None):
        who = _describe(holder) or msg.HOLDER_UNKNOWN
        if age is None:  # flock: the kernel says it lives
            return msg.BUSY.format(outdir=self.outdir, who=who)
        return msg.BUSY_HEARTBEAT.format(
            outdir=self.outdir, who=who, age=age, path=self.path, stale=stale, env=STALE_ENV
        )


def _record(kind, stale, **more):
    """What a holder of the lock (``kind`` "flock" or "file") or of :data:`BREAK_NAME` writes
    there (JSON bytes): others judge it by it."""
    return json.dumps(
        {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pidns": _pid_namespace(),
            "kind": kind,
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
            "stale": stale,
            **more,
        }
    ).encode()


def _pid_namespace():
    """This process's PID namespace ("pid:[4026531836]"), or None where there is no /proc
    (macOS: one namespace)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _read(fd):
    """The holder's JSON in ``fd``, or None (empty: being written, or unreadable)."""
    try:
        who = json.loads(os.pread(fd, 4096, 0) or b"null")
    except ValueError:
        return None
    return who if isinstance(who, dict) else None


def _written(fd, stale):
    """The holder's JSON in ``fd``, waiting up to 2 s while the file is new and empty (created,
    its holder not written yet); None if it stays so."""
    patience = time.monotonic() + 2
    while True:
        holder = _read(fd)
        if holder is not None or _age(fd) >= stale or time.monotonic() >= patience:
            return holder
        time.sleep(0.02)


def _age(fd):
    return max(0.0, time.time() - os.fstat(fd).st_mtime)


def _stale_for(holder, stale):
    """The stale time to judge ``holder`` by: this run's, or the holder's own where larger (it
    touches its lock every ``min(30, its stale / 4)`` seconds)."""
    try:
        theirs = float((holder or {}).get("stale"))
    except (TypeError, ValueError):
        return stale
    return theirs if math.isfinite(theirs) and theirs > stale else stale


def _alive(holder, age, stale):
    """Whether ``holder`` (its lock ``age`` seconds since the last heartbeat) still runs: not
    when it has not beaten for ``stale`` seconds, whatever its PID (one may be reused); else,
    on this host and in this PID namespace, its PID says; elsewhere, yes."""
    if age > stale:
        return False
    pid = holder.get("pid")
    if (
        holder.get("host") == socket.gethostname()
        and isinstance(pid, int)
        and holder.get("pidns") == _pid_namespace()
    ):
        if pid == os.getpid():
            return False  # not held by this process (_HELD says): left by an earlier run
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    return True


def _describe(holder):
    if not holder:
        return None
    return msg.HOLDER.format(
        host=holder.get("host"), pid=holder.get("pid"), since=holder.get("since")
    )
