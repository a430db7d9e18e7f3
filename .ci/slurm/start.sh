#!/usr/bin/env bash
# Start a single-node Slurm on this machine for the tests: slurmctld and slurmd
# as root, no systemd, no cgroups, no accounting, state and logs under
# $DASKFFT_SLURM_DIR (default /tmp/daskfft-slurm).  Idempotent: an already
# answering controller is left alone.  Installs Debian's packages if missing.
#
# It writes /etc/slurm/slurm.conf (slurmctld and slurmd read it there, and so do
# sbatch and sinfo in the tests).  A slurm.conf it did not write is moved aside to
# slurm.conf.before-daskfft first, and stop.sh puts it back: on a machine with a
# Slurm of its own, run the tests without this script (they use that Slurm).
#
#   bash .ci/slurm/start.sh     # then: sinfo; sbatch --wait ...
#   bash .ci/slurm/stop.sh
set -euo pipefail

dir="${DASKFFT_SLURM_DIR:-/tmp/daskfft-slurm}"
conf=/etc/slurm/slurm.conf
cpus="${DASKFFT_SLURM_CPUS:-4}"  # advertised, whatever the machine has

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
  echo "slurm: installing slurmctld slurmd slurm-client" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client >/dev/null
fi

host="$(hostname -s)"
marker="# Written by daskfft's .ci/slurm/start.sh: a one-node test cluster."
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
ours() {
  echo "$marker"
  echo "ClusterName=daskfft-ci"
  echo "SlurmctldHost=$host(127.0.0.1)"
  cat "$(dirname "$0")/common.conf"
  cat <<CONF
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=60 State=UP
CONF
}

if [ -f "$conf" ] && sinfo -h >/dev/null 2>&1 && [ -n "$(sinfo -h -o %t 2>/dev/null | grep -E 'idle|mix|alloc')" ]; then
  # A Slurm of the site's, or ours as this script writes it now: used as it is.
  if [ "$(head -n 1 "$conf")" != "$marker" ] || [ "$(ours)" = "$(cat "$conf")" ]; then
    echo "slurm: already up" >&2
    exit 0
  fi
  # Ours, started with another configuration (an older checkout's): restarted.
  echo "slurm: the running test Slurm has another configuration; restarting it" >&2
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    if [ -f "$pid" ]; then
      p="$(cat "$pid")"
      kill "$p" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    fi
  done
fi

mkdir -p "$dir/state" "$dir/spool" /etc/slurm
if [ -f "$conf" ] && [ "$(head -n 1 "$conf")" != "$marker" ]; then
  if [ -e "$conf.before-daskfft" ]; then
    echo "slurm: $conf is not ours and $conf.before-daskfft exists; move one of them away first" >&2
    exit 1
  fi
  mv "$conf" "$conf.before-daskfft"
  echo "slurm: moved the existing $conf to $conf.before-daskfft (stop.sh restores it)" >&2
fi
ours > "$conf"

slurmctld -c
slurmd
for _ in $(seq 1 60); do
  state="$(sinfo -h -o %t 2>/dev/null || true)"
  case "$state" in
    idle*) echo "slurm: node $host idle ($cpus CPUs)" >&2; exit 0 ;;
  esac
  sleep 0.5
done
echo "slurm: node did not become idle; logs in $dir" >&2
tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd.log >&2 || true
exit 1
