// SigV4 as AWS documents it ("Create a signed AWS API request") and as
// botocore's SigV4Auth computes it, which tests/unit/aws_sigv4_test.cc
// checks on random requests.
#include "aws/sigv4.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <utility>
#include <vector>

#include "core/strings.h"
#include "http/url.h"

namespace syncd::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

// Hop-by-hop headers and those a proxy or the transport may rewrite: never
// signed (botocore's SIGNED_HEADERS_BLACKLIST).
constexpr std::array<std::string_view, 11> kUnsignedHeaders = {"connection",
                                                               "expect",
                                                               "keep-alive",
                                                               "proxy-authenticate",
                                                               "proxy-authorization",
                                                               "te",
                                                               "trailer",
                                                               "transfer-encoding",
                                                               "upgrade",
                                                               "user-agent",
                                                               "x-amzn-trace-id"};

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  size_t length = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
            mac.size(), &length);
  return {reinterpret_cast<const char*>(mac.data()), length};
}

// %XX sequences decoded; anything else (a '+' included) kept as it is.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexDigitValue(text[i + 1]) >= 0 &&
        HexDigitValue(text[i + 2]) >= 0) {
      out += static_cast<char>(HexDigitValue(text[i + 1]) * 16 + HexDigitValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

struct UrlParts {
  std::string_view scheme;
  std::string_view authority;  // without userinfo
  std::string_view path;
  std::string_view query;
};

UrlParts SplitUrl(std::string_view url) {
  UrlParts parts;
  const size_t scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) {
    parts.scheme = url.substr(0, scheme_end);
    url.remove_prefix(scheme_end + 3);
  }
  url = url.substr(0, url.find('#'));
  const size_t authority_end = url.find_first_of("/?");
  parts.authority = url.substr(0, authority_end);
  if (const size_t at = parts.authority.rfind('@'); at != std::string_view::npos) {
    parts.authority.remove_prefix(at + 1);
  }
  url = authority_end == std::string_view::npos ? std::string_view() : url.substr(authority_end);
  const size_t query_start = url.find('?');
  parts.path = url.substr(0, query_start);
  if (query_start != std::string_view::npos) parts.query = url.substr(query_start + 1);
  return parts;
}

// host[:port], lower-cased, the scheme's default port left out.
std::string CanonicalHost(const UrlParts& url) {
  std::string host = AsciiLower(url.authority);
  const size_t colon = host.rfind(':');
  if (colon != std::string::npos && host.find(']', colon) == std::string::npos) {
    const std::string_view port = std::string_view(host).substr(colon + 1);
    if ((url.scheme == "https" && port == "443") || (url.scheme == "http" && port == "80")) {
      host.resize(colon);
    }
  }
  return host;
}

// RFC 3986 §5.2.4 dot-segment removal, plus what AWS services also expect:
// empty segments (consecutive slashes) dropped. "" -> "/".
std::string NormalizePath(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out += '/';
    out += segments[i];
  }
  if (path.back() == '/' && !segments.empty()) out += '/';
  return out;
}

// Parameters decoded and re-encoded (so "%7e" and "~" sign the same), a
// missing '=' meaning an empty value, sorted by key then value.
std::string CanonicalQuery(std::string_view query) {
  if (query.empty()) return "";
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start <= query.size()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string_view param = query.substr(start, end - start);
    const size_t equals = param.find('=');
    const std::string_view key = param.substr(0, equals);
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : param.substr(equals + 1);
    params.emplace_back(http::PercentEncode(PercentDecode(key)),
                        http::PercentEncode(PercentDecode(value)));
    start = end + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out += '&';
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

// Leading and trailing white space removed, inner runs (folded lines
// included) collapsed to one space.
std::string TrimAll(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (const char c : value) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

bool IsUnsigned(std::string_view lower_name) {
  return std::find(kUnsignedHeaders.begin(), kUnsignedHeaders.end(), lower_name) !=
         kUnsignedHeaders.end();
}

// 20150830T123600Z.
std::string AmzDate(std::chrono::system_clock::time_point now) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 20> text{};
  const size_t length = std::strftime(text.data(), text.size(), "%Y%m%dT%H%M%SZ", &utc);
  return {text.data(), length};
}

void EraseHeader(std::vector<http::Header>& headers, std::string_view lower_name) {
  std::erase_if(headers, [&](const http::Header& h) { return AsciiLower(h.name) == lower_name; });
}

}  // namespace

SignatureParts SignV4(http::Request& request, const Credentials& credentials,
                      const SigningScope& scope, std::chrono::system_clock::time_point now) {
  // A request signed before (a retry) is signed afresh.
  EraseHeader(request.headers, "authorization");
  EraseHeader(request.headers, "x-amz-date");
  EraseHeader(request.headers, "x-amz-security-token");
  const std::string amz_date = AmzDate(now);
  request.headers.push_back({"X-Amz-Date", amz_date});
  if (!credentials.session_token.empty()) {
    request.headers.push_back({"X-Amz-Security-Token", credentials.session_token});
  }

  const UrlParts url = SplitUrl(request.url);
  // name -> values in request order; repeated headers join with ','.
  std::vector<std::pair<std::string, std::string>> signed_headers;
  std::string payload_hash;
  for (const http::Header& header : request.headers) {
    std::string name = AsciiLower(TrimAll(header.name));
    if (IsUnsigned(name)) continue;
    // A caller-provided payload hash stands for the body (botocore does
    // the same; AWS's test suite uses it).
    if (name == "x-amz-content-sha256") payload_hash = header.value;
    auto existing = std::find_if(signed_headers.begin(), signed_headers.end(),
                                 [&](const auto& entry) { return entry.first == name; });
    if (existing != signed_headers.end()) {
      existing->second += ',';
      existing->second += TrimAll(header.value);
    } else {
      signed_headers.emplace_back(std::move(name), TrimAll(header.value));
    }
  }
  if (std::none_of(signed_headers.begin(), signed_headers.end(),
                   [](const auto& entry) { return entry.first == "host"; })) {
    signed_headers.emplace_back("host", CanonicalHost(url));
  }
  std::sort(signed_headers.begin(), signed_headers.end());
  if (payload_hash.empty()) payload_hash = Sha256Hex(request.body);

  SignatureParts parts;
  std::string canonical_headers;
  for (const auto& [name, value] : signed_headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!parts.signed_headers.empty()) parts.signed_headers += ';';
    parts.signed_headers += name;
  }
  parts.canonical_request = request.method + "\n" +
                            http::PercentEncode(NormalizePath(url.path), "/") + "\n" +
                            CanonicalQuery(url.query) + "\n" + canonical_headers + "\n" +
                            parts.signed_headers + "\n" + payload_hash;

  const std::string date = amz_date.substr(0, 8);
  const std::string credential_scope =
      date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  parts.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + credential_scope +
                         "\n" + Sha256Hex(parts.canonical_request);

  std::string key = HmacSha256("AWS4" + credentials.secret_access_key, date);
  key = HmacSha256(key, scope.region);
  key = HmacSha256(key, scope.service);
  key = HmacSha256(key, "aws4_request");
  const std::string signature = HexEncode(HmacSha256(key, parts.string_to_sign));

  parts.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                        credential_scope + ", SignedHeaders=" + parts.signed_headers +
                        ", Signature=" + signature;
  request.headers.push_back({"Authorization", parts.authorization});
  return parts;
}

}  // namespace syncd::aws
