"""``python -m daskfft``: the same as the ``daskfft`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
