// What the fuzz targets share: turning the input into text, and checking a
// property of the code under test so that a violation stops the fuzzer like
// a crash does (libFuzzer keeps the input).
#ifndef SYNCD_FUZZ_FUZZ_CHECK_H_
#define SYNCD_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace syncd::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Aborts with the failed condition when `ok` is false.
inline void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

}  // namespace syncd::fuzz

#define SYNCD_FUZZ_CHECK(condition) ::syncd::fuzz::Check((condition), #condition)

#endif  // SYNCD_FUZZ_FUZZ_CHECK_H_
