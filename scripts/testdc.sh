#!/usr/bin/env bash
# Throwaway Samba Active Directory domain controller for syncd's tests and demo.
#
#   testdc.sh start DIR                   provision CORP.EXAMPLE.COM into DIR, run samba, wait
#   testdc.sh stop DIR                    stop that samba and remove DIR
#   testdc.sh env DIR                     print the KEY=VALUE lines again
#   testdc.sh ldap DIR TOOL [ARGS...]     run ldapsearch/ldapadd/ldapmodify/ldapdelete/ldapmodrdn
#                                         over LDAPS as Administrator (CA verified)
#   testdc.sh load DIR FILE.ldif          ldapadd FILE (stops at the first error), timed
#   testdc.sh bulk-load DIR FILE.ldif     add FILE's entries offline into DIR's sam.ldb in one
#                                         transaction (samba paused meanwhile; all or nothing);
#                                         10,000 users + 1,000 groups in 25-40 s (load: ~90 s),
#                                         50,000 + 5,000 in ~3 min
#   testdc.sh halt DIR                    stop that samba, keep DIR (resume it later)
#   testdc.sh resume DIR                  run samba again on a halted DIR, wait, print env
#   testdc.sh syncd-config DIR WORK       print a syncd.conf for the sample scope (store, state in WORK)
#   testdc.sh set-primary-group DIR USER_DN GROUP_DN
#                                         make GROUP the user's primaryGroupID (adds membership first)
#   testdc.sh add-sid-history DIR USER_DN SID
#                                         add SID to the account's sIDHistory (as a migration would)
#   testdc.sh kinit DIR                   get a TGT for Administrator into DIR/krb5cc
#   testdc.sh keytab DIR PRINCIPAL FILE   export PRINCIPAL's keys (samba-tool domain exportkeytab)
#
# GSSAPI: export KRB5_CONFIG=DIR/krb5.conf, then
#   ldapsearch -N -Y GSSAPI -H ldap://dc1.corp.example.com -O minssf=56 ...
# -N (SASL_NOCANON) is required: otherwise libldap reverse-resolves 127.0.0.1 and asks
# for ldap/<that name>. GSSAPI over ldaps:// is refused by Samba (no sign/seal over TLS).
#
# Needs root (binds ports 88, 389, 636, 3268 on loopback and edits /etc/hosts), and
# the Debian packages samba, samba-ad-provision, samba-vfs-modules, ldap-utils, krb5-user.
# Only one DC fits on the loopback ports at a time.
#
# Environment:
#   TESTDC_TEMPLATE   where a pristine provision is cached and copied from (default
#                     /var/cache/syncd-testdc/template-<samba version>-<hash>); "none"
#                     provisions afresh. Its directory must be root's and not writable by others.
#   TESTDC_TIMEOUT    seconds to wait for the DC to answer (default 60).
#   TESTDC_BACKEND    sam.ldb's store for start: tdb (default) or mdb (LMDB, ordered indexes)
#   TESTDC_REALM      the realm start provisions (default CORP.EXAMPLE.COM); the NetBIOS
#                     domain, base DN and DC name (dc1.<realm>) follow from it. Commands
#                     on an existing DIR use its own realm.
set -euo pipefail

