"""The pruned 2-D and 3-D FFT pairs of a separable (Gaussian) filter: what they leave out,
and that they give the whole transform's result within the tail they state, on NumPy's
float64 FFT."""

import ducc0
import numpy as np
import pytest

from daskfft.kernels.bands import filter_spec_block
from daskfft.kernels.block import (
    ROUNDING,
    fast_pads,
    filter_block,
    filter_padded,
    pad_block,
    pair_bands,
    pruned_window,
    to_dtype,
)
from daskfft.kernels.pruned import (
    SLAB_BYTES,
    _band,
    _padded_rows,
    pruned_filter,
    pruned_tail,
    slab_rows,
)
from daskfft.kernels.spec import FilterSpec
from daskfft.kernels.transfer import cutoff_from_sigma, transfer_factors, transfer_function

SHAPE = (40, 54, 64)
KEPT = (slice(6, 30), slice(9, 45), slice(12, 52))


def _reference(x, factors):
    """The whole transform in float64: NumPy's rfftn, the outer product of the factors."""
    fz, fy, fx = (np.asarray(f, np.float64) for f in factors)
    h = fz[:, None, None] * fy[None, :, None] * fx[None, None, :]
    return np.fft.irfftn(np.fft.rfftn(x, axes=(0, 1, 2)) * h, s=x.shape, axes=(0, 1, 2))


def _volume(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(SHAPE) * 200 + 20).astype(dtype)


@pytest.mark.parametrize("sigma", [(1.0, 1.5, 1.5), (2.0, 3.0, 4.0), (3.0, 6.0, 6.0)])
def test_pruned_pair_is_the_whole_transform_within_its_stated_tail(sigma):
    x = _volume()
    factors = transfer_factors(SHAPE, cutoff_from_sigma(sigma))
    got = pruned_filter(x, factors, KEPT)
    want = _reference(x, factors)[KEPT]
    tail = pruned_tail(np.float64)
    bound = 3 * tail * (1 + tail) ** 2 * np.ptp(x) / 2
    assert np.abs(got - want).max() <= bound + 1e-12 * np.abs(want).max()


def test_float32_pruned_pair_is_within_float32_rounding_of_float64():
    x = _volume(np.float32)
    cutoff = cutoff_from_sigma((2.0, 4.0, 4.0))
    got = pruned_filter(x, transfer_factors(SHAPE, cutoff, np.float32), KEPT)
    want = _reference(x.astype(np.float64), transfer_factors(SHAPE, cutoff))[KEPT]
    assert got.dtype == np.float32
    assert np.abs(got - want).max() <= 4e-7 * np.abs(want).max()


def test_a_band_drops_the_smallest_values_up_to_the_tail_and_no_more():
    factor = transfer_factors((64, 64, 64), cutoff_from_sigma(6.0))[0]
    tail = pruned_tail(np.float32)
    kept = _band(factor, tail)
    dropped = np.setdiff1d(np.arange(64), kept)
    assert 0 < dropped.size < 64 and 0 in kept  # a wide Gaussian leaves much out; never f = 0
    assert factor[dropped].sum() <= tail < factor[dropped].sum() + factor[kept].min()
    assert factor[kept].min() >= factor[dropped].max()
    half = transfer_factors((64, 64, 64), cutoff_from_sigma(6.0))[2]
    prefix = _band(half, tail, 2.0)  # the real FFT's half axis: each value counts twice
    assert np.array_equal(prefix, np.arange(prefix.size))
    assert 2 * half[prefix.size :].sum() <= tail


def test_crop_returns_the_part_of_the_whole_result_with_layers_and_nodata():
    x = _volume(np.float32)[..., None].repeat(2, axis=-1)
    x[..., 1] *= 0.5
    x[10:14, 20:30, 30:40, :] = -1.0  # holes
    opts = dict(cutoff=cutoff_from_sigma((2.0, 3.0, 3.0)), filter="gaussian", order=4)
    opts.update(work_dtype=np.float32, nodata=-1.0, spatial=3)
    whole = filter_block(x, **opts)
    part = filter_block(x, crop=KEPT, **opts)
    assert part.shape == whole[KEPT].shape
    assert np.abs(part - whole[KEPT]).max() <= 1e-5 * np.abs(whole).max()
    assert np.all(part[x[KEPT] == -1.0] == -1.0)


