// Lists of integers written by people or by other programs: "1,3,224,224",
// "1x3x224x224", a .npy header's "(3, 224, 224)". The one parser of such
// lists in tandem (flags bind integer lists through CLI11 instead).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace tandem {

struct IntListOptions {
  // Characters that separate entries; spaces around entries are ignored.
  std::string separators = ",";
  // Accept one separator after the last entry ("3," as Python writes a
  // one-element tuple). Default: no.
  bool trailing_separator = false;
  // Accept an empty list. Default: no.
  bool allow_empty = false;
  // Largest absolute value of an entry. Default 2^53.
  int64_t max_abs = int64_t{1} << 53;
};

// Parses decimal integers (an optional '-' sign) separated as `options` say.
// Errors (kInvalidArgument) quote the text and say what is wrong: an empty
// entry, a character that is not a digit or separator, a value out of range.
Result<std::vector<int64_t>> ParseIntList(const std::string& text, const IntListOptions& options = {});

}  // namespace tandem
