"""The lazy Python API: dask graphs built on :mod:`daskfft.kernels`.

The public names are re-exported by :mod:`daskfft`; import them from there.
"""
