import dask.array as da
import numpy as np
import pytest

from daskfft import spectra, spectra_atlas
from daskfft.kernels.spectra import atlas_cell, spectrum_block


def _tone(shape, fy, fx, amplitude=1.0):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return amplitude * np.cos(2 * np.pi * (fy * y + fx * x))


@pytest.mark.parametrize(("fy", "fx"), [(5 / 64, 12 / 64), (0.0, 0.25), (-10 / 64, 3 / 64)])
def test_peak_sits_at_the_sinusoid_frequency_in_every_chunk(fy, fx):
    image = da.from_array(_tone((128, 192), fy, fx) + 3.0, chunks=64)
    spec = spectra(image)
    assert spec.chunks == image.chunks
    result = spec.compute()
    for i in range(2):
        for j in range(3):
            block = result[64 * i : 64 * (i + 1), 64 * j : 64 * (j + 1)].copy()
            block[31:34, 31:34] = 0  # the mean (3.0), spread by the Hann window over +-1 bin
            peak = np.unravel_index(np.argmax(block), block.shape)
            offset = (int(peak[0]) - 32, int(peak[1]) - 32)
            assert offset in {(round(fy * 64), round(fx * 64)), (-round(fy * 64), -round(fx * 64))}


def test_peak_height_is_half_the_amplitude():
    block = spectrum_block(_tone((64, 64), 8 / 64, 0.0, amplitude=10.0), window="hann")
    assert block.max() == pytest.approx(np.log1p(5.0), rel=1e-6)
    assert block.dtype == np.float32


def test_full_plane_matches_numpy_fft2():
    rng = np.random.default_rng(1)
    x = rng.random((17, 22))
    ours = spectrum_block(x, window="none")
    theirs = np.fft.fftshift(np.log1p(np.abs(np.fft.fft2(x)) / x.size))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_colour_chunks_give_the_spectrum_of_their_mean():
    rng = np.random.default_rng(2)
    rgb = rng.random((32, 32, 3))
    np.testing.assert_allclose(spectrum_block(rgb), spectrum_block(rgb.mean(axis=2)), rtol=1e-5)
    assert spectra(da.from_array(rgb, chunks=(16, 16, 3)), channel_axis=-1).shape == (32, 32)


def test_one_pixel_chunks_work():
    assert spectra(np.ones((3, 2))).rechunk(1).compute().shape == (3, 2)
    assert np.isfinite(spectrum_block(np.ones((1, 1)))).all()


def test_atlas_tiles_chunks_and_bounds_its_size():
    spec = spectra(da.zeros((1000, 3000), chunks=100))
    atlas = spectra_atlas(spec, max_size=1024)
    assert atlas.numblocks == spec.numblocks
    assert max(atlas.shape) <= 1024
    assert atlas.shape == (10 * 34, 30 * 34)


def test_atlas_cell_keeps_a_single_pixel_peak():
    block = np.zeros((300, 200), dtype=np.float32)
    block[123, 77] = 5.0
    cell = atlas_cell(block, cell=64)
    assert cell.shape == (64, 64) and cell.max() == 5.0
    grown = atlas_cell(np.arange(4, dtype=np.float32).reshape(2, 2), cell=4)
    np.testing.assert_array_equal(grown, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])


def test_atlas_shows_where_the_frequencies_are():
    left = _tone((64, 64), 0, 20 / 64)
    right = _tone((64, 64), 20 / 64, 0)
    atlas = spectra_atlas(
        spectra(da.from_array(np.hstack([left, right]), chunks=64)), cell=64
    ).compute()
    a, b = atlas[:, :64], atlas[:, 64:]
    assert np.unravel_index(np.argmax(a), a.shape) in {(32, 12), (32, 52)}
    assert np.unravel_index(np.argmax(b), b.shape) in {(12, 32), (52, 32)}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: spectra(np.zeros((4, 4)), window="kaiser"), "`window`"),
        (lambda: spectra_atlas(np.zeros((4, 4))), "`spec`"),
        (lambda: spectra_atlas(spectra(np.zeros((4, 4))), cell=0), "`cell`"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize(
    ("shape", "cell"),
    [((1024, 1024), 256), ((512, 768), 128), ((300, 200), 64), ((96, 96), 128), ((64, 48), 16)],
)
def test_atlas_tile_pooled_before_the_log_equals_the_log_spectrum_pooled(shape, cell):
    from daskfft.kernels.spectra import atlas_from_half, log_spectrum, windowed_spectrum

    block = np.random.default_rng(shape[0]).random(shape).astype(np.float32)
    block[: shape[0] // 3] += np.cos(np.arange(shape[1]) * 0.9)  # a peak to keep
    half, _, windows = windowed_spectrum(block)
    expected = atlas_cell(log_spectrum(half, shape, windows), cell=cell)
    np.testing.assert_array_equal(atlas_from_half(half, shape, windows, cell=cell), expected)


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 7, 8, 11])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_a_chunks_brightness_is_numpys_channel_mean_bit_for_bit(channels, dtype):
    from daskfft.kernels.spectra import _brightness, _brightness_nd

    rng = np.random.default_rng(channels)
    shape = (37, 29, channels)
    if np.dtype(dtype).kind == "f":
        scale = rng.choice([1e-30, 1.0, 1e30], shape)
        x = (rng.normal(0, 1e3, shape) * scale).astype(dtype)
        x[0, :3] = [-0.0, 0.0, -0.0][:channels] if channels < 3 else -0.0
        x[1, 0] = -0.0  # a pixel whose every channel is -0.0
    else:
        x = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    want = np.asarray(x, np.float32).mean(axis=2, dtype=np.float32)
    for got in (_brightness(x), _brightness_nd(x, 2), _brightness_nd(x[None], 3)[0]):
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
