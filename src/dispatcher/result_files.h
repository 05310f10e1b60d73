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
// DIR/NAME.out.ELEMENT.npy, ELEMENT the output's name (Model::output_names:
// "0", "1" for a tuple's elements, a dict's key, "boxes.0"; characters other
// than letters, digits, '-', '_' and '.' become '_') or, without names, its
// index. None elements are skipped.
Status WriteOutputs(const std::string& dir, const std::string& name, const std::vector<HostTensor>& outputs,
                    const std::vector<std::string>& output_names = {});

// Not thread-safe.
class ResultFiles {
 public:
  ResultFiles() = default;
  ~ResultFiles();
  ResultFiles(const ResultFiles&) = delete;
  ResultFiles& operator=(const ResultFiles&) = delete;

  // Creates `dir` and DIR/results.jsonl; an empty `dir` writes nothing.
  Status Open(const std::string& dir);
  // The names WriteOutputs gives the output files (the model's).
  void SetOutputNames(std::vector<std::string> names) { names_ = std::move(names); }
  // The request's outputs (when it succeeded) and its results.jsonl line,
  // flushed: a run stopped half-way leaves whole lines.
  Status Write(const Delivery& delivery, const std::string& input_name);

 private:
  std::string dir_, log_path_;
  std::vector<std::string> names_;
  std::FILE* log_ = nullptr;
};

}  // namespace tandem
