"""OME-Zarr (NGFF): read level 0 of a multiscale image; write a multiscale group whose
levels the tasks fill (channels first, as NGFF's axes), then its ``multiscales``.

Reading goes through :mod:`daskfft.io.zarr`: the level is a Zarr array with named axes.
"""

from __future__ import annotations

import numpy as np

from daskfft.errors import InputError
from daskfft.io import url, zarrstore
from daskfft.io.base import Backend, ImageInfo, parse_nodata
from daskfft.io.zarr import ZarrArrayStore, ZarrBackend, stack_axes
from daskfft.messages import io as msg

__all__ = ["OmeZarrBackend", "OME_ZARR"]


def _probe_group(p, fmt):
    """Level 0 of an OME-Zarr image (NGFF 0.4 or 0.5): axes y, x, a channel axis, time and
    z (a stack where either is longer than 1); its pixel (voxel) size from the level's
    scale."""
    import zarr

    group = zarr.open_group(str(p), mode="r", **url.zarr_options(p))
    attrs = dict(group.attrs)
    multiscales = attrs.get("ome", attrs).get("multiscales")
    if not multiscales:
        raise InputError(msg.NOT_MULTISCALES.format(path=p))
    scale = multiscales[0]
    dataset = scale["datasets"][0]
    axes = [a["name"] if isinstance(a, dict) else a for a in scale.get("axes", ["y", "x"])]
    array = group[dataset["path"]]
    named = "".join(a[0].lower() for a in axes)
    if named[-2:] != "yx" or len(set(named)) != len(named) or set(named) - set("tczyx"):
        raise InputError(msg.OME_AXES.format(path=p, axes=",".join(axes), shape=tuple(array.shape)))
    sizes = dict(zip(named, array.shape))
    shape = (sizes["y"], sizes["x"]) + ((sizes["c"],) if "c" in sizes else ())
    chunks = dict(zip(named, array.chunks))
    stack = tuple((a, sizes[a], chunks[a]) for a in "tz" if sizes.get(a, 1) > 1)
    units = {
        a["name"][0].lower(): a.get("unit") for a in scale.get("axes", []) if isinstance(a, dict)
    }
    factor = next(
        (
            t["scale"]
            for t in dataset.get("coordinateTransformations", [])
            if t.get("type") == "scale"
        ),
        None,
    )
    pixel_size = spacing = None
    if factor is not None and len(factor) == len(named):
        f = dict(zip(named, factor))
        pixel_size = (float(f["y"]), float(f["x"]), units.get("x"))
        dz = _in_unit(float(f.get("z", 1.0)), units.get("z"), units.get("x"))
        spacing = None if dz is None else (dz, float(f["y"]), float(f["x"]), units.get("x"))
    own = attrs.get("daskfft", {})
    nodata = own.get("nodata")
    return ImageInfo(
        url.child(str(p), dataset["path"]),
        fmt,
        shape,
        np.dtype(array.dtype),
        native_chunks=(chunks["y"], chunks["x"]),
        tiled=True,
        photometric=own.get("photometric", "minisblack"),
        alpha=bool(own.get("alpha", False)),
        pixel_size=pixel_size,
        nodata=None if nodata is None else parse_nodata(nodata),
        axes=named,
        ome=True,
        stack=stack,
        spacing=spacing,
    )


#: NGFF's length units (UDUNITS-2 names), in metres.
_METRES = {
    "angstrom": 1e-10,
    "nanometer": 1e-9,
    "micrometer": 1e-6,
    "millimeter": 1e-3,
    "centimeter": 1e-2,
    "meter": 1.0,
}


def _in_unit(value, unit, wanted):
    """``value`` (a z step) in ``unit`` as a number in ``wanted`` (x's); None where either
    unit is not a length NGFF names (the voxel size is then unknown)."""
    if unit == wanted or unit is None or wanted is None:
        return value
    if unit not in _METRES or wanted not in _METRES:
        return None
    return float(f"{value * _METRES[unit] / _METRES[wanted]:.12g}")  # 2 um is 2000 nm


