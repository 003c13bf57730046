#!/usr/bin/env bash
# Refresh benchmark: FULL vs DIFFERENTIAL vs a hand-written "floor", measured side by side in one
# run on one throwaway cluster. Not a test: nothing here asserts a time. It does check, after
# every round, that each stream table and each floor table equals its query (EXCEPT ALL both
# ways) and prints MISMATCH when one does not.
#
#   bench/refresh.sh                 # ROWS=1000000 ROUNDS=5 CHANGE_PCT=1
#   ROWS=200000 ROUNDS=3 bench/refresh.sh
#
# Environment:
#   ROWS        orders rows (default 1000000); customers = ROWS/100 (at least 100), regions = 10
#   ROUNDS      timed rounds (default 5); one extra warm-up round runs first and is not counted
#   CHANGE_PCT  percent of ROWS changed per round (default 1): 70% updates, 15% deletes,
#               15% inserts, in one transaction, drawn from a seeded random()
#   SEED        base seed for setseed, in [0, 0.5) (default 0.1)
#   EXPLAIN     1 (default): after the timed rounds, one more change set is applied and the
#               delta statement of every DIFFERENTIAL table (pgtrickle.explain_diff_sql) and the
#               floor statements are run under EXPLAIN (ANALYZE, BUFFERS) and rolled back;
#               plans go to $OUT/explain_<family>_{diff,diff_analyzed,diff_jit,refresh,floor}.txt,
#               the delta SQL to $OUT/delta_<family>.sql
#               Each delta is run three ways, with the settings the refresh pins: as the refresh
#               plans it, after ANALYZE of the change buffers, and with jit = on (what refreshes
#               did before JIT was pinned off) (diagnosis of estimates and JIT; the timed rounds
#               never do either). explain_diff_sql renders a term for every source, changed or
#               not, while the refresh skips the terms of sources without changes, so the
#               refresh itself is also run once under auto_explain (log_analyze, log_buffers,
#               nested statements, sent to the client as NOTICEs) and rolled back:
#               $OUT/explain_<family>_refresh.txt holds the plans of the statements it ran
#   AUTO_EXPLAIN_MS  statements (also those inside a refresh) slower than this are logged with
#               their plan (auto_explain, estimates only, no ANALYZE overhead); default 100,
#               0 = off. Log: $OUT/server.log, application_name says which round
#   OUT         where results go (default /tmp/pgt-bench-out)
#   KEEP        1: leave the cluster running at the end (default: stop it)
#
# The cluster: scripts/cluster.sh start /tmp/pgt-bench 55800, pg_trickle.enabled = off (ALTER
# SYSTEM + reload) so the scheduler never refreshes anything behind the benchmark's back.
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-1000000}
ROUNDS=${ROUNDS:-5}
CHANGE_PCT=${CHANGE_PCT:-1}
SEED=${SEED:-0.1}
EXPLAIN=${EXPLAIN:-1}
KEEP=${KEEP:-0}
AUTO_EXPLAIN_MS=${AUTO_EXPLAIN_MS:-100}
NCUST=$(( ROWS / 100 > 100 ? ROWS / 100 : 100 ))
NCHG=$(awk -v r="$ROWS" -v p="$CHANGE_PCT" 'BEGIN { printf "%d", r * p / 100 }')

FAMILIES=(scan filter agg_region agg_customer join join_agg)
declare -A Q COLS FLOOR_DDL FLOOR1 FLOOR2

# --- query families ------------------------------------------------------------------------------
Q[scan]="SELECT id, customer_id, amount, qty FROM orders"
COLS[scan]="id, customer_id, amount, qty"
Q[filter]="SELECT id, customer_id, amount FROM orders WHERE amount >= 900"
COLS[filter]="id, customer_id, amount"
Q[agg_region]="SELECT region_id, count(*) AS n, sum(amount) AS total, avg(qty) AS avg_qty FROM orders GROUP BY region_id"
COLS[agg_region]="region_id, n, total, avg_qty"
Q[agg_customer]="SELECT customer_id, count(*) AS n, sum(amount) AS total, avg(qty) AS avg_qty FROM orders GROUP BY customer_id"
COLS[agg_customer]="customer_id, n, total, avg_qty"
Q[join]="SELECT o.id, o.amount, o.qty, c.name, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id"
COLS[join]="id, amount, qty, name, segment"
Q[join_agg]="SELECT c.segment, count(*) AS n, sum(o.amount) AS total, avg(o.qty) AS avg_qty FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.segment"
COLS[join_agg]="segment, n, total, avg_qty"

