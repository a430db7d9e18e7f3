"""The ``daskfft`` command line: argument parsing only; the work is in :mod:`daskfft.pipeline`."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import warnings

__all__ = ["main", "build_parser"]

log = logging.getLogger("daskfft")

_RUN_EPILOG = """\
examples:
  daskfft run --sample -o out/                      filter the built-in 2048 px sample
  daskfft run ortho.tif -o out/ --sigma 8           Gaussian blur, sigma 8 px
  daskfft run scan.png -o out/ --filter butterworth --cutoff 0.02 --order 2
  daskfft run big.tif -o out/ --chunks 2048 --workers 4 --spectra all
  daskfft run big.tif -o out/ --cluster tcp://10.0.0.5:8786   use a running scheduler
  daskfft run dem.tif -o out/ --nodata -9999 --output-format zarr
  daskfft run big.tif -o out/ --resume              finish a run that was killed
  mpiexec -n 8 daskfft run big.tif -o out/ --cluster mpi

the cutoff is in cycles per pixel (0.5 is the Nyquist frequency), so it means
the same whatever the chunk size; a Gaussian of sigma s pixels has cutoff
1/(2*pi*s).  Each chunk is filtered with a halo wide enough that the result
is within 2*tol*max|image| of filtering the whole image at once (report.json
gives the bound actually achieved).

inputs: TIFF/BigTIFF (read tile by tile), Zarr (chunk by chunk), PNG/JPEG
(whole).  outputs in OUTDIR: filtered.<tif|zarr|png|jpg> (same shape,
channels and dtype as the input; an alpha channel passes through; GeoTIFF
tags kept), spectra.png (one log-magnitude spectrum per chunk, tiled as the
chunks are), spectra/ (one PNG per chunk, with --spectra chunks|all) and
report.json (parameters, halo, timings).  Work in progress lives beside
OUTDIR in .OUTDIR.daskfft-partial/; OUTDIR gets its files only when all are
complete, and --resume finishes a killed run.

