// Files and directories, returning Status instead of throwing. Every error
// names the path.
//
// Thread safety: functions; concurrent writers of one path race as the OS lets them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace tandem {

// Reads a whole regular file. Errors: missing (kNotFound), a directory,
// larger than max_bytes (kInvalidArgument), unreadable (kIOError).
Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes = 16ull << 30);
// Writes `data` to `path` through a temporary file and a rename, so readers
// never see half a file.
Status WriteFileAtomic(const std::string& path, const std::string& data);
// Creates a directory and its parents; ok if it exists.
Status MakeDirs(const std::string& path);
// The names (not paths) of the regular files in `dir` that end in `suffix`,
// sorted. Errors: `dir` missing or not a directory.
Result<std::vector<std::string>> ListFiles(const std::string& dir, const std::string& suffix);

}  // namespace tandem
