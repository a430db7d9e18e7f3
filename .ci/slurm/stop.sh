#!/usr/bin/env bash
# Stop the test Slurm started by start.sh, and put back a slurm.conf it moved aside.
dir="${DASKFFT_SLURM_DIR:-/tmp/daskfft-slurm}"
for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
  [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
done
conf=/etc/slurm/slurm.conf
if [ -f "$conf.before-daskfft" ]; then
  mv -f "$conf.before-daskfft" "$conf"
  echo "slurm: restored the $conf that start.sh had moved aside" >&2
fi
exit 0
