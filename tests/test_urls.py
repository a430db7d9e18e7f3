"""URLs where a local path is taken (OUTDIR, align's images, sample's PATH): said in one line
(exit status 2) rather than treating ``s3://bucket/x`` as a local folder named ``s3:``; a URL
INPUT holding credentials (a user, a password, a query) is refused the same way; the line
never shows them.  URL inputs themselves: tests/test_remote.py."""

from __future__ import annotations

import os

import pytest

from daskfft.cli import main
from daskfft.run.config import RunConfig

FAST = ["--cluster", "threads", "-q"]

SECRET = "AKIAEXAMPLE:wJalrXUtnFEMIsecret"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["sample", "-o", "s3://bucket/sample.tif"], "PATH s3://bucket/sample.tif"),
        (["align", "a.tif", "file:///data/b.tif", "-o", "o"], "MOVING file:///data/b.tif"),
        (["align", "a.tif", "b.tif", "-o", "az://c/o"], "OUTDIR az://c/o"),
    ],
)
def test_a_url_is_refused_in_one_line_and_nothing_is_written(
    tmp_path, monkeypatch, capsys, argv, said
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err and "local path" in err, err
    assert SECRET not in err and "secret" not in err
    assert os.listdir(tmp_path) == []  # no folder "s3:", "gs:" or "az:" here


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://{SECRET}@host/a.tif", "https://host/a.tif"),
        ("https://u:p@ss@host/a.tif", "https://host/a.tif"),  # an @ in the password
        ("https://u:p/w@host/a.tif", "https://host/a.tif"),  # a / in it
        (
            "https://bucket.s3.amazonaws.com/a.tif?X-Amz-Credential=AKIAX%2F&X-Amz-Signature=ff",
            "https://bucket.s3.amazonaws.com/a.tif",
        ),
        (
            "https://acct.blob.core.windows.net/c/a.tif?sv=2022&sig=abc#frag",
            "https://acct.blob.core.windows.net/c/a.tif",
        ),
    ],
)
def test_the_refusal_never_shows_a_urls_credentials(tmp_path, capsys, url, shown):
    with pytest.raises(SystemExit):
        main(["run", url, "-o", str(tmp_path / "o"), *FAST])
    err = capsys.readouterr().err
    assert f"INPUT {shown}: a URL" in err
    for secret in ("AKIA", "Signature", "sig=", "secret", ":p", "frag"):
        assert secret not in err, err


def test_an_input_url_with_credentials_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["run", f"https://{SECRET}@host/a.tif", "-o", "o", *FAST])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "INPUT https://host/a.tif: a URL with credentials" in err, err
    assert SECRET not in err and os.listdir(tmp_path) == []


def test_the_python_run_refuses_a_url_with_credentials_too():
    with pytest.raises(ValueError, match=r"OUTDIR s3://b/o: a URL with credentials in it"):
        RunConfig.create(None, f"s3://{SECRET}@b/o", sample=256)
    with pytest.raises(ValueError, match=r"INPUT https://h/x.tif: a URL with credentials in it"):
        RunConfig.create(f"https://{SECRET}@h/x.tif", "o")


def test_a_local_path_with_a_colon_is_still_a_path(tmp_path, monkeypatch):
    """Only scheme:// is a URL: a folder named "run:1" (or C:\\ on Windows) is a path."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--sample", "256", "-o", "run:1", *FAST]) == 0
    assert (tmp_path / "run:1" / "report.json").exists()
