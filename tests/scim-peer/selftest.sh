#!/usr/bin/env bash
# tests/scim-peer/selftest.sh: checks the SCIM test peer itself (both profiles, faults, control API) (bash and curl only).
# Starts its own peers on ephemeral loopback ports and stops them on exit. Exit status 0 = every check passed.
set -uo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
cleanup() {
  for f in "$work"/*.pid; do [ -f "$f" ] && kill "$(<"$f")" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

"$dir/ensure-deps.sh" || exit 1
echo "test-token" > "$work/token"
# The two peers start in parallel; each section waits only for its own.
declare -A starter
start_peer() { local name="$1"; shift; env "$@" "$dir/start.sh" "$work/$name" & starter[$name]=$!; }
await_peer() {
  if ! wait "${starter[$1]}" || [ ! -s "$work/$1" ]; then echo "FAIL: peer '$1' did not start"; cat "$work/$1.log" 2>/dev/null; exit 1; fi
  S="$(<"$work/$1")"; CTL="${S%/scim/v2}/_control"
}
# rfc also checks configuration by environment: the token file wins over SCIM_TOKEN, a 429 on every write
# with Retry-After: 0 until the control API turns it off.
start_peer rfc SCIM_TOKEN=ignored SCIM_TOKEN_FILE="$work/token" SCIM_PEER_PROFILE=rfc SCIM_PEER_429_EVERY=1 SCIM_PEER_RETRY_AFTER=0
start_peer aws SCIM_TOKEN=test-token SCIM_PEER_PROFILE=aws

failures=0 checks=0
# The helpers avoid forks (bash builtins only) so the run stays fast on a loaded machine.
body=""
fail() { echo "FAIL: $*"; echo "      last answer ($code): ${body:0:600}"; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); }
TOKEN=test-token
load_body() { body=""; IFS= read -r -d '' body < "$work/body" || true; headers=""; [ -f "$work/headers" ] && { IFS= read -r -d '' headers < "$work/headers" || true; }; }
# http METHOD URL [BODY [CONTENT_TYPE [AUTH]]]: one HTTP/1.1 exchange over bash's /dev/tcp; sets $code, $headers, $body.
# Fork-free: spawning curl costs ~100 ms on a loaded 2-core machine, ~200 requests would take 20 s.
# SCIM_PEER_SELFTEST_CURL=1 sends every request with curl instead.
http() {
  local LC_ALL=C method="$1" url="${2#http://}" data="${3-}" ctype="${4-}" auth="${5-}" fd resp
  local hostport="${url%%/*}" path="/${url#*/}"
  if [ -n "${SCIM_PEER_SELFTEST_CURL:-}" ]; then
    local args=(-s -o "$work/body" -D "$work/headers" -w '%{http_code}' -X "$method")
    [ -n "$auth" ] && args+=(-H "$auth")
    [ $# -ge 3 ] && [ -z "${NOBODY:-}" ] && args+=(-H "Content-Type: $ctype" --data-binary "$data")
    rm -f "$work/headers"; code="$(curl "${args[@]}" "$2")" || code="${code:-000}"
    load_body; return
  fi
  exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport#*:}" || { code=000 headers="" body=""; return; }
  {
    printf '%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n' "$method" "$path" "$hostport"
    [ -n "$auth" ] && printf '%s\r\n' "$auth"
    if [ $# -ge 3 ] && [ -z "${NOBODY:-}" ]; then printf 'Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s' "$ctype" "${#data}" "$data"; else printf '\r\n'; fi
  } >&"$fd"
  resp=""; IFS= read -r -d '' -u "$fd" resp || true
  exec {fd}>&-
  if [[ "$resp" =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]]; then code="${BASH_REMATCH[1]}"; else code=000; fi
  headers="${resp%%$'\r\n\r\n'*}"; body="${resp#*$'\r\n\r\n'}"
  [ "$headers" = "$resp" ] && body=""
}
# req METHOD URL [BODY]: a SCIM request with $TOKEN
req() {
  if [ $# -ge 3 ]; then http "$1" "$2" "$3" application/scim+json "Authorization: Bearer $TOKEN"
  else NOBODY=1 http "$1" "$2" "" "" "Authorization: Bearer $TOKEN"; fi
}
ctl() {   # ctl METHOD PATH [BODY] against the control API of $CTL
  if [ $# -ge 3 ]; then http "$1" "$CTL$2" "$3" application/json; else http "$1" "$CTL$2"; fi
}
expect() {   # expect CODE WHAT [substring...]: the status and substrings of the body
  local want="$1" what="$2"; shift 2
  [ "$code" = "$want" ] || { fail "$what: status $code, expected $want"; return; }
  for s in "$@"; do [[ "$body" == *"$s"* ]] || { fail "$what: body lacks '$s'"; return; }; done
  ok
}
lacks() { if [[ "$body" == *"$2"* ]]; then fail "$1: body holds '$2'"; else ok; fi; }
first_id() { [[ "$body" =~ \"id\":\"([^\"]*)\" ]] && id="${BASH_REMATCH[1]}" || id=""; }
field() { [[ "$body" =~ \"$1\":\"?([^,}\"]*) ]] && val="${BASH_REMATCH[1]}" || val=""; }
q() { local s="${1// /%20}"; qs="${s//\"/%22}"; }   # enough URL encoding for filters
user() {   # user NAME [EXTRA_JSON]: sets $u to a User body AWS would accept
  printf -v u '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","externalId":"ext-%s","displayName":"%s D","name":{"givenName":"%s","familyName":"F"},"emails":[{"value":"%s@example.test","type":"work","primary":true}]%s}' \
    "$1" "$1" "$1" "$1" "$1" "${2:-}"
}
ENT='urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'

# ---------------- rfc profile
await_peer rfc
TOKEN=ignored; req GET "$S/Users"; expect 401 "env: SCIM_TOKEN_FILE wins over SCIM_TOKEN"
TOKEN=test-token; req GET "$S/Users"; expect 200 "env: token from SCIM_TOKEN_FILE"
user a; req POST "$S/Users" "$u"; expect 429 "env: SCIM_PEER_429_EVERY=1"
if [[ "${headers,,}" == *$'\nretry-after: 0\r'* ]]; then ok; else fail "env: Retry-After: 0 missing"; fi
ctl GET /faults; expect 200 "env: faults from the environment" '"every_429":1' '"retry_after":0'
ctl POST /faults '{"replace":1}'; expect 200 "control: all faults off" '"every_429":0'
TOKEN=wrong; req GET "$S/Users"; expect 401 "rfc: wrong token"
http GET "$S/Users"; expect 401 "rfc: no token"
TOKEN=test-token
req GET "$S/ServiceProviderConfig"; expect 200 "rfc: ServiceProviderConfig" '"patch":{"supported":true}' oauthbearertoken
req GET "$S/Schemas"; expect 200 "rfc: Schemas" "$ENT"
req GET "$S/ResourceTypes"; expect 200 "rfc: ResourceTypes" '"endpoint":"/Groups"'
user alice ",\"$ENT\":{\"employeeNumber\":\"7\",\"department\":\"Eng\",\"manager\":{\"value\":\"boss\"}}"; req POST "$S/Users" "$u"
expect 201 "rfc: create alice" '"userName":"alice"' '"employeeNumber":"7"' '"location":"http://127.0.0.1'
first_id; alice="$id"
user ALICE; req POST "$S/Users" "$u"; expect 409 "rfc: duplicate userName, other case" '"scimType":"uniqueness"'
req POST "$S/Users" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"displayName":"x"}'; expect 400 "rfc: missing userName"
user bob; req POST "$S/Users" "$u"; expect 201 "rfc: create bob"; first_id; bob="$id"
req POST "$S/Users" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"carol"}'; expect 201 "rfc: create carol (no names needed)"; first_id; carol="$id"
q 'userName eq "ALICE"'; req GET "$S/Users?filter=$qs"; expect 200 "rfc: userName eq folds case" '"totalResults":1' "\"id\":\"$alice\""
q 'externalId eq "ext-bob"'; req GET "$S/Users?filter=$qs"; expect 200 "rfc: externalId eq" '"totalResults":1' "\"id\":\"$bob\""
q 'externalId eq "EXT-bob"'; req GET "$S/Users?filter=$qs"; expect 200 "rfc: externalId is case-exact" '"totalResults":0'
q 'userName co "o"'; req GET "$S/Users?filter=$qs"; expect 200 "rfc: co filter" '"totalResults":2'
q 'userName sw "a" or userName eq "bob"'; req GET "$S/Users?filter=$qs"; expect 200 "rfc: or filter" '"totalResults":2'
q "$ENT:employeeNumber eq \"7\""; req GET "$S/Users?filter=$qs"; expect 200 "rfc: enterprise filter" '"totalResults":1' "\"id\":\"$alice\""
q 'userName zz "a"'; req GET "$S/Users?filter=$qs"; expect 400 "rfc: bad filter" invalidFilter
req GET "$S/Users?startIndex=2&count=1"; expect 200 "rfc: startIndex/count" '"totalResults":3' '"itemsPerPage":1' '"startIndex":2' '"userName":"bob"'
req GET "$S/Users?sortBy=userName&sortOrder=descending&count=1"; expect 200 "rfc: sortBy" '"userName":"carol"'
req GET "$S/Users?attributes=userName"; expect 200 "rfc: attributes" '"userName":"alice"'; lacks "rfc: attributes drop others" '"emails"'
req POST "$S/Groups" "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"eng\",\"externalId\":\"ext-eng\",\"members\":[{\"value\":\"$alice\"}]}"
expect 201 "rfc: create group" "\"value\":\"$alice\""; first_id; eng="$id"
req POST "$S/Groups" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"ENG"}'; expect 409 "rfc: duplicate displayName" uniqueness
req POST "$S/Groups" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"x","members":[{"value":"nobody"}]}'; expect 400 "rfc: unknown member"
req POST "$S/Groups" "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"all\",\"members\":[{\"value\":\"$eng\"},{\"value\":\"$bob\"}]}"
expect 201 "rfc: nested group" '"type":"Group"'; first_id; all="$id"
q "members.value eq \"$alice\""; req GET "$S/Groups?filter=$qs"; expect 200 "rfc: members.value eq" '"totalResults":1' "\"id\":\"$eng\""
q "members.value eq \"$eng\""; req GET "$S/Groups?filter=$qs"; expect 200 "rfc: group as member" '"totalResults":1' "\"id\":\"$all\""
q 'displayName eq "Eng"'; req GET "$S/Groups?filter=$qs"; expect 200 "rfc: displayName folds case" '"totalResults":1'
req GET "$S/Users/$alice"; expect 200 "rfc: user lists its groups" "\"value\":\"$eng\""
req GET "$S/Groups?attributes=displayName"; expect 200 "rfc: group attributes" '"displayName":"eng"'; lacks "rfc: attributes=displayName drops members" '"members"'
req GET "$S/Groups/$eng?excludedAttributes=members"; expect 200 "rfc: excludedAttributes=members" '"displayName":"eng"'; lacks "rfc: members excluded" '"members"'
req GET "$S/Groups/$all?attributes=members"; expect 200 "rfc: attributes=members" "\"value\":\"$eng\"" "\"\$ref\":\"http://127.0.0.1"; lacks "rfc: attributes=members drops displayName" '"displayName"'

PATCH='"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]'
req PATCH "$S/Groups/$eng" "{$PATCH,\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"$bob\"},{\"value\":\"$carol\"}]}]}"
expect 200 "rfc: PATCH add members" "\"value\":\"$bob\"" "\"value\":\"$carol\""
req PATCH "$S/Groups/$eng" "{$PATCH,\"Operations\":[{\"op\":\"remove\",\"path\":\"members[value eq \\\"$bob\\\"]\"}]}"
expect 200 "rfc: PATCH remove members[value eq]" "\"value\":\"$carol\""; lacks "rfc: bob removed" "\"value\":\"$bob\""
req PATCH "$S/Groups/$eng" "{$PATCH,\"Operations\":[{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"value\":\"$carol\"}]}]}"
expect 200 "rfc: PATCH remove value array"; lacks "rfc: carol removed" "\"value\":\"$carol\""
req PATCH "$S/Groups/$eng" "{$PATCH,\"Operations\":[{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"value\":\"$carol\"}]}]}"; expect 204 "rfc: PATCH that changes nothing"
req PATCH "$S/Groups/$eng" "{$PATCH,\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"nobody\"}]}]}"; expect 400 "rfc: PATCH add unknown member"
req PATCH "$S/Groups/$eng" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Engineering\"}]}"; expect 200 "rfc: PATCH rename" '"displayName":"Engineering"'
req PATCH "$S/Groups/$all" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"members\",\"value\":[{\"value\":\"$carol\"}]}]}"; expect 200 "rfc: PATCH replace members" "\"value\":\"$carol\""; lacks "rfc: replace dropped eng" "\"value\":\"$eng\""
req PATCH "$S/Groups/$all" "{$PATCH,\"Operations\":[{\"op\":\"remove\",\"path\":\"members\"}]}"; expect 200 "rfc: PATCH remove all members"; lacks "rfc: no members left" "\"value\":\"$carol\""
req PUT "$S/Groups/$eng" "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"eng\",\"externalId\":\"ext-eng\",\"members\":[{\"value\":\"$alice\"},{\"value\":\"$bob\"}]}"
expect 200 "rfc: PUT group" "\"value\":\"$bob\"" '"displayName":"eng"'
user bob ',"title":"Boss"'; req PUT "$S/Users/$bob" "$u"; expect 200 "rfc: PUT user" '"title":"Boss"'
req PATCH "$S/Users/$bob" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"Chief\"}]}"; expect 200 "rfc: PATCH user" '"title":"Chief"'
req POST "$S/.search" '{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"bob\""}'; expect 200 "rfc: /.search" '"totalResults":1'
req DELETE "$S/Users/$alice"; expect 204 "rfc: delete user"
req GET "$S/Users/$alice"; expect 404 "rfc: deleted user is gone"
ctl GET /dump; expect 200 "rfc: dump" "\"id\":\"$eng\"" "\"value\":\"$bob\""; lacks "rfc: deleted user left its groups" "$alice"
req DELETE "$S/Groups/$all"; expect 204 "rfc: delete group"
req GET "$S/Nope"; expect 404 "rfc: unknown endpoint"

# ---------------- faults and control API (rfc peer)
ctl POST /reset-stats; expect 204 "control: reset-stats"
user dave; req GET "$S/Users"; req GET "$S/Groups"; req POST "$S/Users" "$u"; first_id; dave="$id"
ctl GET /stats; expect 200 "control: stats" '"requests":3' '"writes":1' '"reads":2' '"GET":2' '"POST /Users":1' '"201":1'
user eve ',"title":"manual"'; ctl POST /users "$u"; expect 201 "control: create user by hand" '"userName":"eve"'; first_id; eve="$id"
ctl PATCH "/users/$eve" '{"title":"edited","nickName":null}'; expect 200 "control: merge-edit user" '"title":"edited"'
ctl PATCH "/users/$eve" '{"Operations":[{"op":"replace","path":"title","value":"patched"}]}'; expect 200 "control: PatchOp-edit user" '"title":"patched"'
ctl POST "/groups/$eng/members" "{\"value\":\"$eve\"}"; expect 200 "control: add member" "\"value\":\"$eve\""
ctl DELETE "/groups/$eng/members/$bob"; expect 204 "control: remove member"
ctl GET "/groups/$eng"; expect 200 "control: get group" "\"value\":\"$eve\""; lacks "control: bob left eng" "\"value\":\"$bob\""
ctl PATCH "/groups/$eng" "{\"Operations\":[{\"op\":\"remove\",\"path\":\"members[value eq \\\"$eve\\\"]\"}]}"; expect 200 "control: PatchOp on group"; lacks "control: eve left eng" "\"value\":\"$eve\""
ctl DELETE "/users/$eve"; expect 204 "control: delete user"
ctl GET /stats; expect 200 "control: control calls are not SCIM traffic" '"requests":3' '"writes":1'
ctl POST /faults '{"every_429":2,"retry_after":3}'; expect 200 "control: set 429 fault" '"every_429":2'
req PATCH "$S/Users/$dave" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"1\"}]}"; expect 200 "429 fault: first write passes"
req GET "$S/Users/$dave"; expect 200 "429 fault: reads pass"
req PATCH "$S/Users/$dave" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"2\"}]}"; expect 429 "429 fault: second write refused"
if [[ "${headers,,}" == *$'\nretry-after: 3\r'* ]]; then ok; else fail "429 fault: Retry-After: 3 missing"; fi
ctl POST /faults '{"replace":1,"every_500":2}'; expect 200 "control: set 500 fault" '"every_429":0' '"every_500":2'
req DELETE "$S/Users/nosuch"; expect 404 "500 fault: first write passes"
req DELETE "$S/Users/nosuch"; expect 500 "500 fault: second write fails"
ctl POST /faults '{"replace":1,"drop_every":1}'
req DELETE "$S/Users/$dave"; if [ "$code" = 000 ]; then ok; else fail "drop fault: expected no answer"; fi
ctl GET "/users/$dave"; expect 200 "drop fault: the dropped write did not happen"
ctl POST /faults '{"replace":1,"drop_after_every":1}'
user frank; req POST "$S/Users" "$u"; if [ "$code" = 000 ]; then ok; else fail "drop-after fault: expected no answer"; fi
ctl GET /dump; expect 200 "drop-after fault: the write happened" '"userName":"frank"'
ctl POST /faults '{"replace":1,"write_rate":2,"write_burst":2}'
for i in 1 2 3 4 5; do req DELETE "$S/Users/nosuch"; done
ctl GET /stats; if [[ "$body" =~ \"429\":([0-9]+) && ${BASH_REMATCH[1]} -ge 3 ]]; then ok; else fail "token bucket: expected at least 2 more 429s"; fi
ctl POST /faults '{"replace":1,"delay_ms":300}'
t0="${EPOCHREALTIME/./}"; req GET "$S/Users"; t=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
if [ "$t" -ge 300 ]; then ok; else fail "delay fault: answer after ${t} ms, expected >= 300 ms"; fi
ctl POST /faults '{"bogus":1}'; expect 400 "control: unknown fault refused" "unknown fault"
ctl POST /users '{"userName":["not","a","string"]}'; expect 400 "control: invalid user refused"
ctl POST /reset; expect 204 "control: reset"
ctl GET /dump; expect 200 "control: reset cleared data" '"users":[]' '"groups":[]'
ctl GET /faults; expect 200 "control: reset cleared faults" '"delay_ms":0' '"drop_after_every":0'
ctl POST /tokens '{"tokens":["rot-1","rot-2"]}'; expect 200 "control: set tokens"
TOKEN=rot-2; req GET "$S/Users"; expect 200 "control tokens: second token works"
TOKEN=test-token; req GET "$S/Users"; expect 401 "control tokens: old token refused"
ctl POST /tokens '{"tokens":null}'; req GET "$S/Users"; expect 200 "control tokens: back to the environment's token"
printf 'file-token-2\n' > "$work/token"; touch -d '+1 minute' "$work/token"
TOKEN=file-token-2; req GET "$S/Users"; expect 200 "env: token file re-read after a change"
TOKEN=test-token; req GET "$S/Users"; expect 401 "env: the old token from the file is refused"

# ---------------- aws profile
await_peer aws
req POST "$S/Users" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x","displayName":"x","name":{"givenName":"x"}}'
expect 400 "aws: missing name.familyName" "name.familyName"
req POST "$S/Users" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x","name":{"givenName":"x","familyName":"y"}}'
expect 400 "aws: missing displayName" "displayName"
user x; req POST "$S/Users" "${u/'"emails":['/'"emails":[{"value":"second@example.test"},'}"; expect 400 "aws: two emails" "at most one value"
user x; req POST "$S/Users" "${u/',"primary":true'/}"; expect 400 "aws: email not primary" "primary"
user x ',"password":"s3cret"'; req POST "$S/Users" "$u"; expect 400 "aws: password unsupported" "password"
user u1 ",\"$ENT\":{\"employeeNumber\":\"1\",\"department\":\"Ops\",\"manager\":{\"value\":\"m\"}}"; req POST "$S/Users" "$u"; expect 201 "aws: create u1" '"department":"Ops"'; first_id; u1="$id"
user u2; req POST "$S/Users" "$u"; expect 201 "aws: create u2"; first_id; u2="$id"
user u3; req POST "$S/Users" "$u"; expect 201 "aws: create u3"; first_id; u3="$id"
user U1; req POST "$S/Users" "$u"; expect 409 "aws: duplicate userName" "Refused to create a new, duplicate resource."; lacks "aws: 409 has no scimType" scimType
user other; req POST "$S/Users" "${u/other@example/u2@example}"; expect 409 "aws: duplicate primary email"
q 'userName eq "U2"'; req GET "$S/Users?filter=$qs"; expect 200 "aws: userName eq" '"totalResults":1' "\"id\":\"$u2\""
q 'externalId eq "ext-u3"'; req GET "$S/Users?filter=$qs"; expect 200 "aws: externalId eq" '"totalResults":1' "\"id\":\"$u3\""
q "id eq \"$u1\""; req GET "$S/Users?filter=$qs"; expect 200 "aws: id eq" '"totalResults":1'
q 'userName sw "u"'; req GET "$S/Users?filter=$qs"; expect 400 "aws: sw refused" "only 'eq'"
q 'userName eq "u1" or userName eq "u2"'; req GET "$S/Users?filter=$qs"; expect 400 "aws: or refused"
q 'title eq "x"'; req GET "$S/Users?filter=$qs"; expect 400 "aws: filter on title refused" "Unsupported filter attributes"
q 'userName eq "u1" and externalId eq "ext-u1"'; req GET "$S/Users?filter=$qs"; expect 400 "aws: two filters refused"
req GET "$S/ServiceProviderConfig"; expect 200 "aws: ServiceProviderConfig" '"bulk":{"supported":false' '"maxResults":50' '"sort":{"supported":false}'
req POST "$S/.search" '{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}'; expect 404 "aws: no /.search"
req POST "$S/Bulk" '{}'; expect 404 "aws: no /Bulk"
members101=""; for ((i = 1; i <= 101; i++)); do members101+="{\"value\":\"m$i\"},"; done; members101="[${members101%,}]"
req POST "$S/Groups" "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"big\",\"members\":$members101}"; expect 400 "aws: 101 members on create" "at most 100"
req POST "$S/Groups" "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"g1\",\"externalId\":\"ext-g1\",\"members\":[{\"value\":\"$u1\"}]}"; expect 201 "aws: create group"; first_id; g1="$id"
req POST "$S/Groups" "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"g2\",\"members\":[{\"value\":\"$g1\"}]}"; expect 400 "aws: nested group refused" "nested groups"
req POST "$S/Groups" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G1"}'; expect 409 "aws: duplicate displayName"
req GET "$S/Groups/$g1"; expect 200 "aws: GET group" '"members":[]'; lacks "aws: GET group hides members" "$u1"
req GET "$S/Groups"; expect 200 "aws: list groups" '"members":[]'; lacks "aws: list hides members" "$u1"
q "id eq \"$g1\" and members.value eq \"$u1\""; req GET "$S/Groups?filter=$qs"; expect 200 "aws: membership check, member" '"totalResults":1'
q "id eq \"$g1\" and members.value eq \"$u2\""; req GET "$S/Groups?filter=$qs"; expect 200 "aws: membership check, non-member" '"totalResults":0'
q "members.value eq \"$u1\""; req GET "$S/Groups?filter=$qs"; expect 200 "aws: members.value eq" '"totalResults":1'
q 'displayName eq "g1"'; req GET "$S/Groups?filter=$qs"; expect 200 "aws: displayName eq" "\"id\":\"$g1\""
q 'displayName co "g"'; req GET "$S/Groups?filter=$qs"; expect 400 "aws: co refused"
req PUT "$S/Groups/$g1" '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g1"}'; expect 400 "aws: no PUT /Groups"
req PATCH "$S/Groups/$g1" "{$PATCH,\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"$u2\"},{\"value\":\"$u3\"}]}]}"; expect 204 "aws: PATCH add answers 204"
ctl GET "/groups/$g1"; expect 200 "aws: control shows members" "\"value\":\"$u2\"" "\"value\":\"$u3\""
req PATCH "$S/Groups/$g1" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"members\",\"value\":[{\"value\":\"$u2\"}]}]}"; expect 400 "aws: replace members refused" "Replacing all members"
req PATCH "$S/Groups/$g1" "{$PATCH,\"Operations\":[{\"op\":\"remove\",\"path\":\"members\"}]}"; expect 400 "aws: remove-all refused" "Removing all members"
req PATCH "$S/Groups/$g1" "{$PATCH,\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":$members101}]}"; expect 400 "aws: 101 changes refused" "101 membership changes"
req PATCH "$S/Groups/$g1" "{$PATCH,\"Operations\":[{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"value\":\"$u2\"}]}]}"; expect 204 "aws: PATCH remove value array"
req PATCH "$S/Groups/$g1" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"value\":{\"id\":\"$g1\",\"displayName\":\"g1-renamed\"}}]}"; expect 204 "aws: path-less rename answers 204"
ctl GET "/groups/$g1"; expect 200 "aws: rename kept members" '"displayName":"g1-renamed"' "\"value\":\"$u1\"" "\"value\":\"$u3\""; lacks "aws: u2 removed" "\"value\":\"$u2\""
req PATCH "$S/Groups/$g1" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"value\":{\"description\":\"x\"}}]}"; expect 400 "aws: PATCH group outside displayName/members/externalId"
req PATCH "$S/Users/$u1" "{$PATCH,\"Operations\":[{\"op\":\"remove\",\"path\":\"userName\"}]}"; expect 400 "aws: remove userName refused"
req PATCH "$S/Users/$u1" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"name.familyName\",\"value\":\"\"}]}"; expect 400 "aws: PATCH cannot drop a required attribute" "name.familyName"
req PATCH "$S/Users/$u1" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"title\",\"value\":\"Dr\"}]}"; expect 200 "aws: PATCH user" '"title":"Dr"'
req PATCH "$S/Users/$u1" "{$PATCH,\"Operations\":[{\"op\":\"replace\",\"path\":\"emails[type co \\\"w\\\"].value\",\"value\":\"z@example.test\"}]}"; expect 400 "aws: non-eq path filter refused"
user u1 ',"title":"Prof"'; req PUT "$S/Users/$u1" "$u"; expect 200 "aws: PUT user" '"title":"Prof"'
# paging: 60 more users created by hand (not SCIM traffic), 63 in all
batch=""; for ((i = 1; i <= 60; i++)); do user "p$i"; batch+="$u,"; done
ctl POST /users "[${batch%,}]"; expect 201 "aws: bulk create by hand" '"userName":"p60"'
req GET "$S/Users?count=100"; expect 200 "aws: page capped at 50" '"totalResults":63' '"itemsPerPage":50' '"startIndex":1'
req GET "$S/Users?startIndex=51"; expect 200 "aws: legacy startIndex" '"itemsPerPage":13' '"startIndex":51' '"userName":"p60"'
req GET "$S/Users?count=101"; expect 400 "aws: count over 100"
req GET "$S/Users?cursor="; expect 200 "aws: first cursor page" '"itemsPerPage":50' '"nextCursor"'; lacks "aws: cursor pages carry no startIndex" '"startIndex"'
field nextCursor; cur="$val"
req GET "$S/Users?cursor=$cur&count=20"; expect 200 "aws: second cursor page" '"itemsPerPage":13' '"userName":"p60"'; lacks "aws: last page has no nextCursor" nextCursor
req GET "$S/Users?cursor=$cur&startIndex=2"; expect 400 "aws: cursor with startIndex"
q "groups.value eq \"$g1\""; req GET "$S/Users?filter=$qs"; expect 200 "aws: groups.value eq" '"totalResults":2'
req DELETE "$S/Users/$u3"; expect 204 "aws: delete user"
ctl GET "/groups/$g1"; lacks "aws: deleted user left the group" "$u3"

echo "scim-peer selftest: $checks checks passed, $failures failed"
[ "$failures" -eq 0 ]
