"""What reading and writing files tells the user: refused inputs and outputs, errors, warnings.

The modules of :mod:`daskfft.io` fill them in: :mod:`~daskfft.io` itself (probing an
input), :mod:`~daskfft.io.base`, :mod:`~daskfft.io.registry` and the backends
(:mod:`~daskfft.io.whole`, :mod:`~daskfft.io.tiff`, :mod:`~daskfft.io.cog`,
:mod:`~daskfft.io.zarr`, :mod:`~daskfft.io.omezarr`).
"""

from __future__ import annotations

# --- io: probing an input ----------------------------------------------------------------------

NOT_A_READABLE_STORE = "input {path}: not a readable {fmt} store ({reason})"
NOT_A_READABLE_FILE = "input {path}: not a readable {fmt} file ({reason})"
READ_WHOLE = (
    "input {path}: {fmt} cannot be read in parts, so one worker decodes all {mpx:.0f} Mpx; "
    "for images this large use a tiled TIFF or Zarr"
)
NO_SUCH_FILE = "input {path}: no such file"
IS_A_DIRECTORY = "input {path}: is a directory, expected an image file or a .zarr array"
UNSUPPORTED_FORMAT = "input {path}: unsupported format {suffix!r}; use one of {formats}"
NO_SUFFIX = "(no suffix)"
FILE_EMPTY = "input {path}: file is empty"
NOT_2D_OR_3D = (
    "input {path}: image must be 2-D (rows, cols) or 3-D (rows, cols, channels), got shape {shape}"
)
PIXEL_TYPE = "input {path}: pixel type {dtype} is not supported (integers or real floats)"
IMAGE_EMPTY = "input {path}: image is empty, shape {shape}"

# --- io/base: what every backend shares --------------------------------------------------------

NOT_READ_HERE = "{name} is not read here"
WRITTEN_FROM_STORE = "{name} is written whole, from a store"
NOT_WRITTEN_HERE = "{name} is not written here"
COG_NEEDS_RASTERIO = (
    "output: a COG is written by GDAL, through rasterio, which is not "
    "installed; pip install 'daskfft[cog]'"
)
JPEG_PIXELS = (
    "output: JPEG holds 8-bit gray or RGB, not {dtype} with shape "
    "{shape}; use --output-format tiff, zarr or png"
)
EXCEPTION_IN_ONE_LINE = "{kind}: {line}"
NOT_FINITE = (
    "input {path}: {count} pixels are NaN "
    "or infinite (counted in the first chunk that has any); fill them, "
    "or pass --nodata nan if NaN marks missing data"
)

# --- io/registry -------------------------------------------------------------------------------

REGISTERED_ALREADY = "a backend named {name!r} is registered already"

# --- io/whole, io/tiff, io/zarr: decoding in a task --------------------------------------------

CANNOT_DECODE = "input {path}: cannot decode ({reason})"
DECODED_NOT_AS_SAID = (
    "input {path}: decoded {shape} {dtype}, header said {header_shape} {header_dtype}"
)

# --- io/tiff: reading --------------------------------------------------------------------------

STACK_OF_PAGES = (
    "input {path}: a stack of {pages} pages (axes {axes}, shape {shape}) whose file does not "
    "say whether they are z planes, time points or channels, and daskfft does not guess: "
    "write it as an ImageJ hyperstack or an OME-TIFF that names its axes (tifffile.imwrite("
    "path, data, imagej=True, metadata={{'axes': 'ZYX'}})), or as a Zarr array with named dims"
)
NOT_A_READABLE_MASK = "input {path}: not a readable mask ({reason})"
MINISWHITE = (
    "MinIsWhite (0 is white): filtering it as brightness "
    "would be right, but every picture would be inverted"
)
CMYK = "CMYK (separated) is not brightness or RGB"
CIELAB = "CIELab is not brightness or RGB"
YCBCR_NOT_JPEG = "YCbCr without JPEG compression is not decoded to RGB here"
PHOTOMETRIC_REFUSED = (
    "input {path}: photometric {why}; convert it to RGB or gray first "
    "(e.g. gdal_translate -expand rgb, or -co PHOTOMETRIC=RGB)"
)
NO_DECODER = (
    "input {path}: compression {compression!r} has no decoder here (imagecodecs has none for it)"
)
TILES = "tiles"
STRIPS = "strips"
DAMAGED_HEADER = (
    "input {path}: damaged header: {rows} x {cols} px "
    "needs {expected} {segments}, the file lists {listed}"
)
TRUNCATED = (
    "input {path}: truncated: {segment} {index} of {expected} ends at byte "
    "{end}, past the end of the file ({size} bytes)"
)
CANNOT_DECODE_MASK = "input {path}: cannot decode its mask ({reason})"

# --- io/tiff: writing in place -----------------------------------------------------------------

NOT_IN_PLACE = "{path}: tiles are not stored uncompressed and in order"

# --- io/tiff: creation options (--co) ----------------------------------------------------------

