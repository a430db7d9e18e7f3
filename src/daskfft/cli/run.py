"""``daskfft run``: its options, and the call of :func:`daskfft.run.job.run_job` with them.

The options become a :class:`~daskfft.run.config.RunConfig` (a refused combination is a
usage error, exit status 2); the run itself, on this machine or an MPI job, is
:mod:`daskfft.run`'s.
"""

from __future__ import annotations

import argparse

from daskfft.cli.batch import execute_batch, sources
from daskfft.cli.options import (
    add_cluster,
    add_common,
    boundary_value,
    checked,
    cluster_options,
    depth_or_auto,
    input_path,
    local_path,
    one_or_more,
    positive,
    show_progress,
    storage_option,
)
from daskfft.io import COMPRESSIONS, OUTPUT_FORMATS
from daskfft.kernels.grid import DEFAULT_CHUNKS
from daskfft.messages import cli as msg
from daskfft.run.grid import LARGE_CHUNKS, LARGE_FROM
from daskfft.run.outputs import SPECTRA_CHOICES
from daskfft.validate import (
    DEFAULT_CUTOFF,
    DEFAULT_ORDER,
    DEFAULT_TOL,
    FILTERS,
    FLATFIELD_MODES,
    PASS_BANDS,
    check_axes,
    check_boundary,
    check_cutoff,
    check_depth,
    check_nodata,
    check_order,
    check_positive_number,
    check_sigma,
    check_tol,
)

__all__ = ["add_command", "execute"]


EPILOG = """\
examples:
  daskfft run --sample -o out/                      filter the built-in 2048 px sample
  daskfft run ortho.tif -o out/ --sigma 8           Gaussian blur, sigma 8 px
  daskfft run scan.png -o out/ --filter butterworth --cutoff 0.02 --order 2
  daskfft run ortho.tif -o out/ --pass high --sigma 20   detail: the image minus its blur
  daskfft run cells.tif -o out/ --pass band --sigma 2,8  difference of Gaussians
  daskfft run mosaic.tif -o out/ --flatfield divide --sigma 150   even out the illumination
  daskfft run big.tif -o out/ --chunks 2048 --workers 4 --spectra all
  daskfft run big.tif -o out/ --cluster tcp://10.0.0.5:8786   use a running scheduler
  daskfft run dem.tif -o out/ --nodata -9999 --output-format zarr
  daskfft run ortho.tif -o out/ --output-format cog --co COMPRESS=JPEG --co QUALITY=90
  daskfft run slide.ome.tif -o out/ --output-format ome-zarr   multiscales for napari
  daskfft run big.tif -o out/ --resume              finish a run that was killed
  daskfft run 'scenes/*.tif' -o out/ --sigma 4      a batch: out/<name>/ per image
  daskfft run --from-list slides.txt -o out/        a batch of the paths a file lists
  mpiexec -n 8 daskfft run big.tif -o out/ --cluster mpi

the cutoff is in cycles per pixel (0.5 is the Nyquist frequency), so it means
the same whatever the chunk size; a Gaussian of sigma s pixels has cutoff
1/(2*pi*s).  Each chunk is filtered with a halo wide enough that, with the
Gaussian and Butterworth filters, the result is within (2*tol + r)*max|image|
of filtering the whole image at once, r being the working precision's
rounding (1e-6 for float32, 1e-14 for float64).  The ideal filter has no such
bound (its kernel is not absolutely summable): a few chunks' deviation is
measured instead (--measure-deviation: every chunk).  report.json gives the
bound, or what was measured.

inputs: TIFF/BigTIFF/COG (read tile by tile; a GDAL mask is left out, and a
TIFF or COG output keeps it as a mask), Zarr (chunk by chunk; its axes from its dim
names, or --axes), PNG/JPEG (whole).  Stacks in Zarr or OME-Zarr: a volume (z) is
filtered in z, y and x together, with a halo per axis (report.json: "stack"); time
points (t) and channels (c) each alone; written as Zarr or OME-Zarr (its levels halve y
and x, plane by plane; the default for a TIFF stack) or, with --output-format tiff, an
OME-TIFF (filtered.ome.tif), the pictures showing the middle z plane of the middle time
point.  ImageJ hyperstacks and OME-TIFF stacks are read in windows of pages.
outputs in OUTDIR: filtered.<tif|zarr|ome.zarr|png|jpg> (same shape, channels and
dtype as the input; an alpha channel passes through; GeoTIFF tags kept; a COG's
and an OME-Zarr's overviews low-passed below their Nyquist frequency, not
averaged), spectra.png (one log-magnitude spectrum per chunk, tiled as the
chunks are), spectra/ (one PNG per chunk, with --spectra chunks|all) and
report.json (parameters, halo, choices made, timings).  Work in progress
lives in OUTDIR/.daskfft-work/, locked while a run uses it; OUTDIR gets its
files only when all are complete.  A run that fails, is killed or is
interrupted (Ctrl-C) after finishing some chunks keeps them, and --resume
finishes it.

cluster: by default (auto) dask's threaded scheduler below 1024 Mpx a core
(2048 Mpx on 2 cores), where a run takes seconds, and a Dask scheduler in this
process with its dashboard from there up (--cluster local for the dashboard at
any size).

security: the local cluster's scheduler and workers talk inside this process
(worker processes and MPI jobs use TLS credentials made for the run), so
other users of the machine cannot connect; dask's health and metrics pages,
and the dashboard, are served on 127.0.0.1 and a free port only (under MPI,
reach the dashboard through the printed ssh tunnel).  With --no-tls anyone who
can connect can run code as you: every user of the machine (processes, or
an MPI job on one node: 127.0.0.1), or of the network (an MPI job across
nodes: each node's own interface, or every interface of a node whose name
resolves to a loopback address); the log says which.

batch: several INPUTs, a quoted glob or --from-list filter each image into
OUTDIR/<its name less its extension>/ (two images of one name are refused), one
after the other on one cluster sized for the largest, with one progress bar
over every image's chunks, each image's own outputs and report, and
OUTDIR/batch.json, the summary (status, seconds, bound of each).  An image that
fails is said in one line and skipped; the batch ends with exit status 1
naming it.  A killed batch resumes image by image with --resume.

exit status: 0 on success, 1 for bad input or a failed run, 2 for bad usage,
70 for a bug in daskfft (its traceback saved as OUTDIR/daskfft-traceback-*.txt
where the run kept finished chunks, else in the temporary folder; no run
deletes it; --debug prints it).
"""


