// Range retrieval (ldap/entry.h): attribute descriptions as a DC returns
// them ("member;range=0-1499"), one per input line, fed window after window
// to RangedValues as CompleteRangedAttribute would.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ldap/entry.h"

using namespace syncd::ldap;  // NOLINT(google-build-using-namespace)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = syncd::fuzz::AsText(data, size);
  if (std::optional<RangeDescription> range = ParseRangeDescription(input)) {
    SYNCD_FUZZ_CHECK(!range->high || *range->high >= range->low);
  }

  // The first byte picks the window size (0: the server decides).
  const uint32_t step = input.empty() ? 0 : static_cast<uint8_t>(input.front());
  RangedValues ranged("member", step);
  const std::optional<RangeDescription> first = ParseRangeDescription(ranged.FirstRequest());
  SYNCD_FUZZ_CHECK(step == 0 || (first && first->low == 0));
  while (!input.empty() && !ranged.complete()) {
    size_t end = input.find('\n');
    std::string_view line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    Entry window;
    window.dn = "CN=Big,OU=Groups,DC=corp,DC=example,DC=com";
    window.attributes[std::string(line)] = {"CN=Member,DC=corp,DC=example,DC=com"};
    if (!ranged.Absorb(window).ok()) break;
    if (ranged.complete()) break;
    // The next request is itself a well-formed window of the same attribute.
    std::optional<RangeDescription> next = ParseRangeDescription(ranged.NextRequest());
    SYNCD_FUZZ_CHECK(next && next->attribute == "member");
  }
  (void)ranged.TakeValues();
  return 0;
}
