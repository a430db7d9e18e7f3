#!/usr/bin/env bash
# A two-node Slurm on this one machine, for the multi-node tests: two slurmd, each in its
# own network, UTS and mount namespace (its own hostname, address and /etc/hosts), joined
# by a veth pair each to a bridge that lives in a third network namespace with slurmctld.
# Nothing listens in the host's network namespace: every Slurm port is inside the
# namespaces made here.  Root only; run commands against it with
#
#   bash .ci/slurm/two-nodes.sh start    # (re)starts it; logs in $DASKFFT_SLURM2_DIR/log
#   bash .ci/slurm/two-nodes.sh run CMD...   # CMD in the controller's namespace (sbatch, sinfo)
#   bash .ci/slurm/two-nodes.sh link dfnode2 down    # and up: a node's link (fault tests)
#   bash .ci/slurm/two-nodes.sh stop
set -euo pipefail

dir="${DASKFFT_SLURM2_DIR:-/tmp/daskfft-slurm2}"
conf="$dir/slurm.conf"
net=10.77.0
ctl=dfctl
nodes=(dfnode1 dfnode2)
cpus="${DASKFFT_SLURM_CPUS:-4}"

# nsenter, not "ip netns exec": that one remounts /sys, where slurmd needs the host's cgroups.
in_ctl() { SLURM_CONF="$conf" nsenter --net="/run/netns/$ctl" "$@"; }

stop() {
  for n in "${nodes[@]}" "$ctl"; do
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$n" 2>/dev/null || true
  done
}

start() {
  stop
  mkdir -p "$dir/state" "$dir/log"
  ip netns add "$ctl"
  ip netns exec "$ctl" ip link set lo up
  ip netns exec "$ctl" ip link add br0 type bridge
  ip netns exec "$ctl" ip addr add "$net.1/24" dev br0
  ip netns exec "$ctl" ip link set br0 up
  {
    echo "127.0.0.1 localhost"
    echo "$net.1 $ctl"
    i=10; for n in "${nodes[@]}"; do i=$((i + 1)); echo "$net.$i $n"; done
  } > "$dir/hosts"
  local mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 4 ))
  {
    echo "# Written by daskfft's .ci/slurm/two-nodes.sh: two nodes in network namespaces."
    echo "ClusterName=daskfft-two"
    echo "SlurmctldHost=$ctl($net.1)"
    cat "$(dirname "$0")/common.conf"
    cat <<CONF
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
CONF
    i=10; for n in "${nodes[@]}"; do
      i=$((i + 1))
      echo "NodeName=$n NodeAddr=$net.$i CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"
    done
    echo "PartitionName=two Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=60 State=UP"
  } > "$conf"
  # slurmctld checks that the host it runs on is SlurmctldHost: its own hostname (UTS).
  in_ctl unshare --uts sh -c "hostname $ctl && exec slurmctld -c -f '$conf'"
  i=10
  for n in "${nodes[@]}"; do
    i=$((i + 1))
    ip netns add "$n"
    ip link add "v$n" netns "$ctl" type veth peer name eth0 netns "$n"
    ip netns exec "$ctl" ip link set "v$n" master br0 up
    ip netns exec "$n" ip link set lo up
    ip netns exec "$n" ip addr add "$net.$i/24" dev eth0
    ip netns exec "$n" ip link set eth0 up
    # A default route into the bridge, which leads nowhere further: programs that look for
    # "the" address by routing towards the internet (distributed does) find eth0's.
    ip netns exec "$n" ip route add default via "$net.1"
    mkdir -p "$dir/spool-$n"
    # Its own hostname (UTS) and /etc/hosts (a bind mount in its own mount namespace).
    nsenter --net="/run/netns/$n" unshare --uts --mount --propagation private sh -c \
      "hostname $n && mount --bind '$dir/hosts' /etc/hosts && SLURM_CONF='$conf' exec slurmd -f '$conf'"
  done
  for _ in $(seq 1 60); do
    if [ "$(in_ctl sinfo -h -o %t 2>/dev/null | grep -c idle)" = 1 ] &&
       [ "$(in_ctl sinfo -h -N -o %t 2>/dev/null | grep -c idle)" = "${#nodes[@]}" ]; then
      echo "slurm: ${nodes[*]} idle; SLURM_CONF=$conf, commands through: $0 run CMD" >&2
      return 0
    fi
    sleep 0.5
  done
  echo "slurm: the two nodes did not become idle; logs in $dir/log" >&2
  tail -n 20 "$dir"/log/*.log >&2 || true
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  run) shift; in_ctl "$@" ;;
  # A node's link to the bridge, down or up again (the fault tests).
  link) ip netns exec "$ctl" ip link set "v$2" "$3" ;;
  *) echo "usage: $0 start|stop|run CMD...|link NODE down|up" >&2; exit 2 ;;
esac
