// A Directory that answers from recorded server replies instead of a DC: the
// paths Samba cannot show (DirSync over several pages, a rejected cookie,
// truncated ranges) are replayed from files in tests/data/.
//
// Recording format (JSON):
//   "uri":      the DC the recording came from (optional)
//   "dirsync":  DirSync rounds, answered in order:
//               {"request_cookie": b64, "result_code": int, "diagnostic": str,
//                "more": bool, "cookie": b64, "entries": [entry...]}
//   "searches": unpaged searches, matched on base (case-insensitively) and,
//               when given, the requested attribute list:
//               {"base": dn, "attributes": [...], "error": "not_found"|"unavailable",
//                "entries": [entry...]}
//   "paged":    paged searches, matched on base and on substrings of the
//               filter ("filter_has"; "filter_has_guids" are dashed GUIDs
//               that must appear \hh-escaped):
//               {"base": dn, "filter_has": [...], "filter_has_guids": [...],
//                "complete": bool, "incomplete_reason": str, "entries": [entry...]}
//   entry:      {"dn": str, "attributes": {"name": [value...]}}
// Values are text as the server sent it, except for a prefix naming binary
// ones: "guid:<dashed>" (raw 16 bytes), "sid:S-1-..." (raw SID), "b64:...".
//
// Like the real Connection, it lower-cases attribute descriptions and strips
// the Extended-DN components off an entry's own DN. A paged search that no
// recording matches completes with no entries; one that matches nothing is
// recorded in `unmatched_paged` so that tests can tell.
#ifndef SYNCD_TESTS_UNIT_REPLAY_DIRECTORY_H_
#define SYNCD_TESTS_UNIT_REPLAY_DIRECTORY_H_

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/strings.h"
#include "ldap/codec.h"
#include "ldap/directory.h"
#include "ldap/entry.h"

namespace syncd::testing {

inline std::string Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // padding, line breaks
    bits = (bits << 6) | static_cast<uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// A raw GUID from its dashed form; fails the test on a typo.
inline std::string RawGuid(std::string_view dashed) {
  auto raw = ldap::GuidFromString(dashed);
  EXPECT_TRUE(raw.has_value()) << "bad GUID in test data: " << dashed;
  return raw.value_or(std::string(16, '\0'));
}

inline std::string RawSid(std::string_view text) {
  auto raw = ldap::SidFromString(text);
  EXPECT_TRUE(raw.has_value()) << "bad SID in test data: " << text;
  return raw.value_or("");
}

// A recorded value, with the binary prefixes decoded.
inline std::string DecodeValue(std::string_view text) {
  if (text.starts_with("guid:")) return RawGuid(text.substr(5));
  if (text.starts_with("sid:")) return RawSid(text.substr(4));
  if (text.starts_with("b64:")) return Base64Decode(text.substr(4));
  return std::string(text);
}

// An entry as Connection::ParseEntry would have produced it.
inline ldap::Entry EntryFromRecording(const boost::json::object& recorded) {
  ldap::Entry entry;
  if (const auto* dn = recorded.if_contains("dn")) {
    entry.dn = ldap::ParseExtendedDn(std::string(dn->as_string())).dn;
  }
  if (const auto* attributes = recorded.if_contains("attributes")) {
    for (const auto& [name, values] : attributes->as_object()) {
      auto& out = entry.attributes[AsciiLower(std::string(name))];
      for (const auto& v : values.as_array()) out.push_back(DecodeValue(v.as_string()));
    }
  }
  return entry;
}

inline std::vector<ldap::Entry> EntriesFromRecording(const boost::json::object& recorded) {
  std::vector<ldap::Entry> entries;
  if (const auto* list = recorded.if_contains("entries")) {
    for (const auto& e : list->as_array()) entries.push_back(EntryFromRecording(e.as_object()));
  }
  return entries;
}

inline std::string StringOr(const boost::json::object& o, std::string_view key,
                            std::string fallback = "") {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : fallback;
}

class ReplayDirectory : public ldap::Directory {
 public:
  struct DirSyncRound {
    std::optional<std::string> expect_cookie;  // checked when set
    ldap::DirSyncPage page;
    std::vector<ldap::Entry> entries;
    Status error;  // a transport failure instead of an answer
  };
  struct SearchAnswer {
    std::string base;
    std::optional<std::vector<std::string>> attributes;  // matched exactly when set
    Status error;
    std::vector<ldap::Entry> entries;
  };
  struct PagedAnswer {
    std::string base;
    std::vector<std::string> filter_has;
    bool complete = true;
    std::string incomplete_reason;
    Status error;
    std::vector<ldap::Entry> entries;
  };

