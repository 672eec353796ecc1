// The SCIM 2.0 sink (RFC 7643/7644): users and groups written to a remote
// identity service over HTTPS, with a profile for AWS IAM Identity Center's
// limits ("aws") or plain RFC behaviour ("generic").
#ifndef SYNCD_STORE_SCIM_SCIM_SINK_H_
#define SYNCD_STORE_SCIM_SCIM_SINK_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/sink.h"
#include "store/store_config.h"

namespace syncd {

// The [store] keys of kind "scim", checked: url (https, or http to a
// loopback host; no query), token_file set, profile, adopt, nested_groups
// ("direct" is impossible with profile "aws"). The message names the key
// ("store.url must ...").
Status CheckScimConfig(const StoreConfig& config);

// Whether `url` may be a SCIM base URL; the message is a predicate for the
// caller to prefix with the key ("must use https:// ...").
Status CheckScimUrl(std::string_view url);

// A SCIM service as a sink.
//
// Objects are syncd's when their externalId is the object's (the dashed
// objectGUID): creates set it, ReadOwned returns only such objects, and an
// update or delete first checks that the target object still carries it,
// unless this sink created it (the engine opens a sink per run).
// A create that meets 409 adopts per [store] adopt. The sink never waits or
// retries by itself: 429, 5xx and transport failures are OpOutcome::Retry
// (with the server's Retry-After) for the apply module to pace.
//
// The token is read from token_file when the sink is made and on
// ReloadToken(); it is sent only in the Authorization header and appears in
// no message.
class ScimSink : public Sink {
 public:
  static Result<std::unique_ptr<ScimSink>> Create(boost::asio::any_io_executor executor,
                                                  const StoreConfig& config);
  ~ScimSink() override;
  ScimSink(const ScimSink&) = delete;
  ScimSink& operator=(const ScimSink&) = delete;

  const SinkCapabilities& capabilities() const override;
  std::string Describe() const override;
  // id: "scim:" + the normalised base URL. holds_owned: whether the first
  // page (100) of users or of groups holds an object with a GUID-shaped
  // externalId, or is full (more may follow: assumed yes, so that a target
  // crowded with others' objects does not force a full reconciliation every
  // run); two requests at most.
  boost::asio::awaitable<Result<StoreIdentity>> Identify() override;
  // Every user and group whose externalId is GUID-shaped, paged (cursor,
  // startIndex, or DataLoss when the server caps the list and honours
  // neither), and the memberships of those groups among those objects.
  // Profile aws: GET /Groups has no members, so each group costs one paged
  // GET /Users?filter=groups.value eq "<id>".
  boost::asio::awaitable<Result<OwnedContents>> ReadOwned() override;
  boost::asio::awaitable<std::vector<OpOutcome>> Apply(std::span<const SinkOp> ops) override;

  // Re-reads token_file (SIGHUP). On error the previous token stays.
  Status ReloadToken();

  // "scim:" + `url` normalised (scheme and host lower case, default port and
  // trailing slash dropped): the id Identify() reports.
  static Result<std::string> IdOf(const std::string& url);

 private:
  struct Impl;
  explicit ScimSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncd

#endif  // SYNCD_STORE_SCIM_SCIM_SINK_H_
