#include "http/url.h"

#include <boost/url/parse.hpp>

#include <cctype>

#include "core/strings.h"

namespace syncd::http {

std::string PercentEncode(std::string_view text, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto b = static_cast<unsigned char>(c);
    if (std::isalnum(b) != 0 || c == '-' || c == '.' || c == '_' || c == '~' ||
        keep.find(c) != std::string_view::npos) {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0xF];
    }
  }
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  const std::string h = AsciiLower(host);
  return h == "localhost" || h.starts_with("127.") || h == "[::1]" || h == "::1";
}

Status CheckServiceUrl(std::string_view url, std::string_view example) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return Status::InvalidArgument("must be an absolute URL such as \"" + std::string(example) +
                                   "\"");
  }
  const std::string scheme = AsciiLower(parsed->scheme());
  if (scheme != "https" && scheme != "http") {
    return Status::InvalidArgument("must use https:// (not " + scheme + "://)");
  }
  if (parsed->host().empty()) return Status::InvalidArgument("names no host");
  if (scheme == "http" && !IsLoopbackHost(parsed->host())) {
    return Status::InvalidArgument(
        "must use https://; http:// is accepted only for a loopback "
        "host (localhost, 127.0.0.1, [::1]), not " +
        std::string(parsed->host()));
  }
  if (parsed->has_userinfo()) {
    return Status::InvalidArgument("must not carry a user or password");
  }
  return Status::Ok();
}

}  // namespace syncd::http
