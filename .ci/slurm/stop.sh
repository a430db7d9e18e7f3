#!/usr/bin/env bash
# Stop the test Slurm started by start.sh.
dir="${DASKFFT_SLURM_DIR:-/tmp/daskfft-slurm}"
for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
  [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
done
exit 0
