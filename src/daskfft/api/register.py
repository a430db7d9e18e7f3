"""Image registration by phase correlation, sub-pixel by an upsampled cross-correlation.

The translation that registers ``moving`` with ``reference`` is the peak of
their phase correlation (the inverse FFT of the normalised cross-power
spectrum), found on the pixel grid and then refined on a grid ``upsample``
times finer around it by a matrix-multiply DFT (Guizar-Sicairos, Thurman and
Fienup, "Efficient subpixel image registration algorithms", Opt. Lett. 33,
2008).  Two things differ from the textbook method, both for images that
are not periodic and carry noise: both images are tapered to their mean at
the edges (a Tukey window), so the edges' jump does not correlate, and the
cross-power spectrum is weighted by a Gaussian low-pass (the Gaussian
transfer function of :func:`daskfft.lowpass`), so the noise that phase normalisation lifts at high
frequencies does not move the peak.  The sign convention is
scikit-image's ``phase_cross_correlation``: shifting ``moving`` by
``shift`` registers it with ``reference``.

Volumes (3 spatial axes, ``(z, y, x)``) are registered the same way in 3-D: an
N-D FFT, a Tukey taper per axis (their outer product), the Gaussian weight over
the 3-D frequency grid and the upsampled DFT refinement with one DFT matrix per
axis.  Which axes are space and which channels is told by ``channel_axis``, as
for the filters (:func:`daskfft.api.axes.array_axes`), never guessed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from daskfft.api.axes import UNSET, array_axes
from daskfft.kernels.phase import log_polar, rotate_zoom, tapered, upsampled_correlation
from daskfft.messages import api as msg
from daskfft.validate import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_WINDOW,
    check_confidence,
    check_flag,
    check_options,
    check_real,
    check_window,
)

__all__ = ["Registration", "register", "ShiftField", "shift_field"]


@dataclass(frozen=True)
class Registration:
    """The result of :func:`register`.

    Parameters
    ----------
    shift : tuple of float
        ``(dy, dx)`` in pixels, ``(dz, dy, dx)`` in voxels for a volume:
        shifting ``moving`` by it registers it with ``reference``
        (scikit-image's convention).
    confidence : float
        Height of the phase-correlation peak, 0 (none) to 1 (identical
        images).
    rotation : float or None
        Degrees, when asked: rotating ``moving`` by it (about its centre, as
        ``scipy.ndimage.rotate`` turns an array) registers it, before
        ``shift``.
    scale : float or None
        When asked: zooming ``moving`` by it about its centre registers it.
    """

    shift: tuple  # (dy, dx) or (dz, dy, dx): shifting ``moving`` by it registers it
    confidence: float  # height of the phase-correlation peak, 0 (none) to 1 (identical images)
    rotation: float | None = None  # degrees, when asked: rotating ``moving`` by it (about its
    # centre, as scipy.ndimage.rotate turns an array) registers it, before ``shift``
    scale: float | None = None  # when asked: zooming ``moving`` by it about its centre registers it


def register(reference, moving, *, upsample=100, taper=0.2, weight_cutoff=0.1,
             rotation=False, scale=False, channel_axis=UNSET):  # fmt: skip
    """The translation that registers ``moving`` with ``reference``, to ``1 / upsample`` px.

    Parameters
    ----------
    reference, moving : array-like
        Same shape: 2 or 3 spatial axes (an image ``(y, x)`` or a volume
        ``(z, y, x)``), and optionally a channel axis (``channel_axis``) whose
        channels are averaged; NumPy or dask (computed: the pair must fit in
        memory).
    upsample : int, default 100
        The peak is refined on a grid this many times finer than a pixel.
    taper : float, default 0.2
        Fraction of each axis tapered to the image's mean (Tukey window); 0 for none.
    weight_cutoff : float or None, default 0.1
        Cutoff (cycles/pixel) of the Gaussian low-pass that weights the
        normalised cross-power spectrum; None for plain phase correlation.
    rotation, scale : bool, default False
        Also find the rotation and/or the scale between the images
        (Fourier-Mellin: the phase correlation of their FFT magnitudes on a
        log-polar grid, 1024 x 1024, refined like the shift); ``moving`` is
        turned and zoomed back about its centre before its ``shift`` is found.
        The angle's 180-degree ambiguity is settled by the stronger
        correlation of the two candidates.  Images only: refused for a volume.
    channel_axis : int or None, optional
        Which axis holds channels (scikit-image's convention), averaged into
        one gray plane or volume; None: every axis is spatial.  Not given, as
        for the filters: a 2-D array is an image and a 3-D array a volume,
        except that a 3-D array whose last axis is at most 4 long (colours?)
        is refused with what to pass, as is a 4-D array.

    Returns
    -------
    Registration
        ``shift`` (dy, dx), or (dz, dy, dx) for a volume, and ``confidence``.

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it, the value given and what is allowed;
        for axes that are not told (see ``channel_axis``), saying what to pass.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> rng = np.random.default_rng(0)
    >>> reference = ndimage.gaussian_filter(rng.random((128, 128)), 1)
    >>> moving = ndimage.shift(reference, (-3.25, 1.5), mode="reflect")
    >>> [round(float(s), 1) for s in register(reference, moving).shift]
    [3.2, -1.5]
    """
    upsample, taper, weight_cutoff = check_options(upsample, taper, weight_cutoff)
    rotation, scale = check_flag("rotation", rotation), check_flag("scale", scale)
    ref, mov = _gray_pair(reference, moving, channel_axis)
    if rotation or scale:
        if ref.ndim == 3:
            name = "rotation" if rotation else "scale"
            raise ValueError(msg.VOLUME_NOT_TURNED.format(name=name, shape=ref.shape))
        options = {"upsample": upsample, "taper": taper, "weight_cutoff": weight_cutoff}
        return _register_turned(ref, mov, rotation, scale, **options)
    cross = _weighted_cross_power(ref, mov, taper, weight_cutoff)
    total = np.abs(cross).sum()
    peak, height = _correlation_peak(cross, upsample)
    confidence = float(height * cross.size / total) if total > 0 else 0.0
    return Registration(tuple(float(p) for p in peak), confidence)


def _checked(name, image):
    """An image or volume named ``name`` checked: real, of 2 to 4 axes (which are space is
    for :func:`~daskfft.api.axes.array_axes` to tell); not computed."""
    image = check_real(name, image)
    if image.ndim not in (2, 3, 4):
        raise ValueError(msg.REGISTER_NDIM.format(name=name, ndim=image.ndim, shape=image.shape))
    return image


def _spatial(image, axes):
    """``image`` (NumPy or dask) with its spatial axes in their order, its channels averaged
    (the gray rule of :func:`daskfft.kernels.phase.gray`: their plain mean)."""
    image = image.transpose(axes.order)
    return image if axes.channel is None else image.mean(axis=-1)


def _gray_pair(reference, moving, channel_axis):
    """Both images checked, of the same shape, computed, gray, as float64 NumPy arrays with
    their 2 or 3 spatial axes in order."""
    reference, moving = _checked("reference", reference), _checked("moving", moving)
    if reference.shape != moving.shape:
        raise ValueError(msg.SHAPES_DIFFER.format(reference=reference.shape, moving=moving.shape))
    axes = array_axes(reference.shape, channel_axis)
    return tuple(
        _spatial(np.asarray(_computed(x), dtype=np.float64), axes) for x in (reference, moving)
    )


def _register_turned(ref, mov, rotation, scale, *, upsample, taper, weight_cutoff):
    """Find the rotation and/or scale, then the shift of ``mov`` turned and zoomed back."""
    degrees, factor = _rotation_and_scale(ref, mov, upsample)
    degrees, factor = (degrees if rotation else 0.0), (factor if scale else 1.0)
    candidates = (
        [degrees, degrees - 180 if degrees > 0 else degrees + 180] if rotation else [degrees]
    )
    found, d = max(
        (
            (
                register(
                    ref,
                    rotate_zoom(mov, -d, 1 / factor),
                    upsample=upsample,
                    taper=taper,
                    weight_cutoff=weight_cutoff,
                ),
                d,
            )
            for d in candidates
        ),
        key=lambda pair: pair[0].confidence,
    )
    return Registration(
        found.shift, found.confidence, -d if rotation else None, 1 / factor if scale else None
    )


def _weighted_cross_power(ref, mov, taper, weight_cutoff):
    """The normalised cross-power spectrum of the tapered images, Gaussian-weighted if asked."""
    cross = np.fft.fftn(tapered(ref, taper)) * np.conj(np.fft.fftn(tapered(mov, taper)))
    cross /= np.maximum(np.abs(cross), 1e-300)
    if weight_cutoff is not None:
        grid = np.meshgrid(*(np.fft.fftfreq(n) ** 2 for n in ref.shape), indexing="ij", sparse=True)
        cross *= np.exp(-sum(grid[1:], grid[0]) / (2 * weight_cutoff**2))
    return cross


def _correlation_peak(cross, upsample):
    """The phase correlation's peak ((dz,) dy, dx) and height, refined ``upsample`` times
    finer."""
    corr = np.fft.ifftn(cross)
    peak = np.array(np.unravel_index(np.argmax(np.abs(corr)), corr.shape), dtype=np.float64)
    shape = np.array(corr.shape)
    peak[peak > shape // 2] -= shape[peak > shape // 2]
    height = np.abs(corr).max()
    if upsample > 1:
        size = int(np.ceil(upsample * 1.5))
        start = peak - (size // 2) / upsample
        fine = upsampled_correlation(cross, start, upsample, size) / cross.size
        i = np.array(np.unravel_index(np.argmax(np.abs(fine)), fine.shape))
        peak = start + i / upsample
        height = np.abs(fine).max()
    return peak, height


@dataclass(frozen=True)
class ShiftField:
    """The local shifts of :func:`shift_field`: one shift and confidence per window.

    An image's field holds (dy, dx, confidence) per window, a volume's
    (dz, dy, dx, confidence).

    ``data`` is lazy (dask) as :func:`shift_field` returns it.  The first of
    ``.values``, ``.dz``, ``.dy``, ``.dx``, ``.confidence`` or ``.reliable``
    to be read computes it, once, on the current dask scheduler; the others
    reuse those NumPy values.  ``.compute()`` gives a field whose ``data`` is
    NumPy.

    Parameters
    ----------
    data : dask.array.Array or numpy.ndarray
        ``(len(rows), len(cols), 3)``: dy, dx and confidence per window; for
        a volume ``(len(planes), len(rows), len(cols), 4)``: dz, dy, dx and
        confidence.
    rows, cols : numpy.ndarray
        The windows' centres along y and x, in pixels.
    window : int
        The windows' edge in pixels.
    min_confidence : float
        A window is reliable from this correlation peak on.
    planes : numpy.ndarray or None, default None
        A volume's windows' centres along z, in voxels; None for an image.
    """

    data: object  # (rows, cols, 3) or (planes, rows, cols, 4) array, dask until computed
    rows: np.ndarray  # the windows' centres, in pixels of the image
    cols: np.ndarray
    window: int
    min_confidence: float
    planes: np.ndarray | None = None  # a volume's windows' centres along z; None for an image

    @cached_property
    def values(self):
        """``data`` as NumPy, read-only: computed at the first access only."""
        import dask

        values = np.array(dask.compute(self.data)[0])  # a copy, then read-only: the cache
        values.flags.writeable = False
        return values

    def compute(self):
        """The same field with its values computed (NumPy)."""
        return dataclasses.replace(self, data=self.values)

    @property
    def dz(self):
        """A volume's windows' plane shifts in voxels (NaN where a window was too small or flat).

        An image's field has none: AttributeError."""
        if self.planes is None:
            raise AttributeError(msg.FIELD_HAS_NO_DZ)
        return self.values[..., 0]

    @property
    def dy(self):
        """The windows' row shifts in pixels (NaN where a window was too small or flat)."""
        return self.values[..., -3]

    @property
    def dx(self):
        """The windows' column shifts in pixels (NaN where a window was too small or flat)."""
        return self.values[..., -2]

    @property
    def confidence(self):
        """The windows' correlation peak heights, 0 to 1 (NaN where ``dy`` is)."""
        return self.values[..., -1]

    @property
    def reliable(self):
        """Windows whose correlation peak reaches ``min_confidence`` (a textured window)."""
        return self.values[..., -1] >= self.min_confidence


def _window_shift(ref, mov, *, upsample, taper, weight_cutoff, smallest):
    out = np.full((1,) * ref.ndim + (ref.ndim + 1,), np.nan)
    big = all(n >= m for n, m in zip(ref.shape, smallest))
    if big and np.ptp(ref) > 0 and np.ptp(mov) > 0:
        found = register(
            ref, mov, upsample=upsample, taper=taper, weight_cutoff=weight_cutoff, channel_axis=None
        )
        out[(0,) * ref.ndim] = (*found.shift, found.confidence)
    return out


def shift_field(reference, moving, *, window=DEFAULT_WINDOW, upsample=20, taper=0.2,
                weight_cutoff=0.1, min_confidence=DEFAULT_MIN_CONFIDENCE,
                channel_axis=UNSET):  # fmt: skip
    """The local shift of every ``window`` x ``window`` window over a grid, lazily.

    Each window of ``moving`` is registered with the same window of
    ``reference`` (:func:`register`), one task per window, so a gigapixel
    pair runs in memory bounded by a window per thread (the tile-wise
    approach of AROSICS for satellite co-registration).  Windows smaller than
    a quarter of ``window`` (at the far edges) or without any contrast are
    NaN.  ``reliable`` marks the windows whose correlation peak reaches
    ``min_confidence``: a flat or featureless window (water, cloud, an empty
    slide) correlates weakly and its shift means little.  The default 0.7
    was chosen on the test's warped photograph (noise of 4 gray levels):
    there the windows above it are off by 0.07 px RMS, those between 0.2 and
    0.7 by up to 1.8 px (sky, and content reflected in at the edges).

    A volume's windows are ``window`` voxels along each axis.  An axis
    shorter than that is one window deep (the window spans it), and an axis
    shorter than a quarter of ``window`` (or 16) is measured whole rather than
    left NaN: volumes are often thin in z.  Its shift along such an axis
    rests on few voxels; a window of ``window ** 3`` voxels takes about
    ``40 * window ** 3`` bytes of memory while it is registered.

    Parameters
    ----------
    reference, moving : array-like
        Same shape: 2 or 3 spatial axes (an image ``(y, x)`` or a volume
        ``(z, y, x)``), and optionally a channel axis (``channel_axis``) whose
        channels are averaged; NumPy or dask.
    window : int, default 256
        Window edge in pixels (voxels, per axis, in a volume); the shift of a
        window is the mean over it.
    upsample : int, default 20
        Each window's peak is refined on a grid this many times finer than a
        pixel.
    taper : float, default 0.2
        Fraction of each window's axes tapered to its mean (Tukey window); 0
        for none.
    weight_cutoff : float or None, default 0.1
        Cutoff (cycles/pixel) of the Gaussian low-pass that weights the
        normalised cross-power spectrum; None for plain phase correlation.
    min_confidence : float, default 0.7
        A window is ``reliable`` from this correlation peak on.
    channel_axis : int or None, optional
        Which axis holds channels, averaged; None: every axis is spatial.  Not
        given, as for :func:`register` and the filters: a 2-D array is an
        image, a 3-D array a volume, except that a 3-D array whose last axis is
        at most 4 long, or a 4-D array, is refused with what to pass.

    Returns
    -------
    ShiftField
        Lazy; ``.compute()`` gives its values; ``.dy``, ``.dx`` (``.dz`` for a
        volume), ``.confidence`` and ``.reliable`` are NumPy, computed once at
        the first of them read; ``.rows`` and ``.cols`` (``.planes``) are the
        windows' centres.
    """
    window, min_confidence = check_window(window), check_confidence(min_confidence)
    upsample, taper, weight_cutoff = check_options(upsample, taper, weight_cutoff)
    ref, mov = _gray_windows(reference, moving, window, channel_axis)
    options = {"upsample": upsample, "taper": taper, "weight_cutoff": weight_cutoff}
    data = _window_shifts(ref, mov, window, **options)
    centres = [np.cumsum((0,) + c[:-1]) + np.asarray(c) / 2 for c in ref.chunks]
    planes = centres.pop(0) if ref.ndim == 3 else None
    return ShiftField(data, centres[0], centres[1], window, min_confidence, planes)


def _gray_windows(reference, moving, window, channel_axis):
    """Both images checked, as dask arrays of the same shape, gray, spatial axes in order, in
    chunks of ``window`` (a volume's axis shorter than it in one chunk)."""
    import dask.array as da

    ref, mov = (
        da.asarray(_checked(name, x)) for name, x in (("reference", reference), ("moving", moving))
    )
    if ref.shape != mov.shape:
        raise ValueError(msg.SHAPES_DIFFER.format(reference=ref.shape, moving=mov.shape))
    axes = array_axes(ref.shape, channel_axis)
    ref, mov = _spatial(ref, axes), _spatial(mov, axes)
    return ref.rechunk(window), mov.rechunk(window)


def _smallest(shape, window):
    """The least extent, per axis, of a window that is measured: a quarter of ``window`` (16
    at least); in a volume no more than the axis (a thin axis is measured whole)."""
    least = max(16, window // 4)
    return (least,) * 2 if len(shape) == 2 else tuple(min(least, n) for n in shape)


def _window_shifts(ref, mov, window, *, upsample, taper, weight_cutoff):
    """The lazy ((dz,) dy, dx, confidence) of each chunk-window: one :func:`register` task
    each."""
    import dask.array as da

    grid = tuple((1,) * len(c) for c in ref.chunks)
    return da.map_blocks(
        _window_shift,
        ref,
        mov,
        dtype=np.float64,
        chunks=(*grid, (ref.ndim + 1,)),
        new_axis=ref.ndim,
        upsample=upsample,
        taper=taper,
        weight_cutoff=weight_cutoff,
        smallest=_smallest(ref.shape, window),
    )


def _rotation_and_scale(ref, mov, upsample):
    """Fourier-Mellin: rotation and scale are shifts of the log-polar FFT magnitudes, which
    a translation leaves alone.  Returns (degrees, scale) that turn ``reference`` into
    ``moving``; the angle is known modulo 180 degrees."""
    n_theta, n_radius, radii = 1024, 1024, (0.02, 0.45)
    found = register(
        log_polar(ref, n_theta, n_radius, radii),
        log_polar(mov, n_theta, n_radius, radii),
        upsample=upsample,
        weight_cutoff=None,
    )
    step = np.log(radii[1] / radii[0]) / (n_radius - 1)
    return found.shift[0] * 180 / n_theta, float(np.exp(found.shift[1] * step))


def _computed(image):
    """A dask ``image`` computed (registration works on the whole of it); NumPy as it is."""
    return image.compute() if hasattr(image, "compute") else image
