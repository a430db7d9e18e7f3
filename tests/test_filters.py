import math
import warnings

import numpy as np
import pytest
from reference import transfer

import daskfft
from daskfft import DEPTH_CAP, HaloWarning, cutoff_from_sigma, expected_deviation, halo_depth
from daskfft.kernels.transfer import transfer_function


@pytest.mark.parametrize("filter", ["gaussian", "butterworth", "ideal"])
@pytest.mark.parametrize("shape", [(8, 8), (9, 14), (1, 5), (33, 1)])
def test_transfer_function_matches_textbook_formula(filter, shape):
    h = transfer_function(shape, 0.2, filter, 3)
    full = transfer(shape, 0.2, filter, 3)
    np.testing.assert_allclose(h, full[:, : shape[1] // 2 + 1], rtol=1e-12, atol=1e-15)
    assert h[0, 0] == 1.0
    assert not h.flags.writeable


def test_transfer_function_float32_stays_float32():
    assert transfer_function((16, 16), 0.1, "gaussian", 4, np.float32).dtype == np.float32


def test_cutoff_from_sigma_is_the_fourier_pair():
    assert cutoff_from_sigma(4.0) == pytest.approx(1 / (8 * math.pi))


@pytest.mark.parametrize(
    ("sigma", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (float("nan"), ValueError),
        (0.2, ValueError),
        ("3", TypeError),
    ],
)
def test_cutoff_from_sigma_rejects(sigma, error):
    with pytest.raises(error, match="sigma"):
        cutoff_from_sigma(sigma)


def _kernel_tail(cutoff, filter, order, depth, size=2048):
    """L1 mass of the spatial kernel outside the square of half-width depth, by numpy alone."""
    h = np.fft.fftshift(np.fft.ifft2(transfer((size, size), cutoff, filter, order)).real)
    c = size // 2
    inside = np.abs(h[c - depth : c + depth + 1, c - depth : c + depth + 1]).sum()
    return np.abs(h).sum() - inside


@pytest.mark.parametrize(
    ("cutoff", "filter", "order"),
    [
        (0.05, "gaussian", 4),
        (0.01, "gaussian", 4),
        (0.05, "butterworth", 2),
        (0.1, "butterworth", 4),
    ],
)
def test_halo_depth_is_the_smallest_that_meets_tol(cutoff, filter, order):
    tol = 1e-6
    d = halo_depth(cutoff, filter=filter, order=order, tol=tol)
    assert _kernel_tail(cutoff, filter, order, d) <= tol * 1.02
    assert _kernel_tail(cutoff, filter, order, d - 1) > tol * 0.98


@pytest.mark.parametrize("sigma", [0.35, 0.5, 1.0, 1.2, 2.0, 3.0])
def test_small_sigma_halo_comes_from_the_sampled_gaussian(sigma):
    # The kernel applied is the Gaussian sampled at whole pixels; its 2-D mass
    # outside the square of half-width d, summed here directly.
    n = np.arange(-200, 201)
    g = np.exp(-(n**2) / (2 * sigma**2))
    g /= g.sum()
    kernel = np.outer(g, g)
    tail = [kernel.sum() - kernel[200 - d : 201 + d, 200 - d : 201 + d].sum() for d in range(40)]
    expected = next(d for d, t in enumerate(tail) if t <= 1e-6)
    assert halo_depth(cutoff_from_sigma(sigma)) == expected
    assert expected <= 6 * sigma + 1  # where the Nyquist kink used to cost 1024 px at sigma 1


def test_halo_depth_grows_as_cutoff_falls_and_tol_tightens():
    assert halo_depth(0.02) > halo_depth(0.05) > halo_depth(0.1, tol=1e-3)
    assert halo_depth(0.05, tol=1e-9) > halo_depth(0.05, tol=1e-4)


def test_gaussian_halo_is_about_five_sigma():
    sigma = 20.0
    assert 4.5 * sigma < halo_depth(cutoff_from_sigma(sigma)) < 5.5 * sigma


@pytest.mark.parametrize(
    ("cutoff", "filter"),
    [(0.1, "ideal"), (0.4, "ideal"), (0.002, "butterworth"), (0.0004, "gaussian")],
)
def test_halo_depth_warns_and_caps(cutoff, filter):
    with pytest.warns(HaloWarning, match="cap") as record:
        d = halo_depth(cutoff, filter=filter)
    assert d == DEPTH_CAP
    w = record[0].message
    assert w.depth == DEPTH_CAP
    assert w.deviation == pytest.approx(expected_deviation(cutoff, DEPTH_CAP, filter=filter))
    assert w.deviation > 2e-6
    assert issubclass(daskfft.HaloWarning, UserWarning)


def test_no_warning_when_the_rule_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        halo_depth(0.05, filter="butterworth")


def test_expected_deviation_falls_with_depth():
    devs = [expected_deviation(0.05, d, filter="butterworth") for d in (0, 20, 60, 200)]
    assert devs == sorted(devs, reverse=True)
    assert devs[0] > 1.0 and devs[-1] < 1e-9


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cutoff": 0}, ValueError, r"`cutoff` must be in \(0, 0.5\] cycles/pixel, got 0.0"),
        ({"cutoff": -0.1}, ValueError, "cutoff"),
        ({"cutoff": 0.7}, ValueError, "got 0.7"),
        ({"cutoff": float("nan")}, ValueError, "got nan"),
        ({"cutoff": "0.1"}, TypeError, "cutoff"),
        ({"filter": "box"}, ValueError, "`filter` must be one of"),
        ({"order": 0}, ValueError, "`order` must be an integer >= 1"),
        ({"order": 2.5}, ValueError, "order"),
        ({"tol": 0}, ValueError, "`tol`"),
        ({"tol": 0.9}, ValueError, "`tol`"),
    ],
)
def test_halo_depth_rejects(kwargs, error, match):
    args = {"cutoff": 0.1} | kwargs
    cutoff = args.pop("cutoff")
    with pytest.raises(error, match=match):
        halo_depth(cutoff, **args)
