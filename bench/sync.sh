#!/usr/bin/env bash
# Sync benchmark (issue 4): 100,000 staged users (most in several groups) against
# rules/bench.yaml, on SQLite and on PostgreSQL. Each step is its own process, so the
# memory figures are the step's. Figures go to BENCHMARKS.md by hand.
#   USERS=100000 PG_URL=postgres://postgres@127.0.0.1:5432 bench/sync.sh
#   COMPARE_BIN=/path/to/older/sync-bench bench/sync.sh   # also that build, same run, as "baseline"
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-100000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
cargo build --release -q -p scimgate-sync-bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

run() {
    local label=$1 url=$2
    echo "== $label ($BIN)"
    "$BIN" --database-url "$url" seed --users "$USERS"
    "$BIN" --database-url "$url" preview
    echo -n "first "; "$BIN" --database-url "$url" sync
    echo -n "re-"; "$BIN" --database-url "$url" sync
    "$BIN" --database-url "$url" preview
}

# Each build in turn, on fresh databases, so the two see the same machine minutes apart.
for BIN in ${COMPARE_BIN:-} target/release/sync-bench; do
    run sqlite "$WORK/bench-$(basename "$(dirname "$BIN")")-$RANDOM.db"
    DB="sg_sync_bench_$$_$RANDOM"
    psql "$PG_URL/postgres" -q -c "CREATE DATABASE $DB"
    # Loopback: no TLS, as a co-located database would be configured.
    run postgres "$PG_URL/$DB?sslmode=disable"
    psql "$PG_URL/postgres" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
done
