#!/usr/bin/env bash
# Makes sure a Python with aiosmtpd (the SMTP server the notification tests talk to over
# TCP) is at target/smtp-venv/bin/python, where crates/testkit looks for it: creates the
# venv and installs aiosmtpd from PyPI when absent. Installs python3 and its venv module
# from Debian's packages first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SCIMGATE_SMTP_VENV:-target/smtp-venv}"
python="$venv/bin/python"

. scripts/python-venv.sh

if [ -x "$python" ] && "$python" -c 'import aiosmtpd' 2>/dev/null; then
  echo "aiosmtpd is installed in $venv"
  exit 0
fi

new_venv "$venv"
"$python" -m pip install -q --disable-pip-version-check 'aiosmtpd>=1.4,<2'
"$python" -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__, "installed in '"$venv"'")'
