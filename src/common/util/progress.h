// Progress on long work, on stderr: a line rewritten in place on a terminal,
// a line per tenth of the work otherwise (so logs stay short).
#pragma once

#include <string>

namespace tandem {

class Progress {
 public:
  explicit Progress(std::string label);
  // Reports `done` of `total`; the line is finished when done == total.
  void Update(int done, int total);

 private:
  std::string label_;
  bool tty_;
  int last_decile_ = -1;
};

}  // namespace tandem
