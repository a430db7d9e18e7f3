"""Registration against scikit-image's phase_cross_correlation on the same pairs."""

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage
from skimage import data
from skimage.registration import phase_cross_correlation

from daskfft import register

# (dy, dx) moves of the photograph: sub-pixel, both signs, near zero, beyond ten pixels
SHIFTS = [(3.25, -1.5), (-7.4, 2.63), (0.3, 0.7), (12.81, -9.17), (-0.55, 5.05)]


def _pair(shift, noise, seed):
    """scikit-image's camera photograph and a copy moved by ``shift`` (cubic spline, edges
    reflected, so nothing is periodic), each with its own Gaussian noise of ``noise`` levels."""
    rng = np.random.default_rng(seed)
    camera = data.camera().astype(np.float64)
    moving = ndimage.shift(camera, shift, mode="reflect") + rng.normal(0, noise, camera.shape)
    return camera + rng.normal(0, noise, camera.shape), moving


@pytest.mark.parametrize("noise", [2.0, 8.0])
@pytest.mark.parametrize("shift", SHIFTS)
def test_sub_pixel_shift_of_a_photograph_with_noise(shift, noise):
    reference, moving = _pair(shift, noise, seed=int(10 * abs(shift[0])))
    ours = register(reference, moving)
    theirs = phase_cross_correlation(reference, moving, upsample_factor=100)[0]
    truth = -np.asarray(shift)  # the shift that moves `moving` back onto `reference`
    ours_error = np.abs(np.asarray(ours.shift) - truth).max()
    theirs_error = np.abs(np.asarray(theirs) - truth).max()
    print(
        f"shift {shift}, noise {noise}: daskfft {ours_error:.3f} px, "
        f"scikit-image {theirs_error:.3f} px"
    )
    assert ours_error <= 0.05
    assert ours_error <= theirs_error + 1e-9
    assert ours.confidence > 0.3


def test_same_sign_convention_as_scikit_image_and_whole_pixels_exact():
    rng = np.random.default_rng(3)
    image = ndimage.gaussian_filter(rng.random((96, 80)), 1.5)
    moving = np.roll(image, (5, -9), axis=(0, 1))  # periodic: the answer is exact
    ours = register(image, moving, taper=0, weight_cutoff=None)
    theirs = phase_cross_correlation(image, moving, upsample_factor=100)[0]
    assert ours.shift == (-5.0, 9.0) and tuple(theirs) == (-5.0, 9.0)
    assert ours.confidence > 0.99


def test_confidence_tells_a_match_from_unrelated_images():
    reference, moving = _pair((2.5, -1.25), 4.0, seed=1)
    rng = np.random.default_rng(2)
    unrelated = ndimage.gaussian_filter(rng.random(reference.shape), 2) * 255
    assert register(reference, moving).confidence > 0.5
    assert register(reference, unrelated).confidence < 0.1


