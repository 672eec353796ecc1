#include "syncd/status.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <ctime>
#include <map>
#include <optional>

#include "core/strings.h"
#include "ldap/codec.h"
#include "state/state_db.h"
#include "store/factory.h"
#include "syncd/aws_reapply.h"
#include "syncd/sync_policy.h"

namespace syncd {
namespace {

namespace json = boost::json;

json::object RunJson(const RunRecord& run) {
  json::object counts;
  for (const auto& [name, n] : run.counts) counts[name] = n;
  return {{"id", run.id},
          {"outcome", run.outcome},
          {"started_at", run.started_at},
          {"finished_at", run.finished_at},
          {"duration_seconds", run.finished_at > 0 ? run.finished_at - run.started_at : 0},
          {"counts", std::move(counts)},
          {"message", run.message}};
}

}  // namespace

Status PrintStatus(std::ostream& out, const Config& config, bool json_output) {
  auto state = StateDb::Open(config.state_path, /*read_only=*/true);
  if (!state.ok()) return state.status();
  auto watermark = (*state)->LoadWatermark();
  if (!watermark.ok()) return watermark.status();
  // The last run of each kind, from a generous window of recent runs.
  auto runs = (*state)->RecentRuns(500);
  if (!runs.ok()) return runs.status();
  std::map<std::string, RunRecord> last;
  for (const auto& run : *runs) last.try_emplace(run.kind, run);
  int64_t run_id = 0;
  auto journal = (*state)->LoadJournal(&run_id);
  if (!journal.ok()) return journal.status();
  std::vector<const JournalEntry*> pending_entries;
  for (const auto& e : *journal) {
    if (e.status == JournalStatus::kPending) pending_entries.push_back(&e);
  }
  const auto* pending = &pending_entries;
  auto quarantine = (*state)->LoadQuarantine();
  if (!quarantine.ok()) return quarantine.status();
  auto counts = (*state)->CountObjects();
  if (!counts.ok()) return counts.status();
  auto ledger = (*state)->LoadLedger();
  if (!ledger.ok()) return ledger.status();
  std::map<std::string, int64_t> assignments;  // status -> entries
  for (const auto& e : *ledger) ++assignments[LedgerStatusName(e.status)];
  // The store, read without creating it; a remote one is asked over the
  // network, on a loop of this command's own.
  boost::asio::io_context loop;
  auto peeked = boost::asio::co_spawn(loop, PeekStore(loop.get_executor(), config.store),
                                      boost::asio::use_future);
  loop.run();
  auto store = peeked.get();
  if (!store.ok()) return store.status();
  int64_t cached = 0;
  for (const auto& [kind, n] : *counts) cached += n;
  // Whether the store is still the one the state describes (ChooseRun's rule).
  const std::string mismatch = *watermark ? StoreMismatch(**watermark, *store, cached) : "";

  const std::optional<Watermark>& w = *watermark;
  if (json_output) {
    json::object root;
    root["state"] = config.state_path;
    root["configured_feed"] = ChangeFeedName(config.source.change_feed);
    root["feed"] = w ? json::value(w->feed) : json::value(nullptr);
    root["object_security"] = w && w->object_security;
    root["dc"] = w ? json::value(w->dc_host) : json::value(nullptr);
    root["naming_context"] = w ? json::value(w->naming_context) : json::value(nullptr);
    root["domain_sid"] =
        w ? json::value(ldap::SidToString(w->domain_sid).value_or("")) : json::value(nullptr);
    root["invocation_id"] =
        w ? json::value(ldap::GuidToString(w->invocation_id).value_or("")) : json::value(nullptr);
    json::object mark;
    if (w) {
      if (w->feed == "usn") mark["usn"] = w->highest_usn;
      if (w->feed == "dirsync") mark["cookie_bytes"] = static_cast<int64_t>(w->cookie.size());
      mark["revisit"] = static_cast<int64_t>(w->revisit.size());
    }
    root["watermark"] = std::move(mark);
    root["last_success"] = w ? w->last_success : 0;
    root["last_full"] = w ? w->last_full : 0;
    root["tombstone_lifetime_days"] = w ? w->tombstone_lifetime_days : 0;
    json::object by_kind;
    for (const auto& [kind, run] : last) by_kind[kind] = RunJson(run);
    root["runs"] = std::move(by_kind);
    root["pending_operations"] = static_cast<int64_t>(pending->size());
    json::array quarantined;
    for (const auto& e : *quarantine) {
      quarantined.push_back(json::object{{"kind", KindName(e.kind)},
                                         {"name", e.name},
                                         {"externalId", e.external_id},
                                         {"since", UtcTimestamp(e.since)},
                                         {"reason", e.reason}});
    }
    root["quarantined"] = std::move(quarantined);
    json::object objects;
    for (const auto& [kind, n] : *counts) objects[kind] = n;
    root["objects"] = std::move(objects);
    json::object ledger_counts;
    for (const auto& [status, n] : assignments) ledger_counts[status] = n;
    root["assignments"] = std::move(ledger_counts);
    auto aws = AwsStatusJson(**state);
    if (!aws.ok()) return aws.status();
    root["aws"] = std::move(*aws);
    json::object store_json{
        {"kind", config.store.kind},
        {"path", config.store.kind == "local" ? config.store.path : config.store.url},
        {"exists", store->has_value()},
        {"id", *store ? (*store)->id : ""},
        {"holds_owned", *store && (*store)->holds_owned},
        {"state_records", w ? w->store_id : ""},
        {"mismatch", mismatch}};
    root["store"] = std::move(store_json);
    out << json::serialize(root) << "\n";
    return Status::Ok();
  }

  out << "state: " << config.state_path << "\n";
  out << "store: "
      << (config.store.kind == "local" ? config.store.path
                                       : config.store.kind + " " + config.store.url);
  if (*store) {
    out << " (id " << ((*store)->id.empty() ? "none yet" : (*store)->id) << ", "
        << ((*store)->holds_owned ? "holds syncd's objects" : "holds none of syncd's objects")
        << ")";
  }
  out << (mismatch.empty() ? "" : "; " + mismatch + ": the next run is a full reconciliation")
      << "\n";
  if (!w) {
    out << "change feed: none yet (configured: " << ChangeFeedName(config.source.change_feed)
        << "); the next run is a full reconciliation\n";
  } else {
    out << "change feed: " << w->feed << (w->object_security ? " (OBJECT_SECURITY)" : "")
        << ", configured " << ChangeFeedName(config.source.change_feed) << "\n";
    out << "dc: " << TerminalSafe(w->dc_host) << " (invocationId "
        << ldap::GuidToString(w->invocation_id).value_or("?") << ")\n";
    out << "naming context: " << TerminalSafe(w->naming_context);
    if (auto sid = ldap::SidToString(w->domain_sid)) out << " (domain SID " << *sid << ")";
    out << "\n";
    out << "watermark: "
        << (w->feed == "usn" ? "highestCommittedUSN " + std::to_string(w->highest_usn)
                             : "DirSync cookie of " + std::to_string(w->cookie.size()) + " bytes")
        << (w->revisit.empty() ? ""
                               : ", " + std::to_string(w->revisit.size()) + " objects to revisit")
        << "\n";
    out << "last success: " << UtcTimestamp(w->last_success)
        << ", last full reconciliation: " << UtcTimestamp(w->last_full) << ", tombstone lifetime "
        << w->tombstone_lifetime_days << " days\n";
  }
  for (const char* kind : {"full", "incremental"}) {
    auto it = last.find(kind);
    out << "last " << kind << " run: ";
    if (it == last.end()) {
      out << "never\n";
      continue;
    }
    const RunRecord& run = it->second;
    out << run.outcome << " at " << UtcTimestamp(run.started_at) << ", "
        << (run.finished_at > 0 ? std::to_string(run.finished_at - run.started_at) + " s"
                                : "running");
    for (const auto& [name, n] : run.counts) out << ", " << name << " " << n;
    if (!run.message.empty()) out << " (" << TerminalSafe(run.message) << ")";
    out << "\n";
  }
  out << "objects: ";
  bool first = true;
  for (const auto& [kind, n] : *counts) {
    out << (first ? "" : ", ") << n << " " << kind << "s";
    first = false;
  }
  out << (first ? "none" : "") << "\n";
  out << "pending operations: " << pending->size()
      << (pending->empty() ? "" : " (run " + std::to_string(run_id) + " was interrupted)") << "\n";
  out << "quarantined: " << quarantine->size()
      << (quarantine->empty() ? ""
                              : " (kept out of the store until AD changes them; "
                                "syncd quarantine retry NAME sends one again)")
      << "\n";
  for (const auto& e : *quarantine) {
    out << "  " << KindName(e.kind) << " " << TerminalSafe(e.name) << ": " << TerminalSafe(e.reason)
        << "\n";
  }
  out << "assignments: ";
  first = true;
  for (const auto& [status, n] : assignments) {
    out << (first ? "" : ", ") << n << " " << status;
    first = false;
  }
  out << (first ? "none recorded" : "") << "\n";
  return PrintAwsStatus(**state, out);
}

}  // namespace syncd
