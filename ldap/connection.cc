#include "ldap/connection.h"

#include <fcntl.h>
#include <ldap.h>
#include <netdb.h>
#include <poll.h>
#include <sasl/sasl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <mutex>
#include <utility>

#include "core/input_file.h"
#include "core/strings.h"
#include "ldap/codec.h"
#include "ldap/dirsync_control.h"

namespace syncd::ldap {
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)

namespace {

struct LdapDeleter {
  void operator()(LDAP* ld) const { ldap_unbind_ext(ld, nullptr, nullptr); }
};
using LdapHandle = std::unique_ptr<LDAP, LdapDeleter>;

struct MessageDeleter {
  void operator()(LDAPMessage* msg) const { ldap_msgfree(msg); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageDeleter>;

struct ControlDeleter {
  void operator()(LDAPControl* ctrl) const { ldap_control_free(ctrl); }
};
using ControlPtr = std::unique_ptr<LDAPControl, ControlDeleter>;

struct BerValDeleter {
  void operator()(berval* bv) const { ber_bvfree(bv); }
};

// libldap's error text plus the server's diagnostic message, if any.
std::string Describe(LDAP* ld, int rc) {
  std::string msg = ldap_err2string(rc);
  char* diag = nullptr;
  if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS && diag) {
    // GnuTLS failures come back as the placeholder "(unknown error code)".
    if (*diag && std::strcmp(diag, "(unknown error code)") != 0) {
      msg += std::string(" (") + diag + ")";
    }
    ldap_memfree(diag);
  }
  return msg;
}

// Whether a TCP connection to the URI's host and port opens within the
// timeout, and if not, why. libldap reports a refused port and a failed TLS
// handshake alike ("Can't contact LDAP server"); this tells them apart.
Status TcpConnect(const std::string& uri, std::chrono::seconds timeout) {
  LDAPURLDesc* url = nullptr;
  if (ldap_url_parse(uri.c_str(), &url) != LDAP_URL_SUCCESS) {
    return Status::InvalidArgument("not a usable LDAP URI");
  }
  std::string host = url->lud_host ? url->lud_host : "localhost";
  int port =
      url->lud_port != 0 ? url->lud_port : (std::strcmp(url->lud_scheme, "ldaps") == 0 ? 636 : 389);
  ldap_free_urldesc(url);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addrs = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addrs); rc != 0) {
    return Status::Unavailable("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  Status why = Status::Unavailable("no address for " + host);
  for (addrinfo* a = addrs; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int error = connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      socklen_t len = sizeof error;
      if (poll(&pfd, 1, static_cast<int>(timeout.count() * 1000)) != 1) {
        error = ETIMEDOUT;
      } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
        error = errno;
      }
    }
    close(fd);
    if (error == 0) {
      why = Status::Ok();
      break;
    }
    why = Status::Unavailable(error == ETIMEDOUT ? "no TCP connection to " + host + " port " +
                                                       std::to_string(port) + " within " +
                                                       std::to_string(timeout.count()) + " s"
                                                 : std::string(std::strerror(error)));
  }
  freeaddrinfo(addrs);
  return why;
}

bool IsAuthFailure(int rc) {
  return rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_STRONG_AUTH_REQUIRED ||
         rc == LDAP_INAPPROPRIATE_AUTH || rc == LDAP_INSUFFICIENT_ACCESS ||
         rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_AUTH_METHOD_NOT_SUPPORTED;
}

// Cyrus SASL asks for defaults (authcid, realm); GSSAPI needs none of them.
int SaslInteract(LDAP* /*ld*/, unsigned /*flags*/, void* /*defaults*/, void* in) {
  for (auto* interact = static_cast<sasl_interact_t*>(in); interact->id != SASL_CB_LIST_END;
       ++interact) {
    const char* value = interact->defresult ? interact->defresult : "";
    interact->result = value;
    interact->len = static_cast<unsigned>(std::strlen(value));
  }
  return LDAP_SUCCESS;
}

Status SetOption(LDAP* ld, int option, const void* value, const std::string& what) {
  if (ldap_set_option(ld, option, value) != LDAP_OPT_SUCCESS) {
    return Status::Internal("cannot set LDAP option " + what);
  }
  return Status::Ok();
}