exit status: 0 on success, 1 for bad input or a failed run, 2 for bad usage.
"""


def _cutoff(text):
    value = float(text)
    if not 0.0 < value <= 0.5:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be in (0, 0.5] cycles/pixel, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _depth(text):
    if text == "auto":
        return text
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be "auto" or an integer >= 0, got {text}')
    return value


def _boundary(text):
    if text in ("reflect", "periodic", "nearest"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be reflect, periodic, nearest or a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"a constant boundary must be finite, got {text}")
    return value


for _f, _name in ((_cutoff, "cutoff"), (_positive_float, "positive number"),
                  (_positive_int, "positive integer"), (_depth, "depth"), (_boundary, "boundary")):
    _f.__name__ = _name  # argparse names the type in "invalid <type> value" messages


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to read more."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    """The ``daskfft`` argument parser (``run`` and ``sample`` subcommands)."""
    from . import __version__
    from .blockwise import DEFAULT_CHUNKS
    from .pipeline import DEFAULT_CUTOFF, SPECTRA_CHOICES

    parser = _Parser(
        prog="daskfft",
        description="FFT low-pass filtering of images larger than memory, chunk by chunk, with Dask.",
    )
    parser.add_argument("--version", action="version", version=f"daskfft {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    run = sub.add_parser(
        "run", help="filter an image (or the built-in sample) into OUTDIR",
        description="Low-pass filter an image chunk by chunk and write the result, "
                    "per-chunk spectra and a run report into OUTDIR.",
        epilog=_RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = run.add_mutually_exclusive_group(required=True)
    src.add_argument("input", nargs="?", metavar="INPUT", help="PNG, JPEG or TIFF image")
    src.add_argument("--sample", nargs="?", const=2048, type=_positive_int, metavar="SIZE",
                     help="filter the synthetic city-map sample, SIZE px square (default 2048)")
    run.add_argument("-o", "--outdir", default="daskfft-out",
                     help="output folder, created if missing (default: %(default)s)")

    flt = run.add_argument_group("filter")
    strength = flt.add_mutually_exclusive_group()
    strength.add_argument("--cutoff", type=_cutoff, metavar="D0",
                          help=f"cutoff in cycles/pixel, 0 < D0 <= 0.5 (default {DEFAULT_CUTOFF})")
    strength.add_argument("--sigma", type=_positive_float, metavar="PX",
                          help="Gaussian sigma in pixels instead of --cutoff (D0 = 1/(2*pi*sigma))")
    flt.add_argument("--filter", choices=("gaussian", "butterworth", "ideal"), default="gaussian",
                     help="transfer function (default: %(default)s)")
    flt.add_argument("--order", type=_positive_int, default=4,
                     help="Butterworth order (default: %(default)s)")
    flt.add_argument("--depth", type=_depth, default="auto",
                     help="halo in pixels, or 'auto' to derive it from --tol (default: auto)")
    flt.add_argument("--tol", type=float, default=1e-6,
                     help="kernel mass allowed outside the halo (default: %(default)g)")
    flt.add_argument("--boundary", type=_boundary, default="reflect",
                     help="image extension past its edges: reflect, periodic, nearest, or a "
                          "constant (default: reflect)")

    exe = run.add_argument_group("execution")
    exe.add_argument("--chunks", type=_positive_int, default=DEFAULT_CHUNKS, metavar="N",
                     help="chunk edge in pixels (default: %(default)s)")
    exe.add_argument("--cluster", default="local", metavar="local|mpi|threads|ADDRESS",
                     help="local: a LocalCluster on this machine; mpi: dask-mpi across the "
                          "ranks of this MPI job (launch with mpiexec or srun --mpi=pmi2); "
                          "threads: no cluster, dask's threaded scheduler; ADDRESS: a running "
                          "scheduler such as tcp://host:8786 (default: local)")
    exe.add_argument("--workers", type=_positive_int, metavar="N",
                     help="LocalCluster worker processes (default: dask's choice from the cores)")
    exe.add_argument("--threads-per-worker", type=_positive_int, metavar="N",
                     help="threads per worker (default: dask's choice)")
    exe.add_argument("--no-dashboard", dest="dashboard", action="store_false",
                     help="do not serve the Dask dashboard (served on 127.0.0.1 otherwise)")
    exe.add_argument("--dashboard-address", metavar="HOST:PORT",
                     help="mpi: where the dashboard listens (default: this node's address, "
                          "port 8787)")
    exe.add_argument("--memory-limit", metavar="BYTES",
                     help="memory limit per worker, e.g. 4GB (default: local: dask's share of "
                          "this machine; mpi: the node's memory divided by its ranks)")
    exe.add_argument("--no-tls", dest="tls", action="store_false",
                     help="mpi: plain TCP between scheduler, workers and client (default: TLS "
                          "with a certificate made for this job)")
    exe.add_argument("--performance-report", action=argparse.BooleanOptionalAction,
                     default=None,
                     help="save Dask's performance-report.html in OUTDIR (default: on under "
                          "mpi, off otherwise)")

    flt.add_argument("--exact", action="store_true",
                     help="one FFT over the whole image, done in chunks: equal to a whole-image "
                          "filter for every filter (ideal included), at the cost of two "
                          "rechunks of the image (default: block-wise with halos)")
    flt.add_argument("--nodata", type=float, metavar="V",
                     help="no-data value: such pixels are left out of the filter and stay V "
                          "(default: the input's own, e.g. a GeoTIFF's GDAL_NODATA; 'nan' allowed)")

    outg = run.add_argument_group("output")
    outg.add_argument("--output-format", choices=("tiff", "zarr", "png", "jpeg"),
                      help="format of filtered.* (default: the input's; TIFF and Zarr are "
                           "written in parts, PNG/JPEG only up to 100 Mpx)")
    outg.add_argument("--compression", choices=("none", "zlib"), default="none",
                      help="TIFF output compression (default: %(default)s)")
    outg.add_argument("--resume", action="store_true",
                      help="finish a run that was killed, computing only its missing chunks "
                           "(same input and options)")
    outg.add_argument("--spectra", choices=SPECTRA_CHOICES, default="atlas",
                      help="spectra to write: the atlas, one PNG per chunk, all, or none "
                           "(default: %(default)s)")
    outg.add_argument("--no-plots", dest="plots", action="store_false",
                      help="skip overview.png and radial_spectrum.png (and the atlas's labels)")
    outg.add_argument("--overwrite", action="store_true", help="replace outputs already in OUTDIR")
    _add_common(run)

    smp = sub.add_parser(
        "sample", help="write the synthetic test image",
        description="Write the deterministic synthetic city-map image (streets, building "
                    "blocks, parks, and a zone plate in the top-left corner) at any size.")
    smp.add_argument("-o", "--output", required=True, metavar="PATH",
                     help="output file: .tif (tiled BigTIFF, written in bands, any size) or "
                          ".png (up to 100 Mpx)")
    smp.add_argument("--size", type=_positive_int, default=2048, metavar="N",
                     help="edge in pixels (default: %(default)s)")
    smp.add_argument("--compress", action="store_true", help="zlib-compress a TIFF")
    smp.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    _add_common(smp)
    return parser


def _add_common(parser):
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv: dask's too)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only, no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _setup_logging(args):
    import distributed  # noqa: F401  (configures its loggers on import; quieten them after)

    level = logging.ERROR if args.quiet else logging.INFO if args.verbose == 0 else logging.DEBUG
    logging.basicConfig(format="daskfft: %(message)s", stream=sys.stderr, force=True)
    log.setLevel(level if not args.quiet else logging.ERROR)
    for name in ("distributed", "bokeh", "tornado"):
        # Errors inside dask reach us as exceptions and are reported once, below.
        logging.getLogger(name).setLevel(logging.INFO if args.verbose >= 2 else logging.CRITICAL)


def _run(args):
    from .pipeline import run

    progress = not args.quiet and sys.stderr.isatty()

    def pipeline(cluster_info=None):
        return run(args.input, args.outdir, sample=args.sample, cutoff=args.cutoff,
                   sigma=args.sigma, filter=args.filter, order=args.order, depth=args.depth,
                   tol=args.tol, boundary=args.boundary, chunks=args.chunks,
                   nodata=args.nodata, method="exact" if args.exact else "blockwise",
                   memory_limit=args.memory_limit or "auto",
                   output_format=args.output_format,
                   compression=args.compression, resume=args.resume,
                   cluster=args.cluster, workers=args.workers,
                   threads_per_worker=args.threads_per_worker, dashboard=args.dashboard,
                   spectra=args.spectra, plots=args.plots, overwrite=args.overwrite,
                   progress=progress,
                   performance_report=args.performance_report, cluster_info=cluster_info)

    if args.cluster == "mpi":
        from .mpi import launch

        ok, report = launch(pipeline, tls=args.tls, dashboard=args.dashboard,
                            dashboard_address=args.dashboard_address,
                            threads_per_worker=args.threads_per_worker or 1,
                            memory_limit=args.memory_limit)
        if ok is None:  # a worker rank: rank 0 reports
            return
        if not ok:
            raise report
    else:
        report = pipeline()
    if not args.quiet:
        print(f"{args.outdir}: {', '.join(report['outputs'])}")


def _sample(args):
    import os
    import tempfile

    from . import io
    from .errors import InputError
    from .sample import sample_image

    fmt = io.FORMATS.get(os.path.splitext(args.output)[1].lower())
    if fmt not in ("png", "tiff"):
        raise InputError(f"output {args.output}: must end in .png, .tif or .tiff")
    if fmt == "png" and args.size**2 > io.WHOLE_IMAGE_CAP:
        raise InputError(f"output {args.output}: PNG is written whole, and {args.size}^2 px is "
                         f"above the cap of {io.WHOLE_IMAGE_CAP / 1e6:.0f} Mpx; use .tif")
    if os.path.exists(args.output) and not args.overwrite:
        raise InputError(f"output {args.output}: already exists; pass --overwrite to replace")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise InputError(f"output {args.output}: folder {folder} does not exist")
    image = sample_image(args.size, chunks=1024)
    fd, tmp = tempfile.mkstemp(prefix=".daskfft-", suffix=os.path.splitext(args.output)[1],
                               dir=folder)
    os.close(fd)
    try:
        if fmt == "tiff":  # streamed: one band of rows in memory at a time
            io.write_tiff(tmp, lambda r0, r1: image[r0:r1].compute(), image.shape, image.dtype,
                          photometric="rgb", band=1024, compression="zlib" if args.compress
                          else None)
        else:
            io.write_image(tmp, image.compute(), fmt)
        os.replace(tmp, args.output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    log.info("wrote %s (%d x %d RGB uint8)", args.output, args.size, args.size)


def _expected_errors():
    """What a run can meet that is not a bug: each becomes one line and exit status 1."""
    from distributed.scheduler import KilledWorker

    from .errors import InputError

    return (InputError, ValueError, TypeError, OSError, ImportError, RuntimeError,
            TimeoutError, KilledWorker)


def main(argv=None):
    """Entry point of the ``daskfft`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    try:
        with warnings.catch_warnings():
            # The halo warning reaches the user through the log, once.
            from .filters import HaloWarning

            warnings.simplefilter("ignore", HaloWarning)
            {"run": _run, "sample": _sample}[args.command](args)
    except _expected_errors() as exc:
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"daskfft: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("daskfft: interrupted; nothing was written", file=sys.stderr)
        return 130
    return 0