def test_dask_and_channels_last_inputs():
    reference, moving = _pair((1.5, 2.25), 2.0, seed=4)
    rgb = np.stack([moving, moving * 0.5, moving * 0.25], axis=-1)
    ref_rgb = np.stack([reference] * 3, axis=-1)
    got = register(
        da.from_array(ref_rgb, chunks=128), da.from_array(rgb, chunks=128), channel_axis=-1
    )
    assert np.allclose(got.shift, (-1.5, -2.25), atol=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"upsample": 0}, "`upsample` must be an integer >= 1"),
        ({"upsample": 2.5}, "`upsample` must be an integer >= 1"),
        ({"taper": 1.5}, r"`taper` must be in \[0, 1\]"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        register(np.zeros((8, 8)), np.zeros((8, 8)), **kwargs)


def test_different_shapes_are_refused():
    with pytest.raises(ValueError, match=r"differ in shape: \(8, 8\) and \(8, 9\)"):
        register(np.zeros((8, 8)), np.zeros((8, 9)))


# --- the shift field ----------------------------------------------------------------------


def _warped(amplitude, noise=4.0, seed=0):
    """A 1024^2 scene (the photograph mirrored into a 2 x 2 mosaic) and a copy warped by a
    smooth displacement field: moving(p) = scene(p + d(p)), each with its own noise."""
    rng = np.random.default_rng(seed)
    camera = data.camera().astype(np.float64)
    scene = np.block([[camera, camera[:, ::-1]], [camera[::-1], camera[::-1, ::-1]]])
    n = scene.shape[0]
    rows, cols = np.mgrid[:n, :n].astype(np.float64)
    dy = 2.0 + amplitude * np.sin(2 * np.pi * rows / n) * np.cos(np.pi * cols / n)
    dx = -1.0 + amplitude * np.cos(2 * np.pi * cols / n + 0.5)
    moving = ndimage.map_coordinates(scene, [rows + dy, cols + dx], order=3, mode="reflect")
    return (
        scene + rng.normal(0, noise, scene.shape),
        moving + rng.normal(0, noise, scene.shape),
        dy,
        dx,
    )


@pytest.mark.parametrize("amplitude", [0.5, 0.75])
def test_shift_field_of_a_smooth_warp(amplitude):
    from daskfft import shift_field

    reference, moving, dy, dx = _warped(amplitude)
    window = 128
    field = shift_field(
        da.from_array(reference, chunks=512), da.from_array(moving, chunks=512), window=window
    )
    assert isinstance(field.data, da.Array) and field.data.shape == (8, 8, 3)
    assert field.data.numblocks[:2] == (8, 8)  # one task per window: memory per window
    field = field.compute()
    assert np.allclose(field.rows, np.arange(8) * window + window / 2)

    def mean_over_windows(a):  # what a window's shift measures: the warp's mean over it
        return a.reshape(8, window, 8, window).mean(axis=(1, 3))

    truth_y, truth_x = mean_over_windows(dy), mean_over_windows(dx)
    ours = np.hypot(field.dy - truth_y, field.dx - truth_x)
    theirs = np.zeros_like(ours)
    for i in range(8):
        for j in range(8):
            box = (slice(i * window, (i + 1) * window), slice(j * window, (j + 1) * window))
            found = phase_cross_correlation(reference[box], moving[box], upsample_factor=20)[0]
            theirs[i, j] = np.hypot(found[0] - truth_y[i, j], found[1] - truth_x[i, j])
    reliable = field.reliable
    rms = np.sqrt(np.mean(ours[reliable] ** 2))
    rms_theirs = np.sqrt(np.mean(theirs[reliable] ** 2))
    print(
        f"warp {amplitude} px: {reliable.sum()} of 64 windows reliable, RMS {rms:.3f} px "
        f"(scikit-image on the same windows {rms_theirs:.3f} px)"
    )
    assert reliable.mean() >= 0.6
    assert rms <= 0.1 and rms <= rms_theirs
    assert np.nanmax(ours[~reliable]) > 0.3  # what is left out was worth leaving out


def test_shift_field_marks_a_flat_window_unreliable_and_small_edges_nan():
    from daskfft import shift_field

    reference, moving, _, _ = _warped(0.5)
    reference, moving = reference[:600, :600].copy(), moving[:600, :600].copy()
    reference[:128, 128:256] = 100.0  # featureless: nothing to correlate
    moving[:128, 128:256] = 100.0
    field = shift_field(reference, moving, window=128).compute()
    assert field.data.shape == (5, 5, 3)  # 600 = 4 x 128 + 88
    assert np.isnan(field.data[0, 1]).all() and not field.reliable[0, 1]
    assert field.reliable[1:4, 1:4].all()
    with pytest.raises(ValueError, match="`window` must be an integer >= 16"):
        shift_field(reference, moving, window=8)


def test_shift_field_values_are_computed_once_however_often_they_are_read(monkeypatch):
    """.dy, .dx, .confidence and .reliable share one computation of the lazy field."""
    import sys

    import dask

    from daskfft import shift_field

    module = sys.modules["daskfft.api.register"]  # the module, whose register() shift_field calls
    calls, original = [], module.register

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    reference, moving = _pair((1.5, -2.25), 2.0, seed=3)
    field = shift_field(reference[:256, :256], moving[:256, :256], window=128)
    monkeypatch.setattr(module, "register", counting)
    with dask.config.set(scheduler="synchronous"):
        first = [field.dy.copy(), field.dx.copy(), field.confidence.copy(), field.reliable]
        for _ in range(3):
            again = [field.dy, field.dx, field.confidence, field.reliable]
    assert len(calls) == 4  # one registration per window, 2 x 2 windows, once in all
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert np.allclose(field.dy[field.reliable], -1.5, atol=0.1)
    assert np.allclose(field.dx[field.reliable], 2.25, atol=0.1)
    with pytest.raises(ValueError, match="read-only"):
        field.dy[0, 0] = 0.0  # the cache cannot be changed through a view
    np.testing.assert_array_equal(field.compute().data, field.values)
    assert len(calls) == 4


# --- rotation and scale (Fourier-Mellin) --------------------------------------------------


def _skimage_fourier_mellin(reference, moving, upsample=100):
    """scikit-image's gallery recipe ("Using Polar and Log-Polar Transformations for
    Registration"): band-pass, Hann window, FFT magnitude, log-polar warp_polar, then
    phase_cross_correlation.  Returns the (degrees, scale) that turn reference into moving."""
    from skimage.filters import difference_of_gaussians, window
    from skimage.transform import warp_polar

    images = [
        difference_of_gaussians(x, 5, None) * window("hann", x.shape) for x in (reference, moving)
    ]
    spectra = [np.abs(np.fft.fftshift(np.fft.fft2(x))) for x in images]
    shape = spectra[0].shape
    radius = shape[0] // 8
    warped = [
        warp_polar(s, radius=radius, output_shape=shape, scaling="log", order=0)[: shape[0] // 2]
        for s in spectra
    ]
    shifts = phase_cross_correlation(
        warped[0], warped[1], upsample_factor=upsample, normalization=None
    )[0]
    return (360 / shape[0]) * shifts[0], np.exp(shifts[1] / (shape[1] / np.log(radius)))


@pytest.mark.parametrize(
    ("degrees", "zoom"),
    [(10.3, 1.0), (-23.7, 1.0), (5.0, 1.05), (0.0, 0.93), (37.25, 1.12), (170.0, 1.0)],
)
def test_rotation_and_scale_of_a_photograph_with_noise(degrees, zoom):
    rng = np.random.default_rng(int(abs(degrees) * 10))
    camera = data.camera().astype(np.float64)
    centre = (np.array(camera.shape) - 1) / 2
    moving = ndimage.rotate(camera, degrees, reshape=False, order=3, mode="reflect")
    moving = ndimage.affine_transform(
        moving, np.eye(2) / zoom, offset=centre * (1 - 1 / zoom), order=3, mode="reflect"
    )
    moving = ndimage.shift(moving, (2.5, -4.25), mode="reflect")
    reference = camera + rng.normal(0, 4, camera.shape)
    moving = moving + rng.normal(0, 4, camera.shape)
    found = register(reference, moving, rotation=True, scale=True)
    # What registers moving: the opposite turn, the inverse zoom, then the shift (which the
    # turn and zoom carry: in the turned-back frame it is the rotated, unzoomed translation).
    rotation_error = abs(found.rotation + degrees)
    scale_error = abs(found.scale * zoom - 1)
    turn = np.deg2rad(degrees)
    back = np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])  # (row, col)
    shift = -(back @ np.array([2.5, -4.25])) / zoom
    theirs_degrees, theirs_zoom = _skimage_fourier_mellin(reference, moving)
    theirs_rotation_error = min(abs(theirs_degrees - degrees + k) for k in (-360, -180, 0, 180))
    theirs_scale_error = abs(theirs_zoom / zoom - 1)
    print(
        f"turn {degrees} deg, zoom {zoom}: daskfft {rotation_error:.4f} deg, "
        f"{100 * scale_error:.3f} %; scikit-image recipe {theirs_rotation_error:.4f} deg, "
        f"{100 * theirs_scale_error:.3f} %"
    )
    assert rotation_error <= 0.05 and scale_error <= 0.001
    assert rotation_error <= theirs_rotation_error and scale_error <= theirs_scale_error
    assert np.abs(np.asarray(found.shift) - shift).max() <= 0.1
    assert found.confidence > 0.5


def test_rotation_and_scale_only_when_asked():
    reference, moving = _pair((1.5, -2.0), 2.0, seed=5)
    plain = register(reference, moving)
    assert plain.rotation is None and plain.scale is None
    turned = register(reference, moving, rotation=True)
    assert abs(turned.rotation) < 0.05 and turned.scale is None
    assert np.allclose(turned.shift, plain.shift, atol=0.05)
