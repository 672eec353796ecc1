#include "ldap/entry.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "core/strings.h"

namespace syncd::ldap {
namespace {

bool ParseNumber(std::string_view text, uint64_t* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

}  // namespace

const std::vector<std::string>* Entry::Find(std::string_view name) const {
  auto it = attributes.find(AsciiLower(name));
  return it == attributes.end() ? nullptr : &it->second;
}

std::string Entry::First(std::string_view name) const {
  const auto* values = Find(name);
  return values == nullptr || values->empty() ? std::string() : values->front();
}

std::optional<RangeDescription> ParseRangeDescription(std::string_view description) {
  std::string lower = AsciiLower(description);
  size_t at = lower.find(";range=");
  if (at == std::string::npos) return std::nullopt;
  RangeDescription out;
  out.attribute = lower.substr(0, at);
  std::string_view window = std::string_view(lower).substr(at + 7);
  size_t dash = window.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  if (!ParseNumber(window.substr(0, dash), &out.low)) return std::nullopt;
  std::string_view high = window.substr(dash + 1);
  if (high == "*") return out;
  uint64_t h = 0;
  if (!ParseNumber(high, &h) || h < out.low) return std::nullopt;
  out.high = h;
  return out;
}

RangedValues::RangedValues(const std::string& attribute, uint32_t step)
    : attribute_(AsciiLower(attribute)), step_(step) {}

std::string RangedValues::FirstRequest() const {
  if (step_ == 0) return attribute_;
  return attribute_ + ";range=0-" + std::to_string(step_ - 1);
}

std::string RangedValues::NextRequest() const {
  // A window that would end past the last representable index asks for
  // the rest ("*"): its end would wrap around below its start.
  const bool to_the_end = step_ == 0 || next_low_ > UINT64_MAX - (step_ - 1);
  std::string high = to_the_end ? "*" : std::to_string(next_low_ + step_ - 1);
  return attribute_ + ";range=" + std::to_string(next_low_) + "-" + high;
}

Status RangedValues::Absorb(const Entry& entry) {
  ++windows_;
  // A ranged description wins over a plain one: AD sends an empty plain
  // attribute next to the first window when it truncates.
  for (const auto& [description, values] : entry.attributes) {
    auto range = ParseRangeDescription(description);
    if (!range || range->attribute != attribute_) continue;
    if (range->low != next_low_) {
      return Status::DataLoss(entry.dn + ": " + description + " does not continue at value " +
                              std::to_string(next_low_));
    }
    values_.insert(values_.end(), values.begin(), values.end());
    if (!range->high) {
      complete_ = true;
    } else {
      // A window ending at the last representable index would send the next
      // request back to value 0: a hostile or broken DC could keep syncd
      // reading forever. (ParseRangeDescription refuses high < low.)
      if (*range->high == UINT64_MAX) {
        return Status::DataLoss(entry.dn + ": " + description + " is not a window of values");
      }
      next_low_ = *range->high + 1;
      if (values.empty()) {
        return Status::DataLoss(entry.dn + ": " + description + " returned no values");
      }
    }
    return Status::Ok();
  }
  if (const auto* plain = entry.Find(attribute_)) {
    // A server that ignores the window returns everything at once.
    values_ = *plain;
  }
  // Absent: no values at all, or (after a window ending exactly at the last
  // value) nothing beyond it.
  complete_ = true;
  return Status::Ok();
}

namespace {

// Replaces the windows of `ranged`'s attribute in `entry` by its plain values.
void Fold(Entry& entry, const std::string& attribute, RangedValues& ranged) {
  std::string attr = AsciiLower(attribute);
  std::erase_if(entry.attributes, [&](const auto& kv) {
    auto range = ParseRangeDescription(kv.first);
    return range && range->attribute == attr;
  });
  entry.attributes[attr] = ranged.TakeValues();
}

}  // namespace

bool FoldFirstWindow(Entry& entry, const std::string& attribute, uint32_t step) {
  RangedValues ranged(attribute, step);
  if (!ranged.Absorb(entry).ok() || !ranged.complete()) return false;
  Fold(entry, attribute, ranged);
  return true;
}

boost::asio::awaitable<Status> CompleteRangedAttribute(Entry& entry, const std::string& attribute,
                                                       uint32_t step, const RangeFetch& fetch) {
  RangedValues ranged(attribute, step);
  Status st = ranged.Absorb(entry);
  if (!st.ok()) co_return st;
  while (!ranged.complete()) {
    Result<Entry> window = co_await fetch(entry.dn, ranged.NextRequest());
    if (!window.ok()) co_return window.status();
    st = ranged.Absorb(*window);
    if (!st.ok()) co_return st;
  }
  Fold(entry, attribute, ranged);
  co_return Status::Ok();
}

}  // namespace syncd::ldap
