#!/usr/bin/env bash
# SQL-family refresh benchmark: one query of each of the richer SQL families (window functions,
# DISTINCT ON, ROLLUP, LATERAL, subquery expressions, top-K, WITH RECURSIVE), each created twice,
# as a FULL and as a DIFFERENTIAL stream table, and refreshed side by side after every change set
# in one run on one throwaway cluster. Not a test: nothing here asserts a time. It does check,
# after every round, that each stream table equals its query (EXCEPT ALL both ways on the user
# columns) and prints MISMATCH when one does not.
#
#   bench/sql_families.sh            # ROWS=1000000 ROUNDS=3 CHANGE_PCT=1
#   ROWS=50000 ROUNDS=2 bench/sql_families.sh
#
# Environment:
#   ROWS        orders rows (default 1000000); customers = ROWS/100 (at least 100), regions = 10
#   ROUNDS      timed rounds (default 3); one extra warm-up round runs first and is not counted
#   CHANGE_PCT  percent of ROWS changed per round (default 1): 70% updates, 15% deletes,
#               15% inserts, drawn from a seeded random(); the same share of customers changes
#               in the same transaction (70% new referrer/region, 15% deleted, 15% inserted;
#               customer 1, the root of the recursive family, is never deleted)
#   SEED        base seed for setseed, in [0, 0.5) (default 0.1)
#   FAMILIES    space-separated subset of the families to run (default: all, in the order below)
#   REFRESH_TIMEOUT  statement_timeout of every timed refresh, in seconds (default 300, 0 = none).
#               A refresh that fails (timeout or error) is reported as FAILED with its message; that
#               stream table is then left out of the later rounds (refreshes and checks), and the
#               summary shows its time as "> timeout". Some DIFFERENTIAL deltas grow with
#               rows x changed rows (nested loops), so at large ROWS this keeps the run bounded
#   AUTO_EXPLAIN_MS  statements (also those inside a refresh) slower than this are logged with
#               their plan (auto_explain, estimates only); default 100, 0 = off. Log:
#               $OUT/server.log, application_name says which round
#   OUT         where results go (default /tmp/pgt-bench-sql-out): round_<n>.tsv (timings),
#               round_<n>.err (errors of the refreshes), delta_<family>.sql
#               (the DIFFERENTIAL table's delta statement, pgtrickle.explain_diff_sql),
#               operator_tree_<family>.txt, server.log
#   KEEP        1: leave the cluster running at the end (default: stop it)
#
# Times are psql's \timing of `SELECT pgtrickle.refresh_stream_table(...)`, one statement (one
# implicit transaction) each: parse, plan, execution and commit. The refresh's own duration_ms
# (pgtrickle.get_refresh_history) is recorded too (*_engine in the per-round table).
# The "strategy" column is the headline of the DIFFERENTIAL table's operator_tree
# (pgtrickle.explain_st: its first line up to the colon) followed by, for each relation read "new
# minus old", what that is restricted to (the parenthesis of its input line). After every round, a
# DIFFERENTIAL table whose last refresh was not DIFFERENTIAL (change-ratio fallback,
# pg_trickle.differential_max_change_ratio) is reported as NOT DIFFERENTIAL.
#
# The cluster: scripts/cluster.sh start /tmp/pgt-bench-sql 55850, pg_trickle.enabled = off (ALTER
# SYSTEM + reload) so the scheduler never refreshes anything behind the benchmark's back.
set -euo pipefail
shopt -s inherit_errexit
OUT=${OUT:-/tmp/pgt-bench-sql-out}
source "$(dirname "$0")/lib.sh"
BENCH_DIR=/tmp/pgt-bench-sql
PORT=55850