@pytest.mark.parametrize("band", ["high", "band"])
def test_a_volumes_high_and_band_pass_come_from_pruned_low_passes(band):
    x = _volume()
    cutoff = cutoff_from_sigma((1.5, 2.0, 2.0))
    low_cutoff = cutoff_from_sigma((3.0, 4.0, 4.0)) if band == "band" else None
    spec = FilterSpec(cutoff=cutoff, band=band, low_cutoff=low_cutoff)
    got = filter_spec_block(x, spec, work_dtype=np.float64, spatial=3, crop=KEPT)
    low = _reference(x, transfer_factors(SHAPE, cutoff))
    if band == "high":
        want = x - low
    else:
        want = low - _reference(x, transfer_factors(SHAPE, low_cutoff))
    assert np.abs(got - want[KEPT]).max() <= 1e-12 * np.ptp(x)


@pytest.mark.parametrize("boundary", ["reflect", "nearest", "periodic", 7.0])
@pytest.mark.parametrize("layers", [(), (2,)])
def test_a_window_padded_slab_by_slab_is_the_padded_copys_result_bit_for_bit(boundary, layers):
    """filter_padded pads each slab as it converts it: the same numbers as filter_block of
    pad_block's copy, for every boundary, pads wider than the window, and channels."""
    rng = np.random.default_rng(3)
    window = rng.integers(0, 4000, (6, 30, 25) + layers).astype(np.uint16)
    pads = fast_pads(window.shape, [(9, 4), (5, 0), (0, 7)])  # z: more than its 6 planes
    shape = tuple(n + a + b for n, (a, b) in zip(window.shape, pads))
    crop = (slice(9, 15), slice(5, 35), slice(0, 25))
    cutoff = cutoff_from_sigma((1.0, 2.0, 1.5))
    got = filter_padded(
        window, pads=pads, boundary=boundary, cutoff=cutoff, work_dtype=np.float32, crop=crop
    )
    block = pad_block(window, pads, boundary)
    assert block.shape[:3] == shape
    want = filter_block(
        block, cutoff=cutoff, filter="gaussian", order=4, work_dtype=np.float32, spatial=3
    )[crop]
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("out_dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_a_volume_cast_slab_by_slab_is_the_float_results_cast(out_dtype):
    rng = np.random.default_rng(4)
    window = (rng.random((20, 40, 36)) * 4000 - 1800).astype(np.float32)  # past uint8 both ways
    pads = fast_pads(window.shape, [(3, 3), (4, 4), (4, 4)])
    crop = (slice(3, 23), slice(4, 44), slice(4, 40))
    opts = dict(pads=pads, boundary="reflect", cutoff=cutoff_from_sigma(0.7), crop=crop)
    floats = filter_padded(window, work_dtype=np.float32, **opts)
    cast = filter_padded(window, work_dtype=np.float32, out_dtype=out_dtype, **opts)
    assert cast.dtype == out_dtype
    assert np.array_equal(cast, to_dtype(floats, out_dtype))
    if out_dtype == np.uint8:
        assert (cast == 0).any() and (cast == 255).any()  # clipped, not wrapped


# --- 2-D: an image's chunk ------------------------------------------------------------------

SHAPE_2D = (90, 120)
KEPT_2D = (slice(14, 70), slice(20, 100))


def _reference_2d(x, factors):
    """The whole 2-D transform in float64: NumPy's rfft2, the outer product of the factors,
    each layer (trailing axes) alone."""
    fy, fx = (np.asarray(f, np.float64) for f in factors)
    h = (fy[:, None] * fx[None, :]).reshape(fy.shape + fx.shape + (1,) * (x.ndim - 2))
    return np.fft.irfft2(np.fft.rfft2(x, axes=(0, 1)) * h, s=x.shape[:2], axes=(0, 1))


@pytest.mark.parametrize("sigma", [3.0, 6.0, (4.0, 9.0)])
@pytest.mark.parametrize("layers", [(), (3,)])
def test_2d_pruned_pair_is_the_whole_transform_within_its_stated_tail(sigma, layers):
    x = (np.random.default_rng(5).random(SHAPE_2D + layers) * 200 + 20).astype(np.float64)
    factors = transfer_factors(SHAPE_2D, cutoff_from_sigma(sigma))
    assert pair_bands(SHAPE_2D, cutoff_from_sigma(sigma), "gaussian", np.float64) is not None
    got = pruned_filter(x, factors, KEPT_2D)
    want = _reference_2d(x, factors)[KEPT_2D]
    tail = pruned_tail(np.float64)
    bound = 3 * tail * (1 + tail) ** 2 * np.ptp(x) / 2
    assert got.shape == want.shape and got.dtype == np.float64
    assert np.abs(got - want).max() <= bound + 1e-12 * np.abs(want).max()


def test_2d_float32_pruned_pair_is_within_the_stated_rounding_of_float64():
    """report.json's max_rounding_relative (ROUNDING) covers the pruned pair's float32 result,
    its tail included, on a chunk-sized window of an 8-bit image."""
    n = 1125  # a 1024-px chunk's window with sigma 8's halo, at its fast length
    x = np.random.default_rng(6).integers(0, 256, (n, n, 3)).astype(np.uint8)
    cutoff = cutoff_from_sigma(8.0)
    kept = (slice(40, 1064),) * 2
    got = pruned_filter(x, transfer_factors((n, n), cutoff, np.float32), kept)
    want = _reference_2d(x.astype(np.float64), transfer_factors((n, n), cutoff))[kept]
    assert got.dtype == np.float32
    assert np.abs(got - want).max() <= ROUNDING["float32"] * 255


@pytest.mark.parametrize("boundary", ["reflect", "nearest", "periodic", 7.0])
@pytest.mark.parametrize("layers", [(), (2,)])
def test_a_2d_window_padded_row_by_row_is_the_padded_copys_result_bit_for_bit(boundary, layers):
    """filter_padded pads each slab of rows as it converts it: the same numbers as
    filter_block of pad_block's copy, for every boundary, pads wider than the window, and
    channels; cast to the output's dtype slab by slab as to_dtype casts the floats."""
    rng = np.random.default_rng(7)
    window = rng.integers(0, 4000, (30, 25) + layers).astype(np.uint16)
    pads = fast_pads(window.shape[:2], [(41, 6), (0, 33)])  # rows: more than its 30
    crop = (slice(41, 71), slice(0, 25))
    cutoff = cutoff_from_sigma(4.0)
    opts = dict(pads=pads, boundary=boundary, cutoff=cutoff, work_dtype=np.float32, crop=crop)
    got = filter_padded(window, **opts)
    block = pad_block(window, pads, boundary)
    assert pruned_window(window.shape[:2], pads, FilterSpec(cutoff=cutoff), np.float32)
    kernel = dict(cutoff=cutoff, filter="gaussian", order=4, work_dtype=np.float32, crop=crop)
    want = filter_block(block, **kernel)  # the crop: the inverse's last axis on the same rows
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)
    cast = filter_padded(window, out_dtype=np.uint8, **opts)
    assert np.array_equal(cast, to_dtype(got, np.uint8))


