// Finding elements of a large sequence by key, in 4 bytes an element.
#ifndef SYNCD_CORE_POSITION_INDEX_H_
#define SYNCD_CORE_POSITION_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace syncd {

// Positions in a sequence the caller owns (a vector, a deque of dense ids),
// found by a key read from the element at each position: an open-addressing
// table of 4-byte slots, at most half full, in one allocation. A node-based
// std::unordered_map costs ~50 bytes an entry, each in an allocation of its
// own; made all through a large read, those interleave with what the read
// keeps, and leave holes the heap cannot return once they are freed.
//
// KeyAt(uint32_t position) returns the key of that element, a cheap value
// (a string_view, a few words); Hash hashes keys; keys compare with ==.
// Precondition: the elements' keys do not change while they are indexed.
template <typename Key, typename KeyAt, typename Hash = std::hash<Key>>
class PositionIndex {
 public:
  explicit PositionIndex(KeyAt key_at, Hash hash = Hash())
      : key_at_(std::move(key_at)), hash_(std::move(hash)) {}

  // Room for `n` positions without growing.
  void Reserve(size_t n) {
    if (2 * n > slots_.size()) Rehash(2 * n);
  }

  // Indexes `position`. A key may be indexed at several positions.
  void Add(uint32_t position) {
    if (2 * (size_ + 1) > slots_.size()) Rehash(2 * (size_ + 1));
    Place(position);
    ++size_;
  }

  // The first position FindIf visits with `key` and `accept(position)`
  // true, or nullopt. The positions of one key are visited in no set order.
  template <typename Accept>
  std::optional<uint32_t> FindIf(const Key& key, Accept accept) const {
    if (slots_.empty()) return std::nullopt;
    const size_t mask = slots_.size() - 1;
    for (size_t at = hash_(key) & mask; slots_[at] != kEmpty; at = (at + 1) & mask) {
      if (key_at_(slots_[at]) == key && accept(slots_[at])) return slots_[at];
    }
    return std::nullopt;
  }
  std::optional<uint32_t> Find(const Key& key) const {
    return FindIf(key, [](uint32_t) { return true; });
  }

  size_t size() const { return size_; }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;

  void Place(uint32_t position) {
    const size_t mask = slots_.size() - 1;
    size_t at = hash_(key_at_(position)) & mask;
    while (slots_[at] != kEmpty) at = (at + 1) & mask;
    slots_[at] = position;
  }

  void Rehash(size_t at_least) {
    size_t capacity = 16;
    while (capacity < at_least) capacity *= 2;
    std::vector<uint32_t> old(capacity, kEmpty);
    old.swap(slots_);
    for (uint32_t position : old) {
      if (position != kEmpty) Place(position);
    }
  }

  KeyAt key_at_;
  Hash hash_;
  std::vector<uint32_t> slots_;  // a power of two in size, or empty
  size_t size_ = 0;
};

}  // namespace syncd

#endif  // SYNCD_CORE_POSITION_INDEX_H_
