#!/usr/bin/env bash
# Builds the Debian package of syncd and checks its contents.
#
#   scripts/package.sh [BUILD_DIR]     default: build-package
#
#   SYNCD_PACKAGE_JOBS=N   parallel build jobs (default 1)
#
# Configures a Release build for prefix /usr, builds only what the package
# holds (the syncd binary, the man page and the changelog, not the tests), stages an install
# with DESTDIR and lists it, then runs `cpack -G DEB`, shows the package's
# contents and control data, and fails if an expected file is missing.
# The config, unit and sysusers paths are absolute (/etc, /lib, /usr/lib),
# so the staged install uses DESTDIR: `cmake --install --prefix` would not
# relocate them and would write into the real /etc.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-package}
jobs=${SYNCD_PACKAGE_JOBS:-1}
for tool in cmake cpack dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "package: $tool not found" >&2; exit 1; }
done

# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack installs what was built instead of
# building `all` (which includes every test binary) first.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$build_dir" --target syncd syncd_man syncd_changelog -j "$jobs"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage cmake --install "$build_dir" >/dev/null
echo "package: staged install (DESTDIR=$stage):"
(cd "$stage" && find . -mindepth 1 \( -type f -o -type l \) -printf '  %M %p\n' | sort -k2)

rm -f "$build_dir"/syncd_*.deb
(cd "$build_dir" && cpack -G DEB >/dev/null)
debs=("$build_dir"/syncd_*.deb)
[ -f "${debs[0]}" ] || { echo "package: cpack made no syncd_*.deb in $build_dir" >&2; exit 1; }
deb=${debs[0]}
echo "package: $deb"
dpkg-deb -c "$deb"
dpkg-deb -I "$deb"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
status=0
for path in ./usr/bin/syncd ./lib/systemd/system/syncd.service ./etc/syncd/syncd.conf \
            ./usr/share/man/man8/syncd.8.gz ./usr/lib/sysusers.d/syncd.conf \
            ./usr/share/doc/syncd/copyright ./usr/share/doc/syncd/changelog.gz; do
  if grep -qxF "$path" <<<"$contents"; then
    echo "package: ok       $path"
  else
    echo "package: MISSING  $path" >&2
    status=1
  fi
done
control=$(mktemp -d)
dpkg-deb -e "$deb" "$control"
for file in postinst prerm postrm conffiles; do
  [ -f "$control/$file" ] || { echo "package: MISSING control file $file" >&2; status=1; }
done
if ! grep -qxF /etc/syncd/syncd.conf "$control/conffiles" 2>/dev/null; then
  echo "package: /etc/syncd/syncd.conf is not a conffile" >&2
  status=1
fi
if ! dpkg-deb -f "$deb" Depends | grep -q libc6; then
  echo "package: no shared-library dependencies (dpkg-shlibdeps did not run?)" >&2
  status=1
fi
rm -rf "$control"
exit $status
