"""The ``run`` command's sources: the sample, one image, or a batch of them (several
INPUTs, a glob or ``--from-list``), and the batch's run (:mod:`daskfft.run.batch`)."""

from __future__ import annotations

import glob
import os

from daskfft.cli.options import job_options
from daskfft.messages import cli as msg
from daskfft.validate import is_url

__all__ = ["sources", "execute_batch"]


def sources(args, parser):
    """What to filter: ``("sample", None)``, ``("one", path)`` or ``("batch", paths)``
    (several INPUTs, a glob, or --from-list); one of INPUT, --sample and --from-list must be
    given, and --sample alone."""
    inputs = args.input or []
    if args.sample is not None:
        if inputs or args.from_list:
            other = "INPUT" if inputs else "--from-list"
            parser.error(msg.NOT_ALLOWED_WITH.format(first="--sample", other=other))
        return "sample", None
    if not inputs and args.from_list is None:
        parser.error(msg.SOURCE_REQUIRED)
    pattern = any(glob.has_magic(p) and (is_url(p) or not os.path.exists(p)) for p in inputs)
    if len(inputs) == 1 and args.from_list is None and not pattern:
        return "one", inputs[0]
    return "batch", inputs


def execute_batch(args, parser, inputs, config):
    """Run the batch of ``inputs`` (:mod:`daskfft.run.batch`), each image's RunConfig made by
    ``config(args, parser, path, outdir=..., progress=False)``; one line naming the images
    that failed.  Returns None, or on an MPI worker rank its exit status."""
    from daskfft.cli.errors import expected
    from daskfft.errors import BatchFailed
    from daskfft.run.batch import SUMMARY, batch_configs, expand_inputs
    from daskfft.run.job import batch_job
    from daskfft.validate import check_storage_options

    storage = dict(check_storage_options(args.storage_option))
    names = expand_inputs(inputs, args.from_list, storage)
    try:
        configs = batch_configs(
            names,
            args.outdir,
            lambda path, outdir: config(args, parser, path, outdir=outdir, progress=False),
        )
    except ValueError as exc:
        parser.error(str(exc))
    here, summary = batch_job(configs, args.outdir, expected=expected, **job_options(args))
    if not here:
        return summary
    failed = [r["input"] for r in summary["images"] if r["status"] == "failed"]
    if failed:
        raise BatchFailed(
            msg.BATCH_FAILED.format(
                failed=len(failed),
                images=len(summary["images"]),
                names=", ".join(failed),
                summary=os.path.join(args.outdir, SUMMARY),
            )
        )
    if not args.quiet:
        print(msg.BATCH_DONE.format(images=len(summary["images"]), outdir=args.outdir))
    return None
