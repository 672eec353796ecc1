#include "syncd/reader.h"

#include "syncd/log.h"

namespace syncd {
namespace asio = boost::asio;

asio::awaitable<Result<ReadSnapshot>> ReadDirectory(ldap::Connection& connection,
                                                    const Config& config, ReadStats* stats) {
  ReadSnapshot snapshot;
  auto mark_incomplete = [&](const std::string& reason) {
    Log(LogLevel::kWarning, "incomplete read: " + reason);
    if (snapshot.complete) snapshot.incomplete_reason = reason;
    snapshot.complete = false;
  };

  std::vector<ldap::Entry> users, groups;
  const ldap::RangedValues first_window("member", config.source.range_step);
  for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
    const bool is_user = kind == ObjectKind::kUser;
    ldap::SearchRequest request;
    request.filter = scope::SearchFilter(config.scope, kind);
    request.attributes = scope::SearchAttributes(config.mapping, kind);
    request.page_size = config.source.page_size;
    // A full read resolves member DNs against the entries it read itself,
    // which is exact; Extended-DN would cost the DC a lookup per value.
    request.extended_dn = false;
    if (!is_user) {
      for (auto& a : request.attributes) {
        if (a == "member") a = first_window.FirstRequest();
      }
    }
    auto& sink = is_user ? users : groups;
    for (const auto& base : is_user ? config.scope.user_bases : config.scope.group_bases) {
      request.base = base;
      Result<ldap::SearchOutcome> outcome =
          co_await connection.PagedSearch(request, [&sink](ldap::Entry&& e) {
            sink.push_back(std::move(e));
            return Status::Ok();
          });
      if (!outcome.ok()) co_return outcome.status();
      stats->entries += outcome->entries;
      stats->pages += outcome->pages;
      if (!outcome->complete) mark_incomplete(outcome->incomplete_reason);
      Log(LogLevel::kDebug, "searched " + base + ": " + std::to_string(outcome->entries) +
                                " entries, " + std::to_string(stats->pages) + " pages so far");
    }
  }

  // Windows beyond the first, read at base scope on the group itself.
  ldap::RangeFetch fetch =
      [&](const std::string& dn,
          const std::string& description) -> asio::awaitable<Result<ldap::Entry>> {
    ++stats->range_reads;
    ldap::SearchRequest request;
    request.base = dn;
    request.scope = ldap::Scope::kBase;
    request.attributes = {description};
    Result<std::vector<ldap::Entry>> entries = co_await connection.Search(request);
    if (!entries.ok()) co_return entries.status();
    if (entries->size() != 1) co_return Status::DataLoss(dn + " vanished during range retrieval");
    co_return std::move(entries->front());
  };
  // Every group goes through it: it also folds a single complete window
  // ("member;range=0-*") back into plain `member`.
  for (auto& group : groups) {
    Status st =
        co_await ldap::CompleteRangedAttribute(group, "member", config.source.range_step, fetch);
    if (!st.ok()) mark_incomplete(group.dn + ": member: " + st.message());
  }
  PhaseTimer scope_timer;
  snapshot.desired = scope::Evaluate(config.scope, config.mapping, users, groups);
  Log(LogLevel::kDebug, "scope evaluated in " + scope_timer.Elapsed());
  for (const auto& warning : snapshot.desired.warnings) Log(LogLevel::kWarning, warning);
  if (!snapshot.desired.incomplete_reason.empty()) {
    mark_incomplete(snapshot.desired.incomplete_reason);
  }
  co_return snapshot;
}

}  // namespace syncd
