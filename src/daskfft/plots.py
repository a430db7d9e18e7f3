"""Pictures of what the filter did: overview, radial power spectrum, labelled spectra atlas.

Made with matplotlib's object API (no pyplot state, no display needed) from
the small per-chunk summaries the tasks saved, so pictures of a gigapixel
run cost no more than those of a small one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["overview", "radial_spectrum", "atlas"]


def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("pictures need matplotlib: pip install matplotlib "
                          "(or pass --no-plots)") from None
    # Fixed margins, not layout="constrained": measured here, the constrained
    # layout took 0.45 s of a 0.8 s overview.  Titles are placed at y=1.01
    # for the same reason: placed automatically, they measured every tick
    # label of the figure (0.33 s of the three pictures).
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    # zlib level 1: a third of the time of the default level, for somewhat larger files.
    fig.savefig(path, pil_kwargs={"compress_level": 1})
    return str(path)


def _display(x, dtype):
    """An image ready for imshow: RGB uint8 as it is (holes, NaN, transparent), anything else
    as gray, 1-99.8 % stretched."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[2] == 3 and np.dtype(dtype) == np.uint8:
        if x.dtype == np.uint8:  # no holes
            return x, {}
        holes = np.isnan(x).any(axis=2)
        rgb = np.clip(np.nan_to_num(x), 0, 255).astype(np.uint8)
        return np.dstack([rgb, np.where(holes, 0, 255).astype(np.uint8)]), {}
    g = x.astype(np.float64).mean(axis=2) if x.ndim == 3 else x.astype(np.float64)
    finite = g[np.isfinite(g)]
    lo, hi = np.percentile(finite, [1, 99.8]) if finite.size > 1 else (0.0, 1.0)
    return g, {"cmap": "gray", "vmin": lo, "vmax": hi if hi > lo else lo + 1}


def _holes(x, nodata):
    """``x`` as float32 with NaN where it equals ``nodata`` (or is NaN)."""
    x = np.array(x, dtype=np.float32)
    x[np.isnan(x) if np.isnan(nodata) else x == nodata] = np.nan
    return x


def _limit(diff):
    """The colour limit of a difference picture: its 99.5th percentile of magnitude."""
    finite = np.abs(diff[np.isfinite(diff)])
    return (float(np.percentile(finite, 99.5)) if finite.size else 0.0) or 1.0


def _gray(x):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=2) if x.ndim == 3 else x


def overview(path, thumb_in, thumb_out, step, crop_in, crop_out, crop_box, *, dtype, title,
             nodata=None, offset=0):
    """Input, filtered and their difference, whole (every ``step``-th pixel) and in a crop.

    Pixels equal to ``nodata`` are left blank and out of the contrast stretch.
    ``offset`` (a high-pass's mid-gray) is taken off the filtered image in
    the difference, which then shows what the filter removed.
    """
    if nodata is not None:
        thumb_in, thumb_out, crop_in, crop_out = (
            _holes(x, nodata) for x in (thumb_in, thumb_out, crop_in, crop_out))
    fig = _figure(15, 10)
    axes = fig.subplots(2, 3, gridspec_kw=dict(left=0.03, right=0.97, bottom=0.04, top=0.9,
                                               wspace=0.18, hspace=0.22))
    diff = _gray(thumb_in) - (_gray(thumb_out) - offset)
    lim = _limit(diff)
    r0, r1, c0, c1 = crop_box
    for ax, data, name in zip(axes[0], (thumb_in, thumb_out), ("input", "filtered")):
        img, kw = _display(data, dtype)
        ax.imshow(img, interpolation="nearest", **kw)
        ax.set_title(f"{name}, {step}x reduced" if step > 1 else name, y=1.01)
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((c0 / step, r0 / step), (c1 - c0) / step, (r1 - r0) / step,
                               fill=False, edgecolor="yellow", linewidth=1.5))
    im = axes[0, 2].imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    axes[0, 2].set_title("input - filtered (what was taken out)", y=1.01)
    fig.colorbar(im, ax=axes[0, 2], shrink=0.8)
    cdiff = _gray(crop_in) - (_gray(crop_out) - offset)
    for ax, data, name in zip(axes[1], (crop_in, crop_out), ("input", "filtered")):
        img, kw = _display(data, dtype)
        ax.imshow(img, interpolation="nearest", extent=(c0, c1, r1, r0), **kw)
        ax.set_title(f"{name}, rows {r0}-{r1}, cols {c0}-{c1} (full resolution)", y=1.01)
    clim = _limit(cdiff)
    im = axes[1, 2].imshow(cdiff, cmap="RdBu_r", vmin=-clim, vmax=clim, interpolation="nearest",
                           extent=(c0, c1, r1, r0))
    axes[1, 2].set_title("input - filtered, crop", y=1.01)
    fig.colorbar(im, ax=axes[1, 2], shrink=0.8)
    for ax in axes.ravel():
        # The titles give the coordinates; tick labels in thumbnail pixels would
        # mislead, and the six panels' ticks were 0.15 s of a 0.33 s picture.
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return _save(fig, path)


