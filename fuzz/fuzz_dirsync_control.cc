// The DirSync response control (ldap/dirsync_control.h): any bytes as the
// control's BER value, decoded the way a search result's controls are.
#include <ldap.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_check.h"
#include "ldap/dirsync_control.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A handle for libldap's error state only: it never connects.
  static LDAP* const ld = [] {
    LDAP* handle = nullptr;
    if (ldap_initialize(&handle, "ldap://127.0.0.1") != LDAP_SUCCESS) std::abort();
    return handle;
  }();
  LDAPControl control{};
  control.ldctl_oid = const_cast<char*>(LDAP_CONTROL_X_DIRSYNC);
  control.ldctl_value.bv_len = size;
  control.ldctl_value.bv_val = const_cast<char*>(reinterpret_cast<const char*>(data));
  LDAPControl* controls[] = {&control, nullptr};
  syncd::Result<syncd::ldap::DirSyncControl> parsed =
      syncd::ldap::ParseDirSyncControl(ld, controls);
  if (parsed.ok()) SYNCD_FUZZ_CHECK(parsed->cookie.size() <= size);
  return 0;
}
