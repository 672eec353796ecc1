# The libFuzzer build (fuzz/): SYNCD_FUZZ=ON, with clang, in a build
# directory of its own (scripts/fuzz.sh uses build-fuzz/). Every syncd
# library is then compiled with coverage instrumentation and ASan/UBSan, so
# the fuzzers see the code they call and any sanitizer report aborts the run
# as a crash (-fno-sanitize-recover=all).
option(SYNCD_FUZZ "Build the libFuzzer targets in fuzz/ (clang only)" OFF)
if(NOT SYNCD_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "SYNCD_FUZZ=ON needs clang with libFuzzer (clang-14, libclang-rt-14-dev), "
                      "not ${CMAKE_CXX_COMPILER_ID}: configure a separate build directory with "
                      "-DCMAKE_CXX_COMPILER=clang++-14, or run scripts/fuzz.sh")
endif()
if(SYNCD_SANITIZE)
  message(FATAL_ERROR "SYNCD_FUZZ=ON brings its own sanitizers: leave SYNCD_SANITIZE off")
endif()
# -fno-sanitize=function: with coverage instrumentation on, clang 14 cannot
# emit that check's prologue data for coroutine functions ("Cannot represent
# a difference across sections"), and the LDAP layer is coroutines.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function
                    -fno-sanitize-recover=all -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
