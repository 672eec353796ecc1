// URL pieces every HTTP caller shares: RFC 3986 percent-encoding and the
// check that a configured service URL is safe to send credentials to.
#ifndef SYNCD_HTTP_URL_H_
#define SYNCD_HTTP_URL_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace syncd::http {

// RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~) and those of `keep`
// stay; every other byte becomes %XX with upper-case hex (what SigV4 and
// SCIM filters expect).
std::string PercentEncode(std::string_view text, std::string_view keep = "");

// localhost, 127.x.y.z or [::1].
bool IsLoopbackHost(std::string_view host);

// An absolute https:// URL with a host (http:// only for a loopback host:
// credentials never cross a network in clear), without user info. The
// message says what is wrong and shows `example`, for config errors.
Status CheckServiceUrl(std::string_view url, std::string_view example);

}  // namespace syncd::http

#endif  // SYNCD_HTTP_URL_H_
