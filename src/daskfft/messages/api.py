"""What the lazy API says to its user: its validators' refusals, its errors and warnings.

The validators (:mod:`~daskfft.validate`), the package's exception types
(:mod:`~daskfft.errors`), the kernels (:mod:`~daskfft.kernels`) and the lazy API
(:mod:`~daskfft.api`) fill them in.  A validator's message names the argument
(``{name}``), the rule and the value given.
"""

from __future__ import annotations

# --- validate ----------------------------------------------------------------------------------

NOT_AN_INTEGER = "`{name}` must be an integer >= {minimum}, got {value!r}"
CUTOFF_NOT_A_NUMBER = "`{name}` must be a number in (0, 0.5] cycles/pixel, got {value!r}"
CUTOFF_OUT_OF_RANGE = "`{name}` must be in (0, 0.5] cycles/pixel, got {value}"
SIGMA_NOT_POSITIVE = "`sigma` must be a positive number of pixels, got {value!r}"
SIGMA_TOO_SMALL = "`sigma` must be >= 1/pi = 0.318 pixels (cutoff <= 0.5 cycles/pixel), got {value}"
NOT_ONE_OF = "`{name}` must be one of {choices}, got {value!r}"
TOL_OUT_OF_RANGE = "`tol` must be in [1e-10, 0.5), got {value!r}"
BAD_SHAPE = (
    "`shape` must be two or three integers >= 1 ((rows, cols) or (planes, rows, cols)), "
    "got {value!r}"
)
NOT_A_FLOAT_DTYPE = "`dtype` must be float32 or float64, got {value!r}"
BAD_BOUNDARY = "`boundary` must be one of {choices} or a finite number, got {value!r}"
BAD_DEPTH = '`depth` must be "auto" or an integer >= 0, got {value!r}'
NODATA_NOT_A_NUMBER = "`nodata` must be a number or None, got {value!r}"
NOT_POSITIVE = "`{name}` must be a positive number, got {value!r}"
NOT_A_FRACTION = "`{name}` must be in [0, 1], got {value!r}"
NOT_A_FLAG = "`{name}` must be True or False, got {value!r}"
IMAGE_NOT_REAL = "`{name}` must hold integers or real floats, got dtype {dtype}"
IMAGE_NOT_2D_OR_3D = (
    "`{name}` must be 2-D (rows, cols) or 3-D (rows, cols, channels), "
    "got {ndim}-D with shape {shape}"
)
BAD_AXES = (
    "`axes` must be letters of t, c, z, y, x (each once, y and x among them), e.g. yxc, cyx "
    "or zyx, got {value!r}"
)
BAD_WINDOW = "`window` must be an integer >= 16 pixels, got {value!r}"
BAD_MIN_CONFIDENCE = "`min_confidence` must be in (0, 1], got {value!r}"
BAD_CONNECT_TIMEOUT = "`connect_timeout` must be a positive number of seconds, got {value!r}"

# --- errors ------------------------------------------------------------------------------------

TOO_FEW_RANKS = (
    "--cluster mpi needs at least {needed} MPI ranks (rank 0: scheduler and client; "
    "ranks 1..N-1: workers), found {found}; launch with mpiexec -n {needed} or more"
)

# --- kernels/transfer --------------------------------------------------------------------------

HALO_UNBOUNDED = (
    "the ideal filter's kernel is not absolutely summable, so no halo bounds the "
    "block-wise result's deviation from a whole-image filter; using the cap of "
    "{cap} px, and the deviation can only be measured (use the exact method "
    "for a whole-image result)"
)
HALO_CAPPED = (
    "the {filter} filter at cutoff {cutoff:g} needs a halo wider than the cap of "
    "{cap} px for tol={tol:g}; using {cap} px, so the block-wise result "
    "may differ from a whole-image filter by up to {deviation:.3g} x max|image| (use "
    "larger chunks, a smoother filter, or the exact method)"
)

CUTOFFS_PER_AXIS = (
    "`cutoff` gives {count} values but the image has {ndim} spatial axes: give one value, "
    "or one per spatial axis in their order"
)
CUTOFF_PER_AXIS_SHORT = (
    "`{name}` must be one number, or one per spatial axis (2 or 3), got {value!r}"
)
GAUSSIAN_ONLY_ND = (
    "the {filter} filter on {ndim} spatial axes or with a cutoff per axis has no halo rule "
    "yet: use filter='gaussian' (separable, its halo bounded per axis)"
)

# --- kernels/spec ------------------------------------------------------------------------------