  ReplayDirectory() = default;
  explicit ReplayDirectory(const boost::json::object& recording) { Load(recording); }

  void Load(const boost::json::object& recording) {
    uri_ = StringOr(recording, "uri", uri_);
    if (const auto* rounds = recording.if_contains("dirsync")) {
      for (const auto& r : rounds->as_array()) {
        const auto& o = r.as_object();
        DirSyncRound round;
        if (const auto* c = o.if_contains("request_cookie")) {
          round.expect_cookie = Base64Decode(c->as_string());
        }
        if (const auto* code = o.if_contains("result_code")) {
          round.page.result_code = static_cast<int>(code->as_int64());
        }
        round.page.diagnostic = StringOr(o, "diagnostic");
        if (const auto* more = o.if_contains("more")) round.page.more = more->as_bool();
        round.page.cookie = Base64Decode(StringOr(o, "cookie"));
        round.entries = EntriesFromRecording(o);
        dirsync_rounds.push_back(std::move(round));
      }
    }
    if (const auto* searches = recording.if_contains("searches")) {
      for (const auto& s : searches->as_array()) {
        const auto& o = s.as_object();
        SearchAnswer answer;
        answer.base = StringOr(o, "base");
        if (const auto* attributes = o.if_contains("attributes")) {
          answer.attributes.emplace();
          for (const auto& a : attributes->as_array()) {
            answer.attributes->emplace_back(a.as_string());
          }
        }
        answer.error = ErrorNamed(StringOr(o, "error"), answer.base);
        answer.entries = EntriesFromRecording(o);
        search_answers.push_back(std::move(answer));
      }
    }
    if (const auto* paged = recording.if_contains("paged")) {
      for (const auto& p : paged->as_array()) {
        const auto& o = p.as_object();
        PagedAnswer answer;
        answer.base = StringOr(o, "base");
        if (const auto* has = o.if_contains("filter_has")) {
          for (const auto& f : has->as_array()) answer.filter_has.emplace_back(f.as_string());
        }
        if (const auto* guids = o.if_contains("filter_has_guids")) {
          for (const auto& g : guids->as_array()) {
            answer.filter_has.push_back(ldap::EscapeFilterBytes(RawGuid(g.as_string())));
          }
        }
        if (const auto* complete = o.if_contains("complete")) answer.complete = complete->as_bool();
        answer.incomplete_reason = StringOr(o, "incomplete_reason");
        answer.error = ErrorNamed(StringOr(o, "error"), answer.base);
        answer.entries = EntriesFromRecording(o);
        paged_answers.push_back(std::move(answer));
      }
    }
  }

  boost::asio::awaitable<Result<ldap::SearchOutcome>> PagedSearch(
      const ldap::SearchRequest& request, const EntryHandler& on_entry) override {
    paged_requests.push_back(request);
    const PagedAnswer* answer = nullptr;
    for (const auto& candidate : paged_answers) {
      if (Matches(candidate, request)) {
        answer = &candidate;
        break;
      }
    }
    ldap::SearchOutcome outcome;
    if (answer == nullptr) {
      unmatched_paged.push_back(request);
      outcome.complete = true;
      outcome.pages = 1;
      co_return outcome;
    }
    if (!answer->error.ok()) co_return answer->error;
    for (const auto& entry : answer->entries) {
      ++outcome.entries;
      ldap::Entry copy = entry;
      Status st = on_entry(std::move(copy));
      if (!st.ok()) co_return st;
    }
    outcome.pages = 1;
    outcome.complete = answer->complete;
    if (!answer->complete)
      outcome.incomplete_reason = request.base + ": " + answer->incomplete_reason;
    co_return outcome;
  }