ROWS=${ROWS:-1000000}
ROUNDS=${ROUNDS:-3}
CHANGE_PCT=${CHANGE_PCT:-1}
SEED=${SEED:-0.1}
KEEP=${KEEP:-0}
REFRESH_TIMEOUT=${REFRESH_TIMEOUT:-300}
AUTO_EXPLAIN_MS=${AUTO_EXPLAIN_MS:-100}
NCUST=$(( ROWS / 100 > 100 ? ROWS / 100 : 100 ))
NCHG=$(awk -v r="$ROWS" -v p="$CHANGE_PCT" 'BEGIN { printf "%d", r * p / 100 }')
NCHG_C=$(awk -v r="$NCUST" -v p="$CHANGE_PCT" 'BEGIN { n = int(r * p / 100); printf "%d", n < 1 ? 1 : n }')

ALL_FAMILIES=(window window_total distinct_on rollup lateral_srf lateral_sub exists scalar_sub topk recursive closure)
read -r -a FAMILIES <<<"${FAMILIES:-${ALL_FAMILIES[*]}}"
declare -A Q COLS DEAD  # DEAD["<family> <full|diff>"]=1 once a refresh of that table failed

# --- query families ------------------------------------------------------------------------------
Q[window]="SELECT id, customer_id, amount, rank() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS r FROM orders"
COLS[window]="id, customer_id, amount, r"
Q[window_total]="SELECT id, customer_id, row_number() OVER (PARTITION BY customer_id ORDER BY amount DESC, id) AS rn FROM orders"
COLS[window_total]="id, customer_id, rn"
Q[distinct_on]="SELECT DISTINCT ON (customer_id) customer_id, id, amount FROM orders ORDER BY customer_id, amount DESC, id"
COLS[distinct_on]="customer_id, id, amount"
Q[rollup]="SELECT region_id, customer_id, count(*) AS n, sum(amount) AS total FROM orders GROUP BY ROLLUP (region_id, customer_id)"
COLS[rollup]="region_id, customer_id, n, total"
Q[lateral_srf]="SELECT o.id, x.n FROM orders o, LATERAL generate_series(1, o.qty % 3) AS x(n)"
COLS[lateral_srf]="id, n"
Q[lateral_sub]="SELECT c.id, t.amount FROM customers c LEFT JOIN LATERAL (SELECT o.amount FROM orders o WHERE o.customer_id = c.id ORDER BY o.amount DESC, o.id LIMIT 1) t ON true"
COLS[lateral_sub]="id, amount"
Q[exists]="SELECT c.id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.amount > 990)"
COLS[exists]="id"
Q[scalar_sub]="SELECT c.id, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n FROM customers c"
COLS[scalar_sub]="id, n"
Q[topk]="SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 10"
COLS[topk]="id, amount"
# The referral tree: customers.referrer_id points to a customer with a lower id (customer 1 is
# the root); everyone reachable from the root within 5 steps, with the depth.
Q[recursive]="WITH RECURSIVE r (id, depth) AS (SELECT id, 0 FROM customers WHERE id = 1 UNION ALL SELECT c.id, r.depth + 1 FROM customers c JOIN r ON c.referrer_id = r.id WHERE r.depth < 5) SELECT id, depth FROM r"
COLS[recursive]="id, depth"
# Every customer's ancestors in the referral tree (UNION: a set, delete and rederive).
Q[closure]="WITH RECURSIVE anc (id, ancestor) AS (SELECT id, referrer_id FROM customers WHERE referrer_id IS NOT NULL UNION SELECT a.id, c.referrer_id FROM anc a JOIN customers c ON c.id = a.ancestor WHERE c.referrer_id IS NOT NULL) SELECT id, ancestor FROM anc"
COLS[closure]="id, ancestor"

for f in "${FAMILIES[@]}"; do
    [ -n "${Q[$f]:-}" ] || { echo "unknown family: $f (known: ${ALL_FAMILIES[*]})" >&2; exit 2; }
done

