"""Spectra of volumes (issue #15): the 3-D spectrum of every chunk, its spherical-shell
power and its atlas plane, each against a NumPy reference written here."""

import dask.array as da
import numpy as np
import pytest

from daskfft import spectra, spectra_atlas
from daskfft.kernels.spectra import (
    RADIAL_EDGES,
    RADIAL_EDGES_3D,
    atlas_cell,
    atlas_from_half,
    central_plane_spectrum,
    log_spectrum,
    radial_power_nd,
    volume_spectrum_block,
)


def _hann(n):
    return np.ones(1) if n == 1 else 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _window(shape):
    w = np.ones(())
    for n in shape:
        w = np.multiply.outer(w, _hann(n))
    return w


def _reference_spectrum(chunk, window=True):
    """``log1p(|fftn(w * chunk)| / sum(w))``, centred, in float64."""
    w = _window(chunk.shape) if window else np.ones(chunk.shape)
    return np.fft.fftshift(np.log1p(np.abs(np.fft.fftn(w * chunk)) / w.sum()))


def _reference_shells(chunk):
    """Hann-windowed power of ``chunk`` less its mean, summed in shells of RADIAL_EDGES_3D
    over the real FFT's half grid (as the kernel sums it), and the voxels per shell."""
    w = _window(chunk.shape)
    power = np.abs(np.fft.rfftn(w * (chunk - chunk.mean()))) ** 2 / (w**2).sum()
    freqs = [np.fft.fftfreq(n) for n in chunk.shape[:-1]] + [np.fft.rfftfreq(chunk.shape[-1])]
    f = np.sqrt(sum(g**2 for g in np.meshgrid(*freqs, indexing="ij")))
    idx = np.digitize(f.ravel(), RADIAL_EDGES_3D) - 1
    nbins = len(RADIAL_EDGES_3D) - 1
    return np.bincount(idx, power.ravel(), nbins), np.bincount(idx, minlength=nbins)


def _wave(shape, k, n, amplitude=1.0):
    """``a cos(2 pi (kz z + ky y + kx x) / n)``: ``k`` cycles per ``n`` voxels along each axis."""
    z, y, x = np.meshgrid(*map(np.arange, shape), indexing="ij")
    return amplitude * np.cos(2 * np.pi * (k[0] * z + k[1] * y + k[2] * x) / n)


