// A directory entry as read from the wire, and the range-retrieval logic for
// multi-valued attributes that the server hands out in windows.
#ifndef SYNCD_LDAP_ENTRY_H_
#define SYNCD_LDAP_ENTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/status.h"

namespace syncd::ldap {

struct Entry {
  std::string dn;
  // Attribute descriptions as returned, lower-cased ("member;range=0-1499").
  // Present with no values means "cleared" (DirSync) or "see the ranged one".
  std::map<std::string, std::vector<std::string>> attributes;

  const std::vector<std::string>* Find(std::string_view name) const;  // exact description
  std::string First(std::string_view name) const;                     // "" if absent
};

// "member;range=0-1499" -> {member, 0, 1499}; "member;Range=1500-*" -> high nullopt.
struct RangeDescription {
  std::string attribute;
  uint64_t low = 0;
  std::optional<uint64_t> high;  // nullopt: '*', the last window
};
std::optional<RangeDescription> ParseRangeDescription(std::string_view description);

// Accumulates every value of one attribute across range windows.
//
// Usage: Absorb() the entry from the main search; while !complete(), read
// NextRequest() from the same entry (base scope) and Absorb() the answer.
// step == 0 asks for open-ended windows ("L-*") and lets the server cut them.
class RangedValues {
 public:
  RangedValues(const std::string& attribute, uint32_t step);

  // Takes this attribute's values out of `entry` (plain or ranged). Fails
  // with kDataLoss if a window does not start where the last one ended.
  Status Absorb(const Entry& entry);

  bool complete() const { return complete_; }
  std::string NextRequest() const;
  // The description to ask for in the first search ("member" or a window).
  std::string FirstRequest() const;
  std::vector<std::string> TakeValues() { return std::move(values_); }
  int windows() const { return windows_; }

 private:
  std::string attribute_;
  uint32_t step_;
  uint64_t next_low_ = 0;
  bool complete_ = false;
  int windows_ = 0;
  std::vector<std::string> values_;
};

// True when `entry` holds every value of `attribute` already (plain, absent,
// or in one window that is the last): then folded as CompleteRangedAttribute
// leaves it, without reading anything. False when more windows are to be read
// (or the first is malformed), `entry` untouched: CompleteRangedAttribute
// does the rest, or says what is wrong.
bool FoldFirstWindow(Entry& entry, const std::string& attribute, uint32_t step);

// Reads the rest of a ranged attribute: `fetch(dn, description)` returns the
// entry read at base scope asking for just that description. On success the
// entry holds the plain attribute with every value and no ranged keys.
using RangeFetch = std::function<boost::asio::awaitable<Result<Entry>>(
    const std::string& dn, const std::string& description)>;
boost::asio::awaitable<Status> CompleteRangedAttribute(Entry& entry, const std::string& attribute,
                                                       uint32_t step, const RangeFetch& fetch);

}  // namespace syncd::ldap

#endif  // SYNCD_LDAP_ENTRY_H_