class OmeZarrBackend(ZarrBackend):
    """An OME-Zarr multiscale group: its level ``k`` is the array ``<group>/k``, stored
    (c, y, x) for a 3-D image.  Read as a Zarr array (its :class:`ImageInfo` says "zarr",
    with ``axes`` and ``ome``)."""

    name, ext, suffixes, label = "ome-zarr", "ome.zarr", (".zarr",), "OME-Zarr"
    pyramid, plain, channel_first = "group", "zarr", True
    write = Backend.write  # made by tasks only, level by level

    def probe(self, path):
        return _probe_group(path, "zarr")

    def create(self, path, shape, dtype, *, options=None):
        """Level ``level`` of the group ``path``, zeros in ``chunks`` (rows, cols[, channels]);
        level 0 makes the group, anew.  Its :class:`~daskfft.io.zarr.ZarrArrayStore`."""
        import zarr

        level = options.get("level", 0)
        if level == 0:
            zarr.open_group(zarrstore.open_target(path), mode="w")
        if options.get("stack"):
            extra = {"overwrite": True} if level else {}
            return self._create_stack(url.child(path, str(level)), shape, dtype, options, **extra)
        self._create(
            url.child(path, str(level)),
            shape,
            dtype,
            options["chunks"],
            channel_first=len(shape) == 3,
            dimension_names=("c", "y", "x") if len(shape) == 3 else ("y", "x"),
            **({"overwrite": True} if level else {}),
        )
        return self.open_store(path, shape, options={"level": level})

    def open_store(self, path, shape, *, options=None):
        level = (options or {}).get("level", 0)
        if (options or {}).get("stack"):
            return super().open_store(url.child(path, str(level)), shape, options=options)
        return ZarrArrayStore(url.child(path, str(level)), shape, channel_first=len(shape) == 3)

    def finish(self, source, path, info, *, options=None):
        """NGFF 0.5 ``multiscales`` on the group ``path`` (its levels filled in place, so
        ``source`` is unused): axes (c,) y, x; each of the ``levels``' scale, the input's
        pixel size times 2**k, and its half-pixel translation; ``kind`` and ``metadata``
        say how the levels were made; ``attrs`` go in as "daskfft"'s."""
        import zarr

        levels, kind = len(options["levels"]), options["kind"]
        metadata, attrs = options["metadata"], options["attrs"]

        group = zarr.open_group(zarrstore.open_target(path), mode="r+")
        if info.stack:
            group.attrs["ome"] = _stack_multiscales(info, levels, kind, metadata)
            group.attrs["daskfft"] = attrs
            return
        first = len(info.shape) == 3
        sy, sx, unit = info.pixel_size or (1.0, 1.0, None)
        space = {"type": "space", **({"unit": unit} if unit else {})}
        axes = ([{"name": "c", "type": "channel"}] if first else []) + [
            {"name": "y", **space},
            {"name": "x", **space},
        ]
        group.attrs["ome"] = {
            "version": "0.5",
            "multiscales": [
                {
                    "name": "filtered",
                    "axes": axes,
                    "datasets": _datasets(levels, sy, sx, first),
                    "type": kind,
                    "metadata": metadata,
                }
            ],
        }
        group.attrs["daskfft"] = attrs


def _stack_multiscales(info, levels, kind, metadata):
    """NGFF 0.5 ``ome`` of a stack's output: its axes (t, c, z, y, x, those it has) with
    the input's units, and its ``levels`` datasets: level ``k`` halves y and x ``k`` times,
    and z too where the voxels are cubes (else z is kept, as viewers expect of anisotropic
    stacks), at the input's voxel size."""
    axes = stack_axes(info.shape, info.stack)
    dz, dy, dx, unit = info.spacing or (1.0, 1.0, 1.0, None)
    space = {"type": "space", **({"unit": unit} if unit else {})}
    kinds = {"t": {"type": "time"}, "c": {"type": "channel"}}
    scale = {"t": 1.0, "c": 1.0, "z": dz, "y": dy, "x": dx}
    halvings = _z_halvings(info.planes, levels) if info.isotropic else [0] * levels
    return {
        "version": "0.5",
        "multiscales": [
            {
                "name": "filtered",
                "axes": [{"name": a, **kinds.get(a, space)} for a in axes],
                "datasets": [_stack_level(axes, scale, k, halvings[k]) for k in range(levels)],
                "type": kind,
                "metadata": metadata,
            }
        ],
    }


def _z_halvings(planes, levels):
    """How many times z is halved down to each of ``levels`` levels of a volume of cubic
    voxels with ``planes`` planes: each level halves it (rounding up) until one is left."""
    out, n = [0], planes
    for _ in range(1, levels):
        out.append(out[-1] + (n > 1))
        n = -(-n // 2)
    return out


def _stack_level(axes, scale, k, zk):
    """NGFF's dataset of a stack's level ``k``: y and x scaled by ``2**k`` and z by
    ``2**zk`` (the times it was halved), each moved by half a level-``k`` voxel less half
    a full-size one (it covers that many full-size voxels along the axis)."""
    f = {"y": 2.0**k, "x": 2.0**k, "z": 2.0**zk}
    moves = [{"type": "scale", "scale": [scale[a] * f.get(a, 1.0) for a in axes]}]
    if k:
        shift = [scale[a] * (f.get(a, 1.0) - 1) / 2 for a in axes]
        moves.append({"type": "translation", "translation": shift})
    return {"path": str(k), "coordinateTransformations": moves}


def _datasets(levels, sy, sx, channel_first):
    """NGFF's ``datasets``: each level's path and coordinate transformations."""
    scale, shift = ([1.0], [0.0]) if channel_first else ([], [])
    datasets = []
    for k in range(levels):
        f = 2.0**k
        moves = [{"type": "scale", "scale": scale + [sy * f, sx * f]}]
        if k:  # level-k pixel i covers full-size pixels f*i .. f*i + f - 1: at their centre
            moves.append(
                {"type": "translation", "translation": shift + [sy * (f - 1) / 2, sx * (f - 1) / 2]}
            )
        datasets.append({"path": str(k), "coordinateTransformations": moves})
    return datasets


OME_ZARR = OmeZarrBackend()
