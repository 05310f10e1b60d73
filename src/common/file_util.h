// Small file helpers that return Status instead of throwing.
#pragma once

#include <string>

#include "common/status.h"

namespace tandem {

// Reads a whole regular file. Errors name the path: missing, a directory,
// unreadable, or larger than max_bytes.
Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes = 16ull << 30);
// Writes `data` to `path` through a temporary file and a rename, so readers
// never see half a file.
Status WriteFileAtomic(const std::string& path, const std::string& data);
// Creates a directory and its parents; ok if it exists.
Status MakeDirs(const std::string& path);

}  // namespace tandem