@pytest.mark.parametrize(("width", "layers", "itemsize"), [(2160, 1, 4), (2160, 3, 4), (600, 1, 8)])
def test_a_2d_slab_is_about_its_bytes_of_rows_a_multiple_of_64(width, layers, itemsize):
    """Slabs of ~SLAB_BYTES (fewer calls a window), in whole 64s: every row goes through
    ducc0 in the same SIMD groups."""
    rows = slab_rows(width, layers, itemsize)
    assert rows % 64 == 0 and rows >= 64
    assert rows * width * layers * itemsize <= max(SLAB_BYTES, 64 * width * layers * itemsize)
    assert (rows + 64) * width * layers * itemsize > SLAB_BYTES


def test_a_gray_2048_px_chunks_window_goes_through_in_slabs_of_192_rows():
    """At sigma 8 a 2048-px chunk's window is 2160 px at its fast length: 192 rows a slab in
    float32 (3 x 64 rows fewer than 2 MiB), not 64."""
    assert slab_rows(2160, 1, 4) == 192


@pytest.mark.parametrize("layers", [(), (3,)])
def test_a_2d_pruned_pair_does_not_depend_on_its_slabs_bit_for_bit(layers):
    """The default slab (448 rows of this gray window, 128 of the RGB one), 64 rows and
    320 give the same bits: a slab size changes how often the pair calls ducc0, never a
    row's result (a slab not a multiple of ducc0's group of 4 rows would: 466, 155)."""
    n = 1125
    x = np.random.default_rng(9).integers(0, 256, (n, n) + layers).astype(np.uint8)
    factors = transfer_factors((n, n), cutoff_from_sigma(8.0), np.float32)
    kept = (slice(40, 1064),) * 2
    assert slab_rows(n, int(np.prod(layers, dtype=int)), 4) == (448 if not layers else 128)
    want = pruned_filter(x, factors, kept, out_dtype=np.uint8, slab=64)
    for slab in (None, 320):
        assert np.array_equal(pruned_filter(x, factors, kept, out_dtype=np.uint8, slab=slab), want)
    floats = pruned_filter(x, factors, kept, slab=64)
    assert np.array_equal(pruned_filter(x, factors, kept), floats)


