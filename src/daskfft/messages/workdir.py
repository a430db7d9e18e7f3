"""What the work folder tells the user: its refusals, errors and warnings.

The modules of the work folder (:mod:`~daskfft.run.workdir`,
:mod:`~daskfft.run.workdir.lock`, :mod:`~daskfft.run.workdir.publish`) and the
``sample`` command fill them in.
"""

from __future__ import annotations

# --- opening the work folder ------------------------------------------------------------------

NOT_A_DIRECTORY = "output {outdir}: {path} exists and is not a directory"
CANNOT_CREATE = "output {outdir}: cannot create {path} ({reason})"
IS_A_LINK = "is a symbolic link (to {target})"
IS_NOT_A = "is not a {kind}"
KIND_FOLDER = "folder"
KIND_FILE = "file"
OTHER_USER = "belongs to another user (uid {uid})"
NOT_OWN = (
    "output {outdir}: {path} {why}; daskfft keeps its work only "
    "in a folder of its own: remove it, or give another OUTDIR"
)
# --- the lock ----------------------------------------------------------------------------------

BUSY = "output {outdir}: in use by another daskfft run ({who}); wait for it to finish or stop it"
BUSY_HEARTBEAT = (
    "output {outdir}: in use by another daskfft run ({who}, last heartbeat "
    "{age:.0f} s ago); wait for it to finish or stop it; if it was killed, "
    "delete {path} once no daskfft run writes into "
    "{outdir}, or wait: a lock with no heartbeat for {stale:.0f} s is taken "
    "over ({env} of its run, or of this one if larger)"
)
BUSY_IN_THIS_PROCESS = (
    "output {outdir}: in use by another daskfft run in this process; wait for it to finish"
)
HOLDER = "host {host}, PID {pid}, since {since}"
HOLDER_UNKNOWN = "holder unknown"
UNKNOWN = "unknown"
SINCE_AGO = "{age:.0f} s ago"
STALE_NOT_SECONDS = (
    "{env} must be a number of seconds > 0, got {text!r}; set it to e.g. {default:.0f}, or unset it"
)
LOCK_IS_A_LINK = (
    "output {outdir}: the lock {path} is a symbolic link, which daskfft never follows; "
    "remove the link"
)
CANNOT_OPEN_LOCK = "output {outdir}: cannot open the lock {path} ({reason})"
CANNOT_OPEN = "output {outdir}: cannot open {path} ({reason})"
NO_FLOCK = "no flock on {path} ({reason}): locking by creating the file"
BREAK_REMOVED = "removed {path}, left by a run killed while it took over a lock ({holder})"
LOCK_LOST = (
    "the lock {path} of this run was removed or replaced: another run may now write into {outdir}"
)
LOCK_TAKEN_OVER = "took over the lock of {outdir}, left by {previous}, which is gone"
LOCK_NOT_RELEASED = "could not release the lock {path} ({reason}); the outputs are published"

# --- start or resume ---------------------------------------------------------------------------

DIFFERS = "{section}: {then!r} then, {now!r} now"
DIFFERS_KEY = "{section}.{key}: {then!r} then, {now!r} now"
RESUME_DIFFERS = (
    "--resume: the interrupted run in {root} differs: {diffs} (use --overwrite to start over)"
)
INTERRUPTED_RUN_LEFT = "an interrupted run left {root}; {hint}"
RESUME_HINT = "pass --resume to finish it or --overwrite to start over"
ALREADY_COMPLETE = (
    "{outdir}: already complete, with the same input and "
    "parameters (its report.json); nothing to resume"
)
OUTPUTS_THERE = "output {outdir}: {names} already there; pass --overwrite to replace"
LEFT_NOT_OURS = "left {names} in {root}: not daskfft's"

# --- publishing --------------------------------------------------------------------------------

SIGNALS_WHILE_PUBLISHING = "{signals} came while publishing; the outputs were published first"
NOT_STAGED = "output {outdir}: {name} is not in the work folder ({source}); nothing was published"
OCCUPIED = "occupied"
STUCK = "{new} stays there, not back at {old} ({reason})"
PUBLISH_FAILED_STUCK = (
    "output {outdir}: publishing failed ({reason}), and so did "
    "putting OUTDIR back: {stuck}; the journal "
    "{journal} is kept, and the next run "
    "into OUTDIR completes the publishing"
)
PUBLISH_FAILED = "output {outdir}: publishing failed ({reason}); OUTDIR holds its previous files"
CANNOT_READ_WORK = "could not read {root} ({reason}); retiring it where it is"
CANNOT_RETIRE = "could not retire {root} ({reason}); deleting it where it is"
LEFT_TO_DELETE = (
    "left {folder} to delete ({why}); the outputs are published, and the next run "
    "into {outdir} deletes it"
)
CANNOT_FINISH_PUBLISHING = (
    "output {outdir}: the publishing an earlier run began cannot be "
    "finished: {source} is missing and {name} is not the file it "
    "held; put it back there, or remove {root} to start over"
)
FINISHED_PUBLISHING = "finished publishing {outdir}, which an earlier run had started"

# --- a run's end -------------------------------------------------------------------------------

SIGTERM = "SIGTERM"
AN_INTERRUPT = "an interrupt"
CAME_AFTER_PUBLISHED = (
    "{what} came once the outputs were published into {outdir}: the run has "
    "succeeded, and the next run into it deletes what is left of its "
    "work"
)
NOTHING_KEPT = "{full}; nothing was kept"
SOME_KEPT = "{kept} of {total} chunks kept in {root}; rerun with --resume to finish"
ALL_KEPT = "all {total} chunks kept in {root}; rerun with --resume to write the outputs"
TERMINATED = "terminated by SIGTERM (a job's time limit, scancel or kill); {tail}"
INTERRUPTED = "interrupted; {tail}"
FAILED = "{first}; {tail}"
SIZE_FREE = "{size:.0f} MiB, {free:.1f} MiB free"
SIZE_UNKNOWN = "size unknown"
QUOTA_EXCEEDED = "quota exceeded"
NO_SPACE_LEFT = "no space left"
NO_SPACE = (
    "output {outdir}: {what} on the file system mounted at {mount} ({size}); "
    "free space there, or give another OUTDIR"
)
REMOTE_PUBLISH_LEFT = (
    "OUTDIR {outdir}: publishing stopped part-way: {why}; the next run into it (from this "
    "directory, with or without --resume) completes it from {root}"
)
STAGE_NOT_OURS = (
    "{stage}: holds another run's work (started from another directory or machine, whose "
    "finished chunks it may be): resume it from there, or --overwrite to discard it"
)
STAGE_NOT_THIS_RUNS = "{stage} is not the stage this run began (gone, or another run's since)"
REMOTE_CANNOT_FINISH = (
    "OUTDIR {outdir}: the publishing an earlier run began cannot be finished: {name} is "
    "neither in place nor in the stage; remove {root} and run again"
)
IN_PLACE = (
    "OUTDIR {outdir} holds none of this run's outputs: the image's chunks are written in "
    "place, its metadata in {stage} until published (no array to open there before then)"
)
STAGED = (
    "OUTDIR {outdir} holds outputs of this run's names (--overwrite): the image is made in "
    "{stage} and copied into place when published, the old outputs kept whole until then"
)
CLEANUP_LEFT = (
    "OUTDIR {outdir}: what this run left in the store could not be removed ({why}); the next "
    "run into it from this directory removes it"
)