# --- setup ---------------------------------------------------------------------------------------
start_cluster
trap '[ "$KEEP" = 1 ] || stop_cluster' EXIT
if [ "$AUTO_EXPLAIN_MS" != 0 ]; then
    bq -c "LOAD 'auto_explain'" -c "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'" \
       -c "ALTER SYSTEM SET auto_explain.log_min_duration = $AUTO_EXPLAIN_MS" \
       -c "ALTER SYSTEM SET auto_explain.log_nested_statements = on" -c "SELECT pg_reload_conf()" >/dev/null
fi
echo "== bench/sql_families.sh  ROWS=$ROWS ROUNDS=$ROUNDS CHANGE_PCT=$CHANGE_PCT" \
     "($NCHG orders + $NCHG_C customers changes/round) SEED=$SEED"
echo "families:    ${FAMILIES[*]}"
echo "cluster:     $BENCH_DIR port $PORT"
print_facts
t0=$(date +%s)

bpsql <<SQL
\\o /dev/null
SELECT setseed($SEED);
\\o
CREATE TABLE regions (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region_id int NOT NULL, referrer_id int);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, region_id int NOT NULL,
                     amount numeric(12,2) NOT NULL, qty int NOT NULL, created date NOT NULL);
INSERT INTO regions SELECT g, 'region ' || g FROM generate_series(1, 10) g;
INSERT INTO customers
SELECT g, 'customer ' || g, 1 + floor(random() * 10)::int,
       CASE WHEN g > 1 THEN 1 + floor(random() * (g - 1))::int END
FROM generate_series(1, $NCUST) g;
INSERT INTO orders
SELECT g, 1 + floor(random() * $NCUST)::int, 1 + floor(random() * 10)::int,
       round((random() * 1000)::numeric, 2), 1 + floor(random() * 10)::int,
       date '2024-01-01' + floor(random() * 365)::int
FROM generate_series(1, $ROWS) g;
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON customers (referrer_id);

-- The generator's scratch tables and the results.
CREATE TABLE bench_chg_c (op "char" NOT NULL, id int PRIMARY KEY, region_id int, referrer_id int);
CREATE TABLE bench_timing (round int, family text, kind text, ms float8);
CREATE TABLE bench_check (round int, family text, kind text, extra bigint, missing bigint);
CREATE TABLE bench_failed (round int, family text, kind text, ms float8, message text);
CREATE TABLE bench_strategy (family text PRIMARY KEY, strategy text);
-- A ratio for the tables: 2 decimals below 1, else 1; '–' when unknown.
CREATE FUNCTION bench_ratio(x float8) RETURNS text IMMUTABLE LANGUAGE sql AS
\$\$ SELECT CASE WHEN x IS NULL THEN '–' WHEN x < 1 THEN round(x::numeric, 2)::text ELSE round(x::numeric, 1)::text END \$\$;

-- The change generator of orders (bench_rnd, bench_chg, bench_make_changes).
\\i $ROOT/bench/sql/order_changes.sql

-- One change set of customers, the same way: updates get a new region and a new referrer (a
-- random lower id, so the referral graph stays a forest), deletes never hit customer 1 (the
-- root), inserts get new ids above the current maximum and a referrer below them.
CREATE FUNCTION bench_make_customer_changes(p_seed float8, p_n int) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE
    nu int := round(p_n * 0.70);
    nd int := round(p_n * 0.15);
    ni int := p_n - round(p_n * 0.70)::int - round(p_n * 0.15)::int;
    maxid int;
    got text;
