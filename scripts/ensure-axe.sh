#!/usr/bin/env bash
# Makes sure axe-core (Deque's accessibility rules engine, which the web UI's browser tests
# inject into pages) is installed in .tools/axe-core/node_modules at the version
# scripts/axe-core/package-lock.json pins, and prints the path of axe.min.js for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/node-tools.sh

js="$tools_dir/axe-core/node_modules/axe-core/axe.min.js"

if npm_tool_current axe-core && [ -s "$js" ]; then
  echo "axe-core is installed: $js"
  exit 0
fi

npm_tool axe-core
[ -s "$js" ] || { echo "ensure-axe: npm installed axe-core but $js is missing" >&2; exit 1; }
version=$(node -p 'require(process.argv[1]).version' "$tools_dir/axe-core/node_modules/axe-core/package.json")
echo "axe-core $version installed: $js"