# set_realm REALM: the domain's names, all derived from its DNS realm.
set_realm() {
  REALM=${1^^}
  DNS_DOMAIN=${1,,}
  DOMAIN=${REALM%%.*}
  DOMAIN=${DOMAIN:0:15}  # a NetBIOS name
  HOST=dc1
  FQDN=$HOST.$DNS_DOMAIN
  BASE_DN=DC=${DNS_DOMAIN//./,DC=}
  BIND_DN=CN=Administrator,CN=Users,$BASE_DN
  URI=ldaps://$FQDN
}
set_realm "${TESTDC_REALM:-CORP.EXAMPLE.COM}"
# Fixed test password; meets the default complexity policy (Samba enforces it on resets).
ADMIN_PASS='Syncd-Test-Adm1n!'

die() { echo "testdc: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

absdir() { realpath -m -- "$1"; }

# True if DIR looks like one of ours (so stop may delete it).
is_testdc_dir() { [ -f "$1/etc/smb.conf" ] && grep -q "realm = $REALM" "$1/etc/smb.conf"; }

provision_args() {
  # server services: just what LDAP/Kerberos need. The default list also starts
  # winbindd (not installed without the winbind package: samba then exits), smbd,
  # nbt, dns updates and ntp_signd, all slow or useless here.
  # ldb:nosync: no fsync per LDB transaction, loads twice as fast (throwaway data).
  printf '%s\n' --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE \
    --adminpass="$ADMIN_PASS" --host-name="$HOST" \
    --option="interfaces=lo" --option="bind interfaces only=yes" \
    --option="server services=rpc, ldap, cldap, kdc, drepl, kcc" \
    --option="ldb:nosync=true"
  # LMDB keeps ordered indexes: (uSNChanged>=n), and so DirSync, use the index
  # instead of scanning every object as they do on TDB (~0.7 s at 50,000 users).
  if [ "${TESTDC_BACKEND:-tdb}" = mdb ]; then
    echo --backend-store=mdb
  fi
}

provision() { # provision TARGET: a fresh domain, samba-tool's log in TARGET.provision.log
  local target=$1 args
  mapfile -t args < <(provision_args)
  if ! samba-tool domain provision --targetdir="$target" "${args[@]}" \
      --option="log file=$target/log.%m" >"$target.provision.log" 2>&1; then
    tail -n 20 "$target.provision.log" >&2
    die "provision failed (log: $target.provision.log)"
  fi
  # The DC's ldap/ (and other) SPNs are normally added by samba_spnupdate from the
  # dnsupdate service, which we do not run: without them GSSAPI binds fail with
  # "Server not found in Kerberos database". It works offline on sam.ldb.
  if ! samba_spnupdate -s "$target/etc/smb.conf" >>"$target.provision.log" 2>&1; then
    tail -n 20 "$target.provision.log" >&2
    die "samba_spnupdate failed (log: $target.provision.log)"
  fi
  rm -f "$target.provision.log"
}

# Provisioning is ~4-6 s of python; copying a cached pristine (never started)
# provision takes well under a second. Each DC still makes its own TLS CA/keys
# on first start; the domain SID is shared between DCs made from one template.
provision_into() {
  local dir=$1 tpl=${TESTDC_TEMPLATE:-}
  if [ "$tpl" = none ]; then
    provision "$dir"
    return
  fi
  if [ -z "$tpl" ]; then
    local ver
    ver=$(samba --version | tr -c 'A-Za-z0-9.\n' '_')
    # Bump TEMPLATE_REV when provision() changes what it produces.
    # Under a root-owned 0700 directory: samba runs as root on what is copied
    # from here, so nobody else may be able to plant it.
    install -d -m 0700 /var/cache/syncd-testdc
    tpl=/var/cache/syncd-testdc/template-$ver-$({ echo TEMPLATE_REV=2; provision_args; } | md5sum | cut -c1-8)
  fi
  local parent
  parent=$(dirname "$tpl")
  if [ ! -O "$parent" ] || [ -n "$(find "$parent" -maxdepth 0 -perm /022)" ]; then
    die "template directory $parent must be owned by $(id -un) and writable by nobody else"
  fi
  (
    flock 9
    if [ ! -f "$tpl/etc/smb.conf" ]; then
      rm -rf "$tpl.new"
      mkdir -p "$tpl.new"
      provision "$tpl.new"
      rm -rf "$tpl"
      mv "$tpl.new" "$tpl"
      # smb.conf is the only file naming the directory; store a placeholder.
      sed -i "s#$tpl.new#@DIR@#g" "$tpl/etc/smb.conf"
    fi
  ) 9>"$tpl.lock"
  cp -a "$tpl/." "$dir/"
  sed -i "s#@DIR@#$dir#g" "$dir/etc/smb.conf"
  # samba's pid file defaults to /run/samba: a private one lets DCs in other
  # network namespaces (a benchmark beside the tests) run at the same time.
  mkdir -p "$dir/run"
  sed -i "s#^\[global\]\$#[global]\n\tpid directory = $dir/run#" "$dir/etc/smb.conf"
}

write_krb5_conf() {
  cat >"$1/krb5.conf" <<EOF
# Kerberos client config for the test DC (use with KRB5_CONFIG=$1/krb5.conf).
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    default_ccache_name = FILE:$1/krb5cc
[realms]
    $REALM = {
        kdc = 127.0.0.1
        admin_server = 127.0.0.1
        kpasswd_server = 127.0.0.1
    }
[domain_realm]
    .$DNS_DOMAIN = $REALM
    $DNS_DOMAIN = $REALM
EOF
}

ensure_hosts() {
  # The DC's certificate says CN=DC1.corp.example.com (no SAN): clients must use that name.
  if ! awk -v h="$FQDN" '$1 == "127.0.0.1" { for (i = 2; i <= NF; i++) if (tolower($i) == h) f = 1 }
      END { exit !f }' /etc/hosts; then
    printf '127.0.0.1 %s %s\n' "$FQDN" "$HOST" >>/etc/hosts
  fi
}

print_env() {
  cat <<EOF
URI=$URI
BASE_DN=$BASE_DN
BIND_DN=$BIND_DN
PASSWORD_FILE=$1/admin.pass
CA_FILE=$1/private/tls/ca.pem
KRB5_CONFIG=$1/krb5.conf
KRB5CCNAME=FILE:$1/krb5cc
EOF
}

samba_pid() { # pid of the DC running for DIR, or nothing
  local pid
  pid=$(cat "$1/samba.pid" 2>/dev/null) || return 0
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = samba ]; then
    echo "$pid"
  fi
}

# One LDAPS simple bind; quiet.
ldaps_ok() {
  LDAPTLS_CACERT="$1/private/tls/ca.pem" LDAPTLS_REQCERT=demand \
    ldapsearch -x -H "$URI" -D "$BIND_DN" -y "$1/admin.pass" -o nettimeout=2 \
    -b "" -s base dnsHostName >/dev/null 2>&1
}

cmd_start() {
  [ $# -eq 1 ] || usage
  local dir t0 holder
  dir=$(absdir "$1")
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  case ${TESTDC_BACKEND:-tdb} in tdb | mdb) ;; *) die "TESTDC_BACKEND must be tdb or mdb" ;; esac
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir exists and is not empty"
  fi
  holder=$(ss -Hltnp 'sport = :636' 2>/dev/null || true)
  if [ -n "$holder" ]; then
    die "port 636 is already in use (one DC at a time; stop it first, e.g. testdc.sh stop OTHER_DIR):
$holder"
  fi
  mkdir -p "$dir"
  chmod 755 "$dir"

  t0=$(now)
  provision_into "$dir"
  echo "testdc: provisioned in $(elapsed "$t0") s" >&2

  ensure_hosts
  write_krb5_conf "$dir"
  (umask 077 && printf '%s' "$ADMIN_PASS" >"$dir/admin.pass")

  launch_samba "$dir"
  echo "testdc: DC up in $(elapsed "$t0") s in all" >&2
  print_env "$dir"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir pid
  dir=$(absdir "$1")
  [ -d "$dir" ] || die "$dir does not exist"
  is_testdc_dir "$dir" || [ -f "$dir/samba.pid" ] || die "$dir does not look like a test DC; not removing it"
  pid=$(samba_pid "$dir")
  halt_samba "$dir"
  rm -rf -- "$dir"
  echo "testdc: stopped${pid:+ samba $pid} and removed $dir" >&2
}

