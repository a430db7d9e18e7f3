"""What a run tells the user: its refusals, errors, warnings, log lines and the notes it records.

The modules of :mod:`daskfft.run` fill them in: the plan and its chunk grid (the notes a run
logs and records as its ``choices``), the filter in words, the pipeline's log lines, the
outputs' creation options, the graph, the measured deviation, ``report.json``'s notes, the
``sample`` command and ``daskfft align``.
"""

from __future__ import annotations

# --- run/plan ----------------------------------------------------------------------------------

TASK_MEMORY = "{rows} x {cols} px with a {halo}-px halo, {bands} band(s) in {dtype}"
EXACT_NO_MASK = (
    "input {path}: --exact does not take a TIFF mask "
    "({mask}); run block-wise, or give the "
    "masked pixels a --nodata value"
)
MASK_INTERNAL = "its internal mask (page {page})"
MASK_KEPT_INTERNAL = "the output keeps it as its internal mask"
MASK_KEPT_SIDECAR = "the output keeps it in filtered.{ext}.msk"
MASK_AS_ALPHA = "the mask comes out as the last (alpha) channel"
MASK_NOTE = "{where}: masked pixels are left out like nodata, and {kept}"
MID_GRAY = (
    "the {band}-pass has negative values: mid-gray {offset} is added to "
    "fit them in {dtype}, as image editors show a high-pass "
    "(values beyond the range are clipped; a float input keeps its sign)"
)
SUMMARY_WINDOW = (
    "chunk spectra and radial power from the central {window} px of "
    "each {chunk}-px chunk: what the atlas and the radial "
    "plot resolve, for a fraction of the FFT work"
)
NO_REPORT_WITH_THREADS = (
    "--performance-report needs a distributed cluster; none is written with --cluster threads"
)
WRITTEN_WHOLE = (
    "output: {fmt} is written whole, and {megapixels:g} Mpx is above "
    "the cap of {cap:g} Mpx; use --output-format tiff or zarr"
)
ORDER_UNUSED = "--order {order} is unused: only the butterworth filter has an order"
DEPTH_UNUSED = "--depth {depth} is unused: --exact needs no halo"
COMPRESSION_UNUSED = (
    "--compression {compression} is unused: it applies to TIFF output, and this run writes {fmt}"
)
WORKERS_UNUSED_MPI = (
    "--workers {workers} is unused under MPI: every rank after rank 0 runs one worker"
)
EVERY_CORE = "every core"
WORKERS_BY_THREADS = "--workers {workers} x --threads-per-worker {threads}"
THREADED = "threaded scheduler in this process: {n} threads ({how})"
MEMORY_LIMIT_THREADS = "--memory-limit is unused with --cluster threads"
MEMORY_LIMIT_LOCAL = (
    "--memory-limit is unused with --cluster local (workers are threads of "
    "this process): --cluster processes gives each worker its limit"
)
NO_TLS_LOCAL = "--no-tls is unused with --cluster local: nothing listens on the network"
WORKERS_RUNNING_SCHEDULER = "--workers and --threads-per-worker are unused with a running scheduler"
DASHBOARD_ADDRESS = (
    "--dashboard-address applies to --cluster mpi; a local dashboard takes a free loopback port"
)
MEASURE_UNUSED_NODATA = (
    "--measure-deviation is unused with nodata: its full exact comparison "
    "does not leave the holes out"
)
MEASURED_INSTEAD = "; a few chunks are measured instead"
NO_BOUND = (
    "no bound: the ideal filter's kernel is not absolutely summable, so no "
    "halo bounds the block-wise result's deviation from a whole-image filter; "
    "it is measured on a few chunks, corners first (report.json's "
    "halo.measured_deviation); --measure-deviation measures every chunk (a "
    "full exact pass), or --exact removes it"
)
BOUNDED_NOT_MEASURED = (
    "the deviation from a whole-image filter is bounded, not measured: "
    "--measure-deviation measures it (a full exact pass), or --exact "
    "removes it"
)
OUTDIR_NOT_A_DIRECTORY = "output {outdir}: exists and is not a directory"
OUTDIR_UNDER_A_FILE = "output {outdir}: {anchor} is a file, not a directory"
OUTDIR_NOT_WRITABLE = "output {outdir}: {anchor} is not writable"

# --- run/grid ----------------------------------------------------------------------------------