@pytest.mark.parametrize("k", [(3, 5, -7), (0, 4, 0), (6, 0, 2)])
def test_plane_wave_peaks_at_its_voxel_in_every_chunk(k):
    n, amplitude = 32, 4.0
    volume = _wave((64, 32, 96), k, n, amplitude) + 2.0
    spec = spectra(da.from_array(volume, chunks=n))
    assert spec.chunks == ((32, 32), (32,), (32, 32, 32)) and spec.dtype == np.float32
    result = spec.compute()
    centre = np.array([n // 2] * 3)
    for i in range(2):
        for j in range(3):
            block = result[n * i : n * (i + 1), :, n * j : n * (j + 1)].copy()
            chunk = volume[n * i : n * (i + 1), :, n * j : n * (j + 1)]
            np.testing.assert_allclose(block, _reference_spectrum(chunk), atol=2e-6)
            block[tuple(slice(c - 1, c + 2) for c in centre)] = 0  # the mean, Hann-spread
            peak = np.array(np.unravel_index(np.argmax(block), block.shape)) - centre
            assert tuple(peak) in {k, tuple(-np.array(k))}
            assert block.max() == pytest.approx(np.log1p(amplitude / 2), rel=1e-5)


def test_the_3d_spectrum_without_window_is_numpy_fftn_of_a_ragged_chunk():
    chunk = np.random.default_rng(3).random((5, 8, 7))
    ours = volume_spectrum_block(chunk, window="none")
    np.testing.assert_allclose(ours, _reference_spectrum(chunk, window=False), rtol=1e-5)
    odd = np.random.default_rng(4).random((9, 6, 11))
    np.testing.assert_allclose(volume_spectrum_block(odd), _reference_spectrum(odd), atol=2e-6)


@pytest.mark.parametrize(
    ("k", "n", "shape"), [((3, 5, -7), 32, (32, 32, 32)), ((0, 9, 4), 24, (24, 48, 48))]
)
def test_shell_power_of_a_plane_wave_lands_in_the_shell_of_its_frequency(k, n, shape):
    chunk = _wave(shape, k, n) + 5.0
    sums, counts = radial_power_nd(chunk)
    ref_sums, ref_counts = _reference_shells(chunk)
    assert len(sums) == len(counts) == len(RADIAL_EDGES_3D) - 1
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_allclose(sums, ref_sums, rtol=1e-4, atol=1e-6 * ref_sums.max())
    f = np.linalg.norm(np.array(k) / n)
    shell = np.digitize(f, RADIAL_EDGES_3D) - 1
    assert np.argmax(sums) == shell
    # The Hann window spreads the wave over +-1 bin along each axis: at most sqrt(3)/n away.
    near = (RADIAL_EDGES_3D[1:] > f - np.sqrt(3) / n) & (RADIAL_EDGES_3D[:-1] < f + np.sqrt(3) / n)
    assert sums[near].sum() > (1 - 1e-6) * sums.sum()


def test_the_shells_carry_on_the_2d_edges_to_the_3d_corner():
    np.testing.assert_array_equal(RADIAL_EDGES_3D[: len(RADIAL_EDGES)], RADIAL_EDGES)
    width = np.diff(RADIAL_EDGES_3D)
    np.testing.assert_allclose(width, RADIAL_EDGES[1])
    assert RADIAL_EDGES_3D[-2] < 0.5 * np.sqrt(3) <= RADIAL_EDGES_3D[-1]


def test_channels_first_volume_gives_the_spectrum_of_its_mean():
    rng = np.random.default_rng(5)
    czyx = rng.random((3, 16, 32, 32))
    spec = spectra(da.from_array(czyx, chunks=(3, 8, 16, 16)), channel_axis=0)
    assert spec.shape == (16, 32, 32) and spec.chunks == ((8, 8), (16, 16), (16, 16))
    mean = czyx.mean(axis=0)
    np.testing.assert_allclose(
        spec.compute()[:8, 16:, :16], _reference_spectrum(mean[:8, 16:, :16]), atol=2e-6
    )
    last = spectra(np.moveaxis(czyx, 0, -1), channel_axis=-1).compute()
    np.testing.assert_allclose(last, spectra(mean, channel_axis=None).compute(), atol=2e-6)


def test_a_volume_with_few_planes_is_refused_until_told():
    with pytest.raises(ValueError, match=r"shape \(64, 64, 3\).*channel_axis=-1"):
        spectra(np.zeros((64, 64, 3)))
    assert spectra(np.zeros((64, 64, 3)), channel_axis=-1).shape == (64, 64)
    assert spectra(np.zeros((64, 64, 3)), channel_axis=None).shape == (64, 64, 3)
    assert spectra(np.zeros((6, 64, 64))).shape == (6, 64, 64)  # last axis long: a volume
    with pytest.raises(ValueError, match="channel_axis="):
        spectra(np.zeros((3, 8, 8, 8)))


def test_2d_results_are_unchanged_by_channel_axis():
    image = np.random.default_rng(6).random((48, 40))
    np.testing.assert_array_equal(
        spectra(image).compute(), spectra(image, channel_axis=None).compute()
    )


def test_atlas_of_a_volume_is_its_central_z_chunk_at_zero_z_frequency():
    volume = np.random.default_rng(7).random((48, 32, 64))
    spec = spectra(da.from_array(volume, chunks=(16, 32, 32)))
    atlas = spectra_atlas(spec, cell=16)
    assert atlas.shape == (16, 32) and atlas.numblocks == (1, 2)
    result = atlas.compute()
    for j in range(2):
        chunk = volume[16:32, :, 32 * j : 32 * (j + 1)]
        expected = atlas_cell(_reference_spectrum(chunk)[8].astype(np.float32), cell=16)
        np.testing.assert_allclose(result[:, 16 * j : 16 * (j + 1)], expected, atol=2e-6)


def test_the_run_s_plane_gives_the_same_atlas_tile_as_the_api():
    chunk = np.random.default_rng(8).random((20, 48, 64)).astype(np.float32)
    chunk += _wave(chunk.shape, (0, 6, 9), 48).astype(np.float32)
    plane, half, _, windows = central_plane_spectrum(chunk)
    assert plane.shape == (48, 64)
    np.testing.assert_allclose(
        log_spectrum(half, plane.shape, windows), _reference_spectrum(chunk)[10], atol=2e-6
    )
    np.testing.assert_allclose(
        atlas_from_half(half, plane.shape, windows, cell=16),
        spectra_atlas(spectra(chunk), cell=16).compute(),
        atol=2e-6,
    )


def test_a_dataarray_volume_is_told_by_its_dims_and_frames_are_refused():
    xr = pytest.importorskip("xarray")
    volume = np.random.default_rng(9).random((2, 8, 16, 16))
    array = xr.DataArray(volume, dims=("c", "z", "y", "x"))
    np.testing.assert_allclose(
        spectra(array).compute(), spectra(volume.mean(axis=0)).compute(), atol=2e-6
    )
    with pytest.raises(ValueError, match=r"time dim.*isel\(t=0\)"):
        spectra(xr.DataArray(volume, dims=("t", "z", "y", "x")))


def test_atlas_refuses_what_is_not_a_spectra_array():
    with pytest.raises(TypeError, match="`spec` must be the 2-D or 3-D dask array"):
        spectra_atlas(da.zeros((2, 4, 4, 4)))