cmd_env() {
  [ $# -eq 1 ] || usage
  print_env "$(absdir "$1")"
}

# ldap_tool DIR TOOL ARGS...: an OpenLDAP client over LDAPS as Administrator.
ldap_tool() {
  local dir=$1 tool=$2
  shift 2
  case $tool in
    ldapsearch | ldapadd | ldapmodify | ldapdelete | ldapmodrdn | ldapcompare | ldapwhoami) ;;
    *) die "unsupported tool '$tool'" ;;
  esac
  [ -f "$dir/admin.pass" ] || die "$dir is not a running test DC (no admin.pass)"
  LDAPTLS_CACERT="$dir/private/tls/ca.pem" LDAPTLS_REQCERT=demand \
    "$tool" -x -H "$URI" -D "$BIND_DN" -y "$dir/admin.pass" "$@"
}

cmd_ldap() {
  [ $# -ge 2 ] || usage
  local dir
  dir=$(absdir "$1")
  shift
  ldap_tool "$dir" "$@"
}

cmd_load() {
  [ $# -eq 2 ] || usage
  local dir file n t0 secs
  dir=$(absdir "$1")
  file=$2
  [ -r "$file" ] || die "cannot read $file"
  n=$(grep -c '^dn:' "$file" || true)
  t0=$(now)
  # No -c: stop at the first failing entry; ldapadd prints it and the error.
  if ! ldap_tool "$dir" ldapadd -f "$file" >/dev/null; then
    die "load of $file failed after $(elapsed "$t0") s (entries before the failing one were added)"
  fi
  secs=$(elapsed "$t0")
  awk -v n="$n" -v s="$secs" -v f="$file" \
    'BEGIN { printf "testdc: loaded %d entries from %s in %.1f s (%.0f entries/s)\n", n, f, s, (s > 0 ? n / s : n) }' >&2
}

# halt_samba DIR: stop DIR's samba (TERM to its process group, KILL after 10 s); keep DIR.
halt_samba() {
  local dir=$1 pid i
  pid=$(samba_pid "$dir")
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "testdc: samba $pid ignored TERM for 10 s; killing" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$dir/samba.pid"
  echo "testdc: stopped samba $pid (kept $dir)" >&2
}

# launch_samba DIR: run samba on an already provisioned DIR and wait for an LDAPS bind.
# setsid: samba gets its own process group, so stop can signal all of it.
launch_samba() {
  local dir=$1 t1 pid holder deadline
  holder=$(ss -Hltnp 'sport = :636' 2>/dev/null || true)
  [ -z "$holder" ] || die "port 636 is already in use (one DC at a time):
$holder"
  ensure_hosts
  t1=$(now)
  setsid samba -i -M single -s "$dir/etc/smb.conf" </dev/null >>"$dir/samba.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/samba.pid"
  deadline=$(($(date +%s) + ${TESTDC_TIMEOUT:-60}))
  until [ -f "$dir/private/tls/ca.pem" ] && ldaps_ok "$dir"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/samba.log" >&2
      die "samba exited during startup (log: $dir/samba.log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 30 "$dir/samba.log" >&2
      die "no LDAPS bind after ${TESTDC_TIMEOUT:-60} s (samba pid $pid still running; log: $dir/samba.log)"
    fi
    sleep 0.2
  done
  echo "testdc: samba pid $pid ready in $(elapsed "$t1") s" >&2
}

cmd_halt() {
  [ $# -eq 1 ] || usage
  local dir
  dir=$(absdir "$1")
  is_testdc_dir "$dir" || die "$dir does not look like a test DC"
  halt_samba "$dir"
}

cmd_resume() {
  [ $# -eq 1 ] || usage
  local dir
  dir=$(absdir "$1")
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  if ! is_testdc_dir "$dir" || [ ! -f "$dir/admin.pass" ]; then
    die "$dir is not a test DC made by testdc.sh start"
  fi
  [ -n "$(samba_pid "$dir")" ] || launch_samba "$dir"
  print_env "$dir"
}

# Adds every entry of an LDIF file (adds only) to DIR's sam.ldb offline, in one
# transaction through the full DSDB module stack, so the objects are what an LDAP
# add makes: objectGUID, objectSid from the RID pool, USNs, replication metadata,
# linked attributes (member/memberOf). batch_mode (as provision and domain join
# use) skips the per-add sub-transaction, whose commit copies the large index
# lists (objectClass=user, ...) on every add; over LDAP each add is a transaction
# that rewrites them, which makes loading quadratic.
bulk_load_py() {
  cat <<'PY'
import sys
import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB

smbconf, path = sys.argv[1], sys.argv[2]
lp = LoadParm()
lp.load(smbconf)
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp, flags=ldb.FLG_NOSYNC,
           options=["batch_mode:1", "transaction_index_cache_size:202481"])
with open(path, "rb") as f:
    text = f.read().decode("utf-8")
n = 0
db.transaction_start()
try:
    for changetype, msg in db.parse_ldif(text):
        if changetype != ldb.CHANGETYPE_NONE and changetype != ldb.CHANGETYPE_ADD:
            raise RuntimeError("only additions are supported")
        try:
            db.add(msg)
        except Exception as e:
            raise RuntimeError("%s: %s" % (msg.dn, e))
        n += 1
    db.transaction_commit()
except Exception as e:
    db.transaction_cancel()
    sys.stderr.write("testdc: bulk-load of %s failed, nothing added: %s\n" % (path, e))
    sys.exit(1)
print(n)
PY
}

cmd_bulk_load() {
  [ $# -eq 2 ] || usage
  local dir file was_running n t0 secs
  dir=$(absdir "$1")
  file=$(realpath -- "$2")
  [ -r "$file" ] || die "cannot read $file"
  if ! is_testdc_dir "$dir" || [ ! -f "$dir/admin.pass" ]; then
    die "$dir is not a test DC made by testdc.sh start"
  fi
  was_running=$(samba_pid "$dir")
  halt_samba "$dir"
  t0=$(now)
  # Debian's python3 (python3-samba), not whatever python3 comes first in PATH.
  n=$(/usr/bin/python3 -c "$(bulk_load_py)" "$dir/etc/smb.conf" "$file") ||
    die "bulk-load of $file failed after $(elapsed "$t0") s"
  secs=$(elapsed "$t0")
  awk -v n="$n" -v s="$secs" -v f="$file" \
    'BEGIN { printf "testdc: bulk-loaded %d entries from %s in %.1f s (%.0f entries/s)\n", n, f, s, (s > 0 ? n / s : n) }' >&2
  if [ -n "$was_running" ]; then
    launch_samba "$dir"
  fi
}

b64() { printf '%s' "$1" | base64 -w0; }  # LDIF "attr:: value" for any UTF-8 value
filter_escape() { printf '%s' "$1" | sed 's/\\/\\5c/g; s/\*/\\2a/g; s/(/\\28/g; s/)/\\29/g'; }

cmd_set_primary_group() {
  [ $# -eq 3 ] || usage
  local dir user_dn group_dn sid rid
  dir=$(absdir "$1")
  user_dn=$2
  group_dn=$3
  # objectSid comes back base64 (binary); the RID is its last 4 bytes, little-endian.
  sid=$(ldap_tool "$dir" ldapsearch -LLL -o ldif-wrap=no -b "$group_dn" -s base \
    '(objectClass=group)' objectSid | sed -n 's/^objectSid:: //p')
  [ -n "$sid" ] || die "no group objectSid for $group_dn"
  rid=$(printf '%s' "$sid" | base64 -d | tail -c 4 | od -An -tu4 --endian=little | tr -d ' ')
  # AD only accepts a primaryGroupID of a group the user is already a member of.
  # After the change the DC drops the explicit member value (membership becomes implicit).
  if [ -z "$(ldap_tool "$dir" ldapsearch -LLL -b "$group_dn" -s base "(member=$(filter_escape "$user_dn"))" 1.1)" ]; then
    printf 'dn:: %s\nchangetype: modify\nadd: member\nmember:: %s\n\n' "$(b64 "$group_dn")" "$(b64 "$user_dn")" |
      ldap_tool "$dir" ldapmodify >/dev/null
  fi
  printf 'dn:: %s\nchangetype: modify\nreplace: primaryGroupID\nprimaryGroupID: %s\n\n' "$(b64 "$user_dn")" "$rid" |
    ldap_tool "$dir" ldapmodify >/dev/null
  echo "testdc: primaryGroupID=$rid ($group_dn) set on $user_dn" >&2
}

# sIDHistory cannot be written over LDAP (it is what a migration tool sets);
# ldbmodify --relax on the DC's own sam.ldb can, even while the DC runs.
cmd_add_sid_history() {
  [ $# -eq 3 ] || usage
  local dir user_dn sid
  dir=$(absdir "$1")
  user_dn=$2
  sid=$3
  [[ $sid =~ ^S-1-[0-9]+(-[0-9]+)+$ ]] || die "not a SID: $sid"
  printf 'dn: %s\nchangetype: modify\nadd: sIDHistory\nsIDHistory: %s\n' "$user_dn" "$sid" |
    ldbmodify --relax -H "$dir/private/sam.ldb" >/dev/null ||
    die "cannot add sIDHistory $sid to $user_dn"
  echo "testdc: sIDHistory $sid added to $user_dn" >&2
}

cmd_kinit() {
  [ $# -eq 1 ] || usage
  local dir
  dir=$(absdir "$1")
  KRB5_CONFIG="$dir/krb5.conf" KRB5CCNAME="FILE:$dir/krb5cc" \
    kinit "Administrator@$REALM" <"$dir/admin.pass" >/dev/null
  echo "testdc: TGT for Administrator@$REALM in FILE:$dir/krb5cc" >&2
}

cmd_syncd_config() {
  [ $# -eq 2 ] || usage
  local dir work
  dir=$(absdir "$1")
  work=$(absdir "$2")
  cat <<CONF
# syncd against the test DC in $dir, scoped to the sample data.
[source]
uris = ["$URI"]
base_dn = "$BASE_DN"
bind_dn = "$BIND_DN"
password_file = "$dir/admin.pass"
tls_ca_file = "$dir/private/tls/ca.pem"

[scope]
user_bases = ["OU=People,OU=Sync,$BASE_DN"]
group_bases = ["OU=Groups,OU=Sync,$BASE_DN"]

[store]
path = "$work/store.db"

[state]
path = "$work/state.db"
CONF
}

cmd_keytab() {
  [ $# -eq 3 ] || usage
  local dir
  dir=$(absdir "$1")
  # The account needs a password (keys) first, e.g. unicodePwd set over LDAPS.
  samba-tool domain exportkeytab "$3" --principal="$2" -s "$dir/etc/smb.conf" >/dev/null
  echo "testdc: keys of $2 written to $3" >&2
}

[ $# -ge 1 ] || usage
sub=$1
shift
# A command on an existing DC works with that DC's realm, whatever TESTDC_REALM says.
if [ $# -ge 1 ] && [ -f "$1/etc/smb.conf" ]; then
  set_realm "$(sed -n 's/^[[:space:]]*realm = //p' "$1/etc/smb.conf" | head -n 1)"
fi
case $sub in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  env) cmd_env "$@" ;;
  ldap) cmd_ldap "$@" ;;
  load) cmd_load "$@" ;;
  bulk-load) cmd_bulk_load "$@" ;;
  halt) cmd_halt "$@" ;;
  resume) cmd_resume "$@" ;;
  set-primary-group) cmd_set_primary_group "$@" ;;
  add-sid-history) cmd_add_sid_history "$@" ;;
  kinit) cmd_kinit "$@" ;;
  keytab) cmd_keytab "$@" ;;
  syncd-config) cmd_syncd_config "$@" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
