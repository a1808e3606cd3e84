#!/usr/bin/env bash
# Stands up a single-node Slurm from Debian's packages (slurm-wlm 22.05, munge), submits a
# tiny study through assets/slurm/study.sbatch as a 3-task job array, waits for it, and
# checks that `study report` finds every run finished. Run as root on a Debian machine:
#
#   SHATTERLAB_DATA=/path/to/cifar10 scripts/slurm-local.sh [path/to/shatterlab]
#
# The binary defaults to target/release/shatterlab, else target/debug/shatterlab. The
# daemons it starts (munged, slurmctld, slurmd) are stopped again at the end unless
# KEEP_SLURM=1. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

bin=${1:-}
if [ -z "$bin" ]; then
    for b in target/release/shatterlab target/debug/shatterlab; do
        [ -x "$b" ] && { bin=$repo/$b; break; }
    done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "no shatterlab binary: build it or pass its path" >&2; exit 2; }
bin=$(realpath "$bin")
: "${SHATTERLAB_DATA:?set SHATTERLAB_DATA to the CIFAR-10 directory}"
[ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and starts daemons)" >&2; exit 2; }

echo "== packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq slurm-wlm munge >/dev/null
dpkg-query -W -f '${Package} ${Version}\n' slurm-wlm munge

echo "== munge"
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null ||
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
started_munge=0
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    started_munge=1
fi
munge -n | unmunge | grep STATUS

echo "== slurm.conf"
host=$(hostname -s)
node=$(slurmd -C | head -1)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
# Written by shatterlab's scripts/slurm-local.sh: one node, no cgroups.
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$node State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
rm -f /etc/slurm/cgroup.conf
cat /etc/slurm/slurm.conf | grep -v '^#'

stop() {
    if [ "${KEEP_SLURM:-0}" != 1 ]; then
        pidfiles="/run/slurmd.pid /run/slurmctld.pid"
        [ "$started_munge" = 1 ] && pidfiles="$pidfiles /run/munge/munged.pid"
        for pidfile in $pidfiles; do
            [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
        done
    fi
}
trap stop EXIT

echo "== daemons"
slurmctld
slurmd
for _ in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1)
    [ "$state" = idle ] && break
    sleep 1
done
sinfo

echo "== a tiny study as a 3-task job array"
work=$(mktemp -d /tmp/shatterlab-slurm.XXXXXX)
chmod 755 "$work"
runs=$work/runs
spec=$repo/assets/studies/fig6-quick.toml
tiny=(--depths 2,3 --seeds 0,1 --epochs 2 --train-subset 256 --test-subset 200)
"$bin" study plan "$spec" "${tiny[@]}"
cd "$work"
start=$(date +%s)
SHATTERLAB=$bin sbatch --wait --array=0-2 "$repo/assets/slurm/study.sbatch" \
    "$spec" "$runs" "${tiny[@]}" --data-dir "$SHATTERLAB_DATA"
echo "job array done in $(( $(date +%s) - start )) s"
for out in shatterlab-study-*.out; do
    echo "-- $out"
    grep -v '"type":"step"' "$out" | cut -c1-160
done

echo "== report"
"$bin" study report "$spec" --runs-dir "$runs" "${tiny[@]}" --format csv
"$bin" study report "$spec" --runs-dir "$runs" "${tiny[@]}" --out "$work/report.json"
python3 - "$work/report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
p = report["progress"]
states = {r["state"] for r in report["runs"]}
assert p["done"] == p["runs"] and states == {"finished"}, (p, states)
print(f"OK: {p['done']} of {p['runs']} runs finished, {len(report['groups'])} groups")
PY
