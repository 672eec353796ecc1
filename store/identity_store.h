// The identity-store interface every sink implements, and the embedded local
// store (the default sink).
#ifndef SYNCD_STORE_IDENTITY_STORE_H_
#define SYNCD_STORE_IDENTITY_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"

namespace syncd {

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
};

// An object as the store holds it.
struct StoredObject {
  ObjectKind kind = ObjectKind::kUser;
  std::string external_id;
  std::string name;  // userName / displayName
  Attributes attributes;
  bool managed = true;  // created by syncd
};

// The embedded identity store: one SQLite file with users, groups, direct
// memberships and an effective (transitive) membership view.
class LocalStore : public IdentityStore {
 public:
  // Opens or creates the store at `path`, migrating its schema.
  // With read_only, a missing file is an error and nothing is written.
  static Result<std::unique_ptr<LocalStore>> Open(const std::string& path, bool read_only = false);

  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  Status Begin() override;
  Status Apply(const Operation& op) override;
  Status Commit() override;
  void Rollback() override;

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
