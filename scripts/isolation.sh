#!/usr/bin/env bash
# Runs the isolation specs (isolation/specs/*.spec against isolation/expected/*.out, in the order
# of isolation/schedule) with PostgreSQL's isolation tester on the cluster started by
# scripts/cluster.sh. Usage: scripts/isolation.sh CLUSTER_DIR PORT OUTPUT_DIR
set -euo pipefail
cluster=$1 port=$2 out=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
pgxs=$(dirname "$(pg_config --pgxs)")/..
runner="$pgxs/test/isolation/pg_isolation_regress"
rm -rf "$out"
mkdir -p "$out"
cd "$repo"
status=0
"$runner" --inputdir="$repo/isolation" --outputdir="$out" --bindir="$(pg_config --bindir)" \
    --host="$cluster/socket" --port="$port" --user=postgres --dbname=pgtrickle_isolation \
    --load-extension=pg_trickle --schedule="$repo/isolation/schedule" || status=$?
if [ $status -ne 0 ] && [ -f "$out/regression.diffs" ]; then
    head -c 20000 "$out/regression.diffs"
fi
exit $status
