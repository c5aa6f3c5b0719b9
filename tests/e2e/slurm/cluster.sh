#!/usr/bin/env bash
# A throw-away single-node Slurm cluster on this machine for the Slurm tests (tests/e2e/slurm/).
#
#   tests/e2e/slurm/cluster.sh start   # as root: munged + slurmctld + slurmd, fake A100s, partitions cpu + gpu
#   tests/e2e/slurm/cluster.sh stop    # cancel every job, stop the three daemons (by pid file), keep nothing
#
# Facts this relies on (Debian 12, Slurm 22.05, no systemd, no cgroups):
# - No slurmdbd: accounting_storage/none, so `sacct` does not work. The profile polls with squeue, which
#   needs finished jobs to stay visible: MinJobAge here is far above 3 x the polling interval.
# - slurmd drops a gres/gpu without File= and rejects regular files, which drains the node. Each fake GPU is
#   a character device made like /dev/null (major 1, minor 3), so `--gpus=a100:1` is scheduled and the job
#   gets CUDA_VISIBLE_DEVICES. Nothing can run CUDA on them; the workflow's CPU code runs instead.
# - SlurmdParameters=config_overrides: the node advertises the CPUs, memory and GPUs written here, not what the
#   machine has, so jobs sized for an A100 node (profiles/slurm) are accepted. Limits are not enforced
#   (task/none, proctrack/linuxproc, jobacct_gather/none): jobs share the real cores.
# Environment (optional): SLURM_TEST_CPUS (default 64), SLURM_TEST_GPUS (default 8): enough for every
# GPU job of the test configs (8 CPUs each in profiles/slurm) to run at once.
# Every step has a deadline; on failure the script prints the daemon logs and exits non-zero.
set -euo pipefail
# Daemons and runuser live in sbin, which a non-login root shell (CI, env -i) may not have on PATH.
export PATH="/usr/local/sbin:/usr/sbin:/sbin:$PATH"

CPUS=${SLURM_TEST_CPUS:-64}
GPUS=${SLURM_TEST_GPUS:-8}
MEM_MB=1000000
CONF=/etc/slurm
STATE=/var/lib/slurm-ipr-test
LOGS=/var/log/slurm-ipr-test
NODE=$(hostname -s)
PACKAGES="munge slurmctld slurmd slurm-client"

say() { echo "[slurm-cluster] $*"; }
die() { echo "[slurm-cluster] ERROR: $*" >&2; exit 1; }
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# until <seconds> <command...>: retry the command every 0.25 s until it succeeds or time runs out
until_ok() {
  local end=$(( $(date +%s) + $1 )); shift
  while ! "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.25; done
}
show_logs() { for f in "$LOGS"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }; done; return 0; }

# stop_daemon <pid file> <process name>: SIGTERM, then SIGKILL after 20 s; only if the pid is that daemon
stop_daemon() {
  [ -s "$1" ] || return 0
  local pid; pid=$(cat "$1")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; then
    kill "$pid" 2>/dev/null || true
    until_ok 20 sh -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it writes $CONF and starts daemons); run 'make system' and the tests as root or with sudo"
  local missing=""
  for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  [ -z "$missing" ] || die "Debian packages missing:$missing (install them with 'make system')"
  [ -d /run/systemd/system ] && systemctl stop slurmd slurmctld >/dev/null 2>&1 || true

  install -d -o slurm -g slurm "$STATE" "$STATE/ctld" "$STATE/d" "$LOGS"
  install -d "$CONF" "$STATE/gpus"
  local gres="AutoDetect=off"
  for i in $(seq 0 $(( GPUS - 1 ))); do
    [ -c "$STATE/gpus/gpu$i" ] || { rm -f "$STATE/gpus/gpu$i"; mknod "$STATE/gpus/gpu$i" c 1 3; }
    gres="$gres"$'\n'"NodeName=$NODE Name=gpu Type=a100 File=$STATE/gpus/gpu$i"
  done
  echo "$gres" > "$CONF/gres.conf"
  cat > "$CONF/slurm.conf" <<CONF
# Written by tests/e2e/slurm/cluster.sh for the Slurm tests; removed by 'cluster.sh stop'.
ClusterName=ipr-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld-ipr-test.pid
SlurmdPidFile=/run/slurmd-ipr-test.pid
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:a100:$GPUS State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
CONF

  if ! (munge -n | unmunge) >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
      chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$STATE/munged-started-here"
    until_ok 15 sh -c 'munge -n | unmunge' || die "munged did not start"
  fi
  # A clean start every time: a cluster left over from an interrupted run is replaced.
  stop_daemon /run/slurmd-ipr-test.pid slurmd
  stop_daemon /run/slurmctld-ipr-test.pid slurmctld
  rm -rf "${STATE:?}/ctld/"* "${STATE:?}/d/"*
  /usr/sbin/slurmctld -i || { show_logs; die "slurmctld did not start"; }
  until_ok 30 scontrol ping || { show_logs; die "slurmctld does not answer"; }
  /usr/sbin/slurmd || { show_logs; die "slurmd did not start"; }
  local state=""
  for _ in $(seq 1 120); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
    case "$state" in
      idle|mixed|allocated) break ;;
      *drain*|down*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.25
  done
  case "$state" in idle|mixed|allocated) ;; *) scontrol show node "$NODE" >&2; show_logs; die "node $NODE is '$state', not idle" ;; esac
  say "up: node $NODE, $CPUS CPUs, $GPUS fake a100 GPUs, partitions cpu (default) and gpu"
}

stop() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  if [ -s /run/slurmctld-ipr-test.pid ] && scontrol ping >/dev/null 2>&1; then
    scancel --full --signal=KILL $(squeue -h -o %i 2>/dev/null) >/dev/null 2>&1 || true
    until_ok 15 sh -c '[ -z "$(squeue -h -t R,CG,PD -o %i)" ]' || true
  fi
  stop_daemon /run/slurmd-ipr-test.pid slurmd &
  stop_daemon /run/slurmctld-ipr-test.pid slurmctld &
  wait
  # munged is stopped only if 'start' started it (a munged that was already running is left alone).
  if [ -e "$STATE/munged-started-here" ]; then stop_daemon /run/munge/munged.pid munged; rm -f "$STATE/munged-started-here"; fi
  rm -f "$CONF/slurm.conf" "$CONF/gres.conf"
  rm -rf "${STATE:?}/ctld" "${STATE:?}/d"
  say "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
