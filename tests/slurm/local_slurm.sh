#!/usr/bin/env bash
# A real single-node SLURM (with accounting and one fake GPU) on this machine,
# for the workflow's SLURM test. Needs root and apt (Debian/Ubuntu).
#
#   tests/slurm/local_slurm.sh install     apt-get install munge, slurm, slurmdbd, mariadb
#   tests/slurm/local_slurm.sh start DIR   write configs under DIR, start the daemons
#   tests/slurm/local_slurm.sh stop DIR    stop the daemons started by `start` (by PID)
#
# After `start`, export SLURM_CONF=DIR/slurm.conf for sbatch/squeue/sacct.
# The cluster: partition `onepixel`, account `onepixel`, node `$(hostname)`
# with all its CPUs and `Gres=gpu:fake:1` (gres.conf maps it to /dev/null),
# so jobs asking for `--gpus=1` are scheduled and get CUDA_VISIBLE_DEVICES.
set -euo pipefail

cmd=${1:?usage: local_slurm.sh install|start DIR|stop DIR}

install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        munge slurmctld slurmd slurm-client slurmdbd mariadb-server >/dev/null
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2
    shift 2
    for _ in $(seq "$limit"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    echo "local_slurm: timed out waiting for $what" >&2
    return 1
}

start() {
    local dir=$1 host cpus mem_mb
    mkdir -p "$dir"/{state,spool,mysql,run}
    dir=$(cd "$dir" && pwd)
    host=$(hostname)
    cpus=$(nproc)
    # A little under the machine's memory, as slurmd refuses more than it has.
    mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))

    cat >"$dir/slurm.conf" <<EOF
ClusterName=onepixel
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MailProg=/bin/true
ReturnToService=2
MinJobAge=600
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:fake:1 State=UNKNOWN
PartitionName=onepixel Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    echo "NodeName=$host Name=gpu Type=fake File=/dev/null" >"$dir/gres.conf"
    cat >"$dir/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=onepixel
StorageLoc=slurm_acct_db
LogFile=$dir/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
EOF
    chmod 600 "$dir/slurmdbd.conf"
    export SLURM_CONF=$dir/slurm.conf
    : >"$dir/pids"
    : >"$dir/created"
    # snakemake-executor-plugin-slurm-jobstep 0.6.1 drops SLURM_CONF from the
    # environment of the srun it runs inside each job, so srun reads the
    # default /etc/slurm/slurm.conf: link ours there if there is none (removed by stop).
    if [ ! -e /etc/slurm/slurm.conf ]; then
        mkdir -p /etc/slurm
        ln -s "$dir/slurm.conf" /etc/slurm/slurm.conf
        echo /etc/slurm/slurm.conf >>"$dir/created"
    fi

    # munge: its own socket and pid file, so a munged already running is left alone.
    # (in /run/munge: the munge user cannot enter a private temporary DIR).
    mkdir -p /run/munge
    chown munge:munge /run/munge
    if ! pgrep -x munged >/dev/null; then
        rm -f /run/munge/onepixel-munged.pid
        runuser -u munge -- munged --pid-file=/run/munge/onepixel-munged.pid \
            --log-file=/run/munge/onepixel-munged.log
        wait_for 10 munged test -s /run/munge/onepixel-munged.pid
        cat /run/munge/onepixel-munged.pid >>"$dir/pids"
    fi

    # MariaDB on its own data directory and port.
    mariadb-install-db --user=root --datadir="$dir/mysql" --auth-root-authentication-method=normal \
        >"$dir/mariadb-install.log" 2>&1
    mariadbd --user=root --datadir="$dir/mysql" --port=3307 --bind-address=127.0.0.1 \
        --socket="$dir/run/mysqld.sock" --pid-file="$dir/run/mysqld.pid" \
        --skip-log-error >"$dir/mariadbd.log" 2>&1 &
    echo $! >>"$dir/pids"
    wait_for 60 mariadbd mariadb --socket="$dir/run/mysqld.sock" -uroot -e "select 1"
    mariadb --socket="$dir/run/mysqld.sock" -uroot -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'onepixel';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'onepixel';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

    slurmdbd -D >"$dir/slurmdbd.out" 2>&1 &
    echo $! >>"$dir/pids"
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster onepixel >/dev/null || true
    sacctmgr -i add account onepixel Description=onepixel Organization=onepixel >/dev/null || true
    sacctmgr -i add user "$(id -un)" Account=onepixel >/dev/null || true

    slurmctld -D -f "$SLURM_CONF" >"$dir/slurmctld.out" 2>&1 &
    echo $! >>"$dir/pids"
    wait_for 60 slurmctld scontrol ping
    slurmd -D -f "$SLURM_CONF" >"$dir/slurmd.out" 2>&1 &
    echo $! >>"$dir/pids"
    wait_for 60 "node $host idle" bash -c "sinfo -h -N -o %T | grep -q idle"
    echo "local SLURM up: SLURM_CONF=$SLURM_CONF"
}

stop() {
    local dir=$1
    [ -f "$dir/pids" ] || return 0
    # Reverse start order; only the PIDs this script started.
    tac "$dir/pids" | while read -r pid; do
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$dir/pids"
    if [ -f "$dir/created" ]; then
        while read -r path; do rm -f "$path"; done <"$dir/created"
        rm -f "$dir/created"
    fi
}

case $cmd in
install) install ;;
start) start "${2:?DIR}" ;;
stop) stop "${2:?DIR}" ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
