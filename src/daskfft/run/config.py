"""What a run is asked to do: one frozen value, validated once, from the API or the CLI.

:class:`RunConfig` holds the filter (a :class:`~daskfft.kernels.spec.FilterSpec`),
the input, the outputs, the chunk size and the cluster (a
:class:`~daskfft.cluster.kinds.ClusterSpec`).  It reads no file: that is the plan's
job (:mod:`daskfft.run.plan`), so every error raised here is a usage error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from daskfft.cluster.kinds import ClusterSpec
from daskfft.io import COMPRESSIONS, OUTPUT_FORMATS
from daskfft.kernels.spec import FilterSpec
from daskfft.messages import run as msg
from daskfft.run.outputs import SPECTRA_CHOICES, parse_creation_options
from daskfft.validate import (
    check_axes,
    check_choice,
    check_input_path,
    check_positive_int,
    check_positive_number,
    check_storage_options,
    check_url,
)

__all__ = ["RunConfig"]


@dataclass(frozen=True)
class RunConfig:
    """A run's request: the filter, input, outputs, chunks and cluster, all validated.

    ``order``, ``compression`` and the cluster sizes keep None when not
    given, so that the plan can say when a given value goes unused.
    """

    filter: FilterSpec
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    input: str | None = None
    axes: str | None = None  # --axes: a plain Zarr array's, where it names no dims
    storage_options: tuple = ()  # --storage-option KEY=VALUE, or a dict: a URL input's
    physical_sigma: float | tuple | None = None  # in the input's units: pixels by its spacing
    sample: int | None = None
    outdir: str = "daskfft-out"
    chunks: int | None = None  # None: from the image's size (run.grid.default_chunks)
    output_format: str | None = None
    compression: str | None = None
    creation_options: tuple = ()  # --co KEY=VALUE, or a dict
    spectra: str = "atlas"
    plots: bool = True
    overwrite: bool = False
    resume: bool = False
    progress: bool = False
    performance_report: bool | None = None
    measure_deviation: bool = False
    order_given: bool = False

    def __post_init__(self):
        if (self.input is None) == (self.sample is None):
            raise ValueError(msg.ONE_INPUT)
        if self.sample is not None:
            object.__setattr__(self, "sample", check_positive_int("sample", self.sample))
        object.__setattr__(self, "axes", check_axes(self.axes))
        object.__setattr__(self, "storage_options", check_storage_options(self.storage_options))
        if self.axes is not None and self.sample is not None:
            raise ValueError(msg.AXES_OF_SAMPLE)
        if self.physical_sigma is not None:
            self._check_physical_sigma()
        if self.chunks is not None:
            object.__setattr__(self, "chunks", check_positive_int("chunks", self.chunks))
        if self.output_format is not None:
            check_choice("output_format", self.output_format, OUTPUT_FORMATS)
        if self.compression is not None:
            check_choice("compression", self.compression, COMPRESSIONS)
        co = self.creation_options
        pairs = (
            [f"{k}={v}" for k, v in co.items()]
            if isinstance(co, dict)
            else [p if isinstance(p, str) else "=".join(map(str, p)) for p in co or ()]
        )
        object.__setattr__(self, "creation_options", parse_creation_options(pairs))
        check_choice("spectra", self.spectra, SPECTRA_CHOICES)
        if not isinstance(self.outdir, (str, os.PathLike)) or not str(self.outdir):
            raise ValueError(msg.OUTDIR_NOT_A_PATH.format(outdir=self.outdir))

    def _check_physical_sigma(self):
        """A physical sigma: positive numbers, for a Gaussian low- or high-pass of a file."""
        value = self.physical_sigma
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if len(values) > 3:
            raise ValueError(msg.PHYSICAL_TOO_MANY.format(count=len(values)))
        values = tuple(check_positive_number(v) for v in values)
        if self.sample is not None:
            raise ValueError(msg.PHYSICAL_OF_SAMPLE)
        if self.filter.filter != "gaussian" or self.filter.band == "band":
            raise ValueError(
                msg.PHYSICAL_GAUSSIAN.format(filter=self.filter.filter, band=self.filter.band)
            )
        object.__setattr__(self, "physical_sigma", values[0] if len(values) == 1 else values)

    @classmethod
    def create(cls, input=None, outdir="daskfft-out", **options):
        """A config from loose keywords, as :func:`daskfft.run.pipeline.run` takes them.

        Those of :data:`FILTER_KEYWORDS` make the filter
        (:meth:`~daskfft.kernels.spec.FilterSpec.create`), those of
        :data:`CLUSTER_KEYWORDS` the cluster (:class:`~daskfft.cluster.kinds.ClusterSpec`,
        ``cluster`` its kind), the others are this class's fields.
        """
        check_input_path("INPUT", input)
        check_url("OUTDIR", outdir)
        filtering = {k: options.pop(k) for k in FILTER_KEYWORDS if k in options}
        where = {k: options.pop(k) for k in CLUSTER_KEYWORDS if k in options}
        _physical_sigma_fits(
            options.get("physical_sigma"),
            filtering.get("filter", "gaussian"),
            filtering.get("band", "low"),
        )
        spec = FilterSpec.create(**filtering)
        where["slurm"] = where.get("slurm") or ()
        return cls(
            spec,
            ClusterSpec(where.pop("cluster", "auto"), **where),
            input=None if input is None else os.fspath(input),
            outdir=os.fspath(outdir),
            order_given=filtering.get("order") is not None,
            **options,
        )


#: :meth:`RunConfig.create`'s keywords that make its filter, as
#: :meth:`~daskfft.kernels.spec.FilterSpec.create` takes them (its defaults).
FILTER_KEYWORDS = (
    "cutoff",
    "sigma",
    "band",
    "flatfield",
    "filter",
    "order",
    "depth",
    "tol",
    "boundary",
    "nodata",
    "method",
)

#: :meth:`RunConfig.create`'s keywords that make its cluster: ``cluster`` (the kind) and
#: :class:`~daskfft.cluster.kinds.ClusterSpec`'s fields (its defaults).
CLUSTER_KEYWORDS = (
    "cluster",
    "workers",
    "threads_per_worker",
    "memory_limit",
    "dashboard",
    "dashboard_address",
    "connect_timeout",
    "tls",
    "slurm",
)


def _physical_sigma_fits(physical_sigma, filter, band):
    """Refuse a physical sigma for anything but a Gaussian low- or high-pass: before the
    filter is made, whose own refusal (no cutoff for a band-pass) would not name it."""
    if physical_sigma is not None and (band == "band" or filter != "gaussian"):
        raise ValueError(msg.PHYSICAL_GAUSSIAN.format(filter=filter, band=band))