BEGIN
    PERFORM setseed(p_seed);
    SELECT max(id) INTO maxid FROM customers;
    TRUNCATE bench_rnd, bench_chg_c;
    INSERT INTO bench_rnd
    SELECT g, random(), random(), random(), random(), random(), random()
    FROM generate_series(1, greatest(3 * (nu + nd), ni)) g;
    INSERT INTO bench_chg_c
    SELECT CASE WHEN p.rn <= nu THEN 'U' ELSE 'D' END, p.id,
           1 + floor(r.r2 * 10)::int, 1 + floor(r.r3 * (p.id - 1))::int
    FROM (SELECT f.id, f.g, row_number() OVER (ORDER BY f.g) AS rn
          FROM (SELECT DISTINCT ON (id) id, g
                FROM (SELECT g, 2 + floor(r1 * (maxid - 1))::int AS id FROM bench_rnd) c
                ORDER BY id, g) f
          WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = f.id)) p
    JOIN bench_rnd r ON r.g = p.g
    WHERE p.rn <= nu + nd;
    INSERT INTO bench_chg_c
    SELECT 'I', maxid + g, 1 + floor(r2 * 10)::int, 1 + floor(r3 * (maxid + g - 1))::int
    FROM bench_rnd WHERE g <= ni;
    SELECT string_agg(op::text || '=' || n, ' ' ORDER BY op) INTO got
    FROM (SELECT op, count(*) AS n FROM bench_chg_c GROUP BY op) s;
    RETURN coalesce(got, 'none');
END \$\$;
SQL

for f in "${FAMILIES[@]}"; do
    for mode in FULL DIFFERENTIAL; do
        st=${f}_$( [ $mode = FULL ] && echo full || echo diff )
        out=$(bq -c "SELECT pgtrickle.create_stream_table('$st', \$q\$${Q[$f]}\$q\$, refresh_mode => '$mode')" 2>&1) \
            || { echo "$f ($mode): $out" >&2; exit 1; }
        grep -v -e '^$' -e 'INFO:.*created' <<<"$out" | sed "s/^/$st: /" || true
    done
    bq -c "SELECT value FROM pgtrickle.explain_st('${f}_diff') WHERE property = 'operator_tree'" \
        >"$OUT/operator_tree_$f.txt"
    # The headline of the operator_tree (its first line up to the colon), and what each relation
    # read "new minus old" is restricted to (from the input lines).
    bq -c "INSERT INTO bench_strategy
           SELECT '$f', coalesce(split_part(split_part(t.value, E'\n', 1), ': ', 1)
                                 || coalesce('; ' || (SELECT string_agg(x, '; ' ORDER BY o)
                                     FROM (SELECT DISTINCT ON (x) x, o
                                           FROM (SELECT m[1] || ': ' || m[2] AS x, o
                                                 FROM regexp_matches(t.value, '\"([^\"]+)\" \\((new minus old[^)]*)\\)', 'g')
                                                      WITH ORDINALITY AS r(m, o)) s
                                           ORDER BY x, o) d), ''),
                                 '(no operator_tree)')
           FROM (SELECT (SELECT value FROM pgtrickle.explain_st('${f}_diff') WHERE property = 'operator_tree') AS value) t"
done
bpsql -c "VACUUM ANALYZE"
echo "setup: $(( $(date +%s) - t0 ))s (load, $(( 2 * ${#FAMILIES[@]} )) stream tables)"

# --- rounds --------------------------------------------------------------------------------------
apply_changes() {  # $1 round
    local seed got gotc
    seed=$(awk -v s="$SEED" -v r="$1" 'BEGIN { printf "%.4f", s + r / 1000 }')
    got=$(bq -c "SELECT bench_make_changes($seed, $NCHG, $NCUST)")
    gotc=$(bq -c "SELECT bench_make_customer_changes($seed, $NCHG_C)")
    bpsql <<'SQL'
BEGIN;
UPDATE orders o SET customer_id = c.customer_id, region_id = c.region_id, amount = c.amount, qty = c.qty
FROM bench_chg c WHERE c.op = 'U' AND o.id = c.id;
DELETE FROM orders o USING bench_chg c WHERE c.op = 'D' AND o.id = c.id;
INSERT INTO orders SELECT id, customer_id, region_id, amount, qty, created FROM bench_chg WHERE op = 'I';
UPDATE customers c SET region_id = x.region_id, referrer_id = x.referrer_id
FROM bench_chg_c x WHERE x.op = 'U' AND c.id = x.id;
DELETE FROM customers c USING bench_chg_c x WHERE x.op = 'D' AND c.id = x.id;
INSERT INTO customers SELECT id, 'customer ' || id, region_id, referrer_id FROM bench_chg_c WHERE op = 'I';
COMMIT;
SQL
    echo "orders $got, customers $gotc"
}

