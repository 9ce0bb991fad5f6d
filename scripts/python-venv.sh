# Sourced by the scripts that install a Python test tool from PyPI (ensure-aiosmtpd.sh,
# ensure-scim2-tester.sh): one way to get python3 with venv and a fresh venv.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# new_venv DIR: python3 and its venv module from Debian's packages when missing, then an
# empty venv at DIR (an old one there is removed).
new_venv() {
  if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "python3 with venv is not installed; installing it from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  rm -rf "$1"
  mkdir -p "$(dirname "$1")"
  python3 -m venv "$1"
}
