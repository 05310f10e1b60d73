// Formatting for people and files: sizes and timestamps.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace tandem {

// "1.50 MB", "312.0 kB", "12 B" (decimal units).
std::string FormatBytes(uint64_t bytes);
// The current time in UTC, ISO 8601 to the second: "2026-11-29T14:03:00Z".
std::string UtcTimestamp();

}  // namespace tandem
