# Sourced by the scripts that install a Node.js test tool from npm (ensure-oidc-provider.sh,
# ensure-axe.sh): scripts/NAME/package.json and its package-lock.json pin the packages, which
# go to $SCIMGATE_TOOLS_DIR/NAME/node_modules (default .tools/, git-ignored; a relative
# path is relative to the repository, as in scripts/oidc-provider/server.mjs).

tools_dir=$(realpath -m "${SCIMGATE_TOOLS_DIR:-.tools}")

# npm_tool_current NAME: the installed copy was made from the committed lock file.
npm_tool_current() {
  cmp -s "scripts/$1/package-lock.json" "$tools_dir/$1/package-lock.json" &&
    [ -f "$tools_dir/$1/node_modules/.package-lock.json" ]
}

# ensure_node: Node.js and npm, from Debian's packages when either is missing (bookworm
# ships Node.js 18, which the tools run on).
ensure_node() {
  command -v npm >/dev/null && command -v node >/dev/null && return 0
  echo "node and/or npm are not installed; installing Debian's nodejs and npm packages"
  local as_root=""
  [ "$(id -u)" = 0 ] || as_root=sudo
  local install="$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm"
  $install >/dev/null || { $as_root apt-get update -qq && $install >/dev/null; } ||
    { echo "apt-get could not install nodejs npm" >&2; exit 1; }
}

# npm_tool NAME: a fresh install (npm ci) of exactly what the lock file names.
npm_tool() {
  command -v npm >/dev/null && command -v node >/dev/null ||
    { echo "$1: node and npm are not installed (Node.js 18 or later is needed)" >&2; exit 1; }
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
    { echo "$1: Node.js $(node --version) is too old; 18 or later is needed" >&2; exit 1; }
  local dest="$tools_dir/$1"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "scripts/$1/package.json" "scripts/$1/package-lock.json" "$dest/"
  (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    { echo "$1: npm ci failed in $dest" >&2; rm -f "$dest/package-lock.json"; exit 1; }
}

# Every script that sources this one runs Node.js.
ensure_node
