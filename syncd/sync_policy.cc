#include "syncd/sync_policy.h"

#include <algorithm>

#include "core/strings.h"
#include "scope/scope.h"
#include "store/factory.h"

namespace syncd {
namespace {

// FNV-1a, 64 bits: stable across builds and machines, unlike std::hash.
uint64_t Fnv1a(const std::string& text) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void Add(std::string* canonical, const std::string& field) {
  // Length-prefixed, so no two field lists run together the same way.
  *canonical += std::to_string(field.size()) + ":" + field + ";";
}

}  // namespace

std::string ScopeFingerprint(const Config& config) {
  std::string canonical;
  Add(&canonical, AsciiLower(config.source.base_dn));
  for (const auto* list : {&config.scope.user_bases, &config.scope.group_bases,
                           &config.scope.groups, &config.scope.exclude}) {
    Add(&canonical, std::to_string(list->size()));
    for (const auto& item : *list) Add(&canonical, AsciiLower(item));
  }
  Add(&canonical, config.scope.user_filter);
  Add(&canonical, config.scope.group_filter);
  for (auto kind : {ObjectKind::kUser, ObjectKind::kGroup}) {
    for (const auto& rule : config.mapping.rules(kind)) {
      Add(&canonical, rule.store_attribute);
      Add(&canonical, std::to_string(static_cast<int>(rule.transform)));
      for (const auto& source : rule.sources) Add(&canonical, AsciiLower(source));
    }
    // What is read for every object: a cache built before an identity key
    // was added (mS-DS-ConsistencyGuid) lacks it until a full read.
    for (const auto& attribute : scope::SearchAttributes(config.mapping, kind)) {
      Add(&canonical, AsciiLower(attribute));
    }
  }
  // Only when set, so that the fingerprints of states from before it hold.
  if (FlattensGroups(config.store)) Add(&canonical, "flatten-nested-groups");
  std::string hex(16, '0');
  uint64_t h = Fnv1a(canonical);
  for (int i = 15; i >= 0; --i, h >>= 4) hex[static_cast<size_t>(i)] = "0123456789abcdef"[h & 0xf];
  return hex;
}

std::string StoreMismatch(const Watermark& w, const std::optional<StoreIdentity>& store,
                          int64_t cached_objects) {
  if (!store) {
    return "the store is missing (the state caches " + std::to_string(cached_objects) +
           " objects): it is rebuilt from AD";
  }
  if (!w.store_id.empty() && !store->id.empty() && w.store_id != store->id) {
    return "the store is not the one the state was built with (store id " + store->id +
           ", the state's " + w.store_id + "): it was replaced or recreated";
  }
  if (!store->holds_owned && cached_objects > 0) {
    return "the store holds none of syncd's objects while the state caches " +
           std::to_string(cached_objects) + ": it is rebuilt from AD";
  }
  return "";
}

namespace {

// A run the state never finished recording: the store may hold its batch.
RunChoice Interrupted(int64_t run) {
  return {true,
          "run " + std::to_string(run) +
              " was interrupted before the state recorded it; what the store holds of syncd's "
              "objects is compared with AD",
          false, true};
}

}  // namespace

RunChoice ChooseRun(const PolicyInputs& in) {
  if (!in.watermark->has_value()) {
    if (in.unfinished_run != 0) return Interrupted(in.unfinished_run);
    std::string reason = in.force_full ? "--full given" : "no watermark yet";
    if (in.store != nullptr && in.store->has_value() && (*in.store)->holds_owned) {
      reason += "; what the store holds of syncd's objects is compared with AD";
    }
    return {true, reason};
  }
  const Watermark& w = **in.watermark;
  if (!in.cursor.other_source.empty()) return {true, in.cursor.other_source, true};
  if (in.store != nullptr) {
    if (std::string why = StoreMismatch(w, *in.store, in.cached_objects); !why.empty()) {
      return {true, why, false, true};
    }
  }
  if (!in.store_replaced.empty()) return {true, in.store_replaced, false, true};
  if (in.unfinished_run != 0) return Interrupted(in.unfinished_run);
  if (in.force_full) return {true, "--full given"};
  if (w.reconcile_pending) {
    return {true, "the last full reconciliation held operations on objects only the store holds"};
  }
  if (w.scope_fingerprint != in.fingerprint) return {true, "the scope configuration changed"};
  if (!in.cursor.stale.empty()) return {true, in.cursor.stale};
  if (in.now - w.last_full >= static_cast<int64_t>(in.reconcile_interval_hours) * 3600) {
    return {true, "scheduled reconciliation (reconcile_interval_hours = " +
                      std::to_string(in.reconcile_interval_hours) + ")"};
  }
  return {false, ""};
}

}  // namespace syncd
