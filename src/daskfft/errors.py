"""The package's own exception types."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """An input file or output location the run cannot use; the message says why."""
