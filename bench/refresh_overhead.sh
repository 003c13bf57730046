#!/usr/bin/env bash
# What a differential refresh costs apart from its data: N rounds, in one session, of a one-row
# UPDATE of a 1,000-row table and a refresh of a 10-group count / sum stream table over it, side
# by side with the same UPDATE alone. Not a test: nothing here asserts a time. The stream table
# is compared with its query at the end (EXCEPT ALL both ways).
#
#   bench/refresh_overhead.sh          # N=1500
#
# Prints the mean client-side time (psql \timing) of the UPDATE and of the refresh, and the
# mean duration_ms the refreshes recorded (server side, without the statement's own overhead).
# The cluster: bench/lib.sh (/tmp/pgt-bench, port 55800, scheduler off).
set -euo pipefail
shopt -s inherit_errexit
OUT=${OUT:-/tmp/pgt-overhead-bench-out}
source "$(dirname "$0")/lib.sh"
N=${N:-1500}
KEEP=${KEEP:-0}

start_cluster
trap '[ "$KEEP" = 1 ] || stop_cluster' EXIT
echo "== bench/refresh_overhead.sh  N=$N"
print_facts

bpsql >/dev/null <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, g int NOT NULL, v numeric NOT NULL);
INSERT INTO t SELECT i, i % 10, i FROM generate_series(1, 1000) i;
SELECT pgtrickle.create_stream_table('t_sum', 'SELECT g, sum(v) AS s, count(*) AS c FROM t GROUP BY g',
                                     refresh_mode => 'DIFFERENTIAL', schedule => '1h');
VACUUM ANALYZE t;
SQL

script="$OUT/rounds.sql"
{
    echo '\timing on'
    for i in $(seq 1 "$N"); do
        echo "UPDATE t SET v = v + 1 WHERE id = $(( 1 + i % 1000 ));"
        echo "SELECT pgtrickle.refresh_stream_table('t_sum');"
    done
} >"$script"
bpsql -f "$script" >"$OUT/rounds.out"
awk '/^Time:/ { n++; k = (n - 1) % 2; s[k] += $2; c[k]++ }
     END { printf "UPDATE alone:      %.3f ms\nrefresh (client):  %.3f ms  (%d refreshes)\n",
                   s[0] / c[0], s[1] / c[1], c[1] }' "$OUT/rounds.out"
bq -c "SELECT format('refresh (server):  %s ms  (duration_ms, %s)', round(avg(duration_ms)::numeric, 3),
                     string_agg(DISTINCT action, ','))
       FROM pgtrickle.get_refresh_history('t_sum', $N)"
bq -c "SELECT CASE WHEN count(*) = 0 THEN 'check: stream table equals its query'
                   ELSE 'MISMATCH: ' || count(*) || ' rows' END
       FROM ((SELECT g, s, c FROM t_sum EXCEPT ALL SELECT g, sum(v), count(*) FROM t GROUP BY g)
             UNION ALL
             (SELECT g, sum(v), count(*) FROM t GROUP BY g EXCEPT ALL SELECT g, s, c FROM t_sum)) d"
