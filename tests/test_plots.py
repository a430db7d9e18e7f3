"""The pictures: each PNG opens, has a sensible size, and is not blank."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from reference import make_image

from daskfft.cli import main
from daskfft.kernels.spectra import radial_power


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
    assert (
        main(["run", *args, "-o", str(out), "--chunks", "256", "--cluster", "threads", "-q"]) == 0
    )
    overview = _not_blank(out / "overview.png", (800, 1200))
    assert overview.shape[:2] == (1000, 1500)
    _not_blank(out / "radial_spectrum.png", (500, 800))
    _not_blank(out / "spectra.png")


def test_no_plots_skips_them(tmp_path):
    assert (
        main(
            [
                "run",
                "--sample",
                "300",
                "-o",
                str(tmp_path / "o"),
                "--no-plots",
                "--cluster",
                "threads",
                "-q",
            ]
        )
        == 0
    )
    assert not (tmp_path / "o" / "overview.png").exists()
    assert not (tmp_path / "o" / "radial_spectrum.png").exists()
    assert iio.imread(tmp_path / "o" / "spectra.png").ndim == 2  # the plain atlas


def test_radial_power_puts_a_tone_in_its_frequency_bin():
    y, x = np.mgrid[:128, :128]
    tone = np.cos(2 * np.pi * 0.25 * x)
    sums, counts = radial_power(tone)
    from daskfft.kernels.spectra import RADIAL_EDGES

    mean = sums / np.maximum(counts, 1)
    peak = np.argmax(mean)
    assert RADIAL_EDGES[peak] <= 0.25 < RADIAL_EDGES[peak + 1]
    assert counts.sum() == 128 * 65


@pytest.mark.parametrize("shape", [(96, 80), (1, 7), (5, 1), (33, 2)])
def test_radial_power_takes_the_mean_out_without_a_second_fft(shape):
    """Against numpy: the power of (chunk - mean) x periodic Hann, in radial bins."""
    from daskfft.kernels.spectra import RADIAL_EDGES

    x = np.random.default_rng(3).random(shape) + 5.0
    sums, counts = radial_power(x)
    w0, w1 = (
        np.ones(1) if n == 1 else 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n) for n in shape
    )
    power = np.abs(np.fft.rfft2((x - x.mean()) * np.outer(w0, w1))) ** 2
    f = np.hypot(np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :])
    idx = np.clip(np.digitize(f.ravel(), RADIAL_EDGES) - 1, 0, len(RADIAL_EDGES) - 2)
    ref = np.bincount(idx, power.ravel(), len(RADIAL_EDGES) - 1) / ((w0**2).sum() * (w1**2).sum())
    np.testing.assert_allclose(sums, ref, rtol=1e-4, atol=1e-6 * ref.max())
    assert counts.sum() == power.size


def test_one_windowed_fft_per_chunk_and_none_for_a_lean_run(tmp_path, monkeypatch):
    """Summaries cost one extra FFT per chunk with pictures, and none without."""
    import daskfft.run.cells
    from daskfft.kernels.spectra import windowed_spectrum

    calls = []

    def counted(block, **kw):
        calls.append(block.shape)
        return windowed_spectrum(block, **kw)

    monkeypatch.setattr(daskfft.run.cells, "windowed_spectrum", counted)
    base = ["run", "--sample", "300", "--chunks", "100", "--cluster", "threads", "-q"]
    assert main([*base, "-o", str(tmp_path / "lean"), "--spectra", "none", "--no-plots"]) == 0
    assert calls == []
    assert sorted(p.name for p in (tmp_path / "lean").iterdir()) == [
        "filtered.png",
        "report.json",
        "sample.png",
    ]
    assert main([*base, "-o", str(tmp_path / "full"), "--spectra", "all"]) == 0
    assert len(calls) == 9  # 3 x 3 chunks: atlas, tiles, radial power and thumbnails from one


def test_atlas_picture_keeps_every_single_pixel_peak(tmp_path):
    """One screen pixel per atlas pixel: nearest-neighbour shrinking would drop peaks."""
    from scipy import ndimage

    from daskfft.run import plots

    values = np.zeros((1024, 1024), np.float32)
    values[5::37, 7::41] = 1.0  # off the chunk grid lines, 700 isolated peaks
    edges = tuple(range(0, 8193, 1024))
    plots.atlas(tmp_path / "a.png", values, edges, edges, 128, title="t")
    rgb = iio.imread(tmp_path / "a.png")[..., :3].astype(int)
    top = np.array([252, 253, 191])  # magma's brightest colour
    bright = np.abs(rgb - top).sum(axis=2) < 30
    _, found = ndimage.label(bright)
    assert found == 700 + 1  # and the top of the colour bar


def test_a_large_chunk_is_summarised_from_its_central_window(tmp_path, monkeypatch):
    """2048-px chunks: one 512^2 windowed FFT each, at the chunk's centre, and the log says so."""
    import json

    import daskfft.run.cells
    from daskfft.kernels.spectra import SUMMARY_WINDOW, windowed_spectrum

    image = make_image((2048, 2048), np.float32, seed=9)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(256, 256))
    seen = []

    def spied(block, **kw):
        seen.append(np.array(block, copy=True))
        return windowed_spectrum(block, **kw)

    monkeypatch.setattr(daskfft.run.cells, "windowed_spectrum", spied)
    assert (
        main(
            [
                "run",
                str(tmp_path / "in.tif"),
                "-o",
                str(tmp_path / "o"),
                "--chunks",
                "2048",
                "--cluster",
                "threads",
                "-q",
            ]
        )
        == 0
    )
    assert SUMMARY_WINDOW == 512 and [b.shape for b in seen] == [(512, 512)]
    np.testing.assert_array_equal(seen[0], image[768:1280, 768:1280])
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert any("central 512 px of each 2048-px chunk" in c for c in report["choices"])


