#!/usr/bin/env bash
# Write cost of change capture: the same statements on a plain table and on an identical table
# that feeds a DIFFERENTIAL stream table (its statement-level capture triggers copy the
# transition tables into pgtrickle_changes.changes_<relid>). Side by side in one run, on one
# throwaway cluster. Not a test: nothing asserts a time.
#
#   bench/write_cost.sh                  # ROWS=1000000 N=20000 REPS=3 BULK_REPS=7
#
# Environment:
#   ROWS       rows preloaded in each table (default 1000000)
#   N          single-row statements per pgbench run (default 20000)
#   REPS       pgbench runs per (operation, table) (default 3); median of latency averages
#   BULK       rows per bulk statement (default 10000)
#   BULK_REPS  bulk statements per (operation, table) (default 7); median
#   OUT        where results go (default /tmp/pgt-bench-out)
#   UNLOGGED   on: the change buffer is UNLOGGED (pg_trickle.unlogged_buffers; default off)
#   KEEP       1: leave the cluster running at the end
#
# Single-row statements run through pgbench (one client, -M prepared, one statement per
# transaction, autocommit), bulk statements through psql \timing (one statement, autocommit).
# Plain and captured runs alternate, and which goes first alternates between repetitions. After
# each captured run the stream table is refreshed (not timed) so the change buffer is trimmed,
# as the scheduler would do; the buffer's own growth within a run is part of the cost.
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-1000000}
N=${N:-20000}
REPS=${REPS:-3}
BULK=${BULK:-10000}
BULK_REPS=${BULK_REPS:-7}
KEEP=${KEEP:-0}
UNLOGGED=${UNLOGGED:-off}
PGBENCH=$PGBIN/pgbench
[ -x "$PGBENCH" ] || { echo "pgbench not found at $PGBENCH" >&2; exit 1; }

start_cluster
echo "== bench/write_cost.sh  ROWS=$ROWS N=$N REPS=$REPS BULK=$BULK BULK_REPS=$BULK_REPS UNLOGGED=$UNLOGGED"
print_facts
t0=$(date +%s)

for t in w_plain w_cdc; do
    bpsql <<SQL
CREATE TABLE $t (id int PRIMARY KEY, customer_id int NOT NULL, region_id int NOT NULL,
                 amount numeric(12,2) NOT NULL, qty int NOT NULL, created date NOT NULL);
INSERT INTO $t SELECT g, 1 + g % 10000, 1 + g % 10, (g % 100000) / 100.0, 1 + g % 10,
                      date '2024-01-01' + g % 365 FROM generate_series(1, $ROWS) g;
CREATE SEQUENCE ${t}_ins START $(( ROWS + 1 ));
CREATE SEQUENCE ${t}_del START 1;
SQL
done
# The consumer reads every column, so every column is captured (the widest buffer rows); its
# aggregates are algebraic, so the untimed trimming refreshes are cheap.
bq -c "SET pg_trickle.unlogged_buffers = $UNLOGGED; SELECT pgtrickle.create_stream_table('w_summary',
    'SELECT region_id, count(*) AS n, sum(amount) AS total, sum(qty) AS qty,
            count(customer_id) AS customers, count(created) AS dated FROM w_cdc GROUP BY region_id',
    refresh_mode => 'DIFFERENTIAL')" 2>&1 | grep -v -e '^$' -e 'INFO:.*created' || true
bq -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'w_cdc'::regclass AND tgname LIKE 'pg_trickle_cdc_%'" \
    | grep -qx 4 || { echo "w_cdc has no capture triggers" >&2; exit 1; }
bpsql -c "CREATE TABLE bench_result (kind text, op text, tbl text, rep int, value float8)" -c "VACUUM ANALYZE"
echo "capture buffer of w_cdc: $(bq -c "SELECT 'pgtrickle_changes.changes_' || 'w_cdc'::regclass::oid")" \
     "($(bq -c "SELECT CASE relpersistence WHEN 'u' THEN 'UNLOGGED' ELSE 'LOGGED' END FROM pg_class
                WHERE oid = ('pgtrickle_changes.changes_' || 'w_cdc'::regclass::oid)::regclass"))" \
     "($(bq -c "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
                WHERE attrelid = ('pgtrickle_changes.changes_' || 'w_cdc'::regclass::oid)::regclass AND attnum > 0 AND NOT attisdropped"))"

trim() {
    bq -c "SELECT pgtrickle.refresh_stream_table('w_summary')" >/dev/null
}

# --- single-row statements (pgbench) -------------------------------------------------------------
for t in w_plain w_cdc; do
    cat >"$OUT/pgbench_insert_$t.sql" <<SQL
\set c random(1, 10000)
INSERT INTO $t VALUES (nextval('${t}_ins'), :c, 1 + :c % 10, 12.34, 3, date '2024-06-01');
SQL
    cat >"$OUT/pgbench_update_$t.sql" <<SQL
\set id random($(( ROWS / 2 )), $ROWS)
UPDATE $t SET amount = amount + 1, qty = qty + 1 WHERE id = :id;
SQL
    cat >"$OUT/pgbench_delete_$t.sql" <<SQL
