#include "source/ad/ad_source.h"

#include <optional>
#include <utility>

#include "core/log.h"
#include "ldap/change_feed.h"
#include "source/ad/cursor.h"
#include "source/ad/dc.h"
#include "source/ad/reader.h"

namespace syncd::ad {
namespace asio = boost::asio;
namespace {

// The DirSync attributes: what either kind needs, `member` included.
std::vector<std::string> FeedAttributes(const Settings& config) {
  auto attributes = scope::SearchAttributes(config.mapping, ObjectKind::kUser);
  for (auto& a : scope::SearchAttributes(config.mapping, ObjectKind::kGroup)) {
    attributes.push_back(std::move(a));
  }
  return attributes;
}

// Decides the feed for a full reconciliation and takes its starting point
// before the full read: a snapshot cookie (DirSync, with or without
// OBJECT_SECURITY, whichever the account is allowed), or the
// highestCommittedUSN read with the DC identity.
asio::awaitable<Status> StartWatermark(ldap::Directory& directory, const Settings& config,
                                       Watermark* next) {
  const ChangeFeed wanted = config.source.change_feed;
  if (wanted == ChangeFeed::kUsn) {
    next->feed = "usn";
    co_return Status::Ok();
  }
  ldap::DirSyncOptions options;
  options.naming_context = next->naming_context;
  options.attributes = FeedAttributes(config);
  std::string refused;
  for (bool object_security : {false, true}) {
    options.object_security = object_security;
    auto snapshot = co_await ldap::DirSyncSnapshot(directory, options);
    if (!snapshot.ok()) co_return snapshot.status();
    if (snapshot->refusal == ldap::FeedRefusal::kNone) {
      next->feed = "dirsync";
      next->object_security = object_security;
      next->cookie = std::move(snapshot->changes.cookie);
      Log(LogLevel::kInfo,
          object_security ? "change feed: DirSync with OBJECT_SECURITY (the account lacks the "
                            "Replicating Directory Changes right; results follow its read access)"
                          : "change feed: DirSync (replication right)");
      co_return Status::Ok();
    }
    refused += (refused.empty() ? "" : "; ") + snapshot->diagnostic;
  }
  if (wanted == ChangeFeed::kDirSync) {
    co_return Status::PermissionDenied("the DC refuses DirSync to this account (" + refused +
                                       "); grant it Replicating Directory Changes or set "
                                       "[source] change_feed = \"usn\"");
  }
  Log(LogLevel::kWarning,
      "change feed: uSNChanged polling, since the DC refuses DirSync (" + refused + ")");
  next->feed = "usn";
  co_return Status::Ok();
}

class AdSource final : public Source {
 public:
  AdSource(Settings settings, std::unique_ptr<ldap::Connection> connection,
           const ldap::DcIdentity& dc)
      : settings_(std::move(settings)), connection_(std::move(connection)), dc_(dc) {
    position_.naming_context = dc.naming_context;
    position_.dc_host = dc.host;
    position_.dsa_dn = dc.dsa_dn;
    position_.invocation_id = dc.invocation_id;
    position_.highest_usn = dc.highest_usn;
    position_.tombstone_lifetime_days = dc.tombstone_lifetime_days;
    position_.domain_sid = dc.domain_sid;
  }

  const std::string& where() const override { return connection_->uri(); }

  CursorCheck Check(const Watermark& stored, int64_t now) const override {
    return CheckCursor(stored, dc_, settings_.source.change_feed, now);
  }

