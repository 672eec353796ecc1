// The assignment ledger and IAM Identity Center ([assignments] applier =
// "aws", [aws] capture): the AWS client opened from the config, switch
// detection (a changed identity store id), the capture of the instance's
// live assignments into the ledger (`syncd assignments import --from aws`,
// and the daemon after each run), and what follows a run.
#ifndef SYNCD_SYNCD_AWS_ASSIGNMENTS_H_
#define SYNCD_SYNCD_AWS_ASSIGNMENTS_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "aws/client.h"
#include "aws/credentials.h"
#include "core/status.h"
#include "http/client.h"
#include "state/state_db.h"
#include "store/aws/identity_center.h"
#include "syncd/config.h"

namespace syncd {

// An AWS client with the transport and credentials it borrows, kept alive
// together (the client goes first).
struct AwsSession {
  std::unique_ptr<http::Client> http;
  std::unique_ptr<aws::CredentialProvider> credentials;
  std::unique_ptr<aws::Client> client;
};

// The client [aws] describes: its region (else the profile's), endpoint_url,
// rate_limit, TLS (tls_ca_file, verify_tls) and the credential chain of its
// profile and files. InvalidArgument when no region is known; the
// credential chain's errors otherwise. Use the session on `executor`.
Result<AwsSession> OpenAws(const Config& config, boost::asio::any_io_executor executor);

// The instance state after seeing `discovered` at `now`: the first sight
// records it; a changed identity store id is a source switch (AWS gives the
// store a new id when its identity source changes), which records the
// previous id and the time and sets reapply_pending (deletes are frozen
// until the reapply clears it). Pure.
struct AwsObservation {
  AwsInstanceState next;
  bool switched = false;
};
AwsObservation ObserveAwsInstance(const std::optional<AwsInstanceState>& seen,
                                  const identity_center::Instance& discovered, int64_t now);
// The warning and plan reason of a switch, from the observed state.
std::string AwsSwitchReason(const AwsInstanceState& next);

// The reason of the deletes held while a switch waits for its reapply.
inline constexpr char kAwsSwitchHoldReason[] =
    "IAM Identity Center source switch: deletes frozen until the reapply completes";

// `syncd assignments import --from aws [--dry-run] [--json]`: captures the
// instance's account and application assignments (capture.h) and, in one
// state transaction, adds an active ledger entry (with its target_ref) for
// each linked assignment the ledger does not hold active yet, and replaces
// the capture rows of the identity store (linked, unmatched, orphan). Never
// removes a ledger entry. A list call that still fails after its retries:
// "capture incomplete: ...", nothing changed. --dry-run changes nothing and
// prints what would be recorded. Exit status: 0 every assignment linked, 2
// some unmatched or orphaned (recorded and reported; a person decides), an
// error otherwise.
Result<int> ImportFromAwsCommand(const Config& config, bool dry_run, bool json, std::ostream& out);

// What a run learns of IAM Identity Center before it plans (ProbeAws): the
// session it keeps for after the run, the instance, and the instance state
// to record. A failed probe (status) is a warning: the sync goes on, without
// switch detection, capture or reapply.
struct AwsProbe {
  std::optional<AwsSession> session;
  identity_center::Instance instance;
  AwsObservation observed;
  Status status;
};

// Opens the client and discovers the instance, comparing it with `seen`
// (the state's record): a switched identity store is logged as a warning.
// Saves nothing: the run records probe.observed.next once it holds the lock
// (a dry run never does).
boost::asio::awaitable<AwsProbe> ProbeAws(const Config& config,
                                          const std::optional<AwsInstanceState>& seen, int64_t now);

// After each successful run (daemon and --once, from RunOnce) when applier =
// "aws" or [aws] capture = true, with the run's probe: the capture when
// capture = true, then (applier = "aws") the reapply of syncd/aws_reapply.h
// (AutoReapplyAws, bounded by [daemon] run_timeout). Each failed step (a
// failed probe included) is logged with its reason and changes nothing of
// its own; a failed capture does not stop the reapply. Returns the first
// failure (the caller treats it as a warning, not a failed sync).
// Preconditions: the caller holds the RunLock; `state` is writable and
// records probe.observed.next.
boost::asio::awaitable<Status> AfterRunAws(StateDb& state, const Config& config, AwsProbe& probe,
                                           int64_t now);

// Whether runs talk to IAM Identity Center at all (applier = "aws" or
// [aws] capture = true).
bool UsesAws(const Config& config);

}  // namespace syncd

#endif  // SYNCD_SYNCD_AWS_ASSIGNMENTS_H_
