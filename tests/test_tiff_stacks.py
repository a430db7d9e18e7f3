"""``daskfft run`` on stacks of TIFF pages (issue #15, point 4): ImageJ hyperstacks and
OME-TIFF whose files name their axes, read through tifffile's Zarr store of the series a
window's pages at a time, filtered as scipy filters the whole volume, written as OME-Zarr
at the file's voxel size; pages the file does not name refused in one line, never guessed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr
from reference import make_image
from scipy import ndimage

from daskfft import io
from daskfft.cli import main

QUIET = ["--cluster", "threads", "-q"]


def run(src, out, *options):
    argv = ["run", str(src), "-o", str(out), "--sigma", "1.5", "--chunks", "16"]
    return main([*argv, *options, *QUIET])


def gaussian(data, mode="reflect"):
    return ndimage.gaussian_filter(data.astype(float), 1.5, mode=mode, truncate=40)


def close(got, ref, dtype):
    """Within 1 level of the rounded reference for integers, 1e-5 of the range for floats."""
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        return np.abs(got.astype(float) - np.clip(np.rint(ref), info.min, info.max)).max() <= 1
    return np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def multiscale(out):
    (scale,) = zarr.open_group(str(out / "filtered.ome.zarr"), mode="r").attrs["ome"]["multiscales"]
    return scale


def report(out):
    return json.loads((out / "report.json").read_text())


def test_an_imagej_hyperstack_tzcyx_is_filtered_per_frame_and_channel_at_its_voxel_size(tmp_path):
    data = make_image((2, 12, 2, 40, 36), np.uint16, seed=1)
    src = tmp_path / "hyper.tif"
    tifffile.imwrite(
        src,
        data,
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.5),  # pixels per unit: 0.5 µm pixels
        metadata={"axes": "TZCYX", "spacing": 2.0, "unit": "um"},
    )
    out = tmp_path / "out"
    assert run(src, out) == 0  # no --output-format: a TIFF holds no stack, OME-Zarr does
    got = zarr.open_array(str(out / "filtered.ome.zarr" / "0"), mode="r")[...]
    assert got.shape == (2, 2, 12, 40, 36) and got.dtype == np.uint16  # NGFF's t, c, z, y, x
    for t in range(2):
        for c in range(2):
            assert close(got[t, c], gaussian(data[t, :, c]), np.uint16), (t, c)
    scale = multiscale(out)
    assert [a["name"] for a in scale["axes"]] == list("tczyx")
    assert scale["axes"][2] == {"name": "z", "type": "space", "unit": "micrometer"}
    transform = scale["datasets"][0]["coordinateTransformations"][0]
    assert transform["scale"] == [1.0, 1.0, 2.0, 0.5, 0.5]
    stack = report(out)["stack"]
    assert stack["axes"] == {"t": 2, "z": 12, "y": 40, "x": 36} and stack["channels"] == 2
    assert stack["each_alone"] == ["t", "c"] and stack["spacing"] == [2.0, 0.5, 0.5, "micrometer"]


def test_an_imagej_zyx_volume_with_no_voxel_size_is_filtered_in_z_y_and_x(tmp_path):
    data = make_image((32, 48, 40), np.uint8, seed=2)
    src = tmp_path / "vol.tif"
    tifffile.imwrite(src, data, imagej=True, metadata={"axes": "ZYX"})
    out = tmp_path / "out"
    assert run(src, out) == 0
    got = zarr.open_array(str(out / "filtered.ome.zarr" / "0"), mode="r")[...]
    assert got.shape == data.shape and close(got, gaussian(data), np.uint8)
    stack = report(out)["stack"]
    assert stack["chunk_per_axis"]["z"] == 16  # two z chunks, each read with its z halo
    assert stack["spacing"] is None  # the file does not say: not made up
    assert multiscale(out)["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0] * 3


def test_a_tiled_ome_tiff_volume_keeps_its_physical_size(tmp_path):
    data = make_image((16, 64, 64), np.float32, seed=3)
    src = tmp_path / "vol.ome.tif"
    tifffile.imwrite(
        src,
        data,
        ome=True,
        tile=(32, 32),
        metadata={"axes": "ZYX", "PhysicalSizeZ": 1.5, "PhysicalSizeY": 0.25,
                  "PhysicalSizeX": 0.25},
    )  # fmt: skip
    info = io.probe(src)
    assert info.stack == (("z", 16, 1),) and info.native_chunks == (32, 32)
    out = tmp_path / "out"
    assert run(src, out) == 0
    got = zarr.open_array(str(out / "filtered.ome.zarr" / "0"), mode="r")[...]
    assert close(got, gaussian(data), np.float32)
    assert multiscale(out)["datasets"][0]["coordinateTransformations"][0]["scale"] == [
        1.5, 0.25, 0.25
    ]  # fmt: skip
    assert report(out)["stack"]["spacing"] == [1.5, 0.25, 0.25, "micrometer"]


def test_an_ome_tiff_czyx_volume_filters_each_channel_alone(tmp_path):
    """Channels first in the file, a z step in micrometres and pixels in nanometres."""
    data = np.zeros((2, 10, 32, 48), np.uint16)
    data[0, 5, 16, 24] = 60000  # a point in channel 0 stays in channel 0
    data[1] = make_image((10, 32, 48), np.uint16, seed=4)
    src = tmp_path / "czyx.ome.tif"
    metadata = {"axes": "CZYX", "PhysicalSizeZ": 0.5, "PhysicalSizeZUnit": "µm"}
    metadata.update(PhysicalSizeY=100.0, PhysicalSizeX=100.0, PhysicalSizeXUnit="nm")
    tifffile.imwrite(src, data, ome=True, metadata=metadata)
    out = tmp_path / "out"
    assert run(src, out) == 0
    got = zarr.open_array(str(out / "filtered.ome.zarr" / "0"), mode="r")[...]
    assert got.shape == data.shape  # c, z, y, x
    for c in range(2):
        assert close(got[c], gaussian(data[c]), np.uint16), c
    scale = multiscale(out)
    assert [a["name"] for a in scale["axes"]] == list("czyx")
    assert scale["datasets"][0]["coordinateTransformations"][0]["scale"] == [
        1.0, 500.0, 100.0, 100.0
    ]  # fmt: skip
    assert report(out)["stack"]["spacing"] == [500.0, 100.0, 100.0, "nanometer"]


@pytest.mark.parametrize(("boundary", "mode"), [("reflect", "reflect"), ("periodic", "wrap")])
def test_channels_in_pages_of_their_own_are_an_image_with_channels(tmp_path, boundary, mode):
    """OME-TIFF CYX: no z, no t: a 2-D image with its channels, written as a TIFF, bands
    last; read in windows (reflect) or as a lazy array (periodic)."""
    data = make_image((3, 40, 56), np.uint16, seed=5)
    src = tmp_path / "cyx.ome.tif"
    tifffile.imwrite(src, data, ome=True, metadata={"axes": "CYX"})
    info = io.probe(src)
    assert info.shape == (40, 56, 3) and info.stack == () and io.default_output(info) == "tiff"
    out = tmp_path / "out"
    assert run(src, out, "--boundary", boundary) == 0
    got = tifffile.imread(out / "filtered.tif")
    assert got.shape == (40, 56, 3)
    for c in range(3):
        assert close(got[..., c], gaussian(data[c], mode), np.uint16), c


def test_a_window_reads_only_the_pages_of_its_frame_and_planes(tmp_path, monkeypatch):
    """tifffile's Zarr store is asked for the chunks of time point 1, planes 2 and 3, both
    channels, and no others."""
    import tifffile.zarr

    data = make_image((2, 6, 2, 24, 20), np.uint16, seed=6)
    src = tmp_path / "hyper.tif"
    tifffile.imwrite(src, data, imagej=True, metadata={"axes": "TZCYX"})
    info = io.probe(src)
    keys = []
    get = tifffile.zarr.ZarrTiffStore.get

    async def counted(self, key, *args, **kwargs):
        if key[0].isdigit():  # a chunk, not metadata
            keys.append(tuple(int(k) for k in key.split(".")))
        return await get(self, key, *args, **kwargs)

    monkeypatch.setattr(tifffile.zarr.ZarrTiffStore, "get", counted)
    window = io.read_window(info, (4, 12), (3, 17), frame=1, planes=(2, 4))
    assert window.shape == (2, 8, 14, 2)  # z, y, x, c
    np.testing.assert_array_equal(window, np.moveaxis(data[1, 2:4, :, 4:12, 3:17], 1, 3))
    assert sorted(keys) == [(1, z, c, 0, 0) for z in (2, 3) for c in (0, 1)]


def test_an_imagej_stack_written_as_tiff_is_an_ome_tiff_of_its_planes(tmp_path):
    src = tmp_path / "vol.tif"
    volume = np.random.default_rng(5).integers(0, 255, (5, 16, 20)).astype(np.uint8)
    tifffile.imwrite(src, volume, imagej=True, metadata={"axes": "ZYX"})
    assert run(src, tmp_path / "out", "--output-format", "tiff", "--sigma", "1") == 0
    with tifffile.TiffFile(tmp_path / "out" / "filtered.ome.tif") as tif:
        assert tif.is_ome and tif.series[0].axes == "ZYX" and tif.series[0].shape == (5, 16, 20)
        assert "PhysicalSizeZ" not in tif.ome_metadata  # the file gave no voxel size
        got = tif.series[0].asarray()
    assert got.dtype == np.uint8 and 0 < got.std() < volume.std()  # smoothed


def _plain(path):
    tifffile.imwrite(path, np.zeros((6, 20, 30), np.uint8), metadata=None)  # tifffile's IYX


def _shaped(path):
    tifffile.imwrite(path, np.zeros((6, 20, 30), np.uint8))  # tifffile's shaped QYX


def _unknown(path):
    tifffile.imwrite(path, np.zeros((3, 20, 30), np.uint8), ome=True, metadata={"axes": "RYX"})


def _c_and_s(path):
    data = np.zeros((2, 20, 30, 3), np.uint8)
    tifffile.imwrite(path, data, ome=True, photometric="rgb", metadata={"axes": "CYXS"})


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_plain, "a stack of 6 pages (axes IYX, shape (6, 20, 30)) whose file does not say"),
        (_shaped, "whether they are z planes, time points or channels, and daskfft does not"),
        (_unknown, "TIFF axes RYX (shape (3, 20, 30)): daskfft reads T (time), Z, C or S"),
        (_c_and_s, "TIFF axes CYXS (shape (2, 20, 30, 3)) hold channels twice, as C and as S"),
    ],
)
def test_pages_whose_axes_are_not_told_or_not_read_are_refused_in_one_line(
    tmp_path, capsys, make, said
):
    src = tmp_path / "stack.tif"
    make(src)
    out = tmp_path / "out"
    assert run(src, out) == 1
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and err.startswith("daskfft: error: "), err
    assert not out.exists() or not (out / "filtered.ome.zarr").exists()
