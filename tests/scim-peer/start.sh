#!/bin/sh
# tests/scim-peer/start.sh <outfile>
# Starts the SCIM test peer on an ephemeral port of 127.0.0.1 and returns once it answers.
# Writes the SCIM base URL (http://127.0.0.1:PORT/scim/v2) to <outfile>, the pid to <outfile>.pid
# and the peer's output to <outfile>.log. The control API is the same origin under /_control/.
# The peer's settings come from the environment (SCIM_TOKEN, SCIM_PEER_PROFILE, ...: README.md).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 <outfile>" >&2; exit 2; }
out="$1"
dir="$(cd "$(dirname "$0")" && pwd)"
"$dir/ensure-deps.sh"
rm -f "$out" "$out.pid"
PORT=0 nohup node "$dir/peer.mjs" > "$out.log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$out.pid"
i=0
while [ $i -lt 100 ]; do
  url="$(sed -n 's/^SCIM_PEER_URL=//p' "$out.log" 2>/dev/null || true)"
  if [ -n "$url" ] && curl -fsS -o /dev/null "${url%/scim/v2}/_control/health" 2>/dev/null; then
    printf '%s\n' "$url" > "$out"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { echo "scim-peer: exited during start-up; its log ($out.log):" >&2; cat "$out.log" >&2; exit 1; }
  sleep 0.1
  i=$((i + 1))
done
echo "scim-peer: no answer within 10 s; log in $out.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
