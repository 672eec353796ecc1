#include "source/ad/reader.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <unordered_map>

#include "core/log.h"
#include "core/memory.h"
#include "ldap/codec.h"

namespace syncd::ad {
namespace asio = boost::asio;
namespace {

// Windows of a ranged attribute beyond the first, read at base scope on the
// entry itself.
ldap::RangeFetch RangeFetcher(ldap::Directory& directory, ReadStats* stats) {
  return
      [&directory, stats](const std::string& dn,
                          const std::string& description) -> asio::awaitable<Result<ldap::Entry>> {
        ++stats->range_reads;
        ldap::SearchRequest request;
        request.base = dn;
        request.scope = ldap::Scope::kBase;
        request.attributes = {description};
        Result<std::vector<ldap::Entry>> entries = co_await directory.Search(request);
        if (!entries.ok()) co_return entries.status();
        if (entries->size() != 1)
          co_return Status::DataLoss(dn + " vanished during range retrieval");
        co_return std::move(entries->front());
      };
}

// The search for `kind` under the configured filter: the mapped attributes,
// with `member` asked for as `first_window` does.
ldap::SearchRequest ScopeSearch(const Settings& config, ObjectKind kind,
                                const ldap::RangedValues& first_window) {
  ldap::SearchRequest request;
  request.filter = scope::SearchFilter(config.scope, kind);
  request.attributes = scope::SearchAttributes(config.mapping, kind);
  request.page_size = config.source.page_size;
  if (kind == ObjectKind::kGroup) {
    for (auto& a : request.attributes) {
      if (a == "member") a = first_window.FirstRequest();
    }
  }
  return request;
}

// GUIDs per filter: long enough to batch, short enough for any DC's limits.
constexpr size_t kGuidsPerSearch = 200;

// "(|(objectGUID=\..)(objectGUID=\..))" for each run of kGuidsPerSearch of
// `guids` (raw), in order.
std::vector<std::string> GuidFilters(const std::vector<std::string>& guids) {
  std::vector<std::string> filters;
  for (size_t at = 0; at < guids.size(); at += kGuidsPerSearch) {
    const size_t end = std::min(guids.size(), at + kGuidsPerSearch);
    std::string filter = "(|";
    for (size_t i = at; i < end; ++i) {
      filter += "(objectGUID=" + ldap::EscapeFilterBytes(guids[i]) + ")";
    }
    filters.push_back(filter + ")");
  }
  return filters;
}

// A paged search collecting every entry, or the reason it was incomplete.
asio::awaitable<Result<std::vector<ldap::Entry>>> Collect(ldap::Directory& directory,
                                                          const ldap::SearchRequest& request,
                                                          ReadStats* stats,
                                                          std::string* incomplete_reason) {
  std::vector<ldap::Entry> entries;
  auto outcome = co_await directory.PagedSearch(request, [&entries](ldap::Entry&& e) {
    entries.push_back(std::move(e));
    return Status::Ok();
  });
  if (!outcome.ok()) co_return outcome.status();
  stats->entries += outcome->entries;
  stats->pages += outcome->pages;
  if (!outcome->complete && incomplete_reason->empty()) {
    *incomplete_reason = outcome->incomplete_reason;
  }
  co_return entries;
}

}  // namespace

asio::awaitable<Result<ReadSnapshot>> ReadDirectory(ldap::Directory& directory,
                                                    const Settings& config, ReadStats* stats,
                                                    const scope::Evaluator::InScope& in_scope) {
  ReadSnapshot snapshot;
  auto mark_incomplete = [&](const std::string& reason) {
    Log(LogLevel::kWarning, "incomplete read: " + reason);
    if (snapshot.complete) snapshot.incomplete_reason = reason;
    snapshot.complete = false;
  };

  // Each entry is evaluated as its page arrives and not kept; groups whose
  // members come in more windows than the first wait for range retrieval.
  scope::Evaluator evaluator(config.scope, config.mapping, in_scope);
  std::vector<ldap::Entry> ranged;
  const ldap::RangedValues first_window("member", config.source.range_step);
  for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
    const bool is_user = kind == ObjectKind::kUser;
    ldap::SearchRequest request = ScopeSearch(config, kind, first_window);
    // A full read resolves member DNs against the entries it read itself,
    // which is exact; Extended-DN would cost the DC a lookup per value.
    request.extended_dn = false;
    auto take = [&](ldap::Entry&& e) {
      if (is_user || ldap::FoldFirstWindow(e, "member", config.source.range_step)) {
        evaluator.Add(e, kind);
      } else {
        ranged.push_back(std::move(e));
      }
      return Status::Ok();
    };
    for (const auto& base : is_user ? config.scope.user_bases : config.scope.group_bases) {
      request.base = base;
      Result<ldap::SearchOutcome> outcome = co_await directory.PagedSearch(request, take);
      if (!outcome.ok()) co_return outcome.status();
      stats->entries += outcome->entries;
      stats->pages += outcome->pages;
      if (!outcome->complete) mark_incomplete(outcome->incomplete_reason);
      Log(LogLevel::kDebug, "searched " + base + ": " + std::to_string(outcome->entries) +
                                " entries, " + std::to_string(stats->pages) + " pages so far");
    }
  }

