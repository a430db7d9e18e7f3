"""The exact whole-image method: equal to NumPy's whole-image FFT filter of the padded image."""

import json
import warnings

import dask.array as da
import numpy as np
import pytest
import tifffile
from reference import channels, make_image, reference_lowpass
from scipy import ndimage

from daskfft import HaloWarning, lowpass
from daskfft.api.exact import exact_padding
from daskfft.cli import main

CASES = [  # shape, chunks, filter, boundary
    ((200, 170), (64, 50), "gaussian", "reflect"),
    ((200, 170), (64, 50), "butterworth", "nearest"),
    ((200, 170), (64, 50), "ideal", "periodic"),
    ((97, 301, 3), (40, 100, 3), "ideal", "periodic"),
    ((97, 301, 3), (40, 100, 3), "butterworth", 2.5),
    ((5, 7), (2, 3), "ideal", "reflect"),  # a pad 150x wider than the image
    ((1, 300), (1, 100), "gaussian", "reflect"),
    ((64, 64), (64, 64), "ideal", 1.0),
]


@pytest.mark.parametrize(("shape", "chunks", "filter", "boundary"), CASES)
def test_exact_equals_numpy_whole_image_filter(shape, chunks, filter, boundary):
    image = make_image(shape, np.float64, seed=len(shape) + shape[0])
    out = lowpass(
        da.from_array(image, chunks=chunks),
        0.1,
        filter=filter,
        boundary=boundary,
        method="exact",
        channel_axis=channels(image),
    )
    pad = exact_padding(0.1, filter=filter, order=4, tol=1e-6, boundary=boundary)
    ref = reference_lowpass(image, 0.1, filter=filter, boundary=boundary, pad=pad)
    assert out.chunks == da.from_array(image, chunks=chunks).chunks
    assert np.abs(out.compute() - ref).max() <= 1e-9 * np.ptp(image)


def test_exact_float32_stays_float32():
    image = make_image((120, 90), np.float32)
    out = lowpass(da.from_array(image, chunks=40), 0.1, method="exact", boundary="periodic")
    assert out.dtype == np.float32 and out.compute().dtype == np.float32
    ref = reference_lowpass(image, 0.1, boundary="periodic", pad=0)
    assert np.abs(out.compute() - ref).max() <= 2e-5 * np.abs(image).max()


def test_exact_never_warns_and_ideal_blockwise_does():
    image = da.ones((64, 64), chunks=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lowpass(image, 0.1, filter="ideal", method="exact")
    with pytest.warns(HaloWarning):
        lowpass(image, 0.1, filter="ideal")


def test_no_block_of_the_plan_is_larger_than_a_band():
    """Every array in the exact graph has blocks of about one input chunk, never the image."""
    image = da.zeros((4096, 3000), chunks=512)
    out = lowpass(image, 0.05, method="exact", boundary="periodic")
    budget = max(2**20, 512 * 512)
    for name, layer in out.dask.layers.items():
        meta = layer.collection_annotations or {}
        chunks = meta.get("chunks")
        if chunks:
            biggest = max(np.prod([max(c) for c in chunks[:2]]), 0)
            assert biggest <= 2 * budget, (name, biggest)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "fast"}, "`method`"),
        ({"method": "exact", "boundary": "mirror"}, "`boundary`"),
    ],
)
def test_bad_method_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lowpass(np.zeros((8, 8)), 0.1, **kwargs)


