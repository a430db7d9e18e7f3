"""Where a run's tasks execute: dask's threads, a local cluster, processes, a scheduler's
address, or an MPI job (:mod:`~daskfft.cluster.mpi`)."""
