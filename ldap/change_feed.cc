#include "ldap/change_feed.h"

#include <charconv>

#include "core/strings.h"
#include "ldap/codec.h"

namespace syncd::ldap {
namespace asio = boost::asio;
namespace {

// What every incremental read needs besides the mapped attributes: the key,
// the class (on creation), tombstone state, and `name`, which also brings
// the constructed parentGUID of a moved or renamed object.
const std::vector<std::string> kFeedAttributes = {"objectGUID", "objectClass", "isDeleted", "name"};

// Member value descriptions in a DirSync reply with INCREMENTAL_VALUES.
constexpr std::string_view kMembersAdded = "member;range=1-1";
constexpr std::string_view kMembersRemoved = "member;range=0-0";

std::optional<int64_t> ParseInt(const std::string& text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

std::vector<std::string> WithFeedAttributes(const std::vector<std::string>& business) {
  std::vector<std::string> attributes;
  std::set<std::string> seen;
  for (const auto* list : {&kFeedAttributes, &business}) {
    for (const auto& a : *list) {
      // Backlinks and constructed attributes never come through DirSync, and
      // asking for them would only filter out changes.
      const std::string lower = AsciiLower(a);
      if (lower == "memberof" || lower == "cn" || lower == "usnchanged") continue;
      if (seen.insert(lower).second) attributes.push_back(a);
    }
  }
  return attributes;
}

// Maps a DirSync refusal to what the caller should do about it.
FeedRefusal Classify(int code, const std::string& diagnostic, bool had_cookie) {
  if (code == kLdapInsufficientAccess) return FeedRefusal::kNoRight;
  // Samba: unavailableCriticalExtension for an unparseable cookie; Windows:
  // "Error processing control" (protocol or other errors) for one it cannot
  // use. Without a cookie there is nothing to reject.
  if (had_cookie && (code == kLdapUnavailableCriticalExtension || code == kLdapProtocolError ||
                     code == kLdapUnwillingToPerform ||
                     diagnostic.find("Error processing control") != std::string::npos)) {
    return FeedRefusal::kCookieRejected;
  }
  return FeedRefusal::kNone;
}

asio::awaitable<Result<DirSyncResult>> RunDirSync(Directory& directory,
                                                  const DirSyncOptions& options,
                                                  const std::string& filter) {
  DirSyncRequest request;
  request.naming_context = options.naming_context;
  request.filter = filter;
  request.attributes = WithFeedAttributes(options.attributes);
  request.flags = kDirSyncIncrementalValues | kDirSyncAncestorsFirstOrder |
                  (options.object_security ? kDirSyncObjectSecurity : 0);
  request.cookie = options.cookie;
  DirSyncResult result;
  for (;;) {
    Result<DirSyncPage> page = co_await directory.DirSync(request, [&](Entry&& entry) {
      result.changes.Absorb(entry);
      return Status::Ok();
    });
    if (!page.ok()) co_return page.status();
    ++result.changes.rounds;
    result.changes.entries += page->entries;
    if (page->result_code != kLdapSuccess) {
      result.refusal = Classify(page->result_code, page->diagnostic, !request.cookie.empty());
      if (result.refusal == FeedRefusal::kNone) {
        co_return Status::Unavailable("DirSync under " + request.naming_context +
                                      " failed: " + page->diagnostic);
      }
      result.diagnostic = page->diagnostic;
      result.changes = {};
      co_return result;
    }
    if (page->more && page->cookie == request.cookie) {
      co_return Status::DataLoss("DirSync says more changes follow but returned the same cookie");
    }
    request.cookie = std::move(page->cookie);
    if (!page->more) break;
  }
  result.changes.cookie = std::move(request.cookie);
  co_return result;
}

}  // namespace

void ChangeSet::Absorb(const Entry& entry) {
  const std::string guid = entry.First("objectguid");
  if (guid.size() != 16) return;
  // A tombstone seen through OBJECT_SECURITY is its GUID and an empty DN.
  if (AsciiLower(entry.First("isdeleted")) == "true" || entry.dn.empty()) {
    deleted.insert(guid);
    changed.erase(guid);
    renamed.erase(guid);
    members.erase(guid);
    return;
  }
  deleted.erase(guid);  // reanimated
  changed.insert(guid);
  // DirSync returns `name` (and the constructed parentGUID) when either moved.
  if (entry.Find("name") != nullptr) renamed.insert(guid);
  for (const auto& [description, values] : entry.attributes) {
    const bool added = description == kMembersAdded;
    const bool removed = description == kMembersRemoved;
    if (!added && !removed) {
      // A plain (or otherwise ranged) member replaces the whole list.
      if (description == "member" || description.rfind("member;", 0) == 0) {
        members[guid].reread = true;
      }
      continue;
    }
    MemberDelta& delta = members[guid];
    for (const auto& value : values) {
      const std::string member = ParseExtendedDn(value).guid;
      if (member.empty()) {
        delta.reread = true;
        continue;
      }
      (added ? delta.added : delta.removed).insert(member);
      (added ? delta.removed : delta.added).erase(member);
    }
  }
}

std::string DirSyncFilter() {
  return "(|(objectClass=user)(objectClass=group)(objectClass=organizationalUnit)"
         "(objectClass=container)(isDeleted=TRUE))";
}

asio::awaitable<Result<DirSyncResult>> ReadDirSync(Directory& directory,
                                                   const DirSyncOptions& options) {
  co_return co_await RunDirSync(directory, options, DirSyncFilter());
}

asio::awaitable<Result<DirSyncResult>> DirSyncSnapshot(Directory& directory,
                                                       const DirSyncOptions& options) {
  DirSyncOptions from_now = options;
  from_now.cookie.clear();
  co_return co_await RunDirSync(directory, from_now,
                                "(objectGUID=" + EscapeFilterBytes(std::string(16, '\0')) + ")");
}

namespace {
// What ReadDcIdentity reads of each entry. Constants, because GCC 12 rejects a
// braced list passed to a coroutine ("array used as initializer").
const std::vector<std::string> kRootDseAttributes = {"dnsHostName", "dsServiceName",
                                                     "highestCommittedUSN", "defaultNamingContext",
                                                     "configurationNamingContext"};
const std::vector<std::string> kInvocationId = {"invocationId"};
const std::vector<std::string> kObjectSid = {"objectSid"};
const std::vector<std::string> kTombstoneLifetime = {"tombstoneLifetime"};

// `attributes` of the one entry at `dn` (a base-scope search).
asio::awaitable<Result<std::vector<Entry>>> ReadEntry(Directory& directory, const std::string& dn,
                                                      const std::vector<std::string>& attributes) {
  SearchRequest request;
  request.base = dn;
  request.scope = Scope::kBase;
  request.extended_dn = false;
  request.attributes = attributes;
  co_return co_await directory.Search(request);
}
}  // namespace

asio::awaitable<Result<DcIdentity>> ReadDcIdentity(Directory& directory) {
  auto rootdse = co_await ReadEntry(directory, std::string(), kRootDseAttributes);
  if (!rootdse.ok()) co_return rootdse.status().WithContext("reading the rootDSE");
  if (rootdse->size() != 1) co_return Status::DataLoss("the rootDSE read returned no entry");
  const Entry& dse = rootdse->front();
  DcIdentity id;
  id.host = AsciiLower(dse.First("dnshostname"));
  id.dsa_dn = dse.First("dsservicename");
  id.naming_context = dse.First("defaultnamingcontext");
  auto usn = ParseInt(dse.First("highestcommittedusn"));
  if (id.dsa_dn.empty() || id.naming_context.empty() || !usn) {
    co_return Status::DataLoss(
        "the rootDSE lacks dsServiceName, defaultNamingContext or highestCommittedUSN");
  }
  id.highest_usn = *usn;

  auto settings = co_await ReadEntry(directory, id.dsa_dn, kInvocationId);
  if (!settings.ok()) co_return settings.status().WithContext("reading the DC's invocationId");
  if (settings->size() == 1) id.invocation_id = settings->front().First("invocationid");
  if (id.invocation_id.size() != 16) {
    co_return Status::DataLoss(id.dsa_dn + " has no valid invocationId");
  }

  auto domain = co_await ReadEntry(directory, id.naming_context, kObjectSid);
  if (!domain.ok()) co_return domain.status().WithContext("reading the domain's objectSid");
  if (domain->size() == 1) id.domain_sid = domain->front().First("objectsid");

  const std::string config_nc = dse.First("configurationnamingcontext");
  if (!config_nc.empty()) {
    auto service =
        co_await ReadEntry(directory, "CN=Directory Service,CN=Windows NT,CN=Services," + config_nc,
                           kTombstoneLifetime);
    if (service.ok() && service->size() == 1) {
      auto days = ParseInt(service->front().First("tombstonelifetime"));
      if (days && *days > 0) id.tombstone_lifetime_days = static_cast<int>(*days);
    } else if (!service.ok() && service.status().code() != Status::Code::kNotFound) {
      co_return service.status().WithContext("reading tombstoneLifetime");
    }
  }
  co_return id;
}

asio::awaitable<Result<ChangeSet>> ReadUsnChanges(Directory& directory,
                                                  const std::string& naming_context, int64_t since,
                                                  int page_size) {
  ChangeSet changes;
  const std::string above = "(uSNChanged>=" + std::to_string(since + 1) + ")";
  SearchRequest request;
  request.base = naming_context;
  request.extended_dn = false;
  request.page_size = page_size;
  request.attributes = {"objectGUID"};
  for (const bool tombstones : {false, true}) {
    request.show_deleted = tombstones;
    // Tombstones anywhere (not only under Deleted Objects: some classes stay
    // in place when deleted); live objects of every class that can hold or
    // be a user or group, containers included (their children move with them).
    request.filter =
        tombstones ? "(&(isDeleted=TRUE)(|(objectClass=user)(objectClass=group))" + above + ")"
                   : "(&(|(objectClass=user)(objectClass=group)"
                     "(objectClass=organizationalUnit)(objectClass=container))" +
                         above + ")";
    auto& sink = tombstones ? changes.deleted : changes.changed;
    auto outcome = co_await directory.PagedSearch(request, [&sink](Entry&& entry) {
      std::string guid = entry.First("objectguid");
      if (guid.size() == 16) sink.insert(std::move(guid));
      return Status::Ok();
    });
    if (!outcome.ok()) co_return outcome.status();
    ++changes.rounds;
    changes.entries += outcome->entries;
    if (!outcome->complete) {
      co_return Status::Unavailable("the uSNChanged query did not complete (" +
                                    outcome->incomplete_reason + ")");
    }
  }
  for (const auto& guid : changes.deleted) changes.changed.erase(guid);
  changes.renamed = changes.changed;
  co_return changes;
}

}  // namespace syncd::ldap
