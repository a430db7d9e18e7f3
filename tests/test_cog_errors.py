"""GDAL's failures while writing a COG are the run's, never bugs: one line, exit 1, the
finished chunks kept for ``--resume``; a full disk names the file system."""

import errno
import os
import re
import subprocess

import numpy as np
import pytest
import rasterio.shutil
import tifffile
from rasterio._err import CPLE_AppDefinedError, CPLE_OpenFailedError
from reference import make_image

from daskfft.cli import main


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            CPLE_AppDefinedError(
                3,
                1,
                "out.tif.tmp: Free disk space available is 0 bytes, whereas "
                "123 are at least necessary. No space left on device",
            ),
            "no space left on the file system mounted at ",
        ),
        (
            CPLE_OpenFailedError(3, 4, "Attempt to create new tiff file failed"),
            "GDAL could not write the COG (Attempt to create new tiff file failed)",
        ),
    ],
)
def test_a_gdal_failure_writing_a_cog_is_one_line_and_keeps_the_chunks(
    tmp_path, monkeypatch, capfd, error, said
):
    src, out = tmp_path / "in.tif", tmp_path / "out"
    tifffile.imwrite(src, make_image((300, 260), np.uint8, seed=2), tile=(128, 128))
    args = [
        "run",
        str(src),
        "-o",
        str(out),
        "--output-format",
        "cog",
        "--no-plots",
        "--spectra",
        "none",
        "--cluster",
        "threads",
        "-q",
    ]

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(rasterio.shutil, "copy", failing)
    assert main(args) == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("daskfft: error: ") and said in err, err
    assert re.search(r"; all \d+ chunks kept in \S+; rerun with --resume", err), err
    assert "internal error" not in err and not (out / "filtered.tif").exists()
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    monkeypatch.undo()
    assert main(args + ["--resume"]) == 0
    assert tifffile.imread(out / "filtered.tif").shape == (300, 260)


def _cog_run(tmp_path, out, image):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image, tile=(128, 128))
    return [
        "run",
        str(src),
        "-o",
        str(out),
        "--output-format",
        "cog",
        "--no-plots",
        "--spectra",
        "none",
        "--cluster",
        "threads",
        "-q",
    ]


def _full_disk_said_once(capfd, mount):
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("daskfft: error: "), err  # GDAL's kept off
    assert f"no space left on the file system mounted at {mount} (" in err, err
    assert re.search(r"; all \d+ chunks kept in \S+; rerun with --resume", err), err
    return err


#: What GDAL raises on a full file system (seen on a 600 KiB tmpfs): nothing about space;
#: libtiff says it on file descriptor 2 only.
_REAL_GDAL_SAID = [
    CPLE_AppDefinedError(1, 1, "TIFFWriteDirectoryTagData:IO error writing tag data"),
    CPLE_AppDefinedError(
        1, 1, "IReadBlock failed at X offset 0, Y offset 0: TIFFReadEncodedTile() failed."
    ),
    None,  # no error at all: GDAL returned as if the (truncated) file were written
]


@pytest.mark.parametrize("error", _REAL_GDAL_SAID)
def test_a_full_disk_that_only_libtiff_names_is_recognised_and_said_in_one_line(
    tmp_path, monkeypatch, capfd, error
):
    from daskfft.run.workdir.layout import mount_point as _mount_point

    out = tmp_path / "out"
    args = _cog_run(tmp_path, out, make_image((300, 260), np.uint8, seed=2))
    copy = rasterio.shutil.copy

    def full(src, dst, **kwargs):
        copy(src, dst, **kwargs)  # a file to remove
        os.write(2, b"_tiffWriteProc: No space left on device.\n")
        if error is not None:
            raise error

    monkeypatch.setattr(rasterio.shutil, "copy", full)
    assert main(args) == 1
    _full_disk_said_once(capfd, _mount_point(out))
    assert not (out / "filtered.tif").exists()
    assert not [n for n in os.listdir(out / ".daskfft-work" / "out") if n.endswith(".tmp")]
    monkeypatch.undo()
    assert main(args + ["--resume"]) == 0
    assert tifffile.imread(out / "filtered.tif").shape == (300, 260)


@pytest.fixture
def small_fs(tmp_path):
    """A real 4 MiB file system (tmpfs), unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a small tmpfs: {exc}")
    if proc.returncode:
        pytest.skip(f"cannot mount a small tmpfs: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=60)


def _fill(path, leave):
    """Fill the file system of ``path`` with the file ``path`` but ``leave`` bytes."""
    block = b"\0" * 65536
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        fh.truncate(max(0, fh.tell() - leave))


@pytest.mark.slow
@pytest.mark.parametrize("compress", ["NONE", "DEFLATE"])
@pytest.mark.parametrize("leave", [0, 100_000])
def test_a_cog_onto_a_real_full_file_system_names_it_in_one_line_and_resumes(
    tmp_path, small_fs, monkeypatch, capfd, compress, leave
):
    out = small_fs / "out"
    noise = np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)
    args = [*_cog_run(tmp_path, out, noise), "--co", f"COMPRESS={compress}"]
    copy = rasterio.shutil.copy
    filler = small_fs / "filler"

    def onto_a_full_disk(src, dst, **kwargs):  # every chunk done: now the disk fills up
        _fill(filler, leave)
        return copy(src, dst, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", onto_a_full_disk)
    assert main(args) == 1
    _full_disk_said_once(capfd, small_fs)
    assert not (out / "filtered.tif").exists()
    assert not [n for n in os.listdir(out / ".daskfft-work" / "out") if n.endswith(".tmp")]
    monkeypatch.undo()
    filler.unlink()  # space freed: the kept chunks are published
    assert main(args + ["--resume"]) == 0
    assert tifffile.imread(out / "filtered.tif").shape == (512, 512)