# Each refresh is one statement timed by psql's \timing. FULL refreshes run first in a round: the
# first refresh of a round also trims the change buffer rows every consumer has consumed (the
# previous round's), and that lands on a FULL refresh, whose time it barely moves.
# A failed refresh (statement_timeout or an error) does not stop the batch: psql's :ERROR marks it,
# and its line gets the kind <kind>_failed and the message.
timed_round() {  # $1 round
    {
        echo "SET statement_timeout = '${REFRESH_TIMEOUT}s';"
        echo '\timing on'
        echo '\o /dev/null'
        for k in full diff; do
            for f in "${FAMILIES[@]}"; do
                [ -z "${DEAD["$f $k"]:-}" ] || continue
                echo "\\echo @@ $f $k"
                echo "SELECT pgtrickle.refresh_stream_table('${f}_$k');"
                # After a failure the session is replaced (\connect): a refresh cancelled inside its
                # delta statement leaves its backend in an aborted subtransaction (every later
                # statement fails with 25P02, and ROLLBACK is FATAL).
                echo '\if :ERROR'
                echo "\\echo @@failed $f $k :LAST_ERROR_MESSAGE"
                echo '\connect'
                echo "SET statement_timeout = '${REFRESH_TIMEOUT}s';"
                echo '\endif'
            done
        done
    } | PGAPPNAME=bench_round_$1 bpsql -v ON_ERROR_STOP=0 2>"$OUT/round_$1.err" \
      | awk -v r="$1" '
          /^@@failed / { m = $0; sub(/^@@failed [^ ]+ [^ ]+ /, "", m); gsub(/\t/, " ", m)
                         print r "\t" f "\t" k "_failed\t" ms "\t" m; next }
          /^@@ / { f = $2; k = $3; next }
          /^Time:/ { ms = $2; print r "\t" f "\t" k "\t" $2 }'
}

check_round() {  # $1 round: every FULL/DIFF table equals its query
    {
        echo "SET work_mem = '256MB';"
        for f in "${FAMILIES[@]}"; do
            [ -z "${DEAD["$f full"]:-}" ] || [ -z "${DEAD["$f diff"]:-}" ] || continue
            echo "CREATE TEMP TABLE expected AS ${Q[$f]};"
            for k in full diff; do
                [ -z "${DEAD["$f $k"]:-}" ] || continue
                echo "INSERT INTO bench_check SELECT $1, '$f', '$k',"
                echo "  (SELECT count(*) FROM (SELECT ${COLS[$f]} FROM ${f}_$k EXCEPT ALL SELECT * FROM expected) a),"
                echo "  (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT ${COLS[$f]} FROM ${f}_$k) b);"
            done
            echo "DROP TABLE expected;"
        done
    } | bpsql
    bq -F ' ' -c "SELECT 'MISMATCH round ' || round || ': ' || family || ' ' || kind || ': ' || extra
                         || ' rows not in the query result, ' || missing || ' rows missing'
                  FROM bench_check WHERE round = $1 AND (extra <> 0 OR missing <> 0)"
    # A DIFFERENTIAL table that fell back to FULL would make the comparison meaningless. (Tables
    # left out after a failed refresh are not looked at: their last refresh is an old one.)
    local dead="''" f
    for f in "${FAMILIES[@]}"; do [ -z "${DEAD["$f diff"]:-}" ] || dead+=", '${f}_diff'"; done
    bq -c "SELECT 'NOT DIFFERENTIAL round $1: ' || st.pgt_name || ' refreshed as ' || h.action
           FROM pgtrickle.pgt_stream_tables st
           JOIN LATERAL (SELECT action FROM pgtrickle.pgt_refresh_history h
                         WHERE h.pgt_id = st.pgt_id ORDER BY refresh_id DESC LIMIT 1) h ON true
           WHERE st.refresh_mode = 'DIFFERENTIAL' AND h.action <> 'DIFFERENTIAL'
                 AND st.pgt_name NOT IN ($dead)"
}

