// The identity-store interface every sink implements, and the embedded local
// store (the default sink).
#ifndef SYNCD_STORE_IDENTITY_STORE_H_
#define SYNCD_STORE_IDENTITY_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace syncd {

// An object as the store holds it.
struct StoredObject {
  ObjectKind kind = ObjectKind::kUser;
  std::string external_id;
  std::string name;  // userName / displayName
  Attributes attributes;
  bool managed = true;  // created by syncd
};

// Who a store is: an identifier made once, when the store was created, so a
// state can tell that its store was replaced or recreated, and whether it
// holds any object of syncd's own (created or adopted). Cheap: every run
// asks.
struct StoreIdentity {
  std::string id;
  bool holds_owned = false;
};

// A direct membership as a store holds it, by externalId.
struct StoredMembership {
  std::string group_external_id;
  std::string member_external_id;
  auto operator<=>(const StoredMembership&) const = default;
};

// What a store holds of syncd's own objects: the truth a full
// reconciliation diffs against, so that a lost state, a wiped store or
// values changed behind syncd's back converge.
struct OwnedContents {
  std::vector<StoredObject> objects;          // syncd's own only
  std::vector<StoredMembership> memberships;  // of syncd's own groups
};

// A sink for plan operations. Operations are idempotent: create adopts an
// object syncd already created with the same externalId, delete of an absent
// object succeeds, add-member of an existing edge succeeds. A store never
// changes an object syncd did not create: such an operation fails with
// kConflict and names the object.
//
// Begin/Commit bracket a batch. Stores that can (the local store) make the
// batch atomic: after a crash either all of it or none of it is visible.
// Stores that cannot apply each operation as it comes.
class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  virtual Status Begin() = 0;
  virtual Status Apply(const Operation& op) = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;

  virtual Result<StoreIdentity> Identify() = 0;
  // Every object syncd owns in the store, and the memberships of its groups.
  virtual Result<OwnedContents> ReadOwned() = 0;
};

// A target granted to a principal of the store (a user or a group, by
// externalId). The target is opaque: a permission set, a role, an app.
struct StoredAssignment {
  ObjectKind kind = ObjectKind::kUser;
  std::string external_id;
  std::string target;
  auto operator<=>(const StoredAssignment&) const = default;
};

// A sink that holds assignments. Assign and Unassign are idempotent and go
// inside Begin/Commit like operations; deleting a principal drops its
// assignments, as identity services do when a source switch deletes users.
class AssignmentSink {
 public:
  virtual ~AssignmentSink() = default;

  virtual Result<std::vector<StoredAssignment>> ListAssignments() = 0;
  // NotFound when the store has no such principal.
  virtual Status Assign(const StoredAssignment& assignment) = 0;
  virtual Status Unassign(const StoredAssignment& assignment) = 0;
};

// The embedded identity store: one SQLite file with users, groups, direct
// memberships, an effective (transitive) membership view and assignments.
class LocalStore : public IdentityStore, public AssignmentSink {
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

  Status Begin() override;
  Status Apply(const Operation& op) override;
  Status Commit() override;
  void Rollback() override;
  Result<StoreIdentity> Identify() override;
  Result<OwnedContents> ReadOwned() override;

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
  struct Impl;
  explicit LocalStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncd

#endif  // SYNCD_STORE_IDENTITY_STORE_H_
