"""Time daskfft's block-wise low-pass against the in-memory floor, in one run.

The floor is one whole-image real FFT, multiply by H, inverse real FFT, in
memory with all cores (ducc0, the same FFT library).  Each figure is the best
of ``--repeat`` runs; the printed ratios are what to compare between commits
and machines, not the seconds.

    python benchmarks/bench_pipeline.py --size 4096 --chunks 1024
"""

from __future__ import annotations

import argparse
import os
import time

import dask
import dask.array as da
import ducc0
import numpy as np

import daskfft
from daskfft.kernels.transfer import transfer_function


def best(fn, repeat):
    """Best time of ``fn(i)`` over ``repeat`` calls; ``i`` lets a call make new dask keys."""
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--chunks", type=int, default=1024)
    parser.add_argument("--cutoff", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cluster", action="store_true", help="skip the LocalCluster line")
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    # Random data made chunk by chunk, so that the cluster's workers can make
    # their own share instead of receiving it from this process.
    x = da.random.default_rng(0).random(
        (args.size, args.size), chunks=args.chunks, dtype=np.float32
    )
    image = x.compute()
    h = transfer_function(image.shape, args.cutoff, "gaussian", 4, np.float32)

    def floor():
        spec = ducc0.fft.r2c(image, axes=(0, 1), nthreads=cores)
        spec *= h
        return ducc0.fft.c2r(
            spec,
            axes=(0, 1),
            lastsize=image.shape[1],
            forward=False,
            inorm=2,
            nthreads=cores,
            allow_overwriting_input=True,
        )

    t_floor = best(lambda i: floor(), args.repeat)
    mpx = image.size / 1e6
    depth = daskfft.halo_depth(args.cutoff)
    print(
        f"image {args.size}^2 float32 ({mpx:.1f} Mpx), chunks {args.chunks}, halo {depth} px, "
        f"{cores} cores"
    )
    print(f"{'method':<34}{'seconds':>9}{'Mpx/s':>9}{'x floor':>9}")
    print(f"{'floor: whole-image FFT in memory':<34}{t_floor:9.3f}{mpx / t_floor:9.1f}{1.0:9.2f}")

    x_mem = da.from_array(image, chunks=args.chunks)
    with dask.config.set(scheduler="threads", num_workers=cores):
        t = best(lambda i: daskfft.lowpass(x_mem, args.cutoff).compute(), args.repeat)
    print(f"{'lowpass, threaded scheduler':<34}{t:9.3f}{mpx / t:9.1f}{t / t_floor:9.2f}")

    if not args.no_cluster:
        from distributed import Client, LocalCluster, wait

        with (
            LocalCluster(n_workers=cores, threads_per_worker=1, dashboard_address=None) as lc,
            Client(lc) as client,
        ):
            # Input already on the workers, as when they read it themselves.
            xw = client.persist(x)
            wait(xw)

            def on_cluster(i):
                # A cutoff one part in 1e12 apart gives new keys: nothing is reused.
                y = daskfft.lowpass(xw, args.cutoff * (1 + 1e-12 * i)).persist()
                wait(y)
                client.cancel(y)

            t = best(on_cluster, args.repeat)
        print(f"{'lowpass, LocalCluster':<34}{t:9.3f}{mpx / t:9.1f}{t / t_floor:9.2f}")


if __name__ == "__main__":
    main()
