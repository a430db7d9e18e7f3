"""Many images in one run (``daskfft run 'scenes/*.tif'``, several paths, ``--from-list``):
each image's outputs in ``OUTDIR/<name>/``, the same bytes as a run of that image alone; one
cluster and one progress bar; a failed image said in one line and skipped; a summary; a
killed batch resumed image by image, byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mpi_helpers import mpi_run, needs_mpi

from daskfft.cli import main
from daskfft.run.workdir import WorkDir

FAST = ["--cluster", "threads", "-q"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Three sample TIFFs of different sizes, and a broken one."""
    folder = tmp_path_factory.mktemp("scenes")
    for name, size in (("north", 600), ("south", 520), ("east", 700)):
        assert main(["sample", "-o", str(folder / f"{name}.tif"), "--size", str(size), "-q"]) == 0
    (folder / "west.tif").write_bytes(b"not a tiff at all")
    return folder


def _alone(tmp_path, path, *args):
    out = tmp_path / "alone" / path.stem
    assert main(["run", str(path), "-o", str(out), *args, *FAST]) == 0
    return out


def test_a_glob_filters_each_image_into_its_folder_and_skips_a_broken_one(scenes, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--sigma", "3", "--chunks", "256"]
    assert main(["run", str(scenes / "*.tif"), "-o", str(out), *args, *FAST]) == 1
    err = capsys.readouterr().err.splitlines()
    # One line for the broken image as it happened, one at the end naming it; nothing else.
    assert len(err) == 2, err
    assert "west.tif" in err[0] and "not a readable TIFF" in err[0] and "skipped" in err[0]
    assert "1 of 4 images failed" in err[1] and str(scenes / "west.tif") in err[1]
    assert sorted(os.listdir(out)) == ["batch.json", "east", "north", "south"]
    for name in ("north", "south", "east"):
        alone = _alone(tmp_path, scenes / f"{name}.tif", *args)
        assert sorted(os.listdir(out / name)) == sorted(os.listdir(alone))
        for output in ("filtered.tif", "spectra.png", "overview.png"):
            assert (out / name / output).read_bytes() == (alone / output).read_bytes()
    summary = json.loads((out / "batch.json").read_text())
    rows = {os.path.basename(r["input"]): r for r in summary["images"]}
    assert [os.path.basename(r["input"]) for r in summary["images"]] == sorted(rows)
    assert {n: r["status"] for n, r in rows.items()} == {
        "east.tif": "done",
        "north.tif": "done",
        "south.tif": "done",
        "west.tif": "failed",
    }
    assert rows["west.tif"]["error"].startswith("input ") and summary["failed"] == 1
    report = json.loads((out / "north" / "report.json").read_text())
    assert rows["north.tif"]["bound"] == report["halo"]["expected_max_deviation"]


def test_paths_and_a_list_make_a_batch_with_its_summary_table(scenes, tmp_path, capsys):
    listing = tmp_path / "images.txt"
    listing.write_text(f"# the southern scene\n{scenes / 'south.tif'}\n\n")
    out = tmp_path / "out"
    argv = ["run", str(scenes / "north.tif"), "--from-list", str(listing), "-o", str(out)]
    assert main([*argv, "--cluster", "threads"]) == 0
    err = capsys.readouterr().err
    assert "batch: 2 images into" in err and "sized for the largest (north)" in err
    table = [line for line in err.splitlines() if line.startswith("daskfft: north.tif")]
    assert len(table) == 1 and " done " in table[0]
    assert sorted(os.listdir(out)) == ["batch.json", "north", "south"]


def test_one_progress_bar_counts_every_images_chunks(scenes, tmp_path, capsys, monkeypatch):
    import logging

    from daskfft.cli.errors import expected
    from daskfft.run.batch import batch_configs, run_batch
    from daskfft.run.config import RunConfig

    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # the bar alone on stderr
    configs = batch_configs(
        [scenes / "north.tif", scenes / "south.tif"],
        tmp_path / "out",
        lambda path, outdir: RunConfig.create(path, outdir, chunks=128, cluster="threads"),
    )
    summary = run_batch(configs, tmp_path / "out", expected=expected, progress=True)
    assert [r["status"] for r in summary["images"]] == ["done", "done"]
    total = sum(r["chunks"] for r in summary["images"])  # each image's own grid
    assert total > 2
    drawn = capsys.readouterr().err
    assert drawn.count("\n") == 1 and drawn.endswith(f"] {total}/{total} chunks, 2/2 images\n")


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (["north.tif", "north.png"], "would both go into OUTDIR/north/"),
        (["north.tif", "north.tif"], "would both go into OUTDIR/north/"),
    ],
)
def test_two_images_of_one_name_are_refused_before_any_work(scenes, tmp_path, capsys, names, said):
    (scenes / "north.png").write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        main(["run", *(str(scenes / n) for n in names), "-o", str(tmp_path / "o"), *FAST])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err
    assert not (tmp_path / "o").exists()


