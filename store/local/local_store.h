// The embedded local store: the default sink, and a local mirror for people
// who want one.
#ifndef SYNCD_STORE_LOCAL_LOCAL_STORE_H_
#define SYNCD_STORE_LOCAL_LOCAL_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "store/sink.h"

namespace syncd {

// The embedded identity store: one SQLite file with users, groups, direct
// memberships, an effective (transitive) membership view and assignments.
//
// As a sink it has atomic batches and needs no references of its own. The
// synchronous Begin/Apply/Commit/Rollback are its own API, for the
// assignment commands, which change it without a run.
class LocalStore : public Sink, public AssignmentSink {
 public:
  // Opens or creates the store at `path`, migrating its schema.
  // With read_only, a missing file is an error and nothing is written.
  static Result<std::unique_ptr<LocalStore>> Open(const std::string& path, bool read_only = false);

  // Who the store at `path` is, without creating or migrating anything:
  // nullopt when there is no file; an empty or never-migrated file holds
  // nothing; a store from before stores had ids has an empty id.
  static Result<std::optional<StoreIdentity>> Peek(const std::string& path);

  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  // The sink port. Apply runs each operation in its own savepoint.
  const SinkCapabilities& capabilities() const override;
  std::string Describe() const override;
  boost::asio::awaitable<Result<StoreIdentity>> Identify() override;
  boost::asio::awaitable<Result<OwnedContents>> ReadOwned() override;
  boost::asio::awaitable<std::vector<OpOutcome>> Apply(std::span<const SinkOp> ops) override;
  Status BeginBatch() override { return Begin(); }
  Status CommitBatch() override { return Commit(); }
  void AbortBatch() override { Rollback(); }

  // The same, synchronously. A store failure (SQLite) is an error; an
  // operation wrong for the store is kConflict, kInvalidArgument or
  // kNotFound.
  Status Begin() override;
  Status Apply(const Operation& op);
  Status Commit() override;
  void Rollback() override;
  Result<StoreIdentity> IdentifyNow();
  Result<OwnedContents> ReadOwnedNow();

  // Sorted by externalId, then target.
  Result<std::vector<StoredAssignment>> ListAssignments() override;
  Status Assign(const StoredAssignment& assignment) override;
  Status Unassign(const StoredAssignment& assignment) override;

  // Listings, sorted by name.
  Result<std::vector<StoredObject>> List(ObjectKind kind);
  // Members of the group whose displayName or externalId is `group`.
  // effective: transitive members through nested groups, users and groups.
  Result<std::vector<StoredObject>> Members(const std::string& group, bool effective);

 private:
  static OpOutcome OutcomeOf(const Status& st);

  struct Impl;
  explicit LocalStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncd

#endif  // SYNCD_STORE_LOCAL_LOCAL_STORE_H_
