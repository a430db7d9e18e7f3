"""``daskfft sample``: its options, and the call of :func:`daskfft.run.sample.write_sample`."""

from __future__ import annotations

from daskfft.cli.options import add_common, checked, local_path
from daskfft.validate import check_positive_int

__all__ = ["add_command", "execute"]


def add_command(sub):
    """Add ``sample`` to the subcommands ``sub``."""
    smp = sub.add_parser(
        "sample",
        help="write the synthetic test image",
        description="Write the deterministic synthetic city-map image (streets, building "
        "blocks, parks, and a zone plate in the top-left corner) at any size.",
    )
    smp.add_argument(
        "-o",
        "--output",
        required=True,
        type=local_path("PATH", output=True),
        metavar="PATH",
        help="output file: .tif (tiled BigTIFF, written in bands, any size) or "
        ".png (up to 100 Mpx)",
    )
    smp.add_argument(
        "--size",
        type=checked(lambda v: check_positive_int("size", v), "positive integer", int),
        default=2048,
        metavar="N",
        help="edge in pixels (default: %(default)s)",
    )
    smp.add_argument("--compress", action="store_true", help="zlib-compress a TIFF")
    smp.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    add_common(smp)


def execute(args, parser):
    """Write the sample as ``args`` ask."""
    from daskfft.run.sample import write_sample

    write_sample(args.output, args.size, compress=args.compress, overwrite=args.overwrite)
