#!/usr/bin/env bash
# Write cost of IMMEDIATE maintenance: the same statements on a plain table and on an identical
# table read by an IMMEDIATE stream table (SELECT grp, count(*), sum(v) ... GROUP BY grp over
# 1000 groups), and, when the pg_ivm extension is installed on this machine, on a third table
# read by a pg_ivm IMMV of the same query. Side by side in one run, on one throwaway cluster.
# Not a test: nothing asserts a time. pg_ivm is never built or vendored here: without it the
# pg_ivm column says "not installed".
#
#   bench/immediate.sh                  # ROWS=100000 N=2000 REPS=3 BULK=10000 BULK_REPS=5
#
# Environment:
#   ROWS       rows preloaded in each table (default 100000), spread over 1000 groups
#   N          single-row statements per pgbench run (default 2000)
#   REPS       pgbench runs per (operation, table) (default 3); median
#   BULK       rows per bulk statement (default 10000)
#   BULK_REPS  bulk statements per (operation, table) (default 5); median
#   OUT        where results go (default /tmp/pgt-bench-out)
#   KEEP       1: leave the cluster running at the end
#
# Single-row statements run through pgbench (one client, -M prepared, autocommit), bulk ones
# through psql \timing. The tables take turns, and which goes first rotates between repetitions.
# After the runs every stream table / IMMV is compared with its query.
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/lib.sh"

ROWS=${ROWS:-100000}
N=${N:-2000}
REPS=${REPS:-3}
BULK=${BULK:-10000}
BULK_REPS=${BULK_REPS:-5}
KEEP=${KEEP:-0}
PGBENCH=$PGBIN/pgbench
[ -x "$PGBENCH" ] || { echo "pgbench not found at $PGBENCH" >&2; exit 1; }

if [ $(( ROWS / 4 + BULK_REPS * BULK )) -gt $(( ROWS - BULK + 1 - (BULK_REPS - 1) * BULK / 4 )) ] ||
   [ $(( N * REPS )) -ge $(( ROWS / 4 )) ]; then
    echo "ROWS=$ROWS is too small for BULK=$BULK BULK_REPS=$BULK_REPS N=$N REPS=$REPS:" \
         "bulk updates and deletes (and single-row deletes) would overlap" >&2
    exit 2
fi
start_cluster
echo "== bench/immediate.sh  ROWS=$ROWS N=$N REPS=$REPS BULK=$BULK BULK_REPS=$BULK_REPS"
print_facts
t0=$(date +%s)

TABLES=(i_plain i_trickle)
if [ "$(bq -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_ivm'")" = 1 ]; then
    bq -c "CREATE EXTENSION pg_ivm" >/dev/null
    TABLES+=(i_ivm)
    echo "pg_ivm:      $(bq -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_ivm'")"
else
    echo "pg_ivm:      not installed on this machine: its column is skipped"
fi

QUERY="SELECT grp, count(*) AS n, sum(v) AS s FROM %s GROUP BY grp"
for t in "${TABLES[@]}"; do
    bpsql <<SQL
CREATE TABLE $t (id int PRIMARY KEY, grp int NOT NULL, v numeric(12,2) NOT NULL);
INSERT INTO $t SELECT g, g % 1000, (g % 997) / 10.0 FROM generate_series(1, $ROWS) g;
CREATE SEQUENCE ${t}_ins START $(( ROWS + 1 ));
CREATE SEQUENCE ${t}_del START 1;
SQL
done
q() { printf "$QUERY" "$1"; }
bq -c "SELECT pgtrickle.create_stream_table('i_trickle_st', '$(q i_trickle)', refresh_mode => 'IMMEDIATE')" >/dev/null 2>&1
if [[ " ${TABLES[*]} " == *" i_ivm "* ]]; then
    bq -c "SELECT create_immv('i_ivm_v', '$(q i_ivm)')" >/dev/null 2>&1 ||
        bq -c "SELECT pgivm.create_immv('i_ivm_v', '$(q i_ivm)')" >/dev/null
fi
bpsql -c "CREATE TABLE bench_result (kind text, op text, tbl text, rep int, value float8)" -c "VACUUM ANALYZE"

# --- single-row statements (pgbench) -------------------------------------------------------------
for t in "${TABLES[@]}"; do
    cat >"$OUT/imm_insert_$t.sql" <<SQL
\set g random(0, 999)
INSERT INTO $t VALUES (nextval('${t}_ins'), :g, 1.25);
SQL
    cat >"$OUT/imm_update_$t.sql" <<SQL
\set id random($(( ROWS / 2 )), $ROWS)
UPDATE $t SET v = v + 1 WHERE id = :id;
SQL
    cat >"$OUT/imm_delete_$t.sql" <<SQL
DELETE FROM $t WHERE id = (SELECT nextval('${t}_del'));
SQL
done

single() {  # $1 op, $2 table, $3 rep
    local lat
    lat=$("$PGBENCH" -n -M prepared -c 1 -t "$N" -f "$OUT/imm_$1_$2.sql" \
            -h "$BENCH_DIR/socket" -p "$PORT" -U postgres "$DB" 2>&1 \
          | awk '/^tps = / { printf "%.6f", 1000 / $3 }')
    [ -n "$lat" ] || { echo "pgbench $1 $2 failed" >&2; exit 1; }
    bq -c "INSERT INTO bench_result VALUES ('single', '$1', '$2', $3, $lat * 1000)"
}

