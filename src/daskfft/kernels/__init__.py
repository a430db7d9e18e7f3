"""NumPy kernels: the arithmetic of one chunk, with no dask in sight.

The filter as a validated value (:mod:`~daskfft.kernels.spec`), transfer functions and the
halo rule (:mod:`~daskfft.kernels.transfer`), the block filter
(:mod:`~daskfft.kernels.block`) and its pass bands (:mod:`~daskfft.kernels.bands`), chunk
grids (:mod:`~daskfft.kernels.grid`), spectra (:mod:`~daskfft.kernels.spectra`), phase
correlation (:mod:`~daskfft.kernels.phase`), the overview kernel
(:mod:`~daskfft.kernels.overview`) and the built-in sample (:mod:`~daskfft.kernels.sample`).
Everything above is built on these; nothing here imports anything above.
"""