LARGE_CHUNKS = (
    "chunks {want} px: the image holds at least {large_from} of them, "
    "and they spend less of each FFT on the {depth}-px halo than "
    "{default}-px ones ({more:.0%} more pixels, against {default_more:.0%}); "
    "--chunks sets them"
)
INPUT_TILES = "tiles"
INPUT_STORE_CHUNKS = "store chunks"
READS_ITS_OWN = "so each task reads only its own"
ALIGNED_TO_INPUT = (
    "chunks {rows} x {cols} px instead of {want}: whole "
    "{tile_rows} x {tile_cols} {unit} of the input "
    "(or the whole image), {reads}"
)
RAISED_TO_HALO = "chunks raised from {smallest} to {depth} px, the halo"
ALIGNED_TO_OUTPUT = (
    "chunks {rows} x {cols} px instead of {was_rows} x {was_cols}: whole "
    "{edge}-px tiles of the {kind} output "
    "({why}), so that no two tasks write the same tile; --co BLOCKSIZE "
    "sets the tile"
)
READS_NEIGHBOURS = (
    "then rounded to the output's tiles below, so a task also reads parts of its neighbours'"
)

# --- run/describe ------------------------------------------------------------------------------

FLATFIELD_LINE = "flat-field correction ({flatfield}) by the background, the {rest}"
BAND_PASS_LINE = "{filter} band-pass, {low:.4g} to {high:.4g} cycles/px"
DIFFERENCE_OF_GAUSSIANS = (
    " (difference of Gaussians, sigma {sigma_high:.3g} and {sigma_low:.3g} px)"
)
PASS_LINE = "{filter} {band}-pass, cutoff {cutoff} cycles/px"
SIGMA_PART = " (sigma {sigma} px)"
ORDER_PART = ", order {order}"
PLAN_EXACT = "{spec}, exact whole-image FFT"
PLAN_NO_BOUND = (
    "{spec}, halo {depth} px ({rule}), no bound on the deviation from a whole-image "
    "filter: measured below"
)
PLAN_BOUND = "{spec}, halo {depth} px ({rule}), expected max deviation {deviation:.2g} x max|image|"

# --- run/config --------------------------------------------------------------------------------

ONE_INPUT = "give exactly one of an input file and `sample`"
STACK_WHAT = "a stack ({axes}; planes {shape})"
STACK_EXACT = (
    "input {path}: {what}: the exact method filters 2-D images; the block-wise filter's "
    "bound holds per axis (leave out --exact)"
)
STACK_IDEAL = (
    "input {path}: {what}: the ideal filter has no bound, and a stack's deviation is not "
    "measured yet; use --filter gaussian or butterworth"
)
STACK_PERIODIC = (
    "input {path}: {what}: --boundary periodic of a stack is not made yet (reflect, "
    "nearest or a constant)"
)
STACK_FILTER = "input {path}: {what}: {said}"
STACK_AXES = (
    "axes: {together} filtered together; {alone} each alone; halo per axis {halo} px; "
    "the pictures show {shown}"
)
NOTHING = "no axis"
TIME_POINT = "time point"
Z_PLANE = "z plane"
STACK_ALPHA = "input {path}: {what}: an alpha channel in a stack is not passed through yet"
STACK_MEASURE = (
    "input {path}: a stack's deviation from a whole-volume filter is not measured yet: "
    "leave out --measure-deviation, and give --depth no narrower than --tol asks"
)
STACK_OUTPUT = (
    "input {path}: a stack (a volume or time series) is written as Zarr, OME-Zarr or "
    "OME-TIFF, not {fmt}: give --output-format zarr, ome-zarr or tiff"
)
VOLUME_CHUNKS = (
    "chunks: {want} voxels along z, y and x (a volume's default; --chunks sets all three)"
)
PHYSICAL_TOO_MANY = "--physical-sigma takes one value or one per spatial axis (2 or 3), got {count}"
PHYSICAL_OF_SAMPLE = "--physical-sigma needs an input file with a pixel size; the sample has none"
PHYSICAL_GAUSSIAN = (
    "--physical-sigma is a Gaussian low- or high-pass's; not the {filter} filter's "
    "{band}-pass (give --sigma or --cutoff in pixels)"
)
PHYSICAL_NO_SPACING = (
    "input {path}: --physical-sigma needs the file's pixel (voxel) size, and it gives none "
    "(OME-Zarr scale, OME-TIFF PhysicalSize, ImageJ spacing, GeoTIFF pixel size); give "
    "--sigma in pixels"
)
PHYSICAL_SIGMA = (
    "sigma {sigma} {unit} is {pixels} px along {axes} (the input's pixel size {spacing} {unit})"
)
PHYSICAL_TOO_SMALL = "input {path}: --physical-sigma {sigma} is {pixels} px along {axes}: {said}"
PER_AXIS_COUNT = (
    "input {path}: {given} values per axis for {count} spatial axes ({axes}): give one, "
    "or one per spatial axis"
)
AXES_OF_SAMPLE = "--axes names a Zarr input's dims; the built-in sample has its own (y, x, c)"
OUTDIR_NOT_A_PATH = "`outdir` must be a folder path, got {outdir!r}"

