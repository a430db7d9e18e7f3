import numpy as np
import pytest

from daskfft.sample import sample_image


def test_sample_is_deterministic_and_independent_of_chunking():
    a = sample_image(500, chunks=500).compute()
    b = sample_image(500, chunks=97).compute()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (500, 500, 3) and a.dtype == np.uint8


def test_sample_has_streets_parks_and_a_zone_plate():
    image = sample_image(1024, chunks=512).compute().astype(int)
    assert (image == (88, 88, 94)).all(axis=2).mean() > 0.1  # streets
    green = (image[..., 1] > image[..., 0] + 20) & (image[..., 1] > image[..., 2] + 20)
    assert green.mean() > 0.05  # parks
    plate = image[:256, :256, 0]
    assert (image[:256, :256, 0] == image[:256, :256, 1]).all()  # gray chirp
    # the chirp's local frequency reaches Nyquist: neighbours alternate at its far edge
    assert np.abs(np.diff(plate[250, 200:256].astype(float))).mean() > 100


def test_larger_sample_extends_the_smaller_one_outside_the_plate():
    small = sample_image(300).compute()
    large = sample_image(600)[:300, :300].compute()
    np.testing.assert_array_equal(small[150:], large[150:])


@pytest.mark.parametrize("size", [0, -5, 2.5])
def test_bad_size(size):
    with pytest.raises(ValueError, match="`size`"):
        sample_image(size)
