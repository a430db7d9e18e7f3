"""The resume fingerprint holds every run option that can change an output's bytes, and no other.

Every option of ``daskfft run`` is read from the parser and must be classified below, so a
new option fails here until someone decides whether it changes the bytes.  One that can is
checked twice: the fingerprint differs, and ``--resume`` with it changed is refused, naming
the fingerprint entry it changed.  One that cannot leaves the fingerprint as it is.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from reference import make_image

from daskfft.cli import build_parser, main
from daskfft.cli.run import _config
from daskfft.run.plan import make_plan
from daskfft.run.workdir import WORK_NAME

#: Options that can change an output's bytes: dest -> (context options, the change, the
#: fingerprint entry the refusal names).  The context is where the option has an effect.
CHANGES_BYTES = {
    "input": ([], ["OTHER"], "input.path"),
    # a Zarr array that names no dims, read as (y, x, c), then transposed: the same shape
    "axes": (["ZARR", "--axes", "yxc"], ["--axes", "xyc"], "input.axes"),
    # an OME-Zarr image with its pixel size: 0.5, so 1 and 2 are 2 and 4 px
    "physical_sigma": (
        ["OME", "--physical-sigma", "1"],
        ["--physical-sigma", "2"],
        "params.cutoff",
    ),
    "sample": ([], ["--sample", "256"], "input.sample"),
    "cutoff": ([], ["--cutoff", "0.1"], "params.cutoff"),
    "sigma": ([], ["--sigma", "2"], "params.cutoff"),
    "band": ([], ["--pass", "high"], "params.band"),
    "flatfield": ([], ["--flatfield", "divide"], "params.flatfield"),
    "filter": ([], ["--filter", "butterworth"], "params.filter"),
    "order": (["--filter", "butterworth"], ["--order", "3"], "params.order"),
    "depth": ([], ["--depth", "10"], "params.depth"),
    "tol": ([], ["--tol", "1e-3"], "params.tol"),
    "boundary": ([], ["--boundary", "nearest"], "params.boundary"),
    "exact": ([], ["--exact"], "params.method"),
    "nodata": ([], ["--nodata", "0"], "params.nodata"),
    "measure_deviation": ([], ["--measure-deviation"], "params.task_window"),
    # 64 (the base) rounds up to the 128-px output tiles; 256 holds the whole image in one.
    "chunks": ([], ["--chunks", "256"], "params.chunks"),
    "output_format": ([], ["--output-format", "zarr"], "params.output_format"),
    "co": ([], ["--co", "COMPRESS=DEFLATE"], "params.creation_options"),
    "compression": ([], ["--compression", "zlib"], "params.creation_options"),
    "spectra": ([], ["--spectra", "none"], "params.spectra"),
    "plots": ([], ["--no-plots"], "params.plots"),
}

#: Options that cannot: dest -> the change (where the work runs, OUTDIR, what is said).
KEEPS_BYTES = {
    "outdir": ["-o", "ELSEWHERE"],
    "cluster": ["--cluster", "local"],
    "workers": ["--workers", "3"],
    "threads_per_worker": ["--threads-per-worker", "2"],
    "memory_limit": ["--memory-limit", "2GB"],
    "dashboard": ["--no-dashboard"],
    "dashboard_address": ["--dashboard-address", "127.0.0.1:8790"],
    "tls": ["--no-tls"],
    "connect_timeout": ["--connect-timeout", "5"],
    # --cluster slurm's jobs: where the work runs
    "account": ["--account", "proj42"],
    "queue": ["--queue", "debug"],
    "walltime": ["--walltime", "00:10:00"],
    "memory": ["--memory", "2GiB"],
    "interface": ["--interface", "eth0"],
    "scheduler_interface": ["--scheduler-interface", "eth0"],
    # how a URL input is reached, not what it holds (its fingerprint: its objects' ETags)
    "storage_option": ["--storage-option", "anon=true"],
    # which images a batch takes: each image's run is fingerprinted with its own path
    "from_list": ["--from-list", "LIST"],
    "performance_report": ["--performance-report"],
    "resume": ["--resume"],
    "overwrite": ["--overwrite"],
    "verbose": ["-v"],
    "quiet": ["-q"],
    "debug": ["--debug"],
}


def _run_options():
    run = build_parser().subparsers["run"]
    return {a.dest for a in run._actions if a.dest != "help"}


def test_every_run_option_is_classified():
    assert _run_options() == set(CHANGES_BYTES) | set(KEEPS_BYTES)
    assert not set(CHANGES_BYTES) & set(KEEPS_BYTES)


@pytest.fixture
def files(tmp_path):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, make_image((256, 256), np.uint8, seed=5), tile=(64, 64))
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, make_image((256, 256), np.uint8, seed=6), tile=(64, 64))
    zarr.save_array(str(tmp_path / "in.zarr"), make_image((256, 256, 3), np.uint8, seed=7))
    group = zarr.open_group(str(tmp_path / "in.ome.zarr"), mode="w")
    group.create_array("0", data=make_image((256, 256), np.uint8, seed=8), chunks=(64, 64))
    space = {"type": "space", "unit": "micrometer"}
    scale = {"type": "scale", "scale": [0.5, 0.5]}
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": [{"name": "y", **space}, {"name": "x", **space}],
                "datasets": [{"path": "0", "coordinateTransformations": [scale]}],
            }
        ],
    }
    return src, other


def _argv(src, out, options):
    if "OTHER" in options:
        return ["run", str(src.with_name("other.tif")), "-o", str(out)]
    if "--sample" in options:
        return ["run", *options, "-o", str(out)]
    if "ZARR" in options:
        src, options = src.with_name("in.zarr"), [o for o in options if o != "ZARR"]
    if "OME" in options:
        src, options = src.with_name("in.ome.zarr"), [o for o in options if o != "OME"]
    options = [str(out.with_name("elsewhere")) if o == "ELSEWHERE" else o for o in options]
    options = [str(out.with_name("list.txt")) if o == "LIST" else o for o in options]
    argv = ["run", str(src), "-o", str(out), "--chunks", "64", *options]
    if "-o" in options:  # the later -o wins
        argv[3] = options[options.index("-o") + 1]
    return argv


def _fingerprint(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    return make_plan(_config(args, parser.subparsers["run"])).fingerprint


def _refusal(argv, fingerprint, capsys):
    """The one line ``--resume`` answers, against an interrupted run of ``fingerprint``."""
    out = argv[argv.index("-o") + 1]
    work = Path(out) / WORK_NAME
    work.mkdir(parents=True)
    (work / "run.json").write_text(json.dumps(fingerprint))
    rc = main([*argv, "--resume", "--cluster", "threads", "-q"])
    err = capsys.readouterr().err
    shutil.rmtree(out)
    assert rc == 1 and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("dest", sorted(CHANGES_BYTES))
def test_an_option_that_changes_the_bytes_is_in_the_fingerprint_and_resume_names_it(
    files, tmp_path, capsys, dest
):
    src, _ = files
    context, change, entry = CHANGES_BYTES[dest]
    out = tmp_path / "out"
    before = _fingerprint(_argv(src, out, context))
    after = _argv(src, out, context + change)
    assert _fingerprint(after) != before
    err = _refusal(after, before, capsys)
    assert "--resume: the interrupted run in" in err and f" {entry}: " in err, err


@pytest.mark.parametrize("dest", sorted(KEEPS_BYTES))
def test_an_option_that_cannot_change_the_bytes_is_not_in_the_fingerprint(files, tmp_path, dest):
    src, _ = files
    out = tmp_path / "out"
    assert _fingerprint(_argv(src, out, KEEPS_BYTES[dest])) == _fingerprint(_argv(src, out, []))


def _gdal_mask(path, image, *, internal):
    """Write ``image`` with a GDAL mask keeping its left half: a mask page, or ``.msk``."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    keep = np.zeros(image.shape, np.uint8)
    keep[:, : image.shape[1] // 2] = 255
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK="YES" if internal else "NO"),
        rasterio.open(
            path,
            "w",
            driver="GTiff",
            height=image.shape[0],
            width=image.shape[1],
            count=1,
            dtype=image.dtype.name,
            tiled=True,
            blockxsize=64,
            blockysize=64,
            crs="EPSG:32633",
            transform=from_origin(500000.0, 5800000.0, 1.0, 1.0),
        ) as dst,
    ):
        dst.write(image, 1)
        dst.write_mask(keep)