# --- the floor -----------------------------------------------------------------------------------
# A plain table f_<family> holding the query's result, and the hand-written SQL an expert would
# run to apply one change set to it. The change set is floor_log: for every changed orders row its
# old image (sign -1) and/or new image (sign +1), written by the benchmark in the same transaction
# as the change (not timed, as pg_trickle's change capture is not timed here either; see
# bench/write_cost.sh). The floor uses what the expert knows: orders.id is the key, each id
# changes at most once per round (the generator guarantees it), customers does not change and
# every orders.customer_id has a customer.
# Row-level results are upserted by id; aggregates keep count/sum state and add signed deltas.
floor_rows() {  # $1 table, $2 select list over l [and c], $3 extra FROM, $4 filter on l, $5 SET list
    local t=$1 sel=$2 from=$3 filt=$4 set=$5
    # Delete the ids whose new image is gone (deleted, or no longer passes the filter); upsert the
    # new images. Grouping the log by id keeps the plan linear whatever the log's statistics say;
    # = ANY (ARRAY(...)) makes the delete probe the primary key (a join may pick a full scan).
    FLOOR1[$t]="DELETE FROM f_$t WHERE id = ANY (ARRAY(SELECT l.id FROM floor_log l GROUP BY l.id HAVING NOT bool_or(l.sign = 1 $filt)))"
    FLOOR2[$t]="INSERT INTO f_$t AS f SELECT $sel FROM floor_log l $from WHERE l.sign = 1 $filt ON CONFLICT (id) DO UPDATE SET $set"
}
floor_agg() {  # $1 table, $2 key column, $3 key expression, $4 extra FROM
    local t=$1 k=$2 kx=$3 from=$4
    FLOOR1[$t]="INSERT INTO f_$t AS f ($k, n, total, qty_sum, avg_qty) SELECT $kx, sum(l.sign), sum(l.sign * l.amount), sum(l.sign * l.qty), sum(l.sign * l.qty)::numeric / nullif(sum(l.sign), 0) FROM floor_log l $from GROUP BY 1 ON CONFLICT ($k) DO UPDATE SET n = f.n + excluded.n, total = f.total + excluded.total, qty_sum = f.qty_sum + excluded.qty_sum, avg_qty = (f.qty_sum + excluded.qty_sum)::numeric / nullif(f.n + excluded.n, 0)"
    FLOOR2[$t]="DELETE FROM f_$t WHERE n = 0"
}
FLOOR_DDL[scan]="CREATE TABLE f_scan (id int PRIMARY KEY, customer_id int, amount numeric(12,2), qty int); INSERT INTO f_scan ${Q[scan]};"
floor_rows scan "l.id, l.customer_id, l.amount, l.qty" "" "" \
    "customer_id = excluded.customer_id, amount = excluded.amount, qty = excluded.qty"
FLOOR_DDL[filter]="CREATE TABLE f_filter (id int PRIMARY KEY, customer_id int, amount numeric(12,2)); INSERT INTO f_filter ${Q[filter]};"
floor_rows filter "l.id, l.customer_id, l.amount" "" "AND l.amount >= 900" \
    "customer_id = excluded.customer_id, amount = excluded.amount"
FLOOR_DDL[join]="CREATE TABLE f_join (id int PRIMARY KEY, amount numeric(12,2), qty int, name text, segment int); INSERT INTO f_join ${Q[join]};"
floor_rows join "l.id, l.amount, l.qty, c.name, c.segment" "JOIN customers c ON c.id = l.customer_id" "" \
    "amount = excluded.amount, qty = excluded.qty, name = excluded.name, segment = excluded.segment"
