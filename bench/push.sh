#!/usr/bin/env bash
# First push of USERS accounts to a CRM target over SCIM 2.0 (issue 15): a source scimgate
# whose first sync created the accounts pushes all of them, once to another scimgate
# (SQLite) and once to the peer scim2-server (in memory, gunicorn), in one run. Reports
# accounts per second until the queue is empty. Figures go to BENCHMARKS.md by hand.
#   USERS=10000 bench/push.sh
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
USERS=${USERS:-10000}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v jq >/dev/null || { as_root apt-get update -qq && as_root apt-get install -y -qq jq >/dev/null; }
if [ ! -x "$BENCH_DIR/.venv/bin/gunicorn" ]; then
  python3 -m venv "$BENCH_DIR/.venv"
  "$BENCH_DIR/.venv/bin/pip" install -q -r "$BENCH_DIR/requirements.txt"
fi
(cd "$ROOT" && cargo build --release -q -p scimgate -p scimgate-sync-bench)
SCIMGATE="$ROOT/target/release/scimgate"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no server at $1" >&2; exit 1; }

SRC="$WORK/source.db"
"$ROOT/target/release/sync-bench" --database-url "$SRC" seed --users "$USERS" >/dev/null
"$ROOT/target/release/sync-bench" --database-url "$SRC" sync
OUT=(--allow-private-webhooks --server-key-file "$WORK/server.key")

# push_to LABEL URL TOKEN: every account pushed to the target at URL; prints accounts/s.
push_to() {
  "$SCIMGATE" --database-url "$SRC" "${OUT[@]}" target --tenant bench clear >/dev/null
  "$SCIMGATE" --database-url "$SRC" "${OUT[@]}" target --tenant bench set --scim "$2" --token "$3" --push-all
  local start end
  start=$(date +%s.%N)
  "$SCIMGATE" --database-url "$SRC" "${OUT[@]}" serve --listen 127.0.0.1:0 --sync-tick-ms 50 >/dev/null 2>"$WORK/source.log" &
  PIDS+=($!)
  while :; do
    local show
    show=$("$SCIMGATE" --database-url "$SRC" target --tenant bench show --json)
    [ "$(jq .pending <<<"$show")" = 0 ] && break
    sleep 0.2
  done
  end=$(date +%s.%N)
  kill "${PIDS[-1]}"
  wait "${PIDS[-1]}" 2>/dev/null || true
  local delivered dead
  delivered=$(jq .delivered <<<"$show")
  dead=$(jq .dead <<<"$show")
  python3 -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print(f'$1: {sys.argv[3]} accounts in {d:.1f} s = {int(sys.argv[3])/d:.0f} accounts/s, dead {sys.argv[4]}')" \
    "$start" "$end" "$delivered" "$dead"
}

# Another scimgate as the CRM.
port=$(free_port)
"$SCIMGATE" --database-url "$WORK/crm.db" tenant create crm --json >"$WORK/crm.json"
"$SCIMGATE" --database-url "$WORK/crm.db" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/healthz"
push_to scimgate "http://127.0.0.1:$port/scim/v2/crm" "$(jq -r .token "$WORK/crm.json")"

# The peer: scim2-server, in memory.
port=$(free_port)
(cd "$BENCH_DIR" && exec .venv/bin/gunicorn -w 1 -k gthread --threads 4 -b "127.0.0.1:$port" \
  --log-level warning peer_app:app) &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/v2/ServiceProviderConfig"
push_to scim2-server "http://127.0.0.1:$port/v2" peer-token
