// The data that crosses modules: the mapped image of a directory object and
// the operations of a sync plan.
//
// A SyncObject is what syncd wants the identity store to hold for one AD
// object, after scope evaluation and attribute mapping. The state cache keeps
// the last image applied; the engine diffs a fresh read against it.
#ifndef SYNCD_CORE_MODEL_H_
#define SYNCD_CORE_MODEL_H_

#include <array>
#include <atomic>
#include <boost/container/flat_map.hpp>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/box.h"

namespace syncd {

enum class ObjectKind { kUser, kGroup };

const char* KindName(ObjectKind kind);  // "user" / "group"
std::optional<ObjectKind> ParseKind(const std::string& name);

// Store attribute name -> value. Multi-valued store attributes are not needed
// yet; booleans are "true"/"false". Sorted by name in one block: an object
// has about ten, and a node for each (std::map) made them most of a mapped
// object's memory.
using Attributes = boost::container::flat_map<std::string, std::string>;

// What the source says of an object beyond its identity and its image:
// where it was read, and the keys that match it after a source switch or a
// domain migration. A full plan holds most objects by identity alone (twins,
// the ends of memberships), and these fields were more than half of such an
// object's size, so a SyncObject keeps them in a Box.
struct SourceDetails {
  std::string dn;                        // informational only; never a key
  std::string sid;                       // raw objectSid
  std::vector<std::string> sid_history;  // raw SIDs
  std::string sam_account_name;
  std::string user_principal_name;
  std::string mail;
  std::string consistency_guid;  // raw mS-DS-ConsistencyGuid; survives forest moves
  bool operator==(const SourceDetails&) const = default;
};

struct SyncObject {
  std::string guid;  // raw 16-byte objectGUID: the identity key
  ObjectKind kind = ObjectKind::kUser;
  std::string external_id;  // objectGUID in its dashed string form
  std::string name;         // what people see: userName for users, displayName for groups
  Attributes attributes;    // mapped store attributes (userName, displayName, ...)
  // Read as source->sid; set with source.Mutable().sid = ...
  Box<SourceDetails> source;
  bool operator==(const SyncObject&) const = default;  // every field
};

// A short stable digest of what syncd wants the store to hold for `o`
// (kind, name and mapped attributes): the same image gives the same
// fingerprint in every run and build.
std::string Fingerprint(const SyncObject& o);

// The domain part of an account SID (raw bytes, the last sub-authority
// dropped); "" when `sid` is not a well-formed SID with a sub-authority.
std::string DomainSidOf(std::string_view sid);
// The DNS domain of a DN: "corp.example.com" for ...,DC=corp,DC=example,DC=com
// (lower case); "" when the DN has no DC= component.
std::string DnsDomainOf(std::string_view dn);

// A raw objectGUID held in place. A membership holds two and a large
// directory has hundreds of thousands of them, while a std::string of 16
// bytes allocates (its inline buffer holds 15). Any key of up to kCapacity
// bytes fits (tests use readable ones); ordered and compared as the bytes
// themselves, as a std::string would be. 17 bytes, aligned to 1: a
// membership is 34 (a capacity of 23 made it 48, 3 MB more at 100,000 users).
class GuidBytes {
 public:
  static constexpr size_t kCapacity = 16;

  GuidBytes() = default;
  // Precondition: bytes.size() <= kCapacity; a longer key throws
  // std::length_error. A raw objectGUID is 16 bytes: data from outside
  // (a state file) is checked with Fits() first.
  GuidBytes(std::string_view bytes);   // NOLINT(google-explicit-constructor)
  GuidBytes(const std::string& bytes)  // NOLINT(google-explicit-constructor)
      : GuidBytes(std::string_view(bytes)) {}
  GuidBytes(const char* bytes)  // NOLINT(google-explicit-constructor)
      : GuidBytes(std::string_view(bytes)) {}

  static bool Fits(std::string_view bytes) { return bytes.size() <= kCapacity; }

