// The Source port: where a sync run reads what the identity store should
// hold. A Source is opened for one run, connected to one server of the
// directory, which it keeps for the run. The run asks it whether the cursor a
// previous run stored (the watermark) still serves, fixes where it starts
// (Begin), reads everything or only what changed, and finally takes the
// position to store once what it read has landed. Implementations:
// source/ad/ (Active Directory over LDAP).
//
// A run's flow, with the policy (syncd/sync_policy.h) deciding between the
// two reads:
//
//   auto source = co_await Open...(...);        // connected, bound
//   CursorCheck check = source->Check(stored, now);
//   auto start = co_await source->Begin(incremental ? &stored : nullptr);
//   full ? co_await source->ReadAll(&stats, in_scope)
//        : co_await source->ReadChanges(is_cached, &stats);
//   source->Position(&next);                    // stored with the run
#ifndef SYNCD_SOURCE_SOURCE_H_
#define SYNCD_SOURCE_SOURCE_H_

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/status.h"
#include "scope/scope.h"
#include "state/state_db.h"

namespace syncd {

struct ReadStats {
  size_t entries = 0;
  int pages = 0;
  int range_reads = 0;
};

// Everything in scope, from a full read.
struct ReadSnapshot {
  scope::ScopeResult desired;
  bool complete = true;           // every search finished with success
  std::string incomplete_reason;  // why not, when !complete
};

// What an incremental read learned about the objects a change feed named.
struct IncrementalRead {
  std::vector<SyncObject> present;  // named objects in scope now, mapped
  // Raw GUIDs of named objects not in scope now (deleted, moved out,
  // filtered out, excluded): their cached images go.
  std::set<std::string> absent;
  // Named objects read but left unmapped (see warnings): still in AD, so
  // kept as they are, never deleted.
  std::set<std::string> skipped;
  // Member side, for each present object: every group it is a direct member
  // of now (memberOf plus its primary group), by raw GUID.
  std::map<std::string, std::set<std::string>> member_of;
  // Group side, for groups whose whole member list was read.
  std::map<std::string, std::set<std::string>> members;
  // Group side, for the other changed groups: values added and removed.
  struct Delta {
    std::set<std::string> added, removed;
  };
  std::map<std::string, Delta> member_deltas;
  bool complete = true;
  std::string incomplete_reason;
};

// What a source makes of the cursor a previous run stored.
struct CursorCheck {
  // Non-empty: this is another directory than the one the cursor (and the
  // cache) came from, described for the log: a source switch.
  std::string other_source;
  // Non-empty: why the cursor cannot serve an incremental read here (another
  // server answered, its history may have lost deletions, ...).
  std::string stale;
};

// Where a run starts (Source::Begin).
struct RunStart {
  // Non-empty: the incremental run must be a full one after all (the source
  // rejected the cursor, the scope cannot be evaluated from changes alone);
  // the new starting point is taken, so ReadAll follows.
  std::string full_reason;
  // Incremental: the source reports no change since the cursor.
  bool nothing_changed = false;
};

class Source {
 public:
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  virtual ~Source() = default;

  // Who answered, for logs and the run result ("ldaps://dc1.corp.example.com").
  virtual const std::string& where() const = 0;

  // Pure: whether `stored` can serve an incremental read from here at `now`
  // (unix seconds). The run policy weighs this with its own rules.
  virtual CursorCheck Check(const Watermark& stored, int64_t now) const = 0;

  // Fixes the run's starting point; once per run, before any read.
  // `from` given (incremental): learns what changed since `from`; a cursor
  // the source no longer accepts makes the run full (full_reason).
  // `from` null (full): takes the next run's starting point before the full
  // read, so that nothing changed during the read is missed.
  // Errors: the source failed, or refuses the configured change feed.
  virtual boost::asio::awaitable<Result<RunStart>> Begin(const Watermark* from) = 0;

  // Every object in scope with its memberships. A failed search leaves the
  // snapshot incomplete (with the reason) rather than failing: what was read
  // is still good for creates and updates. `in_scope` (may be empty) sees
  // each object as soon as the scope knows it is in, while the read goes on.
  virtual boost::asio::awaitable<Result<ReadSnapshot>> ReadAll(
      ReadStats* stats, const scope::Evaluator::InScope& in_scope) = 0;

  // After an incremental Begin: the current state of the objects that
  // changed, evaluated against the scope. `is_cached` says whether the state
  // knows an object (raw GUID): for a known group, the member values added
  // and removed may be enough.
  virtual boost::asio::awaitable<Result<IncrementalRead>> ReadChanges(
      const std::function<bool(const std::string&)>& is_cached, ReadStats* stats) = 0;

  // The position this run leaves, valid after Begin: writes the source's
  // fields of `next` (which directory and server, the change feed and its
  // cursor) and leaves the run's own (scope, store, times) alone.
  virtual void Position(Watermark* next) const = 0;

 protected:
  Source() = default;
};

// Change notifications: only a wake-up, never a source of truth (a run reads
// what changed). A watch holds until it fails or what it watches changes.
struct WatchEnd {
  Status why;
  // Not a failure: what is watched changed (a new container): register
  // again at once.
  bool rewatch = false;
};

}  // namespace syncd

#endif  // SYNCD_SOURCE_SOURCE_H_
