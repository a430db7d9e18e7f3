"""URL inputs, read where they are: TIFF/COG by byte ranges and Zarr/OME-Zarr through fsspec,
from real servers the tests start on loopback: moto's S3 server (in this process, counting
what it sends) and Debian's nginx (its access log says every range and byte it sent).

Credentials come from the environment as GDAL's do (AWS_* variables, AWS_S3_ENDPOINT,
AWS_HTTPS, AWS_VIRTUAL_HOSTING) and are never said; failures are one line naming the URL;
transient ones are retried; a run that still fails keeps its finished chunks."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from reference import make_image
from servers import MotoS3, Nginx
from test_run_stacks import ome_zarr

from daskfft import io
from daskfft.cli import main
from daskfft.io import url

QUIET = ["--cluster", "threads", "-q"]
KEY_ID = "AKIADASKFFTTESTKEY01"
SECRET = "s3cr3t/DASKFFT+never-said"


@pytest.fixture
def s3(monkeypatch):
    """An S3 server on loopback, reached as GDAL would be told (AWS_S3_ENDPOINT...), with a
    bucket of its own: ``(server, filesystem, bucket)``."""
    import s3fs

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    server = MotoS3().start()
    monkeypatch.setenv("AWS_S3_ENDPOINT", f"127.0.0.1:{server.port}")
    monkeypatch.setenv("AWS_HTTPS", "NO")
    monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "FALSE")
    fs = s3fs.S3FileSystem(endpoint_url=server.endpoint, skip_instance_cache=True)
    bucket = f"b{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    try:
        yield server, fs, bucket
    finally:
        server.stop()


@pytest.fixture
def nginx(tmp_path):
    """nginx serving ``tmp_path/www`` on loopback."""
    (tmp_path / "www").mkdir()
    (tmp_path / "nginx").mkdir()
    server = Nginx(tmp_path / "www", tmp_path / "nginx").start()
    try:
        yield server
    finally:
        server.stop()


def _tiff(path, shape=(1536, 1536), tile=256, seed=3):
    tifffile.imwrite(
        path, make_image(shape, np.uint8, seed=seed), tile=(tile, tile), compression="zlib"
    )
    return path


def _local_and_remote(tmp_path, local, remote, *extra):
    """Outputs of the same run on ``local`` and on ``remote``: their folders."""
    a, b = tmp_path / "local", tmp_path / "remote"
    for src, out in ((local, a), (remote, b)):
        assert main(["run", str(src), "-o", str(out), "--sigma", "3", *extra, *QUIET]) == 0
    return a, b


def _same_files(a, b):
    """Every image output of ``a`` byte for byte in ``b`` (report.json aside: it names its
    input and its times)."""
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in names:
        if name.suffix not in (".json", ".html"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    return names


def _tile_bytes(path, rows, cols):
    """The compressed bytes of the tiles of ``path`` that the window touches."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        th, tw = page.tilelength, page.tilewidth
        across = -(-page.imagewidth // tw)
        return sum(
            page.databytecounts[ty * across + tx]
            for ty in range(rows[0] // th, -(-rows[1] // th))
            for tx in range(cols[0] // tw, -(-cols[1] // tw))
        )


# --- S3 (moto's server) ---------------------------------------------------------------------


def test_a_tiff_on_s3_is_filtered_as_the_local_file_and_no_credential_is_said(tmp_path, s3, capfd):
    server, fs, bucket = s3
    src = _tiff(tmp_path / "a.tif")
    fs.put(str(src), f"{bucket}/scenes/a.tif")
    a, b = _local_and_remote(tmp_path, src, f"s3://{bucket}/scenes/a.tif")
    assert "filtered.tif" in {p.name for p in b.iterdir()}
    _same_files(a, b)
    report = json.loads((b / "report.json").read_text())
    assert report["input"]["path"] == f"s3://{bucket}/scenes/a.tif"
    # -v says what was chosen; nothing anywhere says the keys
    out = tmp_path / "verbose"
    argv = ["run", f"s3://{bucket}/scenes/a.tif", "-o", str(out), "-v", "--cluster", "threads"]
    assert main(argv) == 0
    said = capfd.readouterr()
    for text in (
        [said.out, said.err]
        + [p.read_text() for p in out.rglob("*.json")]
        + [(out / "report.html").read_text()]
    ):
        assert SECRET not in text and KEY_ID not in text
    assert any(e[1].endswith("/scenes/a.tif") and e[2] == 206 for e in server.app.entries)
    assert server.app.keys == {KEY_ID}  # signed with the environment's key (moto takes any)


def test_a_palette_tiff_on_s3_is_read_as_the_local_file(tmp_path, s3):
    """tifffile reads a colour map (and contiguous data) into numpy arrays through the file's
    ``readinto``: a remote file's bytes go into the array's bytes, not its items."""
    _, fs, bucket = s3
    src = tmp_path / "p.tif"
    index = (make_image((512, 384), np.uint8, seed=5) // 32).astype(np.uint8)
    colormap = np.stack([np.arange(256) * 257, np.arange(256)[::-1] * 257, np.full(256, 30000)])
    tifffile.imwrite(src, index, photometric="palette", colormap=colormap.astype(np.uint16))
    fs.put(str(src), f"{bucket}/p.tif")
    a, b = _local_and_remote(tmp_path, src, f"s3://{bucket}/p.tif")
    _same_files(a, b)


def test_keys_come_from_a_profile_as_gdal_takes_them(tmp_path, s3, monkeypatch):
    server, fs, bucket = s3
    fs.put(str(_tiff(tmp_path / "a.tif", shape=(256, 256))), f"{bucket}/a.tif")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = AKIANOTTHISONE00000\naws_secret_access_key = x\n"
        "[survey]\naws_access_key_id = AKIASURVEYPROFILE01\naws_secret_access_key = y\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "survey")
    server.app.keys.clear()
    assert main(["run", f"s3://{bucket}/a.tif", "-o", str(tmp_path / "o"), *QUIET]) == 0
    assert server.app.keys == {"AKIASURVEYPROFILE01"}


def test_a_task_fetches_only_the_tiles_its_window_touches(tmp_path, s3):
    server, fs, bucket = s3
    src = _tiff(tmp_path / "a.tif", shape=(2048, 2048))
    fs.put(str(src), f"{bucket}/a.tif")
    info = io.probe(f"s3://{bucket}/a.tif")
    assert isinstance(info.path, url.Remote) and info.path == f"s3://{bucket}/a.tif"
    for rows, cols in [((0, 512), (0, 512)), ((700, 1300), (300, 1900)), ((1900, 2048), (0, 2048))]:
        server.app.entries.clear()
        window = io.read_window(info, rows, cols)
        assert (window == tifffile.imread(src)[rows[0] : rows[1], cols[0] : cols[1]]).all()
        sent = sum(e[3] for e in server.app.entries if e[0] == "GET")
        touched = _tile_bytes(src, rows, cols)
        # the tiles, and the one 64 KiB read of the header each task makes
        assert touched <= sent <= 1.5 * touched + url.HEADER_BYTES, (sent, touched)


def test_the_tiles_neighbouring_tasks_share_are_fetched_once(tmp_path, s3):
    """Each task's window holds the tiles of its halo, which its neighbours' windows hold
    too: a process fetches each tile once (a run's tasks in a thread pool), and the file's
    size and header once, and the run reads no more of the file than its tiles."""
    server, fs, bucket = s3
    src = _tiff(tmp_path / "a.tif", shape=(2048, 2048))
    fs.put(str(src), f"{bucket}/a.tif")
    server.app.entries.clear()
    argv = ["run", f"s3://{bucket}/a.tif", "-o", str(tmp_path / "o"), "--chunks", "512"]
    assert main([*argv, "--sigma", "3", "--no-plots", *QUIET]) == 0
    reads = [e for e in server.app.entries if e[0] == "GET" and e[1].endswith("/a.tif")]
    heads = [e for e in server.app.entries if e[0] == "HEAD" and e[1].endswith("/a.tif")]
    # the file's size and header asked by the plan, then once by this process's tasks
    # (19 HEADs and 49 GETs before: each task asked them again)
    assert len(heads) <= 3 and len(reads) <= 36, (len(heads), len(reads))
    tiles = _tile_bytes(src, (0, 2048), (0, 2048))
    # 16 tasks (and the plan): a header read each; two tasks at once may both fetch a tile
    assert sum(e[3] for e in reads) <= 1.1 * tiles + len(reads) * url.HEADER_BYTES, (
        sum(e[3] for e in reads) / tiles
    )


def test_zarr_and_ome_zarr_on_s3_are_filtered_as_the_local_stores(tmp_path, s3):
    _, fs, bucket = s3
    plain = tmp_path / "p.zarr"
    z = zarr.create_array(str(plain), shape=(300, 260), dtype="uint16", chunks=(64, 64))
    z[...] = make_image((300, 260), np.uint16, seed=4)
    ome = ome_zarr(tmp_path / "cells.ome.zarr", make_image((3, 200, 180), np.uint8, seed=2),
                   "cyx", [1.0, 0.5, 0.5])  # fmt: skip
    for store in (plain, ome):
        fs.put(str(store), f"{bucket}/{store.name}", recursive=True)
        a, b = _local_and_remote(
            tmp_path / store.name, store, f"s3://{bucket}/{store.name}", "--chunks", "64"
        )
        names = _same_files(a, b)
        assert any(n.suffix == ".zarr" for n in names[0:1]) or any(".zarr" in str(n) for n in names)


@pytest.mark.slow  # waits out the retries' backoff (3.5 s a failure)
def test_transient_failures_are_retried_and_a_missing_or_refused_object_is_one_line(
    tmp_path, s3, capsys
):
    server, fs, bucket = s3
    src = _tiff(tmp_path / "a.tif", shape=(512, 512))
    fs.put(str(src), f"{bucket}/a.tif")
    server.app.entries.clear()
    server.app.fail = [503, 503, 503]  # three tries fail, the fourth does not
    assert main(["run", f"s3://{bucket}/a.tif", "-o", str(tmp_path / "o1"), *QUIET]) == 0
    assert [e[2] for e in server.app.entries[:4]] == [503, 503, 503, 200]
    capsys.readouterr()
    cases = [
        (f"s3://{bucket}/missing.tif", [], "no such file or object"),
        (f"s3://{bucket}/a.tif", [403], "access denied"),
        (f"s3://{bucket}/a.tif", None, f"unreachable after {url.ATTEMPTS} tries"),  # all 503
    ]
    for i, (where, fail, said) in enumerate(cases):
        server.app.fail = list(fail or [])
        server.app.break_after(0 if fail is None else None)
        server.app.entries.clear()
        out = tmp_path / f"x{i}"
        assert main(["run", where, "-o", str(out), *QUIET]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{where}: {said}" in err, err
        assert SECRET not in err and not out.exists()
        if fail is None:  # ATTEMPTS requests in all: botocore adds none of its own
            assert len(server.app.entries) == url.ATTEMPTS, server.app.entries


@pytest.mark.slow
def test_a_run_that_fails_part_way_keeps_its_chunks_and_resumes(tmp_path, s3, capsys, monkeypatch):
    server, fs, bucket = s3
    # Every try as before, without the backoff between them (3.5 s a failure, several
    # failing in turn): the waits are test_a_server_that_stops_answering...'s subject.
    monkeypatch.setattr("daskfft.io.retry.backoff", lambda attempt: 0.01)
    src = _tiff(tmp_path / "a.tif", shape=(1024, 1024), tile=128)
    fs.put(str(src), f"{bucket}/a.tif")
    where, out = f"s3://{bucket}/a.tif", tmp_path / "out"
    argv = ["run", where, "-o", str(out), "--chunks", "256", "--sigma", "2", *QUIET]
    server.app.break_after(14)  # the header, then some chunks' tiles; then 503 for ever
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") <= 2 and f"{where}: unreachable after {url.ATTEMPTS} tries" in err
    done = list((out / ".daskfft-work" / "done").iterdir())
    assert 0 < len(done) < 16
    server.app.break_after(None)
    server.app.entries.clear()
    assert main([*argv, "--resume"]) == 0
    local = tmp_path / "local"
    assert main(["run", str(src), "-o", str(local), "--chunks", "256", "--sigma", "2", *QUIET]) == 0
    assert (out / "filtered.tif").read_bytes() == (local / "filtered.tif").read_bytes()


def test_a_rewritten_object_is_a_different_input(tmp_path, s3):
    """The fingerprint holds the objects' ETags: --resume refuses an input rewritten since."""
    _, fs, bucket = s3
    fs.put(str(_tiff(tmp_path / "a.tif", seed=1)), f"{bucket}/a.tif")
    where = url.location(f"s3://{bucket}/a.tif")
    before = url.identity(where)
    assert url.identity(where) == before
    fs.put(str(_tiff(tmp_path / "b.tif", seed=2)), f"{bucket}/a.tif")
    assert url.identity(where) != before


# --- HTTP (nginx) ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_cog_over_https_is_read_by_ranges_as_the_local_file(tmp_path, nginx):
    src = _tiff(Path(nginx.root) / "a.tif", shape=(2048, 2048))
    a, b = _local_and_remote(tmp_path, src, f"{nginx.url}/a.tif")
    _same_files(a, b)
    log = [e for e in nginx.log() if e[1] == "/a.tif"]  # (and GDAL's .msk looked for: 404)
    assert log and all(e[2] in (200, 206) for e in log)
    assert all(e[0] == "HEAD" or e[3].startswith("bytes=") for e in log)  # never the whole file
    info = io.probe(f"{nginx.url}/a.tif")
    rows, cols = (600, 1400), (100, 900)
    nginx.clear()
    io.read_window(info, rows, cols)
    sent = sum(e[4] for e in nginx.log() if e[0] == "GET")
    touched = _tile_bytes(src, rows, cols)
    assert touched <= sent <= 1.5 * touched + url.HEADER_BYTES, (sent, touched)


@pytest.mark.slow
def test_an_ome_zarr_over_http_is_filtered_as_the_local_store(tmp_path, nginx):
    store = ome_zarr(Path(nginx.root) / "cells.ome.zarr", make_image((3, 200, 180), np.uint8),
                     "cyx", [1.0, 0.5, 0.5])  # fmt: skip
    a, b = _local_and_remote(tmp_path, store, f"{nginx.url}/cells.ome.zarr", "--chunks", "64")
    _same_files(a, b)
    assert any(e[1].endswith("/zarr.json") for e in nginx.log())


def test_a_server_that_ignores_range_requests_is_one_line(tmp_path, capsys):
    """Python's own http.server sends the whole file for a range request: read as a tile,
    that would be wrong pixels; refused in one line instead."""
    import functools
    import http.server
    import threading

    _tiff(tmp_path / "a.tif", shape=(512, 512))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    class QuietServer(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that stops reading the whole file it did not ask for

    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        where = f"http://127.0.0.1:{server.server_port}/a.tif"
        assert main(["run", where, "-o", str(tmp_path / "o"), *QUIET]) == 1
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and where in err and "range" in err.lower(), err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_http_failures_are_one_line_naming_the_url(tmp_path, nginx, capsys):
    _tiff(Path(nginx.root) / "a.tif", shape=(256, 256))
    cases = [
        ("/missing.tif", "no such file or object"),
        ("/forbidden/a.tif", "access denied"),
        ("/dropped/a.tif", f"unreachable after {url.ATTEMPTS} tries"),  # nginx's 444
    ]
    for i, (where, said) in enumerate(cases):
        out = tmp_path / f"o{i}"
        assert main(["run", nginx.url + where, "-o", str(out), *QUIET]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{nginx.url}{where}: {said}" in err, err
        assert not out.exists()
    tries = [e for e in nginx.log() if e[1] == "/dropped/a.tif"]
    assert len(tries) >= url.ATTEMPTS  # each try asked again


@pytest.fixture
def silent_server():
    """A server on loopback that takes connections and never answers: its URL."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.slow  # waits out the retries' backoff (3.5 s a failure)
@pytest.mark.parametrize("protocol", ["http", "s3"])
def test_a_server_that_stops_answering_is_tried_again_then_one_line(
    tmp_path, silent_server, monkeypatch, capsys, protocol
):
    import time

    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("GDAL_HTTP_CONNECTTIMEOUT", "1")
    if protocol == "s3":
        monkeypatch.setenv("AWS_S3_ENDPOINT", silent_server)
        monkeypatch.setenv("AWS_HTTPS", "NO")
        monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "FALSE")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        where = "s3://bucket/a.tif"
    else:
        where = f"http://{silent_server}/a.tif"
    started = time.monotonic()
    assert main(["run", where, "-o", str(tmp_path / "o"), *QUIET]) == 1
    seconds = time.monotonic() - started
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{where}: unreachable after {url.ATTEMPTS} tries" in err, err
    # four tries of a second or two each (an HTTP HEAD then GET, S3's HEAD then list),
    # 0.5 + 1 + 2 s apart
    assert 3.5 + url.ATTEMPTS <= seconds < 3.5 + 3 * url.ATTEMPTS + 5, seconds
    assert not (tmp_path / "o").exists()


# --- what is taken and refused --------------------------------------------------------------


def test_gdal_variables_become_fsspec_options():
    env = {
        "AWS_S3_ENDPOINT": "minio.local:9000",
        "AWS_HTTPS": "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
        "AWS_REGION": "eu-west-3",
        "AWS_NO_SIGN_REQUEST": "YES",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }
    options = url.gdal_options("s3", env)
    wait = {"connect_timeout": url.TIMEOUT, "read_timeout": url.TIMEOUT}
    assert options == {
        "endpoint_url": "http://minio.local:9000",
        "config_kwargs": {"s3": {"addressing_style": "path"}, **wait},
        "client_kwargs": {"region_name": "eu-west-3"},
        "anon": True,
    }
    assert url.gdal_options("s3", {"AWS_S3_ENDPOINT": "s3.example.org"}) == {
        "endpoint_url": "https://s3.example.org",
        "config_kwargs": wait,
    }
    env.update(GDAL_HTTP_TIMEOUT="7", GDAL_HTTP_CONNECTTIMEOUT="3")
    assert url.gdal_options("https", env) == {
        "client_kwargs": {"timeout": {"sock_connect": 3.0, "sock_read": 7.0}}
    }
    assert url.gdal_options("gs", env) == {}
    given = {"endpoint_url": "http://other:1", "config_kwargs": {"connect_timeout": 5}}
    merged = url.merged(url.OWN_OPTIONS["s3"], url.gdal_options("s3", env), given)
    assert merged["endpoint_url"] == "http://other:1"
    assert merged["max_concurrency"] == 1  # a whole object one GET, no HEAD before it
    assert merged["config_kwargs"] == {
        "retries": {"max_attempts": 0, "mode": "standard"},
        "s3": {"addressing_style": "path"},
        "connect_timeout": 5,
        "read_timeout": 7.0,
    }


def test_a_remote_path_carries_its_options_but_never_says_them():
    import pickle

    where = url.Remote("s3://b/a.tif", {"key": SECRET})
    for said in (str(where), f"{where}", repr(where), json.dumps({"p": where}), "{}".format(where)):  # noqa: UP032
        assert SECRET not in said and "s3://b/a.tif" in said
    again = pickle.loads(pickle.dumps(where))
    assert isinstance(again, url.Remote) and again.storage == {"key": SECRET}
    assert url.child(where, "0").storage == where.storage


@pytest.mark.parametrize(
    ("argv", "said", "code"),
    [
        (["--storage-option", "secret=abc"], "secret: a credential on the command line", 2),
        (["--storage-option", "key=abc"], "key: a credential on the command line", 2),
        (["--storage-option", "novalue"], "expected KEY=VALUE", 2),
    ],
)
def test_storage_options_that_are_credentials_are_refused(tmp_path, capsys, argv, said, code):
    with pytest.raises(SystemExit) as info:
        main(["run", "s3://b/a.tif", "-o", str(tmp_path / "o"), *argv, *QUIET])
    assert info.value.code == code
    err = capsys.readouterr().err
    assert said in err and "abc" not in err and err.count("\n") == 1


def test_a_protocol_with_no_file_system_is_one_line(tmp_path, capsys):
    assert main(["run", "nosuchproto://b/a.tif", "-o", str(tmp_path / "o"), *QUIET]) == 1
    err = capsys.readouterr().err
    assert "nosuchproto://b/a.tif: no file system for nosuchproto://" in err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


# --- URL OUTDIR (S3) ------------------------------------------------------------------------


def _download(fs, key, to):
    fs.get(key, str(to), recursive=True)
    return to


@pytest.mark.parametrize("fmt", ["zarr", "ome-zarr", "tiff"])
def test_a_run_from_s3_to_s3_writes_what_the_local_run_writes(tmp_path, s3, monkeypatch, fmt):
    server, fs, bucket = s3
    monkeypatch.chdir(tmp_path)
    src = _tiff(tmp_path / "a.tif", shape=(1024, 768))
    fs.put(str(src), f"{bucket}/a.tif")
    out = f"s3://{bucket}/runs/{fmt}"
    argv = ["--output-format", fmt, "--sigma", "3", "--chunks", "256", *QUIET]
    server.app.entries.clear()
    assert main(["run", f"s3://{bucket}/a.tif", "-o", out, *argv]) == 0
    assert main(["run", str(src), "-o", str(tmp_path / "local"), *argv]) == 0
    got = _download(fs, f"{bucket}/runs/{fmt}", tmp_path / "got")
    names = _same_files(tmp_path / "local", got)
    assert not any(WORK in str(n) for n in names)  # the stage is gone
    report = json.loads((got / "report.json").read_text())
    assert report["outdir"] == out
    if fmt != "tiff":  # the chunks written in place by the tasks, once: none copied
        puts = [e[1] for e in server.app.entries if e[0] == "PUT" and "/c/" in e[1]]
        chunks = [n for n in names if "/c/" in f"/{n.as_posix()}"]
        assert len(chunks) >= 12 and len(puts) == len(chunks), puts
        assert not [p for p in puts if f"/{WORK}/" in p], puts
        metadata = [e[1] for e in server.app.entries if e[0] == "PUT" and "zarr.json" in e[1]]
        assert f"/{WORK}/" in metadata[0], metadata  # in the stage until published
    assert not (tmp_path / ".daskfft-remote").exists()  # the local work folder went too


def test_remote_levels_are_opened_once_and_their_chunks_fetched_once(tmp_path, s3, monkeypatch):
    """An OME-Zarr output in a store: each overview block reads the chunks of the level
    above around it (its halo), up to nine tasks a chunk; each level-0 chunk is fetched once
    and each array's metadata read once per store opened, not once per task."""
    server, fs, bucket = s3
    monkeypatch.chdir(tmp_path)
    src = _tiff(tmp_path / "a.tif", shape=(2048, 2048))
    argv = ["--output-format", "ome-zarr", "--sigma", "3", "--chunks", "256", *QUIET]
    server.app.entries.clear()
    assert main(["run", str(src), "-o", f"s3://{bucket}/out", *argv]) == 0
    got = [e[1] for e in server.app.entries if e[0] == "GET" and e[2] == 200]
    level0 = [p for p in got if "/filtered.ome.zarr/0/c/" in p]
    heads = [e[1] for e in server.app.entries if e[0] == "HEAD" and "/c/" in e[1]]
    assert not heads, heads  # a chunk is one GET (s3fs asks the size first where concurrent)
    metadata = [p for p in got if p.endswith("/filtered.ome.zarr/1/zarr.json")]
    assert len(metadata) <= 2, metadata  # written by level 1's 4 tasks, read by level 2's
    # once each by the overviews (104 fetches of the 64 chunks before: a task's window
    # fetched its 5 x 5); the pictures' crop reads the 2 x 2 central ones again
    assert level0 and len(level0) <= len(set(level0)) + 4, sorted(level0)
    assert main(["run", str(src), "-o", str(tmp_path / "local"), *argv]) == 0
    _same_files(tmp_path / "local", _download(fs, f"{bucket}/out", tmp_path / "got"))


def test_a_store_made_again_at_a_url_is_never_read_as_the_one_before(tmp_path, s3, monkeypatch):
    """Two runs in one process into the same URL, the second of another image of another
    shape: the arrays and chunks a process keeps are the first run's stores', not the URL's."""
    _, fs, bucket = s3
    monkeypatch.chdir(tmp_path)
    argv = ["--output-format", "ome-zarr", "--sigma", "3", "--chunks", "256", *QUIET]
    first = _tiff(tmp_path / "a.tif", shape=(1536, 1280), seed=1)
    second = _tiff(tmp_path / "b.tif", shape=(1280, 1536), seed=2)
    assert main(["run", str(first), "-o", f"s3://{bucket}/out", *argv]) == 0
    assert main(["run", str(second), "-o", f"s3://{bucket}/out", "--overwrite", *argv]) == 0
    assert main(["run", str(second), "-o", str(tmp_path / "local"), *argv]) == 0
    _same_files(tmp_path / "local", _download(fs, f"{bucket}/out", tmp_path / "got"))


WORK = ".daskfft-work"


def _into_s3(tmp_path, s3, monkeypatch, fmt):
    """A local 512^2 TIFF, the filesystem, the bucket and the argv of a run of it into
    ``s3://<bucket>/out`` in ``fmt``, from ``tmp_path``."""
    _, fs, bucket = s3
    monkeypatch.chdir(tmp_path)
    src = _tiff(tmp_path / "a.tif", shape=(512, 512))
    argv = ["run", str(src), "-o", f"s3://{bucket}/out", "--output-format", fmt, *QUIET]
    return src, fs, bucket, argv


def test_the_outputs_and_their_companions_are_looked_for_in_one_listing(tmp_path, s3, monkeypatch):
    """Whether OUTDIR holds the outputs or their GDAL companions (.msk, .aux.xml, .ovr) is
    one listing of it, before the run and when publishing: never a request a name."""
    src, fs, bucket, argv = _into_s3(tmp_path, s3, monkeypatch, "tiff")
    server = s3[0]
    server.app.entries.clear()
    assert main(argv) == 0
    asked = [e[:2] for e in server.app.entries if e[1].endswith((".msk", ".aux.xml", ".ovr"))]
    assert not asked, asked
    assert fs.exists(f"{bucket}/out/filtered.tif")


def test_outputs_in_the_store_are_kept_unless_overwrite(tmp_path, s3, monkeypatch, capsys):
    src, fs, bucket, argv = _into_s3(tmp_path, s3, monkeypatch, "zarr")
    out = f"s3://{bucket}/out"
    assert main([*argv, "--sigma", "2"]) == 0
    first = fs.cat(f"{bucket}/out/report.json")
    fs.pipe(f"{bucket}/out/filtered.zarr/c/9/9", b"stale")  # a chunk no run wrote
    capsys.readouterr()
    assert main([*argv, "--sigma", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}" in err and "filtered.zarr" in err, err
    assert fs.cat(f"{bucket}/out/report.json") == first
    server = s3[0]
    server.app.entries.clear()
    assert main([*argv, "--sigma", "3", "--overwrite"]) == 0
    assert not fs.exists(f"{bucket}/out/filtered.zarr/c/9/9")  # replaced whole
    # made in the stage, the old output whole until then: its chunks were never written over
    puts = [e[1] for e in server.app.entries if e[0] == "PUT" and "/c/" in e[1]]
    assert puts and all(f"/{WORK}/" in p for p in puts[: len(puts) // 2]), puts
    assert json.loads(fs.cat(f"{bucket}/out/report.json"))["filter"]["sigma_pixels"] == 3.0


@pytest.mark.slow  # waits out the retries' backoff (3.5 s a failure)
def test_a_run_into_s3_that_fails_part_way_resumes_from_the_store(
    tmp_path, s3, monkeypatch, capsys
):
    server, fs, bucket = s3
    monkeypatch.chdir(tmp_path)
    src = _tiff(tmp_path / "a.tif", shape=(1024, 1024), tile=128)
    out = f"s3://{bucket}/out"
    argv = ["run", str(src), "-o", out, "--output-format", "zarr", "--chunks", "256", *QUIET]
    server.app.break_after(6, counting="/c/")  # six chunks written, then 503 for ever
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unreachable after" in err and "--resume" in err, err
    local = next((tmp_path / ".daskfft-remote").iterdir()) / WORK
    kept = len(list((local / "done").iterdir()))
    assert 0 < kept < 16
    server.app.break_after(None)
    assert main([*argv, "--resume"]) == 0
    report = json.loads(fs.cat(f"{bucket}/out/report.json"))
    assert report["chunks"]["resumed"] == kept
    assert main(["run", str(src), "-o", str(tmp_path / "l"), "--output-format", "zarr",
                 "--chunks", "256", *QUIET]) == 0  # fmt: skip
    _same_files(tmp_path / "l", _download(fs, f"{bucket}/out", tmp_path / "got"))


@pytest.mark.parametrize("where", ["between outputs", "deleting the stage"])
def test_a_publish_cut_short_is_completed_by_the_next_run(tmp_path, s3, monkeypatch, capsys, where):
    """Cut off between two outputs, or part-way through deleting the image's stage (some of
    its chunks deleted, some not): the next run completes the publish from what is left,
    never from part of a stage."""
    from daskfft.run.workdir.store import StoreWorkDir

    src, fs, bucket, argv = _into_s3(tmp_path, s3, monkeypatch, "ome-zarr")
    place, rm = StoreWorkDir._place, StoreWorkDir._rm
    calls = []

    def cut_place(self, name, entry):
        calls.append(name)
        if len(calls) == 3:  # the connection lost after two outputs
            raise ConnectionResetError(104, "Connection reset by peer")
        return place(self, name, entry)

    def cut_rm(self, target, **how):
        if target.text.endswith(f"{WORK}/filtered.ome.zarr") and not calls:
            calls.append(target)
            keys = sorted(fs.find(f"{bucket}/out/{WORK}/filtered.ome.zarr"))
            fs.rm(keys[: len(keys) // 2])  # half deleted, then the connection lost
            raise ConnectionResetError(104, "Connection reset by peer")
        return rm(self, target, **how)

    name, patched = {
        "between outputs": ("_place", cut_place),
        "deleting the stage": ("_rm", cut_rm),
    }[where]
    original = getattr(StoreWorkDir, name)
    monkeypatch.setattr(StoreWorkDir, name, patched)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "publishing stopped part-way" in err, err
    monkeypatch.setattr(StoreWorkDir, name, original)
    assert not fs.exists(f"{bucket}/out/report.json")  # not whole: no report.json yet
    assert main(argv) == 0  # completes the publish (and says so): nothing computed again
    assert not (tmp_path / ".daskfft-remote").exists()
    assert main(["run", str(src), "-o", str(tmp_path / "l"), "--output-format", "ome-zarr",
                 *QUIET]) == 0  # fmt: skip
    got = _download(fs, f"{bucket}/out", tmp_path / "got")
    _same_files(tmp_path / "l", got)
    zarr_json = sorted((tmp_path / "l").rglob("zarr.json"))
    assert zarr_json and all(
        (got / p.relative_to(tmp_path / "l")).read_bytes() == p.read_bytes() for p in zarr_json
    )
    assert not fs.exists(f"{bucket}/out/{WORK}")


@pytest.mark.slow  # waits out the retries' backoff (3.5 s a failure)
def test_a_stage_another_run_began_is_never_deleted_or_taken(tmp_path, s3, capsys):
    """A run from another directory into the same URL finds the first run's stage: refused
    (its chunks are that run's finished work), the stage untouched; the first run resumes it;
    with --overwrite the other run discards it."""
    import os as _os

    server, fs, bucket = s3
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    src = _tiff(tmp_path / "a.tif", shape=(1024, 1024), tile=128)
    argv = ["run", str(src), "-o", f"s3://{bucket}/out", "--output-format", "zarr",
            "--chunks", "256", *QUIET]  # fmt: skip
    _os.chdir(first)
    try:
        server.app.break_after(6, counting="/c/")
        assert main(argv) == 1
        server.app.break_after(None)
        # the chunks in place, the metadata in the stage: nothing to open at the URL yet
        work = sorted(fs.find(f"{bucket}/out"))
        assert any(k.startswith(f"{bucket}/out/filtered.zarr/c/") for k in work), work
        assert any(k.endswith(f"{WORK}/filtered.zarr/zarr.json") for k in work), work
        with pytest.raises(FileNotFoundError):
            zarr.open_array(f"s3://{bucket}/out/filtered.zarr", mode="r", **_options(server))
        capsys.readouterr()
        _os.chdir(second)
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "holds another run's work" in err, err
        assert sorted(fs.find(f"{bucket}/out")) == work
        _os.chdir(first)
        assert main([*argv, "--resume"]) == 0
        fs.invalidate_cache()
        report = json.loads(fs.cat(f"{bucket}/out/report.json"))
        assert report["chunks"]["resumed"] == 6
    finally:
        _os.chdir(tmp_path)


def _options(server):
    return {"storage_options": {"endpoint_url": server.endpoint}}


@pytest.mark.slow  # waits out the retries' backoff (3.5 s a failure)
def test_chunks_a_failed_run_wrote_in_place_are_its_own_to_resume_or_discard(
    tmp_path, s3, monkeypatch, capsys
):
    """A run into a new OUTDIR that fails part-way has its chunks in place: a rerun is told to
    resume or overwrite (not that OUTDIR holds outputs); --overwrite, in other chunks,
    deletes them first: the output is the local run's, no chunk of the first run left."""
    server, fs, bucket = s3
    src, fs, bucket, argv = _into_s3(tmp_path, s3, monkeypatch, "zarr")
    server.app.break_after(6, counting="/c/")
    assert main([*argv, "--chunks", "128"]) == 1
    server.app.break_after(None)
    assert any(k.startswith(f"{bucket}/out/filtered.zarr/c/") for k in fs.find(f"{bucket}/out"))
    capsys.readouterr()
    assert main([*argv, "--chunks", "256"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume" in err and "--overwrite" in err, err
    assert main([*argv, "--chunks", "256", "--overwrite"]) == 0
    assert main(["run", str(src), "-o", str(tmp_path / "l"), "--output-format", "zarr",
                 "--chunks", "256", *QUIET]) == 0  # fmt: skip
    _same_files(tmp_path / "l", _download(fs, f"{bucket}/out", tmp_path / "got"))


@pytest.mark.slow  # waits out the retries' backoff (3.5 s a failure)
def test_a_run_that_discards_another_runs_stage_deletes_its_chunks_in_place_too(tmp_path, s3):
    """Run A fails with its chunks in place; run B, from another directory, with
    --overwrite and another output format, discards A's stage and A's chunks with it: no
    store without metadata is left at the URL; a published store is never deleted so."""
    import os as _os

    server, fs, bucket = s3
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    src = _tiff(tmp_path / "a.tif", shape=(1024, 1024), tile=128)
    argv = ["run", str(src), "-o", f"s3://{bucket}/out", "--chunks", "256", *QUIET]
    _os.chdir(first)
    try:
        server.app.break_after(6, counting="/c/")
        assert main([*argv, "--output-format", "zarr"]) == 1
        server.app.break_after(None)
        assert fs.find(f"{bucket}/out/filtered.zarr")
        _os.chdir(second)
        assert main([*argv, "--output-format", "tiff", "--overwrite"]) == 0
        fs.invalidate_cache()
        assert not fs.find(f"{bucket}/out/filtered.zarr"), "the failed run's chunks are left"
        assert fs.exists(f"{bucket}/out/filtered.tif")
    finally:
        _os.chdir(tmp_path)


def test_outputs_uploaded_whole_are_never_said_to_be_written_in_place(
    tmp_path, s3, monkeypatch, capsys
):
    """A TIFF output into a URL is made locally and uploaded: the log says nothing of chunks
    in place, and the run records none to clean up."""
    src, fs, bucket, argv = _into_s3(tmp_path, s3, monkeypatch, "tiff")
    capsys.readouterr()
    assert main([a for a in argv if a != "-q"] + ["-v"]) == 0
    said = capsys.readouterr().err
    assert "in place" not in said and "uploaded when published" in said, said
    owner = [e for e in s3[0].app.entries if e[0] == "PUT" and e[1].endswith("owner.json")]
    assert owner  # the claim was made, with no store in place


@pytest.mark.slow  # forks a process
def test_a_forked_child_starts_with_empty_caches_and_never_waits_on_a_lock():
    """A worker forked while another thread holds a cache's lock: its caches are new and
    empty (its arrays' connections and fetches were the parent's), and nothing waits."""
    import time

    from daskfft.io import cache

    cache._tiles.put(("token", 0, 1), b"x")
    held = cache._tiles.lock
    held.acquire()  # as a thread of the parent might hold it at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: must not hang, and must have forgotten the bytes
            os._exit(0 if cache._tiles.get(("token", 0, 1)) is None else 1)
    finally:
        held.release()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on a cache's lock")


def test_s3_server_errors_are_retried_and_a_refused_mask_is_no_mask(tmp_path, s3):
    """A 500 or 502 (s3fs's OSError of its own) is tried again; a 403 for GDAL's ``.msk``
    (S3's answer for a missing key where listing is not allowed) means no mask."""
    server, fs, bucket = s3
    src = _tiff(tmp_path / "a.tif", shape=(512, 512))
    fs.put(str(src), f"{bucket}/a.tif")
    server.app.entries.clear()
    server.app.fail = [500, 502]
    server.app.fail_paths = {".msk": 403}
    assert main(["run", f"s3://{bucket}/a.tif", "-o", str(tmp_path / "o"), *QUIET]) == 0
    assert [e[2] for e in server.app.entries[:3]] == [500, 502, 200]
    assert any(e[1].endswith(".msk") and e[2] == 403 for e in server.app.entries)
    assert main(["run", str(src), "-o", str(tmp_path / "l"), *QUIET]) == 0
    _same_files(tmp_path / "l", tmp_path / "o")


def test_an_outdir_that_cannot_be_written_is_one_line(tmp_path, s3, monkeypatch, capsys):
    _, _, bucket = s3
    monkeypatch.chdir(tmp_path)
    src = _tiff(tmp_path / "a.tif", shape=(256, 256))
    for out, said in [
        ("s3://nosuchbucket42/out", "no bucket 'nosuchbucket42'"),
        ("https://example.org/out", "https:// is read-only"),
    ]:
        assert main(["run", str(src), "-o", out, *QUIET]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"OUTDIR {out}: {said}" in err, err
    assert os.listdir(tmp_path) == ["a.tif"]


def test_a_batch_from_an_s3_glob_into_s3(tmp_path, s3, monkeypatch):
    _, fs, bucket = s3
    monkeypatch.chdir(tmp_path)
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for k, name in enumerate(["north", "south", "west"]):
        _tiff(scenes / f"{name}.tif", shape=(384, 320), seed=k)
        fs.put(str(scenes / f"{name}.tif"), f"{bucket}/scenes/{name}.tif")
    fs.pipe(f"{bucket}/scenes/notes.txt", b"not an image")
    argv = ["--sigma", "2", *QUIET]
    out = f"s3://{bucket}/out"
    assert main(["run", f"s3://{bucket}/scenes/*.tif", "-o", out, *argv]) == 0
    assert main(["run", str(scenes / "*.tif"), "-o", str(tmp_path / "local"), *argv]) == 0
    got = _download(fs, f"{bucket}/out", tmp_path / "got")
    _same_files(tmp_path / "local", got)
    summary = json.loads((got / "batch.json").read_text())
    assert [r["status"] for r in summary["images"]] == ["done"] * 3
    assert [r["input"] for r in summary["images"]] == [
        f"s3://{bucket}/scenes/{n}.tif" for n in ("north", "south", "west")
    ]
    assert summary["outdir"] == out


def test_a_local_folder_that_is_a_link_is_refused(tmp_path, s3, monkeypatch, capsys):
    """The local folder of a URL OUTDIR, in the current directory, is never a link (one left
    in a shared directory would have the run write, and clean, where it points)."""
    src, fs, bucket, argv = _into_s3(tmp_path, s3, monkeypatch, "zarr")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not daskfft's")
    (tmp_path / ".daskfft-remote").symlink_to(elsewhere)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a symbolic link" in err, err
    assert os.listdir(elsewhere) == ["keep.txt"]
    assert not fs.exists(f"{bucket}/out")


def test_keys_given_as_storage_options_in_python_are_never_said(tmp_path, s3, monkeypatch, capfd):
    """Keys passed to the Python run as storage options (the command line refuses them) sign
    the requests and appear nowhere: not in the log, report.json or report.html."""
    from daskfft.run.pipeline import run

    server, fs, bucket = s3
    fs.put(str(_tiff(tmp_path / "a.tif", shape=(256, 256))), f"{bucket}/a.tif")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    given = {"key": "AKIAGIVENINPYTHON001", "secret": "given/in+python-SECRET"}
    server.app.keys.clear()
    out = tmp_path / "o"
    run(f"s3://{bucket}/a.tif", out, sigma=2, cluster="threads", storage_options=given)
    assert server.app.keys == {given["key"]}
    said = capfd.readouterr()
    texts = [said.out, said.err] + [p.read_text() for p in out.glob("report.*")]
    assert len(texts) == 4
    for text in texts:
        assert given["key"] not in text and given["secret"] not in text
