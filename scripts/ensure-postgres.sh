#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at 127.0.0.1:5432 for the tests: installs it from
# Debian's packages and starts it when absent. When this script installs PostgreSQL itself,
# it lets local connections in without a password (a throwaway test server, not production).
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if command -v pg_isready >/dev/null && ready; then
  echo "PostgreSQL is running at 127.0.0.1:5432"
else
  installed_here=0
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "PostgreSQL is not installed; installing it from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    installed_here=1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -z "$(as_root pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"')" ]; then
    as_root pg_createcluster "$version" main
    installed_here=1
  fi
  if [ "$installed_here" = 1 ]; then
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do ready && break; sleep 1; done
  ready || { echo "PostgreSQL did not start" >&2; exit 1; }
  echo "PostgreSQL $version started at 127.0.0.1:5432"
fi

# Test databases left behind by killed test runs.
url="${SCIMGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if command -v psql >/dev/null; then
  psql "$url" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'sg_test_%'" 2>/dev/null |
    while read -r db; do psql "$url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
fi
