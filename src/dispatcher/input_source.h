// Where `run` takes its inputs from: a directory of .npy files or synthetic
// random tensors. The Streamer asks for input i again when it replays it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// Where inputs come from. Get(i) may be called again for the same i (replay).
class InputSource {
 public:
  virtual ~InputSource() = default;
  virtual int count() const = 0;
  virtual Result<HostTensor> Get(int i) = 0;
  // The stem output files are named after.
  virtual std::string Name(int i) const = 0;
};

// Every *.npy in a directory, sorted by name.
class DirectoryInputs : public InputSource {
 public:
  // Lists the directory and checks every file's header: float32, `shape`
  // when given (else the first file's shape, returned by shape()). Errors name
  // the file.
  static Result<std::unique_ptr<DirectoryInputs>> Open(const std::string& dir, const std::vector<int64_t>& shape);
  int count() const override { return static_cast<int>(files_.size()); }
  Result<HostTensor> Get(int i) override;
  std::string Name(int i) const override;
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  std::string dir_;
  std::vector<std::string> files_;
  std::vector<int64_t> shape_;
};

// N random normal float32 inputs of one shape (seeded by index).
class SyntheticInputs : public InputSource {
 public:
  SyntheticInputs(int n, std::vector<int64_t> shape) : n_(n), shape_(std::move(shape)) {}
  int count() const override { return n_; }
  Result<HostTensor> Get(int i) override;
  std::string Name(int i) const override;

 private:
  int n_;
  std::vector<int64_t> shape_;
};

}  // namespace tandem