def test_a_2d_gaussian_whose_band_keeps_everything_takes_the_whole_pair_bit_for_bit():
    """At a sigma under ~2 px float32 drops nothing: filter_block then runs the whole pair on
    the transfer function's grid, bit for bit as before pruning."""
    x = np.random.default_rng(8).integers(0, 256, (64, 80, 3)).astype(np.uint8)
    cutoff = cutoff_from_sigma(1.0)
    assert pair_bands((64, 80), cutoff, "gaussian", np.float32) is None
    got = filter_block(x, cutoff=cutoff, filter="gaussian", order=4, work_dtype=np.float32)
    h = transfer_function((64, 80), cutoff, "gaussian", 4, np.float32)
    spectrum = ducc0.fft.r2c(x.astype(np.float32), axes=(0, 1)) * h[..., None]
    want = ducc0.fft.c2r(spectrum, axes=(0, 1), lastsize=80, forward=False, inorm=2)
    assert np.array_equal(got, want)


def test_pair_bands_say_which_pair_a_window_takes_and_what_it_keeps():
    cutoff = cutoff_from_sigma(8.0)
    (ky, ny), (kx, nx) = pair_bands((2128, 2128), cutoff, "gaussian", np.float32)
    assert (ny, nx) == (2128, 1065)
    assert (ky, kx) == (570, 286)  # pruned_filter's docstring says so
    # float64 keeps more: its tail is eps64 / 64
    (ky64, _), (kx64, _) = pair_bands((2128, 2128), cutoff, "gaussian", np.float64)
    assert ky64 > ky and kx64 > kx
    assert pair_bands((2128, 2128), cutoff, "butterworth", np.float32) is None
    # a volume's Gaussian always takes the pruned pair, whole bands or not
    assert pair_bands((16, 16, 16), cutoff_from_sigma(0.5), "gaussian", np.float32) == [
        (16, 16),
        (16, 16),
        (9, 9),
    ]


# --- what report.json says of it ------------------------------------------------------------


def _report(tmp_path, *args):
    import json

    import tifffile
    from reference import make_image

    from daskfft.cli import main

    image = make_image((200, 180), np.uint8, seed=13)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(32, 32))
    out = tmp_path / "o"
    argv = ["run", str(tmp_path / "in.tif"), "-o", str(out), "--chunks", "64"]
    assert main([*argv, *args, "--cluster", "threads", "-q", "--no-plots"]) == 0
    return json.loads((out / "report.json").read_text())


