// The sink port: what every identity store syncd writes to implements (the
// embedded local store, a SCIM 2.0 service, ...), and the shapes of what a
// store holds.
//
// A sink applies plan operations one request at a time and says, for each
// operation, what became of it. Remote stores throttle, fail one object at a
// time, assign their own ids and cannot roll a batch back: partial failure is
// an outcome, not an error. A store that can make a whole batch atomic (the
// local store) says so in its capabilities.
#ifndef SYNCD_STORE_SINK_H_
#define SYNCD_STORE_SINK_H_

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
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
  bool managed = true;  // created (or adopted) by syncd
  std::string ref;      // the store's own reference for it (a SCIM id); "" when it has none
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
  // False when the store cannot list its groups' members (IAM Identity
  // Center's GET /Groups has none): `memberships` is then empty, and a full
  // reconciliation takes memberships from the state's cache.
  bool memberships_complete = true;
};

// What a sink can do. The apply module and the planner adapt to it.
struct SinkCapabilities {
  // BeginBatch/CommitBatch make a whole run's operations atomic: after a
  // crash either all of them or none is visible.
  bool atomic_batches = false;
  // Membership changes of one group that one request can carry; the apply
  // module hands the sink up to this many add (or remove) operations of one
  // group at once. At least 1.
  size_t members_per_request = 1;
  // Groups may be members of groups. Without it, memberships are flattened
  // to each group's effective user members.
  bool nested_groups = true;
  // Defaults for [store] max_in_flight and rate_limit (requests/s; 0: none).
  int max_in_flight = 1;
  double rate_limit = 0;
};

// What became of one operation.
//   applied: the store holds the change (`ref`: the store's reference for
//            the operation's object, when it made or found one);
//   refused: wrong for this store, whatever the retry: missing or bad data,
//            a conflict with an object syncd does not own. The object is
//            quarantined with `reason`; the rest of the run applies.
//   retry:   throttled, 5xx, timeout, connection lost: try again, not
//            before `retry_after` when the store said so;
//   fatal:   authentication, configuration, a broken store: stop the run.
struct OpOutcome {
  enum class Kind { kApplied, kRefused, kRetry, kFatal };

  Kind kind = Kind::kApplied;
  std::string ref;
  std::string reason;
  std::optional<std::chrono::milliseconds> retry_after;

  static OpOutcome Applied(std::string ref = {}) {
    return {Kind::kApplied, std::move(ref), {}, {}};
  }
  static OpOutcome Refused(std::string reason) {
    return {Kind::kRefused, {}, std::move(reason), {}};
  }
  static OpOutcome Retry(std::string reason,
                         std::optional<std::chrono::milliseconds> after = std::nullopt) {
    return {Kind::kRetry, {}, std::move(reason), after};
  }
  static OpOutcome Fatal(std::string reason) { return {Kind::kFatal, {}, std::move(reason), {}}; }
};

constexpr const char* OutcomeName(OpOutcome::Kind kind) {
  switch (kind) {
    case OpOutcome::Kind::kApplied:
      return "applied";
    case OpOutcome::Kind::kRefused:
      return "refused";
    case OpOutcome::Kind::kRetry:
      return "retry";
    case OpOutcome::Kind::kFatal:
      return "fatal";
  }
  return "?";
}

// An operation as a sink receives it: the plan's operation and the store's
// references for the objects it names, as far as syncd knows them ("" when
// it does not: never written to this store, or a store that needs none).
struct SinkOp {
  const Operation* op = nullptr;  // not owned; outlives the call
  std::string object_ref;         // of op->object (the group, for memberships)
  std::string member_ref;         // of op->member
};

// An identity store syncd writes to.
//
// Every operation is idempotent: a create adopts the object syncd already
// made with the same externalId (after a crash, say), a delete of an absent
// object and an add of an existing membership are applied. A sink never
// changes or deletes an object syncd neither created nor adopted: such an
// operation is refused and names the object.
//
// Threading: a sink is used from one executor (its event loop, or one
// worker) at a time; calls may overlap there up to max_in_flight.
class Sink {
 public:
  virtual ~Sink() = default;

  virtual const SinkCapabilities& capabilities() const = 0;
  // What the store is, for messages: "local store /var/lib/syncd/store.db".
  virtual std::string Describe() const = 0;

  virtual boost::asio::awaitable<Result<StoreIdentity>> Identify() = 0;
  // Every object syncd owns in the store, and the memberships of its groups.
  virtual boost::asio::awaitable<Result<OwnedContents>> ReadOwned() = 0;

  // Applies `ops` as one request: a single operation, or up to
  // members_per_request memberships of one group that are all adds or all
  // removes. Returns one outcome per operation, in order.
  virtual boost::asio::awaitable<std::vector<OpOutcome>> Apply(std::span<const SinkOp> ops) = 0;

  // Atomic batches, for sinks whose capabilities say so: what Apply does
  // between BeginBatch and CommitBatch becomes visible at once, or (on
  // AbortBatch, a failed commit, a crash) not at all.
  virtual Status BeginBatch() { return Status::Internal(Describe() + " has no atomic batches"); }
  virtual Status CommitBatch() { return Status::Internal(Describe() + " has no atomic batches"); }
  virtual void AbortBatch() {}
};

// A target granted to a principal of the store (a user or a group, by
// externalId). The target is opaque: a permission set, a role, an app.
struct StoredAssignment {
  ObjectKind kind = ObjectKind::kUser;
  std::string external_id;
  std::string target;
  auto operator<=>(const StoredAssignment&) const = default;
};

// A store that holds assignments. Assign and Unassign are idempotent and go
// between Begin and Commit (Rollback drops what they did); deleting a
// principal drops its assignments, as identity services do when a source
// switch deletes users.
class AssignmentSink {
 public:
  virtual ~AssignmentSink() = default;

  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;

  virtual Result<std::vector<StoredAssignment>> ListAssignments() = 0;
  // NotFound when the store has no such principal.
  virtual Status Assign(const StoredAssignment& assignment) = 0;
  virtual Status Unassign(const StoredAssignment& assignment) = 0;
};

}  // namespace syncd

#endif  // SYNCD_STORE_SINK_H_
