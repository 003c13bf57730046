#!/usr/bin/env bash
# Runs the pg_regress suite (sql/*.sql against expected/*.out) on the cluster started by
# scripts/cluster.sh. Usage: scripts/regress.sh CLUSTER_DIR PORT OUTPUT_DIR
set -euo pipefail
cluster=$1 port=$2 out=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
pgxs=$(dirname "$(pg_config --pgxs)")/..
pg_regress="$pgxs/test/regress/pg_regress"
tests=$(cd "$repo/sql" && ls *.sql | grep -v '^pg_trickle--' | sed 's/\.sql$//' | sort)
rm -rf "$out"
mkdir -p "$out"
cd "$repo"
status=0
"$pg_regress" --inputdir="$repo" --outputdir="$out" --bindir="$(pg_config --bindir)" \
    --host="$cluster/socket" --port="$port" --user=postgres --dbname=pgtrickle_regress \
    $tests || status=$?
if [ $status -ne 0 ] && [ -f "$out/regression.diffs" ]; then
    head -c 20000 "$out/regression.diffs"
fi
exit $status
