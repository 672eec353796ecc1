// The assignment ledger import (syncd/ledger_json.h): any text as an export
// file handed to `syncd assignments import`. What it accepts must export
// again and read back to the same file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "syncd/ledger_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  syncd::Result<std::vector<syncd::LedgerEntry>> entries =
      syncd::ParseLedgerFile(syncd::fuzz::AsText(data, size));
  if (!entries.ok()) return 0;
  const std::string exported = syncd::LedgerFileJson(*entries, 0);
  syncd::Result<std::vector<syncd::LedgerEntry>> again = syncd::ParseLedgerFile(exported);
  SYNCD_FUZZ_CHECK(again.ok());
  SYNCD_FUZZ_CHECK(syncd::LedgerFileJson(*again, 0) == exported);
  return 0;
}
