#!/usr/bin/env bash
# Incremental-sync benchmark. In a domain of N users (and N/10 groups), apply K
# mixed changes and time the incremental `syncd --once`, against the full sync of
# the same domain measured in the same run:
#   1. a DC with N users, the random ones spread over OU=East and OU=West under
#      OU=People (the user scope), and N/10 groups: bulk-loaded offline
#      (testdc.sh bulk-load), or reused; its sam.ldb on LMDB (see BENCH_BACKEND);
#   2. the baseline: syncd --once from an empty state (a full reconciliation);
#   3. BENCH_ROUNDS rounds, each: one ldapmodify applies K fresh changes, valid
#      against the directory as it is (~20% attribute changes to displayName,
#      givenName, sn or mail; 15% renames; 10% moves East <-> West; 20% group member
#      adds; 15% member removes; 10% user creates; 10% user deletes), then a timed
#      syncd --once (the incremental run), then a timed syncd --once with no changes;
#   4. medians, peak RSS, the incremental/full ratio, the goal checks, and a check
#      that a full dry run then finds nothing to do (the store matches AD).
# After all N, the growth of the K-change run from 10,000 to 50,000 users (an
# earlier run's figure for the other N is used, and dated, if only one N ran).
#
#   bench/incremental_sync.sh [N ...]      (default: 10000 50000)
#
# Environment:
#   BENCH_K=100          changes per round
#   BENCH_ROUNDS=5       rounds; medians are reported
#   BENCH_WORK=DIR       work root (default /tmp/syncd-bench-incremental); N's files in DIR/N
#   BENCH_DC_DIR=DIR     use this DC (one N only), running or halted; without it the
#                        DC in BENCH_WORK/N/dc is reused when this script loaded it for
#                        the same N, else provisioned and loaded afresh
#   BENCH_FRESH=1        reload BENCH_WORK/N/dc even if it holds a loaded DC
#   BENCH_BACKEND=mdb    sam.ldb store of a new DC (TESTDC_BACKEND): mdb (default) or tdb.
#                        On TDB, Samba answers (uSNChanged>=n) and DirSync by scanning
#                        every object (no ordered index): an empty change feed costs
#                        ~0.2 s at 10,000 users and ~0.7 s at 50,000, on the DC, for any
#                        client. LMDB uses the index, as AD does.
#   BENCH_VERBOSE=1      timed runs with -v; their logs stay in BENCH_WORK/N/rounds/
#   BENCH_SYNCD=PATH     this syncd binary instead of building build/syncd/syncd
# A DC this script starts or resumes is halted (testdc.sh halt, directory kept) when it
# is done with it; one it found running is left running. Remove a DC with
# `scripts/testdc.sh stop DIR`.
#
# Only one DC fits on the loopback ports: beside other test DCs, run it in a
# network namespace of its own:
#   ip netns add syncd-bench; ip netns exec syncd-bench ip link set lo up
#   ip netns exec syncd-bench bench/incremental_sync.sh
#
# Goals (incremental sync): the K = 100 run under 1 s, growing by less than 1.5x
# from N = 10,000 to N = 50,000; a no-change run under 100 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
k=${BENCH_K:-100}
rounds=${BENCH_ROUNDS:-5}
root=${BENCH_WORK:-/tmp/syncd-bench-incremental}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 50000)
if [ -n "${BENCH_DC_DIR:-}" ] && [ ${#sizes[@]} -ne 1 ]; then
  echo "incremental_sync: BENCH_DC_DIR names one DC: give exactly one N" >&2
  exit 2
fi

die() { echo "incremental_sync: $*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
sub_ous=("${bench_sub_ous[@]}")
bench_syncd

# One round's changes, as LDIF on stdout, valid against the directory as it is:
#   python3 -c "$(gen_changes_py)" USERS.ldif GROUPS.ldif STATE STATE.next K TAG PEOPLE_DN OU_DN OU_DN
# The directory comes from STATE when it exists (the model this script wrote for the
# previous round, whose changes ldapmodify then applied), else from the LDAP snapshot:
# USERS.ldif (users under OU=People with cn, sAMAccountName), GROUPS.ldif (groups with
# member). Writes the model after the changes to STATE.next; prints the counts per
# kind on stderr. Deterministic for a given directory and TAG (the round number on
# this DC, part of every new name, so names do not repeat across runs).
gen_changes_py() {
  cat <<'PY'
import base64, json, os, random, re, sys

users_ldif, groups_ldif, state_in, state_out, k, tag, people = sys.argv[1:8]
k, tag, sub_ous = int(k), int(tag), sys.argv[8:]
DOMAIN = "corp.example.com"
GIVEN = "Alice Bob Carol David Erin Frank Grace Heidi Ivan Judy Karl Laura Nina Oscar".split()
FAMILY = "Smith Johnson Brown Jones Garcia Miller Davis Wilson Taylor Moore Lee King".split()


def records(path):
    """Entries of an ldapsearch -LLL -o ldif-wrap=no output, as {attr: [values]}."""
    rec = {}
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line:
                if rec:
                    yield rec
                rec = {}
                continue
            if line.startswith("#"):
                continue
            attr, _, value = line.partition(":")
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode("utf-8")
            else:
                value = value.lstrip(" ")
            rec.setdefault(attr.lower(), []).append(value)
    if rec:
        yield rec


def split_rdn(dn):
    """(first RDN, parent DN), split at the first comma that is not escaped."""
    i = 0
    while i < len(dn):
        if dn[i] == "\\":
            i += 2
            continue
        if dn[i] == ",":
            return dn[:i], dn[i + 1:]
        i += 1
    return dn, ""


def parent(dn):
    return split_rdn(dn)[1].lower()


def rdn_escape(value):
    out = []
    for i, c in enumerate(value):
        if c in ',+"\\<>;' or (i == 0 and c in "# ") or (i == len(value) - 1 and c == " "):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def line(attr, value):
    if value and (value[0] in " :<" or value[-1] == " " or
                  any(ord(c) > 126 or c in "\0\n\r" for c in value)):
        return "%s:: %s" % (attr, base64.b64encode(value.encode("utf-8")).decode("ascii"))
    return "%s: %s" % (attr, value)


# The directory as the generator sees it: users by lower-case DN, groups with their
# members' lower-case DNs. Read from the LDAP snapshot, or from the state this script
# wrote after the previous round's changes (which ldapmodify then applied).
if os.path.exists(state_in):
    with open(state_in, encoding="utf-8") as f:
        st = json.load(f)
    users = {dn.lower(): {"dn": dn, "cn": cn, "sam": sam} for dn, cn, sam in st["users"]}
    groups = [{"dn": dn, "ranged": ranged, "members": set(m)} for dn, ranged, m in st["groups"]]
else:
    users = {}
    for r in records(users_ldif):
        dn = r["dn"][0]
        users[dn.lower()] = {"dn": dn, "cn": r["cn"][0], "sam": r.get("samaccountname", ["user"])[0]}
    groups = []
    for r in records(groups_ldif):
        # More members than one read returns (member;range=...): never chosen.
        ranged = any(a.startswith("member;range=") for a in r)
        groups.append({"dn": r["dn"][0], "ranged": ranged,
                       "members": {m.lower() for m in r.get("member", [])}})
member_of = {}
for gi, g in enumerate(groups):
    for m in g["members"]:
        if m in users:
            member_of.setdefault(m, set()).add(gi)
changeable = [gi for gi, g in enumerate(groups) if not g["ranged"]]
if not users or not changeable:
    sys.exit("no users or no groups to change")

sams = {u["sam"].lower() for u in users.values()}
rdns = {(parent(u["dn"]), u["cn"].lower()) for u in users.values()}
sub_lower = [s.lower() for s in sub_ous]
rng = random.Random("syncd-bench-incremental:%d" % tag)
order = sorted(users)
rng.shuffle(order)
used = set()  # each user takes part in one change a round


def take(pred=lambda key: True):
    for key in order:
        if key not in used and pred(key):
            used.add(key)
            return key
    sys.exit("not enough users left to change")


def set_dn(key, dn, cn):
    """A rename or move: the user's new DN, also in its groups' member lists."""
    u = users.pop(key)
    u["dn"], u["cn"] = dn, cn
    users[dn.lower()] = u
    for gi in member_of.pop(key, ()):
        groups[gi]["members"].discard(key)
        groups[gi]["members"].add(dn.lower())
        member_of.setdefault(dn.lower(), set()).add(gi)


share = [("attr", 20), ("rename", 15), ("move", 10), ("add", 20), ("remove", 15),
         ("create", 10), ("delete", 10)]
count = {kind: k * pct // 100 for kind, pct in share}
count["attr"] += k - sum(count.values())
out = {kind: [] for kind, _ in share}


def record(kind, dn, *rows):
    out[kind].append("\n".join([line("dn", dn)] + list(rows)) + "\n")


# The file applies member changes first, then attributes, renames, moves, creates,
# deletes; every user takes part in one change, so each record sees the DNs as modelled.
for i in range(count["add"]):
    gi = rng.choice(changeable)
    key = take(lambda key: key not in groups[gi]["members"])
    groups[gi]["members"].add(key)
    member_of.setdefault(key, set()).add(gi)
    record("add", groups[gi]["dn"], "changetype: modify", "add: member",
           line("member", users[key]["dn"]), "-")

pairs = [(gi, m) for gi in changeable for m in sorted(groups[gi]["members"]) if m in users]
rng.shuffle(pairs)
for gi, key in pairs:
    if len(out["remove"]) == count["remove"]:
        break
    if key in used:
        continue
    used.add(key)
    groups[gi]["members"].discard(key)
    member_of[key].discard(gi)
    record("remove", groups[gi]["dn"], "changetype: modify", "delete: member",
           line("member", users[key]["dn"]), "-")
if len(out["remove"]) < count["remove"]:
    sys.exit("not enough group members to remove")

attrs = ["displayName", "givenName", "sn", "mail"]
for i in range(count["attr"]):
    u = users[take()]
    a = attrs[i % len(attrs)]
    value = {"displayName": "%s (r%d)" % (u["cn"], tag),
             "givenName": "%s%d" % (rng.choice(GIVEN), tag),
             "sn": "%s-%d" % (rng.choice(FAMILY), tag),
             "mail": "%s.r%d@%s" % (u["sam"], tag, DOMAIN)}[a]
    record("attr", u["dn"], "changetype: modify", "replace: " + a, line(a, value), "-")

for i in range(count["rename"]):
    key = take()
    u = users[key]
    cn = "%s r%d.%d" % (re.sub(r" r\d+\.\d+x*$", "", u["cn"]), tag, i)
    while (parent(u["dn"]), cn.lower()) in rdns:
        cn += "x"
    rdns.add((parent(u["dn"]), cn.lower()))
    old_dn = u["dn"]
    set_dn(key, "CN=%s,%s" % (rdn_escape(cn), split_rdn(old_dn)[1]), cn)
    record("rename", old_dn, "changetype: modrdn", line("newrdn", "CN=" + rdn_escape(cn)),
           "deleteoldrdn: 1")

if count["move"] and len(sub_ous) != 2:
    sys.exit("moves need two OUs under %s" % people)
in_sub_ous = sum(1 for key in users if parent(key) in sub_lower)
for i in range(count["move"]):
    # From one OU to the other; while they are (nearly) empty, from OU=People into them.
    if in_sub_ous > len(used):
        key = take(lambda key: parent(key) in sub_lower)
    else:
        key = take()
    u = users[key]
    here = parent(key)
    dest = sub_ous[1] if here == sub_lower[0] else sub_ous[0] if here == sub_lower[1] else sub_ous[i % 2]
    if (dest.lower(), u["cn"].lower()) in rdns:
        sys.exit("cannot move %s: the name is taken in %s" % (u["dn"], dest))
    rdns.add((dest.lower(), u["cn"].lower()))
    rdn, old_dn = split_rdn(u["dn"])[0], u["dn"]
    set_dn(key, "%s,%s" % (rdn, dest), u["cn"])
    record("move", old_dn, "changetype: modrdn", line("newrdn", rdn), "deleteoldrdn: 1",
           line("newsuperior", dest))

for i in range(count["create"]):
    ou = sub_ous[i % len(sub_ous)] if sub_ous else people
    given, sn = rng.choice(GIVEN), rng.choice(FAMILY)
    cn, sam = "%s %s r%d.%d" % (given, sn, tag, i), "bn%dx%d" % (tag, i)
    while sam.lower() in sams or (ou.lower(), cn.lower()) in rdns:
        sam, cn = sam + "a", cn + "a"
    sams.add(sam.lower())
    rdns.add((ou.lower(), cn.lower()))
    dn = "CN=%s,%s" % (rdn_escape(cn), ou)
    users[dn.lower()] = {"dn": dn, "cn": cn, "sam": sam}
    record("create", dn, "changetype: add", "objectClass: top", "objectClass: person",
           "objectClass: organizationalPerson", "objectClass: user", line("cn", cn),
           line("sAMAccountName", sam), line("userPrincipalName", "%s@%s" % (sam, DOMAIN)),
           line("givenName", given), line("sn", sn), line("displayName", "%s %s" % (given, sn)),
           line("mail", "%s@%s" % (sam, DOMAIN)), "userAccountControl: 512")

for i in range(count["delete"]):
    key = take()
    u = users.pop(key)
    for gi in member_of.pop(key, ()):  # AD drops the member links of a deleted user
        groups[gi]["members"].discard(key)
    record("delete", u["dn"], "changetype: delete")

for kind, _ in share:
    for r in out[kind]:
        sys.stdout.write(r + "\n")
with open(state_out, "w", encoding="utf-8") as f:
    json.dump({"users": [[u["dn"], u["cn"], u["sam"]] for u in users.values()],
               "groups": [[g["dn"], g["ranged"], sorted(g["members"])] for g in groups]}, f)
sys.stderr.write(" ".join("%s=%d" % (kind, len(out[kind])) for kind, _ in share) + "\n")
PY
}

# run_timed FILE LOG syncd-args...: appends "wall_seconds peak_rss_kib exit_status" to FILE.
run_timed() {
  local file=$1 log=$2
  shift 2
  local v=()
  [ "${BENCH_VERBOSE:-0}" = 1 ] && v=(-v)
  bench_timed "$file" "$log" "$syncd" --config "$work/syncd.conf" "${v[@]}" "$@"
}

search() { bench_ldapsearch -E pr=1000/noprompt "$@"; }

# The scope as the change generator's starting point: users (cn, sAMAccountName), groups (member).
snapshot() {
  search -b "$people" '(&(objectCategory=person)(objectClass=user))' cn sAMAccountName >"$1"
  search -b "$group_ou" '(objectClass=group)' member >"$2"
}

halt_dc=
dc=
trap bench_halt_dc EXIT

bench_one() {
  local n=$1
  bench_size_dc "$root" "$n"
  local ous=() o
  for o in "${sub_ous[@]}"; do
    ous+=("OU=$o,$people")
    # A DC loaded elsewhere (full_sync.sh) lacks them: moves then start from OU=People.
    if ! search -b "$people" -s one "(ou=$o)" 1.1 | grep -q '^dn'; then
      printf 'dn: OU=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' "$o" "$people" "$o" |
        testdc ldap "$dc" ldapadd >/dev/null
    fi
  done

  testdc syncd-config "$dc" "$work" >"$work/syncd.conf"
  # The K changes delete users and memberships: no deletion budget may hold them.
  printf '\n[safety]\nmax_deletes = -1\nmax_delete_percent = 100\n' >>"$work/syncd.conf"

  local logs=$work/rounds
  rm -rf "$logs" && mkdir -p "$logs"
  rm -f "$work"/store.db* "$work"/state.db*
  snapshot "$logs/users.ldif" "$logs/groups.ldif"  # also warms the DC's caches
  local users_in_ad groups_in_ad
  users_in_ad=$(grep -c '^dn' "$logs/users.ldif")
  groups_in_ad=$(grep -c '^dn' "$logs/groups.ldif")
  echo "scope: $users_in_ad users under $people, $groups_in_ad groups under $group_ou"

  rm -f "$work/full.times"
  run_timed "$work/full.times" "$logs/full" --once
  echo "full sync (first --once): $(cut -d' ' -f1 "$work/full.times") s ($(head -n 1 "$logs/full.out"))"

  local r tag counter=$dc/bench-round summary t_apply kinds=""
  rm -f "$work/inc.times" "$work/nochange.times"
  for r in $(seq "$rounds"); do
    tag=$(( $(cat "$counter" 2>/dev/null || echo 0) + 1 ))
    echo "$tag" >"$counter"
    summary=$(python3 -c "$(gen_changes_py)" "$logs/users.ldif" "$logs/groups.ldif" \
      "$logs/model.json" "$logs/model.next" "$k" "$tag" "$people" "${ous[@]}" \
      2>&1 >"$logs/changes-$r.ldif") || die "change generator: $summary"
    t0=$(now_ns)
    testdc ldap "$dc" ldapmodify -f "$logs/changes-$r.ldif" >/dev/null ||
      die "ldapmodify of $logs/changes-$r.ldif failed (round $r)"
    t_apply=$(secs_since "$t0")
    mv "$logs/model.next" "$logs/model.json"
    run_timed "$work/inc.times" "$logs/inc-$r" --once
    run_timed "$work/nochange.times" "$logs/nochange-$r" --once
    printf '  round %d (tag %d): %s; ldapmodify %s s; incremental %s ms (%s), no-change %s ms (%s)\n' \
      "$r" "$tag" "$summary" "$t_apply" \
      "$(ms "$(tail -n 1 "$work/inc.times" | cut -d' ' -f1)")" "$(head -n 1 "$logs/inc-$r.out")" \
      "$(ms "$(tail -n 1 "$work/nochange.times" | cut -d' ' -f1)")" "$(head -n 1 "$logs/nochange-$r.out")"
    kinds+="$(head -n 1 "$logs/inc-$r.out")"$'\n'
  done

  # The store must now match AD: a full dry run finds nothing to do.
  local check rc=0
  t0=$(now_ns)
  "$syncd" --config "$work/syncd.conf" --dry-run --full >"$logs/check.out" 2>"$logs/check.err" || rc=$?
  case $rc in
    0) check="yes (a full dry run finds nothing to do; $(secs_since "$t0") s)" ;;
    2) check="NO: a full dry run still plans $(grep -c '^ *[-+~] ' "$logs/check.out" || true) operations (see $logs/check.out)" ;;
    *) check="could not tell: syncd --dry-run --full failed (exit $rc, $logs/check.err)" ;;
  esac

  local full_wall full_rss inc_wall inc_rss inc_rss_max nc_wall nc_rss
  full_wall=$(cut -d' ' -f1 "$work/full.times"); full_rss=$(cut -d' ' -f2 "$work/full.times")
  inc_wall=$(median_of "$work/inc.times" 1); inc_rss=$(median_of "$work/inc.times" 2)
  inc_rss_max=$(max_of "$work/inc.times" 2)
  nc_wall=$(median_of "$work/nochange.times" 1); nc_rss=$(median_of "$work/nochange.times" 2)
  printf 'N = %d: %d users and %d groups in scope at the start, DC on %s; K = %d changes a round; %d rounds, medians:\n' \
    "$n" "$users_in_ad" "$groups_in_ad" "${backend:-?}" "$k" "$rounds"
  printf '  full sync (first --once, empty state)  wall %8.3f s   peak RSS %6s MB\n' "$full_wall" "$(mb "$full_rss")"
  printf '  incremental run, K = %-4d              wall %8.3f s   peak RSS %6s MB (max %s MB)\n' \
    "$k" "$inc_wall" "$(mb "$inc_rss")" "$(mb "$inc_rss_max")"
  printf '  no-change run                          wall %8.3f s   peak RSS %6s MB\n' "$nc_wall" "$(mb "$nc_rss")"
  printf '  ratio incremental/full: %s\n' "$(awk -v a="$inc_wall" -v b="$full_wall" 'BEGIN { printf "%.3f", a / b }')"
  printf '  what syncd called the K-change runs: %s\n' \
    "$(printf '%s' "$kinds" | sort | uniq -c | sed 's/^ *\([0-9]*\) \(.*\)/"\2" x\1/' | paste -sd, | sed 's/,/, /g')"
  if [ "$k" -eq 100 ]; then
    printf '  goal: K = 100 run under 1 s: %s (%s ms)\n' "$(met "$inc_wall" 1)" "$(ms "$inc_wall")"
  fi
  printf '  goal: no-change run under 100 ms: %s (%s ms)\n' "$(met "$nc_wall" 0.1)" "$(ms "$nc_wall")"
  printf '  store matches AD after the rounds: %s\n' "$check"
  printf '  all rounds (wall s, RSS KiB, exit): incremental [%s] no-change [%s]\n' \
    "$(paste -sd, "$work/inc.times")" "$(paste -sd, "$work/nochange.times")"
  printf '%s %s %s %s %s %s %s\n' "$n" "$k" "${backend:-?}" "$inc_wall" "$full_wall" "$nc_wall" \
    "$(date '+%F %T')" >"$work/result"

  bench_release_dc "$dc"
}

for n in "${sizes[@]}"; do
  bench_one "$n"
done

# Growth of the K-change run from 10,000 to 50,000 users (or between the smallest
# and the largest N of this run when it used other sizes).
lo=10000 hi=50000
if [ ${#sizes[@]} -gt 1 ] && ! { printf '%s\n' "${sizes[@]}" | grep -qx $lo && printf '%s\n' "${sizes[@]}" | grep -qx $hi; }; then
  lo=$(printf '%s\n' "${sizes[@]}" | sort -n | head -n 1); hi=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -n 1)
fi
if [ -f "$root/$lo/result" ] && [ -f "$root/$hi/result" ] && [ "$lo" != "$hi" ]; then
  read -r _ klo blo inc_lo _ _ dlo tlo <"$root/$lo/result"
  read -r _ khi bhi inc_hi _ _ dhi thi <"$root/$hi/result"
  if [ "$klo" = "$khi" ] && [ "$blo" = "$bhi" ]; then
    growth=$(awk -v a="$inc_hi" -v b="$inc_lo" 'BEGIN { printf "%.2f", a / b }')
    echo "growth of the K = $k run from N = $lo ($(ms "$inc_lo") ms, $dlo $tlo) to N = $hi ($(ms "$inc_hi") ms, $dhi $thi): ${growth}x"
    if [ "$lo" = 10000 ] && [ "$hi" = 50000 ] && [ "$k" = 100 ]; then
      echo "  goal: under 1.5x from N = 10,000 to N = 50,000: $(met "$growth" 1.5)"
    fi
  fi
fi
