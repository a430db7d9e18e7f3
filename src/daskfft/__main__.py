"""``python -m daskfft``: the same as the ``daskfft`` command."""

from daskfft.cli import command

if __name__ == "__main__":
    command()