# --- run/outputs -------------------------------------------------------------------------------

CO_SYNTAX = "`--co` takes KEY=VALUE, got {pair!r}"
CO_UNKNOWN = "`--co {key}` is not a creation option here; use one of {known}"
CO_TWICE = "`--co {key}` given twice: {first} and {second}"
COMPRESSION_DISAGREES = (
    "output: --compression {compression} and --co COMPRESS={given} disagree; give one"
)
CO_NOT_FOR_FORMAT = "output: --co {key} does not apply to {fmt} output (it applies to {formats})"

# --- run/graph ---------------------------------------------------------------------------------

CLUSTER_CANCELLED = (
    "the cluster cancelled the run's tasks ({said}): its scheduler "
    "restarted or closed, or another client cancelled them"
)
RESUMING = "resuming: {done} of {total} chunks already done"

# --- run/deviation -----------------------------------------------------------------------------

EXACT_REFERENCE = "the exact whole-image filter (a full exact pass)"
MEASURED_DEVIATION = (
    "measured deviation from {reference}: {deviation:.3g} x max|image| ({chunks} chunks)"
)
FROM_WHOLE_IMAGE = "a whole-image filter"
FROM_WIDER_HALO = "the same filter with a {reach}-px halo"
LOCAL_REFERENCE = (
    "the same filter with the {reach} px halo that tol asks for, on a window "
    "around each chunk (within "
    "{deviation:.2g} of a whole-image "
    "filter)"
)
SAMPLED_REFERENCE = (
    "the same filter with a {reach} px halo, this run's and half again, on a window "
    "around each chunk, corners first: no halo bounds this filter's deviation from a "
    "whole-image filter (its kernel is not absolutely summable), so this is how much "
    "the result still moves when the halo grows; --measure-deviation compares every "
    "chunk with the exact whole-image filter"
)

# --- run/report --------------------------------------------------------------------------------

OVERVIEW_FILTER = (
    "Butterworth, order 8, 0.2 cycles/px of the level above, "
    "half a pixel shifted; every other pixel"
)
NO_BOUND_NOTE = (
    "no bound exists: the ideal filter's kernel is "
    "not absolutely summable, so no halo bounds max|blockwise - whole-image| / max|image|; "
    "measured_deviation gives it as measured"
)
BOUND_NOTE = "bound on max|blockwise - whole-image| / max|image|"
ROUNDING_NOTE = (
    "adds to halo.expected_max_deviation, which is the halo's alone; it covers the pruned "
    "transforms' tail (transforms.tail_per_axis) too"
)
PAIR_NOTE = (
    "kept: of each spatial axis' frequencies (the last axis: of its real FFT's half), those a "
    "full chunk's window transforms, per low-pass (null: the whole pair); each axis leaves out "
    "the transfer factor's smallest values summing to at most tail_per_axis, which moves the "
    "result by under eps/40 of the window's range; the inverse's last axis runs on the "
    "chunk's rows only"
)
PAIR_EXACT = "the whole image in one FFT pair (--exact)"

# --- run/pipeline ------------------------------------------------------------------------------

FLAT_MEAN = (
    "flat-field: the image's mean {means} (per channel, over its data "
    "pixels), from a first reading pass"
)
LEVEL_SIZE = "{width} x {height}"
OVERVIEWS = (
    "overviews: {levels}, each the level above low-passed (Butterworth, order 8, "
    "0.2 cycles/px) and every other pixel taken"
)
OVERVIEWS_ZYX = (
    "overviews halve z with y and x: the voxels are cubes ({size:g}{unit} on each axis); "
    "planes per level: {planes}"
)
OVERVIEWS_YX = "overviews halve y and x only, every plane kept, as viewers expect: {why}"
VOXELS_UNKNOWN = "the voxel size is unknown"
VOXELS_NOT_CUBES = "the voxels are not cubes (z, y, x: {dz:g}, {dy:g}, {dx:g}{unit})"
NOTHING_COMPUTED = (
    "<html><body>Every chunk was done by an earlier run; nothing was computed.</body></html>\n"
)
WROTE = "wrote {names} into {outdir} ({megapixels:.1f} Mpx in {seconds:.2f} s)"
NOTHING_TO_RESUME = "nothing to resume in {root}; starting"
DASHBOARD = "dashboard: {url}"
SSH_TUNNEL = (
    "from your machine: ssh -N -J <user>@<login-node> -L 8787:127.0.0.1:{port} "
    "<user>@{node}, then open http://localhost:8787/status"
)
CLUSTER = "cluster: {kind}, {workers} workers, {threads} threads{where}"
CLUSTER_SCHEDULER = ", scheduler {address}"

