// Where syncd's AWS credentials and region come from: the chain an AWS SDK
// walks, minus what needs STS or an interactive login (those reach syncd
// through credential_process; research aws-sinks.md §2).
//
//   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN);
//   2. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
//      ~/.aws/credentials), section [PROFILE];
//   3. the shared config file (AWS_CONFIG_FILE, else ~/.aws/config),
//      section [profile PROFILE] ([default] for default): static keys or
//      credential_process.
// PROFILE is CredentialOptions::profile, else AWS_PROFILE, else "default".
// A profile that uses a provider syncd does not implement (role_arn,
// sso_session, web_identity_token_file, ...) is an error naming the key and
// pointing at credential_process.
#ifndef SYNCD_AWS_CREDENTIALS_H_
#define SYNCD_AWS_CREDENTIALS_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "aws/sigv4.h"
#include "core/status.h"

namespace syncd::aws {

// The parsed sections of an INI-style AWS file: section name -> key -> value.
// Indented continuation lines (nested sub-sections like "s3 =") are skipped;
// keys are lower-cased; comments (# and ;) dropped.
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
// InvalidArgument naming `origin` and the line for malformed input.
Result<IniFile> ParseIni(const std::string& text, const std::string& origin);

// A file named here must exist (a typo is an error); the files found through
// the environment or $HOME may be absent.
struct CredentialOptions {
  std::string profile;           // "" = AWS_PROFILE, else "default"
  std::string credentials_file;  // "" = AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials
  std::string config_file;       // "" = AWS_CONFIG_FILE, else ~/.aws/config
  std::chrono::seconds process_timeout{60};  // credential_process may not take longer
  // Refresh temporary credentials this long before their Expiration.
  std::chrono::seconds refresh_margin{300};
};

// The region of the profile: AWS_REGION, else AWS_DEFAULT_REGION, else the
// config file's `region` for the profile; "" when none says.
std::string ProfileRegion(const CredentialOptions& options);

// Not thread-safe; use on one executor.
class CredentialProvider {
 public:
  // Works out which source of the chain applies (reading the files, which
  // must not be group- or world-readable when they hold keys). Does not run
  // credential_process yet.
  static Result<std::unique_ptr<CredentialProvider>> Create(boost::asio::any_io_executor executor,
                                                            CredentialOptions options);
  virtual ~CredentialProvider() = default;

  // Current credentials: cached; a credential_process is run (without a
  // shell, with a timeout) when there are none or they expire within
  // refresh_margin. Errors name the source and, for a failed process, its
  // exit status and stderr, never its stdout.
  virtual boost::asio::awaitable<Result<Credentials>> Get() = 0;
  // Forget cached credentials (after AWS refused them as expired).
  virtual void Invalidate() = 0;
  // "environment", "profile syncd in /etc/syncd/aws/credentials",
  // "credential_process of profile syncd in /etc/syncd/aws/config".
  virtual std::string Describe() const = 0;
};

}  // namespace syncd::aws

#endif  // SYNCD_AWS_CREDENTIALS_H_
