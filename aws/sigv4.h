// AWS Signature Version 4 for the JSON APIs syncd calls (and REST-JSON ones
// with query strings, e.g. Amazon Connect).
//
// A pure function of the request, the credentials, the scope and the time:
// the clock is the caller's, so a correction for the skew AWS reports is
// just a different `now`. libcurl 7.88's own signer is not used (it mangles
// query strings and empty headers and cannot take a clock offset; research
// aws-sinks.md §1.2).
#ifndef SYNCD_AWS_SIGV4_H_
#define SYNCD_AWS_SIGV4_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "http/client.h"

namespace syncd::aws {

// One set of credentials. Never logged: Describe() names where they came
// from, never what they are. Fields not named in a designated initializer
// are empty.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token{};  // "" for long-term keys
  // When temporary credentials stop working; nullopt = never.
  std::optional<std::chrono::system_clock::time_point> expiration{};
};

struct SigningScope {
  std::string region;   // "eu-west-1"
  std::string service;  // the signing name: "sso", "identitystore", "organizations"
};

// The pieces of a signature, exposed for tests and for the debug log on a
// signature mismatch (they hold no secret).
struct SignatureParts {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "content-type;host;x-amz-date;x-amz-target"
  std::string authorization;   // the Authorization header value
};

// Signs `request` in place: adds X-Amz-Date, X-Amz-Security-Token (when the
// credentials carry a token) and Authorization. Signs host, every header the
// request already carries (names lower-cased, values trimmed, sorted) and the
// exact body bytes. The URL's path and query are canonicalised per SigV4
// (segments URI-encoded once, query parameters sorted and encoded).
// Preconditions: request.url is absolute; request carries no Authorization.
SignatureParts SignV4(http::Request& request, const Credentials& credentials,
                      const SigningScope& scope, std::chrono::system_clock::time_point now);

}  // namespace syncd::aws

#endif  // SYNCD_AWS_SIGV4_H_