  boost::asio::awaitable<Result<std::vector<ldap::Entry>>> Search(
      const ldap::SearchRequest& request) override {
    search_requests.push_back(request);
    for (const auto& answer : search_answers) {
      if (ldap::NormalizeDn(answer.base) != ldap::NormalizeDn(request.base)) continue;
      if (answer.attributes && !SameAttributes(*answer.attributes, request.attributes)) continue;
      if (!answer.error.ok()) co_return answer.error;
      co_return answer.entries;
    }
    ADD_FAILURE() << "no recorded answer for a search of " << request.base << " asking for "
                  << Join(request.attributes);
    co_return Status::Internal("no recorded answer for " + request.base);
  }

  boost::asio::awaitable<Result<ldap::DirSyncPage>> DirSync(const ldap::DirSyncRequest& request,
                                                            const EntryHandler& on_entry) override {
    dirsync_requests.push_back(request);
    const size_t at = dirsync_requests.size() - 1;
    if (at >= dirsync_rounds.size()) {
      ADD_FAILURE() << "DirSync round " << at + 1 << " was not recorded";
      co_return Status::Internal("no more recorded DirSync rounds");
    }
    const DirSyncRound& round = dirsync_rounds[at];
    if (round.expect_cookie) {
      EXPECT_EQ(request.cookie, *round.expect_cookie) << "cookie sent in DirSync round " << at + 1;
    }
    if (!round.error.ok()) co_return round.error;
    ldap::DirSyncPage page = round.page;
    page.entries = 0;
    for (const auto& entry : round.entries) {
      ++page.entries;
      ldap::Entry copy = entry;
      Status st = on_entry(std::move(copy));
      if (!st.ok()) co_return st;
    }
    co_return page;
  }

  const std::string& uri() const override { return uri_; }

  // The cookies the client sent, one per DirSync round.
  std::vector<std::string> SentCookies() const {
    std::vector<std::string> cookies;
    for (const auto& r : dirsync_requests) cookies.push_back(r.cookie);
    return cookies;
  }

  std::vector<DirSyncRound> dirsync_rounds;
  std::vector<SearchAnswer> search_answers;
  std::vector<PagedAnswer> paged_answers;

  std::vector<ldap::DirSyncRequest> dirsync_requests;
  std::vector<ldap::SearchRequest> search_requests;
  std::vector<ldap::SearchRequest> paged_requests;
  std::vector<ldap::SearchRequest> unmatched_paged;

 private:
  static Status ErrorNamed(const std::string& name, const std::string& base) {
    if (name.empty()) return Status::Ok();
    if (name == "not_found") return Status::NotFound(base + " does not exist");
    if (name == "unavailable") return Status::Unavailable("search under " + base + " failed");
    ADD_FAILURE() << "unknown recorded error " << name;
    return Status::Internal(name);
  }

  static bool Matches(const PagedAnswer& answer, const ldap::SearchRequest& request) {
    if (ldap::NormalizeDn(answer.base) != ldap::NormalizeDn(request.base)) return false;
    for (const auto& part : answer.filter_has) {
      if (request.filter.find(part) == std::string::npos) return false;
    }
    return true;
  }

  static bool SameAttributes(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
    }
    return true;
  }

  static std::string Join(const std::vector<std::string>& list) {
    std::string out;
    for (const auto& s : list) out += (out.empty() ? "" : ",") + s;
    return out;
  }

  std::string uri_ = "ldap://replay.invalid";
};

}  // namespace syncd::testing

#endif  // SYNCD_TESTS_UNIT_REPLAY_DIRECTORY_H_
