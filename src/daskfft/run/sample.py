"""Write the synthetic sample image (``daskfft sample``) to a PNG or a tiled TIFF file.

The image itself is :func:`daskfft.api.sample.sample_image`; this module checks the
output path, streams the image into a temporary file beside it and moves that into
place, so a failed write never leaves a partial file under the name asked for.
"""

from __future__ import annotations

import logging
import os
import tempfile

from daskfft import io
from daskfft.api.sample import sample_image
from daskfft.errors import InputError

__all__ = ["write_sample"]


log = logging.getLogger("daskfft")


def write_sample(output, size=2048, *, compress=False, overwrite=False):
    """Write the sample, ``size`` px square RGB uint8, to ``output`` (.png, .tif or .tiff).

    A TIFF is a tiled BigTIFF written one band of rows at a time (any size,
    zlib-compressed with ``compress``); a PNG is written whole, up to
    :data:`daskfft.io.WHOLE_IMAGE_CAP` pixels.

    Raises
    ------
    InputError
        For another extension, a PNG above the cap, an existing ``output``
        without ``overwrite``, or a folder that does not exist.
    """
    fmt = io.FORMATS.get(os.path.splitext(output)[1].lower())
    if fmt not in ("png", "tiff"):
        raise InputError(f"output {output}: must end in .png, .tif or .tiff")
    if fmt == "png" and size**2 > io.WHOLE_IMAGE_CAP:
        raise InputError(
            f"output {output}: PNG is written whole, and {size}^2 px is "
            f"above the cap of {io.WHOLE_IMAGE_CAP / 1e6:.0f} Mpx; use .tif"
        )
    if os.path.exists(output) and not overwrite:
        raise InputError(f"output {output}: already exists; pass --overwrite to replace")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise InputError(f"output {output}: folder {folder} does not exist")
    image = sample_image(size, chunks=1024)
    fd, tmp = tempfile.mkstemp(prefix=".daskfft-", suffix=os.path.splitext(output)[1], dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
    try:
        if fmt == "tiff":  # streamed: one band of rows in memory at a time
            io.write_tiff(
                tmp,
                lambda r0, r1: image[r0:r1].compute(),
                image.shape,
                image.dtype,
                photometric="rgb",
                band=1024,
                compression="zlib" if compress else None,
            )
        else:
            io.write_image(tmp, image.compute(), fmt)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    log.info("wrote %s (%d x %d RGB uint8)", output, size, size)
