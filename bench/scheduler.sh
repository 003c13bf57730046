#!/usr/bin/env bash
# Scheduler benchmark: what the background scheduler costs when nothing changes, how long a
# committed row takes to show up in a '1s' stream table, and how fast a change walks down a chain
# of 10 calculated stream tables. One run, on its own throwaway cluster, results side by side.
# Not a test: nothing asserts a time.
#
#   bench/scheduler.sh        # IDLE_SECONDS=60 LATENCY_N=50 CHAIN_REPS=10
#
# Environment:
#   IDLE_SECONDS  length of each idle-cost window (default 60)
#   LATENCY_N     commit-to-visible samples per configuration (default 50)
#   CHAIN_REPS    propagations down the chain per configuration (default 10)
#   DIAG_SECONDS  length of the pg_stat_statements window of the diagnostic part (default 30;
#                 0 skips it)
#   OUT           where results go (default /tmp/pgt-sched-bench-out)
#   KEEP          1: leave the cluster running at the end
#
# Cluster: scripts/cluster.sh start /tmp/pgt-sched-bench 55900 (recreated on every run), with the
# scheduler ON and every pg_trickle setting at its default (scheduler_interval_ms 1000 unless a
# part says otherwise). pg_stat_statements is preloaded too, for part 4, but dormant until then
# (compute_query_id = off, pg_stat_statements.track = none: its hooks return at once); loading it
# at the start avoids a restart later, which would pick up whatever pg_trickle.so is installed by
# then (other work may install new builds while this runs). Parts:
#
# 1. Idle cost. N stream tables `SELECT id, v FROM src_i WHERE v > 0` (DIFFERENTIAL, one source
#    table of 100 rows each) and no writes. Over IDLE_SECONDS the scheduler backend's CPU time is
#    read before and after (/proc/<pid>/stat utime+stime, and /proc/<pid>/schedstat, which counts
#    nanoseconds), and the ticks are counted by sampling its pg_stat_activity row every 50 ms
#    (each tick ends with state 'idle' / 'waiting for the next tick' and a new state_change).
#    CPU / ticks / N = cost per idle stream table per tick. Runs: 10 and 100 stream tables with
#    schedule '1s' (each is due at every tick, so every tick runs a NO_DATA refresh of each), then
#    the same 100 and 10 with schedule '1h' (never due in the window: the tick only reads the
#    catalog and plans), which splits the cost between "looking" and "NO_DATA refreshes".
# 2. Commit-to-visible latency of a '1s' stream table: LATENCY_N times, sleep a random 0-1 s
#    (so commits land at random phases of the tick), insert a row with a unique marker, commit,
#    poll the stream table every 10 ms until the row is there. Interval 1000 ms with the 100 idle
#    '1s' stream tables of part 1 still present, then alone with 1000 ms and with 100 ms
#    (ALTER SYSTEM pg_trickle.scheduler_interval_ms + pg_reload_conf()).
# 3. Chain of 10: chain_1 reads chain_src, chain_k reads chain_(k-1), all schedule 'calculated'
#    (the default; resolved to pg_trickle.default_schedule_seconds = 1 s). CHAIN_REPS times:
#    random 0-1 s sleep, insert a marker into chain_src, commit, poll chain_10 every 10 ms.
#    Refresh work = the sum of (end_time - start_time) of the 10 refreshes of that propagation in
#    pgtrickle.pgt_refresh_history. Also: the wait before the first refresh, and the span from
#    the first refresh's start to the last one's end (includes the scheduler's per-refresh
#    transaction overhead that the history does not time). At 1000 ms and at 100 ms.
# 4. Diagnostic (DIAG_SECONDS > 0): pg_stat_statements switched on (compute_query_id = on,
#    track = all, track_planning = on, reload) and 100 idle '1s' stream tables; the scheduler's SQL statements during DIAG_SECONDS,
#    per tick, with planning and execution time. pg_stat_statements itself adds overhead, so
#    these times are for the split, not for the totals of part 1.
set -euo pipefail
shopt -s inherit_errexit
OUT=${OUT:-/tmp/pgt-sched-bench-out}
source "$(dirname "$0")/lib.sh"
# Our own cluster, not the one of the other benchmarks (lib.sh's helpers read these at call time).
BENCH_DIR=/tmp/pgt-sched-bench
PORT=55900