def add_command(sub):
    """Add ``run`` to the subcommands ``sub``."""
    run = sub.add_parser(
        "run",
        help="filter an image (or the built-in sample) into OUTDIR",
        description="Low-pass (or high-pass, band-pass, flat-field) filter an image chunk "
        "by chunk and write the result, per-chunk spectra and a run report into "
        "OUTDIR.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source(run)
    _add_filter(run)
    _add_execution(run)
    _add_output(run)
    add_common(run)


def _add_source(run):
    # INPUT takes several: not in a mutually exclusive group, whose check argparse gets
    # wrong for a positional of nargs="*" (it counts an empty one as given): sources checks.
    run.add_argument(
        "input",
        nargs="*",
        default=None,
        type=input_path("INPUT"),
        metavar="INPUT",
        help="TIFF, Zarr, PNG or JPEG image, a path or a URL (s3://, https://, gs://...: a "
        "TIFF/COG read by byte ranges, a Zarr store through fsspec); several, or a quoted glob "
        "('scenes/*.tif'), make a batch: each image into OUTDIR/<its name>/ on one cluster",
    )
    run.add_argument(
        "--from-list",
        metavar="FILE",
        type=local_path("--from-list"),
        help="a batch of the images FILE names, a path a line (# comments and blank lines "
        "left out), after any INPUT",
    )
    run.add_argument(
        "--sample",
        nargs="?",
        const=2048,
        type=positive(),
        metavar="SIZE",
        help="filter the synthetic city-map sample, SIZE px square (default 2048)",
    )
    run.add_argument(
        "--storage-option",
        dest="storage_option",
        action="append",
        type=storage_option,
        default=[],
        metavar="KEY=VALUE",
        help="an fsspec storage option for a URL INPUT, e.g. endpoint_url=http://host:9000 "
        "or anon=true (VALUE read as JSON where it is); over GDAL's AWS_S3_ENDPOINT, "
        "AWS_HTTPS, AWS_VIRTUAL_HOSTING, AWS_REGION and AWS_NO_SIGN_REQUEST; keys come from "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws, never the command line",
    )
    run.add_argument(
        "--axes",
        type=checked(check_axes, "axes", str),
        metavar="AXES",
        help="a Zarr array's axes where it names no dims (xarray's _ARRAY_DIMENSIONS, "
        "Zarr v3's dimension_names), one letter per dim of t, c, z, y, x: yxc (bands "
        "last), cyx (bands first); a 3-D array that names none is refused without it",
    )
    run.add_argument(
        "-o",
        "--outdir",
        default="daskfft-out",
        help="output folder, created if missing (default: %(default)s), or a URL "
        "(s3://bucket/out: Zarr/OME-Zarr chunks written there by the workers, other outputs "
        "uploaded; the work folder in ./.daskfft-remote/)",
    )


def _add_filter(run):
    """Add the "filter" option group: its strength, band, shape and halo."""
    flt = run.add_argument_group("filter")
    _add_filter_strength(flt)
    _add_filter_band(flt)
    _add_filter_shape(flt)
    _add_filter_reach(flt)


def _add_filter_strength(flt):
    """Add --cutoff and --sigma, the two exclusive ways to say how strong."""
    strength = flt.add_mutually_exclusive_group()
    for flag, validator, metavar, text in (
        (
            "--cutoff",
            check_cutoff,
            "D0",
            f"cutoff in cycles/pixel, 0 < D0 <= 0.5 (default {DEFAULT_CUTOFF}); or one per "
            "spatial axis, as Y,X or Z,Y,X; a band-pass takes two, as LOW,HIGH",
        ),
        (
            "--sigma",
            check_sigma,
            "PX",
            "Gaussian sigma in pixels instead of --cutoff, >= 1/pi (D0 = 1/(2*pi*sigma)); or "
            "one per spatial axis, as Y,X or Z,Y,X (voxels that are not cubes); a band-pass "
            "(difference of Gaussians) takes two, as SMALL,LARGE",
        ),
        (
            "--physical-sigma",
            check_positive_number,
            "S",
            "Gaussian sigma in the input's own units (OME-Zarr's scale and unit, e.g. "
            "micrometer; a GeoTIFF's pixel size), made pixels per axis by its voxel size; "
            "or one per spatial axis",
        ),
    ):
        name = flag.removeprefix("--")
        strength.add_argument(flag, type=one_or_more(validator, name), metavar=metavar, help=text)


def _add_filter_band(flt):
    """Add --pass and --flatfield: which frequencies the output keeps."""
    flt.add_argument(
        "--pass",
        dest="band",
        choices=PASS_BANDS,
        default="low",
        help="the frequencies kept: low (below the cutoff), high (above it: the "
        "image minus its low-pass) or band (between two cutoffs). A high- or "
        "band-pass of unsigned integers is written around mid-gray (128 for "
        "8 bits), clipped to the range; a float one keeps its sign "
        "(default: low)",
    )
    flt.add_argument(
        "--flatfield",
        choices=FLATFIELD_MODES,
        metavar="divide|subtract",
        help="write the image corrected for uneven illumination instead: divided "
        "by (or minus) its own low-pass, the background (give a wide one, "
        "e.g. --sigma 100), rescaled to the image's mean per channel, in its "
        "dtype; nodata left out (default: off)",
    )


def _add_filter_shape(flt):
    """Add --filter and --order: the transfer function."""
    flt.add_argument(
        "--filter",
        choices=FILTERS,
        default="gaussian",
        help="transfer function (default: %(default)s)",
    )
    flt.add_argument(
        "--order",
        type=checked(check_order, "order", int),
        help=f"Butterworth order (default: {DEFAULT_ORDER})",
    )


def _add_filter_reach(flt):
    """Add the halo, edge, exactness and nodata options of the block-wise filter."""
    flt.add_argument(
        "--depth",
        type=checked(check_depth, "depth", depth_or_auto),
        default="auto",
        help="halo in pixels, or 'auto' to derive it from --tol (default: auto)",
    )
    flt.add_argument(
        "--tol",
        type=checked(check_tol, "tolerance"),
        default=DEFAULT_TOL,
        help="kernel mass allowed outside the halo, in [1e-10, 0.5) (default: %(default)g)",
    )
    flt.add_argument(
        "--boundary",
        type=checked(check_boundary, "boundary", boundary_value),
        default="reflect",
        help="image extension past its edges: reflect, periodic, nearest, or a "
        "constant (default: reflect)",
    )
    flt.add_argument(
        "--exact",
        action="store_true",
        help="one FFT over the whole image, done in chunks: equal to a whole-image "
        "filter for every filter (ideal included), at the cost of two "
        "rechunks of the image (twice the data with --nodata) "
        "(default: block-wise with halos)",
    )
    flt.add_argument(
        "--nodata",
        type=checked(check_nodata, "number"),
        metavar="V",
        help="no-data value: such pixels are left out of the filter and stay V "
        "(default: the input's own, e.g. a GeoTIFF's GDAL_NODATA; 'nan' allowed)",
    )
    flt.add_argument(
        "--measure-deviation",
        action="store_true",
        help="measure how far the block-wise result is from a whole-image filter "
        "where no halo reaches --tol (ideal filter): costs a full exact pass; "
        "a halo narrower than --tol asks is measured anyway, on four chunks",
    )


def _add_execution(run):
    exe = run.add_argument_group("execution")
    exe.add_argument(
        "--chunks",
        type=positive(),
        metavar="N",
        help="chunk edge in pixels, rounded to whole tiles of a tiled input "
        "and of a TIFF or COG output "
        f"(default: {LARGE_CHUNKS} for an image that holds {LARGE_FROM} "
        f"chunks of {LARGE_CHUNKS} px or more, 8192 x 8192 and up: less of "
        f"each FFT spent on the halo; else {DEFAULT_CHUNKS})",
    )
    add_cluster(exe)
    exe.add_argument(
        "--performance-report",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="save Dask's performance-report.html in OUTDIR (default: on under "
        "mpi, off otherwise; not with --cluster threads)",
    )


def _add_output(run):
    outg = run.add_argument_group("output")
    outg.add_argument(
        "--output-format",
        choices=OUTPUT_FORMATS,
        help="format of filtered.* (default: the input's; TIFF and Zarr are "
        "written in parts, PNG/JPEG only up to 100 Mpx). cog: a "
        "Cloud-Optimized GeoTIFF (GDAL), ome-zarr: NGFF multiscales; both "
        "with overviews low-passed by this engine, not averaged",
    )
    outg.add_argument(
        "--co",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="creation option of a TIFF or COG output, as GDAL names them "
        "(repeatable): COMPRESS=NONE|DEFLATE|LZW|ZSTD|LZMA|JPEG|WEBP, "
        "PREDICTOR=YES|FLOATING_POINT, LEVEL=n, QUALITY=1..100, "
        "BLOCKSIZE=n (multiple of 16), BIGTIFF (COG). Defaults: TIFF "
        "uncompressed, COG DEFLATE; tiles those of a tiled input (128 px "
        "at least), else 256 px (TIFF) or 512 px (COG)",
    )
    outg.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        help="TIFF output compression, as --co COMPRESS (zlib: DEFLATE)",
    )
    outg.add_argument(
        "--resume",
        action="store_true",
        help="finish a run that was killed or failed, computing only its missing "
        "chunks (same input and options)",
    )
    outg.add_argument(
        "--spectra",
        choices=SPECTRA_CHOICES,
        default="atlas",
        help="spectra to write: the atlas, one PNG per chunk, all, or none (default: %(default)s)",
    )
    outg.add_argument(
        "--no-plots",
        dest="plots",
        action="store_false",
        help="skip overview.png and radial_spectrum.png (and the atlas's labels)",
    )
    outg.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs already in OUTDIR, and an interrupted run's work",
    )


