"""The chunking notes say what the tasks will do: chunks made of whole input store chunks,
then rounded to the output's tiles, no longer read only their own."""

import numpy as np
import zarr

from daskfft.cli import build_parser
from daskfft.cli.run import _config
from daskfft.run.plan import make_plan


def _notes(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    return make_plan(_config(args, parser.subparsers["run"])).notes


def test_chunks_rounded_to_the_output_tiles_no_longer_say_each_task_reads_only_its_own(tmp_path):
    src = tmp_path / "in.zarr"
    z = zarr.create_array(str(src), shape=(2100, 300), dtype=np.uint8, chunks=(1000, 300))
    z[:] = 7
    notes = " | ".join(
        _notes(
            [
                "run",
                str(src),
                "-o",
                str(tmp_path / "o"),
                "--chunks",
                "1000",
                "--output-format",
                "tiff",
            ]
        )
    )
    assert "chunks 1024 x 300 px instead of 1000 x 300: whole 256-px tiles" in notes, notes
    assert "reads only its own" not in notes and "parts of its neighbours'" in notes, notes
    notes = " | ".join(
        _notes(
            [
                "run",
                str(src),
                "-o",
                str(tmp_path / "o"),
                "--chunks",
                "1000",
                "--output-format",
                "zarr",
            ]
        )
    )  # no output tiles: whole chunks
    assert "so each task reads only its own" in notes and "neighbours'" not in notes, notes


def test_slurm_job_options_without_cluster_slurm_are_said_unused(tmp_path, capsys):
    """--memory is a Slurm job's: under another cluster it is said unused, pointing to
    --memory-limit (an older command's abbreviation of it)."""
    from daskfft.cli import main

    out = tmp_path / "o"
    argv = ["run", "--sample", "256", "-o", str(out), "--cluster", "threads"]
    assert main([*argv, "--memory", "2GB", "--queue", "debug"]) == 0
    err = capsys.readouterr().err
    assert "--memory, --queue: Slurm job options, for --cluster slurm only" in err
    assert "--memory-limit" in err
