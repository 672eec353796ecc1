#!/bin/sh
# Installs the peer's npm dependencies exactly as package-lock.json pins them, unless node_modules
# already matches the lock (a stamp holding the lock's sha256, written after a successful npm ci).
set -eu
dir="$(cd "$(dirname "$0")" && pwd)"
stamp="$dir/node_modules/.installed-lock.sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "scim-peer: npm not found; run scripts/install-deps.sh" >&2; exit 1; }
echo "scim-peer: npm ci in $dir" >&2
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
echo "$want" > "$stamp"
