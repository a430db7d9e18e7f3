"""A local TIFF opened once a process for the windows its tasks read (band by band, from
any thread), read anew once the file changes, and sparse tiles read as zeros."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile
from reference import make_image

from daskfft import io
from daskfft.io.tiff import opening


@pytest.fixture
def opened(monkeypatch):
    """The TiffFiles constructed from here on, the process' kept files forgotten first."""
    opening._forget()
    made = []

    class Counting(tifffile.TiffFile):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(tifffile, "TiffFile", Counting)
    yield made
    opening._forget()


def _windows(shape, step):
    return [((r, min(shape[0], r + step)), (0, shape[1])) for r in range(0, shape[0], step)]


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_process_parses_a_local_tiff_once_for_all_its_windows(tmp_path, opened, compression):
    image = make_image((700, 530, 3), np.uint8)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, image, tile=(64, 64), photometric="rgb", compression=compression)
    info = io.probe(path)
    before = len(opened)
    for rows, cols in _windows(image.shape, 96):  # bands of rows, as a streamed task reads
        got = io.read_window(info, rows, cols)
        np.testing.assert_array_equal(got, image[slice(*rows), slice(*cols)])
    assert len(opened) - before == 1


def test_threads_reading_one_file_at_once_get_what_one_thread_reads(tmp_path, opened):
    image = make_image((1000, 900), np.float32)
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, image, tile=(48, 64), compression="zlib")
    info = io.probe(path)
    windows = [((r, r + 317), (c, c + 251)) for r in range(0, 683, 61) for c in range(0, 649, 93)]

    def read(window):
        return io.read_window(info, *window)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(read, windows * 3))
    for (rows, cols), data in zip(windows * 3, got):
        np.testing.assert_array_equal(data, image[slice(*rows), slice(*cols)])
    assert len(opened) <= 2  # the probe's, and the one kept (8 threads: not one a read)


def test_a_kept_file_dropped_while_in_use_closes_when_its_reader_is_done(tmp_path, opened):
    paths = []
    for k in range(opening.KEPT_OPEN + 2):
        paths.append(tmp_path / f"{k}.tif")
        tifffile.imwrite(paths[-1], np.full((64, 64), k, np.uint8), tile=(16, 16))
    with opening.shared_tiff(paths[0]) as first:
        for p in paths[1:]:  # the first dropped from the kept ones
            with opening.shared_tiff(p):
                pass
        assert not first.filehandle.closed
        assert first.series[0].pages[0].asarray().max() == 0
    assert first.filehandle.closed
    with opening.shared_tiff(paths[0]) as again:
        assert again is not first and not again.filehandle.closed


def test_a_sparse_tiff_reads_zeros_where_it_holds_no_tile(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.windows import Window

    path = tmp_path / "sparse.tif"
    profile = dict(driver="GTiff", width=512, height=384, count=3, dtype="uint8", tiled=True)
    profile.update(blockxsize=128, blockysize=128, SPARSE_OK="TRUE", crs="EPSG:3857")
    profile.update(transform=rasterio.transform.from_origin(0, 384, 1, 1))
    block = np.arange(128 * 128 * 3, dtype=np.uint8).reshape(3, 128, 128) | 1
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(block, window=Window(128, 128, 128, 128))  # one tile of twelve
    with tifffile.TiffFile(path) as tif:
        counts = tif.pages[0].databytecounts
        assert sum(1 for n in counts if n) == 1  # the file holds that tile alone
    with rasterio.open(path) as src:
        want = np.moveaxis(src.read(), 0, -1)
    junk = make_image((384, 512, 3), np.uint8) | 1  # memory last used with no zeros in it
    del junk
    info = io.probe(path)
    got = io.read_window(info, (0, 384), (0, 512))
    np.testing.assert_array_equal(got, want)
    assert not got[:128].any() and got[128:256, 128:256].all()
    np.testing.assert_array_equal(
        io.read_window(info, (100, 300), (50, 450)), want[100:300, 50:450]
    )


@pytest.mark.parametrize("mtime", ["later", "kept"])
def test_a_file_rewritten_under_its_name_is_read_anew(tmp_path, opened, mtime):
    path = tmp_path / "a.tif"
    first = make_image((200, 160), np.uint16)
    tifffile.imwrite(path, first, tile=(32, 32))
    info = io.probe(path)
    np.testing.assert_array_equal(io.read_window(info, (0, 64), (0, 160)), first[:64])
    was = os.stat(path)
    old_handle = opened[-1]
    tifffile.imwrite(path, first[::-1].copy(), tile=(32, 32))  # the same size, in place
    later = 1_000_000 if mtime == "later" else 0  # "kept": as `cp -p` would leave it
    os.utime(path, ns=(was.st_atime_ns, was.st_mtime_ns + later))
    assert os.stat(path).st_size == was.st_size
    np.testing.assert_array_equal(io.read_window(info, (0, 64), (0, 160)), first[::-1][:64])
    assert old_handle.filehandle.closed  # the file's old self not held open


def test_a_long_segment_is_read_whole_in_several_reads(tmp_path, opened, monkeypatch):
    image = make_image((300, 400), np.uint8)
    path = tmp_path / "strip.tif"
    tifffile.imwrite(path, image)  # one strip of 120000 bytes
    calls = []

    def short(fd, count, offset):  # as Linux caps one read at 2 GiB, here at 7000 bytes
        calls.append(count)
        return real(fd, min(count, 7000), offset)

    real = os.pread
    monkeypatch.setattr(opening.os, "pread", short)
    got = io.read_window(io.probe(path), (0, 300), (0, 400))
    np.testing.assert_array_equal(got, image)
    assert len(calls) > 10


def test_threads_asking_for_a_new_file_at_once_wait_for_one_parse(tmp_path, opened, monkeypatch):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, make_image((256, 256), np.uint8), tile=(32, 32))
    parse = opening._parsed

    def slow(name):  # a header that takes a while, as a 32768^2 file's does
        time.sleep(0.2)
        return parse(name)

    monkeypatch.setattr(opening, "_parsed", slow)
    start = threading.Barrier(8)

    def read(_):
        start.wait()
        with opening.shared_tiff(path) as tif:
            return tif

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(read, range(8)))
    assert len(opened) == 1 and all(tif is got[0] for tif in got)