  ldap::RangeFetch fetch = RangeFetcher(directory, stats);
  for (auto& group : ranged) {
    Status st =
        co_await ldap::CompleteRangedAttribute(group, "member", config.source.range_step, fetch);
    if (!st.ok()) mark_incomplete(group.dn + ": member: " + st.message());
    evaluator.Add(group, ObjectKind::kGroup);
  }
  ReleaseMemory(&ranged);

  // A member renamed or moved while the read went on is named in its group
  // by a DN the read did not see (the new one, or the old one, whichever its
  // own entry was not read under) and its membership would be dropped: a
  // complete read would remove it. Groups naming such a DN under a scope
  // base are read again by GUID with Extended-DN, where members resolve by
  // GUID. A member the filter leaves out still resolves to nothing; the
  // groups holding one are read twice on every full read.
  const std::vector<std::string> unexplained = evaluator.GroupsWithUnexplainedMembers();
  if (!unexplained.empty()) {
    Log(LogLevel::kDebug, "reading the members of " + std::to_string(unexplained.size()) +
                              " groups again by GUID: they name DNs under the scope's bases "
                              "that the read did not see");
  }
  for (const std::string& any_of : GuidFilters(unexplained)) {
    ldap::SearchRequest request = ScopeSearch(config, ObjectKind::kGroup, first_window);
    request.filter = "(&" + request.filter + any_of + ")";
    request.attributes = {"objectGUID", first_window.FirstRequest()};
    request.extended_dn = true;
    for (const auto& base : config.scope.group_bases) {
      request.base = base;
      std::string incomplete;
      auto groups = co_await Collect(directory, request, stats, &incomplete);
      if (!groups.ok()) co_return groups.status();
      if (!incomplete.empty()) mark_incomplete(incomplete);
      for (auto& group : *groups) {
        Status st = co_await ldap::CompleteRangedAttribute(group, "member",
                                                           config.source.range_step, fetch);
        if (!st.ok()) {
          mark_incomplete(group.dn + ": member: " + st.message());
          continue;
        }
        evaluator.AddMembers(group);
      }
    }
  }

  PhaseTimer scope_timer;
  snapshot.desired = evaluator.Finish();
  Log(LogLevel::kDebug, "scope evaluated in " + scope_timer.Elapsed());
  for (const auto& warning : snapshot.desired.warnings) Log(LogLevel::kWarning, warning);
  if (!snapshot.desired.incomplete_reason.empty()) {
    mark_incomplete(snapshot.desired.incomplete_reason);
  }
  co_return snapshot;
}

