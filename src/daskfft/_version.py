"""The version of daskfft (read by the build: pyproject.toml's ``tool.hatch.version``)."""

__version__ = "0.1.0"
