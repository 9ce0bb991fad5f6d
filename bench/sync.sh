#!/usr/bin/env bash
# Sync benchmark (issue 4): 100,000 staged users (most in several groups) against
# rules/bench.yaml, on SQLite and on PostgreSQL. Each step is its own process, so the
# memory figures are the step's. Figures go to BENCHMARKS.md by hand.
#   USERS=100000 PG_URL=postgres://postgres@127.0.0.1:5432 bench/sync.sh
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-100000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
cargo build --release -q -p scimgate-sync-bench
BIN=target/release/sync-bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

run() {
    local label=$1 url=$2
    echo "== $label"
    "$BIN" --database-url "$url" seed --users "$USERS"
    "$BIN" --database-url "$url" preview
    echo -n "first "; "$BIN" --database-url "$url" sync
    echo -n "re-"; "$BIN" --database-url "$url" sync
    "$BIN" --database-url "$url" preview
}

run sqlite "$WORK/bench.db"
DB="sg_sync_bench_$$"
psql "$PG_URL/postgres" -q -c "CREATE DATABASE $DB"
trap 'psql "$PG_URL/postgres" -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -rf "$WORK"' EXIT
# Loopback: no TLS, as a co-located database would be configured.
run postgres "$PG_URL/$DB?sslmode=disable"
