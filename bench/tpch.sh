#!/usr/bin/env bash
# TPC-H refresh benchmark: each of the 22 TPC-H queries (test/tpch/queries/) as a FULL and as a
# DIFFERENTIAL stream table, refreshed after cycles of churn, FULL and DIFFERENTIAL side by side.
# Not a test: nothing here asserts a time. After every cycle each DIFFERENTIAL stream table is
# compared with its query (EXCEPT ALL both ways) and MISMATCH is printed when they differ.
#
#   bench/tpch.sh                    # SF=0.1 CYCLES=3 CHURN_PCT=1
#   SF=0.01 CYCLES=2 bench/tpch.sh
#
# Environment:
#   SF         scale factor of the generated data (default 0.1); test/tpch/generate.sql, seed 1
#   CYCLES     timed cycles (default 3)
#   CHURN_PCT  percent churn per cycle (default 1): RF1 inserts CHURN_PCT% new orders with their
#              lineitems, RF2 deletes about CHURN_PCT% of the orders with their lineitems, and
#              tpch_rf_update changes about CHURN_PCT% of lineitems and orders and SMALL_FACTOR
#              times that of customer, partsupp, supplier; test/tpch/refresh_functions.sql
#   SMALL_FACTOR  (default 1) the churn of customer, partsupp and supplier relative to CHURN_PCT;
#              the test uses 10 (its small tables would see few changes), and so did the runs up
#              to the ninth in docs/TPCH.md
#   SESSION    cycle (default): each cycle's refreshes run one after the other in one database
#              session, as the scheduler and pool workers run them, with their caches warm;
#              refresh: every refresh in a new session (a cold backend, as a refresh worker
#              started for one refresh; the runs up to the ninth in docs/TPCH.md); run: every
#              cycle, churn included, in one session, as a pool worker refreshes the same stream
#              tables again and again (it keeps the plans of their delta statements), and no
#              ANALYZE between cycles (autovacuum's own still runs, as it would)
#   STRATEGY   pg_trickle.refresh_strategy of the refreshes (default differential: the delta rules
#              themselves, never FULL); auto: as users run them, where a refresh may recompute a
#              query instead (DIFFERENTIAL.md) or run FULL by the cost model (then its action says
#              FULL)
#   OUT        where results go (default /tmp/pgt-tpch-bench-out): results.txt, server log
#   KEEP       1: leave the cluster running at the end (default: stop it)
#
# Refresh times are the duration_ms that pgtrickle.get_refresh_history records (server side).
# DIFFERENTIAL refreshes run with pg_trickle.differential_max_change_ratio = 0, so that they are
# never turned into FULL ones by the change-ratio fallback: the table shows what the
# differential engine itself costs. Queries that refresh_mode => 'DIFFERENTIAL' refuses are
# listed with the reason, FULL only.
#
# The cluster: scripts/cluster.sh start /tmp/pgt-tpch-bench 55900, pg_trickle.enabled = off so
# that the scheduler never refreshes anything behind the benchmark's back (bench/lib.sh).
set -euo pipefail
shopt -s inherit_errexit
OUT=${OUT:-/tmp/pgt-tpch-bench-out}
source "$(dirname "$0")/lib.sh"
BENCH_DIR=/tmp/pgt-tpch-bench
PORT=55900

SF=${SF:-0.1}
CYCLES=${CYCLES:-3}
CHURN_PCT=${CHURN_PCT:-1}
SMALL_FACTOR=${SMALL_FACTOR:-1}
SESSION=${SESSION:-cycle}
case "$SESSION" in cycle|refresh|run) ;; *) echo "SESSION must be cycle, refresh or run" >&2; exit 2 ;; esac
STRATEGY=${STRATEGY:-differential}
KEEP=${KEEP:-0}
TPCH="$ROOT/test/tpch"

start_cluster
trap '[ "$KEEP" = 1 ] || stop_cluster' EXIT
bq -c "ALTER SYSTEM SET pg_trickle.refresh_strategy = '$STRATEGY'" -c "SELECT pg_reload_conf()" >/dev/null
echo "== bench/tpch.sh  SF=$SF CYCLES=$CYCLES CHURN_PCT=$CHURN_PCT SMALL_FACTOR=$SMALL_FACTOR STRATEGY=$STRATEGY SESSION=$SESSION"
print_facts

tq() {  # psql in schema tpch; INFO/WARNING chatter of create_stream_table filtered out
    bpsql -At -c "SET search_path = tpch, public" -c "SET client_min_messages = warning" "$@" \
        2> >(grep -v -E '^(INFO|WARNING|NOTICE|DETAIL|HINT): ' >&2)
}

t0=$(date +%s.%N)
bq -c "CREATE SCHEMA tpch"
tq -f "$TPCH/schema.sql" -f "$TPCH/generate.sql" -f "$TPCH/refresh_functions.sql"
nlines=$(tq -c "SELECT tpch_generate($SF, 1)")
tq -c "VACUUM ANALYZE" >/dev/null
printf 'load:        SF %s, %s orders, %s lineitems in %.1f s\n' "$SF" \
    "$(tq -c 'SELECT count(*) FROM orders')" "$nlines" "$(echo "$(date +%s.%N) - $t0" | bc)"

bq -c "CREATE TABLE bench_result (q int, mode text, cycle int, ms float8, action text,
                                   rows_changed bigint, mismatch bigint)" \
   -c "CREATE TABLE bench_refused (q int, reason text)" >/dev/null