DELETE FROM $t WHERE id = (SELECT nextval('${t}_del'));
SQL
done

single() {  # $1 op, $2 table, $3 rep
    local lat  # ms per statement: 1/tps (one client), finer than pgbench's "latency average"
    lat=$("$PGBENCH" -n -M prepared -c 1 -t "$N" -f "$OUT/pgbench_$1_$2.sql" \
            -h "$BENCH_DIR/socket" -p "$PORT" -U postgres "$DB" 2>&1 \
          | awk '/^tps = / { printf "%.6f", 1000 / $3 }')
    [ -n "$lat" ] || { echo "pgbench $1 $2 failed" >&2; exit 1; }
    bq -c "INSERT INTO bench_result VALUES ('single', '$1', '$2', $3, $lat * 1000)"
    [ "$2" = w_cdc ] && trim
    return 0
}

for rep in $(seq 1 "$REPS"); do
    for op in insert update delete; do
        if [ $(( rep % 2 )) -eq 1 ]; then single $op w_plain "$rep"; single $op w_cdc "$rep"
        else single $op w_cdc "$rep"; single $op w_plain "$rep"; fi
    done
    echo "single-row rep $rep done; load avg $(cut -d' ' -f1 /proc/loadavg)"
done

# --- bulk statements (psql \timing) --------------------------------------------------------------
bulk_sql() {  # $1 op, $2 table, $3 rep
    local lo
    case $1 in
        insert) echo "INSERT INTO $2 SELECT nextval('${2}_ins'), 1 + g % 10000, 1 + g % 10, 12.34, 3, date '2024-06-01' FROM generate_series(1, $BULK) g;" ;;
        update) lo=$(( ROWS / 2 + $3 * BULK ))
                echo "UPDATE $2 SET amount = amount + 1, qty = qty + 1 WHERE id BETWEEN $lo AND $(( lo + BULK - 1 ));" ;;
        delete) lo=$(( ROWS / 4 + $3 * BULK ))
                echo "DELETE FROM $2 WHERE id BETWEEN $lo AND $(( lo + BULK - 1 ));" ;;
    esac
}

bulk() {  # $1 op, $2 table, $3 rep
    local ms
    ms=$(printf '\\timing on\n%s\n' "$(bulk_sql "$1" "$2" "$3")" | bpsql | awk '/^Time:/ { print $2 }')
    [ -n "$ms" ] || { echo "bulk $1 $2 failed" >&2; exit 1; }
    bq -c "INSERT INTO bench_result VALUES ('bulk', '$1', '$2', $3, $ms * 1000)"
    [ "$2" = w_cdc ] && trim
    return 0
}

for rep in $(seq 1 "$BULK_REPS"); do
    for op in insert update delete; do
        if [ $(( rep % 2 )) -eq 1 ]; then bulk $op w_plain "$rep"; bulk $op w_cdc "$rep"
        else bulk $op w_cdc "$rep"; bulk $op w_plain "$rep"; fi
    done
done
echo "bulk done; load avg $(cut -d' ' -f1 /proc/loadavg)"

# --- results -------------------------------------------------------------------------------------
echo
echo "Median per statement (µs). single: pgbench -M prepared, 1 client, $N statements per run,"
echo "median of $REPS runs (1/tps). bulk: one $BULK-row statement, median of $BULK_REPS."
bq -c "
WITH m AS (
    SELECT kind, op, tbl, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS us
    FROM bench_result GROUP BY 1, 2, 3),
p AS (
    SELECT kind, op, max(us) FILTER (WHERE tbl = 'w_plain') AS plain,
           max(us) FILTER (WHERE tbl = 'w_cdc') AS cdc
    FROM m GROUP BY 1, 2)
SELECT '| statement | plain µs | captured µs | captured/plain | capture cost µs/row |'
UNION ALL SELECT '|---|--:|--:|--:|--:|'
UNION ALL (SELECT format('| %s | %s | %s | %s | %s |',
                  CASE kind WHEN 'single' THEN 'single-row ' ELSE 'bulk $BULK-row ' END || upper(op),
                  round(plain::numeric, 1), round(cdc::numeric, 1),
                  round((cdc / plain)::numeric, 2) || '×',
                  round(((cdc - plain) / CASE kind WHEN 'single' THEN 1 ELSE $BULK END)::numeric, 2))
           FROM p ORDER BY kind DESC, array_position(array['insert','update','delete'], op))"
echo
echo "Every run (µs per statement):"
bq -c "SELECT format('| %s %s | %s | %s |', kind, op, tbl, string_agg(round(value::numeric, 1)::text, ' | ' ORDER BY rep))
       FROM bench_result GROUP BY kind, op, tbl
       ORDER BY kind DESC, array_position(array['insert','update','delete'], op), tbl DESC"
echo "total: $(( $(date +%s) - t0 ))s; load avg at end $(cut -d' ' -f1-3 /proc/loadavg)"

[ "$KEEP" = 1 ] || stop_cluster
