// When an incremental run can be trusted, and when only a full
// reconciliation will do. Pure functions of the stored watermark, what the
// source makes of it (Source::Check) and the configuration, so each rule is
// testable alone.
#ifndef SYNCD_SYNCD_SYNC_POLICY_H_
#define SYNCD_SYNCD_SYNC_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "source/source.h"
#include "state/state_db.h"
#include "store/sink.h"
#include "syncd/config.h"

namespace syncd {

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
  // The store is missing, another one, or empty while the state is not, or
  // may hold a run the state did not record.
  bool store_mismatch = false;
};

struct PolicyInputs {
  const std::optional<Watermark>* watermark = nullptr;
  // The source's verdict on the watermark (empty without one).
  CursorCheck cursor;
  std::string fingerprint;
  int64_t now = 0;  // unix seconds
  int reconcile_interval_hours = 168;
  bool force_full = false;
  // The store as found before the run (nullptr or nullopt: there is none),
  // and how many objects the state caches.
  const std::optional<StoreIdentity>* store = nullptr;
  int64_t cached_objects = 0;
  // Why the store behind an unchanged address is another one now (IAM
  // Identity Center's identity store was switched); "" = it is not.
  std::string store_replaced;
  // A run the state never finished recording, with no journal to resume
  // (StateDb::UnfinishedRun); 0: none.
  int64_t unfinished_run = 0;
};

// Full when: --full; no watermark; another source (a source switch); the
// store is missing, is another store than the one the state was built with
// (replaced or recreated), or holds none of syncd's objects while the state
// caches some, or was replaced behind its address (store_replaced); a run
// was interrupted after it may have changed the store and before the state
// recorded it (unfinished_run); the last full reconciliation held
// operations on objects only the store holds; the scope changed; the source
// finds the watermark stale; the reconciliation schedule is due.
RunChoice ChooseRun(const PolicyInputs& in);

// Why `store` (nullopt: there is none) is not the store the state with
// watermark `w` and `cached_objects` describes: missing, another store
// (replaced or recreated), or holding none of syncd's objects while the
// state caches some. Empty when it is.
std::string StoreMismatch(const Watermark& w, const std::optional<StoreIdentity>& store,
                          int64_t cached_objects);

}  // namespace syncd

#endif  // SYNCD_SYNCD_SYNC_POLICY_H_