// The TLS settings of every handshake; `verify` off only for the probe below
// or when the config turns verification off.
Status SetTlsOptions(LDAP* ld, const ConnectOptions& options, bool verify) {
  if (!options.tls_ca_file.empty()) {
    Status st = SetOption(ld, LDAP_OPT_X_TLS_CACERTFILE, options.tls_ca_file.c_str(), "CA file");
    if (!st.ok()) return st;
  }
  const int require = verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
  const int min_protocol = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  for (Status st : {SetOption(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require, "TLS verification"),
                    SetOption(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_protocol, "TLS minimum")}) {
    if (!st.ok()) return st;
  }
  const int new_context = 0;
  if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &new_context) != LDAP_OPT_SUCCESS) {
    // The CA file was checked for PEM certificates (CheckCaFile); what is
    // left is a certificate that does not decode.
    if (!options.tls_ca_file.empty()) {
      return Status::InvalidArgument("source.tls_ca_file: " + options.tls_ca_file +
                                     ": its certificates cannot be loaded (libldap cannot build "
                                     "a TLS context with them)");
    }
    return Status::Internal("cannot set LDAP option TLS context");
  }
  return Status::Ok();
}

// libldap reads PEM only, and reports a file it cannot use as a failed TLS
// context; this names the key and the file's fault instead.
Status CheckCaFile(const std::string& path) {
  auto text = ReadInputFile(path, "source.tls_ca_file", "a PEM file of CA certificates");
  if (!text.ok()) return text.status();
  for (const char* label : {"-----BEGIN CERTIFICATE-----", "-----BEGIN X509 CERTIFICATE-----",
                            "-----BEGIN TRUSTED CERTIFICATE-----"}) {
    if (text->find(label) != std::string::npos) return Status::Ok();
  }
  return Status::InvalidArgument(
      "source.tls_ca_file: " + path +
      " holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"), expected the CA "
      "certificate(s) that signed the DCs' certificates");
}

// How long connecting, TLS and the bind may take in all.
std::chrono::seconds BringUpDeadline(const ConnectOptions& options) {
  return options.connect_timeout + options.operation_timeout;
}

// Bounds the blocking bring-up from outside. libldap's TLS handshake and
// bind wait on a DC that accepted the TCP connection but answers nothing
// (hung, or stopped) without any timeout; the loop then shuts the socket
// down, which makes the blocked call on the worker fail. libldap reports the
// socket through its connection callbacks, and forgets it before closing it,
// so a late deadline never touches a reused descriptor.
class BringUpGuard {
 public:
  void Expire() {
    std::lock_guard lock(mutex_);
    expired_ = true;
    if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
  }
  // On the worker, once bring-up succeeded: the socket is the caller's now.
  // False if the deadline passed first.
  bool Finish() {
    std::lock_guard lock(mutex_);
    fd_ = -1;
    return !expired_;
  }
  bool expired() {
    std::lock_guard lock(mutex_);
    return expired_;
  }
  ldap_conncb* callbacks() { return &callbacks_; }

 private:
  static int Added(LDAP* /*ld*/, Sockbuf* sb, LDAPURLDesc* /*url*/, sockaddr* /*addr*/,
                   ldap_conncb* ctx) {
    auto* self = static_cast<BringUpGuard*>(ctx->lc_arg);
    std::lock_guard lock(self->mutex_);
    ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &self->fd_);
    if (self->expired_ && self->fd_ >= 0) shutdown(self->fd_, SHUT_RDWR);
    return 0;
  }
  static void Deleted(LDAP* /*ld*/, Sockbuf* /*sb*/, ldap_conncb* ctx) {
    auto* self = static_cast<BringUpGuard*>(ctx->lc_arg);
    std::lock_guard lock(self->mutex_);
    self->fd_ = -1;
  }

  std::mutex mutex_;
  int fd_ = -1;
  bool expired_ = false;
  ldap_conncb callbacks_{&Added, &Deleted, this};
};

struct BoundHandle {
  // libldap keeps calling the guard's callbacks until the handle is freed:
  // declared first, so it is destroyed after `ld`.
  std::shared_ptr<BringUpGuard> guard;
  LdapHandle ld;
  int ssf = 0;
};

