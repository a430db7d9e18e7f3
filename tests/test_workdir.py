"""Failures after work was done: finished chunks are kept, resume finishes, OUTDIR stays whole."""

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
import zarr
from reference import make_image

from daskfft import io
from daskfft.cli import main
from daskfft.errors import InputError, RunError
from daskfft.run.workdir import WORK_NAME, WorkDir

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


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.EIO, "Input/output error"),
        # what a decoder's error becomes in io (a bare one is a bug)
        InputError("input x.tif: cannot decode (a decoder said no)"),
    ],
)
def test_error_after_chunks_finished_keeps_them_and_resume_finishes(
    tmp_path, tiled, error, monkeypatch, capsys
):
    # 64-px chunks, 16 of them: 64-px output tiles (the TIFF's would be 128 px, and its chunks)
    args = ["run", str(tiled), "--chunks", "64", "--co", "BLOCKSIZE=64", "--spectra", "all", *FAST]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    out = tmp_path / "out"
    work = WorkDir(out).root
    _fail_one_read(monkeypatch, error, work / "done")
    assert main([*args, "-o", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err)
    said = int(
        re.search(rf"(\d+) of {TOTAL} chunks kept in {work}; rerun with --resume", line).group(1)
    )
    assert str(error) in line
    assert os.listdir(out) == [WORK_NAME]
    monkeypatch.undo()
    kept = len(os.listdir(work / "done"))  # no task of the run is left to add to them
    assert 0 < said == kept < TOTAL
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
    import daskfft.run.pipeline

    args = ["run", str(tiled), "--chunks", "64", "--output-format", "zarr", *FAST]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0

    def no_pictures(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(daskfft.run.pipeline, "write_pictures", no_pictures)
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
    np.testing.assert_array_equal(
        got, zarr.open_array(str(tmp_path / "whole" / "filtered.zarr"), mode="r")[...]
    )


def test_nan_nodata_resumes_and_reports_valid_json(tmp_path, monkeypatch, capsys):
    image = make_image((256, 256), np.float32, seed=3)
    image[100:120, 30:200] = np.nan
    path = tmp_path / "holes.tif"
    tifffile.imwrite(path, image, tile=(64, 64))
    args = ["run", str(path), "--chunks", "64", "--nodata", "nan", *FAST]
    out = tmp_path / "out"
    _fail_one_read(
        monkeypatch, OSError(errno.EIO, "Input/output error"), WorkDir(out).root / "done"
    )
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
    _fail_one_read(
        monkeypatch, OSError(errno.EIO, "Input/output error"), WorkDir(out).root / "done"
    )
    assert main([*args, "-o", str(out)]) == 1
    monkeypatch.undo()
    return out


def test_resume_refuses_another_daskfft_version(tmp_path, tiled, monkeypatch, capsys):
    import daskfft.run.fingerprint

    args = ["run", str(tiled), "--chunks", "64", *FAST]
    out = _interrupted(tmp_path, tiled, args, monkeypatch)
    capsys.readouterr()
    monkeypatch.setattr(daskfft.run.fingerprint, "_version", lambda: "99.0")
    assert main([*args, "-o", str(out), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "daskfft: " in err and "then, '99.0' now" in err


def test_resume_refuses_a_zarr_input_whose_chunks_were_rewritten(tmp_path, monkeypatch, capsys):
    store = tmp_path / "in.zarr"
    z = zarr.create_array(str(store), shape=(256, 256), dtype="float32", chunks=(64, 64))
    z[...] = make_image((256, 256), np.float32, seed=4)
    args = [
        "run",
        str(store),
        "--chunks",
        "64",
        "--output-format",
        "tiff",
        "--co",
        "BLOCKSIZE=64",
        *FAST,
    ]  # 64-px chunks: 64-px tiles (256 px by default)
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
from daskfft.run.workdir import WorkDir
w = WorkDir(sys.argv[1]); w.acquire(); print("locked", flush=True); time.sleep(120)
"""


@pytest.mark.slow
def test_a_second_run_is_refused_and_a_dead_runs_lock_taken_over(tmp_path, tiled, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        for extra in ([], ["--overwrite"], ["--resume"]):
            t0 = time.monotonic()
            assert main(["run", str(tiled), "-o", str(out), *extra, *FAST]) == 1
            line = _one_error_line(capsys.readouterr().err)
            assert time.monotonic() - t0 < 10
            assert (
                f"in use by another daskfft run (host {os.uname().nodename}, "
                f"PID {holder.pid}," in line
            )
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
    import daskfft.run.workdir

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

    monkeypatch.setattr(daskfft.run.workdir.os, "rename", fails_on_the_fourth)
    args = [*base, "--spectra", "all", "--cutoff", "0.2", "--overwrite"]
    assert main(args) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "publishing failed" in line and "--resume" in line
    after = {
        p.relative_to(out): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and WORK_NAME not in p.parts
    }
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
    assert (
        work.start_or_resume(fingerprint, resume=False, overwrite=False, create_stores=stores)
        is False
    )
    chunk = work.root / "filtered.zarr" / "c" / "0" / "1"
    chunk.write_bytes(b"whole")
    partial = work.root / "filtered.zarr" / "c" / "0" / "2.359e34c3.partial"
    partial.write_bytes(b"half")  # the writer was killed here
    work.release()
    again = WorkDir(tmp_path / "out")
    again.acquire()
    assert (
        again.start_or_resume(fingerprint, resume=True, overwrite=False, create_stores=stores)
        is True
    )
    again.release()
    assert chunk.read_bytes() == b"whole" and not partial.exists()


# --- the work folder is daskfft's own ------------------------------------------------------


def _tree(path):
    return sorted(
        (str(p.relative_to(path)), p.read_bytes() if p.is_file() else None) for p in path.rglob("*")
    )


def _victim(tmp_path):
    victim = tmp_path / "victim"
    (victim / "data").mkdir(parents=True)
    (victim / "thesis.tex").write_text("years of work")
    (victim / "data" / "run.json").write_text("{}")
    (victim / "lock").write_text("not a lock")
    return victim


@pytest.mark.parametrize("what", ["work folder", "lock", "other user"])
def test_a_linked_or_foreign_work_folder_is_refused_and_left_alone(tmp_path, tiled, what, capsys):
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    work = out / WORK_NAME
    if what == "work folder":
        work.symlink_to(victim)
    elif what == "lock":
        work.mkdir()
        (work / "lock").symlink_to(victim / "lock")
    else:
        if os.geteuid() != 0:
            pytest.skip("giving a folder to another user needs root")
        work.mkdir()
        os.chown(work, 12345, 12345)
    before = _tree(victim), _tree(out)
    assert main(["run", str(tiled), "-o", str(out), "--chunks", "64", *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    said = {
        "work folder": f"{work} is a symbolic link (to {victim})",
        "lock": f"{work / 'lock'} is a symbolic link (to {victim / 'lock'})",
        "other user": f"{work} belongs to another user (uid 12345)",
    }[what]
    assert said in line and "remove it, or give another OUTDIR" in line
    assert (_tree(victim), _tree(out)) == before


def test_cleaning_removes_only_what_runs_make(tmp_path, tiled, capsys):
    out = tmp_path / "out"
    (out / WORK_NAME).mkdir(parents=True)
    (out / WORK_NAME / "notes.txt").write_text("mine")
    assert main(["run", str(tiled), "-o", str(out), "--chunks", "64", "--cluster", "threads"]) == 0
    assert (out / "filtered.tif").exists() and (out / "report.json").exists()
    assert set(os.listdir(out / WORK_NAME)) <= {"notes.txt", "lock"}  # the lock let go
    assert (out / WORK_NAME / "notes.txt").read_text() == "mine"
    assert f"left notes.txt in {out / WORK_NAME}: not daskfft's" in capsys.readouterr().err


# --- outputs are checked under the lock ---------------------------------------------------


def test_outputs_published_after_this_run_planned_are_not_replaced(
    tmp_path, tiled, monkeypatch, capsys
):
    """Another run publishes between this run's planning and its lock: the check, under the
    lock, still sees its outputs."""
    import daskfft.run.pipeline

    out = tmp_path / "out"
    plan = daskfft.run.pipeline.make_plan
    other = {}

    def plan_then_another_run_publishes(config):
        planned = plan(config)
        if not other:
            other["report"] = None  # it plans through here too
            other["report"] = daskfft.run.pipeline.run(
                tiled, out, chunks=64, cutoff=0.2, cluster="threads"
            )
        return planned

    monkeypatch.setattr(daskfft.run.pipeline, "make_plan", plan_then_another_run_publishes)
    assert main(["run", str(tiled), "-o", str(out), "--chunks", "64", *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "already there; pass --overwrite" in line
    assert _strict_json(out / "report.json")["filter"]["cutoff_cycles_per_pixel"] == 0.2
    assert sorted(os.listdir(out)) == sorted(other["report"]["outputs"])  # the other run's, only


# --- a run killed while publishing -------------------------------------------------------

_KILL_AT_RENAME = """
import os, signal, sys
out, k = sys.argv[1], int(sys.argv[2])
rename, seen = os.rename, []

def rename_or_die(src, dst):
    if os.path.dirname(os.path.abspath(dst)) == out:  # a publishing rename into OUTDIR
        seen.append(dst)
        if len(seen) == k:
            os.kill(os.getpid(), signal.SIGKILL)
    return rename(src, dst)

os.rename = rename_or_die
from daskfft.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _killed_while_publishing(out, args, k):
    """Run ``args`` into ``out`` in a process killed (SIGKILL) at its ``k``-th rename into it."""
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AT_RENAME, str(out), str(k), *args, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (out / WORK_NAME / "publish.json").exists()


def _count_reads(monkeypatch):
    reads = []
    read = io.read_window
    monkeypatch.setattr(io, "read_window", lambda *a, **k: reads.append(1) or read(*a, **k))
    return reads


@pytest.mark.slow
@pytest.mark.parametrize(
    "k, extra, moved",
    [
        (1, [], False),
        (2, ["--resume"], False),
        (3, ["--resume", "--overwrite"], False),
        (2, [], True),
    ],
)
def test_the_next_run_completes_a_publish_cut_short_and_computes_nothing(
    tmp_path, tiled, k, extra, moved, monkeypatch, capsys
):
    args = [
        "run",
        str(tiled),
        "--chunks",
        "64",
        "--co",
        "BLOCKSIZE=64",
        "--spectra",
        "atlas",
        "--cluster",
        "threads",
    ]  # 64-px output tiles, so 64-px chunks: TOTAL of them
    whole = tmp_path / "whole"
    assert main([*args, "-o", str(whole), "-q"]) == 0
    out = tmp_path / "out"
    _killed_while_publishing(out, args, k)
    if moved:  # mv OUTDIR elsewhere before the next run
        os.rename(out, tmp_path / "moved")
        out = tmp_path / "moved"
    reads = _count_reads(monkeypatch)
    capsys.readouterr()
    assert main([*args, "-o", str(out), *extra]) == 0
    err = capsys.readouterr().err
    assert f"finished publishing {out}, which an earlier run had started" in err
    assert f"{out}: already complete, with the same input and parameters" in err
    assert reads == []  # not a chunk computed again
    assert sorted(os.listdir(out)) == sorted(os.listdir(whole))  # and the work folder gone
    for name in ("filtered.tif", "spectra.png", "overview.png", "radial_spectrum.png"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    assert _strict_json(out / "report.json")["chunks"]["computed"] == TOTAL


class _Killed(BaseException):
    """A SIGKILL, in this process: nothing of the publish runs after it."""


def _publish_killed_at(work, staged, k, monkeypatch):
    import daskfft.run.workdir

    rename, calls = os.rename, []

    def dies_at_k(src, dst):
        calls.append(dst)
        if len(calls) >= k:
            raise _Killed()
        return rename(src, dst)

    monkeypatch.setattr(daskfft.run.workdir.os, "rename", dies_at_k)
    with pytest.raises(_Killed):
        work.publish(staged)
    monkeypatch.undo()
    work.release()


@pytest.mark.parametrize("then", ["outdir moved", "source lost"])
def test_a_publish_journal_survives_a_moved_outdir_and_never_skips_a_source(
    tmp_path, then, monkeypatch
):
    work = WorkDir(tmp_path / "out")
    work.acquire()
    (work.root / "out").mkdir()
    staged = {n: work.root / "out" / n for n in ("a.txt", "b.txt")}
    for name, source in staged.items():
        source.write_text("new " + name)
        (work.outdir / name).write_text("old " + name)
    _publish_killed_at(work, staged, 3, monkeypatch)  # a.txt is in, b.txt not yet aside
    outdir = tmp_path / "moved"
    os.rename(work.outdir, outdir)
    again = WorkDir(outdir)
    again.acquire()
    try:
        if then == "outdir moved":
            assert again.finish_publishing() is True
        else:
            (again.root / "out" / "b.txt").unlink()
            with pytest.raises(
                InputError,
                match=r"cannot be finished: \.daskfft-work/out/b\.txt "
                r"is missing and b\.txt is not the file it held",
            ):
                again.finish_publishing()
    finally:
        again.release()
    assert (outdir / "a.txt").read_text() == "new a.txt"
    if then == "outdir moved":
        assert (outdir / "b.txt").read_text() == "new b.txt"
        assert sorted(os.listdir(outdir)) == ["a.txt", "b.txt"]
    else:
        assert (outdir / "b.txt").read_text() == "old b.txt"
        assert (again.root / "publish.json").exists()  # nothing cleaned: it is all still there
        assert (again.root / "replaced" / "a.txt").read_text() == "old a.txt"


# --- an output's companions (.msk, .aux.xml, .ovr) go with it --------------------------------


def test_a_new_output_is_never_masked_by_an_old_runs_msk(tmp_path, capsys):
    """GDAL reads ``filtered.tif.msk`` and ``filtered.tif.aux.xml`` as part of filtered.tif:
    those an earlier run (or gdalinfo -stats) left are moved aside with the old file."""
    rasterio = pytest.importorskip("rasterio")
    from test_io import _masked_geotiff

    image = make_image((256, 256), np.float32, seed=3)
    keep = np.zeros(image.shape, bool)
    keep[:, :100] = True
    masked, plain = tmp_path / "masked.tif", tmp_path / "plain.tif"
    _masked_geotiff(masked, image, keep, internal=False)
    with rasterio.open(masked) as src:  # the same grid, no mask
        profile = src.profile
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(image, 1)
    out = tmp_path / "out"
    assert main(["run", str(masked), "-o", str(out), *FAST]) == 0
    assert (out / "filtered.tif.msk").exists()
    (out / "filtered.tif.aux.xml").write_text(
        '<PAMDataset><Metadata><MDI key="STALE">old statistics</MDI></Metadata></PAMDataset>\n'
    )
    with rasterio.open(out / "filtered.tif") as ds:  # what GDAL makes of them
        assert (ds.dataset_mask() == 0).sum() == (~keep).sum()
        assert ds.tags().get("STALE") == "old statistics"
    assert main(["run", str(plain), "-o", str(out), *FAST]) == 1  # theirs: not without asking
    assert "already there; pass --overwrite" in _one_error_line(capsys.readouterr().err)
    assert main(["run", str(plain), "-o", str(out), "--overwrite", *FAST]) == 0
    assert not any(n.startswith("filtered.tif.") for n in os.listdir(out)), os.listdir(out)
    with rasterio.open(out / "filtered.tif") as ds:
        assert (ds.dataset_mask() == 255).all()
        assert "STALE" not in ds.tags()
    # Only a companion left there (its image removed by hand): still not replaced unasked.
    for name in os.listdir(out):
        os.unlink(out / name)
    (out / "filtered.tif.msk").write_bytes(b"a user's")
    assert main(["run", str(plain), "-o", str(out), *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"output {out}: filtered.tif.msk already there; pass --overwrite" in line
    assert (out / "filtered.tif.msk").read_bytes() == b"a user's"


@pytest.mark.parametrize("then", ["killed", "failed"])
def test_an_old_companion_moved_aside_is_restored_by_a_rollback_and_a_crash_completed(
    tmp_path, monkeypatch, then
):
    import daskfft.run.workdir

    work = WorkDir(tmp_path / "out")
    work.acquire()
    (work.root / "out").mkdir()
    staged = {"a.tif": work.root / "out" / "a.tif"}
    staged["a.tif"].write_text("new")
    (work.outdir / "a.tif.msk").write_text("old mask")
    if then == "killed":  # at the 2nd rename: a.tif is in, a.tif.msk not yet aside
        _publish_killed_at(work, staged, 2, monkeypatch)
        again = WorkDir(work.outdir)
        again.acquire()
        try:
            assert again.finish_publishing() is True
        finally:
            again.release()
        assert sorted(os.listdir(work.outdir)) == ["a.tif"]
        assert (work.outdir / "a.tif").read_text() == "new"
        return
    rename = os.rename

    def fails_on_the_mask(src, dst):
        if str(src).endswith(".msk"):
            raise OSError(errno.EIO, "Input/output error")
        return rename(src, dst)

    monkeypatch.setattr(daskfft.run.workdir.os, "rename", fails_on_the_mask)
    try:
        with pytest.raises(RunError, match="publishing failed .*OUTDIR holds its previous files"):
            work.publish(staged)
    finally:
        monkeypatch.undo()
        work.release()
    assert sorted(os.listdir(work.outdir)) == [WORK_NAME, "a.tif.msk"]
    assert (work.outdir / "a.tif.msk").read_text() == "old mask"
    assert staged["a.tif"].read_text() == "new"


# --- published is done -----------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_the_command_has_it():
    from daskfft.run.job import on_sigterm as _on_sigterm

    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def test_sigterm_while_the_work_folder_is_deleted_leaves_a_successful_run(
    tmp_path, tiled, monkeypatch, capsys
):
    """A wall-time SIGTERM after publishing, while 10^5 markers are deleted: the run has
    succeeded, and the next run deletes what is left."""
    import daskfft.run.workdir.layout

    args = [
        "run",
        str(tiled),
        "--chunks",
        "64",
        "--co",
        "BLOCKSIZE=64",
        "--spectra",
        "atlas",
        "--cluster",
        "threads",
    ]  # 64-px output tiles, so 64-px chunks: TOTAL of them
    whole = tmp_path / "whole"
    assert main([*args, "-o", str(whole), "-q"]) == 0
    rmtree = shutil.rmtree

    def slow_rmtree(path, *a, **k):
        os.kill(os.getpid(), signal.SIGTERM)  # the time limit strikes
        return rmtree(path, *a, **k)

    monkeypatch.setattr(daskfft.run.workdir.layout.shutil, "rmtree", slow_rmtree)
    out = tmp_path / "out"
    capsys.readouterr()
    with _sigterm_as_the_command_has_it():
        assert main([*args, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "to delete (stopped); the outputs are published, and the next run" in err
    assert "chunks kept" not in err and "error" not in err
    for name in set(os.listdir(whole)) - {"report.json", "report.html"}:  # their timings differ
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    assert _strict_json(out / "report.json")["chunks"]["computed"] == TOTAL
    left = [n for n in os.listdir(out) if n.startswith(".daskfft-retired-")]
    assert len(left) == 1 and not (out / WORK_NAME).exists()
    monkeypatch.undo()
    reads = _count_reads(monkeypatch)
    assert main([*args, "-o", str(out), "--resume"]) == 0
    assert "already complete" in capsys.readouterr().err and reads == []
    assert sorted(os.listdir(out)) == sorted(os.listdir(whole))  # and the leftover deleted


@pytest.mark.parametrize("signal_", ["SIGTERM", "SIGINT"])
def test_a_signal_just_after_publishing_leaves_a_successful_run(
    tmp_path, tiled, monkeypatch, capsys, signal_
):
    """A signal after the held block, before the retired work folder is deleted: the outputs
    are published, so the run has succeeded, and nothing of the next run's is touched."""
    from daskfft.errors import TermSignal

    args = [
        "run",
        str(tiled),
        "--chunks",
        "64",
        "--co",
        "BLOCKSIZE=64",
        "--spectra",
        "atlas",
        "--cluster",
        "threads",
    ]
    whole = tmp_path / "whole"
    assert main([*args, "-o", str(whole), "-q"]) == 0
    out = tmp_path / "out"
    delete = WorkDir._delete_retired

    def signalled(self, trash, **kwargs):
        # a new run starts in the retired run's place (its folder must not be cleared)
        (self.root / "cells").mkdir(parents=True)
        raise TermSignal() if signal_ == "SIGTERM" else KeyboardInterrupt()

    monkeypatch.setattr(WorkDir, "_delete_retired", signalled)
    capsys.readouterr()
    with _sigterm_as_the_command_has_it():
        assert main([*args, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    said = "SIGTERM" if signal_ == "SIGTERM" else "an interrupt"
    assert f"{said} came once the outputs were published into {out}: the run has succeeded" in err
    assert "chunks kept" not in err and "error" not in err, err
    for name in set(os.listdir(whole)) - {"report.json", "report.html"}:  # their timings differ
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    assert (out / WORK_NAME / "cells").is_dir()  # not cleared
    (out / WORK_NAME / "cells").rmdir()
    (out / WORK_NAME).rmdir()
    monkeypatch.setattr(WorkDir, "_delete_retired", delete)
    assert main([*args, "-o", str(out), "--resume"]) == 0
    assert "already complete" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == sorted(os.listdir(whole))  # the retired folder deleted


def test_clearing_a_work_folder_that_is_gone_does_nothing(tmp_path):
    work = WorkDir(tmp_path / "out")
    work._clear()
    assert not (tmp_path / "out").exists()


# --- publishing: signals held, and a rollback that cannot finish says what is where -----------


def test_a_rollback_that_fails_says_what_is_where_and_the_next_run_completes(
    tmp_path, tiled, monkeypatch, capsys
):
    import daskfft.run.workdir

    out = tmp_path / "out"
    base = ["run", str(tiled), "--chunks", "64", "--spectra", "all", "-o", str(out), *FAST]
    assert main(base) == 0
    rename, calls = os.rename, []

    def fails_from_the_fourth_on(src, dst):  # the fourth: report.json into OUTDIR
        calls.append(dst)
        if len(calls) >= 4:
            raise OSError(errno.EIO, "Input/output error")
        return rename(src, dst)

    monkeypatch.setattr(daskfft.run.workdir.os, "rename", fails_from_the_fourth_on)
    args = [*base, "--cutoff", "0.2", "--overwrite"]
    assert main(args) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "holds its previous files" not in line
    w = WORK_NAME
    for said in (
        "publishing failed (Input/output error), and so did putting OUTDIR back",
        f"{w}/replaced/report.json stays there, not back at report.json (Input/output",
        f"filtered.tif stays there, not back at {w}/out/filtered.tif (Input/output",
        f"{w}/replaced/filtered.tif stays there, not back at filtered.tif (occupied)",
        f"the journal {w}/publish.json is kept, and the next run into OUTDIR completes",
    ):
        assert said in line
    assert (out / w / "replaced" / "report.json").exists() and not (out / "report.json").exists()
    assert (out / w / "replaced" / "filtered.tif").exists() and (out / "filtered.tif").exists()
    monkeypatch.undo()
    reads = _count_reads(monkeypatch)
    assert main([a for a in args if a != "-q"]) == 0  # no --resume needed: the journal says
    assert "already complete" in capsys.readouterr().err and reads == []
    assert _strict_json(out / "report.json")["filter"]["cutoff_cycles_per_pixel"] == 0.2
    assert not (out / w).exists()


def test_sigterm_while_publishing_waits_until_every_output_is_in_place(
    tmp_path, tiled, monkeypatch, capsys
):
    import daskfft.run.workdir

    args = ["run", str(tiled), "--chunks", "64", "--spectra", "all", "--cluster", "threads"]
    whole = tmp_path / "whole"
    assert main([*args, "-o", str(whole), "-q"]) == 0
    out = tmp_path / "out"
    rename, calls = os.rename, []

    def sigterm_at_the_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the time limit strikes, between renames
        return rename(src, dst)

    monkeypatch.setattr(daskfft.run.workdir.os, "rename", sigterm_at_the_second)
    capsys.readouterr()
    with _sigterm_as_the_command_has_it():
        assert main([*args, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "SIGTERM came while publishing; the outputs were published first" in err
    assert "error" not in err and "chunks kept" not in err
    assert sorted(n for n in os.listdir(out) if not n.startswith(".")) == sorted(os.listdir(whole))
    for name in set(os.listdir(whole)) - {"report.json", "report.html", "spectra"}:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    assert sorted(os.listdir(out / "spectra")) == sorted(os.listdir(whole / "spectra"))
    assert not (out / WORK_NAME).exists()


_PUBLISH_WITH_DEFAULT_SIGTERM = """
import os, signal, sys
from daskfft.run.workdir import WorkDir
work = WorkDir(sys.argv[1])
work.acquire()
(work.root / "out").mkdir()
staged = {n: work.root / "out" / n for n in ("a.txt", "b.txt")}
for name, path in staged.items():
    path.write_text("new " + name)
rename = os.rename
def sigterm_then_rename(src, dst):
    os.kill(os.getpid(), signal.SIGTERM)  # default handler: would end the process here
    return rename(src, dst)
os.rename = sigterm_then_rename
work.publish(staged)
print("not reached: the held SIGTERM ends the process once published", flush=True)
"""


@pytest.mark.slow
def test_a_default_sigterm_while_publishing_ends_the_process_once_published(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", _PUBLISH_WITH_DEFAULT_SIGTERM, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert "not reached" not in proc.stdout
    assert [(out / n).read_text() for n in ("a.txt", "b.txt")] == ["new a.txt", "new b.txt"]
    assert not (out / WORK_NAME / "publish.json").exists()


def test_sigterm_while_a_journal_is_completed_stops_the_run_after_it(tmp_path, monkeypatch):
    import daskfft.run.workdir
    from daskfft.errors import TermSignal

    work = WorkDir(tmp_path / "out")
    work.acquire()
    (work.root / "out").mkdir()
    staged = {n: work.root / "out" / n for n in ("a.txt", "b.txt", "c.txt")}
    for name, source in staged.items():
        source.write_text("new " + name)
    _publish_killed_at(work, staged, 2, monkeypatch)  # a.txt is in
    rename = os.rename

    def sigterm_then_rename(src, dst):
        os.kill(os.getpid(), signal.SIGTERM)
        return rename(src, dst)

    monkeypatch.setattr(daskfft.run.workdir.os, "rename", sigterm_then_rename)
    again = WorkDir(work.outdir)
    again.acquire()
    try:
        with _sigterm_as_the_command_has_it(), pytest.raises(TermSignal):
            again.finish_publishing()
    finally:
        again.release()
    for name in staged:
        assert (work.outdir / name).read_text() == "new " + name


# --- what a refusal tells the user to do is an option of the command that refuses ----------

_KILLED_ALIGN = """
import os, sys
import daskfft.run.align as align

align._measure = lambda *args, **kwargs: os._exit(9)  # killed once its work folder is made
align.align_files(sys.argv[1], sys.argv[2], sys.argv[3])
"""


@pytest.mark.slow
def test_after_a_killed_align_the_next_names_only_options_align_has(tmp_path, capsys):
    from test_align import _geotiffs, _scene

    ref, mov = _geotiffs(tmp_path, _scene())
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_ALIGN, str(ref), str(mov), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 9, proc.stderr
    assert (out / WORK_NAME / "run.json").exists()
    args = ["align", str(ref), str(mov), "-o", str(out), "--cluster", "threads", "-q"]
    assert main(args) == 1
    line = _one_error_line(capsys.readouterr().err.replace("daskfft align:", "daskfft:"))
    assert f"an interrupted run left {out / WORK_NAME}; " in line
    assert "--resume" not in line and "pass --overwrite to start over" in line
    assert main([*args, "--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["shift_field.csv", "shift_field.png", "transform.json"]


# --- a publish that could not be put back keeps its journal, whatever the session ------------


@pytest.mark.parametrize("total", [0, 4])  # 0: align's session, which has no chunks
def test_a_failed_put_back_keeps_the_old_outputs_and_the_journal_it_names(
    tmp_path, total, monkeypatch
):
    import daskfft.run.workdir

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a.txt")
    rename, calls = os.rename, []

    def fails_from_the_third_on(src, dst):  # a.txt aside, the new a.txt in, then b.txt fails
        calls.append(dst)
        if len(calls) >= 3:
            raise OSError(errno.EIO, "Input/output error")
        return rename(src, dst)

    work = WorkDir(out)
    with pytest.raises(RunError) as caught, work.session(total):
        work.start_or_resume(
            {"command": "test"}, resume=False, overwrite=True, create_stores=lambda root: None
        )
        if total:  # a run whose chunks finished
            for i in range(total):
                (work.root / "done" / f"0_{i}").touch()
        staged = {n: work.out / n for n in ("a.txt", "b.txt")}
        for name, source in staged.items():
            source.write_text("new " + name)
        monkeypatch.setattr(daskfft.run.workdir.os, "rename", fails_from_the_third_on)
        work.publish(staged)
    monkeypatch.undo()
    w = WORK_NAME
    said = str(caught.value)
    assert f"{w}/replaced/a.txt stays there" in said and f"{w}/publish.json is kept" in said
    assert (out / w / "replaced" / "a.txt").read_text() == "old a.txt"  # what the error says
    assert (out / "a.txt").read_text() == "new a.txt"
    assert (out / w / "out" / "b.txt").read_text() == "new b.txt"
    assert (out / w / "publish.json").exists()
    again = WorkDir(out)  # and the next run completes the publishing
    again.acquire()
    try:
        assert again.finish_publishing()
    finally:
        again.release()
    assert [(out / n).read_text() for n in ("a.txt", "b.txt")] == ["new a.txt", "new b.txt"]
    assert not (out / w).exists()


@pytest.mark.parametrize("error", [errno.EIO, errno.ESTALE])
def test_an_error_reading_the_work_folder_once_published_leaves_a_successful_run(
    tmp_path, tiled, error, monkeypatch, capsys
):
    import daskfft.run.workdir

    out = tmp_path / "out"
    listdir = os.listdir

    def fails_in_the_work_folder(path="."):
        if os.path.abspath(path) == str(out / WORK_NAME) and (out / "report.json").exists():
            raise OSError(error, os.strerror(error))  # only once the outputs are in place
        return listdir(path)

    monkeypatch.setattr(daskfft.run.workdir.os, "listdir", fails_in_the_work_folder)
    assert main(["run", str(tiled), "--chunks", "64", "-o", str(out), "--cluster", "threads"]) == 0
    err = capsys.readouterr().err
    assert "daskfft: error" not in err and "chunks kept" not in err
    assert f"the outputs are published, and the next run into {out} deletes it" in err
    assert {"filtered.tif", "report.json"} <= set(os.listdir(out))
    assert not (out / WORK_NAME / "run.json").exists()  # no interrupted run left
    assert not (out / WORK_NAME / "publish.json").exists()
    monkeypatch.undo()
    assert (
        main(
            [
                "run",
                str(tiled),
                "--chunks",
                "64",
                "--cutoff",
                "0.2",
                "-o",
                str(out),
                "--overwrite",
                *FAST,
            ]
        )
        == 0
    )
    assert not (out / WORK_NAME).exists()


def test_an_error_releasing_the_lock_once_published_leaves_a_successful_run(
    tmp_path, tiled, monkeypatch, capsys
):
    from daskfft.run.workdir.lock import RunLock

    out = tmp_path / "out"
    release = RunLock.release

    def fails_to_close(self):
        release(self)
        raise OSError(errno.EIO, "Input/output error")  # what close() can say on NFS

    monkeypatch.setattr(RunLock, "release", fails_to_close)
    assert main(["run", str(tiled), "--chunks", "64", "-o", str(out), "--cluster", "threads"]) == 0
    err = capsys.readouterr().err
    assert "daskfft: error" not in err and "could not release the lock" in err
    assert {"filtered.tif", "report.json"} <= set(os.listdir(out))
