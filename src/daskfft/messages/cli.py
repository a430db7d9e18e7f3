"""What the ``daskfft`` command says on its own: usage errors, the line a command prints
when it is done, and the one line (and exit status) of a failure.

The modules of :mod:`~daskfft.cli` fill them in.  The options' help, and the commands'
descriptions and epilogs, are the command's reference: they stay with the options.
"""

from __future__ import annotations

# --- cli ---------------------------------------------------------------------------------------

VERSION = "daskfft {version}"

# --- cli/options -------------------------------------------------------------------------------

USAGE_ERROR = "{prog}: error: {message} (see '{prog} --help')"
NOT_PARSED = "expected a {name}, got {text!r}"
TOO_MANY_VALUES = (
    "expected one {name}, one per spatial axis (Y,X or Z,Y,X), or a band-pass's two (A,B), "
    "got {text!r}"
)

# --- cli/run -----------------------------------------------------------------------------------

RUN_DONE = "{outdir}: {outputs}{unbounded}"
BATCH_DONE = "{outdir}: {images} images, each in its folder; the summary in batch.json"
BATCH_FAILED = (
    "{failed} of {images} images failed: {names} (each said above; the others are done, "
    "and {summary} says which is which)"
)
NOT_ALLOWED_WITH = "argument {first}: not allowed with argument {other}"
SOURCE_REQUIRED = "one of the arguments INPUT --from-list --sample is required"
MEASURED_ALL = "every chunk against the exact whole-image filter"
MEASURED_SOME = (
    "{count} chunks against a halo half as wide again; --measure-deviation for every chunk"
)
UNBOUNDED = (
    "; no bound on the deviation from a whole-image filter (the ideal filter's kernel "
    "is not absolutely summable): measured {measured:.2g} x max|image| on {where}"
)

# --- cli/align ---------------------------------------------------------------------------------

ALIGN_DONE = "{outdir}: shift ({dy:.3f}, {dx:.3f}) px, {reliable} of {windows} windows reliable"

# --- cli/errors --------------------------------------------------------------------------------

BUG_KEPT = "; {kept} of {total} chunks kept in {workdir}"
BUG_DETAIL = ": {first}"
BUG = (
    "daskfft: internal error (a bug in daskfft): {type}{detail}{kept}; traceback saved in "
    "{saved}; please report it"
)
TRACEBACK_NOWHERE = "nowhere (no folder was writable)"
LINE = "daskfft: {message}"
WHAT_TERMINATED = "terminated by SIGTERM"
WHAT_INTERRUPTED = "interrupted"
NOTHING_KEPT = "daskfft: {what}; nothing was kept or written"
ERROR_LINE = "daskfft: error: {message}"
SECRET_ON_COMMAND_LINE = (
    "{key}: a credential on the command line is visible to every user of this machine "
    "(ps); give it as AWS_* variables, AWS_PROFILE or ~/.aws/credentials"
)
