"""The io registry: one backend per format, picked by suffix or by name; a new format is
one module and one registration."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from daskfft import io
from daskfft.io import registry
from daskfft.io.base import Backend, ImageInfo


def test_every_format_has_its_backend_and_the_output_choices_keep_their_order():
    assert io.OUTPUT_FORMATS == ("png", "jpeg", "tiff", "cog", "zarr", "ome-zarr")
    assert io.FORMATS == {
        ".png": "png",
        ".jpg": "jpeg",
        ".jpeg": "jpeg",
        ".tif": "tiff",
        ".tiff": "tiff",
        ".zarr": "zarr",
    }
    assert [b.name for b in registry.readers("a.zarr")] == ["zarr", "ome-zarr"]
    assert io.backend("cog").ext == "tif" and not registry.readers("a.cog")


def test_a_new_format_is_one_registration(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BACKENDS", dict(registry.BACKENDS))
    monkeypatch.setattr(registry, "FORMATS", dict(registry.FORMATS))
    monkeypatch.setattr(io, "FORMATS", registry.FORMATS)

    class Raw(Backend):
        name, suffixes = "raw", (".raw",)

        def probe(self, path):
            return ImageInfo(str(path), self.name, (4, 5), np.dtype(np.uint8))

        def read_window(self, info, rows, cols):
            return np.zeros((rows[1] - rows[0], cols[1] - cols[0]), np.uint8)

    registry.register(Raw())
    (tmp_path / "a.raw").write_bytes(b"x")
    info = io.probe(tmp_path / "a.raw")
    assert info.format == "raw" and io.read_window(info, (1, 3), (0, 5)).shape == (2, 5)
    with pytest.raises(ValueError, match="registered already"):
        registry.register(Raw())


def _info(path, fmt, shape, dtype):
    return ImageInfo(str(path), fmt, shape, np.dtype(dtype), photometric="minisblack")


def _filled(tmp_path, data, chunks=(16, 16)):
    """A Zarr store the tasks would have filled, through the protocol: its path."""
    src = tmp_path / "filled.zarr"
    store = io.backend("zarr").create(src, data.shape, data.dtype, options={"chunks": chunks})
    for r0 in range(0, data.shape[0], chunks[0]):
        for c0 in range(0, data.shape[1], chunks[1]):
            store.write(data[r0 : r0 + chunks[0], c0 : c0 + chunks[1]], r0, c0)
    return src


_DATA = (np.arange(40 * 48, dtype=np.uint16).reshape(40, 48) * 7) % 4001


@pytest.mark.parametrize("fmt", ["tiff", "cog"])
def test_a_tiff_is_created_filled_in_windows_and_finished(tmp_path, fmt):
    import tifffile

    if fmt == "cog":
        pytest.importorskip("rasterio")
    entry, path = io.backend(fmt), tmp_path / "made.tif"
    store = entry.create(path, _DATA.shape, _DATA.dtype, options={"tile": 16, "extra": 1})
    store.write(_DATA[:16, 16:48], 0, 16)  # a window of whole tiles
    np.testing.assert_array_equal(store.read((0, 16), (16, 48)), _DATA[:16, 16:48])
    again = entry.open_store(path, _DATA.shape, options={"level": 0})
    np.testing.assert_array_equal(again.read((0, 16), (16, 48)), _DATA[:16, 16:48])
    written = tifffile.imread(path)
    np.testing.assert_array_equal(written[:16, 16:48], _DATA[:16, 16:48])
    assert not written[16:].any()
    info = _info(path, "tiff", _DATA.shape, _DATA.dtype)
    out = tmp_path / "finished.tif"
    if fmt == "tiff":  # streamed from a filled store, compressed as asked
        entry.finish(
            _filled(tmp_path, _DATA), out, info, options={"creation": {"COMPRESS": "DEFLATE"}}
        )
        np.testing.assert_array_equal(tifffile.imread(out), _DATA)
        with tifffile.TiffFile(out) as tif:
            assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    else:  # GDAL copies the filled TIFF into the COG
        import rasterio

        store.write(_DATA, 0, 0)
        entry.finish(path, out, info, options={"creation": {"COMPRESS": "DEFLATE"}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            cog = rasterio.open(out)
        with cog:
            np.testing.assert_array_equal(cog.read(1), _DATA)


def test_a_zarr_store_is_created_filled_in_windows_and_finished(tmp_path):
    import zarr

    entry, path = io.backend("zarr"), tmp_path / "made.zarr"
    store = entry.create(path, _DATA.shape, _DATA.dtype, options={"chunks": (16, 16), "tile": 9})
    store.write(_DATA[16:40, :32], 16, 0)
    np.testing.assert_array_equal(store.read((16, 40), (0, 32)), _DATA[16:40, :32])
    entry.finish(
        path, path, _info(path, "zarr", _DATA.shape, _DATA.dtype), options={"attrs": {"a": 1}}
    )
    written = zarr.open_array(str(path), mode="r")
    np.testing.assert_array_equal(written[16:40, :32], _DATA[16:40, :32])
    assert not written[:16].any() and dict(written.attrs) == {"a": 1}


def test_an_ome_zarr_group_is_created_filled_in_windows_and_finished(tmp_path):
    import zarr

    entry, path = io.backend("ome-zarr"), tmp_path / "made.ome.zarr"
    rgb = np.stack([_DATA, _DATA // 2, _DATA // 3], axis=-1)
    store = entry.create(path, rgb.shape, rgb.dtype, options={"chunks": (16, 16, 3), "level": 0})
    store.write(rgb[:16, :16], 0, 0)
    np.testing.assert_array_equal(store.read((0, 16), (0, 16)), rgb[:16, :16])
    options = {
        "levels": (rgb.shape,),
        "kind": "test",
        "metadata": {},
        "attrs": {"alpha": False},
        "creation": {"COMPRESS": "NONE"},  # another backend's: ignored
    }
    entry.finish(None, path, _info(path, "zarr", rgb.shape, rgb.dtype), options=options)
    group = zarr.open_group(str(path), mode="r")
    np.testing.assert_array_equal(np.moveaxis(group["0"][:, :16, :16], 0, 2), rgb[:16, :16])
    assert group.attrs["daskfft"] == {"alpha": False}
    assert [a["name"] for a in group.attrs["ome"]["multiscales"][0]["axes"]] == ["c", "y", "x"]
    assert io.probe(path).shape == rgb.shape


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_a_whole_format_is_finished_from_a_filled_store(tmp_path, fmt):
    import imageio.v3 as iio

    entry = io.backend(fmt)
    assert entry.whole and not entry.windowed
    data = (_DATA % 256).astype(np.uint8)
    out = tmp_path / f"out.{entry.ext}"
    entry.finish(_filled(tmp_path, data), out, _info(out, fmt, data.shape, data.dtype), options={})
    back = iio.imread(out)
    if fmt == "png":
        np.testing.assert_array_equal(back, data)
    else:
        assert back.shape == data.shape
    with pytest.raises(NotImplementedError):
        entry.create(tmp_path / "x", data.shape, data.dtype, options={})


def test_every_writable_backend_takes_the_same_options_and_says_what_it_can():
    import inspect

    for entry in registry.BACKENDS.values():
        for method in (entry.create, entry.open_store, entry.finish):
            assert inspect.signature(method).parameters["options"].kind.name == "KEYWORD_ONLY"
        assert isinstance(entry.whole, bool) and isinstance(entry.windowed, bool)
        assert set(entry.masks) <= {"internal", "sidecar"}
        assert (entry.default_tile is None) == (not entry.creation_keys)
    assert io.backend("tiff").masks == ("internal", "sidecar")
    assert io.backend("cog").masks == ("internal",)
    assert {n: (b.pyramid, b.plain) for n, b in registry.BACKENDS.items() if b.pyramid} == {
        "cog": ("pages", "tiff"),
        "ome-zarr": ("group", "zarr"),
    }


def test_a_new_output_format_is_written_through_the_runs_own_calls(tmp_path, monkeypatch):
    from daskfft.io.base import open_filled
    from daskfft.run import outputs

    monkeypatch.setattr(registry, "BACKENDS", dict(registry.BACKENDS))
    monkeypatch.setattr(registry, "OUTPUT_EXT", dict(registry.OUTPUT_EXT))
    monkeypatch.setattr(io, "OUTPUT_EXT", registry.OUTPUT_EXT)

    class Npy(Backend):
        name, ext = "npy", "npy"
        seen = {}

        def finish(self, source, path, info, *, options=None):
            self.seen.update(options)
            np.save(path, open_filled(source)[...])

    registry.register(Npy())
    assert outputs.output_names(
        "npy", sample=None, spectra="none", plots=False, performance_report=False
    ) == ["filtered.npy", "report.json"]
    info = _info(tmp_path / "in.tif", "tiff", _DATA.shape, _DATA.dtype)
    assert outputs.mask_kind("npy", info) is None
    assert outputs.creation_options("npy", (), _DATA.dtype, 1) == {}
    _filled(tmp_path, _DATA)
    out = tmp_path / "filtered.npy"
    outputs.finalize(tmp_path, "filled", out, "npy", info)
    np.testing.assert_array_equal(np.load(out), _DATA)
    assert Npy.seen["attrs"]["photometric"] == "minisblack"


def test_align_apply_writes_through_the_backends_streamed_write(tmp_path, monkeypatch):
    """``daskfft align --apply`` asks MOVING's backend to write the registered image (its
    :meth:`~daskfft.io.Backend.write`), for a format the run knows nothing of."""
    import dask.array as da
    from scipy import ndimage

    from daskfft.cli import main

    monkeypatch.setattr(registry, "BACKENDS", dict(registry.BACKENDS))
    monkeypatch.setattr(registry, "FORMATS", dict(registry.FORMATS))
    monkeypatch.setattr(registry, "OUTPUT_EXT", dict(registry.OUTPUT_EXT))
    monkeypatch.setattr(io, "FORMATS", registry.FORMATS)
    monkeypatch.setattr(io, "OUTPUT_EXT", registry.OUTPUT_EXT)

    class Npy(Backend):
        name, ext, suffixes, label = "npy", "npy", (".npy",), "NPY"
        written = []

        def probe(self, path):
            a = np.load(path, mmap_mode="r")
            return ImageInfo(str(path), self.name, a.shape, a.dtype)

        def read(self, info, chunks):
            return da.from_array(np.load(info.path), chunks=chunks)

        def write(self, path, image, compute, *, kept=None, options=None):
            (whole,) = compute([image])
            self.written.append((path, kept, options["mask"]))
            np.save(path, whole)

    registry.register(Npy())
    rng = np.random.default_rng(3)
    scene = ndimage.gaussian_filter(rng.normal(size=(512, 512)), 4).astype(np.float32)
    np.save(tmp_path / "ref.npy", scene)
    np.save(tmp_path / "mov.npy", ndimage.shift(scene, (3, -2), mode="nearest"))
    out = tmp_path / "out"
    args = ["align", str(tmp_path / "ref.npy"), str(tmp_path / "mov.npy"), "-o", str(out)]
    assert main([*args, "--apply", "--cluster", "threads", "-q"]) == 0
    assert [(os.path.basename(p), k, m) for p, k, m in Npy.written] == [
        ("registered.npy", None, None)
    ]
    got = np.load(out / "registered.npy")
    inner = (slice(32, -32), slice(32, -32))
    assert np.abs(got - scene)[inner].mean() < 0.2 * np.abs(scene).mean()


def test_the_run_layer_names_no_format():
    """run/ asks the backends (their attributes and methods), never compares or writes a
    format by its name: no string in it is a format's name, but a library's ("zarr" in
    report.py's versions), the PNG of the pictures daskfft draws (canvas.py) and the
    encodings of the pictures inline in report.html (html.py's data URIs)."""
    import ast
    from pathlib import Path

    import daskfft.run

    names = {"tiff", "cog", "zarr", "ome-zarr", "png", "jpeg"}
    allowed = {("report.py", "zarr"), ("canvas.py", "png"), ("html.py", "png"), ("html.py", "jpeg")}
    found = []
    for path in sorted(Path(daskfft.run.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                if (path.name, node.value) not in allowed:
                    found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert found == []
