// The AD cursor: when a stored watermark can still serve an incremental read
// from the DC that answered. Pure, so each rule is testable alone.
#ifndef SYNCD_SOURCE_AD_CURSOR_H_
#define SYNCD_SOURCE_AD_CURSOR_H_

#include <cstdint>

#include "ldap/change_feed.h"
#include "source/ad/config.h"
#include "source/source.h"
#include "state/state_db.h"

namespace syncd::ad {

// Garbage collection runs every 12 hours: a watermark this close to the
// tombstone lifetime may already have lost deletions.
inline constexpr int kTombstoneMarginDays = 2;

// Another source when the naming context or the domain SID differ (a domain
// rebuilt under the same name has a new SID). Stale when: the configured feed
// differs from the watermark's; the last success at `now` is older than the
// tombstone lifetime (the shorter of then and now) minus the margin; the DC's
// host or invocationId changed; its highestCommittedUSN is below the stored
// one (a restore or a USN rollback).
CursorCheck CheckCursor(const Watermark& w, const ldap::DcIdentity& dc, ChangeFeed configured,
                        int64_t now);

}  // namespace syncd::ad

#endif  // SYNCD_SOURCE_AD_CURSOR_H_
