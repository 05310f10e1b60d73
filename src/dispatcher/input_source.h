// Where the Streamer takes requests from: a directory of .npy files or
// synthetic random tensors (`run`), or the clients of `serve`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// Where requests come from: each request is one tensor per model input, in
// forward's argument order. The Streamer calls Get(i) once per request, in
// order, and keeps the tensors for replays until the result is delivered.
class InputSource {
 public:
  virtual ~InputSource() = default;
  // Requests so far. While open(), it may grow (from another thread).
  virtual int64_t count() const = 0;
  virtual Result<std::vector<HostTensor>> Get(int64_t i) = 0;
  // The stem output files are named after.
  virtual std::string Name(int64_t i) const = 0;
  // Whether more requests may come. Once false it stays false, and count()
  // read after it is final. A fixed set is never open.
  virtual bool open() const { return false; }
  // An eventfd that becomes readable when a request arrives or the source
  // closes (the Streamer waits on it beside the results and reads it
  // empty); -1: none.
  virtual int wakeup_fd() const { return -1; }
  // Whether request i was withdrawn before the Streamer took it (Get then
  // fails): it is delivered as failed, never sent.
  virtual bool Cancelled(int64_t) const { return false; }
};

// Requests read from .npy files in a directory, sorted by name.
//
// A model with one input: every NAME.npy is a request named NAME. A model with
// k > 1 inputs: request NAME is the files NAME.0.npy .. NAME.(k-1).npy, input
// j from NAME.j.npy; a request missing one of them, or a file not named so,
// is an error before anything is streamed.
class DirectoryInputs : public InputSource {
 public:
  // Lists the directory and checks every file's header against `specs` (one
  // per input) when given; else the model takes `arity` inputs and the first
  // request's dtypes and shapes are the ones every request must have
  // (returned by specs()). Errors name the file.
  static Result<std::unique_ptr<DirectoryInputs>> Open(const std::string& dir, const std::vector<InputSpec>& specs,
                                                       size_t arity);
  int64_t count() const override { return static_cast<int64_t>(requests_.size()); }
  Result<std::vector<HostTensor>> Get(int64_t i) override;
  std::string Name(int64_t i) const override { return requests_.at(i).name; }
  const std::vector<InputSpec>& specs() const { return specs_; }

 private:
  struct Request {
    std::string name;
    std::vector<std::string> files;  // one per input
  };
  std::string dir_;
  std::vector<Request> requests_;
  std::vector<InputSpec> specs_;
};

// N random requests of the given inputs (seeded by index): floating point
// normal, integers uniform in [0, 10) (uint8 in [0, 256), int8 in [-128,
// 128)), bool either way.
class SyntheticInputs : public InputSource {
 public:
  SyntheticInputs(int n, std::vector<InputSpec> specs) : n_(n), specs_(std::move(specs)) {}
  int64_t count() const override { return n_; }
  Result<std::vector<HostTensor>> Get(int64_t i) override;
  std::string Name(int64_t i) const override;

 private:
  int n_;
  std::vector<InputSpec> specs_;
};

}  // namespace tandem
