"""The work folder's record of its run: ``run.json`` (what run it is) and ``done/`` (which
chunks are finished).

``run.json`` holds the run's fingerprint (the input's identity, every parameter and
the daskfft version), written last when a run starts, so that a folder with it is a
whole start and ``--resume`` continues only the same run.  ``done/i_j`` marks chunk
``(i, j)`` finished (:mod:`daskfft.run.tasks` writes them).  A finished run's
``report.json`` in OUTDIR carries the same fingerprint, so that a rerun can tell its
outputs are already there.
"""

from __future__ import annotations

import json
import os

from daskfft.messages import workdir as msg

__all__ = [
    "RUN_FILE",
    "canonical",
    "has_run",
    "write_run",
    "command",
    "differences",
    "done",
    "finished",
]

RUN_FILE = "run.json"


def canonical(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, allow_nan=False))


def has_run(root):
    """Whether the work folder ``root`` holds a run (its ``run.json``)."""
    return (root / RUN_FILE).exists()


def write_run(root, fingerprint):
    """Write ``run.json`` of ``fingerprint`` into ``root``, atomically."""
    tmp = root / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True, allow_nan=False))
    os.replace(tmp, root / RUN_FILE)


def command(root):
    """The command whose run the work folder ``root`` holds: its ``run.json``'s
    ``"command"`` (``"align"``, ``"sample"``), or None (``daskfft run``'s, or none readable)."""
    try:
        made_by = json.loads((root / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return made_by.get("command") if isinstance(made_by, dict) else None


def differences(root, fingerprint):
    """What differs between the run in ``root`` and ``fingerprint``, as readable lines."""
    old = json.loads((root / RUN_FILE).read_text())
    new = canonical(fingerprint)
    diffs = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        if not isinstance(a, dict) or not isinstance(b, dict):
            if a != b:
                diffs.append(msg.DIFFERS.format(section=section, then=a, now=b))
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                diffs.append(
                    msg.DIFFERS_KEY.format(
                        section=section, key=key, then=a.get(key), now=b.get(key)
                    )
                )
    return diffs


def done(root):
    """Indices ``(i, j)`` of the chunks whose task finished, in the work folder ``root``."""
    folder = root / "done"
    names = os.listdir(folder) if folder.is_dir() else []
    return {tuple(int(k) for k in n.split("_")) for n in names}


def finished(outdir, names, fingerprint):
    """Whether ``outdir`` holds every output ``names`` of the run ``fingerprint`` describes
    (its report.json says which run made them)."""
    if not all((outdir / n).exists() for n in names):
        return False
    try:
        made_by = json.loads((outdir / "report.json").read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return False
    return made_by == canonical(fingerprint)
