"""Remake the README's picture, docs/readme_overview.jpg (committed, < 300 KB).

Usage: ``python docs/_ext/readme_picture.py``.  Runs ``daskfft run --sample 768``
and saves its overview.png as a JPEG of quality 82 (the PNG is 560 KB, and a
256-colour PNG bands the blurred image).  GitHub shows the README from the
repository, so its picture cannot be one the documentation build makes.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

DEST = Path(__file__).resolve().parent.parent / "readme_overview.jpg"

with tempfile.TemporaryDirectory() as tmp:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "daskfft",
            "run",
            "--sample",
            "768",
            "-q",
            "-o",
            str(Path(tmp) / "out"),
        ],
        check=True,
    )
    Image.open(Path(tmp) / "out" / "overview.png").convert("RGB").save(
        DEST, quality=82, optimize=True
    )
print(f"{DEST}: {DEST.stat().st_size // 1024} KB")