asio::awaitable<Result<IncrementalRead>> ReadChangedObjects(
    ldap::Directory& directory, const Settings& config, const std::string& naming_context,
    const ldap::ChangeSet& changes, bool full_member_lists,
    const std::function<bool(const std::string&)>& is_cached, ReadStats* stats) {
  IncrementalRead read;
  std::string incomplete;
  std::set<std::string> named(changes.changed.begin(), changes.changed.end());
  std::unordered_map<std::string, std::pair<ObjectKind, ldap::Entry>> found;
  const ldap::RangedValues first_window("member", config.source.range_step);

  // Current images of `guids` under every base of both kinds, with the
  // configured filters: exactly what a full read would have returned.
  auto reread = [&](const std::vector<std::string>& guids) -> asio::awaitable<Status> {
    for (const std::string& any_of : GuidFilters(guids)) {
      for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
        const bool is_user = kind == ObjectKind::kUser;
        ldap::SearchRequest request = ScopeSearch(config, kind, first_window);
        request.filter = "(&" + request.filter + any_of + ")";
        request.attributes.push_back("memberOf");
        for (const auto& base : is_user ? config.scope.user_bases : config.scope.group_bases) {
          request.base = base;
          auto entries = co_await Collect(directory, request, stats, &incomplete);
          if (!entries.ok()) co_return entries.status();
          for (auto& e : *entries) {
            std::string guid = e.First("objectguid");
            if (guid.size() == 16) found.try_emplace(std::move(guid), kind, std::move(e));
          }
        }
      }
    }
    co_return Status::Ok();
  };
  Status st = co_await reread({named.begin(), named.end()});
  if (!st.ok()) co_return st;

  // Renamed or moved objects not found may be containers: their children
  // moved with them, and DirSync does not report children.
  std::vector<std::string> unknown;
  for (const auto& guid : changes.renamed) {
    if (!found.contains(guid)) unknown.push_back(guid);
  }
  std::vector<std::string> expanded;
  for (const std::string& any_of : GuidFilters(unknown)) {
    ldap::SearchRequest request;
    request.base = naming_context;
    request.extended_dn = false;
    request.page_size = config.source.page_size;
    request.attributes = {"objectGUID"};
    request.filter = "(&(|(objectClass=organizationalUnit)(objectClass=container))" + any_of + ")";
    auto containers = co_await Collect(directory, request, stats, &incomplete);
    if (!containers.ok()) co_return containers.status();
    for (const auto& container : *containers) {
      ldap::SearchRequest below;
      below.base = container.dn;
      below.extended_dn = false;
      below.page_size = config.source.page_size;
      below.attributes = {"objectGUID"};
      below.filter = "(|(objectClass=user)(objectClass=group))";
      auto children = co_await Collect(directory, below, stats, &incomplete);
      if (!children.ok()) co_return children.status();
      for (const auto& child : *children) {
        std::string guid = child.First("objectguid");
        if (guid.size() == 16 && named.insert(guid).second) expanded.push_back(std::move(guid));
      }
    }
  }
  if (!expanded.empty()) {
    Log(LogLevel::kDebug, "re-reading " + std::to_string(expanded.size()) +
                              " objects below moved or renamed containers");
    st = co_await reread(expanded);
    if (!st.ok()) co_return st;
  }

  // Scope, one object at a time.
  ldap::RangeFetch fetch = RangeFetcher(directory, stats);
  std::unordered_map<std::string, std::string> primary_groups;  // group SID -> GUID ("" if none)
  auto group_of_sid = [&](const std::string& sid) -> asio::awaitable<Result<std::string>> {
    if (auto it = primary_groups.find(sid); it != primary_groups.end()) co_return it->second;
    ldap::SearchRequest request;
    request.base = naming_context;
    request.extended_dn = false;
    request.attributes = {"objectGUID"};
    request.filter = "(&(objectClass=group)(objectSid=" + ldap::EscapeFilterBytes(sid) + "))";
    auto groups = co_await Collect(directory, request, stats, &incomplete);
    if (!groups.ok()) co_return groups.status();
    std::string guid = groups->size() == 1 ? groups->front().First("objectguid") : "";
    primary_groups[sid] = guid;
    co_return guid;
  };
  std::vector<std::string> warnings;
  for (auto& [guid, kind_entry] : found) {
    auto& [kind, entry] = kind_entry;
    if (scope::IsExcluded(config.scope, entry)) continue;
    auto object = scope::MapEntry(config.mapping, entry, kind, &warnings);
    if (!object) {
      read.skipped.insert(guid);
      continue;
    }
    // Member side: the groups it is in now, its primary group included.
    // memberOf comes in range windows like member once it is long.
    st = co_await ldap::CompleteRangedAttribute(entry, "memberof", config.source.range_step, fetch);
    if (!st.ok()) {
      // Without the whole list its memberships stay as they are.
      if (incomplete.empty()) incomplete = entry.dn + ": memberOf: " + st.message();
    } else {
      auto& groups = read.member_of[guid];
      if (const auto* member_of = entry.Find("memberof")) {
        for (const auto& value : *member_of) {
          std::string group = ldap::ParseExtendedDn(value).guid;
          if (!group.empty()) groups.insert(std::move(group));
        }
      }
      if (kind == ObjectKind::kUser && !object->source->sid.empty()) {
        uint32_t rid = 0;
        const std::string primary = entry.First("primarygroupid");
        if (auto [p, ec] = std::from_chars(primary.data(), primary.data() + primary.size(), rid);
            ec == std::errc() && p == primary.data() + primary.size()) {
          if (auto sid = ldap::SidWithRid(object->source->sid, rid)) {
            auto group = co_await group_of_sid(*sid);
            if (!group.ok()) co_return group.status();
            if (!group->empty()) groups.insert(*group);
          }
        }
      }
    }
    // Group side: deltas when DirSync gave usable ones, else the whole list.
    if (kind == ObjectKind::kGroup) {
      auto delta = changes.members.find(guid);
      if (!full_member_lists && delta != changes.members.end() && !delta->second.reread &&
          is_cached(guid)) {
        read.member_deltas[guid] = {delta->second.added, delta->second.removed};
      } else {
        st = co_await ldap::CompleteRangedAttribute(entry, "member", config.source.range_step,
                                                    fetch);
        if (!st.ok()) {
          if (incomplete.empty()) incomplete = entry.dn + ": member: " + st.message();
        } else {
          auto& members = read.members[guid];
          if (const auto* values = entry.Find("member")) {
            for (const auto& value : *values) {
              std::string member = ldap::ParseExtendedDn(value).guid;
              if (!member.empty()) members.insert(std::move(member));
            }
          }
          // Users whose primary group this is are not in `member`.
          if (auto rid = ldap::SidRid(object->source->sid)) {
            ldap::SearchRequest request;
            request.filter = "(&" + scope::SearchFilter(config.scope, ObjectKind::kUser) +
                             "(primaryGroupID=" + std::to_string(*rid) + "))";
            request.attributes = {"objectGUID"};
            request.extended_dn = false;
            request.page_size = config.source.page_size;
            for (const auto& base : config.scope.user_bases) {
              request.base = base;
              auto users = co_await Collect(directory, request, stats, &incomplete);
              if (!users.ok()) co_return users.status();
              for (const auto& user : *users) {
                std::string member = user.First("objectguid");
                if (member.size() == 16) members.insert(std::move(member));
              }
            }
          }
        }
      }
    }
    read.present.push_back(std::move(*object));
  }
  std::set<std::string> in_scope;
  for (const auto& o : read.present) in_scope.insert(o.guid);
  for (const auto& guid : named) {
    if (!in_scope.contains(guid) && !read.skipped.contains(guid)) read.absent.insert(guid);
  }
  for (const auto& guid : changes.deleted) read.absent.insert(guid);
  for (const auto& w : warnings) Log(LogLevel::kWarning, w);
  if (!incomplete.empty()) {
    Log(LogLevel::kWarning, "incomplete read: " + incomplete);
    read.complete = false;
    read.incomplete_reason = incomplete;
  }
  co_return read;
}

}  // namespace syncd::ad
