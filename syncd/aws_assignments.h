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
#include <ostream>

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

// Switch detection. Discovers the instance (ListInstances) and compares its
// identity store with the one the state saw last: the first sight records
// it; a changed one is a source switch (AWS gives the store a new id when
// its identity source changes), which records the previous id and the time,
// sets reapply_pending (deletes are frozen until the reapply clears it) and
// logs a warning. Either way checked_at becomes `now`. Returns the instance
// as the state now records it, in `*instance` the one discovered.
// Preconditions: `state` is writable.
boost::asio::awaitable<Result<AwsInstanceState>> CheckAwsInstance(
    StateDb& state, aws::Client& client, const AwsConfig& config, int64_t now,
    identity_center::Instance* instance);

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

// After each successful run (daemon and --once, from RunOnce) when applier =
// "aws" or [aws] capture = true: CheckAwsInstance, then the capture when
// capture = true, then (applier = "aws") the reapply of syncd/aws_reapply.h
// (AutoReapplyAws, bounded by [daemon] run_timeout). Each failed step is
// logged with its reason and changes nothing of its own; a failed capture
// does not stop the reapply. Returns the first failure (the caller treats
// it as a warning, not a failed sync). Runs on the caller's executor.
// Preconditions: the caller holds the RunLock; `state` is writable.
boost::asio::awaitable<Status> AfterRunAws(StateDb& state, const Config& config, int64_t now);

// Whether runs talk to IAM Identity Center at all (applier = "aws" or
// [aws] capture = true).
bool UsesAws(const Config& config);

}  // namespace syncd

#endif  // SYNCD_SYNCD_AWS_ASSIGNMENTS_H_