# --- stream tables ------------------------------------------------------------------------------
for n in $(seq 1 22); do
    qn=$(printf 'q%02d' "$n")
    query=$(cat "$TPCH/queries/$qn.sql")
    t1=$(date +%s.%N)
    tq -c "SELECT pgtrickle.create_stream_table('${qn}_full', \$tpch\$$query\$tpch\$, refresh_mode => 'FULL', schedule => '1h')" >/dev/null
    if err=$(tq -v ON_ERROR_STOP=1 -c "SELECT pgtrickle.create_stream_table('${qn}_diff', \$tpch\$$query\$tpch\$, refresh_mode => 'DIFFERENTIAL', schedule => '1h')" 2>&1 >/dev/null); then
        :
    else
        reason=$(echo "$err" | sed -n 's/.*ERROR: *//p' | head -1)
        tq -c "INSERT INTO public.bench_refused VALUES ($n, \$r\$$reason\$r\$)" >/dev/null
    fi
    printf 'created %s in %.1f s\n' "$qn" "$(echo "$(date +%s.%N) - $t1" | bc)"
done
tq -c "VACUUM ANALYZE" >/dev/null

# --- cycles -------------------------------------------------------------------------------------
# Per cycle: the churn, then per query the FULL refresh, the DIFFERENTIAL refresh, and the
# comparison of the DIFFERENTIAL stream table with its query (not timed), all in one session
# (SESSION=cycle) or each refresh in a session of its own (SESSION=refresh).
run_script="$OUT/run.sql"
: >"$run_script"
for c in $(seq 1 "$CYCLES"); do
    script="$OUT/cycle_$c.sql"
    : >"$script"
    if [ "$SESSION" = run ]; then
        echo "SELECT 'cycle $c: ' || tpch_round($c, 1, $CHURN_PCT, $SMALL_FACTOR);" >>"$script"
    else
        t1=$(date +%s.%N)
        what=$(tq -c "SELECT tpch_round($c, 1, $CHURN_PCT, $SMALL_FACTOR)")
        printf 'cycle %s: %s (%.1f s)\n' "$c" "$what" "$(echo "$(date +%s.%N) - $t1" | bc)"
        tq -c "ANALYZE" >/dev/null
    fi
    for n in $(seq 1 22); do
        qn=$(printf 'q%02d' "$n")
        query=$(cat "$TPCH/queries/$qn.sql")
        for mode in full diff; do
            st="${qn}_$mode"
            [ "$(tq -c "SELECT count(*) FROM pgtrickle.pgt_stream_tables WHERE pgt_name = '$st'")" = 1 ] || continue
            cols=$(tq -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                          WHERE attrelid = 'tpch.$st'::regclass AND attnum > 0 AND NOT attisdropped
                            AND attname NOT LIKE '\\_\\_pgt%'")
            check="NULL"
            if [ "$mode" = diff ]; then
                check="(SELECT count(*) FROM ((SELECT $cols FROM tpch.$st EXCEPT ALL (
$query
)) UNION ALL ((
$query
) EXCEPT ALL SELECT $cols FROM tpch.$st)) d)"
            fi
            cat >>"$script" <<SQL
SELECT pgtrickle.refresh_stream_table('tpch.$st');
INSERT INTO public.bench_result
SELECT $n, '$mode', $c, h.duration_ms, h.action, h.rows_inserted + h.rows_deleted, $check
FROM pgtrickle.get_refresh_history('tpch.$st', 1) h;
SQL
            if [ "$SESSION" = refresh ]; then echo '\connect' >>"$script"; fi
        done
    done
    if [ "$SESSION" = run ]; then
        cat "$script" >>"$run_script"
        continue
    fi
    # \connect (SESSION=refresh) keeps the settings below only through PGOPTIONS.
    PGOPTIONS="-c pg_trickle.differential_max_change_ratio=0 -c search_path=tpch,public -c client_min_messages=warning" \
        bpsql -q -v ON_ERROR_STOP=1 -f "$script" >/dev/null
done
if [ "$SESSION" = run ]; then
    PGOPTIONS="-c pg_trickle.differential_max_change_ratio=0 -c search_path=tpch,public -c client_min_messages=warning" \
        bpsql -q -At -v ON_ERROR_STOP=1 -f "$run_script" | grep '^cycle '
fi

# --- report -------------------------------------------------------------------------------------
report=$(bpsql <<'SQL'
\pset footer off
WITH r AS (
    SELECT q, mode,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med_ms,
           avg(rows_changed) AS rows_changed,
           string_agg(DISTINCT action, ',') AS actions,
           sum(mismatch) AS mismatch
    FROM bench_result GROUP BY q, mode)
SELECT format('Q%s', lpad(f.q::text, 2, '0')) AS query,
       round(f.med_ms::numeric, 1) AS full_ms,
       round(d.med_ms::numeric, 1) AS diff_ms,
       CASE WHEN d.med_ms > 0 THEN round((f.med_ms / d.med_ms)::numeric, 1) END AS "full/diff",
       round(d.rows_changed) AS rows_changed,
       coalesce(d.actions, 'refused: ' || x.reason) AS diff_action,
       CASE WHEN d.mismatch > 0 THEN 'MISMATCH ' || d.mismatch WHEN d.q IS NOT NULL THEN 'ok' END AS "check"
FROM r f
LEFT JOIN r d ON d.q = f.q AND d.mode = 'diff'
LEFT JOIN bench_refused x ON x.q = f.q
WHERE f.mode = 'full'
ORDER BY f.q;
SQL
)
{
    echo
    echo "SF $SF, $CYCLES cycles of $CHURN_PCT% churn (SMALL_FACTOR=$SMALL_FACTOR, STRATEGY=$STRATEGY, SESSION=$SESSION); median refresh time per cycle (ms), rows changed = rows inserted + deleted by the DIFFERENTIAL refresh (average)"
    echo "$report"
} | tee "$OUT/results.txt"
cp "$BENCH_DIR/log" "$OUT/server.log" 2>/dev/null || true
printf 'total: %.0f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
