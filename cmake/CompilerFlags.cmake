# Build policy in one place: language level, warnings, sanitizers.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "" FORCE)
endif()

option(SYNCD_WERROR "Treat warnings as errors (on in CI)" OFF)
option(SYNCD_SANITIZE "Build with AddressSanitizer and UBSan" OFF)

# Applied to syncd's own targets only (see syncd_add_library), not to Boost.
set(SYNCD_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wdouble-promotion -Wformat=2
    -Wimplicit-fallthrough
    # GCC 12 misreports Asio's coroutine-frame allocator as mismatched.
    -Wno-mismatched-new-delete)
if(SYNCD_WERROR)
  list(APPEND SYNCD_WARNING_FLAGS -Werror)
endif()

if(SYNCD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
