// The SQLite state: the cached image of every object syncd applied, their
// memberships, the journal of a run in progress, the sink's reference of each
// object, the quarantine, the record of each run and the assignment ledger.
#ifndef SYNCD_STATE_STATE_DB_H_
#define SYNCD_STATE_STATE_DB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace syncd {

struct RunRecord {
  int64_t id = 0;
  std::string kind;                       // "full" or "incremental"
  int64_t started_at = 0;                 // unix seconds
  int64_t finished_at = 0;                // 0 while running
  std::string outcome;                    // "running", "ok", "partial", "failed"
  std::map<std::string, int64_t> counts;  // "create", "update", ..., "held"
  std::string message;
  // Why the objects this run deletes left the store, as the assignment ledger
  // records it; empty: "left the store in run N". Not stored with the run.
  std::string removal_reason;
};

// Where the change feed stands. It is stored in the same transaction as the
// cached objects it describes, so the two never disagree.
struct Watermark {
  std::string feed;               // "dirsync" or "usn"
  std::string naming_context;     // the domain partition read
  std::string dc_host;            // dnsHostName of the DC that answered
  std::string dsa_dn;             // its dsServiceName
  std::string invocation_id;      // raw 16 bytes, of that DC's database
  int64_t highest_usn = 0;        // usn: highestCommittedUSN read before the query
  std::string cookie;             // dirsync: the server's cookie, opaque
  bool object_security = false;   // dirsync ran with OBJECT_SECURITY
  std::string scope_fingerprint;  // of the scope and mapping that produced the cache
  int64_t last_success = 0;       // unix seconds of the last run that advanced it
  int64_t last_full = 0;          // unix seconds of the last complete reconciliation
  int tombstone_lifetime_days = 0;
  std::string domain_sid;  // raw objectSid of the naming context's head: which domain
  // A source switch was applied and its assignments are still to be
  // reapplied (or reported): set with the switch's watermark, so a crash in
  // between does not forget it; cleared by ClearReapplyPending.
  bool reapply_pending = false;
  // The store the cache describes (StoreIdentity::id); empty in a state
  // from before stores had one.
  std::string store_id;
  // The last full reconciliation held operations on objects the cache does
  // not know (only the store has them): only another full one sees them.
  bool reconcile_pending = false;
  // Raw GUIDs the next incremental run re-reads whatever the feed reports:
  // objects whose operations were held or refused, so that advancing the
  // watermark past their change does not forget them.
  std::vector<std::string> revisit;
};

// Where a journaled operation stands.
//   pending:  not known to have reached the sink (apply it, or check);
//   applied:  the sink took it;
//   refused:  the sink refused it for this object (bad data, a conflict);
//   deferred: not applied this run (throttled, failed, the run stopped).
enum class JournalStatus { kPending, kApplied, kRefused, kDeferred };
const char* JournalStatusName(JournalStatus status);  // "pending", ...

// One journaled operation of a run.
struct JournalEntry {
  int64_t seq = 0;  // position in the run's plan (apply order), from 0
  Operation op;
  JournalStatus status = JournalStatus::kPending;
  std::string sink_ref;  // applied: the sink's reference for op.object (create), else ""
  std::string reason;    // refused / deferred: why
};

// The outcome of the journaled operation `seq`, as MarkJournal records it.
struct JournalMark {
  int64_t seq = 0;
  JournalStatus status = JournalStatus::kApplied;
  std::string sink_ref;
  std::string reason;
};

// An object the sink refused, held back from every run until its AD object
// changes (another fingerprint) or someone releases it.
struct QuarantineEntry {
  std::string guid;  // raw objectGUID
  ObjectKind kind = ObjectKind::kUser;
  std::string name;  // as AD names it (userName / displayName)
  std::string external_id;
  std::string reason;  // the sink's refusal, as a person reads it
  int64_t since = 0;   // unix seconds, first refusal
  // Of the object image that was refused: a changed AD object is tried again.
  std::string fingerprint;
};

// What a run learned from the sink besides the cache, stored with it.
struct RunOutcomes {
  std::vector<std::pair<std::string, std::string>> sink_refs;  // guid -> ref to store (upsert)
  // Upserted by guid; an entry whose fingerprint is unchanged keeps its
  // older `since`.
  std::vector<QuarantineEntry> quarantined;
  std::vector<std::string> released;  // guids leaving quarantine
};

// Where an assignment stands in the ledger.
//   active:   its principal is in the store and holds the target (a store
//             that lacks it has drifted);
//   orphaned: its principal left the store (deleted, out of scope, a source
//             switch); it waits to be matched to a principal again;
//   removed:  unassigned; kept as the record of what was granted.
enum class LedgerStatus { kActive, kOrphaned, kRemoved };
const char* LedgerStatusName(LedgerStatus status);
std::optional<LedgerStatus> ParseLedgerStatus(const std::string& name);

