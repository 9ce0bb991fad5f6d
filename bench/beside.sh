#!/usr/bin/env bash
# SCIM write tails beside the scheduler (issue 14): a workload of bench/run.sh's TAILS set
# (1,000 users and 100 groups seeded over HTTP) first alone, then while the same server
# runs a first company sync of 100,000 staged users (or computes their stored preview),
# started through the admin API as an admin or the scheduler would. Target: the p99
# beside it at most 2x the p99 alone. Figures go to BENCHMARKS.md by hand.
#
#   bench/beside.sh                                   # both databases, PATCH user, sync
#   BESIDE=preview bench/beside.sh                    # beside a stored-preview refresh
#   TARGETS=sqlite WORKLOAD=patch_groups CONNECTIONS=64 bench/beside.sh
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
export BENCH_DIR
WORKLOAD=${WORKLOAD:-patch_user_rr}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-8}
USERS=${USERS:-100000}
BESIDE=${BESIDE:-sync}
PG_ADMIN=${SCIMGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bash "$ROOT/scripts/ensure-postgres.sh" >/dev/null
(cd "$ROOT" && cargo build --release -q -p scimgate -p scimgate-sync-bench)
SCIMGATE="$ROOT/target/release/scimgate"
SEEDER="$ROOT/target/release/sync-bench"

WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }

drive() { # → "req/s p99 p99.9" of one wrk run
  SCIM_BASE_PATH=/scim/v2/bench SCIM_TOKEN=$TOKEN IDS_FILE=$WORK/ids GROUP_FILE=$WORK/group \
    SEEDED_USERS=1000 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s "$BENCH_DIR/lua/$WORKLOAD.lua" "http://$ADDR" |
    awk '/^Requests\/sec:/ {rps=$2} $1 == "tails" {p99=$5; p999=$7} END {printf "%s req/s, p99 %s ms, p99.9 %s ms", rps, p99, p999}'
}

run() { # NAME DATABASE_URL
  TOKEN=$("$SCIMGATE" --database-url "$2" tenant create bench --json 2>/dev/null | token_of)
  "$SEEDER" --database-url "$2" seed --users "$USERS" >/dev/null 2>&1
  local admin port
  admin=$("$SCIMGATE" --database-url "$2" admin-token create --tenant bench --json 2>/dev/null | token_of)
  port=$(free_port)
  ADDR="127.0.0.1:$port"
  SCIMGATE_LOG=warn "$SCIMGATE" --database-url "$2" serve --listen "$ADDR" >/dev/null 2>"$WORK/server.log" &
  SERVER=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://$ADDR/healthz" && break; sleep 0.1; done
  python3 "$BENCH_DIR/seed.py" "http://$ADDR/scim/v2/bench" "$TOKEN" 1000 "$WORK/ids" "$WORK/group" 100
  local alone beside
  alone=$(drive)
  local api="http://$ADDR/api/v1/tenants/bench"
  local job=(-X POST "$api/sync")
  [ "$BESIDE" = preview ] && job=("$api/preview?limit=1")
  local started=$SECONDS
  curl -s -o "$WORK/job.out" -H "Authorization: Bearer $admin" "${job[@]}" &
  local job_pid=$!
  sleep 0.5 # the job under way
  beside=$(drive)
  wait "$job_pid"
  printf '%-9s %-14s c%-3s alone:  %s\n' "$1" "$WORKLOAD" "$CONNECTIONS" "$alone"
  printf '%-9s %-14s c%-3s beside: %s  (%s of %s users: %s s)\n' "$1" "$WORKLOAD" "$CONNECTIONS" \
    "$beside" "$BESIDE" "$USERS" "$((SECONDS - started))"
  head -c 300 "$WORK/job.out" | grep -q '"status":"completed"\|"totals"' ||
    { echo "the $BESIDE did not finish: $(head -c 300 "$WORK/job.out")" >&2; exit 1; }
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
}

echo "machine: $(nproc) cores; $(date -u +%FT%TZ); wrk -t2 -c$CONNECTIONS -d${DURATION}s"
for target in ${TARGETS:-sqlite postgres}; do
  case $target in
    sqlite) rm -f "$WORK/bench.db"*; run sqlite "$WORK/bench.db" ;;
    postgres)
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS scimgate_beside WITH (FORCE)" 2>/dev/null
      psql "$PG_ADMIN" -qc "CREATE DATABASE scimgate_beside"
      run postgres "$PG_BASE/scimgate_beside?sslmode=disable"
      psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS scimgate_beside WITH (FORCE)" ;;
  esac
done
