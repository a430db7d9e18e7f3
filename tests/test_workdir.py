"""Failures after work was done: finished chunks are kept, resume finishes, OUTDIR stays whole."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
import zarr

from daskfft import io
from daskfft.cli import main
from daskfft.workdir import WORK_NAME, WorkDir

from reference import make_image

FAST = ["--cluster", "threads", "-q"]
TOTAL = 16  # a 4 x 4 grid of 64-px chunks


@pytest.fixture
def tiled(tmp_path):
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, make_image((256, 256), np.float32, seed=2), tile=(64, 64))
    return path


def _strict_json(path):
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _fail_one_read(monkeypatch, error, done_dir):
    """Make the read of the last chunk (its window ends at the image's corner) fail, once
    another chunk has finished."""
    read = io.read_window

    def flaky(info, rows, cols, **kwargs):
        if rows[1] == info.shape[0] and cols[1] == info.shape[1]:
            deadline = time.monotonic() + 20
            while not (done_dir.is_dir() and os.listdir(done_dir)):
                assert time.monotonic() < deadline, "no chunk finished"
                time.sleep(0.01)
            raise error
        return read(info, rows, cols, **kwargs)

    monkeypatch.setattr(io, "read_window", flaky)


def _one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("daskfft: error: "), err
    return lines[0]


@pytest.mark.parametrize("error", [OSError(errno.EIO, "Input/output error"),
                                   ValueError("a decoder said no")])
def test_error_after_chunks_finished_keeps_them_and_resume_finishes(tmp_path, tiled, error,
                                                                    monkeypatch, capsys):
    # 64-px chunks, 16 of them: 64-px output tiles (the TIFF's would be 128 px, and its chunks)
    args = ["run", str(tiled), "--chunks", "64", "--co", "BLOCKSIZE=64", "--spectra", "all",
            *FAST]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    out = tmp_path / "out"
    work = WorkDir(out).root
    _fail_one_read(monkeypatch, error, work / "done")
    assert main([*args, "-o", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    said = int(re.search(rf"(\d+) of {TOTAL} chunks kept in {work}; rerun with --resume",
                         line).group(1))
    assert str(error) in line
    assert os.listdir(out) == [WORK_NAME]
    monkeypatch.undo()
    time.sleep(0.5)  # a task already running when the error came may still finish
    kept = len(os.listdir(work / "done"))
    assert 0 < said <= kept < TOTAL
    capsys.readouterr()
    assert main([*[a for a in args if a != "-q"], "-o", str(out), "--resume"]) == 0
    assert "took over the lock" not in capsys.readouterr().err  # it was let go, not left
    report = _strict_json(out / "report.json")
    assert report["chunks"]["resumed"] == kept and report["chunks"]["computed"] == TOTAL - kept
    for name in ("filtered.tif", "spectra.png"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not work.exists()


def test_error_before_any_chunk_finished_discards_the_work(tmp_path, tiled, monkeypatch):
    def broken(info, rows, cols, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(io, "read_window", broken)
    assert main(["run", str(tiled), "-o", str(tmp_path / "o"), "--chunks", "64", *FAST]) == 1
    assert not (tmp_path / "o").exists()  # it made OUTDIR, and removed it again


def test_zarr_output_failure_after_finalize_is_resumable(tmp_path, tiled, monkeypatch, capsys):
    """The store is the output: it stays in the work folder until the whole set is published."""
    import daskfft.pipeline

    args = ["run", str(tiled), "--chunks", "64", "--output-format", "zarr", *FAST]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0

    def no_pictures(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(daskfft.pipeline, "write_pictures", no_pictures)
    out = tmp_path / "out"
    assert main([*args, "-o", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "no space left on the file system mounted at" in line  # named, not just ENOSPC
    assert f"all {TOTAL} chunks kept" in line
    monkeypatch.undo()
    assert main([*args, "-o", str(out), "--resume"]) == 0
    report = _strict_json(out / "report.json")
    assert report["chunks"]["computed"] == 0 and report["chunks"]["resumed"] == TOTAL
    got = zarr.open_array(str(out / "filtered.zarr"), mode="r")[...]
    np.testing.assert_array_equal(got, zarr.open_array(str(tmp_path / "whole" / "filtered.zarr"),
                                                       mode="r")[...])


def test_nan_nodata_resumes_and_reports_valid_json(tmp_path, monkeypatch, capsys):
    image = make_image((256, 256), np.float32, seed=3)
    image[100:120, 30:200] = np.nan
    path = tmp_path / "holes.tif"
    tifffile.imwrite(path, image, tile=(64, 64))
    args = ["run", str(path), "--chunks", "64", "--nodata", "nan", *FAST]
    out = tmp_path / "out"
    _fail_one_read(monkeypatch, OSError(errno.EIO, "Input/output error"),
                   WorkDir(out).root / "done")
    assert main([*args, "-o", str(out)]) == 1
    monkeypatch.undo()
    capsys.readouterr()
    assert main([*args, "-o", str(out), "--resume"]) == 0, capsys.readouterr().err
    report = _strict_json(out / "report.json")
    assert report["filter"]["nodata"] == "nan"
    got = tifffile.imread(out / "filtered.tif")
    assert np.isnan(got[100:120, 30:200]).all() and np.isfinite(got[:100]).all()


def _interrupted(tmp_path, path, args, monkeypatch):
    out = tmp_path / "out"
    _fail_one_read(monkeypatch, OSError(errno.EIO, "Input/output error"),
                   WorkDir(out).root / "done")
    assert main([*args, "-o", str(out)]) == 1
    monkeypatch.undo()
    return out


def test_resume_refuses_another_daskfft_version(tmp_path, tiled, monkeypatch, capsys):
    import daskfft.plan

    args = ["run", str(tiled), "--chunks", "64", *FAST]
    out = _interrupted(tmp_path, tiled, args, monkeypatch)
    capsys.readouterr()
    monkeypatch.setattr(daskfft.plan, "_version", lambda: "99.0")
    assert main([*args, "-o", str(out), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "daskfft: " in err and "then, '99.0' now" in err


def test_resume_refuses_a_zarr_input_whose_chunks_were_rewritten(tmp_path, monkeypatch, capsys):
    store = tmp_path / "in.zarr"
    z = zarr.create_array(str(store), shape=(256, 256), dtype="float32", chunks=(64, 64))
    z[...] = make_image((256, 256), np.float32, seed=4)
    args = ["run", str(store), "--chunks", "64", "--output-format", "tiff", "--co",
            "BLOCKSIZE=64", *FAST]  # 64-px chunks: 64-px tiles (256 px by default)
    out = tmp_path / "out"
    read = zarr.Array.__getitem__
    calls = []

    def flaky(self, key):  # fail one read, late
        calls.append(1)
        if len(calls) == 12:
            raise OSError(errno.EIO, "Input/output error")
        return read(self, key)

    monkeypatch.setattr(zarr.Array, "__getitem__", flaky)
    assert main([*args, "-o", str(out)]) == 1
    monkeypatch.undo()
    assert WorkDir(out).done()
    dir_mtime = os.stat(store).st_mtime_ns
    z = zarr.open_array(str(store), mode="r+")
    z[0:64, 0:64] = z[0:64, 0:64] + 1  # same size on disk, other pixels
    chunk = next(p for p in store.rglob("*") if p.is_file() and "zarr.json" not in p.name)
    os.utime(chunk, ns=(time.time_ns() + 10**9,) * 2)
    assert os.stat(store).st_mtime_ns == dir_mtime  # the folder's stat cannot tell
    capsys.readouterr()
    assert main([*args, "-o", str(out), "--resume"]) == 1
    assert "input.content_stat" in capsys.readouterr().err


# --- the lock ----------------------------------------------------------------------------

_HOLD = """
import sys, time
from daskfft.workdir import WorkDir
w = WorkDir(sys.argv[1]); w.acquire(); print("locked", flush=True); time.sleep(120)
"""


def test_a_second_run_is_refused_and_a_dead_runs_lock_taken_over(tmp_path, tiled, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for extra in ([], ["--overwrite"], ["--resume"]):
            t0 = time.monotonic()
            assert main(["run", str(tiled), "-o", str(out), *extra, *FAST]) == 1
            line = _one_error_line(capsys.readouterr().err)
            assert time.monotonic() - t0 < 10
            assert f"in use by another daskfft run (host {os.uname().nodename}, " \
                   f"PID {holder.pid}," in line
            assert (out / WORK_NAME / "lock").exists()  # the live run's folder is untouched
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdout.close()
    assert main(["run", str(tiled), "-o", str(out), "--cluster", "threads"]) == 0
    err = capsys.readouterr().err
    assert f"took over the lock of {out}, left by host" in err and f"PID {holder.pid}" in err
    assert (out / "filtered.tif").exists() and not (out / WORK_NAME).exists()


# --- publishing --------------------------------------------------------------------------


def test_publishing_is_all_or_nothing(tmp_path, tiled, monkeypatch, capsys):
    import daskfft.workdir

    out = tmp_path / "out"
    base = ["run", str(tiled), "--chunks", "64", "-o", str(out), *FAST]
    assert main([*base, "--spectra", "all"]) == 0
    (out / "notes.txt").write_text("mine")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    rename = os.rename
    calls = []

    def fails_on_the_fourth(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.EIO, "Input/output error")
        return rename(src, dst)

    monkeypatch.setattr(daskfft.workdir.os, "rename", fails_on_the_fourth)
    args = [*base, "--spectra", "all", "--cutoff", "0.2", "--overwrite"]
    assert main(args) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "publishing failed" in line and "--resume" in line
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and WORK_NAME not in p.parts}
    assert after == before  # the old complete set, and nothing else
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    report = _strict_json(out / "report.json")
    assert report["filter"]["cutoff_cycles_per_pixel"] == 0.2 and report["chunks"]["computed"] == 0
    assert (out / "notes.txt").read_text() == "mine" and not (out / WORK_NAME).exists()


def test_a_publish_cut_short_is_finished_by_the_next_run(tmp_path):
    work = WorkDir(tmp_path / "out")
    work.acquire()
    (work.root / "out").mkdir()
    for name in ("a.txt", "b.txt"):
        (work.root / "out" / name).write_text("new " + name)
        (work.outdir / name).write_text("old " + name)
    staged = {n: work.root / "out" / n for n in ("a.txt", "b.txt")}
    (work.root / "publish.json").write_text(json.dumps({k: str(v) for k, v in staged.items()}))
    (work.root / "replaced").mkdir()
    os.rename(work.outdir / "a.txt", work.root / "replaced" / "a.txt")  # killed right here
    os.rename(staged["a.txt"], work.outdir / "a.txt")
    work.finish_publishing()
    work.release()
    assert (work.outdir / "a.txt").read_text() == "new a.txt"
    assert (work.outdir / "b.txt").read_text() == "new b.txt"
    assert sorted(os.listdir(work.outdir)) == ["a.txt", "b.txt"]  # the work folder is gone


def test_resume_drops_what_a_killed_zarr_writer_left_half_written(tmp_path):
    """zarr writes a chunk to KEY.<uuid>.partial and renames it when complete: a SIGKILL in
    between leaves the .partial file, which must not reach the published store."""
    fingerprint = {"run": 1}

    def stores(root):
        (root / "filtered.zarr" / "c" / "0").mkdir(parents=True)

    work = WorkDir(tmp_path / "out")
    work.acquire()
    assert work.start_or_resume(fingerprint, resume=False, overwrite=False,
                                create_stores=stores) is False
    chunk = work.root / "filtered.zarr" / "c" / "0" / "1"
    chunk.write_bytes(b"whole")
    partial = work.root / "filtered.zarr" / "c" / "0" / "2.359e34c3.partial"
    partial.write_bytes(b"half")  # the writer was killed here
    work.release()
    again = WorkDir(tmp_path / "out")
    again.acquire()
    assert again.start_or_resume(fingerprint, resume=True, overwrite=False,
                                 create_stores=stores) is True
    again.release()
    assert chunk.read_bytes() == b"whole" and not partial.exists()
