#!/usr/bin/env bash
# Makes sure a Python with scim2-tester (python-scim's SCIM 2.0 compliance checks, run against
# a live scimgate by tests/scim2_tester/run.py) is at target/scim2-tester-venv/bin/python:
# creates the venv and installs the pinned packages from PyPI when they are absent or at
# other versions. Installs python3 and its venv module from Debian's packages first when they
# are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SCIMGATE_SCIM2_TESTER_VENV:-target/scim2-tester-venv}"
python="$venv/bin/python"

# Pinned, so that a new release of the tester (or of the models it validates payloads with)
# cannot turn CI red on its own. scim2-client 0.13 speaks HTTP through httpx2 (the fork of
# httpx it names as its `httpx2` extra), so that is the HTTP package installed with it.
pins=(scim2-tester==0.5.2 scim2-client==0.13.2 scim2-models==0.12.3 httpx2==2.17.0)

. scripts/python-venv.sh

# Installed at exactly the pinned versions? (Nonzero exit when any is missing or differs.)
pinned() {
  "$python" - "${pins[@]}" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
sys.exit(any(version(name) != want for name, want in (pin.split("==") for pin in sys.argv[1:])))
EOF
}

if [ -x "$python" ] && pinned; then
  echo "scim2-tester is installed in $venv"
  exit 0
fi

new_venv "$venv"
"$python" -m pip install -q --disable-pip-version-check "${pins[@]}"
pinned || { echo "scim2-tester: pip did not install ${pins[*]}" >&2; exit 1; }
echo "${pins[*]} installed in $venv"
