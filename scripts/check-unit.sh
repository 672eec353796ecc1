#!/usr/bin/env bash
# Checks conf/syncd.service with systemd-analyze: `verify` must be clean and
# the offline `security` exposure score must not exceed a threshold.
#
#   scripts/check-unit.sh [UNIT]     default: conf/syncd.service
#
#   SYNCD_UNIT_MAX_EXPOSURE=2.5      the highest acceptable score (0.0-10.0)
#   SYNCD_BINARY=PATH                a built syncd, verified in place of
#                                    /usr/bin/syncd (set by the test suite)
#
# Offline mode needs no running systemd (it need not be PID 1). When
# /usr/bin/syncd is not installed and SYNCD_BINARY is unset, verify's
# complaint that it is missing is the one message tolerated.
set -euo pipefail
cd "$(dirname "$0")/.."
unit=${1:-conf/syncd.service}
max=${SYNCD_UNIT_MAX_EXPOSURE:-2.5}
command -v systemd-analyze >/dev/null || {
  echo "check-unit: systemd-analyze not found (Debian package systemd)" >&2
  exit 1
}
[ -f "$unit" ] || { echo "check-unit: no unit file $unit" >&2; exit 1; }

# The unit's own name matters to both commands, so check a copy that keeps it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
copy=$tmp/$(basename "$unit")
exec_path=/usr/bin/syncd
if [ -n "${SYNCD_BINARY:-}" ]; then
  [ -x "$SYNCD_BINARY" ] || { echo "check-unit: SYNCD_BINARY=$SYNCD_BINARY is not executable" >&2; exit 1; }
  exec_path=$(realpath "$SYNCD_BINARY")
fi
sed "s#/usr/bin/syncd#${exec_path}#g" "$unit" >"$copy"

status=0

# verify: syntax, unknown keys, dependencies, executable paths. --man=no: the
# man page is checked where it is built, not through man(1) here.
verify_out=$(systemd-analyze verify --man=no "$copy" 2>&1) || true
if [ ! -x "$exec_path" ]; then
  verify_out=$(grep -v "Command $exec_path is not executable" <<<"$verify_out" || true)
  echo "check-unit: note: $exec_path is not installed; verify's complaint about it is ignored"
fi
if [ -n "$verify_out" ]; then
  echo "check-unit: systemd-analyze verify $unit:" >&2
  echo "$verify_out" >&2
  status=1
else
  echo "check-unit: verify: clean"
fi

# security --offline: the exposure score, 0.0 (locked down) to 10.0.
security_out=$(systemd-analyze security --offline=true --no-pager "$copy" 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$security_out")
if [ -z "$score" ]; then
  echo "check-unit: no exposure score from systemd-analyze security:" >&2
  echo "$security_out" >&2
  exit 1
fi
echo "check-unit: exposure score $score (threshold $max)"
grep '^✗' <<<"$security_out" | tr -s ' ' | sed 's/^✗ /check-unit:   flagged: /' || true
if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
  echo "check-unit: exposure $score is above $max" >&2
  status=1
fi
exit $status
