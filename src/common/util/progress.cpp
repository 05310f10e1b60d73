#include "common/util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tandem {

Progress::Progress(std::string label) : label_(std::move(label)), tty_(::isatty(STDERR_FILENO) == 1) {}

void Progress::Update(int done, int total) {
  if (total <= 0) return;
  if (tty_) {
    std::fprintf(stderr, "\r%s: %d/%d", label_.c_str(), done, total);
    if (done >= total) std::fprintf(stderr, "\n");
  } else {
    const int decile = done * 10 / total;
    if (decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(stderr, "%s: %d/%d\n", label_.c_str(), done, total);
  }
  std::fflush(stderr);
}

}  // namespace tandem