IDLE_SECONDS=${IDLE_SECONDS:-60}
LATENCY_N=${LATENCY_N:-50}
CHAIN_REPS=${CHAIN_REPS:-10}
DIAG_SECONDS=${DIAG_SECONDS:-30}
KEEP=${KEEP:-0}
NSRC=100
CHAIN=10

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# --- cluster -------------------------------------------------------------------------------------
"$ROOT/scripts/cluster.sh" start "$BENCH_DIR" "$PORT" >/dev/null
bq -c "ALTER SYSTEM SET shared_preload_libraries = pg_trickle, pg_stat_statements" \
   -c "ALTER SYSTEM SET compute_query_id = off" >/dev/null
"$ROOT/scripts/cluster.sh" restart "$BENCH_DIR" "$PORT"
so_md5() { md5sum "$PGBIN/../lib/pg_trickle.so" | cut -c1-12; }
loaded_md5=$(so_md5)   # what the server just loaded (it keeps it until the next restart)
bq -c "ALTER SYSTEM SET pg_stat_statements.track = none" -c "SELECT pg_reload_conf()" \
   -c "CREATE EXTENSION pg_trickle" -c "CREATE EXTENSION pg_stat_statements" >/dev/null
# The launcher starts this database's scheduler within moments of CREATE EXTENSION.
sched_pid() {
    bq -c "SELECT pid FROM pg_stat_activity
           WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database()"
}
for _ in $(seq 50); do [ -n "$(sched_pid)" ] && break; sleep 0.2; done
[ -n "$(sched_pid)" ] || { echo "no pg_trickle scheduler in database $DB" >&2; exit 1; }

echo "== bench/scheduler.sh  IDLE_SECONDS=$IDLE_SECONDS LATENCY_N=$LATENCY_N CHAIN_REPS=$CHAIN_REPS DIAG_SECONDS=$DIAG_SECONDS"
print_facts
echo "library:     pg_trickle.so md5 $loaded_md5 when the server started (it keeps that one for the whole run)"
echo "cluster:     $BENCH_DIR port $PORT; scheduler pid $(sched_pid);" \
     "scheduler_interval_ms=$(bq -c 'SHOW pg_trickle.scheduler_interval_ms')" \
     "default_schedule_seconds=$(bq -c 'SHOW pg_trickle.default_schedule_seconds')" \
     "compute_query_id=$(bq -c 'SHOW compute_query_id') pg_stat_statements.track=$(bq -c 'SHOW pg_stat_statements.track')"
start_s=$(date +%s)

bpsql <<'SQL'
CREATE SCHEMA bench;
CREATE SEQUENCE bench.marker START 1000000;
CREATE TABLE bench.idle (label text, n int, schedule text, seconds float8, ticks int,
                         own_refreshes int, cpu_stat_ms float8, cpu_sched_ms float8,
                         machine_busy_pct float8, load1 text, pid_changed bool);
CREATE TABLE bench.latency (config text, i int, marker int, t0 timestamptz, seen timestamptz,
                            cpu_ms float8, r_start timestamptz, r_end timestamptz);
CREATE TABLE bench.chain (config text, i int, marker int, t0 timestamptz, seen timestamptz,
                          cpu_ms float8);

-- CPU time (ms) the scheduler has used so far: /proc/<pid>/schedstat, first field, in ns.
CREATE FUNCTION bench.scheduler_cpu_ms() RETURNS float8 LANGUAGE sql AS $$
    SELECT split_part(pg_read_file('/proc/' || pid || '/schedstat'), ' ', 1)::float8 / 1e6
    FROM pg_stat_activity
    WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database()
$$;

-- Counts the scheduler's ticks for `seconds`: every tick ends by reporting state 'idle',
-- 'waiting for the next tick', which sets a new state_change. Also counts how often one stream
-- table's last_refresh_at moved (its scheduled refreshes, NO_DATA ones included).
CREATE FUNCTION bench.count_ticks(seconds float8, st regclass, OUT ticks int, OUT refreshes int)
LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
    last_tick timestamptz;
    tick timestamptz;
    last_ref timestamptz;
    ref timestamptz;