// One assignment: `target` (an opaque string naming what is granted)
// granted to `principal`.
struct LedgerEntry {
  int64_t id = 0;  // 0 until saved
  std::string target;
  LedgerStatus status = LedgerStatus::kActive;
  int64_t created_at = 0;  // unix seconds
  int64_t changed_at = 0;  // unix seconds, of the last status change
  std::string reason;      // why the status last changed
  // The principal's identity keys as last seen (IdentityKeysOf): kept
  // current by every run while it is active, frozen when it leaves.
  SyncObject principal;
  std::string domain_sid;   // raw SID of its source domain
  std::string domain_name;  // DNS name of its source domain
  // Where the target lives in the store, when the store has its own ids
  // (IAM Identity Center: a JSON object with instanceArn, permissionSetArn,
  // accountId or applicationArn). "" for the local store.
  std::string target_ref;
};

// The identity keys of `o`: everything but the mapped attributes, of which
// only displayName is kept.
SyncObject IdentityKeysOf(const SyncObject& o);
// An active entry granting `target` to `principal` (a cached object), with
// its source domain taken from its SID and DN. Times and reason unset.
LedgerEntry LedgerEntryFor(const SyncObject& principal, std::string target);

// The IAM Identity Center instance as last seen (aws_instance): a changed
// identity store id is a source switch, which starts the reapply mode.
struct AwsInstanceState {
  std::string instance_arn;
  std::string identity_store_id;
  std::string previous_identity_store_id;  // before the last switch; "" = none seen
  int64_t switched_at = 0;                 // unix seconds; 0 = never
  bool reapply_pending = false;            // a switch waits for its reapply
  int64_t checked_at = 0;                  // unix seconds of the last ListInstances
};

// The identity-store id of an AD principal (aws_principals), per identity
// store: ids change with a source switch, the objectGUID does not.
struct AwsPrincipalId {
  std::string guid;  // raw objectGUID
  ObjectKind kind = ObjectKind::kUser;
  std::string principal_id;  // the identity store's UserId / GroupId
  std::string resolved_by;   // "externalId", "userName", "displayName"
  int64_t resolved_at = 0;   // unix seconds
};

// What syncd learned of one identity store (aws_identity_stores).
struct AwsIdentityStoreState {
  std::string identity_store_id;
  // The Issuer of the ExternalIds the store keeps for syncd's principals
  // (AWS does not document it; it is learned from DescribeUser/ListUsers).
  std::string external_id_issuer;
  // The last reapply pass, and the ledger entries it left to a person.
  int64_t reapplied_at = 0;
  int64_t ambiguous = 0;
  int64_t missing = 0;
  int64_t unrecorded = 0;  // live assignments no ledger entry records
};

// Where an operation of the reapply journal stands (aws_operations).
//   unresolved:  its principal has no identity-store id yet (AWS's own sync
//                can take hours): retried at next_attempt_at, never failed;
//   pending:     resolved, not sent (or sent and refused retryably);
//   sending:     about to be sent: AWS may have it without syncd knowing its
//                RequestId (a crash); reconciled before anything is re-sent;
//   in_progress: AWS accepted it; request_id is polled;
//   succeeded, failed (reason says why).
enum class AwsOpStatus { kUnresolved, kPending, kSending, kInProgress, kSucceeded, kFailed };
const char* AwsOpStatusName(AwsOpStatus status);  // "unresolved", ...
std::optional<AwsOpStatus> ParseAwsOpStatus(std::string_view name);

// One assignment the reapply creates: `target` of the ledger entry
// `ledger_id`, for its matched principal, in one identity store.
struct AwsOperation {
  int64_t id = 0;  // 0 until saved
  std::string identity_store_id;
  int64_t ledger_id = 0;
  std::string action = "create";
  std::string target;          // the ledger's name of it
  std::string target_ref;      // its ARNs (identity_center::Target::RefJson)
  std::string principal_guid;  // raw objectGUID of the matched principal
  ObjectKind principal_kind = ObjectKind::kUser;
  std::string principal_name;
  std::string principal_id;  // "" while unresolved
  std::string request_id;    // AWS's, once it accepted the create
  AwsOpStatus status = AwsOpStatus::kUnresolved;
  std::string reason;
  int64_t attempts = 0;         // sends, or resolutions tried while unresolved
  int64_t next_attempt_at = 0;  // unix seconds: not before (backoff, next poll)
  int64_t sent_at = 0;          // unix seconds, of the last send
  int64_t created_at = 0;
  int64_t changed_at = 0;  // of the last status change (completion, for rates)
};

