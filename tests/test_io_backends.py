"""The io registry: one backend per format, picked by suffix or by name; a new format is
one module and one registration."""

from __future__ import annotations

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
