// What `run --outputs DIR` writes, request by request in input order: each
// result as NumPy files named after its input, and a line of
// DIR/results.jsonl saying which model answered it (docs/formats.md).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "common/tensor/tensor.h"
#include "common/util/status.h"
#include "dispatcher/streamer.h"

namespace tandem {

// Writes a request's outputs as DIR/NAME.out.npy (one tensor) or
// DIR/NAME.out.K.npy (element K of a tuple; None elements are skipped).
Status WriteOutputs(const std::string& dir, const std::string& name, const std::vector<HostTensor>& outputs);

// Not thread-safe.
class ResultFiles {
 public:
  ResultFiles() = default;
  ~ResultFiles();
  ResultFiles(const ResultFiles&) = delete;
  ResultFiles& operator=(const ResultFiles&) = delete;

  // Creates `dir` and DIR/results.jsonl; an empty `dir` writes nothing.
  Status Open(const std::string& dir);
  // The request's outputs (when it succeeded) and its results.jsonl line,
  // flushed: a run stopped half-way leaves whole lines.
  Status Write(const Delivery& delivery, const std::string& input_name);

 private:
  std::string dir_, log_path_;
  std::FILE* log_ = nullptr;
};

}  // namespace tandem