def test_cli_exact_and_the_measured_deviation_of_blockwise(tmp_path):
    image = make_image((300, 260), np.float32, seed=3)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(16, 16))
    base = [
        "run",
        str(tmp_path / "in.tif"),
        "--filter",
        "ideal",
        "--cutoff",
        "0.15",
        "--boundary",
        "periodic",
        "--cluster",
        "threads",
        "-q",
    ]
    assert main([*base, "-o", str(tmp_path / "exact"), "--exact"]) == 0
    out = tifffile.imread(tmp_path / "exact" / "filtered.tif")
    ref = reference_lowpass(image, 0.15, filter="ideal", boundary="periodic", pad=0)
    assert np.abs(out - ref).max() <= 2e-5 * np.abs(image).max()
    report = json.loads((tmp_path / "exact" / "report.json").read_text())
    assert report["method"] == "exact" and report["halo"]["warning"] is None

    # No halo bounds the ideal filter's deviation: by default it is measured on a few chunks
    # (tests/test_bound.py), and on every chunk, by a full exact pass, when asked.
    assert main([*base, "-o", str(tmp_path / "bw"), "--depth", "8", "--chunks", "100"]) == 0
    report = json.loads((tmp_path / "bw" / "report.json").read_text())
    assert report["halo"]["measured_deviation"]["method"] == "sampled"
    assert any("--measure-deviation" in c for c in report["choices"])
    assert (
        main(
            [
                *base,
                "-o",
                str(tmp_path / "m"),
                "--depth",
                "8",
                "--chunks",
                "100",
                "--measure-deviation",
            ]
        )
        == 0
    )
    measured = json.loads((tmp_path / "m" / "report.json").read_text())["halo"]
    measured = measured["measured_deviation"]
    assert measured["method"] == "exact" and measured["chunks"] == "all"
    got = tifffile.imread(tmp_path / "m" / "filtered.tif")
    true = np.abs(got - ref).max() / np.abs(image).max()
    assert measured["max_relative"] == pytest.approx(true, rel=1e-3)
    assert measured["max_relative"] > 1e-3  # a narrow halo on the ideal filter is visibly off


def test_short_halo_is_measured_locally_at_the_cost_claimed(tmp_path):
    """A given halo narrower than tol asks: measured on four windows, not a whole-image pass."""
    from daskfft.run.config import RunConfig
    from daskfft.run.deviation import _local
    from daskfft.run.plan import make_plan

    image = make_image((400, 360), np.float64, seed=7)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(32, 32))
    args = [
        "run",
        str(tmp_path / "in.tif"),
        "--cutoff",
        "0.05",
        "--depth",
        "3",
        "--chunks",
        "100",
        "--cluster",
        "threads",
        "-q",
        "-o",
        str(tmp_path / "o"),
    ]
    assert main(args) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    measured = report["halo"]["measured_deviation"]
    assert measured["method"] == "local" and len(measured["chunks"]) == 4
    ref = reference_lowpass(image, 0.05, pad=200)
    got = tifffile.imread(tmp_path / "o" / "filtered.tif")
    rows = np.cumsum([0] + report["chunks"]["rows"])
    cols = np.cumsum([0] + report["chunks"]["cols"])
    true = (
        max(
            np.abs(
                got[rows[r] : rows[r + 1], cols[c] : cols[c + 1]]
                - ref[rows[r] : rows[r + 1], cols[c] : cols[c + 1]]
            ).max()
            for r, c in measured["chunks"]
        )
        / np.abs(image).max()
    )
    assert measured["max_relative"] == pytest.approx(true, rel=1e-3, abs=2e-6)
    assert true <= report["halo"]["expected_max_deviation"]  # the bound holds
    # The cost: four windows of chunk + 2 x 16 px; the graph reads nothing else.
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((1600, 1600), np.uint8), tile=(32, 32))
    config = RunConfig.create(
        str(tmp_path / "big.tif"),
        str(tmp_path / "p"),
        cutoff=0.05,
        depth=3,
        chunks=100,
        cluster="threads",
    )
    plan = make_plan(config)
    from daskfft import io

    color = io.read(plan.info, plan.rows[0]).rechunk((plan.rows, plan.cols))
    _, tasks = _local(color, plan)
    local = len(dict(__import__("dask").delayed(tasks).__dask_graph__()))
    exact = lowpass(color, 0.05, method="exact")[:96, :96]
    whole = len(dict(exact.__dask_graph__()))
    # Each window touches at most 2 x 2 of the 17 x 17 chunks: about 10 tasks each, reads
    # included, where one block of the exact filter depends on every chunk.
    assert local <= 4 * 12 and local < whole / 10, (local, whole)


