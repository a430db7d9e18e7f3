"""Write the synthetic sample image (``daskfft sample``) to a PNG or a tiled TIFF file.

The image itself is :func:`daskfft.api.sample.sample_image`; this module checks the
output path, then stages the file in the work folder of the output's folder
(``FOLDER/.daskfft-work/out/``, under its lock: :class:`daskfft.run.workdir.WorkDir`)
and publishes it from there by rename, as ``run`` and ``align`` publish theirs; so a
failed write never leaves a partial file under the name asked for, and the work folder
is gone once the file is in place.
"""

from __future__ import annotations

import logging
import os

import dask

from daskfft import io
from daskfft.api.sample import sample_image
from daskfft.errors import InputError
from daskfft.messages import run as msg
from daskfft.messages import workdir as wmsg
from daskfft.run.workdir import WorkDir
from daskfft.run.workdir.layout import companions

__all__ = ["write_sample"]


log = logging.getLogger("daskfft")

#: The suffixes the sample is written with (:data:`daskfft.messages.run.SAMPLE_EXTENSION`):
#: a PNG, written whole, or a tiled TIFF, streamed.
SUFFIXES = (".png", ".tif", ".tiff")

#: What the refusal of a folder whose work folder holds an interrupted run (or align) says.
HINT = msg.SAMPLE_HINT


def write_sample(output, size=2048, *, compress=False, overwrite=False):
    """Write the sample, ``size`` px square RGB uint8, to ``output`` (.png, .tif or .tiff).

    A TIFF is a tiled BigTIFF written one band of rows at a time (any size,
    zlib-compressed with ``compress``); a PNG is written whole, up to
    :data:`daskfft.io.WHOLE_IMAGE_CAP` pixels.

    Raises
    ------
    InputError
        For another extension, a PNG above the cap, an existing ``output`` (or a
        companion GDAL reads with it) without ``overwrite``, a folder that does not
        exist, or one whose work folder holds an interrupted run.
    Busy
        While another daskfft command holds the folder's work folder.
    """
    suffix = os.path.splitext(output)[1].lower()
    if suffix not in SUFFIXES:
        raise InputError(msg.SAMPLE_EXTENSION.format(output=output))
    entry = io.backend(io.FORMATS[suffix])
    if entry.whole and size**2 > io.WHOLE_IMAGE_CAP:
        raise InputError(
            msg.SAMPLE_PNG_CAP.format(output=output, size=size, cap=io.WHOLE_IMAGE_CAP / 1e6)
        )
    _refuse_existing(output, overwrite)
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise InputError(msg.SAMPLE_NO_FOLDER.format(output=output, folder=folder))
    name = os.path.basename(output)
    work = WorkDir(folder)
    with work.session(0):
        _start(work, output, name, size=size, compress=compress, overwrite=overwrite)
        staged = work.out / name
        image = sample_image(size, chunks=1024)
        entry.write(  # streamed where it can be: one band of rows in memory at a time
            staged,
            image,
            lambda arrays, progress=False: dask.compute(*arrays),
            options={
                "photometric": "rgb",
                "band": 1024,
                "compression": "zlib" if compress else None,
            },
        )
        work.publish({name: staged})
    log.info(msg.SAMPLE_WROTE.format(output=output, size=size))


def _start(work, output, name, *, size, compress, overwrite):
    """Start the locked work folder of ``output``'s folder afresh, after completing a publish
    that a killed command left half done; refuse an existing ``output`` without
    ``overwrite`` (checked again here, under the lock), or the companions GDAL would read
    with it (a ``.msk``, ``.aux.xml`` or ``.ovr``, which publishing moves aside).

    What a killed ``daskfft sample`` left there is started over; a killed run's or align's
    work is never touched: refused, saying so."""
    work.start_or_resume(
        {"command": "sample", "output": name, "size": size, "compress": compress},
        resume=False,
        overwrite=work.holds_run_of("sample"),
        create_stores=lambda root: None,
        hint=HINT,
    )
    _refuse_existing(output, overwrite)
    there = [n for n in companions([name]) if os.path.lexists(work.outdir / n)]
    if there and not overwrite:
        raise InputError(wmsg.OUTPUTS_THERE.format(outdir=work.outdir, names=", ".join(there)))


def _refuse_existing(output, overwrite):
    if os.path.exists(output) and not overwrite:
        raise InputError(msg.SAMPLE_EXISTS.format(output=output))
    if os.path.isdir(output) and not os.path.islink(output):  # never moved aside, deleted
        raise InputError(msg.SAMPLE_IS_A_FOLDER.format(output=output))
