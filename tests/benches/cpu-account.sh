#!/usr/bin/env bash
# Where a command's machine time went: runs COMMAND, then prints the machine's busy and
# idle CPU seconds (/proc/stat), dockerd's and containerd's CPU seconds (their own and
# their reaped children's, /proc/PID/stat) and the containers' (the `docker` cpuacct
# cgroup, cgroup v1). Used for `lab smoke --all`'s figures in the README:
#   bash tests/benches/cpu-account.sh smoke.log target/debug/lab smoke --all --jobs 4
# Needs root (or read access to the cgroup). Compare figures within one run of a machine.
set -u
out=$1
shift
tick=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
idle() { awk '/^cpu /{print $5+$6}' /proc/stat; }
proc() { awk '{print $14+$15+$16+$17}' "/proc/$(pgrep -x "$1" | head -1)/stat" 2>/dev/null || echo 0; }
cgroup() { cat /sys/fs/cgroup/cpuacct/docker/cpuacct.usage 2>/dev/null || echo 0; }
b0=$(busy) i0=$(idle) d0=$(proc dockerd) c0=$(proc containerd) k0=$(cgroup) t0=$(date +%s.%N)
/usr/bin/time -f "command: %U s user, %S s sys (with its children), %e s wall, %M KB peak" "$@" >"$out" 2>&1
rc=$?
b1=$(busy) i1=$(idle) d1=$(proc dockerd) c1=$(proc containerd) k1=$(cgroup) t1=$(date +%s.%N)
tail -n 1 "$out"
echo "exit $rc, wall $(echo "$t1 - $t0" | bc) s"
echo "machine busy $(((b1 - b0) / tick)) s, idle $(((i1 - i0) / tick)) s"
echo "dockerd $(((d1 - d0) / tick)) s, containerd $(((c1 - c0) / tick)) s, containers $(((k1 - k0) / 1000000000)) s"
exit $rc
