#include "source/ad/cursor.h"

#include <algorithm>
#include <string>

#include "core/strings.h"
#include "ldap/codec.h"

namespace syncd::ad {
namespace {

constexpr int64_t kDay = 86400;

std::string Stale(const Watermark& w, const ldap::DcIdentity& dc, ChangeFeed configured,
                  int64_t now) {
  if (configured != ChangeFeed::kAuto && w.feed != ChangeFeedName(configured)) {
    return std::string("change_feed changed from ") + w.feed + " to " + ChangeFeedName(configured);
  }
  // The shorter of the lifetime then and now: a lowered one counts at once.
  int lifetime = w.tombstone_lifetime_days > 0 ? w.tombstone_lifetime_days : 180;
  if (dc.tombstone_lifetime_days > 0) lifetime = std::min(lifetime, dc.tombstone_lifetime_days);
  if (now - w.last_success >= (lifetime - kTombstoneMarginDays) * kDay) {
    return "the last successful run is older than the tombstone lifetime (" +
           std::to_string(lifetime) + " days) less a " + std::to_string(kTombstoneMarginDays) +
           "-day margin: deletions may have been forgotten";
  }
  if (AsciiLower(w.dc_host) != AsciiLower(dc.host)) {
    return "the DC changed (" + w.dc_host + " -> " + dc.host + ")";
  }
  if (w.invocation_id != dc.invocation_id) {
    return "the invocationId of " + dc.host + " changed: its database was restored or rebuilt";
  }
  if (dc.highest_usn < w.highest_usn) {
    return "highestCommittedUSN of " + dc.host + " went backwards (" +
           std::to_string(w.highest_usn) + " -> " + std::to_string(dc.highest_usn) +
           "): a USN rollback";
  }
  return "";
}

}  // namespace

CursorCheck CheckCursor(const Watermark& w, const ldap::DcIdentity& dc, ChangeFeed configured,
                        int64_t now) {
  CursorCheck check;
  // A state from before the SID was recorded compares by name only.
  const bool other_sid =
      !w.domain_sid.empty() && !dc.domain_sid.empty() && w.domain_sid != dc.domain_sid;
  if (AsciiLower(w.naming_context) != AsciiLower(dc.naming_context) || other_sid) {
    auto describe = [](const std::string& nc, const std::string& sid) {
      auto text = ldap::SidToString(sid);
      return nc + (text ? " (" + *text + ")" : "");
    };
    check.other_source = "the source changed from " + describe(w.naming_context, w.domain_sid) +
                         " to " + describe(dc.naming_context, dc.domain_sid);
  }
  check.stale = Stale(w, dc, configured, now);
  return check;
}

}  // namespace syncd::ad