def test_a_gaussian_runs_report_the_pruned_pairs_bands_on_a_chunks_window(tmp_path):
    report = _report(tmp_path, "--sigma", "4")
    t, depth = report["transforms"], report["halo"]["depth"]
    size = report["chunks"]["size"]  # the TIFF output's tiles raise them to 128
    window = tuple(ducc0.fft.good_size(n + 2 * depth, True) for n in size)
    assert t["pair"] == "pruned" and t["window"] == list(window)
    want = pair_bands(window, cutoff_from_sigma(4), "gaussian", np.float32)
    assert t["low_passes"] == [
        {"cutoff_cycles_per_pixel": cutoff_from_sigma(4), "kept": [list(k) for k in want]}
    ]
    assert all(k < n for k, n in want)  # something is left out, on both axes
    assert t["tail_per_axis"] == pruned_tail(np.float32)
    assert "tail_per_axis" in report["precision"]["max_rounding_note"]


@pytest.mark.parametrize(
    "args, pair, lows",
    [
        (["--filter", "butterworth", "--cutoff", "0.05"], "whole", [None]),
        (["--sigma", "0.8"], "whole", [None]),  # float32 keeps every frequency
        (["--pass", "high", "--sigma", "4"], "whole", []),  # 1 - H on the grid
        (["--pass", "high", "--sigma", "4", "--nodata", "0"], "pruned", ["kept"]),
        (["--exact", "--sigma", "4"], "whole image", []),
    ],
)
def test_other_runs_report_the_pair_they_take(tmp_path, args, pair, lows):
    t = _report(tmp_path, *args)["transforms"]
    assert t["pair"] == pair
    assert [None if low["kept"] is None else "kept" for low in t["low_passes"]] == lows


# --- a window read band by band -------------------------------------------------------------


class _Counted:
    """An image's ``read(rows, cols)`` that counts what it was asked for."""

    def __init__(self, image):
        self.image, self.calls = image, []

    def __call__(self, rows, cols):
        self.calls.append(rows)
        return self.image[rows[0] : rows[1], cols[0] : cols[1]].copy()


def test_row_bands_read_each_band_of_the_window_once_and_keep_the_chunk():
    from daskfft.run.rowbands import RowBands

    image = np.random.default_rng(9).integers(0, 256, (300, 200, 3)).astype(np.uint8)
    read = _Counted(image)
    rows, cols, keep = (37, 290), (10, 190), ((60, 250), (40, 160))
    x = RowBands(read, rows, cols, tail=(3,), band=64, keep=keep)
    assert x.shape == (253, 180, 3)
    window = image[37:290, 10:190]
    for a in range(0, 253, 20):  # in order, slices across bands' edges
        assert np.array_equal(x[a : a + 20], window[a : a + 20])
    assert read.calls == [(37, 64), (64, 128), (128, 192), (192, 256), (256, 290)]
    assert all(b - a <= 64 for a, b in read.calls)  # never the whole window at once
    assert np.array_equal(x.kept, image[60:250, 40:160])


@pytest.mark.parametrize("boundary", ["reflect", "nearest", "periodic", 7.0])
def test_a_window_read_band_by_band_filters_as_the_window_read_whole(boundary):
    """filter_padded of RowBands, reflections past the image's edges reading bands again,
    gives the same numbers as of the window read at once."""
    from daskfft.run.rowbands import RowBands

    image = np.random.default_rng(10).integers(0, 4000, (150, 140)).astype(np.uint16)
    rows, cols = (0, 150), (20, 140)  # the window reaches the top and bottom edges
    pads = fast_pads((150, 120), [(60, 70), (0, 25)])  # rows: past both edges, wider than a band
    crop = (slice(60, 210), slice(0, 120))
    opts = dict(pads=pads, boundary=boundary, cutoff=cutoff_from_sigma(5.0), crop=crop)
    read = _Counted(image)
    x = RowBands(read, rows, cols, tail=(), band=32, keep=((0, 150), (20, 140)))
    got = filter_padded(x, work_dtype=np.float32, out_dtype=np.uint16, **opts)
    want = filter_padded(image[:, 20:140], work_dtype=np.float32, out_dtype=np.uint16, **opts)
    assert np.array_equal(got, want)
    assert np.array_equal(x.kept, image[:, 20:140])
    if boundary != "periodic":  # a wrapped slab's rows run across the whole window
        assert len(read.calls) <= 2 * 5  # each of the 5 bands read at most twice


