"""Sphinx configuration of daskfft's documentation.

Build (as CI does, from the repository root)::

    pip install ".[docs]"
    sphinx-build -W --keep-going -n -b html docs docs/_build/html
    python docs/_ext/check_links.py docs/_build/html

Pages are MyST Markdown; the API reference is autosummary over
``daskfft.__all__`` with numpydoc (its validation on: a public object without
a proper numpydoc docstring fails the build); the CLI reference is generated
from ``daskfft.cli.build_parser()`` (each command's ``--help``); the gallery's pictures
and the design page's diagrams are made at build time by running the tool
(``_ext/daskfft_docs.py``).  Nothing here reaches the internet.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))

import daskfft  # noqa: E402

project = "daskfft"
author = "daskfft developers"
copyright = "daskfft developers"
release = daskfft.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "daskfft_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# Every cross-reference must resolve (sphinx-build -n): a page link, an
# anchor, an API object.  There is no intersphinx: CI reaches no site but
# PyPI, so references to NumPy, dask or xarray are written as plain text.
nitpicky = True
suppress_warnings = []

# MyST: Markdown pages, with heading anchors so that [text](page.md#a-heading)
# is checked like any other reference.
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "attrs_inline"]
myst_heading_anchors = 3

# API reference: autosummary over daskfft.__all__ (see reference/api.md).
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_default_options = {"members": False}

# numpydoc: docstrings in numpydoc's format, validated at build time; every
# failure is a warning, which -W makes an error.  Left out: EX01 (an Examples
# section), SA01 (See Also), ES01 (an extended summary) and GL01/GL02 (where
# the summary starts and ends relative to the quotes), which are style, not
# content.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {"all", "EX01", "SA01", "ES01", "GL01", "GL02"}
numpydoc_validation_exclude = {r"\._[a-z]", r"\.__[a-z]+__$"}

# HTML: the PyData theme, as xarray and scikit-image use.
html_theme = "pydata_sphinx_theme"
html_title = f"daskfft {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "changelog": []}
