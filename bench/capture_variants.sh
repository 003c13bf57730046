#!/usr/bin/env bash
# Where the write cost of change capture goes: the same writes on one captured table while its
# capture is varied by hand (an experiment on a throwaway cluster; the engine is not changed).
#
#   bench/capture_variants.sh            # ROWS=1000000 BULK=10000 BULK_REPS=5 N=10000
#
# Variants, in this order, on one table `src` that feeds a DIFFERENTIAL stream table:
#   plain        capture triggers disabled (the plain-table baseline)
#   engine       capture as pg_trickle creates it (statement triggers with transition tables
#                calling pgtrickle.pg_trickle_capture(), which copies them into
#                pgtrickle_changes.changes_<relid> with table_multi_insert; the buffer's only
#                index is a partial one on TRUNCATE markers, which no change row enters)
#   empty-fn     the same triggers and transition tables, calling a PL/pgSQL function that only
#                returns NULL instead of pgtrickle.pg_trickle_capture()
#                (the cost of firing the triggers and collecting the transition tables alone)
#   xid-index    engine capture plus a btree on the buffer's xid: the capture before 6d9c6c7
#   (a BRIN index instead is not possible: xid8 has no BRIN operator class in PostgreSQL 15)
#   unlogged     engine capture, buffer UNLOGGED (no index): no WAL for buffer rows
# Each: BULK-row INSERT / UPDATE / DELETE statements (psql \timing, median of BULK_REPS) and N
# single-row INSERTs through pgbench (-M prepared, 1 client; 1/tps).
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-1000000}
BULK=${BULK:-10000}
BULK_REPS=${BULK_REPS:-5}
N=${N:-10000}
KEEP=${KEEP:-0}

start_cluster
echo "== bench/capture_variants.sh  ROWS=$ROWS BULK=$BULK BULK_REPS=$BULK_REPS N=$N"
print_facts

bpsql <<SQL
CREATE TABLE src (id int PRIMARY KEY, customer_id int NOT NULL, region_id int NOT NULL,
                  amount numeric(12,2) NOT NULL, qty int NOT NULL, created date NOT NULL);
INSERT INTO src SELECT g, 1 + g % 10000, 1 + g % 10, (g % 100000) / 100.0, 1 + g % 10,
                       date '2024-01-01' + g % 365 FROM generate_series(1, $ROWS) g;
CREATE SEQUENCE src_ins START $(( ROWS + 1 ));
CREATE TABLE bench_result (variant text, op text, rep int, value float8);
SQL
bq -c "SELECT pgtrickle.create_stream_table('src_summary',
    'SELECT region_id, count(*) AS n, sum(amount) AS total, sum(qty) AS qty,
            count(customer_id) AS customers, count(created) AS dated FROM src GROUP BY region_id',
    refresh_mode => 'DIFFERENTIAL')" 2>&1 | grep -v -e '^$' -e 'INFO:.*created' || true
bpsql -c "VACUUM ANALYZE"
relid=$(bq -c "SELECT 'src'::regclass::oid")
buf="pgtrickle_changes.changes_$relid"
# The capture triggers as the engine made them, to put back after the empty-fn variant.
triggers=$(bq -c "SELECT string_agg(pg_get_triggerdef(oid), ';' || chr(10)) || ';' FROM pg_trigger
                  WHERE tgrelid = 'src'::regclass AND tgname LIKE 'pg_trickle_cdc_%'")

cat >"$OUT/capture_variants_insert.sql" <<SQL
\set c random(1, 10000)
INSERT INTO src VALUES (nextval('src_ins'), :c, 1 + :c % 10, 12.34, 3, date '2024-06-01');
SQL

# 5 variants x BULK_REPS x 3 statements, each on its own range of existing ids
if [ $(( (15 * BULK_REPS + 1) * BULK )) -gt "$ROWS" ]; then
    echo "ROWS must be at least $(( (15 * BULK_REPS + 1) * BULK )) for BULK=$BULK BULK_REPS=$BULK_REPS" >&2
    exit 1
fi
k=0
measure() {  # $1 variant
    local rep op ms lo tps
    for rep in $(seq 1 "$BULK_REPS"); do
        for op in insert update delete; do
            k=$(( k + 1 ))
            lo=$(( k * BULK ))  # every statement gets its own id range
            case $op in
                insert) sql="INSERT INTO src SELECT nextval('src_ins'), 1 + g % 10000, 1 + g % 10, 12.34, 3, date '2024-06-01' FROM generate_series(1, $BULK) g;" ;;
                update) sql="UPDATE src SET amount = amount + 1, qty = qty + 1 WHERE id BETWEEN $lo AND $(( lo + BULK - 1 ));" ;;
                delete) sql="DELETE FROM src WHERE id BETWEEN $lo AND $(( lo + BULK - 1 ));" ;;
            esac
            ms=$(printf '\\timing on\n%s\n' "$sql" | bpsql | awk '/^Time:/ { print $2 }')
            bq -c "INSERT INTO bench_result VALUES ('$1', 'bulk $op', $rep, $ms)"
            bq -c "SELECT pgtrickle.refresh_stream_table('src_summary')" >/dev/null
        done
    done
    tps=$("$PGBIN/pgbench" -n -M prepared -c 1 -t "$N" -f "$OUT/capture_variants_insert.sql" \
            -h "$BENCH_DIR/socket" -p "$PORT" -U postgres "$DB" 2>&1 | awk '/^tps = / { print $3 }')
    bq -c "INSERT INTO bench_result VALUES ('$1', 'single insert', 1, 1000.0 / $tps)"
    bq -c "SELECT pgtrickle.refresh_stream_table('src_summary')" >/dev/null
    echo "$1 done; load avg $(cut -d' ' -f1 /proc/loadavg)"
}

