// Writing a file durably: created with exactly the given mode, written in
// full, fsynced; a partial file is removed on failure.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "keys/result.h"

namespace rogatory {

// Writes `data` to `path`. Without `overwrite` an existing file is refused
// (kAlreadyExists, O_EXCL); with it the file is truncated. `what` names the
// file in error messages ("keystore", "bundle").
Status WriteFileDurably(const std::string& path, std::string_view data, mode_t mode,
                        bool overwrite, std::string_view what);

}  // namespace rogatory