for t in agg_region agg_customer join_agg; do
    case $t in
        agg_region) k=region_id kx=l.region_id from="" src="orders" ;;
        agg_customer) k=customer_id kx=l.customer_id from="" src="orders" ;;
        join_agg) k=segment kx=c.segment from="JOIN customers c ON c.id = l.customer_id" src="orders l $from" ;;
    esac
    FLOOR_DDL[$t]="CREATE TABLE f_$t ($k int PRIMARY KEY, n bigint, total numeric, qty_sum bigint, avg_qty numeric);
        INSERT INTO f_$t SELECT ${kx/l./}, count(*), sum(amount), sum(qty), avg(qty) FROM $src GROUP BY 1;"
    floor_agg "$t" "$k" "$kx" "$from"
done
FLOOR_DDL[join_agg]="CREATE TABLE f_join_agg (segment int PRIMARY KEY, n bigint, total numeric, qty_sum bigint, avg_qty numeric);
    INSERT INTO f_join_agg SELECT c.segment, count(*), sum(o.amount), sum(o.qty), avg(o.qty) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1;"

# --- setup ---------------------------------------------------------------------------------------
start_cluster
if [ "$AUTO_EXPLAIN_MS" != 0 ]; then
    bq -c "LOAD 'auto_explain'" -c "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'" \
       -c "ALTER SYSTEM SET auto_explain.log_min_duration = $AUTO_EXPLAIN_MS" \
       -c "ALTER SYSTEM SET auto_explain.log_nested_statements = on" -c "SELECT pg_reload_conf()" >/dev/null
fi
echo "== bench/refresh.sh  ROWS=$ROWS ROUNDS=$ROUNDS CHANGE_PCT=$CHANGE_PCT ($NCHG changes/round) SEED=$SEED"
print_facts
t0=$(date +%s)

bpsql <<SQL
\\o /dev/null
SELECT setseed($SEED);
\\o
CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, segment int NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, region_id int NOT NULL,
                     amount numeric(12,2) NOT NULL, qty int NOT NULL, created date NOT NULL);
INSERT INTO regions SELECT g, 'region ' || g FROM generate_series(1, 10) g;
INSERT INTO customers SELECT g, 'customer ' || g, 1 + (g * 7) % 20 FROM generate_series(1, $NCUST) g;
INSERT INTO orders
SELECT g, 1 + floor(random() * $NCUST)::int, 1 + floor(random() * 10)::int,
       round((random() * 1000)::numeric, 2), 1 + floor(random() * 10)::int,
       date '2024-01-01' + floor(random() * 365)::int
FROM generate_series(1, $ROWS) g;

-- The change log of the floor, and the generator's scratch tables.
CREATE TABLE floor_log (sign int NOT NULL, id int NOT NULL, customer_id int, region_id int,
                        amount numeric(12,2), qty int, created date);
CREATE TABLE bench_timing (round int, family text, kind text, ms float8);
CREATE TABLE bench_check (round int, family text, kind text, extra bigint, missing bigint);

-- The change generator (bench_rnd, bench_chg, bench_make_changes).
\\i $ROOT/bench/sql/order_changes.sql
SQL

for f in "${FAMILIES[@]}"; do
    for mode in FULL DIFFERENTIAL; do
        st=${f}_$( [ $mode = FULL ] && echo full || echo diff )
        out=$(bq -c "SELECT pgtrickle.create_stream_table('$st', \$q\$${Q[$f]}\$q\$, refresh_mode => '$mode')" 2>&1) \
            || { echo "$out" >&2; exit 1; }
        grep -v -e '^$' -e 'INFO:.*created' <<<"$out" || true
    done
    bpsql -c "${FLOOR_DDL[$f]}"
done
bpsql -c "VACUUM ANALYZE"
echo "setup: $(( $(date +%s) - t0 ))s (load, 12 stream tables, 6 floor tables)"

