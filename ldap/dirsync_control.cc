#include "ldap/dirsync_control.h"

namespace syncd::ldap {

Result<DirSyncControl> ParseDirSyncControl(LDAP* ld, LDAPControl** controls) {
  LDAPControl* response = ldap_control_find(LDAP_CONTROL_X_DIRSYNC, controls, nullptr);
  if (response == nullptr) {
    return Status::DataLoss("the server did not return a DirSync control");
  }
  // libldap dereferences a null buffer decoding an empty value (found by
  // fuzz/fuzz_dirsync_control.cc): a control without a value is malformed.
  if (response->ldctl_value.bv_len == 0 || response->ldctl_value.bv_val == nullptr) {
    return Status::DataLoss("the server's DirSync control has no value");
  }
  // ldap_parse_dirsync_control() returns the handle's last error code even
  // when it decoded the control: clear it first, and trust only decode errors.
  int zero = LDAP_SUCCESS;
  ldap_set_option(ld, LDAP_OPT_RESULT_CODE, &zero);
  int more = 0;
  berval next{0, nullptr};
  int rc = ldap_parse_dirsync_control(ld, response, &more, &next);
  if (rc == LDAP_DECODING_ERROR || rc == LDAP_PARAM_ERROR) {
    ber_memfree(next.bv_val);
    return Status::DataLoss("the server's DirSync control does not decode");
  }
  DirSyncControl control;
  control.more = more != 0;
  if (next.bv_val != nullptr) control.cookie.assign(next.bv_val, next.bv_len);
  ber_memfree(next.bv_val);
  return control;
}

}  // namespace syncd::ldap
