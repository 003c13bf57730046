#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 cluster with pg_trickle preloaded.
#   scripts/cluster.sh start DIR PORT   (re)creates DIR/data, socket in DIR/socket, log DIR/log
#   scripts/cluster.sh restart DIR PORT (keeps the data)
#   scripts/cluster.sh stop  DIR PORT
# PostgreSQL refuses to run as root: as root, the cluster runs as the 'postgres' OS user
# (created if missing); otherwise as the calling user.
set -euo pipefail

action=$1 dir=$2 port=$3
bindir=$(pg_config --bindir)
if [ ! -x "$bindir/initdb" ]; then bindir=/usr/lib/postgresql/15/bin; fi

if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash postgres
    as_owner() { runuser -u postgres -- "$@"; }
    owner=postgres
else
    as_owner() { "$@"; }
    owner=$(id -un)
fi

case "$action" in
start)
    if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    mkdir -p "$dir/socket"
    chown -R "$owner" "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir/socket'
shared_preload_libraries = 'pg_trickle'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
max_worker_processes = 32
max_prepared_transactions = 10
log_min_messages = warning
log_line_prefix = '%m [%p] %q%a '
CONF
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start >/dev/null \
        || { cat "$dir/log" >&2; exit 1; }
    echo "cluster running: psql -h $dir/socket -p $port -U postgres"
    ;;
restart)
    # Keeps the data: picks up a newly installed library (it is preloaded).
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -m fast -w -t 60 restart >/dev/null \
        || { tail -20 "$dir/log" >&2; exit 1; }
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    echo "cluster stopped"
    ;;
*)
    echo "usage: $0 start|restart|stop DIR PORT" >&2
    exit 2
    ;;
esac
