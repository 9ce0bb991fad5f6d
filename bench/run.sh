#!/usr/bin/env bash
# The SCIM ingest benchmark (issue 2): four workloads against scimgate on SQLite, scimgate
# on PostgreSQL and the Python peer scim2-server (gunicorn), in one run, reported as
# requests/s, p99 latency and scimgate/peer ratios. Figures go to BENCHMARKS.md by hand.
#
#   bench/run.sh                 # 10 s per workload, 32 connections, 5,000 seeded users
#   DURATION=30 bench/run.sh     # longer runs
#   MILLION=1 bench/run.sh       # also: lookup p99 with 1,000,000 staged users
#   ONLY_MILLION=1 MILLION=1 bench/run.sh   # just that
#   COMPARE_BIN=/path/to/older/scimgate bench/run.sh   # also that build, same run, as "baseline-*"
#   WORKLOADS="patch_group create_user" bench/run.sh  # a subset of the workloads
#   TAILS=1 bench/run.sh         # issue 14's tails: 1,000 users, 100 groups, 16 and 64
#                                # connections, 8 s per workload on a fresh server each,
#                                # p99 and p99.9, the peer and a bare axum handler (the
#                                # lookups' ceiling) in the same run
#   TAILS=1 WRITER_STAGES=1 bench/run.sh   # also the writer's stage timings per workload
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
SEEDED=${SEEDED_USERS:-5000}
PG_ADMIN=${SCIMGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
export BENCH_DIR

# --- tools --------------------------------------------------------------------------
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || { as_root apt-get update -qq && as_root apt-get install -y -qq wrk >/dev/null; }
if [ ! -x "$BENCH_DIR/.venv/bin/gunicorn" ]; then
  python3 -m venv "$BENCH_DIR/.venv"
  "$BENCH_DIR/.venv/bin/pip" install -q -r "$BENCH_DIR/requirements.txt"
fi
bash "$ROOT/scripts/ensure-postgres.sh" >/dev/null
(cd "$ROOT" && cargo build --release -q -p scimgate -p scimgate-bench)
SCIMGATE="$ROOT/target/release/scimgate"
BARE="$ROOT/target/release/bare-scim"

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

# run_workload TARGET WORKLOAD HOSTPORT BASEPATH TOKEN IDS GROUP SEEDED
run_workload() {
  local out
  out=$(SCIM_BASE_PATH="$4" SCIM_TOKEN="$5" IDS_FILE="$6" GROUP_FILE="$7" SEEDED_USERS="$8" \
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$BENCH_DIR/lua/$2.lua" "http://$3" 2>&1)
  local rps p99 p999 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  p999=$(awk '$1 == "tails" {print $7 "ms"}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  printf '%-18s %-14s c%-3s %10s req/s  p99 %-9s p99.9 %-10s non-2xx %s\n' "$1" "$2" "$CONNECTIONS" "$rps" "$p99" "$p999" "${errors:-0}" | tee -a "$WORK/results"
  if [ -n "${errors:-}" ]; then grep -m1 'unexpected status' <<<"$out" >&2 || true; fi
}

WORKLOADS=${WORKLOADS:-create_user lookup patch_user patch_group}

bench_target() { # NAME HOSTPORT BASEPATH TOKEN
  python3 "$BENCH_DIR/seed.py" "http://$2$3" "$4" "$SEEDED" "$WORK/$1.ids" "$WORK/$1.group"
  for workload in $WORKLOADS; do
    run_workload "$1" "$workload" "$2" "$3" "$4" "$WORK/$1.ids" "$WORK/$1.group" "$SEEDED"
  done
}

start_scimgate() { # DATABASE_URL → sets ADDR and TOKEN
  TOKEN=$("$SCIMGATE" --database-url "$1" tenant create bench --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  local port; port=$(free_port)
  SCIMGATE_LOG=${SCIMGATE_BENCH_LOG:-warn} "$SCIMGATE" --database-url "$1" serve --listen "127.0.0.1:$port" >/dev/null 2>"$WORK/scimgate.log" &
  PIDS+=($!)
  ADDR="127.0.0.1:$port"
  wait_http "http://$ADDR/healthz"
}

# Loopback, so no TLS (scimgate's default, sslmode=prefer, would encrypt when the server
# offers it; the figures in BENCHMARKS.md are without TLS).
fresh_pg() { psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" && psql "$PG_ADMIN" -qc "CREATE DATABASE $1"; echo "$PG_BASE/$1?sslmode=disable"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(date -u +%FT%TZ)"
[ "${TAILS:-0}" = 1 ] || echo "wrk -t2 -c$CONNECTIONS -d${DURATION}s; $SEEDED seeded users per target"

if [ "${TAILS:-0}" = 1 ]; then
# --- issue 14: tails, each workload on a fresh server -----------------------------------
DURATION=${DURATION_TAILS:-8}
SEEDED=1000
echo "wrk -t2 -d${DURATION}s, a fresh server per workload; $SEEDED seeded users and 100 groups per target"
TAIL_WORKLOADS=${TAIL_WORKLOADS:-patch_user_rr patch_groups create_user lookup}
tails_target() { # NAME HOSTPORT BASEPATH TOKEN WORKLOAD
  python3 "$BENCH_DIR/seed.py" "http://$2$3" "$4" "$SEEDED" "$WORK/$1.ids" "$WORK/$1.group" 100
  run_workload "$1" "$5" "$2" "$3" "$4" "$WORK/$1.ids" "$WORK/$1.group" "$SEEDED"
  if [ "${WRITER_STAGES:-0}" = 1 ] && [ "$1" != peer ]; then
    sleep 0.5 # the last window's summary
    grep -h "writer stages" "$WORK/scimgate.log" | sed 's/\x1b\[[0-9;]*m//g; s/.*writer stages (p50\/p99\/max) /    /'
    : >"$WORK/scimgate.log"
  fi
}
[ "${WRITER_STAGES:-0}" = 1 ] && export SCIMGATE_BENCH_LOG=warn,scimgate_store::writer=debug
for CONNECTIONS in ${TAIL_CONNECTIONS:-16 64}; do
  for workload in $TAIL_WORKLOADS; do
    port=$(free_port)
    # The peer as issue 14 measured it: scim2-server on gunicorn, 4 threads.
    (cd "$BENCH_DIR" && exec .venv/bin/gunicorn -w 1 -k gthread --threads 4 -b "127.0.0.1:$port" \
      --log-level warning peer_app:app) &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/v2/ServiceProviderConfig"
    tails_target peer "127.0.0.1:$port" /v2 peer-token "$workload"
    kill "${PIDS[-1]}"
    rm -f "$WORK/bench.db"*
    start_scimgate "$WORK/bench.db"
    tails_target scimgate-sqlite "$ADDR" /scim/v2/bench "$TOKEN" "$workload"
    kill "${PIDS[-1]}"
    start_scimgate "$(fresh_pg scimgate_bench)"
    tails_target scimgate-postgres "$ADDR" /scim/v2/bench "$TOKEN" "$workload"
    kill "${PIDS[-1]}"
  done
  port=$(free_port)
  "$BARE" "127.0.0.1:$port" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/"
  seq 0 999 | sed 's/^/id-/' >"$WORK/bare.ids"
  run_workload bare-axum lookup "127.0.0.1:$port" /scim/v2/bench none "$WORK/bare.ids" "$WORK/bare.ids" "$SEEDED"
  kill "${PIDS[-1]}"
done
echo
echo "ratios (requests/s): scimgate / peer, and lookups / the bare handler:"
awk '{ rps[$1" "$2" "$3] = $4 } END {
  for (k in rps) {
    split(k, f, " ");
    if (f[1] != "scimgate-sqlite" && f[1] != "scimgate-postgres") continue;
    peer = rps["peer " f[2] " " f[3]];
    line = sprintf("  %-18s %-14s %-4s %6.1fx peer", f[1], f[2], f[3], rps[k] / peer);
    if (f[2] == "lookup") line = line sprintf("   %5.1f%% of bare", 100 * rps[k] / rps["bare-axum lookup " f[3]]);
    print line
  }
}' "$WORK/results" | sort
exit 0
fi

if [ "${ONLY_MILLION:-0}" != 1 ]; then
# --- the peer -------------------------------------------------------------------------
port=$(free_port)
(cd "$BENCH_DIR" && exec .venv/bin/gunicorn -w 1 -k gthread --threads 8 -b "127.0.0.1:$port" \
  --log-level warning peer_app:app) &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/v2/ServiceProviderConfig"
bench_target peer "127.0.0.1:$port" /v2 peer-token
kill "${PIDS[-1]}"

# --- scimgate on SQLite and PostgreSQL (and an older build, when compared) ----------------
bench_scimgate() { # NAME-PREFIX
  rm -f "$WORK/bench.db"*
  start_scimgate "$WORK/bench.db"
  bench_target "$1-sqlite" "$ADDR" /scim/v2/bench "$TOKEN"
  kill "${PIDS[-1]}"
  start_scimgate "$(fresh_pg scimgate_bench)"
  bench_target "$1-postgres" "$ADDR" /scim/v2/bench "$TOKEN"
  kill "${PIDS[-1]}"
}
bench_scimgate scimgate
if [ -n "${COMPARE_BIN:-}" ]; then
  CURRENT=$SCIMGATE
  SCIMGATE=$COMPARE_BIN
  bench_scimgate baseline
  SCIMGATE=$CURRENT
fi

echo
echo "ratios (scimgate / peer, requests/s):"
awk -v workloads="$WORKLOADS" '{ rps[$1" "$2] = $3 } END {
  n = split(workloads, w, " ");
  for (i = 1; i <= n; i++) {
    p = rps["peer " w[i]];
    printf "  %-12s sqlite %6.1fx   postgres %6.1fx\n", w[i], rps["scimgate-sqlite " w[i]] / p, rps["scimgate-postgres " w[i]] / p
    if (("baseline-sqlite " w[i]) in rps)
      printf "  %-12s this build / baseline: sqlite %.2fx   postgres %.2fx\n", "", rps["scimgate-sqlite " w[i]] / rps["baseline-sqlite " w[i]], rps["scimgate-postgres " w[i]] / rps["baseline-postgres " w[i]]
  }
}' "$WORK/results"
fi

# --- lookups with a million staged users -----------------------------------------------
if [ "${MILLION:-0}" = 1 ]; then
  echo
  for backend in sqlite postgres; do
    if [ "$backend" = sqlite ]; then url="$WORK/million.db"; else url=$(fresh_pg scimgate_million); fi
    "$SCIMGATE" --database-url "$url" migrate 2>/dev/null
    "$ROOT/target/release/bulk-seed" --database-url "$url" --tenant bench --users 1000000
    TOKEN=$("$SCIMGATE" --database-url "$url" token create --tenant bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    port=$(free_port)
    SCIMGATE_LOG=warn "$SCIMGATE" --database-url "$url" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$port/healthz"
    run_workload "scimgate-$backend-1M" lookup "127.0.0.1:$port" /scim/v2/bench "$TOKEN" /dev/null /dev/null 1000000
    kill "${PIDS[-1]}"
  done
fi
