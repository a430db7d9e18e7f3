"""NumPy kernels: the arithmetic of one chunk, with no dask in sight.

Transfer functions and the halo rule (:mod:`~daskfft.kernels.transfer`), the block filter
(:mod:`~daskfft.kernels.block`), chunk grids (:mod:`~daskfft.kernels.grid`), spectra
(:mod:`~daskfft.kernels.spectra`), phase correlation (:mod:`~daskfft.kernels.phase`), the
overview kernel (:mod:`~daskfft.kernels.overview`) and the built-in sample
(:mod:`~daskfft.kernels.sample`).  Everything above is built on these; nothing here imports
anything above.
"""
