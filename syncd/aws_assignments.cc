#include "syncd/aws_assignments.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <exception>
#include <map>
#include <set>
#include <utility>

#include "core/log.h"
#include "core/strings.h"
#include "store/aws/capture.h"
#include "syncd/aws_reapply.h"
#include "syncd/engine.h"

namespace syncd {
namespace asio = boost::asio;
namespace json = boost::json;
namespace ic = identity_center;

Result<AwsSession> OpenAws(const Config& config, asio::any_io_executor executor) {
  const AwsConfig& aws_config = config.aws;
  aws::CredentialOptions credential_options;
  credential_options.profile = aws_config.profile;
  credential_options.credentials_file = aws_config.credentials_file;
  credential_options.config_file = aws_config.config_file;
  std::string region = aws_config.region;
  if (region.empty()) region = aws::ProfileRegion(credential_options);
  if (region.empty()) {
    return Status::InvalidArgument(
        "IAM Identity Center: no region ([aws] region, AWS_REGION or the profile's region)");
  }
  AwsSession session;
  http::ClientOptions http_options;
  http_options.ca_file = aws_config.tls_ca_file;
  http_options.verify_tls = aws_config.verify_tls;
  auto http_client = http::Client::Create(executor, std::move(http_options));
  if (!http_client.ok()) return http_client.status().WithContext("[aws]");
  session.http = std::move(*http_client);
  auto credentials = aws::CredentialProvider::Create(executor, std::move(credential_options));
  if (!credentials.ok()) return credentials.status().WithContext("AWS credentials");
  session.credentials = std::move(*credentials);
  aws::ClientOptions client_options;
  client_options.region = std::move(region);
  client_options.endpoint_url = aws_config.endpoint_url;
  client_options.rate_limit = aws_config.rate_limit;
  session.client = std::make_unique<aws::Client>(std::move(executor), *session.http,
                                                 *session.credentials, std::move(client_options));
  return session;
}

bool UsesAws(const Config& config) {
  return config.assignments.applier == "aws" || config.aws.capture;
}

AwsObservation ObserveAwsInstance(const std::optional<AwsInstanceState>& seen,
                                  const ic::Instance& discovered, int64_t now) {
  AwsObservation observed;
  AwsInstanceState& next = observed.next;
  next = seen.value_or(AwsInstanceState{});
  observed.switched = seen.has_value() && !next.identity_store_id.empty() &&
                      next.identity_store_id != discovered.identity_store_id;
  if (observed.switched) {
    next.previous_identity_store_id = next.identity_store_id;
    next.switched_at = now;
    next.reapply_pending = true;
  }
  next.instance_arn = discovered.instance_arn;
  next.identity_store_id = discovered.identity_store_id;
  next.checked_at = now;
  return observed;
}

std::string AwsSwitchReason(const AwsInstanceState& next) {
  return "IAM Identity Center's identity store of " + next.instance_arn + " changed from " +
         next.previous_identity_store_id + " to " + next.identity_store_id +
         " (its identity source was switched, which removes every principal and assignment): "
         "the store is rebuilt from AD, and deletes are frozen until the ledger's assignments "
         "are reapplied";
}

asio::awaitable<AwsProbe> ProbeAws(const Config& config,
                                   const std::optional<AwsInstanceState>& seen, int64_t now) {
  AwsProbe probe;
  auto session = OpenAws(config, co_await asio::this_coro::executor);
  if (!session.ok()) {
    probe.status = session.status();
    co_return probe;
  }
  probe.session = std::move(*session);
  auto discovered = co_await ic::DiscoverInstance(*probe.session->client, config.aws.instance_arn);
  if (!discovered.ok()) {
    probe.status = discovered.status();
    co_return probe;
  }
  probe.instance = *discovered;
  probe.observed = ObserveAwsInstance(seen, probe.instance, now);
  if (probe.observed.switched) Log(LogLevel::kWarning, AwsSwitchReason(probe.observed.next));
  co_return probe;
}

namespace {

// What a capture found, ready to be saved: the ledger entries to add and the
// rows that replace the identity store's capture.
struct Capture {
  ic::Instance instance;
  std::vector<ic::CapturedAssignment> captured;
  std::vector<LedgerEntry> additions;
  std::vector<AwsCaptureRow> rows;
  std::map<AwsCaptureStatus, size_t> counts;
};

AwsCaptureStatus RowStatus(ic::LinkStatus status) {
  switch (status) {
    case ic::LinkStatus::kLinked:
      return AwsCaptureStatus::kLinked;
    case ic::LinkStatus::kUnmatched:
      return AwsCaptureStatus::kUnmatched;
    case ic::LinkStatus::kOrphan:
      return AwsCaptureStatus::kOrphan;
  }
  return AwsCaptureStatus::kUnmatched;
}

// Pure: the ledger additions and capture rows of `captured`, given the
// cached `objects` it was linked against and the current `ledger`. A linked
// assignment becomes an active entry unless one is already active for its
// principal and target (another principal id of the store linked to the
// same AD object counts once).
void Record(const std::vector<SyncObject>& objects, const std::vector<LedgerEntry>& ledger,
            int64_t now, Capture* capture) {
  std::set<std::pair<std::string, std::string>> active;  // (guid, target)
  for (const LedgerEntry& e : ledger) {
    if (e.status == LedgerStatus::kActive) active.emplace(e.principal.guid, e.target);
  }
  capture->rows.reserve(capture->captured.size());
  for (const ic::CapturedAssignment& c : capture->captured) {
    const ic::LiveAssignment& live = c.assignment;
    AwsCaptureRow& row = capture->rows.emplace_back();
    row.target = live.target.Name();
    row.target_ref = live.target.RefJson(capture->instance.instance_arn);
    row.principal_type = ic::PrincipalTypeName(live.principal_type);
    row.principal_id = live.principal_id;
    row.principal_name = c.principal_name;
    row.status = RowStatus(c.link.status);
    row.detail = c.link.detail;
    row.captured_at = now;
    ++capture->counts[row.status];
    if (!c.link.object) continue;
    const SyncObject& object = objects[*c.link.object];
    row.guid = object.guid;
    if (!active.emplace(object.guid, row.target).second) continue;
    LedgerEntry entry = LedgerEntryFor(object, row.target);
    entry.target_ref = row.target_ref;
    entry.created_at = entry.changed_at = now;
    entry.reason = "captured from IAM Identity Center (identity store " +
                   capture->instance.identity_store_id + ", " + row.principal_type + " " +
                   live.principal_id + ")";
    capture->additions.push_back(std::move(entry));
  }
}

// Reads every assignment of the instance, describes and links their
// principals. Any list or describe that still fails after its retries:
// "capture incomplete: ...".
asio::awaitable<Result<Capture>> ReadCapture(aws::Client& client, StateDb& state,
                                             ic::Instance instance, int64_t now) {
  Capture capture;
  capture.instance = std::move(instance);
  auto incomplete = [](const Status& st) { return st.WithContext("capture incomplete"); };
  auto catalog = co_await ic::Catalog::Load(client, capture.instance);
  if (!catalog.ok()) co_return incomplete(catalog.status());
  auto live = co_await ic::ReadAssignments(client, capture.instance, *catalog);
  if (!live.ok()) co_return incomplete(live.status());
  auto principals = co_await ic::DescribePrincipals(client, capture.instance, *live);
  if (!principals.ok()) co_return incomplete(principals.status());
  auto objects = state.LoadObjects();
  if (!objects.ok()) co_return objects.status();
  auto ledger = state.LoadLedger();
  if (!ledger.ok()) co_return ledger.status();
  capture.captured = ic::LinkAssignments(*live, *principals, *objects);
  Record(*objects, *ledger, now, &capture);
  co_return capture;
}

// The capture's log line: counts, and how many entries it adds.
std::string Summary(const Capture& capture) {
  auto count = [&](AwsCaptureStatus status) {
    auto found = capture.counts.find(status);
    return std::to_string(found == capture.counts.end() ? 0 : found->second);
  };
  return "IAM Identity Center capture of identity store " + capture.instance.identity_store_id +
         ": " + std::to_string(capture.rows.size()) + " assignments, " +
         count(AwsCaptureStatus::kLinked) + " linked (" + std::to_string(capture.additions.size()) +
         " new in the ledger), " + count(AwsCaptureStatus::kUnmatched) + " unmatched, " +
         count(AwsCaptureStatus::kOrphan) + " orphaned";
}

void PrintCaptureText(std::ostream& out, const Capture& capture, bool dry_run) {
  out << "IAM Identity Center " << capture.instance.instance_arn << ", identity store "
      << capture.instance.identity_store_id << ": " << capture.rows.size() << " assignments"
      << (dry_run ? " (dry run: nothing recorded)" : "") << "\n";
  for (auto status :
       {AwsCaptureStatus::kLinked, AwsCaptureStatus::kUnmatched, AwsCaptureStatus::kOrphan}) {
    auto found = capture.counts.find(status);
    out << "  " << AwsCaptureStatusName(status) << ": "
        << (found == capture.counts.end() ? 0 : found->second);
    if (status == AwsCaptureStatus::kLinked) {
      out << " (" << capture.additions.size() << (dry_run ? " would be" : "")
          << " new ledger entries)";
    }
    out << "\n";
  }
  for (const AwsCaptureRow& row : capture.rows) {
    if (row.status == AwsCaptureStatus::kLinked) continue;
    out << AwsCaptureStatusName(row.status) << " " << TerminalSafe(row.target) << " "
        << AsciiLower(row.principal_type) << " "
        << TerminalSafe(row.principal_name.empty()
                            ? row.principal_id
                            : row.principal_name + " (" + row.principal_id + ")")
        << ": " << TerminalSafe(row.detail) << "\n";
  }
}

void PrintCaptureJson(std::ostream& out, const Capture& capture, bool dry_run) {
  json::object root;
  root["instanceArn"] = capture.instance.instance_arn;
  root["identityStoreId"] = capture.instance.identity_store_id;
  root["dryRun"] = dry_run;
  json::object counts;
  for (auto status :
       {AwsCaptureStatus::kLinked, AwsCaptureStatus::kUnmatched, AwsCaptureStatus::kOrphan}) {
    auto found = capture.counts.find(status);
    counts[AwsCaptureStatusName(status)] = found == capture.counts.end() ? 0 : found->second;
  }
  counts["added"] = capture.additions.size();
  root["counts"] = std::move(counts);
  json::array assignments;
  assignments.reserve(capture.rows.size());
  for (const AwsCaptureRow& row : capture.rows) {
    json::object item;
    item["target"] = row.target;
    item["targetRef"] = json::parse(row.target_ref);
    item["principalType"] = row.principal_type;
    item["principalId"] = row.principal_id;
    item["principalName"] = row.principal_name;
    item["status"] = AwsCaptureStatusName(row.status);
    item["detail"] = row.detail;
    assignments.push_back(std::move(item));
  }
  root["assignments"] = std::move(assignments);
  out << json::serialize(root) << "\n";
}

// Runs `work` on `loop` to completion; an exception becomes Internal.
template <typename T>
Result<T> RunToCompletion(asio::io_context& loop, asio::awaitable<Result<T>> work) {
  Result<T> result;
  asio::co_spawn(loop, std::move(work), [&result](const std::exception_ptr& e, Result<T> r) {
    if (!e) {
      result = std::move(r);
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      result = Status::Internal(ex.what());
    }
  });
  loop.run();
  return result;
}

// Capture into `state` (saved unless dry_run); the capture is returned
// either way.
asio::awaitable<Result<Capture>> CaptureInto(aws::Client& client, StateDb& state,
                                             ic::Instance instance, bool dry_run, int64_t now) {
  auto capture = co_await ReadCapture(client, state, std::move(instance), now);
  if (!capture.ok() || dry_run) co_return capture;
  Status saved =
      state.SaveAwsCapture(capture->instance.identity_store_id, &capture->additions, capture->rows);
  if (!saved.ok()) co_return saved;
  co_return capture;
}

}  // namespace

Result<int> ImportFromAwsCommand(const Config& config, bool dry_run, bool json_output,
                                 std::ostream& out) {
  RunLock lock;
  if (!dry_run) {
    if (Status st = lock.Acquire(config.state_path + ".lock"); !st.ok()) return st;
  }
  auto state = StateDb::Open(config.state_path, /*read_only=*/dry_run);
  if (!state.ok()) return state.status();
  asio::io_context loop;
  auto session = OpenAws(config, loop.get_executor());
  if (!session.ok()) return session.status();
  const int64_t now = UnixNow();
  auto work = [&]() -> asio::awaitable<Result<Capture>> {
    auto instance = co_await ic::DiscoverInstance(*session->client, config.aws.instance_arn);
    if (!instance.ok()) co_return instance.status();
    co_return co_await CaptureInto(*session->client, **state, std::move(*instance), dry_run, now);
  };
  auto capture = RunToCompletion(loop, work());
  if (!capture.ok()) return capture.status();
  if (json_output) {
    PrintCaptureJson(out, *capture, dry_run);
  } else {
    PrintCaptureText(out, *capture, dry_run);
  }
  const bool all_linked = capture->counts[AwsCaptureStatus::kLinked] == capture->rows.size();
  return all_linked ? 0 : 2;
}

asio::awaitable<Status> AfterRunAws(StateDb& state, const Config& config, AwsProbe& probe,
                                    int64_t now) {
  // Each failed step is logged here; the first one is returned.
  Status first = Status::Ok();
  auto failed = [&first](const Status& st, const char* step) {
    Status why = st.WithContext(std::string("IAM Identity Center ") + step);
    Log(LogLevel::kWarning, why.message() + "; the sync itself went through");
    if (first.ok()) first = why;
  };
  if (!probe.status.ok() || !probe.session) {
    failed(probe.status, "switch check");
    co_return first;
  }
  const ic::Instance& instance = probe.instance;
  if (config.aws.capture) {
    auto capture =
        co_await CaptureInto(*probe.session->client, state, instance, /*dry_run=*/false, now);
    if (!capture.ok()) {
      failed(capture.status(), "capture");
    } else {
      Log(capture->counts[AwsCaptureStatus::kLinked] == capture->rows.size() ? LogLevel::kInfo
                                                                             : LogLevel::kWarning,
          Summary(*capture));
    }
  }
  // The reapply through SSO Admin after a switch (or of operations left
  // unsettled): by itself with reapply = "auto", else it says what waits.
  if (config.assignments.applier == "aws") {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(config.daemon.run_timeout);
    Status reapplied =
        co_await AutoReapplyAws(state, *probe.session->client, config, instance, deadline);
    if (!reapplied.ok()) failed(reapplied, "reapply");
  }
  co_return first;
}

}  // namespace syncd
