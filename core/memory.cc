#include "core/memory.h"

#include <malloc.h>

namespace syncd {

void ReturnFreedMemory() { (void)malloc_trim(0); }

}  // namespace syncd
