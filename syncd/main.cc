// syncd: keeps an identity store in step with Active Directory.
//
//   syncd [--config F]                      run as a daemon (syncd/daemon.h)
//   syncd --version                         "syncd X.Y.Z" (CMake's project version)
//   syncd [--config F] --dry-run [--json]   show the plan; change nothing
//   syncd [--config F] --once [--full]      apply one sync run (incremental when
//                                           the watermark allows; --full forces
//                                           a full reconciliation)
//   syncd [--config F] status [--json]      change feed, watermark, last runs
//   syncd [--config F] explain NAME [--json]
//                                           in scope or not, and why (offline)
//   syncd [--config F] store users|groups [--json]
//   syncd [--config F] store members GROUP [--effective] [--json]
//   syncd [--config F] assign user:NAME|group:NAME TARGET
//   syncd [--config F] unassign user:NAME|group:NAME TARGET
//   syncd [--config F] assignments list|check [--json]
//   syncd [--config F] assignments reapply [--dry-run] [--json]
//   syncd [--config F] assignments export|import FILE
//   syncd [--config F] assignments import --from aws [--dry-run] [--json]
//                                           capture IAM Identity Center's live
//                                           assignments into the ledger
//
// Exit status: 0 nothing (left) to do, 2 changes pending (a dry run with a
// non-empty plan, or a run that held operations back), 1 error (including a
// run where the store refused some operations, the rest applied, and a read
// cut short, what was read applied and deletions held).
#include <signal.h>
#include <CLI/CLI.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <iostream>

#include "core/log.h"
#include "store/local/local_store.h"
#include "syncd/assignments.h"
#include "syncd/aws_assignments.h"
#include "syncd/config.h"
#include "syncd/daemon.h"
#include "syncd/engine.h"
#include "syncd/explain.h"
#include "syncd/output.h"
#include "syncd/quarantine.h"
#include "syncd/status.h"

namespace {

constexpr int kExitNothingToDo = 0;
constexpr int kExitError = 1;
constexpr int kExitPending = 2;

int Fail(const syncd::Status& status) {
  syncd::Log(syncd::LogLevel::kError, status.message());
  return kExitError;
}

int RunSync(const syncd::Config& config, syncd::RunOptions options, bool json) {
  const bool dry_run = options.dry_run;
  boost::asio::io_context loop;
  boost::asio::thread_pool workers(2);
  syncd::Result<syncd::RunResult> result;
  boost::asio::co_spawn(loop, syncd::RunOnce(config, workers, options),
                        [&result](const std::exception_ptr& e, syncd::Result<syncd::RunResult> r) {
                          if (e) {
                            try {
                              std::rethrow_exception(e);
                            } catch (const std::exception& ex) {
                              result = syncd::Status::Internal(ex.what());
                            }
                          } else {
                            result = std::move(r);
                          }
                        });
  loop.run();
  workers.join();
  if (!result.ok()) return Fail(result.status());
  const syncd::Plan& plan = result->plan;
  if (json) {
    if (syncd::Status printed = syncd::PrintPlanJson(std::cout, plan, result->rendered.get());
        !printed.ok()) {
      return Fail(printed);
    }
  } else {
    syncd::PrintPlanText(std::cout, plan, /*applied=*/!dry_run);
    if (result->reapply_preview) {
      syncd::PrintReapplyText(
          std::cout, *result->reapply_preview,
          config.assignments.auto_reapply
              ? "\nafter this source switch, the run reapplies the assignment ledger "
                "([assignments] reapply = \"auto\")"
              : "\nafter this source switch, `syncd assignments reapply` would reapply the "
                "assignment ledger ([assignments] reapply = \"manual\")");
    }
  }
  for (const auto& [op, why] : result->failed) {
    syncd::Log(syncd::LogLevel::kError, why.message() + " (quarantined)");
  }
  for (const auto& [op, why] : result->deferred) syncd::Log(syncd::LogLevel::kWarning, why);
  // A read cut short (the DC's connection lost or stalled mid-search, or a
  // server limit) is a failed run: the plan cannot be trusted to be whole.
  if (!plan.read_complete) {
    return Fail(syncd::Status::Unavailable(
        "the read from the DC was incomplete: " + plan.incomplete_reason +
        (dry_run ? " (the plan above is partial)"
                 : " (the run applied what it read and held every deletion; the next run reads "
                   "again)")));
  }
  if (dry_run) return plan.empty() ? kExitNothingToDo : kExitPending;
  if (!result->failed.empty()) return kExitError;
  // IAM Identity Center after the run (switch check, capture) failed: logged
  // by the run; the sync went through, so a warning, not an error.
  return plan.held.empty() && plan.quarantined.empty() && result->deferred.empty() &&
                 result->aws_warning.empty()
             ? kExitNothingToDo
             : kExitPending;
}

int ShowStore(const syncd::Config& config, const std::string& what, const std::string& group,
              bool effective, bool json) {
  if (config.store.kind != "local") {
    return Fail(
        syncd::Status::InvalidArgument("syncd store lists the local store; [store] kind = \"" +
                                       config.store.kind + "\" is read in the target itself"));
  }
  auto store = syncd::LocalStore::Open(config.store.path, /*read_only=*/true);
  if (!store.ok()) return Fail(store.status());
  syncd::Result<std::vector<syncd::StoredObject>> objects =
      what == "users"    ? (*store)->List(syncd::ObjectKind::kUser)
      : what == "groups" ? (*store)->List(syncd::ObjectKind::kGroup)
                         : (*store)->Members(group, effective);
  if (!objects.ok()) return Fail(objects.status());
  if (json) {
    syncd::PrintObjectsJson(std::cout, *objects);
  } else {
    syncd::PrintObjectsText(std::cout, *objects);
  }
  return kExitNothingToDo;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that resets the connection must fail the run, not kill the
  // process: libldap (and GnuTLS under it) write to their sockets without
  // MSG_NOSIGNAL, so a write after a DC's reset raises SIGPIPE, whose default
  // action ends syncd with status 141 and no message. Ignored here, before
  // any thread or connection exists, for every command and the daemon, the
  // write fails with EPIPE and the LDAP call returns an error. (Inherited by
  // no child: syncd starts none.)
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);

