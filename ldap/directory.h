// What the sync engine asks of a domain controller, as an interface: the
// real Connection implements it, and tests replay recorded server answers
// through fakes built on it (paged DirSync, rejected cookies, truncated
// ranges: what Samba cannot show).
#ifndef SYNCD_LDAP_DIRECTORY_H_
#define SYNCD_LDAP_DIRECTORY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/status.h"
#include "ldap/entry.h"

namespace syncd::ldap {

enum class Scope { kBase = 0, kOneLevel = 1, kSubtree = 2 };

struct SearchRequest {
  std::string base;
  Scope scope = Scope::kSubtree;
  std::string filter = "(objectClass=*)";
  std::vector<std::string> attributes;
  int page_size = 500;        // paged searches only
  bool extended_dn = true;    // DN values as "<GUID=..>;<SID=..>;dn"
  bool show_deleted = false;  // include tombstones (Show-Deleted control)
  // Paged searches: how much of a page (its encoded entries) may wait for the
  // page's end, so that the next page is asked for before the handler runs;
  // past it, entries are handed on as they arrive.
  size_t read_ahead_bytes = size_t{4} << 20;
};

// How a paged search ended. complete is true only if every page ended with
// success; anything else (size/time limits, a dropped connection, a missing
// base) leaves it false with the reason, and must never drive deletions.
struct SearchOutcome {
  bool complete = false;
  std::string incomplete_reason;
  int pages = 0;
  size_t entries = 0;
};

// DirSync request flags ([MS-ADTS] 3.1.1.3.4.1.3).
inline constexpr uint32_t kDirSyncObjectSecurity = 0x00000001;
inline constexpr uint32_t kDirSyncAncestorsFirstOrder = 0x00000800;
inline constexpr uint32_t kDirSyncIncrementalValues = 0x80000000;

// LDAP result codes the change feeds tell apart.
inline constexpr int kLdapSuccess = 0;
inline constexpr int kLdapProtocolError = 2;
inline constexpr int kLdapUnavailableCriticalExtension = 12;
inline constexpr int kLdapInsufficientAccess = 50;
inline constexpr int kLdapUnwillingToPerform = 53;

struct DirSyncRequest {
  std::string naming_context;  // DirSync accepts only a partition head as base
  std::string filter;
  std::vector<std::string> attributes;
  uint32_t flags = 0;
  std::string cookie;  // empty on the very first call
};

// One DirSync round trip. A server-side refusal is data, not an error, so the
// caller can tell a rejected cookie or a missing right (result_code) from a
// lost connection (an error Status).
struct DirSyncPage {
  int result_code = kLdapSuccess;
  std::string diagnostic;  // the server's text when result_code != 0
  bool more = false;       // the server holds more changes: ask again with `cookie`
  std::string cookie;
  size_t entries = 0;
};

class Directory {
 public:
  using EntryHandler = std::function<Status(Entry&&)>;
  virtual ~Directory() = default;

  // Paged search; hands each entry to `on_entry` in the server's order (a
  // non-ok Status from it aborts the search and is returned). A page's
  // entries may wait for the page's end (SearchRequest::read_ahead_bytes).
  virtual boost::asio::awaitable<Result<SearchOutcome>> PagedSearch(
      const SearchRequest& request, const EntryHandler& on_entry) = 0;

  // An unpaged search for small reads (rootDSE, one entry's range window).
  // Any result other than success is an error (kNotFound for a missing base).
  virtual boost::asio::awaitable<Result<std::vector<Entry>>> Search(
      const SearchRequest& request) = 0;

  // One DirSync round (critical control, with Extended-DN and Show-Deleted).
  virtual boost::asio::awaitable<Result<DirSyncPage>> DirSync(const DirSyncRequest& request,
                                                              const EntryHandler& on_entry) = 0;

  // The URI of the DC answering.
  virtual const std::string& uri() const = 0;
};

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_DIRECTORY_H_
