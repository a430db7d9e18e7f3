"""The lazy Python API: dask graphs built on :mod:`daskfft.kernels`.

Its filters, spectra and registration are re-exported by :mod:`daskfft`; import them from
there.  The built-in sample, :func:`daskfft.api.sample.sample_image`, is imported from its
module.  The filter as a value, :class:`~daskfft.kernels.spec.FilterSpec`, and the
per-block arithmetic are :mod:`daskfft.kernels`'.
"""
