"""Where no bound exists (the ideal filter), the tool says so and measures the deviation.

The ideal filter's kernel is not absolutely summable, so the L1 mass outside a halo, the
bound the Gaussian and Butterworth filters get, is infinite: a finite grid's figure (20.4 at
cutoff 0.05) meant nothing.  By default a few chunks are measured, corners first, against the
same filter with a wider halo; ``--measure-deviation`` measures every chunk.
"""

import json
import math
import warnings

import dask.array as da
import numpy as np
import pytest
import tifffile
from reference import make_image

from daskfft import HaloWarning, expected_deviation, halo_depth, lowpass
from daskfft.cli import main
from daskfft.run.config import RunConfig
from daskfft.run.plan import make_plan


@pytest.mark.parametrize("depth", [0, 8, 1024, 4096])
def test_the_ideal_filter_has_no_bound(depth):
    assert expected_deviation(0.05, depth, filter="ideal") == math.inf


@pytest.mark.parametrize("filter", ["gaussian", "butterworth"])
def test_the_smooth_filters_keep_a_finite_bound(filter):
    near, far = (expected_deviation(0.05, d, filter=filter) for d in (4, 64))
    assert math.isfinite(near) and 0 < far < near


def test_the_ideal_filters_halo_warning_says_there_is_no_bound():
    with pytest.warns(HaloWarning, match="not absolutely summable, so no halo bounds") as w:
        assert halo_depth(0.05, filter="ideal") == 1024
    assert "up to" not in str(w[0].message) and w[0].message.deviation == math.inf


def _image(tmp_path):
    image = make_image((288, 240), np.float32, seed=4)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(16, 16))
    return image


def test_an_ideal_run_says_no_bound_and_measures_a_few_chunks_corners_first(tmp_path, capsys):
    image = _image(tmp_path)
    rc = main(
        [
            "run",
            str(tmp_path / "in.tif"),
            "-o",
            str(tmp_path / "o"),
            "--filter",
            "ideal",
            "--cutoff",
            "0.15",
            "--depth",
            "8",
            "--chunks",
            "96",
            "--co",
            "BLOCKSIZE=96",
            "--no-plots",
            "--cluster",
            "threads",
        ]
    )  # 96-px tiles given: chunks stay 96
    out, err = capsys.readouterr()
    assert rc == 0
    halo = json.loads((tmp_path / "o" / "report.json").read_text())["halo"]
    assert halo["expected_max_deviation"] is None
    assert "no bound exists" in halo["expected_max_deviation_note"]
    measured = halo["measured_deviation"]
    # 3 x 3 chunks: a quarter of them, two, the far corners first.
    assert measured["method"] == "sampled" and measured["chunks"] == [[0, 0], [2, 2]]
    # Against the same filter with a 16-px halo (8 and half again, at least 16), on the whole
    # image by dask's map_overlap: not the windows the measurement cuts.
    got = tifffile.imread(tmp_path / "o" / "filtered.tif").astype(np.float64)
    wider = lowpass(
        da.from_array(image.astype(np.float64), chunks=96), 0.15, filter="ideal", depth=16
    ).compute()
    true = (
        max(
            np.abs(
                got[r * 96 : r * 96 + 96, c * 96 : c * 96 + 96]
                - wider[r * 96 : r * 96 + 96, c * 96 : c * 96 + 96]
            ).max()
            for r, c in measured["chunks"]
        )
        / np.abs(image).max()
    )
    assert measured["max_relative"] == pytest.approx(true, rel=1e-3)
    assert measured["max_relative"] > 1e-3  # an 8-px halo on the ideal filter is visibly off
    assert "16 px halo" in measured["reference"]
    assert "no bound on the deviation from a whole-image filter" in err  # the log
    assert "expected max deviation" not in err
    assert (
        f"no bound on the deviation from a whole-image filter (the ideal filter's kernel "
        f"is not absolutely summable): measured {measured['max_relative']:.2g} x "
        "max|image| on 2 chunks"
    ) in out  # the printed summary


def test_measure_deviation_measures_every_chunk_of_an_ideal_run(tmp_path, capsys):
    _image(tmp_path)
    assert (
        main(
            [
                "run",
                str(tmp_path / "in.tif"),
                "-o",
                str(tmp_path / "o"),
                "--filter",
                "ideal",
                "--cutoff",
                "0.15",
                "--depth",
                "8",
                "--chunks",
                "96",
                "--no-plots",
                "--cluster",
                "threads",
                "--measure-deviation",
            ]
        )
        == 0
    )
    halo = json.loads((tmp_path / "o" / "report.json").read_text())["halo"]
    assert halo["measured_deviation"]["method"] == "exact"
    assert halo["measured_deviation"]["chunks"] == "all"
    assert "on every chunk against the exact whole-image filter" in capsys.readouterr().out


@pytest.mark.parametrize("filter", ["gaussian", "butterworth"])
def test_a_filter_with_a_bound_measures_nothing_by_default(tmp_path, filter):
    """The default run of a filter with a real bound costs what it did: no measurement."""
    _image(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = make_plan(
            RunConfig.create(
                str(tmp_path / "in.tif"),
                str(tmp_path / "o"),
                cutoff=0.05,
                filter=filter,
                cluster="threads",
            )
        )
    assert plan.measure is None and math.isfinite(plan.halo.deviation)
    assert (
        main(
            [
                "run",
                str(tmp_path / "in.tif"),
                "-o",
                str(tmp_path / "o"),
                "--filter",
                filter,
                "--cutoff",
                "0.05",
                "--no-plots",
                "--cluster",
                "threads",
                "-q",
            ]
        )
        == 0
    )
    halo = json.loads((tmp_path / "o" / "report.json").read_text())["halo"]
    assert halo["measured_deviation"] is None and halo["expected_max_deviation"] < 2e-6


@pytest.mark.parametrize(
    ("cutoff", "filter", "order", "size"),
    [(0.05, "butterworth", 4, 1024), (0.2, "butterworth", 2, 256), (0.02, "ideal", 4, 512)],
)
def test_a_radial_kernels_tail_from_its_quadrant_is_the_whole_grids(cutoff, filter, order, size):
    """The kernel's mass outside each square ring, from the DCT-I of H's quadrant, is what
    the whole grid's inverse FFT gives (NumPy's, float64), ring by ring."""
    from daskfft.kernels.halo import _tail_profile
    from daskfft.kernels.transfer import transfer_grid

    h = transfer_grid(np.fft.fftfreq(size), np.fft.rfftfreq(size), cutoff, filter, order)
    kernel = np.abs(np.fft.irfft2(h, s=(size, size)))
    far = np.abs(np.fft.fftfreq(size, 1.0 / size)).astype(int)
    ring = np.maximum(far[:, None], far[None, :])
    want = np.array([kernel[ring > d].sum() for d in range(size // 2 + 1)])
    got = _tail_profile.__wrapped__(cutoff, filter, order, size)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-13 * kernel.sum()
