"""``daskfft align``: files in, transform, shift field, picture and the registered image out."""

import csv
import json
import os

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from daskfft.cli import main

SHIFT = (3.4, -2.2)  # moving = the scene moved by this; the registering shift is its opposite


def _scene(tiles=2):
    camera = data.camera().astype(np.float64)
    row = np.hstack([camera, camera[:, ::-1]] * (tiles // 2))
    return np.vstack([row, row[::-1]] * (tiles // 2))


def _geotiffs(tmp_path, scene, shift=SHIFT):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    moved = ndimage.shift(scene, shift, mode="reflect")
    paths = []
    for name, image in (("ref.tif", scene), ("mov.tif", moved)):
        pixels = np.clip(np.rint(image + rng.normal(0, 2, image.shape)), 0, 255).astype(np.uint8)
        path = tmp_path / name
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=pixels.shape[1],
            height=pixels.shape[0],
            count=1,
            dtype="uint8",
            crs="EPSG:32633",
            transform=from_origin(500000, 5200000, 0.5, 0.5),
            tiled=True,
            blockxsize=256,
            blockysize=256,
        ) as dst:
            dst.write(pixels, 1)
        paths.append(path)
    return paths


def test_align_writes_transform_field_picture_and_registered_geotiff(tmp_path, capsys):
    import rasterio

    ref, mov = _geotiffs(tmp_path, _scene())
    out = tmp_path / "out"
    assert main(["align", str(ref), str(mov), "-o", str(out), "--apply"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{out}: shift (-3.400, 2.200) px, 16 of 16 windows reliable")
    assert sorted(os.listdir(out)) == [
        "registered.tif",
        "shift_field.csv",
        "shift_field.png",
        "transform.json",
    ]
    transform = json.loads((out / "transform.json").read_text())
    assert np.allclose(transform["shift"], [-SHIFT[0], -SHIFT[1]], atol=0.05)
    assert transform["rotation_degrees"] is None and transform["scale"] is None
    assert transform["shift_field"]["reliable"] == 16
    assert np.allclose(
        transform["shift_field"]["median_shift_of_reliable"], [-SHIFT[0], -SHIFT[1]], atol=0.05
    )
    with open(out / "shift_field.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and rows[0]["row"] == "128" and rows[0]["col"] == "128"
    assert all(abs(float(r["dy"]) + SHIFT[0]) < 0.1 for r in rows)
    assert (out / "shift_field.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (
        rasterio.open(out / "registered.tif") as got,
        rasterio.open(mov) as moving,
        rasterio.open(ref) as reference,
    ):
        assert got.crs == moving.crs and got.transform == moving.transform
        assert got.dtypes == moving.dtypes
        inner = (slice(20, -20), slice(20, -20))
        before = np.abs(moving.read(1).astype(float) - reference.read(1))[inner].mean()
        after = np.abs(got.read(1).astype(float) - reference.read(1))[inner].mean()
    assert after < 0.3 * before  # what is left is the two images' own noise


def test_the_registered_image_is_written_with_a_progress_bar(tmp_path, capsys):
    """The write of --apply (band by band of rows) shows a bar, as the shift field does."""
    from daskfft.run.align import align_files

    ref, mov = _geotiffs(tmp_path, _scene())
    align_files(ref, mov, tmp_path / "out", apply=True, progress=True)
    said = capsys.readouterr().out
    bars = said.split("\r")
    assert any(b.startswith("[" + " " * 40 + "] | 0% Completed") for b in bars)
    assert said.count("[" + "#" * 40 + "] | 100% Completed") == 2  # the field, the image
    assert (tmp_path / "out" / "registered.tif").exists()


@pytest.mark.slow
def test_every_cluster_kind_aligns_alike(tmp_path):
    ref, mov = _geotiffs(tmp_path, _scene())
    outs = {}
    for kind in ("threads", "local", "processes"):
        outs[kind] = out = tmp_path / kind
        assert (
            main(
                [
                    "align",
                    str(ref),
                    str(mov),
                    "-o",
                    str(out),
                    "--apply",
                    "-q",
                    "--cluster",
                    kind,
                    "--workers",
                    "2",
                    "--no-dashboard",
                ]
            )
            == 0
        )
        transform = json.loads((out / "transform.json").read_text())
        assert transform["cluster"]["kind"] == kind
        assert transform["cluster"]["workers"] == (1 if kind == "threads" else 2)
    for kind in ("local", "processes"):
        for name in ("shift_field.csv", "registered.tif"):
            assert (outs[kind] / name).read_bytes() == (outs["threads"] / name).read_bytes()


def test_a_large_pair_is_measured_reduced_and_the_field_at_full_size(tmp_path):
    ref, mov = _geotiffs(tmp_path, _scene(tiles=6)[:2600, :2600])  # > 2048 px: reduced 2x
    out = tmp_path / "out"
    assert main(["align", str(ref), str(mov), "-o", str(out), "-q", "--window", "512"]) == 0
    transform = json.loads((out / "transform.json").read_text())
    assert transform["measured_on"] == "both images reduced 2x by block means"
    assert np.allclose(transform["shift"], [-SHIFT[0], -SHIFT[1]], atol=0.1)
    assert transform["shift_field"]["windows"] == 36
    assert np.allclose(
        transform["shift_field"]["median_shift_of_reliable"], [-SHIFT[0], -SHIFT[1]], atol=0.05
    )


def test_rotation_and_scale_from_the_command_line(tmp_path):
    import imageio.v3 as iio

    camera = data.camera().astype(np.float64)
    turned = ndimage.rotate(camera, 12.5, reshape=False, order=3, mode="reflect")
    iio.imwrite(tmp_path / "ref.png", camera.astype(np.uint8))
    iio.imwrite(tmp_path / "mov.png", np.clip(np.rint(turned), 0, 255).astype(np.uint8))
    out = tmp_path / "out"
    assert (
        main(
            [
                "align",
                str(tmp_path / "ref.png"),
                str(tmp_path / "mov.png"),
                "-o",
                str(out),
                "-q",
                "--rotation",
                "--scale",
                "--apply",
            ]
        )
        == 0
    )
    transform = json.loads((out / "transform.json").read_text())
    assert abs(transform["rotation_degrees"] + 12.5) <= 0.05
    assert abs(transform["scale"] - 1) <= 0.001
    registered = iio.imread(out / "registered.png").astype(np.float64)
    inner = (slice(80, -80), slice(80, -80))  # away from the corners the turn brought in
    before = np.abs(iio.imread(tmp_path / "mov.png") - camera)[inner].mean()
    after = np.abs(registered - camera)[inner].mean()
    print(f"turned 12.5 degrees: mean difference {before:.1f} levels before, {after:.2f} after")
    assert after < 0.05 * before


@pytest.mark.parametrize(
    ("rotation", "scale", "shift", "chunks"),
    [
        (None, None, (3.4, -2.2), 64),
        (12.5, None, (1.0, 2.5), (100, 70)),
        (-7.0, 1.08, (-2.5, 0.75), 128),
        (170.0, 0.9, (0.0, 0.0), (50, 200)),
    ],
)
@pytest.mark.parametrize("channels", [0, 3])
def test_warp_chunk_by_chunk_equals_one_whole_image_resampling(
    rotation, scale, shift, chunks, channels
):
    import dask.array as da

    from daskfft.run.align import registering_affine, warp

    rng = np.random.default_rng(1)
    image = ndimage.gaussian_filter(rng.random((230, 260)), 1.5) * 255
    if channels:
        image = np.stack([image, image[::-1], image[:, ::-1]], axis=-1)
    matrix, offset = registering_affine(image.shape, shift, rotation, scale)
    planes = [image] if not channels else [image[..., k] for k in range(channels)]
    whole = [
        ndimage.affine_transform(p, matrix, offset=offset, order=3, mode="nearest") for p in planes
    ]
    whole = whole[0] if not channels else np.stack(whole, axis=-1)
    got = warp(
        da.from_array(
            image, chunks=chunks if not channels else (*np.broadcast_to(chunks, 2), channels)
        ),
        matrix,
        offset,
    )
    assert got.shape == image.shape
    assert np.abs(got.compute() - whole).max() < 1e-6 * 255


def _one_line(err):
    assert err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line_and_nothing_written(tmp_path, capsys):
    ref, mov = _geotiffs(tmp_path, _scene())
    small = tmp_path / "small.png"
    import imageio.v3 as iio

    iio.imwrite(small, np.zeros((100, 120), np.uint8))
    out = tmp_path / "out"
    assert main(["align", str(ref), str(small), "-o", str(out)]) == 1
    err = _one_line(capsys.readouterr().err)
    assert "120 x 100 px, the reference" in err and "1024 x 1024 px" in err
    assert not out.exists()
    assert main(["align", str(ref), str(tmp_path / "none.tif"), "-o", str(out)]) == 1
    assert "no such file" in _one_line(capsys.readouterr().err)
    assert main(["align", str(ref), str(mov), "-o", str(out), "-q"]) == 0
    assert main(["align", str(ref), str(mov), "-o", str(out)]) == 1
    assert "already there; pass --overwrite" in _one_line(capsys.readouterr().err)
    for args in (
        ["--window", "8"],
        ["--min-confidence", "2"],
        ["--window", "x"],
        ["--cluster", "mpl"],
        ["--workers", "0"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["align", str(ref), str(mov), "-o", str(out), *args])
        assert exit_.value.code == 2
        assert _one_line(capsys.readouterr().err).startswith("daskfft align: error:")


# --- the work folder, its lock and publishing, as for run ----------------------------------

# A real align, stopped while it writes its outputs (it holds the lock), until stdin closes.
_PAUSED_ALIGN = """
import sys
import daskfft.run.align as align
from daskfft.run.align import align_files

write = align._write_outputs

def paused(*args, **kwargs):
    print("writing", flush=True)
    sys.stdin.read()
    return write(*args, **kwargs)

align._write_outputs = paused
align_files(sys.argv[1], sys.argv[2], sys.argv[3])
"""


@pytest.mark.slow
def test_a_second_align_or_run_into_the_same_outdir_is_refused_while_one_works(tmp_path, capsys):
    import subprocess
    import sys

    ref, mov = _geotiffs(tmp_path, _scene())
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_ALIGN, str(ref), str(mov), str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline().strip() == "writing"
        for args in (["align", str(ref), str(mov), "--overwrite"], ["run", str(ref)]):
            assert main([*args, "-o", str(out), "--cluster", "threads", "-q"]) == 1
            err = _one_line(capsys.readouterr().err)
            assert (
                f"in use by another daskfft run (host {os.uname().nodename}, "
                f"PID {first.pid}," in err
            )
        first.stdin.close()
        assert first.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
        first.stdin.close()
        first.stdout.close()
    assert sorted(os.listdir(out)) == ["shift_field.csv", "shift_field.png", "transform.json"]


# Slow tier by duration: a whole align twice to check error handling, no numerical check.
@pytest.mark.slow
@pytest.mark.parametrize("where", ["writing", "publishing"])
def test_a_failed_align_leaves_the_old_outputs_complete(tmp_path, monkeypatch, capsys, where):
    import errno

    import daskfft.run.align

    ref, mov = _geotiffs(tmp_path, _scene())
    out = tmp_path / "out"
    assert main(["align", str(ref), str(mov), "-o", str(out), "--apply", "-q"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    if where == "writing":

        def broken(*args, **kwargs):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(daskfft.run.align, "_write_registered", broken)
    else:  # the second output moved into OUTDIR fails, whichever call moves it
        moves = []

        def failing(move):
            def move_or_fail(src, dst, **kwargs):
                if os.path.dirname(os.path.abspath(dst)) == str(out) and dst != str(out):
                    moves.append(dst)
                    if len(moves) == 2:
                        raise OSError(errno.EIO, "Input/output error")
                return move(src, dst, **kwargs)

            return move_or_fail

        monkeypatch.setattr(os, "rename", failing(os.rename))
        monkeypatch.setattr(os, "replace", failing(os.replace))
    args = [
        "align",
        str(ref),
        str(mov),
        "-o",
        str(out),
        "--apply",
        "--window",
        "128",
        "--overwrite",
        "-q",
    ]
    assert main(args) == 1
    assert "Input/output error" in _one_line(capsys.readouterr().err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # and nothing else
    monkeypatch.undo()
    assert main(args) == 0
    assert json.loads((out / "transform.json").read_text())["shift_field"]["window"] == 128


def _masked_moving(tmp_path, bands, *, internal):
    """MOVING as ``bands`` bands with a GDAL mask (a page, or GDAL's ``.msk``): a hole at
    rows 300:500, columns 400:700."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    ref, mov = _geotiffs(tmp_path, _scene())
    with rasterio.open(mov) as src:
        gray = src.read(1)
    pixels = np.stack([gray, 255 - gray, gray // 2][:bands])
    keep = np.ones(gray.shape, np.uint8) * 255
    keep[300:500, 400:700] = 0
    masked = tmp_path / "masked.tif"
    with (
        rasterio.Env(GDAL_TIFF_INTERNAL_MASK=internal),
        rasterio.open(
            masked,
            "w",
            driver="GTiff",
            width=gray.shape[1],
            height=gray.shape[0],
            count=bands,
            dtype="uint8",
            crs="EPSG:32633",
            transform=from_origin(500000, 5200000, 0.5, 0.5),
            tiled=True,
            blockxsize=256,
            blockysize=256,
        ) as dst,
    ):
        dst.write(pixels)
        dst.write_mask(keep)
    assert masked.with_name("masked.tif.msk").exists() != internal
    return ref, masked, pixels


@pytest.mark.parametrize(("bands", "internal"), [(3, True), (1, False)])
def test_align_apply_keeps_a_gdal_mask_a_mask_not_an_extra_band(tmp_path, bands, internal):
    """The mask is registered with the image and stays a mask, where the input had it; the
    image keeps its bands (the mask used to come out as a fourth, alpha, band)."""
    import rasterio
    from rasterio.enums import MaskFlags

    ref, masked, pixels = _masked_moving(tmp_path, bands, internal=internal)
    out = tmp_path / "out"
    assert main(["align", str(ref), str(masked), "-o", str(out), "--apply", "-q"]) == 0
    sidecar = [] if internal else ["registered.tif.msk"]
    assert sorted(os.listdir(out)) == sorted(
        ["registered.tif", "shift_field.csv", "shift_field.png", "transform.json", *sidecar]
    )
    with rasterio.open(out / "registered.tif") as got:
        assert got.count == bands and got.dtypes == ("uint8",) * bands
        assert all(flags == [MaskFlags.per_dataset] for flags in got.mask_flag_enums)
        mask = got.read_masks(1)
        first = got.read(1).astype(float)
    # Registering moves the scene by -SHIFT: the hole now at rows ~296.6:496.6, columns
    # ~402.2:702.2; its edges within a pixel of there.
    assert (mask[298:495, 404:701] == 0).all() and (mask[:294] == 255).all()
    assert (mask[499:] == 255).all() and (mask[:, :399] == 255).all()
    assert (mask[:, 705:] == 255).all()
    assert 0.99 < (mask == 0).sum() / (200 * 300) < 1.01
    expected = ndimage.shift(
        pixels[0].astype(float), (-SHIFT[0], -SHIFT[1]), order=3, mode="nearest"
    )
    assert np.abs(first - expected)[20:280, 20:-20].mean() < 1.0


@pytest.mark.parametrize(
    "companion", ["registered.tif.aux.xml", "registered.tif.msk", "transform.json.aux.xml"]
)
def test_a_companion_in_outdir_is_refused_without_overwrite_and_left_there(
    tmp_path, capsys, companion
):
    """Publishing moves an output's companions aside with it: without --overwrite, align
    refuses one that is there (as run does), before any work, and leaves it alone."""
    ref, mov = _geotiffs(tmp_path, _scene())
    out = tmp_path / "out"
    out.mkdir()
    (out / companion).write_text("the user's")
    args = ["align", str(ref), str(mov), "-o", str(out), "--apply", "--cluster", "threads", "-q"]
    assert main(args) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"{companion} already there; pass --overwrite to replace" in line
    assert sorted(os.listdir(out)) == [companion]
    assert (out / companion).read_text() == "the user's"
    assert main([*args, "--overwrite"]) == 0  # replaced: it described no file of this run
    assert not (out / companion).exists()
    assert "registered.tif" in os.listdir(out)


# Slow tier by duration: a whole align twice to check error handling, no numerical check.
@pytest.mark.slow
def test_a_failed_put_back_keeps_the_old_outputs_and_the_journal_the_error_names(
    tmp_path, monkeypatch, capsys
):
    """Publishing fails and so does putting OUTDIR back: align (a session of no chunks)
    keeps what the error says it keeps, for the next run to complete."""
    import errno

    from daskfft.run.workdir import WORK_NAME

    ref, mov = _geotiffs(tmp_path, _scene())
    out = tmp_path / "out"
    args = ["align", str(ref), str(mov), "-o", str(out), "--apply", "--cluster", "threads", "-q"]
    assert main(args) == 0
    old = (out / "transform.json").read_text()
    rename, calls = os.rename, []

    def fails_from_the_third_on(src, dst):  # transform.json aside, the new one in, then no
        if str(out) in (
            os.path.dirname(os.path.abspath(src)),
            os.path.dirname(os.path.abspath(dst)),
        ):
            calls.append(dst)
            if len(calls) >= 3:
                raise OSError(errno.EIO, "Input/output error")
        return rename(src, dst)

    monkeypatch.setattr(os, "rename", fails_from_the_third_on)
    assert main([*args, "--window", "128", "--overwrite"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"{WORK_NAME}/replaced/transform.json stays there" in line, line
    assert f"the journal {WORK_NAME}/publish.json is kept" in line, line
    monkeypatch.undo()
    assert (out / WORK_NAME / "replaced" / "transform.json").read_text() == old
    assert (out / WORK_NAME / "publish.json").exists()
    assert json.loads((out / "transform.json").read_text())["shift_field"]["window"] == 128
    assert main([*args, "--overwrite"]) == 0  # completes that publishing, then aligns
    assert not (out / WORK_NAME).exists()