// Connects to `uri` and sets up TLS (LDAPS, or StartTLS) without checking the
// DC's certificate, sending no credentials; closes at once. When this works
// and the checked handshake did not, the certificate was the fault (its CA,
// or the names in it), and only then are the CA and name hints right.
bool HandshakeWithoutVerification(const std::string& uri, const ConnectOptions& options,
                                  BringUpGuard& guard) {
  LDAP* raw = nullptr;
  if (ldap_initialize(&raw, uri.c_str()) != LDAP_SUCCESS) return false;
  LdapHandle ld(raw);
  const int version = LDAP_VERSION3;
  timeval network_timeout{static_cast<time_t>(options.connect_timeout.count()), 0};
  timeval op_timeout{static_cast<time_t>(options.operation_timeout.count()), 0};
  for (const Status& st :
       {SetOption(raw, LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version"),
        SetOption(raw, LDAP_OPT_NETWORK_TIMEOUT, &network_timeout, "network timeout"),
        SetOption(raw, LDAP_OPT_TIMEOUT, &op_timeout, "timeout"),
        SetTlsOptions(raw, options, /*verify=*/false)}) {
    if (!st.ok()) return false;
  }
  // Under the same deadline as the real attempt.
  if (ldap_set_option(raw, LDAP_OPT_CONNECT_CB, guard.callbacks()) != LDAP_OPT_SUCCESS) {
    return false;
  }
  const int rc =
      uri.rfind("ldaps://", 0) == 0 ? ldap_connect(raw) : ldap_start_tls_s(raw, nullptr, nullptr);
  return rc == LDAP_SUCCESS;
}

// Why the TLS handshake (`what`: "TLS handshake" or "StartTLS") failed:
// the certificate, with hints on what to check, only when a handshake
// without verification succeeds; otherwise the connection's fault.
Status HandshakeFailure(const std::string& uri, const ConnectOptions& options, BringUpGuard& guard,
                        const std::string& what, const std::string& why) {
  if (options.tls_verify && HandshakeWithoutVerification(uri, options, guard)) {
    return Status::Unavailable(
        uri + ": " + what + " failed: the DC's certificate was not accepted: " + why +
        " [check that tls_ca_file (" +
        (options.tls_ca_file.empty() ? "unset: system store" : options.tls_ca_file) +
        ") holds the CA that signed the DC's certificate and that the URI names the host in "
        "the certificate]");
  }
  return Status::Unavailable(uri + ": " + what + " failed: " + why +
                             " [the DC accepted the TCP connection, but no TLS session could be "
                             "set up even without checking its certificate: the connection was "
                             "dropped, or the port does not speak TLS]");
}

// The blocking part of bring-up: runs on a worker thread.
Result<BoundHandle> ConnectAndBind(const std::string& uri, const ConnectOptions& options,
                                   BringUpGuard& guard) {
  LDAP* raw = nullptr;
  int rc = ldap_initialize(&raw, uri.c_str());
  if (rc != LDAP_SUCCESS) {
    return Status::InvalidArgument(uri + ": not a usable LDAP URI: " + ldap_err2string(rc));
  }
  LdapHandle ld(raw);
  const int version = LDAP_VERSION3;
  timeval network_timeout{static_cast<time_t>(options.connect_timeout.count()), 0};
  timeval op_timeout{static_cast<time_t>(options.operation_timeout.count()), 0};
  for (Status st : {SetOption(raw, LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version"),
                    SetOption(raw, LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals"),
                    SetOption(raw, LDAP_OPT_NETWORK_TIMEOUT, &network_timeout, "network timeout"),
                    SetOption(raw, LDAP_OPT_TIMEOUT, &op_timeout, "timeout")}) {
    if (!st.ok()) return st;
  }
  // TCP keepalive: a change-notification search stays silent for hours, and
  // only probes notice a DC that vanished without closing the connection.
  if (ldap_set_option(raw, LDAP_OPT_CONNECT_CB, guard.callbacks()) != LDAP_OPT_SUCCESS) {
    return Status::Internal("cannot set the LDAP connection callback");
  }
  const int keepalive_idle = 60, keepalive_probes = 3, keepalive_interval = 10;
  for (Status st :
       {SetOption(raw, LDAP_OPT_X_KEEPALIVE_IDLE, &keepalive_idle, "keepalive idle"),
        SetOption(raw, LDAP_OPT_X_KEEPALIVE_PROBES, &keepalive_probes, "keepalive probes"),
        SetOption(raw, LDAP_OPT_X_KEEPALIVE_INTERVAL, &keepalive_interval, "keepalive interval")}) {
    if (!st.ok()) return st;
  }

  const bool ldaps = uri.rfind("ldaps://", 0) == 0;
  if (ldaps || options.starttls) {
    if (!options.tls_ca_file.empty()) {
      Status st = CheckCaFile(options.tls_ca_file);
      if (!st.ok()) return st;
    }
    Status st = SetTlsOptions(raw, options, options.tls_verify);
    if (!st.ok()) return st;
  }

  // After a failure past the deadline the caller says "no answer within";
  // probing further would only wait again.
  if (ldaps) {
    rc = ldap_connect(raw);
    if (rc != LDAP_SUCCESS) {
      const std::string why = Describe(raw, rc);
      if (guard.expired()) return Status::Unavailable(uri + ": TLS handshake failed: " + why);
      if (Status tcp = TcpConnect(uri, options.connect_timeout); !tcp.ok()) {
        return Status::Unavailable(uri + ": cannot connect: " + tcp.message());
      }
      return HandshakeFailure(uri, options, guard, "TLS handshake", why);
    }
  } else if (options.starttls) {
    rc = ldap_start_tls_s(raw, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      const std::string why = Describe(raw, rc);
      if (guard.expired()) return Status::Unavailable(uri + ": StartTLS failed: " + why);
      switch (rc) {
        case LDAP_CONNECT_ERROR:  // the DC agreed; the handshake failed
          return HandshakeFailure(uri, options, guard, "StartTLS", why);
        case LDAP_SERVER_DOWN:
          if (Status tcp = TcpConnect(uri, options.connect_timeout); !tcp.ok()) {
            return Status::Unavailable(uri + ": cannot connect: " + tcp.message());
          }
          return Status::Unavailable(uri +
                                     ": StartTLS failed: the connection was closed before "
                                     "the DC answered: " +
                                     why);
        case LDAP_TIMEOUT:
          return Status::Unavailable(uri + ": StartTLS failed: no answer within " +
                                     std::to_string(options.operation_timeout.count()) + " s");
        default:  // the DC's answer to the StartTLS request
          return Status::Unavailable(uri + ": the DC refused StartTLS: " + why);
      }
    }
  }

  BoundHandle bound;
  if (options.auth == AuthMethod::kSimple) {
    berval cred{options.password.size(), const_cast<char*>(options.password.data())};
    rc = ldap_sasl_bind_s(raw, options.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr,
                          nullptr);
    if (rc != LDAP_SUCCESS) {
      std::string msg =
          uri + ": simple bind as " + options.bind_dn + " failed: " + Describe(raw, rc);
      if (IsAuthFailure(rc)) return Status::PermissionDenied(msg);
      return Status::Unavailable(msg);
    }
  } else {
    // GSSAPI over plain LDAP with a security layer; libldap must not
    // canonicalise the host through reverse DNS (the SPN is ldap/<URI host>).
    for (Status st : {SetOption(raw, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON, "SASL nocanon"),
                      SetOption(raw, LDAP_OPT_X_SASL_SECPROPS, "minssf=56", "SASL secprops")}) {
      if (!st.ok()) return st;
    }
    rc = ldap_sasl_interactive_bind_s(raw, nullptr, "GSSAPI", nullptr, nullptr, LDAP_SASL_QUIET,
                                      SaslInteract, nullptr);
    if (rc != LDAP_SUCCESS) {
      std::string msg = uri + ": GSSAPI bind failed: " + Describe(raw, rc) +
                        " [check the keytab or credential cache, krb5.conf and that the URI "
                        "names the DC by its host name]";
      // LDAP_LOCAL_ERROR (no ticket for this DC's SPN, clock skew with it) is
      // about this DC: the next one may work.
      if (IsAuthFailure(rc)) return Status::PermissionDenied(msg);
      return Status::Unavailable(msg);
    }
    ber_len_t ssf = 0;
    ldap_get_option(raw, LDAP_OPT_X_SASL_SSF, &ssf);
    if (ssf == 0) {
      return Status::PermissionDenied(uri + ": GSSAPI bind negotiated no security layer (SSF 0)");
    }
    bound.ssf = static_cast<int>(ssf);
  }
  if (!guard.Finish()) return Status::Unavailable(uri + ": bring-up deadline passed");
  bound.ld = std::move(ld);
  return bound;
}

// Owns the strings a libldap call reads as a NULL-terminated char* array.
class CStringArray {
 public:
  explicit CStringArray(const std::vector<std::string>& values) {
    for (const auto& v : values) pointers_.push_back(const_cast<char*>(v.c_str()));
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.size() == 1 ? nullptr : pointers_.data(); }

 private:
  std::vector<char*> pointers_;
};

// The outcome of a SearchResultDone: its result code and, unless success,
// the error text with the server's diagnostic message.
struct SearchDone {
  int rc = LDAP_OTHER;
  std::string text;
};

// controls: receives the response controls when non-null (caller frees).
SearchDone ParseDone(LDAP* ld, LDAPMessage* msg, LDAPControl*** controls) {
  SearchDone done;
  char* diag = nullptr;
  int parse = ldap_parse_result(ld, msg, &done.rc, nullptr, &diag, nullptr, controls, 0);
  if (parse != LDAP_SUCCESS) done.rc = parse;
  if (done.rc != LDAP_SUCCESS) {
    done.text = ldap_err2string(done.rc);
    if (diag != nullptr && *diag != '\0') done.text += std::string(" (") + diag + ")";
  }
  ldap_memfree(diag);
  return done;
}

// What holding a search entry's message costs, about: its DN and the
// encoded attributes after it.
size_t EntryMessageBytes(LDAP* ld, LDAPMessage* msg) {
  BerElement* ber = nullptr;
  berval dn{0, nullptr};
  if (ldap_get_dn_ber(ld, msg, &ber, &dn) != LDAP_SUCCESS) return 0;
  ber_len_t remaining = 0;
  ber_get_option(ber, LBER_OPT_BER_REMAINING_BYTES, &remaining);
  ber_free(ber, 0);
  return dn.bv_len + remaining;
}

Entry ParseEntry(LDAP* ld, LDAPMessage* msg) {
  Entry entry;
  if (char* dn = ldap_get_dn(ld, msg)) {
    entry.dn = ParseExtendedDn(dn).dn;
    ldap_memfree(dn);
  }
  BerElement* ber = nullptr;
  for (char* name = ldap_first_attribute(ld, msg, &ber); name != nullptr;
       name = ldap_next_attribute(ld, msg, ber)) {
    auto& values = entry.attributes[AsciiLower(name)];
    if (berval** vals = ldap_get_values_len(ld, msg, name)) {
      for (berval** v = vals; *v != nullptr; ++v) values.emplace_back((*v)->bv_val, (*v)->bv_len);
      ldap_value_free_len(vals);
    }
    ldap_memfree(name);
  }
  if (ber != nullptr) ber_free(ber, 0);
  return entry;
}

}  // namespace

struct Connection::Impl {
  Impl(BoundHandle bound, const asio::any_io_executor& loop, int fd, std::chrono::seconds timeout)
      : guard(std::move(bound.guard)),
        ld(std::move(bound.ld)),
        socket(loop, fd),
        timer(loop),
        operation_timeout(timeout) {}
  ~Impl() { socket.release(); }  // libldap owns the descriptor and closes it on unbind

  // The next message of operation `msgid` (or LDAP_RES_ANY), waiting at most
  // the operation timeout unless `deadline` is false. libldap may already
  // hold buffered messages (TLS, SASL layers), so poll it before waiting on
  // the socket.
  asio::awaitable<Result<MessagePtr>> NextMessage(int msgid, bool deadline = true) {
    // A server that let one answer time out (hung, or stopped) is given up:
    // every later operation fails at once instead of waiting out its own
    // timeout, so a run ends within one timeout of the DC going silent.
    if (!silent.empty()) co_return Status::Unavailable(silent);
    bool repolled = false;
    for (;;) {
      timeval zero{0, 0};
      LDAPMessage* raw = nullptr;
      int type = ldap_result(ld.get(), msgid, LDAP_MSG_ONE, &zero, &raw);
      if (type > 0) co_return MessagePtr(raw);
      if (type < 0) {
        int rc = LDAP_SERVER_DOWN;
        ldap_get_option(ld.get(), LDAP_OPT_RESULT_CODE, &rc);
        co_return Status::Unavailable("connection lost: " + Describe(ld.get(), rc));
      }
      // ldap_result() reads one PDU per call; a discarded one (a late reply to
      // an abandoned request) returns 0 with ours still buffered.
      // Poll again once, not in a loop, in case the buffer holds a partial PDU.
      Sockbuf* sb = nullptr;
      if (!repolled && ldap_get_option(ld.get(), LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS &&
          sb != nullptr && ber_sockbuf_ctrl(sb, LBER_SB_OPT_DATA_READY, nullptr) > 0) {
        repolled = true;
        continue;
      }
      repolled = false;
      if (deadline) {
        timer.expires_after(operation_timeout);
      } else {
        timer.expires_at(asio::steady_timer::time_point::max());
      }
      auto which = co_await (socket.async_wait(asio::posix::descriptor_base::wait_read,
                                               asio::as_tuple(asio::use_awaitable)) ||
                             timer.async_wait(asio::as_tuple(asio::use_awaitable)));
      if (which.index() == 1) {
        ldap_abandon_ext(ld.get(), msgid, nullptr, nullptr);
        silent =
            "no answer from the server within " + std::to_string(operation_timeout.count()) + " s";
        co_return Status::Unavailable(silent);
      }
      if (auto [ec] = std::get<0>(which); ec) {
        co_return Status::Unavailable("waiting for the server: " + ec.message());
      }
    }
  }

  // Starts a search with `controls`, plus the Extended-DN control when the
  // request asks for it; returns the message id.
  Result<int> StartSearch(const SearchRequest& request, std::vector<LDAPControl*> controls) {
    ControlPtr xdn;
    if (request.extended_dn) {
      LDAPControl* made = nullptr;
      if (ldap_create_extended_dn_control(ld.get(), 1, &made) != LDAP_SUCCESS) {
        return Status::Internal("cannot build the Extended-DN control");
      }
      xdn.reset(made);
      controls.push_back(xdn.get());
    }
    ControlPtr deleted;
    if (request.show_deleted) {
      LDAPControl* made = nullptr;
      if (ldap_create_show_deleted_control(ld.get(), &made) != LDAP_SUCCESS) {
        return Status::Internal("cannot build the Show-Deleted control");
      }
      deleted.reset(made);
      controls.push_back(deleted.get());
    }
    CStringArray attrs(request.attributes);
    controls.push_back(nullptr);
    int msgid = 0;
    int rc = ldap_search_ext(ld.get(), request.base.c_str(), static_cast<int>(request.scope),
                             request.filter.c_str(), attrs.get(), 0, controls.data(), nullptr,
                             nullptr, 0, &msgid);
    if (rc != LDAP_SUCCESS) {
      return Status::Unavailable("search under " + request.base +
                                 " could not start: " + Describe(ld.get(), rc));
    }
    return msgid;
  }

  std::shared_ptr<BringUpGuard> guard;  // outlives ld (see BoundHandle)
  LdapHandle ld;
  asio::posix::stream_descriptor socket;
  asio::steady_timer timer;
  std::chrono::seconds operation_timeout;
  std::string silent;  // why the server is given up; empty while it answers
};

Connection::Connection(std::unique_ptr<Impl> impl, std::string uri, int ssf)
    : impl_(std::move(impl)), uri_(std::move(uri)), sasl_ssf_(ssf) {}

Connection::~Connection() = default;

asio::awaitable<Result<std::unique_ptr<Connection>>> Connection::Open(
    asio::any_io_executor loop, asio::thread_pool& workers, const ConnectOptions& options,
    const std::function<void(const std::string& uri, const Status& why)>& on_failover) {
  if (options.uris.empty()) co_return Status::InvalidArgument("no LDAP URIs configured");
  std::string failures;
  for (const std::string& uri : options.uris) {
    auto guard = std::make_shared<BringUpGuard>();
    asio::steady_timer deadline(loop, BringUpDeadline(options));
    deadline.async_wait([guard](const boost::system::error_code& ec) {
      if (!ec) guard->Expire();
    });
    Result<BoundHandle> bound = co_await asio::co_spawn(
        workers,
        // By reference: this frame outlives the worker's call.
        [&uri, &options, &guard]() -> asio::awaitable<Result<BoundHandle>> {
          Result<BoundHandle> result = ConnectAndBind(uri, options, *guard);
          if (!result.ok() && guard->expired()) {
            co_return Status::Unavailable(uri + ": no answer within " +
                                          std::to_string(BringUpDeadline(options).count()) +
                                          " s (" + result.status().message() + ")");
          }
          co_return result;
        },
        // Not cancellable: the blocking call cannot be interrupted (the
        // deadline above bounds it), and cancelling the worker's coroutine
        // would throw out of it.
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
    deadline.cancel();
    if (!bound.ok()) {
      const auto code = bound.status().code();
      if (code == Status::Code::kPermissionDenied || code == Status::Code::kInvalidArgument) {
        co_return bound.status();
      }
      if (on_failover) on_failover(uri, bound.status());
      failures += (failures.empty() ? "" : "; ") + bound.status().message();
      continue;
    }
    int fd = -1;
    if (ldap_get_option(bound->ld.get(), LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0) {
      co_return Status::Internal(uri + ": connected but libldap has no socket");
    }
    const int ssf = bound->ssf;
    bound->guard = guard;
    auto impl = std::make_unique<Impl>(std::move(*bound), loop, fd, options.operation_timeout);
    co_return std::unique_ptr<Connection>(new Connection(std::move(impl), uri, ssf));
  }
  co_return Status::Unavailable("no domain controller could be reached: " + failures);
}

asio::awaitable<Result<SearchOutcome>> Connection::PagedSearch(const SearchRequest& request,
                                                               const EntryHandler& on_entry) {
  LDAP* ld = impl_->ld.get();
  SearchOutcome outcome;
  std::unique_ptr<berval, BerValDeleter> cookie;
  auto incomplete = [&](std::string reason) {
    outcome.incomplete_reason = request.base + ": " + std::move(reason);
    return outcome;
  };
  auto start_page = [&]() -> Result<int> {
    LDAPControl* page = nullptr;
    if (ldap_create_page_control(ld, request.page_size, cookie.get(), 1, &page) != LDAP_SUCCESS) {
      return Status::Internal("cannot build the paged-results control");
    }
    ControlPtr page_ctrl(page);
    return impl_->StartSearch(request, {page_ctrl.get()});
  };
  // Read-ahead: a page's entries wait here, as the server's messages, until
  // its SearchResultDone has asked for the next page; the DC then builds that
  // page while the handler works through this one. Handing each entry on as
  // it arrived kept the DC idle for as long as the handler took. Bounded by
  // request.read_ahead_bytes: past it, what is held is handed on at once.
  std::vector<MessagePtr> held;
  size_t held_bytes = 0;
  auto hand_on_held = [&]() -> Status {
    Status st = Status::Ok();
    for (MessagePtr& message : held) {
      if (st.ok()) {
        ++outcome.entries;
        st = on_entry(ParseEntry(ld, message.get()));
      }
      message.reset();
    }
    held.clear();
    held_bytes = 0;
    return st;
  };
  // An incomplete page still hands on what it read, as a complete one would.
  auto end_incomplete = [&](std::string reason) -> Result<SearchOutcome> {
    if (Status st = hand_on_held(); !st.ok()) return st;
    return incomplete(std::move(reason));
  };

  // A page that could not be asked for: a control syncd could not build is
  // an error of its own; a DC refusing or gone leaves the search incomplete.
  auto not_started = [&](const Status& why) -> Result<SearchOutcome> {
    if (why.code() == Status::Code::kInternal) return why;
    return incomplete(why.message());
  };

  Result<int> msgid = start_page();
  if (!msgid.ok()) co_return not_started(msgid.status());
  for (;;) {
    Result<MessagePtr> msg = co_await impl_->NextMessage(*msgid);
    if (!msg.ok()) co_return end_incomplete(msg.status().message());
    int type = ldap_msgtype(msg->get());
    if (type == LDAP_RES_SEARCH_ENTRY) {
      held_bytes += EntryMessageBytes(ld, msg->get());
      held.push_back(std::move(*msg));
      if (held_bytes < request.read_ahead_bytes) continue;
      if (Status st = hand_on_held(); !st.ok()) {
        ldap_abandon_ext(ld, *msgid, nullptr, nullptr);
        co_return st;
      }
      continue;
    }
    if (type != LDAP_RES_SEARCH_RESULT) continue;  // references, intermediates

    LDAPControl** response_controls = nullptr;
    SearchDone done = ParseDone(ld, msg->get(), &response_controls);
    if (done.rc != LDAP_SUCCESS) {
      ldap_controls_free(response_controls);
      co_return end_incomplete(done.text);
    }
    ++outcome.pages;
    LDAPControl* response =
        ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, response_controls, nullptr);
    berval next{0, nullptr};
    ber_int_t estimate = 0;
    int pr = response ? ldap_parse_pageresponse_control(ld, response, &estimate, &next)
                      : LDAP_CONTROL_NOT_FOUND;
    ldap_controls_free(response_controls);
    if (pr != LDAP_SUCCESS) {
      co_return end_incomplete("the server did not return a paged-results control");
    }
    if (next.bv_len == 0) {
      ber_memfree(next.bv_val);
      if (Status st = hand_on_held(); !st.ok()) co_return st;
      outcome.complete = true;
      co_return outcome;
    }
    cookie.reset(ber_bvdup(&next));
    ber_memfree(next.bv_val);
    msgid = start_page();  // before handing on this page: see `held`
    if (Status st = hand_on_held(); !st.ok()) {
      if (msgid.ok()) ldap_abandon_ext(ld, *msgid, nullptr, nullptr);
      co_return st;
    }
    if (!msgid.ok()) co_return not_started(msgid.status());
  }
}

asio::awaitable<Result<std::vector<Entry>>> Connection::Search(const SearchRequest& request) {
  LDAP* ld = impl_->ld.get();
  Result<int> msgid = impl_->StartSearch(request, {});
  if (!msgid.ok()) co_return msgid.status();
  std::vector<Entry> entries;
  for (;;) {
    Result<MessagePtr> msg = co_await impl_->NextMessage(*msgid);
    if (!msg.ok()) co_return msg.status();
    int type = ldap_msgtype(msg->get());
    if (type == LDAP_RES_SEARCH_ENTRY) {
      entries.push_back(ParseEntry(ld, msg->get()));
    } else if (type == LDAP_RES_SEARCH_RESULT) {
      SearchDone done = ParseDone(ld, msg->get(), nullptr);
      if (done.rc == LDAP_NO_SUCH_OBJECT) {
        co_return Status::NotFound(request.base + " does not exist");
      }
      if (done.rc != LDAP_SUCCESS) {
        co_return Status::Unavailable("search under " + request.base + " failed: " + done.text);
      }
      co_return entries;
    }
  }
}

asio::awaitable<Result<DirSyncPage>> Connection::DirSync(const DirSyncRequest& request,
                                                         const EntryHandler& on_entry) {
  LDAP* ld = impl_->ld.get();
  // AD wants the flags INTEGER in exactly four octets (0x80000000 included);
  // libldap encodes an int, which gives that.
  berval cookie{request.cookie.size(),
                request.cookie.empty() ? nullptr : const_cast<char*>(request.cookie.data())};
  LDAPControl* made = nullptr;
  if (ldap_create_dirsync_control(ld, static_cast<int>(request.flags), 0x100000, &cookie, &made) !=
      LDAP_SUCCESS) {
    co_return Status::Internal("cannot build the DirSync control");
  }
  ControlPtr dirsync(made);
  SearchRequest search;
  search.base = request.naming_context;
  search.filter = request.filter;
  search.attributes = request.attributes;
  search.show_deleted = true;
  Result<int> msgid = impl_->StartSearch(search, {dirsync.get()});
  if (!msgid.ok()) co_return msgid.status();

  DirSyncPage page;
  for (;;) {
    Result<MessagePtr> msg = co_await impl_->NextMessage(*msgid);
    if (!msg.ok()) co_return msg.status().WithContext("DirSync");
    int type = ldap_msgtype(msg->get());
    if (type == LDAP_RES_SEARCH_ENTRY) {
      ++page.entries;
      Status st = on_entry(ParseEntry(ld, msg->get()));
      if (!st.ok()) {
        ldap_abandon_ext(ld, *msgid, nullptr, nullptr);
        co_return st;
      }
      continue;
    }
    if (type != LDAP_RES_SEARCH_RESULT) continue;
    LDAPControl** response_controls = nullptr;
    SearchDone done = ParseDone(ld, msg->get(), &response_controls);
    if (done.rc != LDAP_SUCCESS) {
      ldap_controls_free(response_controls);
      page.result_code = done.rc;
      page.diagnostic = done.text;
      co_return page;
    }
    Result<DirSyncControl> control = ParseDirSyncControl(ld, response_controls);
    ldap_controls_free(response_controls);
    if (!control.ok()) co_return control.status();
    page.more = control->more;
    page.cookie = std::move(control->cookie);
    co_return page;
  }
}

asio::awaitable<Status> Connection::WatchChanges(const std::vector<SearchRequest>& requests,
                                                 const EntryHandler& on_change) {
  if (requests.empty() || requests.size() > kMaxNotificationsPerConnection) {
    co_return Status::InvalidArgument(
        "a connection holds 1 to " + std::to_string(kMaxNotificationsPerConnection) +
        " change notifications, not " + std::to_string(requests.size()));
  }
  LDAP* ld = impl_->ld.get();
  std::vector<int> msgids;
  // Abandons what is still registered however this returns.
  struct Abandon {
    LDAP* ld;
    std::vector<int>* ids;
    ~Abandon() {
      for (int id : *ids) ldap_abandon_ext(ld, id, nullptr, nullptr);
    }
  } abandon{ld, &msgids};
  for (const SearchRequest& request : requests) {
    LDAPControl* made = nullptr;
    if (ldap_create_server_notification_control(ld, &made) != LDAP_SUCCESS) {
      co_return Status::Internal("cannot build the change-notification control");
    }
    ControlPtr notification(made);
    Result<int> msgid = impl_->StartSearch(request, {notification.get()});
    if (!msgid.ok()) co_return msgid.status();
    msgids.push_back(*msgid);
  }
  for (;;) {
    // No deadline: a quiet directory sends nothing, and TCP keepalive
    // notices a DC that vanished.
    Result<MessagePtr> next = co_await impl_->NextMessage(LDAP_RES_ANY, /*deadline=*/false);
    if (!next.ok()) {
      msgids.clear();
      co_return next.status().WithContext(uri_ + ": change notification");
    }
    MessagePtr msg = std::move(*next);
    const int type = ldap_msgtype(msg.get());
    if (type == LDAP_RES_SEARCH_ENTRY) {
      Status st = on_change(ParseEntry(ld, msg.get()));
      if (!st.ok()) co_return st;
    } else if (type == LDAP_RES_SEARCH_RESULT) {
      const int id = ldap_msgid(msg.get());
      std::erase(msgids, id);
      SearchDone done = ParseDone(ld, msg.get(), nullptr);
      co_return Status::Unavailable(
          uri_ + ": the DC ended a change notification: " +
          (done.rc == LDAP_SUCCESS ? std::string("without an error") : done.text));
    }
  }
}

}  // namespace syncd::ldap
