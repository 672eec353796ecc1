// Giving memory the process freed back to the system.
#ifndef SYNCD_CORE_MEMORY_H_
#define SYNCD_CORE_MEMORY_H_

#include <utility>

namespace syncd {

// Frees what `container` holds, its capacity included. Assigning `{}` to a
// vector or an unordered container calls its initializer_list assignment,
// which destroys the elements but keeps the buffer (or the bucket array):
// not a release. Precondition: Container is default-constructible (its
// hash and comparator too).
template <typename Container>
void ReleaseMemory(Container* container) {
  Container().swap(*container);
}

// Returns to the system what the allocator keeps of freed memory: after a
// large phase (a full read, its plan) glibc keeps its freed pages, and the
// process's resident set with them. Costs a walk of the heap; call it at a
// phase boundary, not per object.
void ReturnFreedMemory();

}  // namespace syncd

#endif  // SYNCD_CORE_MEMORY_H_