@pytest.mark.parametrize("boundary", [-50.0, 300.0, 0.5])
def test_an_integer_block_padded_with_a_constant_it_cannot_hold_is_padded_in_floats(boundary):
    """A block whose halo filter_block adds itself (an axis shorter than the halo) with a
    constant boundary: the constant is the working precision's, not wrapped to the input's
    uint8 (found by a review: the pruned pair takes the block unconverted)."""
    x = np.full((40, 40), 100, np.uint8)
    opts = dict(cutoff=cutoff_from_sigma(6.0), filter="gaussian", order=4)
    opts.update(work_dtype=np.float32, self_pad=(30, 30), pad_mode=boundary)
    assert np.array_equal(filter_block(x, **opts), filter_block(x.astype(np.float32), **opts))


def test_filter_block_takes_a_cutoff_per_axis_as_a_list_or_an_array():
    x = np.random.default_rng(11).random((48, 64)).astype(np.float32)
    opts = dict(filter="gaussian", order=4, work_dtype=np.float32)
    want = filter_block(x, cutoff=(0.02, 0.03), **opts)
    assert np.array_equal(filter_block(x, cutoff=[0.02, 0.03], **opts), want)
    assert np.array_equal(filter_block(x, cutoff=np.array([0.02, 0.03]), **opts), want)


def test_a_plain_chunks_task_memory_follows_the_chunk_not_the_halo(tmp_path):
    """What the run checks against a worker's memory limit (Plan.task_memory): for a plain
    Gaussian chunk, read band by band, it bounds what its read and pruned pair hold
    (tracemalloc) and barely grows with sigma, where the window grows 3x (it was 5 copies
    of the window: a large sigma was refused on workers it fits)."""
    import tracemalloc
    from functools import partial

    import tifffile

    from daskfft import io
    from daskfft.kernels.block import fast_window, halo_window
    from daskfft.run.config import RunConfig
    from daskfft.run.plan import make_plan
    from daskfft.run.rowbands import RowBands, band_rows

    n = 2048
    x = (np.random.default_rng(12).random((n, n, 3)) * 200).astype(np.float32)
    tifffile.imwrite(tmp_path / "in.tif", x, tile=(256, 256), photometric="rgb")
    estimates, windows = {}, {}
    for sigma in (4.0, 60.0):
        config = RunConfig.create(tmp_path / "in.tif", tmp_path / "o", sigma=sigma, chunks=512)
        plan = make_plan(config)
        estimates[sigma], windows[sigma] = plan.task_memory[0], plan.chunk_window
        info, halo = plan.info, plan.halo.depth
        box = (512, 1024, 512, 1024)
        rows, cols, pads = halo_window(box, halo, info.shape)
        rows, cols = fast_window(rows, pads[0], n), fast_window(cols, pads[1], n)
        fast = fast_pads((rows[1] - rows[0], cols[1] - cols[0]), pads)
        tracemalloc.start()
        read = partial(io.read_window, info)
        window = RowBands(read, rows, cols, tail=(3,), band=band_rows(info),
                          keep=((512, 1024), (512, 1024)))  # fmt: skip
        filter_padded(window, pads=fast, boundary="reflect", cutoff=plan.spec.cutoff,
                      work_dtype=np.float32, crop=(slice(halo, halo + 512),) * 2)  # fmt: skip
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= estimates[sigma], (sigma, peak, estimates[sigma])
    grown = (windows[60.0][0] * windows[60.0][1]) / (windows[4.0][0] * windows[4.0][1])
    assert grown > 3 and estimates[60.0] < 1.3 * estimates[4.0], (grown, estimates)