// How the principal of an assignment captured from IAM Identity Center
// links to AD (aws_capture):
//   linked:    to exactly one cached AD object; an active ledger entry
//              records the assignment;
//   unmatched: the principal is in the identity store, but no cached AD
//              object matches it, or several do;
//   orphan:    the principal is no longer in the identity store.
enum class AwsCaptureStatus { kLinked, kUnmatched, kOrphan };
const char* AwsCaptureStatusName(AwsCaptureStatus status);  // "linked", ...

// One assignment the last capture of an identity store found.
struct AwsCaptureRow {
  std::string target;          // as the ledger names it
  std::string target_ref;      // its ARNs (LedgerEntry::target_ref)
  std::string principal_type;  // "USER" or "GROUP"
  std::string principal_id;    // the identity store's id
  std::string principal_name;  // userName / displayName; "" for an orphan
  AwsCaptureStatus status = AwsCaptureStatus::kUnmatched;
  std::string guid;  // linked: the raw objectGUID of its AD object
  // Linked: the active ledger entry of (guid, target), found when saved.
  int64_t ledger_id = 0;
  std::string detail;  // how it linked, or why not
  int64_t captured_at = 0;
};

class StateDb {
 public:
  // Opens or creates the state at `path` and applies schema migrations.
  // read_only: never writes; a missing file reads as an empty state (used by
  // --dry-run, which must change nothing).
  static Result<std::unique_ptr<StateDb>> Open(const std::string& path, bool read_only = false);

  ~StateDb();
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;

  int SchemaVersion() const;

  // Every cached object, in GUID order (SQLite's BLOB order, which is
  // std::string's); `each` takes each one. Its error ends the walk and is
  // returned. Holds one object at a time (and the SID histories).
  Status ForEachObject(const std::function<Status(SyncObject)>& each);
  // Every cached object, sorted by GUID.
  Result<std::vector<SyncObject>> LoadObjects();
  Result<std::vector<Membership>> LoadMemberships();

  // The cached objects among `guids` (raw objectGUIDs), in no set order;
  // unknown GUIDs are skipped. Costs one indexed lookup per GUID.
  Result<std::vector<SyncObject>> LoadObjects(const std::vector<std::string>& guids);
  // guid -> identity (guid, kind, external_id, name) of the cached objects
  // among `guids`.
  Result<std::unordered_map<std::string, SyncObject>> LoadIdentities(
      const std::vector<std::string>& guids);
  // Cached memberships whose group or member is among `guids`.
  Result<std::vector<Membership>> LoadMembershipsTouching(const std::vector<std::string>& guids);
  // Object counts per kind name ("user", "group").
  Result<std::map<std::string, int64_t>> CountObjects();

  // The stored watermark; nullopt when there is none (no complete run yet, or
  // it was discarded).
  Result<std::optional<Watermark>> LoadWatermark();

  // Starts a run record ("running") and returns its id. Committed when it
  // returns: until the run's state commit finishes it, the record says the
  // run may have changed the store (UnfinishedRun).
  Result<int64_t> BeginRun(const std::string& kind, int64_t started_at);

  // A run whose record is still "running" with no journal left to resume,
  // and no full run finished "ok" since: it was killed, or stopped by an
  // error, between BeginRun and the state's commit, so what it applied (an
  // atomic store's whole batch, which journals nothing) may be in the
  // store and not in the cache, until a full reconciliation succeeds. The
  // latest such run; 0 when there is none.
  Result<int64_t> UnfinishedRun();

  // Journals the operations about to be applied, every one pending, in one
  // transaction, before the sink sees any of them. Precondition: no journal
  // is pending (of any run).
  Status WriteOutbox(int64_t run_id, const std::vector<Operation>& ops);

  // The journal of the run that did not commit (the lowest run id, after a
  // crash or a stop), every status, in seq order, with that run's id in
  // *run_id; empty with *run_id 0 when there is none.
  Result<std::vector<JournalEntry>> LoadJournal(int64_t* run_id);

  // Records the outcomes of journaled operations of `run_id` in one
  // transaction, durable when it returns. A seq the run did not journal is
  // NotFound, and nothing is recorded.
  Status MarkJournal(int64_t run_id, const std::vector<JournalMark>& marks);

  // In one transaction: stores `outcomes` when given (released first, then
  // quarantined, then sink refs), applies `ops` to the cached objects and
  // memberships (a delete also drops the object's sink reference and
  // quarantine entry), clears the run's journal, finishes the run record
  // with `record`'s outcome, counts and message, and stores `watermark` when
  // given (nullptr keeps the stored one).
  Status CommitRun(const RunRecord& record, const std::vector<Operation>& ops,
                   const Watermark* watermark = nullptr, const RunOutcomes* outcomes = nullptr);

