// The DirSync response control ([MS-ADTS] 3.1.1.3.4.1.3) of a search result:
// whether more changes follow, and the cookie to ask for them with. Apart from
// the connection so that it can be decoded (and fuzzed) from bytes alone.
#ifndef SYNCD_LDAP_DIRSYNC_CONTROL_H_
#define SYNCD_LDAP_DIRSYNC_CONTROL_H_

#include <ldap.h>

#include <string>

#include "core/status.h"

namespace syncd::ldap {

struct DirSyncControl {
  bool more = false;   // the server holds more changes: ask again with `cookie`
  std::string cookie;  // opaque to syncd; empty if the server sent none
};

// Finds the DirSync control among `controls` (a null-terminated array as
// libldap returns it, or null) and decodes it with libldap. `ld` is the handle
// the result arrived on: libldap reports through its error state, which this
// resets first. Keeps no pointer into `controls`.
// Errors: DataLoss when the control is missing or does not decode.
Result<DirSyncControl> ParseDirSyncControl(LDAP* ld, LDAPControl** controls);

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_DIRSYNC_CONTROL_H_
