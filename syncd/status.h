// `syncd status`: where the change feed stands and how recent runs went,
// read offline from the state (no DC is contacted).
#ifndef SYNCD_SYNCD_STATUS_H_
#define SYNCD_SYNCD_STATUS_H_

#include <ostream>

#include "core/status.h"
#include "syncd/config.h"

namespace syncd {

// Prints the status of the state at `config.state_path`, as text or JSON.
// A missing state file reads as "never run".
Status PrintStatus(std::ostream& out, const Config& config, bool json);

}  // namespace syncd

#endif  // SYNCD_SYNCD_STATUS_H_
