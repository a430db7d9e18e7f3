"""``report.html``: one self-contained page per run, checked as its users meet it, in a real
headless Chromium (Debian's, driven through ChromeDriver by Selenium's WebDriver): it loads
with no console error, every picture renders with a size, the crop zooms, and it carries
what report.json says."""

from __future__ import annotations

import html
import json
import os
import re
import shutil

import numpy as np
import pytest
import zarr

from daskfft.cli import main

FAST = ["--cluster", "threads", "-q"]

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

# CI installs Debian's chromium and chromium-driver and sets DASKFFT_REQUIRE_BROWSER=1: there
# the browser tests never skip.
_no_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("DASKFFT_REQUIRE_BROWSER"),
    reason="no chromium and chromedriver (apt install chromium chromium-driver)",
)


def needs_browser(test):
    """A test in the browser: slow (it starts ChromeDriver and Chromium), skipped only where
    neither is installed and CI does not require them."""
    return pytest.mark.slow(_no_browser(test))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with its console log kept, as a closed network needs it: no
    background networking, a fresh profile."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1300,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=CHROMEDRIVER or "/usr/bin/chromedriver")
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(browser, path):
    """Load the page; its console's errors (none expected) and its pictures' rendered sizes."""
    browser.get(path.as_uri())
    pictures = browser.execute_script(
        "return Array.from(document.images).map(function (i) {"
        "  var r = i.getBoundingClientRect();"
        "  return [i.alt, i.complete, i.naturalWidth, i.naturalHeight, r.width, r.height]; });"
    )
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    return pictures, errors


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "o"
    assert main(["run", "--sample", "1536", "-o", str(out), *FAST]) == 0
    return out


def test_the_default_run_writes_a_self_contained_report_page(sample_run):
    page = (sample_run / "report.html").read_text(encoding="utf-8")
    report = json.loads((sample_run / "report.json").read_text())
    assert "report.html" in report["outputs"]
    assert page.startswith("<!DOCTYPE html>")
    # Nothing fetched: every src, href and srcset is inline data or an anchor.
    for value in re.findall(r"""(?:src|href|srcset)\s*=\s*["']([^"']*)""", page):
        assert value.startswith(("data:", "#")), value[:80]
    assert "<link" not in page and "<iframe" not in page
    assert "@import" not in page and "url(" not in page
    pictures = re.findall(r"src=\"data:image/(png|jpeg);base64,", page)
    assert len(pictures) == 7  # 4 views, 3 pictures of the run
    # What report.json says, said here: the bound, the halo, every choice.
    halo = report["halo"]
    assert f"bound {halo['expected_max_deviation']:.2g} x max|image|" in page
    assert f"{halo['depth']} px ({halo['rule']})" in page
    for choice in report["choices"]:
        assert html.escape(choice) in page
    assert (sample_run / "report.html").stat().st_size < 5e6


@needs_browser
def test_the_report_page_loads_in_chromium_with_every_picture_and_no_error(sample_run, browser):
    pictures, errors = _open(browser, sample_run / "report.html")
    assert errors == []
    names = [p[0] for p in pictures]
    assert names == [
        "input",
        "filtered",
        "input crop",
        "filtered crop",
        "radial_spectrum.png",
        "spectra.png",
        "overview.png",
    ]
    for alt, complete, nw, nh, width, height in pictures:
        assert complete and nw > 0 and nh > 0, alt
        assert width > 50 and height > 50, (alt, width, height)
    # The crop opens at 2x, pixel for pixel, and the slider zooms both crops.
    crops = {p[0]: p for p in pictures if p[0].endswith("crop")}
    assert crops["input crop"][4] == 2 * crops["input crop"][2]
    browser.execute_script(
        "var r = document.getElementById('zoom'); r.value = 5;r.dispatchEvent(new Event('input'));"
    )
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.zoomed')).map("
        "function (i) { return [i.getBoundingClientRect().width, i.naturalWidth]; });"
    )
    assert [w for w, _ in widths] == [5 * n for _, n in widths]
    assert browser.find_element("id", "zoom-value").text == "5x"


@needs_browser
def test_warnings_reach_the_page(tmp_path, browser):
    """A halo narrower than the filter needs: the warning is in report.json and on the page,
    which still loads cleanly, holes (nodata) and all."""
    data = (np.random.default_rng(1).random((700, 640)) * 1000).astype(np.float32)
    data[:100, :120] = -1
    z = zarr.create_array(
        str(tmp_path / "i.zarr"), shape=data.shape, dtype=data.dtype, chunks=(350, 320)
    )
    z[...] = data
    out = tmp_path / "o"
    args = ["run", str(tmp_path / "i.zarr"), "-o", str(out), "--nodata", "-1", "--sigma", "8"]
    assert main([*args, "--depth", "4", "--chunks", "256", *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["warnings"], report["choices"]
    page = (out / "report.html").read_text(encoding="utf-8")
    for warning in report["warnings"]:
        assert html.escape(warning) in page
    pictures, errors = _open(browser, out / "report.html")
    assert errors == []
    assert all(p[1] and p[2] > 0 and p[4] > 0 for p in pictures), pictures


@needs_browser
def test_a_volume_gets_its_report_page(tmp_path, browser):
    """A (z, y, x) volume: the page shows its central plane and loads cleanly."""
    data = (np.random.default_rng(2).random((24, 96, 96)) * 1000).astype(np.float32)
    z = zarr.create_array(
        str(tmp_path / "v.zarr"), shape=data.shape, dtype=data.dtype, chunks=data.shape,
        dimension_names=("z", "y", "x"),
    )  # fmt: skip
    z[...] = data
    out = tmp_path / "o"
    assert main(["run", str(tmp_path / "v.zarr"), "-o", str(out), "--sigma", "2", *FAST]) == 0
    pictures, errors = _open(browser, out / "report.html")
    assert errors == []
    assert len(pictures) == 7 and all(p[1] and p[2] > 0 and p[4] > 0 for p in pictures)


def test_no_plots_means_no_report_page(tmp_path):
    out = tmp_path / "o"
    assert main(["run", "--sample", "512", "-o", str(out), "--no-plots", *FAST]) == 0
    assert not (out / "report.html").exists()
    assert json.loads((out / "report.json").read_text())["warnings"] == []


@pytest.mark.slow
def test_the_page_of_a_large_run_stays_small(tmp_path):
    """An 8192 px run draws its pictures at a gigapixel run's sizes (a 1024 px atlas, 512 px
    thumbnails: the plan caps both), so its page is as large as a gigapixel run's (1.79 MB
    measured at 32768 px): under 5 MB, its large pictures as JPEG, the crops exact PNG."""
    from daskfft.run.config import RunConfig
    from daskfft.run.plan import make_plan

    args = dict(sample=8192, output_format="tiff")
    big = make_plan(RunConfig.create(None, tmp_path / "p", **{**args, "sample": 32768}))
    plan = make_plan(RunConfig.create(None, tmp_path / "p", **args))
    assert (plan.thumb * 32768 // 8192, plan.cell * 4) == (big.thumb, big.cell * 16)
    out = tmp_path / "o"
    assert main(["run", "--sample", "8192", "--output-format", "tiff", "-o", str(out), *FAST]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) < 5e6
    kinds = {alt: kind for kind, alt in re.findall(
        r'src="data:image/(png|jpeg);base64,[^"]*"\s*alt="([^"]+)"', page
    )}  # fmt: skip
    assert kinds["spectra.png"] == kinds["overview.png"] == "jpeg"
    assert kinds["input crop"] == kinds["filtered crop"] == "png"
