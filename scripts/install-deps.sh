#!/usr/bin/env bash
# Installs every Debian package syncd needs to build, test and demo on a fresh
# bookworm machine. Idempotent: re-running installs nothing new.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config
  # the fuzz build (scripts/fuzz.sh): clang with libFuzzer, llvm-symbolizer
  clang-14 libclang-rt-14-dev llvm-14
  # scripts/lint.sh
  clang-format clang-tidy
  # libraries
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libldap-dev libsasl2-dev libsasl2-modules-gssapi-mit libkrb5-dev
  libsqlite3-dev libtomlplusplus-dev libcli11-dev libsystemd-dev
  libcurl4-openssl-dev libssl-dev
  libgtest-dev libgmock-dev
  # the AD test bed and its tools
  samba samba-dsdb-modules samba-ad-provision samba-vfs-modules ldb-tools ldap-utils krb5-user sqlite3 time bc
  # systemd-analyze, for the unit file check
  systemd
  # tests/scim-peer: start.sh and selftest.sh talk to the peer with curl
  curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The SCIM test peer (tests/scim-peer) runs on Node >= 18. The image ships Node 20 at /usr/bin/node
# (not a Debian package); without it, Debian's nodejs and npm serve.
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
# The AWS test peer (tests/aws-peer) runs on python3 with moto[server] and boto3; pip installs those below.
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3 python3-pip)
elif ! python3 -c "import moto, boto3" >/dev/null 2>&1 && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # samba's package starts its own services on install; the tests run their own DC.
  for svc in samba-ad-dc smbd nmbd winbind; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
    pkill -x "$svc" >/dev/null 2>&1 || true
  done
fi

# The peer's npm packages, pinned by tests/scim-peer/package-lock.json (npm ci unless node_modules matches it).
"$(dirname "$0")/../tests/scim-peer/ensure-deps.sh"

# tests/aws-peer: moto's server (werkzeug, flask) and boto3. The machine image ships them (moto 5.2.1);
# elsewhere they come from PyPI. Debian's python3 refuses a system-wide pip install (PEP 668) unless told.
if ! python3 -c "import moto, moto.server, boto3, werkzeug, flask" >/dev/null 2>&1; then
  echo "install-deps: installing moto[server] with pip"
  python3 -m pip install --quiet 'moto[server]' ||
    python3 -m pip install --quiet --break-system-packages 'moto[server]'
fi