  CLI::App app{"syncd: keeps an identity store in step with Active Directory"};
  std::string config_path = syncd::kDefaultConfigPath;
  bool dry_run = false, once = false, full = false, json = false, verbose = false;
  app.add_option("--config", config_path, "configuration file")->capture_default_str();
  app.add_flag("--dry-run", dry_run, "print the plan and change nothing");
  app.add_flag("--once", once, "run one sync and exit");
  app.add_flag("--full", full, "a full reconciliation, whatever the watermark says");
  app.add_flag("--json", json, "machine-readable output");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  app.set_version_flag("--version", std::string("syncd ") + SYNCD_VERSION,
                       "print the version and exit");

  auto* store_cmd = app.add_subcommand("store", "show the local identity store");
  std::string what, group;
  bool effective = false;
  store_cmd->add_option("what", what, "users, groups or members")
      ->required()
      ->check(CLI::IsMember({"users", "groups", "members"}));
  store_cmd->add_option("group", group, "the group, for members (displayName or externalId)");
  store_cmd->add_flag("--effective", effective, "members through nested groups too");
  store_cmd->add_flag("--json", json, "machine-readable output");

  auto* status_cmd = app.add_subcommand("status", "change feed, watermark and recent runs");
  status_cmd->add_flag("--json", json, "machine-readable output");

  auto* explain_cmd = app.add_subcommand(
      "explain", "whether a user or group is in scope and why, from the cached state");
  std::string explain_name;
  explain_cmd->add_option("name", explain_name, "sAMAccountName, UPN, name, DN or objectGUID")
      ->required();
  explain_cmd->add_flag("--json", json, "machine-readable output");

  std::string principal, target, ledger_file;
  auto* assign_cmd = app.add_subcommand("assign", "record and grant TARGET to a user or group");
  auto* unassign_cmd =
      app.add_subcommand("unassign", "take TARGET back; the ledger keeps the record");
  for (auto* cmd : {assign_cmd, unassign_cmd}) {
    cmd->add_option("principal", principal, "user:NAME or group:NAME")->required();
    cmd->add_option("target", target, "what is granted, e.g. app:payroll")->required();
  }
  auto* assignments_cmd = app.add_subcommand(
      "assignments", "the assignment ledger: list, check, reapply, export, import");
  assignments_cmd->require_subcommand(1);
  auto* list_cmd = assignments_cmd->add_subcommand("list", "every assignment the ledger records");
  auto* check_cmd = assignments_cmd->add_subcommand(
      "check", "drift between ledger and store, and assignments waiting to be reapplied");
  auto* reapply_cmd = assignments_cmd->add_subcommand(
      "reapply", "match each assignment to its principal and restore what the store lacks");
  auto* export_cmd = assignments_cmd->add_subcommand("export", "write the ledger to FILE (JSON)");
  auto* import_cmd = assignments_cmd->add_subcommand(
      "import", "add the entries of an export FILE, or capture IAM Identity Center's (--from aws)");
  for (auto* cmd : {list_cmd, check_cmd, reapply_cmd}) {
    cmd->add_flag("--json", json, "machine-readable output");
  }
  reapply_cmd->add_flag("--dry-run", dry_run, "show the plan; change nothing");
  export_cmd->add_option("file", ledger_file, "the JSON file")->required();
  std::string import_from;
  auto* import_file = import_cmd->add_option("file", ledger_file, "the JSON file");
  auto* import_source =
      import_cmd->add_option("--from", import_from, "aws: the live assignments of [aws]")
          ->check(CLI::IsMember({"aws"}))
          ->excludes(import_file);
  import_file->excludes(import_source);
  import_cmd->add_flag("--dry-run", dry_run, "with --from: show what would be recorded");
  import_cmd->add_flag("--json", json, "with --from: machine-readable output");

