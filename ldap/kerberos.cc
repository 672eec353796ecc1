#include "ldap/kerberos.h"

#include <krb5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "core/input_file.h"

namespace syncd::ldap {
namespace {

constexpr char kDefaultCcache[] = "MEMORY:syncd";

// krb5's text for `code`, with the detail the library recorded in `ctx`.
std::string ErrorText(krb5_context ctx, krb5_error_code code) {
  const char* text = krb5_get_error_message(ctx, code);
  std::string out = text != nullptr ? text : "Kerberos error " + std::to_string(code);
  krb5_free_error_message(ctx, text);
  return out;
}

std::string Unparse(krb5_context ctx, krb5_const_principal principal) {
  char* name = nullptr;
  if (krb5_unparse_name(ctx, principal, &name) != 0) return "(unprintable principal)";
  std::string out = name;
  krb5_free_unparsed_name(ctx, name);
  return out;
}

std::chrono::system_clock::time_point FromKrb5Time(krb5_timestamp t) {
  // krb5_timestamp is a 32-bit value that MIT reads as unsigned (past 2038).
  return std::chrono::system_clock::from_time_t(static_cast<time_t>(static_cast<uint32_t>(t)));
}

// What a failed AS exchange means for the caller: whether retrying can help.
Status InitCredsError(krb5_context ctx, krb5_error_code code, const std::string& what) {
  const std::string msg = what + ": " + ErrorText(ctx, code);
  switch (code) {
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5_REALM_UNKNOWN:
      return Status::Unavailable(msg +
                                 " [check that krb5.conf names a KDC for the realm and "
                                 "that it can be reached]");
    case KRB5KRB_AP_ERR_SKEW:
      return Status::Unavailable(msg +
                                 " [this host's clock differs from the KDC's by more than "
                                 "the allowed skew: check time synchronisation]");
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
    case KRB5KRB_AP_ERR_MODIFIED:
    case KRB5KRB_AP_ERR_BADKEYVER:
    case KRB5_KT_KVNONOTFOUND:
    case KRB5_PREAUTH_FAILED:
      return Status::PermissionDenied(msg +
                                      " [the keytab's key does not match the account's: "
                                      "its password or key version changed since the "
                                      "keytab was made; export the keytab again]");
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
      return Status::PermissionDenied(msg + " [the KDC does not know this principal]");
    case KRB5KDC_ERR_CLIENT_REVOKED:
    case KRB5KDC_ERR_KEY_EXP:
    case KRB5KDC_ERR_POLICY:
    case KRB5KDC_ERR_ETYPE_NOSUPP:
    case KRB5_KT_NOTFOUND:
      return Status::PermissionDenied(msg);
    default:
      return Status::Unavailable(msg);
  }
}

}  // namespace

std::string DefaultMachinePrincipal(std::string_view hostname, std::string_view realm) {
  const std::string_view short_name = hostname.substr(0, hostname.find('.'));
  if (short_name.empty() || realm.empty()) return "";
  std::string out;
  out.reserve(short_name.size() + realm.size() + 2);
  for (char c : short_name) out += c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  out += "$@";
  out += realm;
  return out;
}

// The krb5 objects, freed in reverse order of creation. The cache is only
// closed here: ~KerberosCredentials destroys it.
struct KerberosCredentials::Krb5 {
  krb5_context ctx = nullptr;
  krb5_principal client = nullptr;  // as configured
  krb5_principal tgs = nullptr;     // krbtgt/REALM@REALM
  krb5_principal cached = nullptr;  // the client the KDC named in the last TGT
  krb5_keytab keytab = nullptr;
  krb5_ccache ccache = nullptr;

