"""``daskfft align``: its options, and the call of :func:`daskfft.run.job.align_job` with them."""

from __future__ import annotations

import argparse

from daskfft.cli.options import (
    add_cluster,
    add_common,
    checked,
    cluster_options,
    job_options,
    local_path,
)
from daskfft.messages import cli as msg
from daskfft.validate import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_WINDOW,
    check_confidence,
    check_window,
)

__all__ = ["add_command", "execute"]


EPILOG = """\
writes into OUTDIR:
  transform.json     the global shift (dy, dx) px, with --rotation/--scale the turn (degrees)
                     and zoom, a confidence, and the shift field's summary
  shift_field.csv    row, col (window centres, px), dy, dx, confidence, reliable
  shift_field.png    the field's arrows over the reference, unreliable windows crossed
  registered.EXT     with --apply: MOVING registered with REFERENCE (turned, zoomed and
                     shifted as found), in MOVING's format; a GeoTIFF keeps its georeferencing

convention: shifting MOVING by the shift registers it with REFERENCE (scikit-image's
phase_cross_correlation).  The global transform is measured on both images reduced to at
most 2048 px (block means), the field at full resolution, one window per task.

examples:
  daskfft align ortho_2019.tif ortho_2024.tif -o shifts/
  daskfft align a.tif b.tif -o out/ --window 512 --apply
  daskfft align slide1.png slide2.png -o out/ --rotation --scale
  mpiexec -n 8 daskfft align a.tif b.tif -o out/ --apply --cluster mpi
"""


def add_command(sub):
    """Add ``align`` to the subcommands ``sub``."""
    aln = sub.add_parser(
        "align",
        help="register MOVING with REFERENCE: global transform and shift field",
        description="Find the translation (and with --rotation/--scale the turn and zoom) "
        "that registers MOVING with REFERENCE by phase correlation, and the "
        "local shift of every window over a grid.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    aln.add_argument(
        "reference",
        type=local_path("REFERENCE"),
        metavar="REFERENCE",
        help="the image MOVING is registered to",
    )
    aln.add_argument(
        "moving",
        type=local_path("MOVING"),
        metavar="MOVING",
        help="the image to register (same grid size)",
    )
    aln.add_argument(
        "-o",
        "--outdir",
        type=local_path("OUTDIR", output=True),
        metavar="OUTDIR",
        required=True,
        help="folder for the results (created if missing)",
    )
    aln.add_argument(
        "--window",
        type=checked(check_window, "whole number of pixels >= 16", int),
        default=DEFAULT_WINDOW,  # daskfft.shift_field's, as --min-confidence's
        metavar="PX",
        help="edge of the shift field's windows (default: %(default)s)",
    )
    aln.add_argument(
        "--rotation", action="store_true", help="also find the rotation (Fourier-Mellin)"
    )
    aln.add_argument("--scale", action="store_true", help="also find the scale (Fourier-Mellin)")
    aln.add_argument(
        "--apply",
        action="store_true",
        help="write MOVING registered with REFERENCE (turned, zoomed and "
        "shifted as found, in one cubic resampling)",
    )
    aln.add_argument(
        "--min-confidence",
        type=checked(check_confidence, "number in (0, 1]"),
        metavar="C",
        default=DEFAULT_MIN_CONFIDENCE,
        help="a window is reliable from this correlation peak on (default: %(default)s)",
    )
    aln.add_argument("--overwrite", action="store_true", help="replace earlier results")
    add_cluster(aln.add_argument_group("execution"))
    add_common(aln)


def execute(args, parser):
    """Register as ``args`` ask; print the shift found (unless ``-q``). Returns None, or on
    an MPI worker rank its exit status."""
    from daskfft.cluster.kinds import ClusterSpec
    from daskfft.run.job import align_job

    try:
        cluster = ClusterSpec(args.cluster, **cluster_options(args))
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    here, transform = align_job(
        args.reference,
        args.moving,
        args.outdir,
        cluster=cluster,
        **job_options(args),
        **_registration_options(args),
    )
    if not here:
        return transform
    if not args.quiet:
        dy, dx = transform["shift"]
        field = transform["shift_field"]
        print(
            msg.ALIGN_DONE.format(
                outdir=args.outdir,
                dy=dy,
                dx=dx,
                reliable=field["reliable"],
                windows=field["windows"],
            )
        )


def _registration_options(args):
    """The options of the registration in ``args``, as
    :func:`daskfft.run.align.align_files` takes them."""
    return {
        "window": args.window,
        "rotation": args.rotation,
        "scale": args.scale,
        "apply": args.apply,
        "min_confidence": args.min_confidence,
        "overwrite": args.overwrite,
    }
