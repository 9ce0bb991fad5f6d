#!/usr/bin/env bash
# Makes sure a Python with scim2-server (python-scim's SCIM 2.0 server, in memory) is at
# target/scim2-server-venv/bin/python: the CRM target the connector tests push accounts to
# (tests/scim2_server/serve.py starts it). Creates the venv and installs the pinned packages
# from PyPI when they are absent or at other versions; installs python3 and its venv module
# from Debian's packages first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SCIMGATE_SCIM2_SERVER_VENV:-target/scim2-server-venv}"
python="$venv/bin/python"

# Pinned (the same server version the push benchmark compares against), so that a new
# release cannot turn CI red on its own.
pins=(scim2-server==0.8.3)

. scripts/python-venv.sh

pinned() {
  "$python" - "${pins[@]}" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (pin.split("==") for pin in sys.argv[1:])))
PY
}

if [ -x "$python" ] && pinned; then
  echo "scim2-server is installed in $venv"
  exit 0
fi

new_venv "$venv"
"$python" -m pip install -q --disable-pip-version-check "${pins[@]}"
pinned || { echo "scim2-server: pip did not install ${pins[*]}" >&2; exit 1; }
echo "${pins[*]} installed in $venv"
