// The configuration loader (syncd/config.h): any text, as the operator's
// syncd.conf. It must return a Config or an error, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_check.h"
#include "syncd/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)syncd::ParseConfig(std::string(syncd::fuzz::AsText(data, size)), "fuzz.conf");
  return 0;
}
