#!/usr/bin/env python
"""Same outputs before and after a refactor: record, then check, what daskfft writes.

What it is for: a restructuring of the package must not change a single output byte.
This script runs a fixed set of daskfft commands (``run`` in every output format, pass,
filter and method, inputs with nodata, an internal mask and alpha, ``sample`` and
``align --apply``), each in its own fresh temporary folder, and records for every
command its argv, its exit status and a sha256 of every file it wrote; for report.json
it records the JSON itself, less the keys that vary from run to run or machine to
machine (listed in VOLATILE_REPORT_KEYS below, each with why).

It drives only the command line (``sys.executable -m daskfft ...``) and never imports
daskfft, so it works unchanged whatever the package's module layout.  Its own inputs
are made here with numpy, tifffile, rasterio and Pillow, not with daskfft.

How to run it (the machine has to find the daskfft under test, e.g. with PYTHONPATH):

    git checkout OLD && python tools/same_outputs.py record tools/same_outputs.json
    git checkout NEW && python tools/same_outputs.py check tools/same_outputs.json

``check`` prints one line per difference (library versions first) and exits 0 when
everything is the same, 1 otherwise.  ``--keep DIR`` keeps the temporary folders.

The checksums are comparable only with the same library versions (numpy, tifffile,
imagecodecs, zarr, numcodecs, Pillow, rasterio/GDAL, zlib, ducc0, dask, python...) and,
for the FFT's last bits, the same kind of CPU: both are recorded, and check says first
when they differ, as then a difference need not be the code's.  Record on the old
commit and check on the new one in the same environment.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from importlib import metadata
from pathlib import Path

FORMAT = 1

# JSON files daskfft writes as reports, recorded as their content (less the keys below)
# rather than a hash, so that check can say which key differs:
REPORTS = {
    "report.json",  # run's report
    "transform.json",
}  # align's result: it has a "cluster" part as well
# Files recorded as present only, and why:
PAGES = {
    # The run's page: it shows the run's timings and its folder, which differ from run to
    # run; what else it shows comes from report.json and the pictures, compared here.
    "report.html",
}
# Keys of those reports left out of the comparison (dotted paths), and why:
VOLATILE_REPORT_KEYS = {
    "started": "wall-clock timestamp of the run",
    "seconds": "timings (plan, compute, write, total, imports, startup...)",
    "megapixels_per_second": "a speed: megapixels over a timing",
    "versions": "library versions: recorded once for the whole set, compared first",
    "cluster.threads": "dask's default thread count is this machine's number of cores",
    "cluster.dashboard": "dashboard URL: a free port, differs per run (null under threads)",
    "cluster.worker_hosts": "host names of the workers",
    "cluster.address": "scheduler address with a free port, if ever reported",
    "fingerprint.input.mtime_ns": "the input's modification time: when this script copied it",
}
# Values rewritten rather than dropped, and why:
#   choices[*]: "N threads" -> "<n> threads", and "(every core)" kept: the threaded
#   scheduler's note says how many threads this machine's cores give, e.g.
#   "threaded scheduler in this process: 2 threads (every core)".
#   any string: the command's temporary folder -> "<cwd>" (fingerprint.input.path is the
#   input's absolute path, which is in that folder, a new one each run).
_THREADS = re.compile(r"\b\d+ threads\b")
#   choices[*]: cluster auto's line, "under 2048 Mpx (1024 Mpx a thread x 2)" ->
#   "under <t> Mpx (1024 Mpx a thread x <n>)": it scales with this machine's cores too.
_AUTO_LINE = re.compile(r"(under|at least) \d+ Mpx \((\d+) Mpx a thread x \d+\)")


def _normalise_report(obj, cwd):
    text = json.dumps(obj)
    for folder in sorted({str(cwd), os.path.realpath(cwd)}, key=len, reverse=True):
        text = text.replace(json.dumps(folder)[1:-1], "<cwd>")
    obj = json.loads(text)
    for dotted in VOLATILE_REPORT_KEYS:
        *parents, last = dotted.split(".")
        node = obj
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    if isinstance(obj.get("choices"), list):
        obj["choices"] = [
            _AUTO_LINE.sub(r"\1 <t> Mpx (\2 Mpx a thread x <n>)", _THREADS.sub("<n> threads", c))
            if isinstance(c, str)
            else c
            for c in obj["choices"]
        ]
    return obj


# ---------------------------------------------------------------------------------------
# environment


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment():
    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
    for dist in (
        "numpy",
        "tifffile",
        "imagecodecs",
        "zarr",
        "numcodecs",
        "pillow",
        "imageio",
        "rasterio",
        "ducc0",
        "dask",
        "distributed",
        "matplotlib",
        "scipy",
    ):
        env[dist] = _version(dist)
    try:
        import rasterio

        env["gdal"] = rasterio.__gdal_version__
    except Exception:  # noqa: BLE001 - recorded as missing
        env["gdal"] = None
    # ducc0 picks SIMD code by CPU: AVX-512 and AVX2 machines may round FFTs differently.
    try:
        flags = set()
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
        env["cpu_simd"] = sorted(f for f in flags if f in ("avx", "avx2", "fma", "avx512f"))
    except OSError:
        env["cpu_simd"] = None
    return env


# ---------------------------------------------------------------------------------------
# inputs, made here (not by daskfft), deterministically


def _pattern(h, w, channels, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        p = (
            0.5
            + 0.25 * np.sin(2 * np.pi * (x / (37 + 11 * c) + y / (53 - 7 * c)))
            + 0.15 * np.cos(2 * np.pi * (x * y) / (9000.0 + 1000 * c))
        )
        p[(x // 64 + y // 48 + c) % 3 == 0] += 0.2  # blocks with sharp edges
        p[(np.hypot(x - w / 3, y - h / 2) < h / 6)] -= 0.3  # a disc
        planes.append(p)
    img = np.stack(planes, axis=-1) + 0.05 * rng.standard_normal((h, w, channels))
    return np.clip(img, 0, 1)


def make_inputs(d):
    import numpy as np
    import rasterio
    import tifffile
    from PIL import Image
    from rasterio.transform import from_origin

    # rgb.tif: 8-bit RGB, tiled 128 px, 640 x 512 (not square: rows and columns told apart)
    rgb = (_pattern(640, 512, 3, 1) * 255).round().astype(np.uint8)
    tifffile.imwrite(d / "rgb.tif", rgb, photometric="rgb", tile=(128, 128), metadata=None)
    # gray16.tif: 16-bit gray, strips, 448 x 576
    g16 = (_pattern(448, 576, 1, 2)[..., 0] * 60000 + 1000).round().astype(np.uint16)
    tifffile.imwrite(d / "gray16.tif", g16, photometric="minisblack", metadata=None)
    # dem_nodata.tif: float32 GeoTIFF (UTM 33N), nodata -9999 over a corner and a hole
    dem = (_pattern(400, 360, 1, 3)[..., 0] * 800 + 200).astype(np.float32)
    dem[:60, :90] = -9999
    dem[200:230, 150:260] = -9999
    tiled = {"driver": "GTiff", "tiled": True, "blockxsize": 128, "blockysize": 128}
    utm = {"crs": "EPSG:32633", "transform": from_origin(500000, 5200000, 2.0, 2.0)}
    with rasterio.open(
        d / "dem_nodata.tif", "w", width=360, height=400, count=1, dtype="float32",
        nodata=-9999, **utm, **tiled,
    ) as ds:  # fmt: skip
        ds.write(dem, 1)
    # masked.tif: 8-bit RGB GeoTIFF with a GDAL internal mask (an irregular valid area)
    msk_img = (_pattern(384, 448, 3, 4) * 255).round().astype(np.uint8)
    yy, xx = np.mgrid[0:384, 0:448]
    valid = ((yy - 192) ** 2 / 170**2 + (xx - 224) ** 2 / 200**2) < 1
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        wgs84 = {"crs": "EPSG:4326", "transform": from_origin(10.0, 50.0, 1e-4, 1e-4)}
        with rasterio.open(
            d / "masked.tif", "w", width=448, height=384, count=3, dtype="uint8",
            photometric="RGB", **wgs84, **tiled,
        ) as ds:  # fmt: skip
            ds.write(np.moveaxis(msk_img, -1, 0))
            ds.write_mask((valid * 255).astype(np.uint8))
    # rgba.png: 8-bit RGBA PNG, the alpha a gradient with a transparent band
    rgba = (_pattern(320, 384, 4, 5) * 255).round().astype(np.uint8)
    rgba[..., 3] = np.linspace(0, 255, 384).round().astype(np.uint8)[None, :]
    rgba[100:130, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    # ref.tif / mov.tif: the same scene, mov a crop shifted by (7, -5) px, 8-bit gray
    big = (_pattern(560, 560, 1, 6)[..., 0] * 255).round().astype(np.uint8)
    tifffile.imwrite(d / "ref.tif", big[20:532, 20:532], photometric="minisblack", metadata=None)
    tifffile.imwrite(d / "mov.tif", big[27:539, 15:527], photometric="minisblack", metadata=None)


# ---------------------------------------------------------------------------------------
# the fixed set: name, argv after "daskfft"; the inputs it names are copied into its folder

COMMANDS = [
    ("sample-tif", "sample -o sample.tif --size 512"),
    ("sample-tif-compress", "sample -o sample.tif --size 300 --compress"),
    ("sample-png", "sample -o sample.png --size 300"),
    # the default run: built-in 2048 px sample, PNG out, pictures, atlas, report
    ("run-sample-default", "run --sample -o out"),
    ("run-sample-512-spectra-all", "run --sample 512 -o out --chunks 256 --spectra all"),
    # output formats, from a tiled RGB TIFF in 256 px chunks (so halos cross chunks)
    ("run-tiff", "run rgb.tif -o out --chunks 256"),
    (
        "run-tiff-deflate",
        "run rgb.tif -o out --chunks 256 --co COMPRESS=DEFLATE --co PREDICTOR=YES",
    ),
    ("run-tiff-zlib", "run gray16.tif -o out --compression zlib"),
    ("run-cog", "run rgb.tif -o out --chunks 256 --output-format cog"),
    ("run-zarr", "run rgb.tif -o out --chunks 256 --output-format zarr"),
    ("run-ome-zarr", "run rgb.tif -o out --chunks 256 --output-format ome-zarr"),
    ("run-png-out", "run rgb.tif -o out --chunks 256 --output-format png --spectra none"),
    (
        "run-jpeg-out",
        "run rgb.tif -o out --chunks 256 --output-format jpeg --spectra none --no-plots",
    ),
    # passes and flat-field
    ("run-high", "run rgb.tif -o out --chunks 256 --pass high --sigma 6"),
    ("run-high-16bit", "run gray16.tif -o out --chunks 256 --pass high --cutoff 0.02"),
    ("run-band", "run rgb.tif -o out --chunks 256 --pass band --sigma 2,8"),
    ("run-band-cutoff-16bit", "run gray16.tif -o out --chunks 256 --pass band --cutoff 0.02,0.1"),
    ("run-flatfield-divide", "run rgb.tif -o out --chunks 256 --flatfield divide --sigma 40"),
    (
        "run-flatfield-subtract",
        "run gray16.tif -o out --chunks 256 --flatfield subtract --sigma 30",
    ),
    # filters and methods
    ("run-gaussian-sigma", "run rgb.tif -o out --chunks 256 --filter gaussian --sigma 4"),
    (
        "run-butterworth",
        "run rgb.tif -o out --chunks 256 --filter butterworth --cutoff 0.03 --order 2",
    ),
    ("run-ideal", "run rgb.tif -o out --chunks 256 --filter ideal --cutoff 0.08"),
    (
        "run-ideal-measure",
        "run gray16.tif -o out --chunks 256 --filter ideal --measure-deviation --spectra none",
    ),
    ("run-exact", "run rgb.tif -o out --chunks 256 --exact"),
    ("run-exact-ideal", "run gray16.tif -o out --chunks 256 --exact --filter ideal"),
    (
        "run-depth-periodic",
        "run rgb.tif -o out --chunks 256 --depth 8 --boundary periodic --spectra chunks",
    ),
    (
        "run-boundary-constant",
        "run gray16.tif -o out --chunks 256 --boundary 0 --tol 1e-3 --no-plots",
    ),
    # nodata (the GeoTIFF's own, then given), internal mask, PNG with alpha
    ("run-nodata-geotiff", "run dem_nodata.tif -o out --chunks 128"),
    ("run-nodata-cog", "run dem_nodata.tif -o out --chunks 128 --output-format cog --sigma 5"),
    (
        "run-nodata-zarr-exact",
        "run dem_nodata.tif -o out --chunks 128 --output-format zarr --exact",
    ),
    (
        "run-nodata-given",
        "run gray16.tif -o out --chunks 256 --nodata 1000 --flatfield divide --sigma 30",
    ),
    ("run-mask", "run masked.tif -o out --chunks 128"),
    (
        "run-mask-cog",
        "run masked.tif -o out --chunks 128 --output-format cog --pass high --sigma 5",
    ),
    ("run-mask-ome-zarr", "run masked.tif -o out --chunks 128 --output-format ome-zarr"),
    ("run-png-alpha", "run rgba.png -o out --chunks 128"),
    ("run-png-alpha-tiff", "run rgba.png -o out --output-format tiff --filter butterworth"),
    # align
    ("align-apply", "align ref.tif mov.tif -o out --window 128 --apply"),
    ("align-rotation-scale", "align ref.tif mov.tif -o out --window 256 --rotation --scale"),
    # failures: their exit statuses (bad input: 1, bad usage: 2)
    ("run-missing-input", "run missing.tif -o out"),
    ("run-bad-usage", "run --sample 64 -o out --cutoff 0.7"),
]


# ---------------------------------------------------------------------------------------


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder, skip):
    out = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for n in names:
            p = Path(root, n)
            rel = p.relative_to(folder).as_posix()
            if rel not in skip:
                out[rel] = p
    return dict(sorted(out.items()))


def run_set(keep=None, only=None, verbose=True):
    """Run the fixed set; return {"inputs": {...}, "commands": [...]} and the seconds."""
    t0 = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="same-outputs-")) if keep is None else Path(keep)
    base.mkdir(parents=True, exist_ok=True)
    try:
        inputs = base / "inputs"
        inputs.mkdir()
        make_inputs(inputs)
        result = {
            "inputs": {n: _sha256(p) for n, p in _files(inputs, set()).items()},
            "commands": [],
        }
        env = dict(os.environ)
        env.pop("DASKFFT_DEBUG", None)
        for name, line in COMMANDS:
            args = shlex.split(line)
            needs = [a for a in args if (inputs / a).is_file()]  # the inputs it names
            if only and name not in only:
                continue
            cwd = base / name
            cwd.mkdir()
            for n in needs:
                shutil.copyfile(inputs / n, cwd / n)
            argv = [*args, "-q"] if "-q" not in args else list(args)
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "daskfft", *argv],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            entry = {"name": name, "argv": ["daskfft", *argv], "exit": proc.returncode, "files": {}}
            for rel, p in _files(cwd, set(needs)).items():
                if p.name in REPORTS:
                    try:
                        entry["files"][rel] = {
                            "report": _normalise_report(json.loads(p.read_text()), cwd)
                        }
                        continue
                    except ValueError:
                        pass  # not JSON: hashed below, and the difference shows
                entry["files"][rel] = "present" if p.name in PAGES else _sha256(p)
            result["commands"].append(entry)
            if verbose:
                print(
                    f"  {name}: exit {proc.returncode}, {len(entry['files'])} files, "
                    f"{time.perf_counter() - t:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                if proc.returncode not in (0,) and proc.stderr.strip():
                    last = proc.stderr.strip().splitlines()[-1]
                    print(f"    stderr: {last[:200]}", file=sys.stderr, flush=True)
        return result, time.perf_counter() - t0
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: obj}


def environment_differences(old, new):
    """Lines, one per library (or CPU) that differs from the recorded one."""
    return [
        f"environment: {k} recorded {old.get(k)!r}, now {new.get(k)!r} "
        "(checksums need not match across library versions)"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]


def compare(old, new):
    """Lines, one per difference in inputs or outputs, between two recorded sets."""
    lines = []
    for n in sorted(set(old["inputs"]) | set(new["inputs"])):
        if old["inputs"].get(n) != new["inputs"].get(n):
            lines.append(
                f"input {n}: made differently (sha256 {old['inputs'].get(n)} -> "
                f"{new['inputs'].get(n)}): this script's inputs, not daskfft"
            )
    new_by = {c["name"]: c for c in new["commands"]}
    for c in old["commands"]:
        name = c["name"]
        d = new_by.pop(name, None)
        if d is None:
            lines.append(f"{name}: not run now")
            continue
        if c["argv"] != d["argv"]:
            lines.append(f"{name}: argv {c['argv']} -> {d['argv']}")
        if c["exit"] != d["exit"]:
            lines.append(f"{name}: exit status {c['exit']} -> {d['exit']}")
        for rel in sorted(set(c["files"]) | set(d["files"])):
            a, b = c["files"].get(rel), d["files"].get(rel)
            if a == b:
                continue
            if a is None:
                lines.append(f"{name}: {rel}: new file")
            elif b is None:
                lines.append(f"{name}: {rel}: missing")
            elif isinstance(a, dict) and isinstance(b, dict):
                fa, fb = _flatten(a["report"]), _flatten(b["report"])
                for key in sorted(set(fa) | set(fb)):
                    if fa.get(key, "<absent>") != fb.get(key, "<absent>"):
                        lines.append(
                            f"{name}: {rel}: {key}: {json.dumps(fa.get(key, '<absent>'))}"
                            f" -> {json.dumps(fb.get(key, '<absent>'))}"
                        )
            else:
                lines.append(f"{name}: {rel}: sha256 {a} -> {b}")
    for name in sorted(new_by):
        lines.append(f"{name}: run now, not recorded")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["record", "check"])
    ap.add_argument("file", type=Path)
    ap.add_argument("--keep", metavar="DIR", help="run in DIR (must not exist) and keep it")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="only these commands (debugging)")
    a = ap.parse_args(argv)
    if a.keep and Path(a.keep).exists():
        ap.error(f"--keep {a.keep}: exists")

    result, seconds = run_set(a.keep, set(a.only or ()))
    current = {
        "format": FORMAT,
        "environment": environment(),
        "volatile_report_keys": VOLATILE_REPORT_KEYS,
        **result,
    }
    if a.action == "record":
        a.file.write_text(json.dumps(current, indent=1) + "\n")
        print(f"recorded {len(result['commands'])} commands into {a.file} in {seconds:.0f} s")
        return 0
    old = json.loads(a.file.read_text())
    if a.only:
        old["commands"] = [c for c in old["commands"] if c["name"] in a.only]
    # printed first; they alone do not fail the check (only differing outputs do)
    for line in environment_differences(old["environment"], current["environment"]):
        print(line)
    lines = compare(old, current)
    for line in lines:
        print(line)
    print(
        f"checked {len(result['commands'])} commands against {a.file} in {seconds:.0f} s: "
        + ("same outputs" if not lines else f"{len(lines)} differences")
    )
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
