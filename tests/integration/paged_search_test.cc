// ldap::Connection::PagedSearch against the test DC, through a relay that
// counts the bytes the DC sends: every entry once, in order; the next page
// asked for before a page is handed on (read-ahead), within its bound; a
// handler's error ending the search with the connection still usable.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include "ldap/connection.h"
#include "tests/integration/fault_proxy.h"
#include "tests/integration/testbed.h"

namespace syncd::testing {
namespace {

constexpr int kLdapsPort = 636;
constexpr int kUsers = 25;
constexpr int kPageSize = 10;
constexpr size_t kDescriptionBytes = 1000;  // a page of 10 is ~10 KB on the wire

// An OU of kUsers users, each with a 1,000-character description, made once.
const std::string& PagedOu() {
  static const std::string ou = [] {
    TestDc& dc = TestDc::Get();
    std::string made = dc.FreshOu("T-PagedSearch");
    std::string ldif;
    for (int i = 0; i < kUsers; ++i) {
      const std::string cn = "paged" + std::to_string(i);
      ldif += "dn: CN=" + cn + "," + made +
              "\nchangetype: add\nobjectClass: user\nsAMAccountName: " + cn +
              "\ndescription: " + std::string(kDescriptionBytes, 'a' + (i % 26)) + "\n\n";
    }
    dc.Modify(ldif);
    return made;
  }();
  return ou;
}

ldap::SearchRequest UsersRequest() {
  ldap::SearchRequest request;
  request.base = PagedOu();
  request.filter = "(objectClass=user)";
  request.attributes = {"description"};
  request.page_size = kPageSize;
  request.extended_dn = false;
  return request;
}

// Runs `body` with a connection bound as Administrator through `proxy`.
template <typename T>
T WithConnection(const FaultProxy& proxy,
                 const std::function<boost::asio::awaitable<T>(ldap::Connection&)>& body) {
  TestDc& dc = TestDc::Get();
  ldap::ConnectOptions options;
  options.uris = {dc.Value("URI") + ":" + std::to_string(proxy.port())};
  options.bind_dn = dc.Value("BIND_DN");
  std::ifstream password_file(dc.Value("PASSWORD_FILE"));
  std::getline(password_file, options.password);
  options.tls_ca_file = dc.Value("CA_FILE");
  boost::asio::io_context loop;
  boost::asio::thread_pool workers(1);
  auto future = boost::asio::co_spawn(
      loop,
      [&]() -> boost::asio::awaitable<T> {
        auto connection =
            co_await ldap::Connection::Open(loop.get_executor(), workers, options, nullptr);
        if (!connection.ok()) co_return connection.status();
        co_return co_await body(**connection);
      },
      boost::asio::use_future);
  loop.run();
  workers.join();
  return future.get();
}

// Waits up to `limit` for the relay to pass `bytes` more from the DC.
bool DcSendsMore(const FaultProxy& proxy, size_t from, size_t bytes,
                 std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (proxy.BytesToClient() < from + bytes) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(PagedSearch, HandsOnEveryEntryOnceInTheServersOrder) {
  FaultProxy proxy(kLdapsPort, FaultProxy::Fault::kNone);
  struct Seen {
    std::vector<std::string> paged, whole;
    ldap::SearchOutcome outcome;
  };
  Result<Seen> seen = WithConnection<Result<Seen>>(
      proxy, [](ldap::Connection& c) -> boost::asio::awaitable<Result<Seen>> {
        Seen s;
        auto outcome = co_await c.PagedSearch(UsersRequest(), [&s](ldap::Entry&& e) {
          s.paged.push_back(e.dn);
          return Status::Ok();
        });
        if (!outcome.ok()) co_return outcome.status();
        s.outcome = *outcome;
        auto whole = co_await c.Search(UsersRequest());
        if (!whole.ok()) co_return whole.status();
        for (const auto& e : *whole) s.whole.push_back(e.dn);
        co_return s;
      });
  ASSERT_TRUE(seen.ok()) << seen.status().message();
  EXPECT_TRUE(seen->outcome.complete) << seen->outcome.incomplete_reason;
  EXPECT_EQ(seen->outcome.pages, (kUsers + kPageSize - 1) / kPageSize);
  EXPECT_EQ(seen->outcome.entries, size_t{kUsers});
  EXPECT_EQ(seen->paged.size(), size_t{kUsers});
  EXPECT_EQ(seen->paged, seen->whole);
}

// One paged search of the users through a relay, allowed to hold
// `read_ahead_bytes` of a page; while the handler works on entry `at`,
// whether the DC sends half a page more within `wait`: page 2, asked for.
struct PageTwoWatch {
  Result<ldap::SearchOutcome> outcome;
  bool page_two_sent = false;
};
PageTwoWatch WatchForPageTwo(size_t read_ahead_bytes, int at, std::chrono::seconds wait) {
  FaultProxy proxy(kLdapsPort, FaultProxy::Fault::kNone);
  PageTwoWatch watch;
  watch.outcome = WithConnection<Result<ldap::SearchOutcome>>(
      proxy, [&](ldap::Connection& c) -> boost::asio::awaitable<Result<ldap::SearchOutcome>> {
        ldap::SearchRequest request = UsersRequest();
        request.read_ahead_bytes = read_ahead_bytes;
        int handed = 0;
        co_return co_await c.PagedSearch(request, [&](ldap::Entry&&) {
          if (++handed == at) {
            watch.page_two_sent =
                DcSendsMore(proxy, proxy.BytesToClient(), kDescriptionBytes * kPageSize / 2, wait);
          }
          return Status::Ok();
        });
      });
  return watch;
}

// Regression (issue 13): PagedSearch asked for the next page only after the
// handler had run for the last entry of this one, so the DC sat idle for as
// long as syncd worked on each page; at 100,000 users that was ~1.7 s of a
// full read. While the handler works on the last entry of page 1, the DC
// must already be sending page 2 (~10 KB; what was still in flight of page 1
// is its done message, ~100 bytes).
TEST(PagedSearch, AsksForTheNextPageBeforeHandingOnThisOne) {
  const PageTwoWatch watch =
      WatchForPageTwo(ldap::SearchRequest{}.read_ahead_bytes, kPageSize, std::chrono::seconds(20));
  ASSERT_TRUE(watch.outcome.ok()) << watch.outcome.status().message();
  EXPECT_TRUE(watch.outcome->complete);
  EXPECT_EQ(watch.outcome->entries, size_t{kUsers});
  EXPECT_TRUE(watch.page_two_sent);
}

// Past read_ahead_bytes what a page holds is handed on at once, so a page of
// huge groups is never held whole. With room for two entries of ~1.1 KB
// (3,000 bytes), entries 1-3, 4-6 and 7-9 are handed on as the third of each
// arrives: while the handler works on entry 9, page 1's done message has not
// been read, so page 2 has not been asked for. (An estimate of 0 bytes an
// entry would hold the page whole and ask for page 2 first.)
TEST(PagedSearch, ReadAheadStaysWithinItsBound) {
  const PageTwoWatch watch =
      WatchForPageTwo(3 * kDescriptionBytes, kPageSize - 1, std::chrono::seconds(2));
  ASSERT_TRUE(watch.outcome.ok()) << watch.outcome.status().message();
  EXPECT_TRUE(watch.outcome->complete);
  EXPECT_EQ(watch.outcome->entries, size_t{kUsers});
  EXPECT_FALSE(watch.page_two_sent);
}

// A handler's error ends the search with that error although the next page
// was already asked for (and is abandoned); the connection then serves the
// next search whole.
TEST(PagedSearch, AHandlerErrorEndsTheSearchAndTheConnectionStaysUsable) {
  FaultProxy proxy(kLdapsPort, FaultProxy::Fault::kNone);
  struct Runs {
    Status first;
    int handed_first = 0;
    Result<ldap::SearchOutcome> second = Status::Internal("not run");
  };
  Result<Runs> runs = WithConnection<Result<Runs>>(
      proxy, [](ldap::Connection& c) -> boost::asio::awaitable<Result<Runs>> {
        Runs r;
        auto first = co_await c.PagedSearch(UsersRequest(), [&r](ldap::Entry&&) {
          return ++r.handed_first == 3 ? Status::DataLoss("the handler gave up") : Status::Ok();
        });
        r.first = first.ok() ? Status::Ok() : first.status();
        r.second =
            co_await c.PagedSearch(UsersRequest(), [](ldap::Entry&&) { return Status::Ok(); });
        co_return r;
      });
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  EXPECT_EQ(runs->first.code(), Status::Code::kDataLoss);
  EXPECT_EQ(runs->first.message(), "the handler gave up");
  EXPECT_EQ(runs->handed_first, 3);
  ASSERT_TRUE(runs->second.ok()) << runs->second.status().message();
  EXPECT_TRUE(runs->second->complete);
  EXPECT_EQ(runs->second->entries, size_t{kUsers});
}

}  // namespace
}  // namespace syncd::testing