def test_a_msk_file_added_beside_the_input_is_in_the_fingerprint(files, tmp_path, capsys):
    src, _ = files
    out = tmp_path / "out"
    before = _fingerprint(_argv(src, out, []))
    _gdal_mask(tmp_path / "masked.tif", tifffile.imread(src), internal=False)
    shutil.copy(tmp_path / "masked.tif.msk", f"{src}.msk")  # the input itself is untouched
    after = _fingerprint(_argv(src, out, []))
    assert after["input"]["mask"]["file"] == f"{src}.msk" and after != before
    assert " input.mask: None then, " in _refusal(_argv(src, out, []), before, capsys)
    _gdal_mask(tmp_path / "masked.tif", tifffile.imread(src)[::-1].copy(), internal=False)
    shutil.copy(tmp_path / "masked.tif.msk", f"{src}.msk")  # another mask of the same size
    assert _fingerprint(_argv(src, out, []))["input"]["mask"] != after["input"]["mask"]


def test_a_mask_page_in_the_input_is_in_the_fingerprint(files, tmp_path, capsys):
    src, _ = files
    out = tmp_path / "out"
    plain = tmp_path / "plain.tif"
    shutil.copy(src, plain)
    before = _fingerprint(_argv(plain, out, []))
    _gdal_mask(plain, tifffile.imread(src), internal=True)
    after = _fingerprint(_argv(plain, out, []))
    assert before["input"]["mask"] is None and after["input"]["mask"] == {"page": 1}
    assert " input.mask: None then, {'page': 1} now" in _refusal(
        _argv(plain, out, []), before, capsys
    )


def test_measure_deviation_changes_the_bytes(tmp_path):
    """Why it is in the fingerprint: its tasks filter the chunk and halo alone, not a window
    grown to a fast FFT length (here 64 + 2 * 27 px, grown to 120)."""
    tifffile.imwrite(tmp_path / "in.tif", make_image((300, 300), np.float32, seed=5), tile=(64, 64))
    results = []
    for extra in ([], ["--measure-deviation"]):
        out = tmp_path / f"out{len(results)}"
        assert (
            main(
                [
                    "run",
                    str(tmp_path / "in.tif"),
                    "-o",
                    str(out),
                    "--chunks",
                    "64",
                    "--cutoff",
                    "0.03",
                    "--no-plots",
                    "--spectra",
                    "none",
                    "--cluster",
                    "threads",
                    "-q",
                    *extra,
                ]
            )
            == 0
        )
        results.append(tifffile.imread(out / "filtered.tif"))
    assert not np.array_equal(*results)
    np.testing.assert_allclose(*results, atol=1e-4)  # both within the halo's bound