BEGIN
    ticks := 0;
    refreshes := 0;
    LOOP
        PERFORM pg_stat_clear_snapshot();   -- else pg_stat_activity is frozen for the transaction
        SELECT state_change INTO tick FROM pg_stat_activity
        WHERE backend_type = 'pg_trickle scheduler' AND datname = current_database()
          AND state = 'idle' AND query = 'waiting for the next tick';
        SELECT last_refresh_at INTO ref FROM pgtrickle.pgt_stream_tables WHERE pgt_relid = st;
        IF last_tick IS NULL THEN
            last_tick := tick;
        ELSIF tick IS DISTINCT FROM last_tick AND tick IS NOT NULL THEN
            ticks := ticks + 1;
            last_tick := tick;
        END IF;
        IF last_ref IS NULL THEN
            last_ref := ref;
        ELSIF ref IS DISTINCT FROM last_ref THEN
            refreshes := refreshes + 1;
            last_ref := ref;
        END IF;
        EXIT WHEN clock_timestamp() >= deadline;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;

-- Commit-to-visible: insert a marker into src, commit, poll st every 10 ms until it is there.
CREATE PROCEDURE bench.measure(tbl text, config text, n int, src text, st text)
LANGUAGE plpgsql AS $$
DECLARE
    m int;
    t0 timestamptz;
    found_it bool;
    cpu0 float8;
BEGIN
    FOR i IN 1..n LOOP
        PERFORM pg_sleep(random());          -- a random phase relative to the ticks
        m := nextval('bench.marker');
        cpu0 := bench.scheduler_cpu_ms();
        EXECUTE format('INSERT INTO %s VALUES ($1, 1)', src) USING m;
        t0 := clock_timestamp();
        COMMIT;
        LOOP
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE id = $1)', st) INTO found_it USING m;
            EXIT WHEN found_it OR clock_timestamp() > t0 + interval '60 s';
            PERFORM pg_sleep(0.01);
        END LOOP;
        EXECUTE format('INSERT INTO %s (config, i, marker, t0, seen, cpu_ms)'
                       ' VALUES ($1, $2, $3, $4, $5, $6)', tbl)
            USING config, i, m, t0, CASE WHEN found_it THEN clock_timestamp() END,
                  bench.scheduler_cpu_ms() - cpu0;
        COMMIT;
    END LOOP;
END $$;

-- The refresh of `st` that carried each sample's row: its first non-NO_DATA refresh that ended
-- after the commit. Recorded at once: dropping a stream table deletes its history.
CREATE PROCEDURE bench.attribute(config text, st text)
LANGUAGE sql AS $$
    UPDATE bench.latency l SET (r_start, r_end) =
        (SELECT h.start_time, h.end_time FROM pgtrickle.pgt_refresh_history h
         JOIN pgtrickle.pgt_stream_tables s USING (pgt_id)
         WHERE s.pgt_name = st AND h.action <> 'NO_DATA' AND h.end_time >= l.t0
         ORDER BY h.end_time LIMIT 1)
    WHERE l.config = attribute.config;
$$;
SQL

# CPU time of a process: utime+stime in ms (/proc/<pid>/stat, clock ticks) and run time in ms
# (/proc/<pid>/schedstat, nanoseconds).
clk_tck=$(getconf CLK_TCK)
cpu_stat_ms() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$clk_tck" '{print ($12 + $13) * 1000 / hz}'; }
cpu_sched_ms() { awk '{printf "%.3f\n", $1 / 1e6}' "/proc/$1/schedstat"; }
# Whole-machine busy and total jiffies (idle and iowait count as not busy).
machine_jiffies() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }

set_interval() {
    if [ "$1" = default ]; then
        bq -c "ALTER SYSTEM RESET pg_trickle.scheduler_interval_ms" -c "SELECT pg_reload_conf()" >/dev/null
    else
        bq -c "ALTER SYSTEM SET pg_trickle.scheduler_interval_ms = $1" -c "SELECT pg_reload_conf()" >/dev/null
    fi
    sleep 2   # the scheduler reloads at its next wake-up; SIGHUP wakes it
    log "scheduler_interval_ms = $(bq -c 'SHOW pg_trickle.scheduler_interval_ms')"
}