# --- run/sample --------------------------------------------------------------------------------

SAMPLE_HINT = (
    "daskfft sample leaves it alone: finish it (--resume) or remove it (--overwrite) with "
    "its own command, or write the sample into another folder"
)
SAMPLE_EXTENSION = "output {output}: must end in .png, .tif or .tiff"
SAMPLE_PNG_CAP = (
    "output {output}: PNG is written whole, and {size}^2 px is "
    "above the cap of {cap:.0f} Mpx; use .tif"
)
SAMPLE_NO_FOLDER = "output {output}: folder {folder} does not exist"
SAMPLE_WROTE = "wrote {output} ({size} x {size} RGB uint8)"
SAMPLE_EXISTS = "output {output}: already exists; pass --overwrite to replace"
SAMPLE_IS_A_FOLDER = "output {output}: is a folder; give a file's name"

# --- run/align ---------------------------------------------------------------------------------

ALIGN_GRIDS_DIFFER = (
    "input {moving}: {moving_cols} x {moving_rows} px, the "
    "reference {reference} is {reference_cols} x {reference_rows} "
    "px; align needs the same grid (resample one first)"
)
CLUSTER_DASHBOARD = ", dashboard {url}"
ALIGN_HINT = "align cannot resume it: pass --overwrite to start over"
CONVENTION = (
    "shifting MOVING by `shift` (dy, dx) px, after turning it by "
    "`rotation_degrees` and zooming it by `scale` about its centre, "
    "registers it with REFERENCE (scikit-image's phase_cross_correlation)"
)
MEASURED_REDUCED = "both images reduced {factor}x by block means"
MEASURED_FULL = "both images at full resolution"
GLOBAL = (
    "global: shift ({dy:.3f}, {dx:.3f}) px{rotation}{scale}, confidence {confidence:.2f} "
    "({measured_on})"
)
ROTATION_PART = ", rotation {rotation:.4f} deg"
SCALE_PART = ", scale {scale:.5f}"
SHIFT_FIELD = "shift field: {rows} x {cols} windows of {window} px, {reliable} reliable{median}"
MEDIAN_PART = ", median shift ({dy:.3f}, {dx:.3f}) px, {spread:.3f} px RMS about it"
ROWS_BAR = "\r[{bar:<{width}}] | {percent}% Completed | {elapsed}"
FLAT_MEAN_STACK = (
    "flat-field: each time point's mean {means} (time point by time point, per channel, "
    "over its data voxels), from a first reading pass"
)
BATCH_NO_MATCH = "input {pattern}: no file matches"
BATCH_LIST = "--from-list {path}: cannot be read ({reason})"
BATCH_SAME_NAME = (
    "{first} and {second} would both go into OUTDIR/{name}/: rename one, or run them apart"
)
BATCH_EMPTY = "--from-list {path}: names no image"
BATCH_BAD_NAME = (
    "{path} would go into OUTDIR/{name}/, which is no folder of its own: rename it, or run it apart"
)
BATCH_START = (
    "batch: {images} images into {outdir}/<name>/, one after the other on one cluster, "
    "sized for the largest ({largest})"
)
BATCH_IMAGE_FAILED = "{reason} (skipped; the batch goes on)"
BATCH_HEADER = "{image}  status    seconds  bound"
BATCH_ROW = "{image}  {status:<8} {seconds:8.1f}  {bound:<8} {error}"
BATCH_BAR = "batch [{bar}] {done}/{total} chunks, {images}/{count} images"
SLURM_OPTIONS_UNUSED = (
    "{options}: Slurm job options, for --cluster slurm only: unused under --cluster {kind} "
    "(a worker's memory there is --memory-limit)"
)
OUTDIR_READ_ONLY = "OUTDIR {outdir}: {protocol}:// is read-only; write to s3://, gs:// or a path"
OUTDIR_NO_BUCKET = "OUTDIR {outdir}: no bucket {bucket!r} there (or no access to it)"
REMOTE_INPUT = (
    "INPUT {url}: read where it is, through fsspec's {protocol}{endpoint}: {how}; a failing "
    "request tried {tries} times"
)
AT_ENDPOINT = " at {endpoint}"
BY_RANGES = "each task fetches the tiles (or strips) its window touches, by range requests"
BY_CHUNKS = "each task reads the store's chunks its window touches"
REMOTE_OUTDIR = (
    "OUTDIR {outdir}: {stage}; the lock, done markers and other outputs in {local} until "
    "published (resume from this directory)"
)
STAGED_IN_STORE = (
    "the tasks write the image's chunks into the store: in place where OUTDIR holds none of "
    "the outputs (their metadata in OUTDIR/.daskfft-work/ until published), else there"
)
UPLOADED = "the finished image is uploaded when published"