@pytest.mark.parametrize(
    "case",
    ["png", "periodic", "measured", "nodata", "flatfield"],
)
def test_the_memory_estimate_streams_only_where_the_tasks_read_band_by_band(tmp_path, case):
    """PNG input, a periodic boundary (both split by map_overlap) and a measured deviation
    (windows not grown) read whole windows: the window's estimate, not the streamed one
    (found by a review: the streamed one was up to 2.1x below their peak); a flat-field's
    correction holds four more float chunks."""
    import imageio.v3 as iio

    from daskfft.run.config import RunConfig
    from daskfft.run.plan import make_plan
    from daskfft.run.taskmem import streamed_memory

    x = (np.random.default_rng(13).random((600, 500, 3)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "in.png", x)
    tifffile_path = tmp_path / "in.tif"
    import tifffile

    tifffile.imwrite(tifffile_path, x, tile=(128, 128), photometric="rgb")
    options = {
        "png": dict(),
        "periodic": dict(boundary="periodic"),
        "measured": dict(measure_deviation=True),
        "nodata": dict(nodata=0),
        "flatfield": dict(flatfield="divide"),
    }[case]
    path = tmp_path / ("in.png" if case == "png" else "in.tif")
    plan = make_plan(RunConfig.create(path, tmp_path / "o", sigma=20, chunks=256, **options))
    plain = make_plan(RunConfig.create(tifffile_path, tmp_path / "p", sigma=20, chunks=256))
    assert streamed_memory(plain) is not None
    if case == "flatfield":
        assert streamed_memory(plan) > streamed_memory(plain)
    else:
        assert streamed_memory(plan) is None  # the whole window's rule (5 float copies)


def test_rows_in_order_of_the_working_dtype_and_unpadded_go_to_the_transform_uncopied():
    x = np.random.default_rng(3).random((40, 30, 3)).astype(np.float32)
    rows = np.arange(5, 21)
    same = _padded_rows(x, rows, (0, 0), "symmetric", np.float32)
    assert np.shares_memory(same, x) and np.array_equal(same, x[5:21])
    converted = _padded_rows((x * 200).astype(np.uint8), rows, (0, 0), "symmetric", np.float32)
    assert converted.dtype == np.float32
    assert np.array_equal(converted, (x * 200).astype(np.uint8)[5:21])
    padded = _padded_rows(x, rows, (2, 3), "symmetric", np.float32)
    assert not np.shares_memory(padded, x)
    assert np.array_equal(padded, np.pad(x[5:21], ((0, 0), (2, 3), (0, 0)), "symmetric"))
    reflected = _padded_rows(x, np.array([1, 0, 0, 1, 2]), (0, 0), "symmetric", np.float32)
    assert not np.shares_memory(reflected, x) and np.array_equal(reflected, x[[1, 0, 0, 1, 2]])


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "wrap", 0.0])
def test_a_padded_axis_source_rows_step_by_at_most_one(mode):
    """What _padded_rows' test of rows in order (first and last n - 1 apart) rests on."""
    from daskfft.kernels.pruned import _source_index

    for n in (1, 2, 3, 5, 8):
        for before in (0, 1, 4, 9, 17):
            for after in (0, 2, 7, 19):
                rows = _source_index(n, (before, after), mode)
                assert np.all(np.diff(rows) <= 1)
                for a in range(len(rows)):  # every slab's in-order test agrees with the steps
                    for b in range(a + 1, min(len(rows), a + 6) + 1):
                        part = rows[a:b]
                        quick = part[0] >= 0 and part[-1] - part[0] == len(part) - 1
                        assert quick == bool(part.min() >= 0 and np.all(np.diff(part) == 1))