  // CommitRun in two steps, so that the work can overlap the store's batch:
  // StageRun does all of it in a transaction it leaves open; CommitStaged
  // makes it durable; RollbackStaged drops it. One staged run at a time.
  //
  // BeginStage opens that transaction early, and StageEarly writes creates
  // and added memberships into it while the read still runs (EarlyApply);
  // StageRun then continues it, skipping the operations `staged_early`
  // flags. Reads on this connection see what is staged: load what the plan
  // needs first.
  Status StageRun(const RunRecord& record, const std::vector<Operation>& ops,
                  const Watermark* watermark = nullptr, const RunOutcomes* outcomes = nullptr,
                  const std::vector<bool>* staged_early = nullptr);
  Status BeginStage();
  Status StageEarly(std::span<const Operation> ops);
  Status CommitStaged();
  void RollbackStaged();

  // guid -> the sink's reference, for the objects among `guids` (raw
  // objectGUIDs) that have one stored; one indexed lookup per GUID.
  Result<std::unordered_map<std::string, std::string>> LoadSinkRefs(
      const std::vector<std::string>& guids);
  // Every stored guid -> sink reference.
  Result<std::unordered_map<std::string, std::string>> LoadSinkRefs();

  // The quarantined objects, users before groups, then by name.
  Result<std::vector<QuarantineEntry>> LoadQuarantine();
  // Removes and returns the quarantined objects whose name (ignoring ASCII
  // case) or externalId is `name_or_external_id`, in one transaction, so the
  // next run tries them again. NotFound when none matches.
  Result<std::vector<QuarantineEntry>> ReleaseQuarantine(const std::string& name_or_external_id);

  // Finishes a run record without touching the cache (failed or empty runs).
  Status FinishRun(const RunRecord& record);

  // Most recent first.
  Result<std::vector<RunRecord>> RecentRuns(int limit);

  // The stored watermark no longer asks for a reapply.
  Status ClearReapplyPending();

  // The assignment ledger, every status, oldest entry first.
  Result<std::vector<LedgerEntry>> LoadLedger();
  // Inserts the entries with id 0 (setting their id) and overwrites the
  // others by id, in one transaction. Fails, saving none, when it would leave
  // two active entries for one principal and target.
  Status SaveLedger(std::vector<LedgerEntry>* entries);

  // IAM Identity Center: the instance last seen and the capture of its
  // assignments (state/aws_capture.cc).
  Result<std::optional<AwsInstanceState>> LoadAwsInstance();
  Status SaveAwsInstance(const AwsInstanceState& instance);
  // In one transaction: inserts `additions` into the ledger (ids set, as
  // SaveLedger; fails, saving nothing, on a second active entry for one
  // principal and target), then replaces every capture row of
  // `identity_store_id` with `rows`, each linked row taking the id of the
  // active ledger entry of its guid and target.
  Status SaveAwsCapture(const std::string& identity_store_id, std::vector<LedgerEntry>* additions,
                        const std::vector<AwsCaptureRow>& rows);
  // The capture rows of `identity_store_id`: unmatched, orphan, then
  // linked; by target and principal within each.
  Result<std::vector<AwsCaptureRow>> LoadAwsCapture(const std::string& identity_store_id);

  // IAM Identity Center: the identity-store ids of principals and the
  // reapply journal (state/aws_reapply.cc).
  // The resolved principals of one identity store.
  Result<std::vector<AwsPrincipalId>> LoadAwsPrincipals(const std::string& identity_store_id);
  // Upserts by (identity store, guid), in one transaction.
  Status SaveAwsPrincipals(const std::string& identity_store_id,
                           const std::vector<AwsPrincipalId>& principals);
  // Forgets ids the store no longer knows (a principal deleted and
  // re-created gets a new one).
  Status DropAwsPrincipals(const std::string& identity_store_id,
                           const std::vector<std::string>& guids);
  // nullopt when syncd has not reapplied into that store yet.
  Result<std::optional<AwsIdentityStoreState>> LoadAwsIdentityStore(
      const std::string& identity_store_id);
  Status SaveAwsIdentityStore(const AwsIdentityStoreState& store);
  // The reapply journal of one identity store, oldest first.
  Result<std::vector<AwsOperation>> LoadAwsOperations(const std::string& identity_store_id);
  // Inserts the operations with id 0 (setting their id) and overwrites the
  // others by id, in one transaction, durable when it returns. An insert
  // that repeats (identity store, action, target, principal) is refused.
  Status SaveAwsOperations(std::vector<AwsOperation>* operations);

 private:
  struct Impl;
  explicit StateDb(std::unique_ptr<Impl> impl);
  // StageRun's writes, in the open transaction.
  Status StageRunInOpenTransaction(const RunRecord& record, const std::vector<Operation>& ops,
                                   const Watermark* watermark, const RunOutcomes* outcomes,
                                   const std::vector<bool>* staged_early);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncd

#endif  // SYNCD_STATE_STATE_DB_H_