  auto* quarantine_cmd = app.add_subcommand(
      "quarantine", "objects the store refused, kept out until AD changes them: list, retry");
  quarantine_cmd->require_subcommand(1);
  auto* quarantine_list =
      quarantine_cmd->add_subcommand("list", "every quarantined object and why");
  quarantine_list->add_flag("--json", json, "machine-readable output");
  auto* quarantine_retry = quarantine_cmd->add_subcommand(
      "retry", "release NAME (userName, displayName or externalId): the next run tries again");
  std::string quarantined_name;
  quarantine_retry->add_option("name", quarantined_name, "the object")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitNothingToDo : kExitError;
  }
  if (verbose) syncd::MinLogLevel() = syncd::LogLevel::kDebug;

  auto config = syncd::LoadConfig(config_path);
  if (!config.ok()) return Fail(config.status());

  if (store_cmd->parsed()) {
    if (what == "members" && group.empty()) {
      return Fail(syncd::Status::InvalidArgument("store members needs a GROUP"));
    }
    return ShowStore(*config, what, group, effective, json);
  }
  if (explain_cmd->parsed()) {
    auto explanation = syncd::Explain(*config, explain_name);
    if (!explanation.ok()) return Fail(explanation.status());
    if (json) {
      syncd::PrintExplanationJson(std::cout, *explanation);
    } else {
      syncd::PrintExplanationText(std::cout, *explanation);
    }
    return kExitNothingToDo;
  }
  if (assign_cmd->parsed() || unassign_cmd->parsed() || assignments_cmd->parsed()) {
    syncd::Result<int> code = 0;
    if (assign_cmd->parsed()) {
      code = syncd::AssignCommand(*config, principal, target, std::cout);
    } else if (unassign_cmd->parsed()) {
      code = syncd::UnassignCommand(*config, principal, target, std::cout);
    } else if (list_cmd->parsed()) {
      code = syncd::ListCommand(*config, json, std::cout);
    } else if (check_cmd->parsed()) {
      code = syncd::CheckCommand(*config, json, std::cout);
    } else if (reapply_cmd->parsed()) {
      code = syncd::ReapplyCommand(*config, dry_run, json, std::cout);
    } else if (export_cmd->parsed()) {
      code = syncd::ExportCommand(*config, ledger_file, std::cout);
    } else if (!import_from.empty()) {
      code = syncd::ImportFromAwsCommand(*config, dry_run, json, std::cout);
    } else if (ledger_file.empty() || dry_run || json) {
      code = syncd::Status::InvalidArgument(
          "assignments import takes FILE, or --from aws [--dry-run] [--json]");
    } else {
      code = syncd::ImportCommand(*config, ledger_file, std::cout);
    }
    return code.ok() ? *code : Fail(code.status());
  }
  if (quarantine_cmd->parsed()) {
    auto code = quarantine_list->parsed()
                    ? syncd::QuarantineListCommand(*config, json, std::cout)
                    : syncd::QuarantineRetryCommand(*config, quarantined_name, std::cout);
    return code.ok() ? *code : Fail(code.status());
  }
  if (status_cmd->parsed()) {
    syncd::Status st = syncd::PrintStatus(std::cout, *config, json);
    return st.ok() ? kExitNothingToDo : Fail(st);
  }
  if (dry_run && once) {
    return Fail(syncd::Status::InvalidArgument("--dry-run and --once exclude each other"));
  }
  if (!dry_run && !once) {
    if (full || json) {
      return Fail(syncd::Status::InvalidArgument("--full and --json go with --once or --dry-run"));
    }
    return syncd::RunDaemon(config_path, std::move(*config));
  }
  // Held for the run: its destructor drops the private credential cache.
  auto kerberos = syncd::ad::AcquireKerberos(config->source);
  if (!kerberos.ok()) return Fail(kerberos.status());
  syncd::RunOptions options;
  options.dry_run = dry_run;
  options.force_full = full;
  options.json = json;
  return RunSync(*config, options, json);
}