for r in $(seq 0 "$ROUNDS"); do
    rt=$(date +%s)
    got=$(apply_changes "$r")
    timed_round "$r" > "$OUT/round_$r.tsv"
    grep -v -P '^[^\t]*\t[^\t]*\t[a-z]+_failed\t' "$OUT/round_$r.tsv" >"$OUT/round_$r.ok.tsv" || true
    grep -P '^[^\t]*\t[^\t]*\t[a-z]+_failed\t' "$OUT/round_$r.tsv" >"$OUT/round_$r.failed.tsv" || true
    bpsql -c "\\copy bench_timing FROM '$OUT/round_$r.ok.tsv'"
    bpsql -c "\\copy bench_failed FROM '$OUT/round_$r.failed.tsv'"
    # A failed refresh: its (unsuccessful) time is not a timing, and the table is stale from now on.
    while IFS=$'\t' read -r _ f k ms msg; do
        k=${k%_failed}
        echo "FAILED round $r: ${f}_$k after $ms ms: $msg"
        DEAD["$f $k"]=1
    done <"$OUT/round_$r.failed.tsv"
    bq -c "DELETE FROM bench_timing t USING bench_failed x
           WHERE x.round = $r AND t.round = x.round AND t.family = x.family AND t.kind || '_failed' = x.kind"
    # The refresh's own duration (pgtrickle.get_refresh_history).
    for f in "${FAMILIES[@]}"; do
        for k in full diff; do
            [ -z "${DEAD["$f $k"]:-}" ] || continue
            bq -c "INSERT INTO bench_timing SELECT $r, '$f', '${k}_engine', duration_ms
                   FROM pgtrickle.get_refresh_history('public.${f}_$k', 1)"
        done
    done
    check_round "$r"
    label=$([ "$r" -eq 0 ] && echo "warm-up" || echo "round $r")
    echo "$label: changes $got; $(( $(date +%s) - rt ))s; load avg $(cut -d' ' -f1 /proc/loadavg)"
done

for f in "${FAMILIES[@]}"; do
    bq -c "SELECT pgtrickle.explain_diff_sql('public.${f}_diff')" >"$OUT/delta_${f}.sql" 2>&1 || true
done

