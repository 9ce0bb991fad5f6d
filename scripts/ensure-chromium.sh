#!/usr/bin/env bash
# Makes sure Debian's Chromium and its WebDriver (/usr/bin/chromium, /usr/bin/chromedriver) are
# installed and start, for the web UI's browser tests: installs the chromium and chromium-driver
# packages when absent. Not pinned: Debian ships Chromium only through bookworm-security, whose
# old versions disappear from the mirror; the two packages always come as a matching pair.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

installed() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }
install() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

if ! installed; then
  echo "chromium and/or chromedriver are not installed; installing them from Debian's packages"
  # The package lists are refreshed only when the install fails with the ones on disk (missing,
  # or naming a security-update version the mirror no longer has).
  if ! install; then
    echo "retrying after apt-get update"
    as_root apt-get update -qq
    install || { echo "ensure-chromium: apt-get could not install chromium chromium-driver" >&2; exit 1; }
  fi
  installed || { echo "ensure-chromium: /usr/bin/chromium or /usr/bin/chromedriver is still missing" >&2; exit 1; }
fi

# Checked on every run (about a second): an installed browser can still fail to start headless
# (missing shared libraries, no sandbox as root in a container, hence --no-sandbox).
page=$(mktemp --suffix=.html)
trap 'rm -f "$page"' EXIT
echo '<p>scimgate-chromium-ok</p>' >"$page"
dom=$(timeout 60 /usr/bin/chromium --headless=new --no-sandbox --disable-gpu --dump-dom "file://$page" 2>/dev/null) || true
case "$dom" in
  *scimgate-chromium-ok*) ;;
  *) echo "ensure-chromium: headless chromium did not render a test page; try: chromium --headless=new --no-sandbox --dump-dom 'data:text/html,<p>hi</p>'" >&2; exit 1 ;;
esac
driver=$(/usr/bin/chromedriver --version) || { echo "ensure-chromium: chromedriver does not run" >&2; exit 1; }
echo "$(/usr/bin/chromium --version 2>/dev/null) and ${driver%% (*} are installed"