create_idle() {  # create_idle FROM TO SCHEDULE
    local i
    {
        echo "SET client_min_messages = warning;"
        for i in $(seq "$1" "$2"); do
            echo "CREATE TABLE IF NOT EXISTS src_$i (id int PRIMARY KEY, v int NOT NULL);"
            echo "INSERT INTO src_$i SELECT g, g FROM generate_series(1, 100) g ON CONFLICT DO NOTHING;"
            echo "SELECT pgtrickle.create_stream_table('idle_$i', 'SELECT id, v FROM src_$i WHERE v > 0',"
            echo "    schedule => '$3', refresh_mode => 'DIFFERENTIAL');"
        done
    } | bq 2>&1 | grep -v -e '^$' -e 'INFO:.*created' || true
}

measure_idle() {  # measure_idle LABEL N SCHEDULE
    local label=$1 n=$2 schedule=$3
    log "idle: $label — settling"
    sleep 5
    local pid0 pid1 s0 s1 r0 r1 m0 m1 load1 res
    load1=$(cut -d' ' -f1 /proc/loadavg)
    pid0=$(sched_pid)
    read -r m0 <<<"$(machine_jiffies | tr ' ' ':')"
    s0=$(cpu_stat_ms "$pid0"); r0=$(cpu_sched_ms "$pid0")
    bq -F ' ' -c "SELECT ticks, refreshes FROM bench.count_ticks($IDLE_SECONDS, 'idle_1')" >"$OUT/ticks" &
    local sampler=$!
    sleep "$IDLE_SECONDS"
    pid1=$(sched_pid)
    s1=$(cpu_stat_ms "$pid0"); r1=$(cpu_sched_ms "$pid0")
    read -r m1 <<<"$(machine_jiffies | tr ' ' ':')"
    wait "$sampler"
    read -r ticks own <"$OUT/ticks"
    local busy
    busy=$(awk -v a="$m0" -v b="$m1" 'BEGIN {split(a, x, ":"); split(b, y, ":");
                                              printf "%.1f", 100 * (y[1] - x[1]) / (y[2] - x[2])}')
    bq -c "INSERT INTO bench.idle VALUES ('$label', $n, '$schedule', $IDLE_SECONDS, $ticks, $own,
             $s1 - $s0, $r1 - $r0, $busy, '$load1', $([ "$pid0" = "$pid1" ] && echo false || echo true))"
    log "idle: $label — ticks $ticks, refreshes of idle_1 $own, scheduler CPU $(awk -v a="$r0" -v b="$r1" 'BEGIN {printf "%.0f", b - a}') ms, machine busy $busy%"
}

# --- 1. idle cost --------------------------------------------------------------------------------
log "creating 10 idle stream tables"
create_idle 1 10 1s
measure_idle "10 x 1s" 10 1s
log "creating 90 more"
create_idle 11 $NSRC 1s
measure_idle "100 x 1s" 100 1s

# --- 2a. latency with the 100 idle '1s' stream tables present -----------------------------------
bpsql <<'SQL'
CREATE TABLE lat_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO lat_src SELECT g, g FROM generate_series(1, 100) g;
SQL
bq -c "SELECT pgtrickle.create_stream_table('lat_st', 'SELECT id, v FROM lat_src WHERE v > 0',
        schedule => '1s', refresh_mode => 'DIFFERENTIAL')" 2>&1 | grep -v -e '^$' -e 'INFO:.*created' || true
sleep 3
log "latency: 1000 ms, with 100 idle '1s' stream tables"
bq -c "CALL bench.measure('bench.latency', '1000 ms + 100 idle', $LATENCY_N, 'lat_src', 'lat_st')"
bq -c "CALL bench.attribute('1000 ms + 100 idle', 'lat_st')"
bq -c "SELECT pgtrickle.drop_stream_table('lat_st')" >/dev/null

# --- 1 (cont.). the same stream tables, never due ------------------------------------------------
for i in $(seq 1 $NSRC); do
    echo "SELECT pgtrickle.alter_stream_table('idle_$i', schedule => '1h');"
done | bq >/dev/null
measure_idle "100 x 1h" 100 1h
for i in $(seq 11 $NSRC); do echo "SELECT pgtrickle.drop_stream_table('idle_$i');"; done | bq >/dev/null
measure_idle "10 x 1h" 10 1h
for i in $(seq 1 10); do echo "SELECT pgtrickle.drop_stream_table('idle_$i');"; done | bq >/dev/null

