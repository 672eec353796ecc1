// The AWS test bed shared by every IAM Identity Center integration test: the
// AWS test peer (tests/aws-peer/peer.py: moto with a SCIM front writing into
// its identity store and a fault layer) and a syncd run wired to it.
#ifndef SYNCD_TESTS_INTEGRATION_AWS_TESTBED_H_
#define SYNCD_TESTS_INTEGRATION_AWS_TESTBED_H_

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "tests/integration/testbed.h"

namespace syncd::testing {

// SYNCD_SOURCE_DIR, or "." when unset.
std::string SourceDir();

// tests/aws-peer/peer.py on an ephemeral loopback port, started by the
// constructor (which waits for its JSON line) and stopped by the destructor.
class AwsPeer {
 public:
  // `flags`: peer.py command-line flags (already shell-quoted as needed),
  // e.g. "--permission-sets 2 --applications 1 --faults '{...}'".
  explicit AwsPeer(const std::string& flags = "");
  ~AwsPeer();
  AwsPeer(const AwsPeer&) = delete;
  AwsPeer& operator=(const AwsPeer&) = delete;

  // False when the peer did not print its JSON line.
  bool ok() const { return !config_.empty(); }
  // A string field of the peer's JSON line (url, scim_url, region, ...).
  std::string Str(const char* key) const;
  const boost::json::object& config() const { return config_; }

  // Runs Python with boto3 clients of the admin (sso, ids), `arn`, `store`
  // (the instance's identity store now), `accounts`, and `control(path,
  // body)` / `stats()` for the peer's control API; returns its stdout.
  CommandResult Admin(const std::string& code) const;

  // POST {url}/_peer{path} with a JSON body ("{}" when empty); the answer,
  // or null (and a test failure) when the request failed.
  boost::json::value Control(const std::string& path, const std::string& body = "{}") const;
  // GET {url}/_peer/stats.
  boost::json::object Stats() const;

 private:
  pid_t pid_ = -1;
  boost::json::object config_;
};

// A syncd whose [store] is the peer's SCIM front (profile "aws") and whose
// [aws] is the peer, with syncd's least-privilege keys as profile "syncd" of
// a 0600 credentials file. Every Syncd() checks the secret never shows.
class AwsRun {
 public:
  // `aws_keys`: more lines for the [aws] table (e.g. "capture = true\n");
  // `more_tables`: TOML appended after it (e.g. an [assignments] table).
  AwsRun(const AwsPeer& peer, const std::string& ou, const std::string& aws_keys = "",
         const std::string& more_tables = "");

  CommandResult Syncd(const std::string& args) const;
  const SyncdRun& run() const { return run_; }
  // The private directory of the config, state and key files.
  std::string dir() const;
  // The config as written; tests edit it and WriteConfig() it back.
  const std::string& config() const { return config_; }
  void WriteConfig(const std::string& text);

 private:
  SyncdRun run_;
  std::string config_;
  std::string secret_;
};

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_INTEGRATION_AWS_TESTBED_H_
