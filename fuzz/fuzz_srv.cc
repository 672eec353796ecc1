// DC discovery's DNS answer parser (ldap/dc_discovery.h): any bytes as the
// response to an SRV query, then the RFC 2782 ordering of what it found.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "ldap/dc_discovery.h"

using namespace syncd::ldap;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  syncd::Result<std::vector<SrvRecord>> records = ParseSrvAnswer(data, size);
  if (!records.ok()) return 0;
  // Deterministic draws, so that a crash reproduces.
  uint32_t draws = 0;
  UniformRandom random = [&draws](uint32_t bound) { return draws++ % bound; };
  std::vector<SrvRecord> ordered = OrderSrvRecords(*records, random);
  SYNCD_FUZZ_CHECK(ordered.size() == records->size());
  for (size_t i = 1; i < ordered.size(); ++i) {
    SYNCD_FUZZ_CHECK(ordered[i - 1].priority <= ordered[i].priority);
  }
  return 0;
}