# --- results -------------------------------------------------------------------------------------
order="array['${FAMILIES[*]}']"
order=${order// /\',\'}
echo
echo "Median over rounds 1..$ROUNDS (ms; one statement each, psql \\timing);" \
     "strategy = the DIFFERENTIAL table's operator_tree (pgtrickle.explain_st): its headline, and"
echo "for each relation read \"new minus old\" what that is restricted to (full trees: $OUT/operator_tree_<family>.txt)."
bq -c "
WITH m AS (
    SELECT family, kind, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms
    FROM bench_timing WHERE round >= 1 GROUP BY 1, 2),
fam AS (SELECT unnest($order) AS family),
x AS (  -- the first failure of each table
    SELECT DISTINCT ON (family, kind) family, replace(kind, '_failed', '') AS kind, round, ms,
           CASE WHEN message LIKE '%statement timeout%' THEN 'timed out' ELSE 'failed' END AS what
    FROM bench_failed ORDER BY family, kind, round),
p AS (
    SELECT fam.family, mf.ms AS f, md.ms AS d, xf.ms AS xf_ms, xd.ms AS xd_ms,
           CASE WHEN xf.ms IS NOT NULL THEN format('> %s (%s, round %s)', round(xf.ms::numeric), xf.what, xf.round) END AS xf_text,
           CASE WHEN xd.ms IS NOT NULL THEN format('> %s (%s, round %s)', round(xd.ms::numeric), xd.what, xd.round) END AS xd_text
    FROM fam
    LEFT JOIN m mf ON mf.family = fam.family AND mf.kind = 'full'
    LEFT JOIN m md ON md.family = fam.family AND md.kind = 'diff'
    LEFT JOIN x xf ON xf.family = fam.family AND xf.kind = 'full'
    LEFT JOIN x xd ON xd.family = fam.family AND xd.kind = 'diff')
SELECT '| family | FULL ms | DIFF ms | FULL/DIFF | strategy |'
UNION ALL SELECT '|---|--:|--:|--:|---|'
UNION ALL (SELECT format('| %s | %s | %s | %s | %s |', p.family,
                  coalesce(xf_text, round(f::numeric, 1)::text, '–'),
                  coalesce(xd_text, round(d::numeric, 1)::text, '–'),
                  CASE WHEN xf_ms IS NULL AND xd_ms IS NULL THEN bench_ratio(f / d) || '×'
                       WHEN xf_ms IS NULL THEN '< ' || bench_ratio(f / xd_ms) || '×'
                       WHEN xd_ms IS NULL THEN '> ' || bench_ratio(xf_ms / d) || '×'
                       ELSE '?' END,
                  replace(s.strategy, '|', '\|'))
           FROM p LEFT JOIN bench_strategy s USING (family)
           ORDER BY array_position($order, p.family))"
echo
echo "FULL/DIFF within each round (FULL and DIFF of a round ran in the same batch): min / median / max"
bq -c "
WITH r AS (
    SELECT family, round, max(ms) FILTER (WHERE kind = 'full') / max(ms) FILTER (WHERE kind = 'diff') AS fd
    FROM bench_timing WHERE round >= 1 GROUP BY 1, 2)
SELECT '| family | FULL/DIFF |'
UNION ALL SELECT '|---|--:|'
UNION ALL (SELECT format('| %s | %s / %s / %s |', family,
                  bench_ratio(min(fd)), bench_ratio(percentile_cont(0.5) WITHIN GROUP (ORDER BY fd)),
                  bench_ratio(max(fd)))
           FROM r GROUP BY family ORDER BY array_position($order, family))"
echo
echo "Every round (ms; round 0 is the warm-up, not counted; *_engine = the refresh's own duration_ms"
echo "from get_refresh_history, the rest of the statement is catalog bookkeeping, buffer trim, commit):"
bq -c "
SELECT format('| %s | %s | %s |', family, kind, string_agg(round(ms::numeric, 1)::text, ' | ' ORDER BY round))
FROM bench_timing GROUP BY family, kind
ORDER BY array_position($order, family), array_position(array['full','full_engine','diff','diff_engine'], kind)"
echo
nbad=$(bq -c "SELECT count(*) FROM bench_check WHERE extra <> 0 OR missing <> 0")
nchk=$(bq -c "SELECT count(*) FROM bench_check")
nfail=$(bq -c "SELECT count(*) FROM bench_failed")
echo "checks: $nchk table/round comparisons (EXCEPT ALL both ways), $nbad MISMATCH; $nfail FAILED refreshes"
bq -F ' ' -c "SELECT 'FAILED round ' || round || ': ' || family || '_' || replace(kind, '_failed', '')
                     || ' after ' || round(ms::numeric) || ' ms: ' || message FROM bench_failed ORDER BY round, family, kind"
echo "parameters: ROWS=$ROWS ROUNDS=$ROUNDS CHANGE_PCT=$CHANGE_PCT SEED=$SEED REFRESH_TIMEOUT=${REFRESH_TIMEOUT}s customers=$NCUST;" \
     "git $(git -C "$ROOT" rev-parse --short HEAD)"
echo "total: $(( $(date +%s) - t0 ))s; load avg at end $(cut -d' ' -f1-3 /proc/loadavg)"

cp "$BENCH_DIR/log" "$OUT/server.log" 2>/dev/null || true