# --- 2b/2c. latency of a '1s' stream table alone ---------------------------------------------------
bq -c "SELECT pgtrickle.create_stream_table('lat_st', 'SELECT id, v FROM lat_src WHERE v > 0',
        schedule => '1s', refresh_mode => 'DIFFERENTIAL')" 2>&1 | grep -v -e '^$' -e 'INFO:.*created' || true
sleep 3
log "latency: 1000 ms, alone"
bq -c "CALL bench.measure('bench.latency', '1000 ms', $LATENCY_N, 'lat_src', 'lat_st')"
bq -c "CALL bench.attribute('1000 ms', 'lat_st')"
set_interval 100
log "latency: 100 ms, alone"
bq -c "CALL bench.measure('bench.latency', '100 ms', $LATENCY_N, 'lat_src', 'lat_st')"
bq -c "CALL bench.attribute('100 ms', 'lat_st')"
bq -c "SELECT pgtrickle.drop_stream_table('lat_st')" >/dev/null
set_interval default

# --- 3. chain of 10 ------------------------------------------------------------------------------
bpsql <<'SQL'
CREATE TABLE chain_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO chain_src SELECT g, g FROM generate_series(1, 100) g;
SQL
{
    echo "SELECT pgtrickle.create_stream_table('chain_1', 'SELECT id, v FROM chain_src WHERE v > 0', refresh_mode => 'DIFFERENTIAL');"
    for k in $(seq 2 $CHAIN); do
        echo "SELECT pgtrickle.create_stream_table('chain_$k', 'SELECT id, v FROM chain_$((k - 1))', refresh_mode => 'DIFFERENTIAL');"
    done
} | bq 2>&1 | grep -v -e '^$' -e 'INFO:.*created' || true
bq -c "SELECT string_agg(pgt_name || ':' || coalesce(schedule, 'calculated') || '/' || effective_refresh_mode, ' ' ORDER BY pgt_id)
       FROM pgtrickle.pgt_stream_tables" | sed 's/^/chain: /' >&2
sleep 3
log "chain: 1000 ms"
bq -c "CALL bench.measure('bench.chain', '1000 ms', $CHAIN_REPS, 'chain_src', 'chain_$CHAIN')"
set_interval 100
log "chain: 100 ms"
bq -c "CALL bench.measure('bench.chain', '100 ms', $CHAIN_REPS, 'chain_src', 'chain_$CHAIN')"
set_interval default

# --- results -------------------------------------------------------------------------------------
echo
echo "load avg at the end: $(cut -d' ' -f1-3 /proc/loadavg); elapsed $(( $(date +%s) - start_s )) s"
echo
echo "## 1. Idle cost (no writes; scheduler CPU time over ${IDLE_SECONDS} s)"
bpsql -P footer=off <<'SQL'
SELECT label AS "stream tables", ticks, own_refreshes AS "refreshes of idle_1",
       round((seconds * 1000 / ticks)::numeric, 0) AS "ms per tick (wall)",
       round(cpu_sched_ms::numeric, 0) AS "CPU ms (schedstat)",
       round(cpu_stat_ms::numeric, 0) AS "CPU ms (stat)",
       round((cpu_sched_ms / ticks)::numeric, 2) AS "CPU ms per tick",
       round((cpu_sched_ms * 1000 / ticks / n)::numeric, 1) AS "µs per ST per tick",
       round((100 * cpu_sched_ms / (seconds * 1000))::numeric, 1) AS "% of a core",
       machine_busy_pct AS "machine busy %", load1 AS "load1 at start",
       CASE WHEN pid_changed THEN 'scheduler restarted!' ELSE '' END AS note
FROM bench.idle ORDER BY schedule, n;
SQL
echo
echo "Per-table slope and fixed part (schedstat CPU per tick, fitted through the 10 and 100 runs):"
bpsql -P footer=off <<'SQL'
WITH t AS (SELECT schedule, n, cpu_sched_ms / ticks AS per_tick FROM bench.idle)
SELECT a.schedule,
       round(((b.per_tick - a.per_tick) * 1000 / (b.n - a.n))::numeric, 1) AS "µs per extra ST per tick",
       round((a.per_tick * 1000 - a.n * (b.per_tick - a.per_tick) * 1000 / (b.n - a.n))::numeric, 0)
           AS "fixed µs per tick"