  Krb5() = default;
  Krb5(const Krb5&) = delete;
  Krb5& operator=(const Krb5&) = delete;
  ~Krb5() {
    if (ctx == nullptr) return;
    if (ccache != nullptr) krb5_cc_close(ctx, ccache);
    if (keytab != nullptr) krb5_kt_close(ctx, keytab);
    krb5_free_principal(ctx, cached);
    krb5_free_principal(ctx, tgs);
    krb5_free_principal(ctx, client);
    krb5_free_context(ctx);
  }
};

KerberosCredentials::KerberosCredentials(std::unique_ptr<Krb5> krb5, std::string keytab,
                                         std::string principal, std::string ccache_name)
    : krb5_(std::move(krb5)),
      keytab_(std::move(keytab)),
      principal_(std::move(principal)),
      ccache_name_(std::move(ccache_name)) {}

KerberosCredentials::~KerberosCredentials() {
  if (krb5_->ccache != nullptr) {
    krb5_cc_destroy(krb5_->ctx, krb5_->ccache);  // also frees the handle
    krb5_->ccache = nullptr;
  }
}

Result<std::unique_ptr<KerberosCredentials>> KerberosCredentials::Acquire(
    const KerberosOptions& options) {
  std::string path = options.keytab;
  if (path.rfind("FILE:", 0) == 0) path.erase(0, 5);
  if (path.empty()) return Status::InvalidArgument("source.keytab: no keytab configured");
  // Before krb5 sees it: an error that names the file and what is wrong with it.
  if (Status st = CheckInputFile(path, "source.keytab", "a Kerberos keytab file"); !st.ok()) {
    return st;
  }

  auto krb5 = std::make_unique<Krb5>();
  if (krb5_error_code rc = krb5_init_context(&krb5->ctx); rc != 0) {
    krb5->ctx = nullptr;
    return Status::InvalidArgument("cannot initialise Kerberos (krb5.conf): " +
                                   ErrorText(nullptr, rc));
  }
  krb5_context ctx = krb5->ctx;

  // The client principal: configured, or the host's machine account.
  std::string name = options.principal;
  if (name.empty()) {
    char* realm = nullptr;
    if (krb5_error_code rc = krb5_get_default_realm(ctx, &realm); rc != 0) {
      return Status::InvalidArgument(
          "no principal configured and no default realm for the machine account: " +
          ErrorText(ctx, rc) + " [set default_realm in krb5.conf or configure the principal]");
    }
    std::string host(256, '\0');
    if (gethostname(host.data(), host.size() - 1) != 0) {
      krb5_free_default_realm(ctx, realm);
      return Status::Internal(std::string("gethostname: ") + std::strerror(errno));
    }
    host.resize(std::strlen(host.c_str()));
    name = DefaultMachinePrincipal(host, realm);
    krb5_free_default_realm(ctx, realm);
    if (name.empty()) {
      return Status::InvalidArgument("no principal configured and the host name is empty");
    }
  }
  // A name without a realm gets the default realm.
  if (krb5_error_code rc = krb5_parse_name(ctx, name.c_str(), &krb5->client); rc != 0) {
    return Status::InvalidArgument("principal \"" + name + "\": " + ErrorText(ctx, rc));
  }
  std::string principal = Unparse(ctx, krb5->client);
  const krb5_data& realm = krb5->client->realm;
  if (krb5_error_code rc =
          krb5_build_principal_ext(ctx, &krb5->tgs, realm.length, realm.data, KRB5_TGS_NAME_SIZE,
                                   KRB5_TGS_NAME, realm.length, realm.data, 0);
      rc != 0) {
    return Status::Internal("krbtgt principal for " + principal + ": " + ErrorText(ctx, rc));
  }

  // The keytab must hold a key for exactly this principal.
  const std::string kt_name = "FILE:" + path;
  if (krb5_error_code rc = krb5_kt_resolve(ctx, kt_name.c_str(), &krb5->keytab); rc != 0) {
    return Status::InvalidArgument("keytab " + path + ": " + ErrorText(ctx, rc));
  }
  krb5_kt_cursor cursor = nullptr;
  if (krb5_error_code rc = krb5_kt_start_seq_get(ctx, krb5->keytab, &cursor); rc != 0) {
    return Status::InvalidArgument("keytab " + path +
                                   " cannot be read as a keytab: " + ErrorText(ctx, rc));
  }
  bool found = false;
  std::vector<std::string> held;
  krb5_keytab_entry entry;
  krb5_error_code next = 0;
  while ((next = krb5_kt_next_entry(ctx, krb5->keytab, &entry, &cursor)) == 0) {
    if (krb5_principal_compare(ctx, entry.principal, krb5->client)) found = true;
    std::string holds = Unparse(ctx, entry.principal);
    if (std::find(held.begin(), held.end(), holds) == held.end()) held.push_back(std::move(holds));
    krb5_free_keytab_entry_contents(ctx, &entry);
  }
  krb5_kt_end_seq_get(ctx, krb5->keytab, &cursor);
  if (next != KRB5_KT_END) {
    return Status::InvalidArgument("keytab " + path +
                                   " cannot be read as a keytab: " + ErrorText(ctx, next));
  }
  if (!found) {
    std::string list;
    for (const auto& h : held) list += (list.empty() ? "" : ", ") + h;
    return Status::InvalidArgument("keytab " + path + " holds no key for " + principal +
                                   " (it holds: " + (list.empty() ? "nothing" : list) + ")");
  }

  const std::string cc_name = options.ccache_name.empty() ? kDefaultCcache : options.ccache_name;
  if (krb5_error_code rc = krb5_cc_resolve(ctx, cc_name.c_str(), &krb5->ccache); rc != 0) {
    krb5->ccache = nullptr;
    return Status::InvalidArgument("credential cache " + cc_name + ": " + ErrorText(ctx, rc));
  }
  const std::string full_cc_name =
      std::string(krb5_cc_get_type(ctx, krb5->ccache)) + ":" + krb5_cc_get_name(ctx, krb5->ccache);

  std::unique_ptr<KerberosCredentials> creds(
      new KerberosCredentials(std::move(krb5), path, std::move(principal), full_cc_name));
  if (Status st = creds->GetInitialCredentials(); !st.ok()) {
    // Leave the cache (maybe another object's) as it was.
    krb5_cc_close(creds->krb5_->ctx, creds->krb5_->ccache);
    creds->krb5_->ccache = nullptr;
    return st;
  }
  if (setenv("KRB5CCNAME", full_cc_name.c_str(), 1) != 0) {
    return Status::Internal(std::string("setenv KRB5CCNAME: ") + std::strerror(errno));
  }
  return creds;
}

Status KerberosCredentials::GetInitialCredentials() {
  krb5_context ctx = krb5_->ctx;
  const std::string what =
      "cannot get Kerberos credentials for " + principal_ + " from keytab " + keytab_;
  krb5_get_init_creds_opt* opt = nullptr;
  if (krb5_error_code rc = krb5_get_init_creds_opt_alloc(ctx, &opt); rc != 0) {
    return Status::Internal(what + ": " + ErrorText(ctx, rc));
  }
  krb5_creds creds;
  std::memset(&creds, 0, sizeof creds);
  krb5_error_code rc =
      krb5_get_init_creds_keytab(ctx, &creds, krb5_->client, krb5_->keytab,
                                 /*start_time=*/0, /*in_tkt_service=*/nullptr, opt);
  krb5_get_init_creds_opt_free(ctx, opt);
  if (rc != 0) return InitCredsError(ctx, rc, what);

  // Filled in a scratch cache, then moved into the private one in one step
  // (MEMORY caches replace their contents under a lock), so that a GSSAPI
  // bind on a worker thread never sees it empty or half-written.
  krb5_ccache scratch = nullptr;
  rc = krb5_cc_new_unique(ctx, "MEMORY", nullptr, &scratch);
  if (rc == 0) rc = krb5_cc_initialize(ctx, scratch, creds.client);
  if (rc == 0) rc = krb5_cc_store_cred(ctx, scratch, &creds);
  if (rc == 0) {
    rc = krb5_cc_move(ctx, scratch, krb5_->ccache);  // destroys scratch on success
    if (rc == 0) scratch = nullptr;
  }
  if (scratch != nullptr) krb5_cc_destroy(ctx, scratch);
  if (rc == 0) {
    krb5_principal cached = nullptr;
    rc = krb5_copy_principal(ctx, creds.client, &cached);
    if (rc == 0) {
      krb5_free_principal(ctx, krb5_->cached);
      krb5_->cached = cached;
      expires_ = FromKrb5Time(creds.times.endtime);
    }
  }
  krb5_free_cred_contents(ctx, &creds);
  if (rc != 0) {
    return Status::Internal("cannot store Kerberos credentials for " + principal_ + " in " +
                            ccache_name_ + ": " + ErrorText(ctx, rc));
  }
  return Status::Ok();
}

Status KerberosCredentials::RenewIfNeeded(std::chrono::seconds margin) {
  krb5_context ctx = krb5_->ctx;
  std::optional<std::chrono::system_clock::time_point> end;
  krb5_principal holder = nullptr;
  if (krb5_->cached != nullptr && krb5_cc_get_principal(ctx, krb5_->ccache, &holder) == 0) {
    if (krb5_principal_compare(ctx, holder, krb5_->cached)) {
      krb5_creds match;
      std::memset(&match, 0, sizeof match);
      match.client = krb5_->cached;
      match.server = krb5_->tgs;
      krb5_creds tgt;
      std::memset(&tgt, 0, sizeof tgt);
      if (krb5_cc_retrieve_cred(ctx, krb5_->ccache, 0, &match, &tgt) == 0) {
        end = FromKrb5Time(tgt.times.endtime);
        krb5_free_cred_contents(ctx, &tgt);
      }
    }
    krb5_free_principal(ctx, holder);
  }
  if (end.has_value() && *end - std::chrono::system_clock::now() > margin) {
    expires_ = *end;
    return Status::Ok();
  }
  return GetInitialCredentials();
}

}  // namespace syncd::ldap
