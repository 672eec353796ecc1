// The two ways to learn what changed in a domain since a watermark:
// DirSync (a cookie; per-value member deltas; tombstones included) and
// uSNChanged polling (a DC-local number; tombstones found with Show-Deleted).
// Both report object GUIDs to re-read, not object images: what an object
// looks like now, and whether it is in scope, is decided by re-reading it.
#ifndef SYNCD_LDAP_CHANGE_FEED_H_
#define SYNCD_LDAP_CHANGE_FEED_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/status.h"
#include "ldap/directory.h"

namespace syncd::ldap {

// Who answered: the rootDSE plus the invocationId of the DC's database. A
// different host, database (invocationId) or a smaller highestCommittedUSN
// means a uSNChanged watermark no longer applies.
struct DcIdentity {
  std::string host;                   // dnsHostName
  std::string dsa_dn;                 // dsServiceName (the DC's NTDS Settings object)
  std::string invocation_id;          // raw 16 bytes
  std::string naming_context;         // defaultNamingContext
  int64_t highest_usn = 0;            // highestCommittedUSN, read before any change query
  int tombstone_lifetime_days = 180;  // the forest's tombstoneLifetime; 180 when unset
  std::string domain_sid;             // raw objectSid of the naming context's head
};
boost::asio::awaitable<Result<DcIdentity>> ReadDcIdentity(Directory& directory);

// Member values added and removed since the watermark, by member GUID.
struct MemberDelta {
  std::set<std::string> added;
  std::set<std::string> removed;
  // The deltas cannot be trusted (a value without a GUID, a plain `member`
  // that replaced the list): re-read the group's whole member list.
  bool reread = false;
};

struct ChangeSet {
  std::set<std::string> changed;  // raw GUIDs of live objects reported changed, any class
  std::set<std::string> deleted;  // raw GUIDs of tombstones
  // Changed objects whose name or parent changed, or may have (uSNChanged
  // cannot tell): if they are containers, their children moved with them.
  std::set<std::string> renamed;
  std::map<std::string, MemberDelta> members;  // by group GUID (DirSync only)
  std::string cookie;                          // DirSync: where the next read starts
  int rounds = 0;                              // DirSync round trips / searches made
  size_t entries = 0;

  bool empty() const { return changed.empty() && deleted.empty() && members.empty(); }
  // Folds one DirSync entry in, later entries overriding earlier ones.
  void Absorb(const Entry& entry);
};

struct DirSyncOptions {
  std::string naming_context;
  std::vector<std::string> attributes;  // the business attributes; keys are added
  std::string cookie;                   // empty: from the beginning
  bool object_security = false;         // OBJECT_SECURITY: no replication right needed
};

enum class FeedRefusal {
  kNone,
  kCookieRejected,  // the DC could not use the cookie: reconcile in full
  kNoRight,         // the account lacks DS-Replication-Get-Changes for this mode
};

struct DirSyncResult {
  ChangeSet changes;
  FeedRefusal refusal = FeedRefusal::kNone;
  std::string diagnostic;  // the server's words, when refused
};

// The filter DirSync runs with: broad, class-based, plus tombstones. DirSync
// tests it against an object's current state, so a narrow filter would hide
// objects that leave it; scope is decided afterwards, locally.
std::string DirSyncFilter();

// Reads every change since `options.cookie`, looping while the server says
// more follow. A refusal comes back in `refusal`; a lost connection or a
// malformed answer is an error.
boost::asio::awaitable<Result<DirSyncResult>> ReadDirSync(Directory& directory,
                                                          const DirSyncOptions& options);

// A cookie for "now" without reading anything: a DirSync whose filter
// matches no object. Taken before a full read, it makes the next incremental
// read start before anything the full read could have missed.
boost::asio::awaitable<Result<DirSyncResult>> DirSyncSnapshot(Directory& directory,
                                                              const DirSyncOptions& options);

// Objects and tombstones whose uSNChanged is above `since`, across the whole
// partition (a search under the scope bases alone would miss objects moved
// out of them). Any incomplete search is an error: a partial change list
// must not advance the watermark.
boost::asio::awaitable<Result<ChangeSet>> ReadUsnChanges(Directory& directory,
                                                         const std::string& naming_context,
                                                         int64_t since, int page_size);

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_CHANGE_FEED_H_
