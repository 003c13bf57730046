#!/usr/bin/env bash
# A throwaway demo cluster with pg_trickle and a few stream tables.
#   scripts/demo.sh start | stop
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
port=${PGTRICKLE_DEMO_PORT:-54320}
dir="$repo/.demo"
# The cluster runs as a non-root user; if that user cannot reach the repository (e.g. it lives
# under /root), the demo cluster goes to /tmp instead.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash postgres
    mkdir -p "$dir"
    if ! runuser -u postgres -- test -x "$dir"; then dir=/tmp/pg_trickle-demo; fi
fi

case "${1:-start}" in
start)
    "$repo/scripts/cluster.sh" start "$dir" "$port" >/dev/null
    psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$port" -U postgres)
    "${psql[@]}" -d postgres -c "CREATE DATABASE demo" >/dev/null
    "${psql[@]}" -d demo -f "$repo/scripts/demo.sql"
    cat <<MSG

pg_trickle demo running (data in $dir/data, log in $dir/log).
Connect:   psql -h $dir/socket -p $port -U postgres demo
Try:       SELECT * FROM pgtrickle.pgt_status();
           INSERT INTO sales (region, amount) VALUES ('north', 100);
           SELECT * FROM sales_by_region ORDER BY region;   -- within about a second
           SELECT * FROM pgtrickle.get_refresh_history('sales_by_region', 5);
           SELECT * FROM pgtrickle.explain_st('sales_by_region');
Stop:      make demo-stop
MSG
    ;;
stop)
    "$repo/scripts/cluster.sh" stop "$dir" "$port"
    ;;
esac