@pytest.mark.parametrize("nodata", ["nan", "-9999"])
def test_pictures_leave_nodata_out(tmp_path, nodata):
    """A large hole of nodata neither blacks out the spectra nor empties the radial plot."""
    image = make_image((300, 320), np.float32, seed=6)
    image[:, :150] = np.float32(nodata)
    image[::9, :] = np.float32(nodata)  # and some in every chunk
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(64, 64))
    assert (
        main(
            [
                "run",
                str(tmp_path / "in.tif"),
                "-o",
                str(tmp_path / "o"),
                "--chunks",
                "128",
                "--nodata",
                nodata,
                "--cluster",
                "threads",
                "-q",
            ]
        )
        == 0
    )
    for name in ("spectra.png", "overview.png", "radial_spectrum.png"):
        _not_blank(tmp_path / "o" / name)
    atlas = iio.imread(tmp_path / "o" / "spectra.png")[..., :3].mean(axis=2)
    assert (atlas > 60).mean() > 0.02  # the spectra of the chunks with data are drawn
    radial = iio.imread(tmp_path / "o" / "radial_spectrum.png")[..., :3].astype(int)
    for colour in ([31, 119, 180], [255, 127, 14]):  # the input and filtered power curves
        assert (np.abs(radial - colour).sum(axis=2) < 40).sum() > 300


def test_rgb_with_holes_keeps_its_colours_in_the_overview():
    """Holes (a mask's, a nodata's) in an 8-bit RGB image are transparent, not a gray image."""
    from daskfft.run.canvas import display as _display

    rgb = np.zeros((6, 5, 3), np.float32)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 40, 90
    rgb[2:4, 1:3] = np.nan
    img, kw = _display(rgb, np.uint8)
    assert img.shape == (6, 5, 4) and img.dtype == np.uint8 and not kw
    assert (img[2:4, 1:3, 3] == 0).all() and (img[0, 0] == [200, 40, 90, 255]).all()