@pytest.mark.slow
def test_exact_on_a_cluster_whose_workers_hold_less_than_the_image(tmp_path):
    """8192 x 6144 float64 (384 MiB) through 4 workers limited to 375 MiB each.

    No worker could hold the image; each holds its share of the bands, and the
    rechunks between row and column bands pass through blocks of about a chunk.
    A worker's peak, measured here, was 290 MiB (about 130 MiB of it the
    process itself), so the limit leaves room below the nanny's 95 %; 250 MiB
    on a 280 MiB image, with peaks of 232 MiB, lost a worker in two CI runs of
    six.
    """
    n0, n1 = 8192, 6144
    path = tmp_path / "big.tif"
    from daskfft import io

    def rows(r0, r1):
        y = np.arange(r0, r1)[:, None]
        x = np.arange(n1)[None, :]
        return np.sin(0.001 * x * x / 37.0 + 0.0007 * y) * 100.0 + ((x // 64 + y // 64) % 2)

    io.write_tiff(path, rows, (n0, n1), np.float64, band=1024)
    assert n0 * n1 * 8 > 375 * 2**20
    rc = main(
        [
            "run",
            str(path),
            "-o",
            str(tmp_path / "o"),
            "--exact",
            "--chunks",
            "1024",
            "--cluster",
            "processes",
            "--workers",
            "4",
            "--threads-per-worker",
            "1",
            "--memory-limit",
            "375MiB",
            "--no-dashboard",
            "--boundary",
            "periodic",
            "--spectra",
            "none",
            "-q",
            # Plain TCP: TLS adds its own memory to every worker; the method's memory is
            # what this test is about.
            "--no-tls",
        ]
    )
    assert rc == 0
    out = tifffile.imread(tmp_path / "o" / "filtered.tif")
    # spot-check a band against the whole-image reference, done here with all the memory
    whole = rows(0, n0)
    ref = np.fft.irfft2(np.fft.rfft2(whole) * _h((n0, n1), 0.05), s=(n0, n1))
    assert np.abs(out - ref).max() <= 1e-9 * np.ptp(whole)


def _h(shape, cutoff):
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return np.exp(-(fy**2 + fx**2) / (2 * cutoff**2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigma_one_gets_a_short_halo_and_a_bound_above_the_measured_deviation(tmp_path, dtype):
    """The sampled Gaussian's kernel ends within 5 px at sigma 1 (the Nyquist kink asked 1024)."""
    image = (np.random.default_rng(11).random((260, 300)) * 200 - 50).astype(dtype)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(32, 32))
    assert (
        main(
            [
                "run",
                str(tmp_path / "in.tif"),
                "-o",
                str(tmp_path / "o"),
                "--sigma",
                "1",
                "--chunks",
                "64",
                "--cluster",
                "threads",
                "--spectra",
                "none",
                "--no-plots",
                "--measure-deviation",
                "-q",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    halo = report["halo"]
    assert halo["depth"] == 5 and halo["warning"] is None
    got = tifffile.imread(tmp_path / "o" / "filtered.tif").astype(np.float64)
    ref = ndimage.gaussian_filter(image.astype(np.float64), 1.0, mode="reflect", truncate=12.0)
    true = np.abs(got - ref).max() / np.abs(image).max()
    bound = halo["expected_max_deviation"] + report["precision"]["max_rounding_relative"]
    assert true <= bound
    assert halo["expected_max_deviation"] <= 2e-6
    measured = halo["measured_deviation"]
    assert measured["max_relative"] <= bound


@pytest.mark.parametrize("boundary", ["reflect", "nearest", 3.5])
@pytest.mark.parametrize("shape", [(90, 80), (70, 60, 3)])
def test_exact_with_nodata_equals_whole_image_normalised_convolution(boundary, shape):
    image = make_image(shape, np.float64, seed=9)
    holes = np.random.default_rng(1).random(shape) < 0.1
    holes[5:25, 10:40] = True
    image[holes] = np.nan
    out = lowpass(
        da.from_array(image, chunks=(40, 35) + shape[2:]),
        0.08,
        method="exact",
        nodata=float("nan"),
        boundary=boundary,
        channel_axis=channels(image),
    ).compute()
    num = reference_lowpass(np.where(holes, 0, image), 0.08, pad=100, boundary=boundary)
    den = reference_lowpass(
        (~holes).astype(float),
        0.08,
        pad=100,
        boundary=1.0 if isinstance(boundary, float) else boundary,
    )
    bound = 2e-6 * np.nanmax(np.abs(image))  # 2 tol max|image|: the padding is the halo rule's
    np.testing.assert_allclose(out[~holes], (num / den)[~holes], rtol=0, atol=bound)
    assert np.isnan(out[holes]).all()
    blockwise = lowpass(
        da.from_array(image, chunks=(40, 35) + shape[2:]),
        0.08,
        nodata=float("nan"),
        boundary=boundary,
        channel_axis=channels(image),
    ).compute()
    np.testing.assert_allclose(out[~holes], blockwise[~holes], rtol=0, atol=2 * bound)