def execute(args, parser):
    """Run as ``args`` ask; print where the outputs are (unless ``-q``). Returns None, or
    on an MPI worker rank its exit status."""
    from daskfft.run.job import run_job

    kind, source = sources(args, parser)
    if kind == "batch":
        return execute_batch(args, parser, source, _config)
    config = _config(args, parser, source)
    here, report = run_job(
        config, own_process=args.from_command_line, memory_limit=args.memory_limit
    )
    if not here:
        return report
    if not args.quiet:
        print(
            msg.RUN_DONE.format(
                outdir=args.outdir,
                outputs=", ".join(report["outputs"]),
                unbounded=_unbounded(report["halo"]),
            )
        )


_FIRST = object()


def _config(args, parser, source=_FIRST, *, outdir=None, progress=None):
    """The run's :class:`~daskfft.run.config.RunConfig` of the image ``source`` (None: the
    sample; default: the first INPUT, or the sample) into ``outdir`` (default: ``-o``); a
    refused combination is a usage error."""
    from daskfft.run.config import RunConfig

    if source is _FIRST:
        source = args.input[0] if args.input else None

    try:
        return RunConfig.create(
            source,
            args.outdir if outdir is None else outdir,
            axes=args.axes,
            storage_options=args.storage_option,
            sample=args.sample,
            cutoff=args.cutoff,
            sigma=args.sigma,
            physical_sigma=args.physical_sigma,
            band=args.band,
            flatfield=args.flatfield,
            filter=args.filter,
            order=args.order,
            depth=args.depth,
            tol=args.tol,
            boundary=args.boundary,
            nodata=args.nodata,
            method="exact" if args.exact else "blockwise",
            chunks=args.chunks,
            output_format=args.output_format,
            compression=args.compression,
            creation_options=args.co,
            spectra=args.spectra,
            plots=args.plots,
            cluster=args.cluster,
            **cluster_options(args),
            overwrite=args.overwrite,
            resume=args.resume,
            progress=show_progress(args) if progress is None else progress,
            performance_report=args.performance_report,
            measure_deviation=args.measure_deviation,
        )
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))


def _unbounded(halo):
    """The summary's words where no bound exists (the ideal filter): the measured deviation."""
    measured = halo["measured_deviation"]
    if halo["expected_max_deviation"] is not None or not measured:
        return ""
    where = (
        msg.MEASURED_ALL
        if measured["chunks"] == "all"
        else msg.MEASURED_SOME.format(count=len(measured["chunks"]))
    )
    return msg.UNBOUNDED.format(measured=measured["max_relative"], where=where)