rotate() {  # $1 rep: the tables, starting at a different one each repetition
    local n=${#TABLES[@]} i
    for i in $(seq 0 $(( n - 1 ))); do echo "${TABLES[$(( (i + $1) % n ))]}"; done
}

for rep in $(seq 1 "$REPS"); do
    for op in insert update delete; do
        for t in $(rotate "$rep"); do single $op "$t" "$rep"; done
    done
    echo "single-row rep $rep done; load avg $(cut -d' ' -f1 /proc/loadavg)"
done

# --- bulk statements (psql \timing) --------------------------------------------------------------
bulk_sql() {  # $1 op, $2 table, $3 rep
    local lo
    case $1 in
        insert) echo "INSERT INTO $2 SELECT nextval('${2}_ins'), g % 1000, 1.25 FROM generate_series(1, $BULK) g;" ;;
        # Updates at the top of the id range, deletes below them: no repetition updates rows an
        # earlier one deleted (each statement changes BULK rows).
        update) lo=$(( ROWS - BULK + 1 - ($3 - 1) * BULK / 4 ))
                echo "UPDATE $2 SET v = v + 1 WHERE id BETWEEN $lo AND $(( lo + BULK - 1 ));" ;;
        delete) lo=$(( ROWS / 4 + ($3 - 1) * BULK ))
                echo "DELETE FROM $2 WHERE id BETWEEN $lo AND $(( lo + BULK - 1 ));" ;;
    esac
}

bulk() {  # $1 op, $2 table, $3 rep
    local ms
    ms=$(printf '\\timing on\n%s\n' "$(bulk_sql "$1" "$2" "$3")" | bpsql | awk '/^Time:/ { print $2 }')
    [ -n "$ms" ] || { echo "bulk $1 $2 failed" >&2; exit 1; }
    bq -c "INSERT INTO bench_result VALUES ('bulk', '$1', '$2', $3, $ms * 1000)"
}

for rep in $(seq 1 "$BULK_REPS"); do
    for op in insert update delete; do
        for t in $(rotate "$rep"); do bulk $op "$t" "$rep"; done
    done
done
echo "bulk done; load avg $(cut -d' ' -f1 /proc/loadavg)"

# --- correctness ---------------------------------------------------------------------------------
check() {  # $1 relation holding the result, $2 base table
    bq -c "SELECT count(*) FROM ((SELECT grp, n, s FROM $1 EXCEPT ALL $(q "$2"))
                                 UNION ALL ($(q "$2") EXCEPT ALL SELECT grp, n, s FROM $1)) x"
}
echo "check: i_trickle_st differs from its query in $(check i_trickle_st i_trickle) rows"
if [[ " ${TABLES[*]} " == *" i_ivm "* ]]; then
    echo "check: i_ivm_v differs from its query in $(bq -c "SELECT count(*) FROM ((SELECT grp, count(*), sum(v) FROM i_ivm GROUP BY grp EXCEPT ALL SELECT grp, n, s FROM i_ivm_v) UNION ALL (SELECT grp, n, s FROM i_ivm_v EXCEPT ALL SELECT grp, count(*), sum(v) FROM i_ivm GROUP BY grp)) x") rows"
fi

# --- results -------------------------------------------------------------------------------------
echo
echo "Median per statement (µs). single: pgbench -M prepared, 1 client, $N statements per run,"
echo "median of $REPS runs (1/tps). bulk: one $BULK-row statement, median of $BULK_REPS."
bq -c "
WITH m AS (
    SELECT kind, op, tbl, percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS us
    FROM bench_result GROUP BY 1, 2, 3),
p AS (
    SELECT kind, op, max(us) FILTER (WHERE tbl = 'i_plain') AS plain,
           max(us) FILTER (WHERE tbl = 'i_trickle') AS trickle,
           max(us) FILTER (WHERE tbl = 'i_ivm') AS ivm
    FROM m GROUP BY 1, 2)
SELECT '| statement | plain µs | IMMEDIATE µs | IMMEDIATE extra µs | pg_ivm µs | pg_ivm extra µs | our extra / pg_ivm extra |'
UNION ALL SELECT '|---|--:|--:|--:|--:|--:|--:|'
UNION ALL (SELECT format('| %s | %s | %s | %s | %s | %s | %s |',
                  CASE kind WHEN 'single' THEN 'single-row ' ELSE 'bulk $BULK-row ' END || upper(op),
                  round(plain::numeric, 1), round(trickle::numeric, 1),
                  round((trickle - plain)::numeric, 1),
                  coalesce(round(ivm::numeric, 1)::text, 'not installed'),
                  coalesce(round((ivm - plain)::numeric, 1)::text, '—'),
                  coalesce(round(((trickle - plain) / nullif(ivm - plain, 0))::numeric, 2)::text, '—'))
           FROM p ORDER BY kind DESC, array_position(array['insert','update','delete'], op))"
echo
echo "Every run (µs per statement):"
bq -c "SELECT format('| %s %s | %s | %s |', kind, op, tbl, string_agg(round(value::numeric, 1)::text, ' | ' ORDER BY rep))
       FROM bench_result GROUP BY kind, op, tbl
       ORDER BY kind DESC, array_position(array['insert','update','delete'], op), tbl"
echo "total: $(( $(date +%s) - t0 ))s; load avg at end $(cut -d' ' -f1-3 /proc/loadavg)"

[ "$KEEP" = 1 ] || stop_cluster
