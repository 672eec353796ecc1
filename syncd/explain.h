// `syncd explain NAME`: why an object is in scope or not, and what is
// pending for it, read offline from the state and the config (no DC is
// contacted).
#ifndef SYNCD_SYNCD_EXPLAIN_H_
#define SYNCD_SYNCD_EXPLAIN_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "state/state_db.h"
#include "syncd/config.h"

namespace syncd {

// A group as explanations name it.
struct ExplainedGroup {
  std::string name;
  std::string dn;
  std::string external_id;
};

// One cached (in-scope) object matching the name.
struct ExplainedObject {
  // Which key matched: "objectGUID", "DN", "sAMAccountName",
  // "userPrincipalName" or "name" (its name, displayName or cn).
  std::string matched_by;
  SyncObject object;  // the cached image; its attributes are already mapped

  // Why it is in scope, per the config as it is now.
  std::string base;               // the longest configured base above its DN; empty if none
  std::string base_key;           // "scope.user_bases" or "scope.group_bases"
  std::string filter;             // the LDAP filter the reader uses for its kind
  std::string filter_key;         // "scope.user_filter" or "scope.group_filter"
  std::string configured_filter;  // that key's value; empty if unset
  // Group-based scope (scope.groups): the entry of scope.groups that brings
  // it in, and the shortest chain of cached groups from that group down to
  // the object's direct group (the scope group alone when it is a direct
  // member; empty when the object is itself a scope group).
  std::string scope_group;
  std::vector<ExplainedGroup> chain;

  std::vector<ExplainedGroup> member_of;  // direct groups, by name
  int64_t member_count = 0;               // groups: direct members

  // Operations journaled for it (as the object or the member) by a run that
  // did not commit, and whether the next incremental run re-reads it.
  std::vector<Operation> pending;
  bool revisit = false;

  // The assignment ledger's entries for it (active: granted; removed:
  // history), oldest first.
  std::vector<LedgerEntry> assignments;

  // Where the config disagrees with the cached state (it changed since the
  // last run): no base covers it, an exclusion now covers it, ...
  std::vector<std::string> notes;
};

enum class Verdict {
  kInScope,       // cached: see objects
  kOutsideBases,  // a DN under none of the configured bases
  kExcluded,      // a DN under an excluded subtree, or an excluded sAMAccountName
  kNotCached,     // a DN under a base, absent from the cache
  kNotFound,      // no cached object has that name
};
const char* VerdictName(Verdict verdict);  // "in-scope", "outside-bases", ...

struct Explanation {
  std::string query;  // the NAME asked about
  Verdict verdict = Verdict::kNotFound;
  // One sentence for a person; for kInScope a summary of the matches.
  std::string reason;
  // kInScope: the cached objects matching the name with the best key (a
  // GUID or DN match wins over a sAMAccountName, that over a UPN, that over
  // a name); several when a name is ambiguous.
  std::vector<ExplainedObject> objects;
  int64_t pending_run_id = 0;  // the interrupted run that journaled `pending`
  int64_t last_success = 0;    // unix seconds, from the watermark; 0: none
  int64_t last_run = 0;        // unix seconds the last run started; 0: none
  std::string last_run_outcome;
};

// Explains `name` (a sAMAccountName, userPrincipalName, name, display name,
// cn, DN or objectGUID) from the state at config.state_path, opened read-only
// (a missing state reads as empty), and the scope in `config`.
// The objects among `objects` that `name` designates, with the key that
// matched: the first of objectGUID, DN, sAMAccountName, userPrincipalName,
// name (userName, displayName or the RDN) that matches anything. The
// pointers are into `objects`.
std::pair<std::string, std::vector<const SyncObject*>> FindObjects(
    const std::vector<SyncObject>& objects, const std::string& name);

Result<Explanation> Explain(const Config& config, const std::string& name);

void PrintExplanationText(std::ostream& out, const Explanation& explanation);
void PrintExplanationJson(std::ostream& out, const Explanation& explanation);

}  // namespace syncd

#endif  // SYNCD_SYNCD_EXPLAIN_H_