def radial_spectrum(path, edges, power_in, power_out, *, spec, title):
    """Radially averaged power of input and output (log scale), with the transfer function
    of ``spec`` (a :class:`~daskfft.params.FilterSpec`, any pass band) and its cutoffs."""
    fig = _figure(9, 5.5)
    ax = fig.subplots(gridspec_kw=dict(left=0.1, right=0.9, bottom=0.11, top=0.88))
    f = 0.5 * (edges[1:] + edges[:-1])
    keep = np.isfinite(power_in) & (power_in > 0)
    ax.semilogy(f[keep], power_in[keep], label="input", color="tab:blue")
    keep_out = np.isfinite(power_out) & (power_out > 0)
    ax.semilogy(f[keep_out], power_out[keep_out], label="filtered", color="tab:orange")
    for cutoff in (spec.cutoff,) if spec.band != "band" else (spec.low_cutoff, spec.cutoff):
        ax.axvline(cutoff, color="k", linestyle="--", linewidth=1, label=f"cutoff {cutoff:.3g}")
    ax.axvline(0.5, color="gray", linestyle=":", linewidth=1, label="Nyquist (0.5)")
    if keep.any():  # the filtered power falls as |H|**2: show six decades below the input
        top = max(power_in[keep].max(), power_out[keep_out].max(initial=0))
        ax.set_ylim(power_in[keep].min() * 1e-6, top * 10)
    from matplotlib.ticker import LogFormatter, NullFormatter

    # Plain "1e-05" labels: the default's mathtext took 0.07 s of a 0.3 s picture.
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("radial frequency (cycles/pixel)")
    ax.set_ylabel("mean power per frequency bin")
    ax.set_xlim(0, edges[-1])
    twin = ax.twinx()
    fine = np.linspace(0, edges[-1], 400)
    twin.plot(fine, spec.profile(fine), color="tab:green",
              label=f"H ({spec.filter} {spec.band}-pass{', the background' * bool(spec.flatfield)})")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("transfer function H", color="tab:green")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower left")
    ax.set_title(title.replace(" - ", "\n", 1), fontsize=9, y=1.01)
    return _save(fig, path)


def atlas(path, values, rows, cols, cell, *, title):
    """The spectra atlas with its chunk grid: one tile per chunk, labelled by row and column."""
    n0, n1 = len(rows) - 1, len(cols) - 1
    # The atlas's axes get one screen pixel per atlas pixel (at 100 dpi) up to 14
    # inches: fewer, and nearest-neighbour resampling would drop spectral peaks.
    scale = max(4.0, min(14.0, values.shape[1] / 100))
    width = max(6.5, scale + 2.4)
    height = (width - 2.4) * values.shape[0] / max(values.shape[1], 1) + 1.35
    bottom, top = 0.75 / height, 1 - 0.6 / height
    ax = (fig := _figure(width, height)).subplots(gridspec_kw=dict(
        left=0.9 / width, right=1 - 1.5 / width, bottom=bottom, top=top))
    # The colour bar in the right margin, not taken from the atlas's own width.
    bar = fig.add_axes((1 - 1.35 / width, bottom, 0.18 / width, top - bottom))
    lo, hi = np.percentile(values, [1, 99.9]) if values.size > 1 else (0, 1)
    im = ax.imshow(values, cmap="magma", vmin=lo, vmax=hi if hi > lo else lo + 1,
                   interpolation="nearest")
    for k in range(1, n0):
        ax.axhline(k * cell - 0.5, color="white", linewidth=0.6)
    for k in range(1, n1):
        ax.axvline(k * cell - 0.5, color="white", linewidth=0.6)
    every0, every1 = max(1, n0 // 16), max(1, n1 // 16)
    ax.set_yticks([(k + 0.5) * cell for k in range(0, n0, every0)],
                  [f"{k}\n(y {rows[k]})" for k in range(0, n0, every0)], fontsize=7)
    ax.set_xticks([(k + 0.5) * cell for k in range(0, n1, every1)],
                  [f"{k}\n(x {cols[k]})" for k in range(0, n1, every1)], fontsize=7)
    ax.set_ylabel("chunk row")
    ax.set_xlabel("chunk column")
    fig.colorbar(im, cax=bar, label="log1p |FFT| (zero frequency at tile centre)")
    ax.set_title(title.replace(" - ", "\n", 1), fontsize=9, y=1.01)
    return _save(fig, path)
