"""Registration of volumes (z, y, x) against scikit-image's phase_cross_correlation, and
how register and shift_field tell space from channels (channel_axis, the filters' rule)."""

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from daskfft import register, shift_field

SHIFT = np.array((1.3, -2.6, 0.45))  # (dz, dy, dx) voxels: sub-voxel, both signs
TRUTH = -SHIFT  # the shift that moves `moving` back onto `reference` (scikit-image's sign)


def _volume(shape=(48, 64, 64), sigma=1.0, seed=0):
    """Smooth random noise with nothing at the Nyquist frequency of any axis, so a Fourier
    shift of it is an exact sub-voxel shift (a real array cannot hold a shifted Nyquist)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fftn(ndimage.gaussian_filter(rng.random(shape), sigma))
    for axis, n in enumerate(shape):
        if n % 2 == 0:
            spectrum[(slice(None),) * axis + (n // 2,)] = 0
    return np.fft.ifftn(spectrum).real


def _fourier_shifted(volume, shift):
    return np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(volume), shift)).real


def _errors(found, theirs):
    return np.abs(np.asarray(found) - TRUTH).max(), np.abs(np.asarray(found) - theirs).max()


@pytest.mark.parametrize("seed", [0, 1])
def test_sub_voxel_shift_as_scikit_image_finds_it(seed):
    reference = _volume(seed=seed)
    moving = _fourier_shifted(reference, SHIFT)  # periodic: fair to plain phase correlation
    ours = register(reference, moving)
    theirs = phase_cross_correlation(reference, moving, upsample_factor=100)[0]
    to_truth, to_theirs = _errors(ours.shift, theirs)
    theirs_to_truth = np.abs(theirs - TRUTH).max()
    print(
        f"volume, seed {seed}: daskfft {ours.shift} (to truth {to_truth:.3f}, to scikit-image "
        f"{to_theirs:.3f}); scikit-image {tuple(theirs.tolist())} (to truth {theirs_to_truth:.3f})"
    )
    assert len(ours.shift) == 3 and all(isinstance(s, float) for s in ours.shift)
    assert to_truth <= 0.05 and to_theirs <= 0.05
    assert ours.confidence > 0.8
    plain = register(reference, moving, taper=0, weight_cutoff=None)  # scikit-image's method
    assert np.abs(np.asarray(plain.shift) - theirs).max() <= 0.011


def test_sub_voxel_shift_of_a_volume_with_reflected_edges_and_noise():
    """A spline shift with edges reflected (nothing periodic) and noise: the taper and the
    weight keep the answer where plain phase correlation (scikit-image's) loses it."""
    rng = np.random.default_rng(5)
    reference = _volume(seed=2)
    moving = ndimage.shift(reference, SHIFT, mode="reflect")
    noise = 0.02 * reference.std()
    reference = reference + rng.normal(0, noise, reference.shape)
    moving = moving + rng.normal(0, noise, moving.shape)
    ours = register(reference, moving)
    theirs = phase_cross_correlation(reference, moving, upsample_factor=100)[0]
    to_truth, _ = _errors(ours.shift, theirs)
    print(
        f"reflected edges: daskfft {to_truth:.3f} voxel from the truth, "
        f"scikit-image {np.abs(theirs - TRUTH).max():.3f}"
    )
    assert to_truth <= 0.05 and ours.confidence > 0.5


def test_whole_voxels_exact_and_unrelated_volumes_not_confident():
    reference = _volume(seed=3)
    moving = np.roll(reference, (3, -5, 7), axis=(0, 1, 2))
    found = register(reference, moving, taper=0, weight_cutoff=None)
    assert found.shift == (-3.0, 5.0, -7.0) and found.confidence > 0.99
    assert register(reference, _volume(seed=4)).confidence < 0.1


def test_channels_on_axis_0_are_averaged_and_dask_is_taken():
    reference = _volume(seed=0)
    moving = _fourier_shifted(reference, SHIFT)
    gray = register(reference, moving)
    ref_c = np.stack([reference, reference])  # (c, z, y, x)
    mov_c = np.stack([moving * 0.5, moving * 1.5])  # mean: `moving`
    got = register(da.from_array(ref_c, chunks=16), mov_c, channel_axis=0)
    assert np.allclose(got.shift, gray.shift, atol=1e-9)
    last = register(np.moveaxis(ref_c, 0, -1), np.moveaxis(mov_c, 0, -1), channel_axis=-1)
    assert np.allclose(last.shift, gray.shift, atol=1e-9)
    # channel_axis=None: a 3-D array with a short last axis is a volume, as told
    thin = register(reference[..., :4], moving[..., :4], channel_axis=None)
    assert len(thin.shift) == 3


def test_an_image_with_channels_first_is_the_image_with_channels_last():
    rng = np.random.default_rng(6)
    image = ndimage.gaussian_filter(rng.random((96, 80)), 1.5)
    moving = ndimage.shift(image, (2.25, -1.5), mode="reflect")
    rgb = np.stack([image] * 3), np.stack([moving, moving, moving])  # (c, y, x)
    first = register(*rgb, channel_axis=0)
    last = register(*(np.moveaxis(x, 0, -1) for x in rgb), channel_axis=-1)
    gray = register(image, moving)  # the mean of three copies is the image to rounding
    assert first.shift == last.shift == gray.shift
    assert first.confidence == pytest.approx(gray.confidence, abs=1e-12)


@pytest.mark.parametrize(
    ("shape", "kwargs", "match"),
    [
        ((16, 16, 3), {}, r"`image` has shape \(16, 16, 3\): is its last axis colour channels"),
        ((2, 16, 16, 16), {}, r"has shape \(2, 16, 16, 16\), four axes: pass channel_axis="),
        ((16, 16, 16), {"rotation": True}, r"`rotation` must be False for a volume .*"),
        ((16, 16, 16), {"scale": True}, r"`scale` must be False for a volume .*"),
        ((2, 2, 16, 16, 16), {"channel_axis": 0}, r"`reference` must be 2-D \(rows, cols\)"),
        ((2, 16, 16), {"channel_axis": 0, "rotation": True, "scale": True}, None),
    ],
)
def test_refusals_are_one_line_each(shape, kwargs, match):
    zeros = np.zeros(shape)
    if match is None:  # an image with channels first may be turned: it is an image
        assert register(zeros, zeros, **kwargs).rotation is not None
        return
    with pytest.raises(ValueError, match=match) as info:
        register(zeros, zeros, **kwargs)
    assert "\n" not in str(info.value)


def test_shift_field_ambiguous_and_four_d_are_refused_too():
    with pytest.raises(ValueError, match="pass channel_axis=-1 for channels"):
        shift_field(np.zeros((64, 64, 3)), np.zeros((64, 64, 3)))
    with pytest.raises(ValueError, match="four axes"):
        shift_field(np.zeros((2, 32, 32, 32)), np.zeros((2, 32, 32, 32)))


# --- the shift field of a volume ----------------------------------------------------------


def test_shift_field_of_a_volume_with_a_constant_shift():
    """z (48) is shorter than the window (64): the window spans it, one window deep."""
    reference = _volume((48, 128, 128), seed=7)
    moving = ndimage.shift(reference, SHIFT, mode="reflect")
    field = shift_field(
        da.from_array(reference, chunks=32), da.from_array(moving, chunks=32), window=64
    )
    assert isinstance(field.data, da.Array) and field.data.shape == (1, 2, 2, 4)
    assert field.data.numblocks[:3] == (1, 2, 2)  # one task per window
    field = field.compute()
    assert np.allclose(field.planes, [24]) and np.allclose(field.rows, [32, 96])
    assert np.allclose(field.cols, [32, 96]) and field.window == 64
    found = np.stack([field.dz, field.dy, field.dx], axis=-1)
    error = np.abs(found - TRUTH).max()
    print(f"volume shift field, 2 x 2 windows: worst error {error:.3f} voxel")
    assert error <= 0.1 and field.reliable.all()
    assert np.array_equal(field.confidence, field.data[..., 3])


def test_shift_field_of_a_volume_thin_in_z_and_with_channels():
    """An axis thinner than a quarter of the window is measured whole, not NaN; channels
    (here last) are averaged as register averages them."""
    reference = _volume((10, 64, 64), seed=8)
    moving = _fourier_shifted(reference, SHIFT)
    field = shift_field(reference, moving, window=32).compute()
    assert field.data.shape == (1, 2, 2, 4) and np.isfinite(field.data).all()
    assert np.allclose(field.dy, TRUTH[1], atol=0.2) and np.allclose(field.dx, TRUTH[2], atol=0.2)
    stacked = shift_field(
        np.stack([reference] * 2, axis=-1),
        np.stack([moving * 0.5, moving * 1.5], axis=-1),
        window=32,
        channel_axis=-1,
    ).compute()
    np.testing.assert_allclose(stacked.data, field.data, atol=1e-9)


def test_an_image_field_has_no_dz_and_keeps_its_layout():
    rng = np.random.default_rng(9)
    image = ndimage.gaussian_filter(rng.random((64, 64)), 1.5)
    field = shift_field(image, np.roll(image, 2, axis=0), window=32).compute()
    assert field.data.shape == (2, 2, 3) and field.planes is None
    assert not hasattr(field, "dz")
    with pytest.raises(AttributeError, match="a 2-D shift field has no `dz`"):
        field.dz  # noqa: B018
