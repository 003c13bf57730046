#!/usr/bin/env bash
# Pool workers against refresh workers: the same scheduled refreshes, first with a refresh worker
# started per refresh (pg_trickle.worker_pool_size = 0, the default), then with pool workers that
# stay connected (worker_pool_size = 3, what max_concurrent_refreshes = 4 lets a database use).
# Side by side in one run, on one throwaway cluster. Not a test: nothing asserts a time.
#
#   bench/pool.sh                      # TABLES=8 WINDOW=30
#
# Environment:
#   TABLES   DIFFERENTIAL stream tables over one source, all on a '1s' schedule (default 8):
#            `SELECT grp, count(*), sum(v) FROM src WHERE grp % TABLES = i GROUP BY grp`
#   WINDOW   seconds per window (default 30); a writer updates one row every 0.2 s, so every
#            stream table has a change at each tick and they are due together
#   OUT      where results go (default /tmp/pgt-bench-out)
#   KEEP     1: leave the cluster running at the end
#
# Measured per window, from pgtrickle.pgt_refresh_history (initiated_by = 'SCHEDULER', action
# DIFFERENTIAL): how many refreshes ran, and the median and 90th percentile of end_time -
# start_time (the refresh as its backend runs it: a refresh worker starts with empty caches).
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/lib.sh"

TABLES=${TABLES:-8}
WINDOW=${WINDOW:-30}
KEEP=${KEEP:-0}

start_cluster
trap '[ "$KEEP" = 1 ] || stop_cluster' EXIT
echo "== bench/pool.sh  TABLES=$TABLES WINDOW=$WINDOW"
print_facts

bpsql <<SQL
CREATE TABLE src (id int PRIMARY KEY, grp int NOT NULL, v int NOT NULL);
INSERT INTO src SELECT g, g % 1000, g % 97 FROM generate_series(1, 100000) g;
CREATE TABLE bench_window (pool int, started timestamptz, ended timestamptz);
SQL
for i in $(seq 0 $((TABLES - 1))); do
    bq -c "SELECT pgtrickle.create_stream_table('st_$i', 'SELECT grp, count(*) AS n, sum(v) AS s FROM src WHERE grp % $TABLES = $i GROUP BY grp', schedule => '1s', refresh_mode => 'DIFFERENTIAL')" >/dev/null 2>&1
done
bq -c "VACUUM ANALYZE" >/dev/null

pool_workers() {
    bq -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_trickle pool worker'"
}

for pool in 0 3; do
    bq -c "ALTER SYSTEM SET pg_trickle.worker_pool_size = $pool" \
       -c "ALTER SYSTEM SET pg_trickle.enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 100); do
        [ "$(pool_workers)" = "$pool" ] && break
        sleep 0.1
    done
    sleep 2  # a few ticks to settle
    bq -c "INSERT INTO bench_window VALUES ($pool, clock_timestamp(), NULL)" >/dev/null
    n=$((WINDOW * 5))
    bpsql -c "DO \$\$ BEGIN FOR i IN 1..$n LOOP
                UPDATE src SET v = v + 1 WHERE id = 1 + (i * 7919) % 100000; COMMIT;
                PERFORM pg_sleep(0.2); END LOOP; END \$\$"
    bq -c "UPDATE bench_window SET ended = clock_timestamp() WHERE pool = $pool" >/dev/null
    echo "pool $pool: $(pool_workers) pool workers at the end of the window"
    bq -c "ALTER SYSTEM SET pg_trickle.enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 2
done
bq -c "ALTER SYSTEM RESET pg_trickle.worker_pool_size" -c "SELECT pg_reload_conf()" >/dev/null

bad=$(bq -c "SELECT count(*) FROM generate_series(0, $TABLES - 1) i
             WHERE EXISTS (SELECT 1 FROM pgtrickle.pgt_stream_tables WHERE pgt_name = 'st_' || i
                           AND status <> 'ACTIVE')")
report=$(bpsql <<'SQL'
\pset footer off
SELECT w.pool AS worker_pool_size, count(*) AS refreshes,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY h.ms)::numeric, 2) AS median_ms,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY h.ms)::numeric, 2) AS p90_ms
FROM bench_window w
JOIN (SELECT *, extract(epoch FROM end_time - start_time) * 1000 AS ms
      FROM pgtrickle.pgt_refresh_history) h
  ON h.start_time >= w.started AND h.start_time < w.ended
WHERE h.initiated_by = 'SCHEDULER' AND h.action = 'DIFFERENTIAL'
GROUP BY w.pool ORDER BY w.pool;
SQL
)
{
    echo
    echo "Scheduled DIFFERENTIAL refreshes of $TABLES stream tables due together every second, ${WINDOW} s per window (duration_ms from the refresh history)"
    echo "$report"
    echo "stream tables not ACTIVE at the end: $bad"
} | tee "$OUT/pool_results.txt"
