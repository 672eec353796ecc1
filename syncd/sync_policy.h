// When an incremental run can be trusted, and when only a full
// reconciliation will do. Pure functions of the stored watermark, the DC
// that answered and the configuration, so each rule is testable alone.
#ifndef SYNCD_SYNCD_SYNC_POLICY_H_
#define SYNCD_SYNCD_SYNC_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "ldap/change_feed.h"
#include "state/state_db.h"
#include "store/sink.h"
#include "syncd/config.h"

namespace syncd {

// Garbage collection runs every 12 hours: a watermark this close to the
// tombstone lifetime may already have lost deletions.
inline constexpr int kTombstoneMarginDays = 2;

// A stable digest of everything that decides which objects are synced and
// how they look: bases, filters, scope groups, exclusions, attribute map.
// A cache built under another fingerprint does not describe this scope.
std::string ScopeFingerprint(const Config& config);

struct RunChoice {
  bool full = false;
  std::string reason;  // why a full reconciliation; empty for incremental
  // The source is another domain than the one the state was built from (its
  // naming context or domain SID differ): the new source is authoritative.
  bool source_switch = false;
  // The store is missing, another one, or empty while the state is not.
  bool store_mismatch = false;
};

struct PolicyInputs {
  const std::optional<Watermark>* watermark = nullptr;
  const ldap::DcIdentity* dc = nullptr;
  ChangeFeed configured_feed = ChangeFeed::kAuto;
  std::string fingerprint;
  int64_t now = 0;  // unix seconds
  int reconcile_interval_hours = 168;
  bool force_full = false;
  // The store as found before the run (nullptr or nullopt: there is none),
  // and how many objects the state caches.
  const std::optional<StoreIdentity>* store = nullptr;
  int64_t cached_objects = 0;
};

// Full when: --full; no watermark; another domain (a source switch: the
// naming context or the domain SID differs); the scope changed; the
// configured feed differs from the watermark's; the last success is older
// than the tombstone lifetime minus the margin; the reconciliation schedule
// is due; the DC's host or invocationId changed; its highestCommittedUSN is
// below the stored one (a restore or a USN rollback); the last full
// reconciliation held operations on objects only the store holds; the store
// is missing,
// is another store than the one the state was built with (replaced or
// recreated), or holds none of syncd's objects while the state caches some.
RunChoice ChooseRun(const PolicyInputs& in);

// Why `store` (nullopt: there is none) is not the store the state with
// watermark `w` and `cached_objects` describes: missing, another store
// (replaced or recreated), or holding none of syncd's objects while the
// state caches some. Empty when it is.
std::string StoreMismatch(const Watermark& w, const std::optional<StoreIdentity>& store,
                          int64_t cached_objects);

}  // namespace syncd

#endif  // SYNCD_SYNCD_SYNC_POLICY_H_
