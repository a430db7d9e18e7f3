"""The pictures: each PNG opens, has a sensible size, and is not blank."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from daskfft.cli import main
from daskfft.spectra import radial_power

from reference import make_image


def _not_blank(path, min_shape=(300, 400)):
    image = iio.imread(path)
    assert image.shape[0] >= min_shape[0] and image.shape[1] >= min_shape[1], image.shape
    gray = image[..., :3].mean(axis=2) if image.ndim == 3 else image
    assert gray.std() > 10  # white pages and flat fills are blank
    assert len(np.unique(image.reshape(-1, image.shape[-1]) if image.ndim == 3 else image)) > 50
    return image


@pytest.mark.parametrize("source", ["sample", "float-tiff"])
def test_run_writes_overview_radial_spectrum_and_labelled_atlas(tmp_path, source):
    if source == "sample":
        args = ["--sample", "700"]
    else:
        tifffile.imwrite(tmp_path / "in.tif", make_image((500, 640), np.float32))
        args = [str(tmp_path / "in.tif")]
    out = tmp_path / "o"
    assert main(["run", *args, "-o", str(out), "--chunks", "256", "--cluster", "threads",
                 "-q"]) == 0
    overview = _not_blank(out / "overview.png", (800, 1200))
    assert overview.shape[:2] == (1000, 1500)
    _not_blank(out / "radial_spectrum.png", (500, 800))
    _not_blank(out / "spectra.png")


def test_no_plots_skips_them(tmp_path):
    assert main(["run", "--sample", "300", "-o", str(tmp_path / "o"), "--no-plots",
                 "--cluster", "threads", "-q"]) == 0
    assert not (tmp_path / "o" / "overview.png").exists()
    assert not (tmp_path / "o" / "radial_spectrum.png").exists()
    assert iio.imread(tmp_path / "o" / "spectra.png").ndim == 2  # the plain atlas


def test_radial_power_puts_a_tone_in_its_frequency_bin():
    y, x = np.mgrid[:128, :128]
    tone = np.cos(2 * np.pi * 0.25 * x)
    sums, counts = radial_power(tone)
    from daskfft.spectra import RADIAL_EDGES

    mean = sums / np.maximum(counts, 1)
    peak = np.argmax(mean)
    assert RADIAL_EDGES[peak] <= 0.25 < RADIAL_EDGES[peak + 1]
    assert counts.sum() == 128 * 65