# --- rounds --------------------------------------------------------------------------------------
apply_changes() {  # $1 round
    local seed got
    seed=$(awk -v s="$SEED" -v r="$1" 'BEGIN { printf "%.4f", s + r / 1000 }')
    got=$(bq -c "SELECT bench_make_changes($seed, $NCHG, $NCUST)")
    bpsql <<'SQL'
BEGIN;
INSERT INTO floor_log
SELECT -1, o.id, o.customer_id, o.region_id, o.amount, o.qty, o.created
FROM orders o JOIN bench_chg c ON c.id = o.id WHERE c.op IN ('U', 'D');
UPDATE orders o SET customer_id = c.customer_id, region_id = c.region_id, amount = c.amount, qty = c.qty
FROM bench_chg c WHERE c.op = 'U' AND o.id = c.id;
DELETE FROM orders o USING bench_chg c WHERE c.op = 'D' AND o.id = c.id;
INSERT INTO orders SELECT id, customer_id, region_id, amount, qty, created FROM bench_chg WHERE op = 'I';
INSERT INTO floor_log SELECT 1, id, customer_id, region_id, amount, qty, created FROM bench_chg WHERE op IN ('U', 'I');
COMMIT;
SQL
    echo "$got"
}

# Each refresh / floor is one statement (one implicit transaction) timed by psql's \timing, so
# both sides include parse, plan, execution and commit. FULL refreshes run first in a round:
# the first refresh of a round also trims the change buffer rows every consumer has consumed
# (the previous round's), and that lands on a FULL refresh, whose time it barely moves.
timed_round() {  # $1 round
    {
        echo '\timing on'
        echo '\o /dev/null'
        for f in "${FAMILIES[@]}"; do
            echo "\\echo @@ $f full"
            echo "SELECT pgtrickle.refresh_stream_table('${f}_full');"
        done
        for f in "${FAMILIES[@]}"; do
            echo "\\echo @@ $f diff"
            echo "SELECT pgtrickle.refresh_stream_table('${f}_diff');"
        done
        for f in "${FAMILIES[@]}"; do
            echo "\\echo @@ $f floor"
            printf '%s \\; %s;\n' "${FLOOR1[$f]}" "${FLOOR2[$f]}"
        done
    } | PGAPPNAME=bench_round_$1 bpsql | awk -v r="$1" '/^@@/ { f = $2; k = $3; next } /^Time:/ { print r "\t" f "\t" k "\t" $2 }'
}

check_round() {  # $1 round: every DIFF/FULL/floor table equals its query
    {
        echo "SET work_mem = '256MB';"
        for f in "${FAMILIES[@]}"; do
            echo "CREATE TEMP TABLE expected AS ${Q[$f]};"
            for k in full diff floor; do
                t=${f}_$k
                [ $k = floor ] && t=f_$f
                echo "INSERT INTO bench_check SELECT $1, '$f', '$k',"
                echo "  (SELECT count(*) FROM (SELECT ${COLS[$f]} FROM $t EXCEPT ALL SELECT * FROM expected) a),"
                echo "  (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT ${COLS[$f]} FROM $t) b);"
            done
            echo "DROP TABLE expected;"
        done
    } | bpsql
    bq -F ' ' -c "SELECT 'MISMATCH round ' || round || ': ' || family || ' ' || kind || ': ' || extra
                         || ' rows not in the query result, ' || missing || ' rows missing'
                  FROM bench_check WHERE round = $1 AND (extra <> 0 OR missing <> 0)"
    # A DIFFERENTIAL table that fell back to FULL would make the comparison meaningless.
    bq -c "SELECT 'NOT DIFFERENTIAL round $1: ' || st.pgt_name || ' refreshed as ' || h.action
           FROM pgtrickle.pgt_stream_tables st
           JOIN LATERAL (SELECT action FROM pgtrickle.pgt_refresh_history h
                         WHERE h.pgt_id = st.pgt_id ORDER BY refresh_id DESC LIMIT 1) h ON true
           WHERE st.refresh_mode = 'DIFFERENTIAL' AND h.action <> 'DIFFERENTIAL'"
}

for r in $(seq 0 "$ROUNDS"); do
    rt=$(date +%s)
    got=$(apply_changes "$r")
    timed_round "$r" > "$OUT/round_$r.tsv"
    bpsql -c "\\copy bench_timing FROM '$OUT/round_$r.tsv'"
    # The refresh's own duration (pgtrickle.get_refresh_history: refresh() up to the frontier,
    # without the catalog bookkeeping, buffer trim and commit around it).
    for f in "${FAMILIES[@]}"; do
        for k in full diff; do
            bq -c "INSERT INTO bench_timing SELECT $r, '$f', '${k}_engine', duration_ms
                   FROM pgtrickle.get_refresh_history('public.${f}_$k', 1)"
        done
    done
    bq -c "TRUNCATE floor_log"
    check_round "$r"
    label=$([ "$r" -eq 0 ] && echo "warm-up" || echo "round $r")
    echo "$label: changes $got; $(( $(date +%s) - rt ))s; load avg $(cut -d' ' -f1 /proc/loadavg)"
