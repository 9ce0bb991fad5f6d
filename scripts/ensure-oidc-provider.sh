#!/usr/bin/env bash
# Makes sure panva's oidc-provider (a certified OpenID Provider, run by
# scripts/oidc-provider/server.mjs for the web UI's login tests) is installed in
# .tools/oidc-provider/node_modules at the versions scripts/oidc-provider/package-lock.json pins,
# then proves a login works: selftest.mjs walks the authorization code + PKCE flow.
# 8.x, not 9.x: 9 warns that it supports only Node.js 22 and later, and CI has Node.js 20.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/node-tools.sh

installed_now=0
if ! npm_tool_current oidc-provider; then
  npm_tool oidc-provider
  installed_now=1
fi
# Run every time (about a second): an installed package is no proof that the server works.
result=$(node scripts/oidc-provider/selftest.mjs 2>&1) ||
  { printf '%s\n' "$result" >&2; echo "ensure-oidc-provider: scripts/oidc-provider/selftest.mjs failed" >&2; exit 1; }
version=$(node -p 'require(process.argv[1]).version' "$tools_dir/oidc-provider/node_modules/oidc-provider/package.json")
if [ "$installed_now" = 1 ]; then
  echo "oidc-provider $version installed in $tools_dir/oidc-provider; $result"
else
  echo "oidc-provider $version is installed in $tools_dir/oidc-provider and works"
fi
