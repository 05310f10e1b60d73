#include "common/util/int_list.h"

namespace tandem {

Result<std::vector<int64_t>> ParseIntList(const std::string& text, const IntListOptions& o) {
  std::vector<int64_t> out;
  auto bad = [&](const std::string& why) { return Status::InvalidArgument("'" + text + "': " + why); };
  size_t i = 0;
  const size_t n = text.size();
  auto skip_spaces = [&] {
    while (i < n && text[i] == ' ') ++i;
  };
  skip_spaces();
  if (i == n) {
    if (o.allow_empty) return out;
    return bad("no numbers");
  }
  while (true) {
    skip_spaces();
    const bool negative = i < n && text[i] == '-';
    if (negative) ++i;
    const size_t digits_at = i;
    int64_t v = 0;
    while (i < n && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + (text[i] - '0');
      if (v > o.max_abs) return bad("'" + text.substr(digits_at, i - digits_at + 1) + "...' is too large");
      ++i;
    }
    if (i == digits_at) {
      if (i == n || o.separators.find(text[i]) != std::string::npos) return bad("an entry is empty");
      return bad("'" + std::string(1, text[i]) + "' is not a digit or a separator (" + o.separators + ")");
    }
    out.push_back(negative ? -v : v);
    skip_spaces();
    if (i == n) return out;
    if (o.separators.find(text[i]) == std::string::npos)
      return bad("'" + std::string(1, text[i]) + "' is not a digit or a separator (" + o.separators + ")");
    ++i;  // the separator
    skip_spaces();
    if (i == n) {
      if (o.trailing_separator) return out;
      return bad("an entry is empty");
    }
  }
}

}  // namespace tandem