enable_capture() {
    bpsql -c "ALTER TABLE src ENABLE ALWAYS TRIGGER pg_trickle_cdc_ins_$relid" \
          -c "ALTER TABLE src ENABLE ALWAYS TRIGGER pg_trickle_cdc_upd_$relid" \
          -c "ALTER TABLE src ENABLE ALWAYS TRIGGER pg_trickle_cdc_del_$relid" \
          -c "ALTER TABLE src ENABLE ALWAYS TRIGGER pg_trickle_cdc_trunc_$relid"
}

bpsql -c "ALTER TABLE src DISABLE TRIGGER USER"
measure plain
enable_capture
measure engine
# empty-fn: the same triggers, with their transition tables, calling a function that does nothing.
bpsql -c "CREATE FUNCTION public.bench_empty_trigger() RETURNS trigger LANGUAGE plpgsql AS
          \$\$ BEGIN RETURN NULL; END \$\$"
bpsql -c "DROP TRIGGER pg_trickle_cdc_ins_$relid ON src" -c "DROP TRIGGER pg_trickle_cdc_upd_$relid ON src" \
      -c "DROP TRIGGER pg_trickle_cdc_del_$relid ON src" -c "DROP TRIGGER pg_trickle_cdc_trunc_$relid ON src"
bpsql <<<"${triggers//pgtrickle.pg_trickle_capture()/public.bench_empty_trigger()}"
enable_capture
[ "$(bq -c "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
            WHERE t.tgrelid = 'src'::regclass AND p.proname = 'bench_empty_trigger'")" = 4 ] \
    || { echo "empty-fn: the capture triggers were not replaced" >&2; exit 1; }
measure empty-fn
bpsql -c "DROP TRIGGER pg_trickle_cdc_ins_$relid ON src" -c "DROP TRIGGER pg_trickle_cdc_upd_$relid ON src" \
      -c "DROP TRIGGER pg_trickle_cdc_del_$relid ON src" -c "DROP TRIGGER pg_trickle_cdc_trunc_$relid ON src"
bpsql <<<"$triggers"
enable_capture
# The engine indexes only the buffer's TRUNCATE markers (a partial index no change enters); any
# other index found here would skew the variants.
nidx=$(bq -c "SELECT count(*) FROM pg_index WHERE indrelid = '$buf'::regclass AND indpred IS NULL")
[ "$nidx" = 0 ] || echo "note: the engine's buffer has $nidx full index(es); the engine row includes them"
bpsql -c "CREATE INDEX buf_xid_idx ON $buf (xid)"
measure xid-index
bpsql -c "DROP INDEX pgtrickle_changes.buf_xid_idx" -c "ALTER TABLE $buf SET UNLOGGED"
measure unlogged

echo
echo "Median ms per bulk statement ($BULK rows), µs per single-row INSERT; (×) = relative to plain:"
bq -c "
WITH m AS (SELECT variant, op, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS v
           FROM bench_result GROUP BY 1, 2),
p AS (SELECT op, v AS plain FROM m WHERE variant = 'plain'),
c AS (SELECT m.variant, m.op, format('%s (%s×)', round((m.v * CASE WHEN m.op = 'single insert' THEN 1000 ELSE 1 END)::numeric, 1),
                                     round((m.v / p.plain)::numeric, 2)) AS cell
      FROM m JOIN p USING (op))
SELECT '| variant | bulk INSERT ms | bulk UPDATE ms | bulk DELETE ms | single INSERT µs |'
UNION ALL SELECT '|---|--:|--:|--:|--:|'
UNION ALL (SELECT format('| %s | %s | %s | %s | %s |', variant,
                  max(cell) FILTER (WHERE op = 'bulk insert'), max(cell) FILTER (WHERE op = 'bulk update'),
                  max(cell) FILTER (WHERE op = 'bulk delete'), max(cell) FILTER (WHERE op = 'single insert'))
           FROM c GROUP BY variant
           ORDER BY array_position(array['plain','engine','empty-fn','xid-index','unlogged'], variant))"

[ "$KEEP" = 1 ] || stop_cluster
