// Reading a file the configuration names (the config itself, a password file,
// a CA bundle, a keytab), with errors that say what the path is and what was
// expected instead of what a library makes of an empty read.
#ifndef SYNCD_CORE_INPUT_FILE_H_
#define SYNCD_CORE_INPUT_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace syncd {

// Larger than any config, secret or CA bundle; /dev/zero stops here.
inline constexpr size_t kMaxInputFileBytes = size_t{16} << 20;

// The whole of `path`. Errors are InvalidArgument, prefixed with `label` (the
// config key, or "config file"), for example
//   "source.password_file: /etc/syncd is a directory, expected a file holding the password"
//   "source.password_file: /etc/syncd/pw does not exist"
//   "source.password_file: /etc/syncd/pw cannot be read: Permission denied"
// `expected` names what the path should be.
Result<std::string> ReadInputFile(const std::string& path, std::string_view label,
                                  std::string_view expected);

// The same checks without keeping the contents: the file opens, is not a
// directory, and a byte of it can be read (for files a library reads itself).
Status CheckInputFile(const std::string& path, std::string_view label, std::string_view expected);

// Reads a secret file: the first line, without its line ending. Errors name
// `key` (the config key) and the path; a file other users can read is
// allowed, with a warning.
Result<std::string> ReadSecretFile(const std::string& path, const std::string& key);

}  // namespace syncd

#endif  // SYNCD_CORE_INPUT_FILE_H_