FROM t a JOIN t b ON a.schedule = b.schedule AND a.n = 10 AND b.n = 100
ORDER BY a.schedule;
SQL
echo
echo "## 2. Commit-to-visible latency of a '1s' stream table (ms; $LATENCY_N samples each)"
echo "wait = commit -> start of the refresh that carried the row; refresh = its duration in the history;"
echo "sched CPU = scheduler CPU time between the insert and the row seen (the tick(s) in between)"
bpsql -P footer=off <<'SQL'
WITH s AS (
    SELECT config, t0, cpu_ms, extract(epoch FROM seen - t0) * 1000 AS ms,
           extract(epoch FROM r_start - t0) * 1000 AS wait_ms,
           extract(epoch FROM r_end - r_start) * 1000 AS refresh_ms
    FROM bench.latency)
SELECT config, count(ms) AS n, count(*) - count(ms) AS "timed out",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 0) AS p50,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 0) AS p90,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 0) AS p99,
       round(max(ms)::numeric, 0) AS max, round(min(ms)::numeric, 0) AS min,
       round(avg(ms)::numeric, 0) AS mean,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms)::numeric, 0) AS "wait p50",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY refresh_ms)::numeric, 1) AS "refresh p50",
       round(max(refresh_ms)::numeric, 1) AS "refresh max",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_ms)::numeric, 1) AS "sched CPU p50"
FROM s GROUP BY config ORDER BY min(t0);
SQL
echo
echo "## 3. Chain of $CHAIN calculated stream tables (ms; medians of $CHAIN_REPS propagations)"
echo "refresh work = sum of the $CHAIN refresh durations in the history; span = first start -> last end;"
echo "gaps > 50 ms = pauses inside the propagation (it was split over ticks);"
echo "sched CPU = scheduler CPU time from the insert to the row seen in chain_$CHAIN (includes the catalog read of"
echo "the tick, and NO_DATA refreshes of a tick that was under way at the commit);"
echo "wait = commit -> first refresh start; wall = commit -> row visible in chain_$CHAIN"
bpsql -P footer=off <<SQL
WITH p AS (
    SELECT c.config, c.t0, c.cpu_ms, extract(epoch FROM c.seen - c.t0) * 1000 AS wall_ms,
           h.n, h.work_ms, h.span_ms, h.wait_ms, h.gaps
    FROM bench.chain c
    LEFT JOIN LATERAL (
        SELECT count(*) AS n,
               sum(extract(epoch FROM end_time - start_time)) * 1000 AS work_ms,
               extract(epoch FROM max(end_time) - min(start_time)) * 1000 AS span_ms,
               extract(epoch FROM min(start_time) - c.t0) * 1000 AS wait_ms,
               count(*) FILTER (WHERE start_time - prev_end > interval '50 ms') AS gaps
        FROM (SELECT h.*, lag(end_time) OVER (ORDER BY start_time) AS prev_end
              FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
              WHERE st.pgt_name LIKE 'chain\_%' AND h.action <> 'NO_DATA'
                AND h.end_time > c.t0 AND h.end_time <= c.seen) h) h ON true)
SELECT config, count(wall_ms) AS reps,
       min(n) || '..' || max(n) AS "refreshes per rep",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY work_ms)::numeric, 1) AS "refresh work",
       round(min(work_ms)::numeric, 1) || '..' || round(max(work_ms)::numeric, 1) AS "work range",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY span_ms)::numeric, 1) AS span,
       min(gaps) || '..' || max(gaps) AS "gaps > 50 ms",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_ms)::numeric, 1) AS "sched CPU",
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms)::numeric, 0) AS wait,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY wall_ms)::numeric, 0) AS wall,
       round(min(wall_ms)::numeric, 0) || '..' || round(max(wall_ms)::numeric, 0) AS "wall range"