def test_a_glob_that_matches_nothing_is_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "*.tif"), "-o", str(tmp_path / "o"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no file matches" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["x.tif", "--sample"], "argument --sample: not allowed with argument INPUT"),
        ([], "one of the arguments INPUT --from-list --sample is required"),
    ],
)
def test_sample_and_inputs_exclude_each_other(tmp_path, capsys, argv, said):
    with pytest.raises(SystemExit) as info:
        main(["run", *argv, "-o", str(tmp_path / "o")])
    assert info.value.code == 2
    assert said in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_batch_resumes_image_by_image_byte_for_byte(tmp_path):
    """SIGKILL while the second image is half done; --resume leaves the first as it was,
    finishes the second from its kept chunks and does the third: the same bytes as a batch
    never killed."""
    images = []
    for name in ("north", "south", "east"):
        images.append(str(tmp_path / f"{name}.tif"))
        assert main(["sample", "-o", images[-1], "--size", "1400", "-q"]) == 0
    args = ["--filter", "butterworth", "--cutoff", "0.1", "--spectra", "all", "--chunks", "256"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskfft", "run", *images, "-o", str(killed), *args, *FAST],
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    second = WorkDir(killed / "south").root / "done"
    total = 36  # 1400 px in its TIFF's 256-px tiles: 6 x 6 chunks (the last ones wider)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if second.is_dir() and len(os.listdir(second)) >= total // 4:
                break
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        log.close()
    kept = len(os.listdir(second))
    assert total // 4 <= kept < total
    assert not (killed / "east").exists() or os.listdir(killed / "east") == [".daskfft-work"]
    first = (killed / "north" / "filtered.tif").read_bytes()
    assert main(["run", *images, "-o", str(killed), *args, "--resume", *FAST]) == 0
    assert main(["run", *images, "-o", str(whole), *args, *FAST]) == 0
    rows = json.loads((killed / "batch.json").read_text())["images"]
    assert [r["status"] for r in rows] == ["complete", "done", "done"]
    assert rows[1]["resumed"] == kept and rows[1]["chunks"] == total - kept
    assert (killed / "north" / "filtered.tif").read_bytes() == first
    for name in ("north", "south", "east"):
        for output in ("filtered.tif", "spectra.png"):
            assert (killed / name / output).read_bytes() == (whole / name / output).read_bytes()
        tiles = sorted(os.listdir(whole / name / "spectra"))
        assert sorted(os.listdir(killed / name / "spectra")) == tiles


@pytest.mark.slow
@needs_mpi
def test_a_batch_under_mpi_is_one_job_with_the_threads_bytes(scenes, tmp_path):
    """mpiexec -n 3: one dask-mpi cluster for both images, the outputs those of threads."""
    images = [str(scenes / "north.tif"), str(scenes / "south.tif")]
    args = ["run", *images, "--sigma", "2", "--chunks", "256"]
    assert main([*args, "-o", str(tmp_path / "threads"), *FAST]) == 0
    proc = mpi_run(3, *args, "-o", str(tmp_path / "mpi"), "--cluster", "mpi", "--no-dashboard")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("cluster: mpi") == 1, proc.stderr  # started once
    for name in ("north", "south"):
        for output in ("filtered.tif", "spectra.png"):
            mpi, threads = tmp_path / "mpi" / name / output, tmp_path / "threads" / name / output
            assert mpi.read_bytes() == threads.read_bytes(), (name, output)
    rows = json.loads((tmp_path / "mpi" / "batch.json").read_text())["images"]
    assert [r["status"] for r in rows] == ["done", "done"]


def test_a_list_that_names_no_image_is_one_line(tmp_path, capsys):
    listing = tmp_path / "images.txt"
    listing.write_text("# nothing yet\n\n")
    assert main(["run", "--from-list", str(listing), "-o", str(tmp_path / "o"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names no image" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("names", "said"),
    [
        (["Scene.tif", "scene.tif"], "would both go into OUTDIR/scene/"),  # one on macOS
        (["batch.json.tif", "north.tif"], "OUTDIR/batch.json/, which is no folder of its own"),
    ],
)
def test_names_that_cannot_each_have_a_folder_are_refused(scenes, tmp_path, capsys, names, said):
    for name in names:
        (tmp_path / name).write_bytes((scenes / "north.tif").read_bytes())
    with pytest.raises(SystemExit) as info:
        main(["run", *(str(tmp_path / n) for n in names), "-o", str(tmp_path / "o"), *FAST])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err, err
    assert not (tmp_path / "o").exists()


def test_each_images_report_has_the_warnings_of_its_planning(scenes, tmp_path, monkeypatch):
    """A warning said while an image is planned (its file is read whole) is in that image's
    report.json, as in a run of it alone, though a batch plans every image first."""
    import daskfft.io

    pngs = []
    for name in ("north", "south"):
        pngs.append(tmp_path / f"{name}.png")
        assert main(["sample", "-o", str(pngs[-1]), "--size", "300", "-q"]) == 0
    monkeypatch.setattr(daskfft.io, "WHOLE_IMAGE_CAP", 0)
    out, tiff = tmp_path / "out", ["--output-format", "tiff"]  # a PNG output: capped too
    assert main(["run", *map(str, pngs), "-o", str(out), *tiff, *FAST]) == 0
    for png in pngs:
        alone = _alone(tmp_path, png, *tiff)
        said = json.loads((alone / "report.json").read_text())["warnings"]
        assert said and any("cannot be read in parts" in w for w in said), said
        report = json.loads((out / png.stem / "report.json").read_text())
        assert report["warnings"] == said


@pytest.mark.slow  # a local cluster
def test_every_image_says_the_one_cluster_the_batch_runs_on(scenes, tmp_path, monkeypatch):
    """--cluster auto sizes the batch's one cluster for its largest image: the smaller ones,
    which alone would run on threads, say (notes, report.json) the cluster they ran on."""
    from daskfft.cluster import spec

    monkeypatch.setattr(
        spec, "AUTO_DASHBOARD_MEGAPIXELS_PER_CORE", 0.4 / spec.cpu_count()
    )  # east: 0.49 Mpx, local
    images = [str(scenes / f"{n}.tif") for n in ("north", "east")]  # north: 0.36, threads
    out = tmp_path / "out"
    assert main(["run", *images, "-o", str(out), "--chunks", "256", "-q"]) == 0
    for name in ("north", "east"):
        report = json.loads((out / name / "report.json").read_text())
        assert report["cluster"]["kind"] == "local", name
        assert not any("threaded scheduler" in c for c in report["choices"]), report["choices"]