done

# --- EXPLAIN ANALYZE of the delta statements -----------------------------------------------------
if [ "$EXPLAIN" = 1 ]; then
    r=$(( ROUNDS + 1 ))
    apply_changes "$r" >/dev/null
    buffers=$(bq -c "SELECT string_agg('pgtrickle_changes.' || quote_ident(relname), ', ')
                     FROM pg_class WHERE relnamespace = 'pgtrickle_changes'::regnamespace AND relkind = 'r'
                       AND relname LIKE 'changes\\_%'")
    explain_delta() {  # $1 family, $2 extra statements before the EXPLAIN
        # Run as the refresh runs it (its settings pinned), in a transaction that is rolled back.
        bpsql <<SQL
BEGIN;
SELECT pgtrickle.explain_diff_sql('public.${1}_diff') AS delta \\gset
ALTER TABLE public.${1}_diff DISABLE TRIGGER pgt_dml_guard;
SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL TimeZone = 'UTC';
SET LOCAL extra_float_digits = 1; SET LOCAL bytea_output = 'hex'; SET LOCAL jit = off;
SET LOCAL search_path = pg_catalog, pg_temp;
$2
EXPLAIN (ANALYZE, BUFFERS) :delta;
ROLLBACK;
SQL
    }
    explain_refresh() {  # $1 family: the refresh itself, its plans as NOTICEs, rolled back
        bpsql 2>&1 <<SQL
LOAD 'auto_explain';
SET auto_explain.log_level = notice; SET client_min_messages = notice;
SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;
BEGIN;
SELECT pgtrickle.refresh_stream_table('public.${1}_diff');
ROLLBACK;
SQL
    }
    for f in "${FAMILIES[@]}"; do
        explain_delta "$f" "" >"$OUT/explain_${f}_diff.txt"
        explain_delta "$f" "ANALYZE $buffers;" >"$OUT/explain_${f}_diff_analyzed.txt"
        explain_delta "$f" "SET LOCAL jit = on;" >"$OUT/explain_${f}_diff_jit.txt"
        explain_refresh "$f" >"$OUT/explain_${f}_refresh.txt"
        bpsql >"$OUT/explain_${f}_floor.txt" <<SQL
BEGIN;
EXPLAIN (ANALYZE, BUFFERS) ${FLOOR1[$f]};
EXPLAIN (ANALYZE, BUFFERS) ${FLOOR2[$f]};
ROLLBACK;
SQL
        bpsql -Atc "SELECT pgtrickle.explain_diff_sql('public.${f}_diff')" >"$OUT/delta_${f}.sql"
    done
    ms() {  # planning + execution (+ JIT is inside execution) of every plan in a file
        awk '/Planning Time:|Execution Time:/ { t += $3 } END { printf "%.1f", t }' "$1"
    }
    echo
    echo "EXPLAIN ANALYZE of one more change set (ms, planning + execution; instrumented, so above the timed numbers):"
    # The refresh under auto_explain: its slowest nested statement (the delta) and the whole call.
    refresh_ms() {  # "<slowest nested statement> / <whole call>" (the call is logged last)
        awk '/duration: [0-9.]+ ms/ { for (i = 1; i < NF; i++) if ($i == "duration:") d[++n] = $(i+1) }
             END { for (i = 1; i < n; i++) if (d[i] + 0 > m) m = d[i] + 0; printf "%.1f / %.1f", m, d[n] }' "$1"
    }
    echo "| family | delta as planned | buffers ANALYZEd | jit = on | refresh: slowest statement / call | floor | JIT ms (jit = on) |"
    echo "|---|--:|--:|--:|--:|--:|--:|"
    for f in "${FAMILIES[@]}"; do
        jit=$(awk '/Timing: Generation/ { print $NF == "ms" ? $(NF-1) : $NF }' "$OUT/explain_${f}_diff_jit.txt")
        echo "| $f | $(ms "$OUT/explain_${f}_diff.txt") | $(ms "$OUT/explain_${f}_diff_analyzed.txt") |" \
             "$(ms "$OUT/explain_${f}_diff_jit.txt") | $(refresh_ms "$OUT/explain_${f}_refresh.txt") |" \
             "$(ms "$OUT/explain_${f}_floor.txt") | ${jit:-–} |"
    done
    echo "explain: delta plans in $OUT/explain_<family>_diff*.txt, the refresh's own plans in" \
         "$OUT/explain_<family>_refresh.txt, floor plans in $OUT/explain_<family>_floor.txt"
fi

# --- results -------------------------------------------------------------------------------------
order="array['${FAMILIES[*]}']"
order=${order// /\',\'}
echo
echo "Median over rounds 1..$ROUNDS (ms; one statement each, psql \\timing)."
echo "floor = hand-written delta SQL on a plain table from a hand-maintained change log."
bq -c "
WITH m AS (
    SELECT family, kind, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms
    FROM bench_timing WHERE round >= 1 GROUP BY 1, 2),
p AS (
    SELECT family,
           max(ms) FILTER (WHERE kind = 'full') AS f, max(ms) FILTER (WHERE kind = 'diff') AS d,
           max(ms) FILTER (WHERE kind = 'floor') AS l
    FROM m GROUP BY 1)
SELECT '| family | FULL ms | DIFF ms | floor ms | FULL/DIFF | DIFF/floor |'
UNION ALL SELECT '|---|--:|--:|--:|--:|--:|'
UNION ALL (SELECT format('| %s | %s | %s | %s | %s | %s |', family,
                  round(f::numeric, 1), round(d::numeric, 1), round(l::numeric, 1),
                  round((f / d)::numeric, 1) || '×', round((d / l)::numeric, 2) || '×')
           FROM p ORDER BY array_position($order, family))"
echo
echo "Ratios within each round (FULL, DIFF and floor of a round ran back to back): min / median / max"
bq -c "
WITH r AS (
    SELECT family, round,
           max(ms) FILTER (WHERE kind = 'full') / max(ms) FILTER (WHERE kind = 'diff') AS fd,
           max(ms) FILTER (WHERE kind = 'diff') / max(ms) FILTER (WHERE kind = 'floor') AS dl
    FROM bench_timing WHERE round >= 1 GROUP BY 1, 2)
SELECT '| family | FULL/DIFF | DIFF/floor |'
UNION ALL SELECT '|---|--:|--:|'
UNION ALL (SELECT format('| %s | %s / %s / %s | %s / %s / %s |', family,
                  round(min(fd)::numeric, 1), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY fd))::numeric, 1),
                  round(max(fd)::numeric, 1),
                  round(min(dl)::numeric, 2), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY dl))::numeric, 2),
                  round(max(dl)::numeric, 2))
           FROM r GROUP BY family ORDER BY array_position($order, family))"
echo
echo "Every round (ms; round 0 is the warm-up, not counted; *_engine = the refresh's own duration_ms"
echo "from get_refresh_history, the rest of the statement is catalog bookkeeping, buffer trim, commit):"
bq -c "
SELECT format('| %s | %s | %s |', family, kind, string_agg(round(ms::numeric, 1)::text, ' | ' ORDER BY round))
FROM bench_timing GROUP BY family, kind
ORDER BY array_position($order, family), array_position(array['full','full_engine','diff','diff_engine','floor'], kind)"
echo
nbad=$(bq -c "SELECT count(*) FROM bench_check WHERE extra <> 0 OR missing <> 0")
nchk=$(bq -c "SELECT count(*) FROM bench_check")
echo "checks: $nchk table/round comparisons (EXCEPT ALL both ways), $nbad MISMATCH"
echo "total: $(( $(date +%s) - t0 ))s; load avg at end $(cut -d' ' -f1-3 /proc/loadavg)"

cp "$BENCH_DIR/log" "$OUT/server.log"
[ "$KEEP" = 1 ] || stop_cluster