CO_COMPRESS = "`--co COMPRESS` must be one of {choices}, got {value}"
CO_PREDICTOR = "`--co PREDICTOR` must be one of {choices}, got {value}"
CO_BIGTIFF = "`--co BIGTIFF` must be YES, NO, IF_NEEDED or IF_SAFER, got {value}"
CO_WHOLE_NUMBER = "`--co {key}` must be a whole number, got {value}"
CO_QUALITY_RANGE = "`--co QUALITY` must be in 1..100, got {value}"
CO_BLOCKSIZE = "`--co BLOCKSIZE` must be a multiple of 16 in 16..4096, got {value}"
CO_JPEG_PIXELS = (
    "output: --co COMPRESS=JPEG holds 8-bit gray or RGB, not {dtype} "
    "with {bands} bands; use DEFLATE, ZSTD or LZW"
)
CO_WEBP_PIXELS = (
    "output: --co COMPRESS=WEBP holds 8-bit RGB or RGBA, not {dtype} "
    "with {bands} bands; use DEFLATE, ZSTD or LZW"
)
CO_PREDICTOR_COMPRESSION = (
    "output: --co PREDICTOR applies to DEFLATE, LZW, ZSTD and LZMA compression, not {compress}"
)
CO_PREDICTOR_FLOAT = (
    "output: --co PREDICTOR=FLOATING_POINT is for floating-point "
    "pixels, not {dtype}; use PREDICTOR=YES"
)
CO_PREDICTOR_INTEGER = (
    "output: --co PREDICTOR=YES (horizontal differencing) is for "
    "integer pixels, not {dtype}; use PREDICTOR=FLOATING_POINT"
)
CO_LEVEL_NONE = "compression"
CO_LEVEL_SPAN = "(it takes {low}..{high})"
CO_LEVEL = "output: --co LEVEL={level} does not apply to {compress} {takes}"
CO_QUALITY = "output: --co QUALITY applies to JPEG and WEBP compression, not {compress}"

# --- io/tiff: the output's tile edge, and why (the plan's notes) -------------------------------

TILE_OF_INPUT = "the input's {tile}-px tiles"
TILE_RAISED = ", raised to {least}"
TILE_GDAL = "GDAL's usual tile"

# --- io/cog ------------------------------------------------------------------------------------

TILE_COG = "a COG's usual tile"
COG_DISK_FULL = "GDAL writing the COG: {said}"
COG_FAILED = "output {path}: GDAL could not write the COG ({said})"

# --- io/omezarr: reading -----------------------------------------------------------------------

NOT_MULTISCALES = (
    "input {path}: a Zarr group without OME-Zarr multiscales; give the path of one of its arrays"
)
OME_AXES = (
    "input {path}: OME-Zarr axes {axes} with shape {shape}: daskfft reads the axes t, c, z, "
    "y, x (each at most once, y and x last)"
)

# --- io/zarr: axes -----------------------------------------------------------------------------

AXES_UNTOLD = (
    "input {path}: a 3-D Zarr array of shape {shape} that names no dims: pass --axes yxc "
    "(bands last), --axes cyx (bands first) or --axes zyx (a volume)"
)
AXES_NAMED_HERE = (
    "input {path}: --axes is for a Zarr array that names no dims; a {label} names its own"
)
AXES_DISAGREE = "input {path}: --axes {axes} but the array names its dims {dims}"
AXES_DO_NOT_FIT = (
    "input {path}: axes {axes} do not fit shape {shape}: one letter of t, c, z, y, x per "
    "dim, each once, y and x among them"
)
DIM_NAME_UNKNOWN = "input {path}: dim {dim!r} of {dims} is none of band/c/channel, t/time, z, y, x"

# --- io/tiff: stacks ---------------------------------------------------------------------------

TIFF_AXES_UNKNOWN = (
    "input {path}: TIFF axes {axes} (shape {shape}): daskfft reads T (time), Z, C or S "
    "(channels), Y and X, not {unknown}"
)
TIFF_TWO_CHANNEL_AXES = (
    "input {path}: TIFF axes {axes} (shape {shape}) hold channels twice, as C and as S "
    "(samples): daskfft reads one channel axis; write each C as a file of its own"
)

# URLs (daskfft.io.url)
URL_PROTOCOL = "{name} {url}: no file system for {protocol}:// is installed ({why})"
RETRYING = "{url}: try {attempt} failed ({reason}); trying again"
URL_NOT_FOUND = "{url}: no such file or object"
URL_DENIED = "{url}: access denied (check the credentials and the bucket's policy)"
URL_UNREACHABLE = "{url}: unreachable after {attempts} tries ({reason})"
URL_FAILED = "{url}: cannot be read ({reason})"
NOT_A_STORE_URL = "{url}: no Zarr array or group there (no zarr.json, .zarray or .zgroup)"
REMOTE_NOT_READ = "{url}: {label} is not read from a URL; copy it to a local path first"
ANSWERS_NOW = "{url}: a request failed, and the server answers the next"
RANGES_IGNORED = (
    "{url}: the server ignores range requests (sent {sent} bytes for {asked}): serve it "
    "from one that honours them, or copy it to a local path"
)
SHORT_READ = "a range request cut short ({sent} of {asked} bytes)"