BAND_NEEDS_LOW_CUTOFF = "a band-pass needs two cutoffs: `low_cutoff` and `cutoff`"
BAND_EDGES_REVERSED = (
    "a band-pass's lower cutoff must be below its upper one, got {low:g} and {high:g} cycles/px"
)
LOW_CUTOFF_NOT_BAND = "`low_cutoff` is for the band-pass only, not a {band}-pass"
FLATFIELD_NOT_LOW = (
    "a flat-field correction divides by (or subtracts) a low-pass, not a {band}-pass"
)
CUTOFF_AND_SIGMA = "give `cutoff` or `sigma`, not both"
SIGMA_NOT_GAUSSIAN = "`sigma` applies to the gaussian filter only, not {filter!r}; give a cutoff"
BAND_NEEDS_VALUES = "a band-pass needs two cutoffs (or two sigmas), got none"
BAND_TWO_VALUES = "a {band}-pass needs two values of `{name}`, got {count}"

# --- api/lowpass -------------------------------------------------------------------------------

IMAGE_EMPTY = "`image` must not be empty, got shape {shape}"
EXACT_2D_ONLY = (
    "method='exact' filters 2-D images with one cutoff; for {what} use "
    "method='blockwise' (its deviation is bounded per axis: see its halo)"
)

# --- api/axes ----------------------------------------------------------------------------------

TOO_MANY_DIMS = (
    "`image` must have at most one channel dim (band, c, channel) and one time dim (t, time), "
    "got dims {dims}"
)
DIM_UNKNOWN = (
    "`image` has a dim {dim!r} that is none of band/c/channel (channels), t/time (frames) "
    "or z/y/x (space), dims {dims}: rename it, or pass channel_axis={dim!r} for channels"
)
CHANNELS_AMBIGUOUS = (
    "`image` has shape {shape}: is its last axis colour channels or a third spatial axis? "
    "pass channel_axis=-1 for channels (each filtered alone) or channel_axis=None for a "
    "volume (z, y, x)"
)
FOUR_D_NEEDS_CHANNEL_AXIS = (
    "`image` has shape {shape}, four axes: pass channel_axis= for the channel axis of a "
    "(c, z, y, x) or (z, y, x, c) volume, or give an xarray.DataArray with named dims"
)
CHANNEL_AXIS_NOT_AN_AXIS = (
    "`channel_axis` must be None or an axis of a {ndim}-D array (or a dim name), got {value!r}"
)
SPATIAL_AXES = "`image` must have 2 or 3 spatial axes (y, x or z, y, x), got {count} in {found}"
SHAPE_ONLY = "shape {shape}"
SHAPE_AND_DIMS = "shape {shape} with dims {dims}"

# --- api/bands ---------------------------------------------------------------------------------

BAND_EDGES_NOT_ORDERED = "`low` must be below `high`, got low={low}, high={high}"
BAND_HALO_NOTE = " ({band}-pass: bound {deviation:.2g})"

# --- api/spectra -------------------------------------------------------------------------------

BAD_CELL = '`cell` must be "auto" or an integer >= 1, got {value!r}'

# --- api/register ------------------------------------------------------------------------------

SHAPES_DIFFER = "reference and moving differ in shape: {reference} and {moving}"

# --- kernels/block: the working precision, as report.json gives its reason -------------------

PRECISION_FLOAT32 = "float32 input"
PRECISION_LEVELS = (
    "{bits}-bit input, rounded to whole levels: float32 rounding is far below half a level"
)
PRECISION_WIDE = "{dtype} input"
PRECISION_TOL = "{dtype} input, tol below 1e-7"

# --- api/register (volumes) --------------------------------------------------------------------

REGISTER_NDIM = (
    "`{name}` must be 2-D (rows, cols) or 3-D (planes, rows, cols), with one axis more "
    "for channels (channel_axis=), got {ndim}-D with shape {shape}"
)
VOLUME_NOT_TURNED = (
    "`{name}` must be False for a volume (rotation and scale are found in 2-D only), "
    "got {name}=True with shape {shape}"
)
FIELD_HAS_NO_DZ = (
    "a 2-D shift field has no `dz`: its data are (rows, cols, 3), dy, dx and confidence; "
    "a volume's field (planes, rows, cols, 4) has"
)

# --- api/spectra (volumes) ---

SPECTRA_NOT_A_SPECTRA_ARRAY = (
    "`spec` must be the 2-D or 3-D dask array returned by daskfft.spectra, "
    "got {type} of {ndim} dimensions"
)
SPECTRA_NO_FRAMES = (
    "`image` has a time dim (dims {dims}): spectra are taken per chunk of one image or "
    "volume; select one frame first, e.g. image.isel({dim}=0)"
)
URL_PATH = (
    "{name} {url}: a URL where a local path is needed (daskfft run's INPUT and OUTDIR take "
    "URLs; this does not): {advice} (a mounted bucket is a local path)"
)
URL_READ = "copy it to a local path first"
BAD_STORAGE_OPTION = "storage option {text!r}: expected KEY=VALUE (fsspec's option names)"
URL_WITH_SECRETS = (
    "{name} {url}: a URL with credentials in it (a user, a password, a query or an anchor) is "
    "refused, as it would be written into logs and report.json: give them as AWS_* "
    "variables, AWS_PROFILE or ~/.aws/credentials"
)
URL_WRITE = "write to a local path, then copy it there"
