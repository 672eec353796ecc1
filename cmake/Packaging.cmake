# Installation layout and the Debian package (CPack, DEB generator).
#
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for a system install; then the
# configuration goes to /etc/syncd, the unit to systemd's unit directory
# (/lib/systemd/system on bookworm) and the sysusers.d snippet to
# /usr/lib/sysusers.d. Those paths are absolute, so stage an install with
# `DESTDIR=DIR cmake --install BUILD`, not with --prefix.
# scripts/package.sh builds the package.
include(GNUInstallDirs)

# systemd's own directories, as its pkg-config file names them; the
# fallbacks are Debian bookworm's.
pkg_get_variable(_syncd_pc_unitdir systemd systemdsystemunitdir)
pkg_get_variable(_syncd_pc_sysusersdir systemd sysusersdir)
if(NOT _syncd_pc_unitdir)
  set(_syncd_pc_unitdir /lib/systemd/system)
endif()
if(NOT _syncd_pc_sysusersdir)
  set(_syncd_pc_sysusersdir /usr/lib/sysusers.d)
endif()
set(SYNCD_SYSTEMD_UNIT_DIR "${_syncd_pc_unitdir}" CACHE PATH "Where syncd.service is installed")
set(SYNCD_SYSUSERS_DIR "${_syncd_pc_sysusersdir}" CACHE PATH "Where the sysusers.d snippet is installed")

# The unit names the binary and the configuration by absolute path; follow the
# install prefix (with /usr, the file is installed unchanged).
file(READ "${PROJECT_SOURCE_DIR}/conf/syncd.service" _syncd_unit)
string(REPLACE "/usr/bin/syncd" "${CMAKE_INSTALL_FULL_BINDIR}/syncd" _syncd_unit "${_syncd_unit}")
string(REPLACE "/etc/syncd/syncd.conf" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/syncd/syncd.conf"
       _syncd_unit "${_syncd_unit}")
file(CONFIGURE OUTPUT "${PROJECT_BINARY_DIR}/syncd.service" CONTENT "${_syncd_unit}" @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${PROJECT_SOURCE_DIR}/conf/syncd.service")

install(FILES "${PROJECT_BINARY_DIR}/syncd.service" DESTINATION "${SYNCD_SYSTEMD_UNIT_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/conf/syncd.sysusers" DESTINATION "${SYNCD_SYSUSERS_DIR}"
        RENAME syncd.conf)
install(FILES "${PROJECT_SOURCE_DIR}/conf/syncd.conf"
        DESTINATION "${CMAKE_INSTALL_FULL_SYSCONFDIR}/syncd")

# Installs SOURCE gzipped as Debian policy asks (-n: no name or time stamp,
# so the output is reproducible), built by TARGET with `all`; plain when
# there is no gzip.
find_program(GZIP_PROGRAM gzip)
function(syncd_install_gzipped target source destination comment)
  get_filename_component(name "${source}" NAME)
  if(GZIP_PROGRAM)
    add_custom_command(
      OUTPUT "${PROJECT_BINARY_DIR}/${name}.gz"
      COMMAND "${CMAKE_COMMAND}" -E copy "${source}" "${PROJECT_BINARY_DIR}/${name}"
      COMMAND "${GZIP_PROGRAM}" -9 -n -f "${PROJECT_BINARY_DIR}/${name}"
      DEPENDS "${source}"
      COMMENT "${comment}"
      VERBATIM)
    add_custom_target(${target} ALL DEPENDS "${PROJECT_BINARY_DIR}/${name}.gz")
    install(FILES "${PROJECT_BINARY_DIR}/${name}.gz" DESTINATION "${destination}")
  else()
    add_custom_target(${target})
    install(FILES "${source}" DESTINATION "${destination}")
  endif()
endfunction()

# The man page (alone: the syncd_man target).
syncd_install_gzipped(syncd_man "${PROJECT_SOURCE_DIR}/docs/syncd.8" "${CMAKE_INSTALL_MANDIR}/man8"
                      "Compressing the man page syncd.8")

# Debian policy's documentation: the copyright file, and the changelog
# (gzipped; a native package's is changelog.gz). The changelog's latest
# entry must be this version, or the package would contradict itself.
file(STRINGS "${PROJECT_SOURCE_DIR}/debian/changelog" _syncd_changelog_top LIMIT_COUNT 1)
if(NOT _syncd_changelog_top MATCHES "^syncd \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "debian/changelog's latest entry is not version ${PROJECT_VERSION} "
                      "(the project() version): add an entry for it")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${PROJECT_SOURCE_DIR}/debian/changelog")
set(SYNCD_DOC_DIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/syncd")
install(FILES "${PROJECT_SOURCE_DIR}/debian/copyright" DESTINATION "${SYNCD_DOC_DIR}")
syncd_install_gzipped(syncd_changelog "${PROJECT_SOURCE_DIR}/debian/changelog" "${SYNCD_DOC_DIR}"
                      "Compressing the changelog")

# Maintainer scripts. The service is neither enabled nor started on install:
# the example configuration must be edited first (`systemctl enable --now
# syncd` afterwards). An upgrade restarts it only if it was running.
set(_syncd_debian "${PROJECT_BINARY_DIR}/debian")
file(CONFIGURE OUTPUT "${_syncd_debian}/postinst" @ONLY CONTENT [[#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers syncd.conf
  elif ! getent passwd syncd >/dev/null; then
    adduser --quiet --system --group --no-create-home --home /var/lib/syncd \
      --gecos "syncd directory sync" syncd
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    if [ -n "$2" ]; then
      systemctl try-restart syncd.service || true
    fi
  fi
fi
exit 0
]])
file(CONFIGURE OUTPUT "${_syncd_debian}/prerm" @ONLY CONTENT [[#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop syncd.service || true
fi
exit 0
]])
file(CONFIGURE OUTPUT "${_syncd_debian}/postrm" @ONLY CONTENT [[#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
exit 0
]])
file(CONFIGURE OUTPUT "${_syncd_debian}/conffiles" @ONLY
     CONTENT "${CMAKE_INSTALL_FULL_SYSCONFDIR}/syncd/syncd.conf\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME syncd)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "syncd maintainers <syncd@example.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "keeps an identity store in step with Active Directory")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The summary above is the synopsis line; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "syncd reads a configured scope of users and groups from Active Directory over
LDAP (DirSync or uSNChanged change feeds, paged full reconciliation), works out
what changed against its cached state and applies exactly those changes to an
identity store. It runs as a systemd service under its own user and binds with
the host keytab; `syncd --dry-run` shows what a run would do.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# GSSAPI binds load the SASL plugin at run time, which shlibdeps cannot see.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libsasl2-modules-gssapi-mit, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "krb5-user")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_syncd_debian}/postinst;${_syncd_debian}/prerm;${_syncd_debian}/postrm;${_syncd_debian}/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