  std::string_view view() const { return {bytes_.data(), size_}; }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  std::string str() const { return std::string(view()); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  friend bool operator==(const GuidBytes& a, const GuidBytes& b) { return a.view() == b.view(); }
  friend std::strong_ordering operator<=>(const GuidBytes& a, const GuidBytes& b) {
    return a.view() <=> b.view();
  }

 private:
  std::array<char, kCapacity> bytes_{};
  uint8_t size_ = 0;
};

// A direct membership edge between two in-scope objects, both by raw GUID.
struct Membership {
  GuidBytes group_guid;
  GuidBytes member_guid;
  auto operator<=>(const Membership&) const = default;
};

enum class OpType { kCreate, kUpdate, kDelete, kAddMember, kRemoveMember };

const char* OpName(OpType op);  // "create", "update", "delete", "add-member", "remove-member"
std::optional<OpType> ParseOp(const std::string& name);

struct AttributeChange {
  std::string attribute;
  std::optional<std::string> old_value;  // nullopt: the attribute was absent
  std::optional<std::string> new_value;  // nullopt: the attribute is removed
  bool operator==(const AttributeChange&) const = default;
};

// What names `o` in a membership: guid, kind, external_id and name.
SyncObject IdentityOf(const SyncObject& o);

// An operation's object, shared rather than copied: a plan's membership
// operations refer to the objects they name (a full plan: the images its
// creates and updates hold; an incremental one: one identity per object),
// so a plan of a large directory costs a few pointers an edge.
//
// A shared, immutable SyncObject with its reference count beside it: one
// pointer, where a std::shared_ptr is two. A plan of 100,000 users holds
// 334,000 operations of two each (5 MB less at the plan's peak). Copies
// may be made and dropped on any thread (the count is atomic); the object
// is never written after MakeObjectRef.
class ObjectRef {
 public:
  ObjectRef() = default;
  ObjectRef(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
  ObjectRef(const ObjectRef& other) : shared_(other.shared_) { Retain(); }
  ObjectRef(ObjectRef&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)) {}
  ObjectRef& operator=(ObjectRef other) noexcept {
    std::swap(shared_, other.shared_);
    return *this;
  }
  ~ObjectRef() { Release(); }

  const SyncObject* get() const { return shared_ == nullptr ? nullptr : &shared_->object; }
  const SyncObject& operator*() const { return shared_->object; }
  const SyncObject* operator->() const { return &shared_->object; }
  explicit operator bool() const { return shared_ != nullptr; }
  void reset() { ObjectRef().swap(*this); }
  void swap(ObjectRef& other) noexcept { std::swap(shared_, other.shared_); }
  // How many ObjectRefs share the object (0 for none): for tests.
  uint32_t use_count() const {
    return shared_ == nullptr ? 0 : shared_->references.load(std::memory_order_relaxed);
  }

  friend bool operator==(const ObjectRef& a, const ObjectRef& b) { return a.shared_ == b.shared_; }
  friend bool operator==(const ObjectRef& a, std::nullptr_t) { return a.shared_ == nullptr; }

  friend ObjectRef MakeObjectRef(SyncObject object);

 private:
  struct Shared {
    explicit Shared(SyncObject o) : object(std::move(o)) {}
    std::atomic<uint32_t> references{1};
    const SyncObject object;
  };
  explicit ObjectRef(Shared* shared) : shared_(shared) {}
  void Retain() const {
    if (shared_ != nullptr) shared_->references.fetch_add(1, std::memory_order_relaxed);
  }
  void Release() {
    // acq_rel: the last owner sees every other owner's reads finished.
    if (shared_ != nullptr && shared_->references.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete shared_;
    }
  }

  Shared* shared_ = nullptr;
};

inline ObjectRef MakeObjectRef(SyncObject object) {
  return ObjectRef(new ObjectRef::Shared(std::move(object)));
}

// What a full read keeps of an object whose image is held elsewhere (a
// store's batch, a file) until the plan is printed: its identity
// (IdentityOf), not even its DN, which the scope keeps while it needs it.
inline ObjectRef TwinOf(const SyncObject& object) { return MakeObjectRef(IdentityOf(object)); }

// One step of a plan. Every operation is idempotent on the store: applying it
// twice has the effect of applying it once.
struct Operation {
  OpType op = OpType::kCreate;
  ObjectKind kind = ObjectKind::kUser;        // of the object, or of the group for memberships
  ObjectRef object;                           // never null in a plan. create/update: the full
                                              // new image; delete: the cached image;
                                              // memberships: the group (only its identity,
                                              // IdentityOf, is used or journaled)
  Box<std::vector<AttributeChange>> changes;  // update only (a box: most operations have none)
  ObjectRef member;                           // add-member / remove-member: the member (only
                                              // its identity counts); null otherwise
};

// An add-member or remove-member: about an edge, not an object.
inline bool IsMembership(const Operation& op) {
  return op.op == OpType::kAddMember || op.op == OpType::kRemoveMember;
}

struct HeldOperation {
  Operation operation;
  std::string reason;
};

struct Plan {
  std::vector<Operation> operations;  // in apply order
  std::vector<HeldOperation> held;    // not applied; reported
  // Not applied: their object's last image was refused by the store and
  // has not changed since (syncd quarantine); reported.
  std::vector<HeldOperation> quarantined;
  bool read_complete = true;
  std::string incomplete_reason;
  std::string run_kind;    // "full" or "incremental"
  std::string run_reason;  // why a full reconciliation was chosen

  bool empty() const { return operations.empty() && held.empty() && quarantined.empty(); }
};

}  // namespace syncd

#endif  // SYNCD_CORE_MODEL_H_
