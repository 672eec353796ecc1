#include "syncd/aws_assignments.h"

#include <boost/asio/this_coro.hpp>
#include <utility>

#include "core/log.h"

namespace syncd {
namespace asio = boost::asio;

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

}  // namespace syncd
