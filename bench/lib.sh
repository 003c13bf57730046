# Shared helpers for the benchmark scripts (sourced, not run).
#
# The benchmarks run on their own throwaway cluster: scripts/cluster.sh start $BENCH_DIR $PORT
# (fixed: /tmp/pgt-bench, port 55800). The cluster is recreated on every run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=/tmp/pgt-bench
PORT=55800
OUT=${OUT:-/tmp/pgt-bench-out}
PGBIN=/usr/lib/postgresql/15/bin
DB=postgres

mkdir -p "$OUT"

# psql on the bench cluster: no psqlrc, stop at the first error.
bpsql() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BENCH_DIR/socket" -p "$PORT" -U postgres -d "$DB" "$@"
}

# Unaligned, tuples-only.
bq() {
    bpsql -At "$@"
}

# Fresh cluster with pg_trickle preloaded, the scheduler off, and enough memory that the working
# set stays cached. DIFFERENTIAL refreshes never fall back to FULL (pg_trickle.refresh_strategy =
# 'differential'): the benchmarks measure the differential path itself. Everything else is
# PostgreSQL's default (work_mem 4MB, jit on, autovacuum on).
start_cluster() {
    "$ROOT/scripts/cluster.sh" start "$BENCH_DIR" "$PORT" >/dev/null
    bq -c "ALTER SYSTEM SET shared_buffers = '1GB'" \
       -c "ALTER SYSTEM SET max_wal_size = '8GB'" \
       -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" \
       -c "ALTER SYSTEM SET pg_trickle.enabled = off" \
       -c "ALTER SYSTEM SET pg_trickle.refresh_strategy = 'differential'" >/dev/null
    "$ROOT/scripts/cluster.sh" restart "$BENCH_DIR" "$PORT"
    bq -c "CREATE EXTENSION pg_trickle" -c "SELECT pg_reload_conf()" >/dev/null
    [ "$(bq -c 'SHOW pg_trickle.enabled')" = off ] || { echo "pg_trickle.enabled is not off" >&2; exit 1; }
}

stop_cluster() {
    "$ROOT/scripts/cluster.sh" stop "$BENCH_DIR" "$PORT" >/dev/null
}

# Facts about the machine and the build, printed at the top of every run.
print_facts() {
    echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "cpu:         $(nproc) x $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
    echo "memory:      $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
    echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (other processes may share the machine)"
    echo "postgres:    $(bq -c 'SHOW server_version')"
    local dirty
    dirty=$(git -C "$ROOT" diff --name-only HEAD -- src include 2>/dev/null | tr '\n' ' ')
    # The postmaster preloads pg_trickle.so and its backends inherit it, so the copy it mapped at
    # start is the one measured, even if someone installs a new .so during the run.
    local pm loaded=unknown
    pm=$(head -1 "$BENCH_DIR/data/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pm" ]; then
        local range
        range=$(awk '/pg_trickle\.so/ { print $1; exit }' "/proc/$pm/maps" 2>/dev/null || true)
        [ -n "$range" ] && loaded=$(md5sum "/proc/$pm/map_files/$range" 2>/dev/null | cut -c1-12)
    fi
    echo "pg_trickle:  git $(git -C "$ROOT" rev-parse --short HEAD)${dirty:+ + uncommitted changes in ${dirty% }}," \
         "installed .so md5 $(md5sum "$PGBIN/../lib/pg_trickle.so" 2>/dev/null | cut -c1-12)," \
         "loaded by the server: ${loaded:-unknown}"
    echo "settings:    shared_buffers=$(bq -c 'SHOW shared_buffers') work_mem=$(bq -c 'SHOW work_mem')" \
         "jit=$(bq -c 'SHOW jit') fsync=$(bq -c 'SHOW fsync') synchronous_commit=$(bq -c 'SHOW synchronous_commit')" \
         "pg_trickle.enabled=$(bq -c 'SHOW pg_trickle.enabled')"
}
