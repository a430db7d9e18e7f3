"""``daskfft sample -o FILE`` stages and publishes through the work folder of FILE's folder,
as ``run`` and ``align`` do: it never touches another command's work, waits for no one
(a folder in use is refused), and never deletes a folder standing at FILE."""

from __future__ import annotations

import errno

import pytest

import daskfft.run.pipeline
from daskfft.cli import main
from daskfft.run.workdir import WORK_NAME, WorkDir


def _files(folder):
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


def test_an_interrupted_run_s_work_is_left_alone(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    run = ["run", "--sample", "256", "--chunks", "128", "-o", str(tmp_path), "-q"]
    run += ["--cluster", "threads"]
    with monkeypatch.context() as patch:  # the run fails after its chunks: they are kept
        patch.setattr(daskfft.run.pipeline, "finalize", broken)
        assert main(run) == 1
    work = tmp_path / WORK_NAME
    before = _files(work)
    assert any("done" in str(name) for name in before)
    capsys.readouterr()
    rc = main(["sample", "-o", str(tmp_path / "s.png"), "--size", "64", "--overwrite", "-q"])
    err = capsys.readouterr().err
    assert rc == 1
    assert len(err.strip().splitlines()) == 1
    assert "daskfft sample leaves it alone" in err
    assert _files(work) == before
    assert not (tmp_path / "s.png").exists()
    # and the run finishes what it had left
    assert main([*run, "--resume"]) == 0


def test_a_folder_in_use_is_refused(tmp_path, capsys):
    with WorkDir(tmp_path).session(0):
        rc = main(["sample", "-o", str(tmp_path / "s.png"), "--size", "64", "-q"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "in use by another daskfft run" in err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_at_the_output_is_refused_and_kept(tmp_path, capsys, overwrite):
    (tmp_path / "s.png").mkdir()
    (tmp_path / "s.png" / "keep.txt").write_text("mine")
    rc = main(["sample", "-o", str(tmp_path / "s.png"), "--size", "64", "-q", *overwrite])
    assert rc == 1
    assert "s.png" in capsys.readouterr().err
    assert (tmp_path / "s.png" / "keep.txt").read_text() == "mine"


def test_the_work_folder_is_gone_after_a_sample(tmp_path):
    assert main(["sample", "-o", str(tmp_path / "s.tif"), "--size", "64", "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]