FROM p GROUP BY config ORDER BY min(t0);
SQL
echo
echo "Per stream table of the chain (median refresh duration, ms; all propagations):"
bq -F ' ' <<'SQL' | awk '{printf "  %s=%s", $1, $2} END {print ""}'
SELECT st.pgt_name, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.end_time - h.start_time) * 1000)::numeric, 2)
FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
WHERE st.pgt_name LIKE 'chain\_%' AND h.initiated_by = 'SCHEDULER' AND h.action <> 'NO_DATA'
GROUP BY st.pgt_id, st.pgt_name ORDER BY st.pgt_id;
SQL

# --- 4. diagnostic: the scheduler's statements ---------------------------------------------------
if [ "$DIAG_SECONDS" -gt 0 ]; then
    echo
    echo "## 4. Diagnostic: the scheduler's SQL per tick, 100 idle '1s' stream tables (pg_stat_statements, ${DIAG_SECONDS} s)"
    for i in $(seq $CHAIN -1 1); do echo "SELECT pgtrickle.drop_stream_table('chain_$i');"; done | bq >/dev/null
    bq -c "ALTER SYSTEM SET compute_query_id = on" \
       -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" \
       -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" \
       -c "SELECT pg_reload_conf()" >/dev/null
    create_idle 1 $NSRC 1s
    for _ in $(seq 50); do [ -n "$(sched_pid)" ] && break; sleep 0.2; done
    sleep 5
    pid=$(sched_pid)
    r0=$(cpu_sched_ms "$pid")
    bq -c "SELECT pg_stat_statements_reset()" >/dev/null
    bq -F ' ' -c "SELECT ticks, refreshes FROM bench.count_ticks($DIAG_SECONDS, 'idle_1')" >"$OUT/ticks"
    r1=$(cpu_sched_ms "$pid")
    read -r ticks own <"$OUT/ticks"
    echo "ticks $ticks; scheduler CPU $(awk -v a="$r0" -v b="$r1" -v t="$ticks" 'BEGIN {printf "%.1f ms per tick (with pg_stat_statements)", (b - a) / t}')"
    # Statements of the benchmark's own sessions (count_ticks, reset) and the launcher's database
    # scan are excluded by text; only top-level statements (the scheduler's SPI calls) count.
    bpsql -P footer=off -v ticks="$ticks" <<'SQL'
WITH s AS (
    -- one row per statement shape: the pending-changes probe has one text per change buffer
    SELECT regexp_replace(left(regexp_replace(regexp_replace(query, 'changes_[0-9]+', 'changes_<relid>', 'g'),
                                              '\s+', ' ', 'g'), 88), '^ ', '') AS statement,
           sum(calls) AS calls, sum(total_plan_time) AS plan_ms, sum(total_exec_time) AS exec_ms
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
      AND query !~* 'pg_stat|bench\.|pg_sleep|count_ticks|pgt_relid = st|FROM pg_catalog.pg_database'
    GROUP BY 1)
SELECT statement, round(calls::numeric / :ticks, 1) AS "calls/tick",
       round((plan_ms * 1000 / :ticks)::numeric, 0) AS "plan µs/tick",
       round((exec_ms * 1000 / :ticks)::numeric, 0) AS "exec µs/tick",
       round(((plan_ms + exec_ms) * 1000 / nullif(calls, 0))::numeric, 1) AS "µs/call",
       round((100 * (plan_ms + exec_ms) / sum(plan_ms + exec_ms) OVER ())::numeric, 1) AS "% of SQL"
FROM s ORDER BY plan_ms + exec_ms DESC LIMIT 15;
SQL
    bpsql -P footer=off -v ticks="$ticks" <<'SQL'
SELECT round(sum(calls)::numeric / :ticks, 0) AS "statements/tick",
       round((sum(total_plan_time) / :ticks)::numeric, 2) AS "plan ms/tick",
       round((sum(total_exec_time) / :ticks)::numeric, 2) AS "exec ms/tick"
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel
  AND query !~* 'pg_stat|bench\.|pg_sleep|count_ticks|pgt_relid = st|FROM pg_catalog.pg_database';
SQL
fi

now_md5=$(so_md5)
if [ "$now_md5" != "$loaded_md5" ]; then
    echo
    echo "note: pg_trickle.so was replaced during the run (now md5 $now_md5); the server kept using $loaded_md5"
fi

if [ "$KEEP" = 1 ]; then
    echo "cluster left running: psql -h $BENCH_DIR/socket -p $PORT -U postgres"
else
    stop_cluster
fi
