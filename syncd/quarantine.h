// The quarantine: objects the store refused (missing or bad data, a
// conflict with an object syncd does not own). Each is kept out of the
// store, with its reason, until its AD object changes or a person asks
// for another try; the rest of every run applies.
#ifndef SYNCD_SYNCD_QUARANTINE_H_
#define SYNCD_SYNCD_QUARANTINE_H_

#include <ostream>
#include <string>

#include "core/status.h"
#include "syncd/config.h"

namespace syncd {

// `syncd quarantine list [--json]`: every quarantined object, its reason
// and since when. Reads the state only.
Result<int> QuarantineListCommand(const Config& config, bool json, std::ostream& out);

// `syncd quarantine retry NAME`: releases the objects named NAME (userName
// or displayName, case-insensitive, or externalId); the next run sends them
// again. NotFound when none is quarantined.
Result<int> QuarantineRetryCommand(const Config& config, const std::string& name,
                                   std::ostream& out);

}  // namespace syncd

#endif  // SYNCD_SYNCD_QUARANTINE_H_