  asio::awaitable<Result<RunStart>> Begin(const Watermark* from) override {
    RunStart start;
    if (from == nullptr) {
      Status st = co_await StartWatermark(*connection_, settings_, &position_);
      if (!st.ok()) co_return st;
      co_return start;
    }
    PhaseTimer timer;
    position_.feed = from->feed;
    position_.object_security = from->object_security;
    if (from->feed == "dirsync") {
      ldap::DirSyncOptions feed;
      feed.naming_context = dc_.naming_context;
      feed.attributes = FeedAttributes(settings_);
      feed.cookie = from->cookie;
      feed.object_security = from->object_security;
      auto read = co_await ldap::ReadDirSync(*connection_, feed);
      if (!read.ok()) co_return read.status();
      if (read->refusal == ldap::FeedRefusal::kCookieRejected) {
        start.full_reason = "the DC rejected the DirSync cookie (" + read->diagnostic + ")";
      } else if (read->refusal == ldap::FeedRefusal::kNoRight) {
        start.full_reason =
            "the DC no longer allows DirSync in the stored mode (" + read->diagnostic + ")";
      } else {
        changes_ = std::move(read->changes);
        position_.cookie = changes_->cookie;
      }
    } else {
      auto read = co_await ldap::ReadUsnChanges(*connection_, dc_.naming_context, from->highest_usn,
                                                settings_.source.page_size);
      if (!read.ok()) co_return read.status();
      changes_ = std::move(*read);
    }
    if (!changes_) {
      // The feed refused the cursor: a full read, from a new starting point.
      Status st = co_await StartWatermark(*connection_, settings_, &position_);
      if (!st.ok()) co_return st;
      co_return start;
    }
    // Objects left over from the last run (held or refused) are looked at again.
    changes_->changed.insert(from->revisit.begin(), from->revisit.end());
    Log(LogLevel::kInfo, "change feed (" + from->feed +
                             "): " + std::to_string(changes_->changed.size()) + " changed, " +
                             std::to_string(changes_->deleted.size()) + " deleted, in " +
                             std::to_string(changes_->rounds) + " round trips, " + timer.Elapsed());
    if (!settings_.scope.groups.empty() && !changes_->empty()) {
      // Nested membership can carry any object in or out of a group-based
      // scope; only a full read evaluates that. The feed's new cursor stands.
      start.full_reason = "group-based scope: changes are evaluated over a full read";
    }
    start.nothing_changed = changes_->empty();
    co_return start;
  }

  asio::awaitable<Result<ReadSnapshot>> ReadAll(
      ReadStats* stats, const scope::Evaluator::InScope& in_scope) override {
    PhaseTimer timer;
    auto read = co_await ReadDirectory(*connection_, settings_, stats, in_scope);
    if (!read.ok()) co_return read.status();
    Log(LogLevel::kInfo, "read " + std::to_string(stats->entries) + " entries in " +
                             std::to_string(stats->pages) + " pages (" +
                             std::to_string(stats->range_reads) + " range reads) in " +
                             timer.Elapsed());
    co_return read;
  }

  asio::awaitable<Result<IncrementalRead>> ReadChanges(
      const std::function<bool(const std::string&)>& is_cached, ReadStats* stats) override {
    if (!changes_) co_return Status::Internal("ReadChanges without an incremental Begin");
    PhaseTimer timer;
    auto read = co_await ReadChangedObjects(*connection_, settings_, dc_.naming_context, *changes_,
                                            position_.feed == "usn", is_cached, stats);
    if (!read.ok()) co_return read.status();
    Log(LogLevel::kInfo, "re-read " + std::to_string(stats->entries) + " entries (" +
                             std::to_string(stats->range_reads) + " range reads) in " +
                             timer.Elapsed());
    co_return read;
  }

  void Position(Watermark* next) const override {
    next->feed = position_.feed;
    next->naming_context = position_.naming_context;
    next->dc_host = position_.dc_host;
    next->dsa_dn = position_.dsa_dn;
    next->invocation_id = position_.invocation_id;
    next->highest_usn = position_.highest_usn;
    next->cookie = position_.cookie;
    next->object_security = position_.object_security;
    next->tombstone_lifetime_days = position_.tombstone_lifetime_days;
    next->domain_sid = position_.domain_sid;
  }

 private:
  const Settings settings_;
  std::unique_ptr<ldap::Connection> connection_;
  const ldap::DcIdentity dc_;  // read before any change query
  // The AD fields of the watermark this run leaves (see Position): the DC's
  // identity, and the feed's cursor once Begin has it.
  Watermark position_;
  std::optional<ldap::ChangeSet> changes_;  // an incremental Begin's
};

}  // namespace

asio::awaitable<Result<std::unique_ptr<Source>>> OpenSource(Settings settings,
                                                            asio::thread_pool& workers,
                                                            const Watermark* stored,
                                                            DcFailures* failures) {
  // Named, not a temporary of the co_await's full expression: GCC 12 mishandles
  // a conditional's temporaries there.
  const std::string pinned_host = stored != nullptr ? stored->dc_host : "";
  auto connection = co_await ConnectToDc(settings.source, workers, pinned_host, failures);
  if (!connection.ok()) co_return connection.status();
  const int ssf = (*connection)->sasl_ssf();
  Log(LogLevel::kInfo,
      "connected to " + (*connection)->uri() +
          (ssf > 0 ? " (SASL security layer, SSF " + std::to_string(ssf) + ")" : ""));
  // Who answered, read before any change query: its USN is the next lower bound.
  auto dc = co_await ldap::ReadDcIdentity(**connection);
  if (!dc.ok()) co_return dc.status();
  std::unique_ptr<Source> source =
      std::make_unique<AdSource>(std::move(settings), std::move(*connection), *dc);
  co_return std::move(source);
}

}  // namespace syncd::ad
