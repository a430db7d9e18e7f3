"""A stack's run, as the report and the log say it: its axes, how each is treated, the
halo and chunks per spatial axis, and the plane its pictures show."""

from __future__ import annotations

from daskfft.messages import run as msg

__all__ = ["stack_section", "stack_line"]


def stack_section(plan):
    """The report's "stack", for a volume or time series: its axes, how each is treated, the
    halo and chunks per spatial axis, and the plane the pictures show."""
    info = plan.info
    spatial = "zyx" if info.planes > 1 else "yx"
    frame, z = plan.view
    return {
        "axes": {a: n for a, n, _ in info.stack} | {"y": info.shape[0], "x": info.shape[1]},
        "channels": info.shape[2] if len(info.shape) == 3 else None,
        "filtered_together": list(spatial),
        "each_alone": [
            a for a in "tc" if a in (info.axes or "") or (a == "c" and len(info.shape) == 3)
        ],
        "spacing": None if info.spacing is None else list(info.spacing),
        "halo_per_axis": dict(zip(spatial, plan.halo.depths)),
        "sigma_per_axis": _per_axis(plan.spec.sigma, spatial),
        "cutoff_per_axis": _per_axis(plan.spec.cutoff, spatial),
        "chunk_per_axis": dict(
            zip(spatial, ((plan.zs[0],) if plan.zs else ()) + (plan.rows[0], plan.cols[0]))
        ),
        "tasks": plan.total,
        "pictures_show": {
            "frame": frame if info.frames > 1 else None,
            "plane": z if info.planes > 1 else None,
        },
    }


def _per_axis(value, spatial):
    """A cutoff or sigma per spatial axis: one value for all, or one each."""
    if value is None:
        return None
    values = value if isinstance(value, tuple) else (value,) * len(spatial)
    return dict(zip(spatial, values))


def stack_line(plan):
    """What the run does with each axis of a stack, in one line."""
    stack = stack_section(plan)
    together = ", ".join(f"{a} {stack['axes'][a]}" for a in stack["filtered_together"])
    alone = ", ".join(f"{a} {stack['axes'].get(a, stack['channels'])}" for a in stack["each_alone"])
    halo = ", ".join(f"{a} {d}" for a, d in stack["halo_per_axis"].items())
    names = {"frame": msg.TIME_POINT, "plane": msg.Z_PLANE}
    shown = ", ".join(f"{names[k]} {v}" for k, v in stack["pictures_show"].items() if v is not None)
    return msg.STACK_AXES.format(
        together=together, alone=alone or msg.NOTHING, halo=halo, shown=shown
    )
