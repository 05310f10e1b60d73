// Streaming requests through a deployed pipeline and collecting the results.
//
// The Streamer binds the results socket (the last stage pushes there), then
// Run() sends inputs to stage 0 with at most `window` requests in flight,
// keeps every input until its result has arrived, and hands results over in
// input order, each exactly once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/codec.h"
#include "common/status.h"
#include "common/tensor.h"

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

struct StreamOptions {
  int window = 8;                  // requests in flight at most
  CodecSpec codec;                 // for the hop dispatcher -> stage 0
  double result_timeout_s = 60;    // no result for this long while waiting: error
  uint32_t model_version = 0;
  uint32_t num_stages = 1;
  std::string first_hop;           // stage 0's data endpoint
  uint64_t max_result_bytes = 1ull << 30;
  // While requests are in flight and no result has come for `health_after_s`,
  // `health_check` is called (at most once per `health_after_s`); a non-ok
  // Status (a worker that stopped answering) ends the run with that error.
  std::function<Status()> health_check;
  double health_after_s = 2;
};

struct StageStats {
  uint64_t count = 0;
  double compute_s = 0, queue_s = 0, decode_s = 0, encode_s = 0;  // sums
  uint64_t bytes_out = 0;                                          // sum
  double max_abs_error = 0;
};

struct StreamReport {
  int completed = 0;
  int failed = 0;
  std::vector<std::string> failures;  // "request 7 (input-7): stage 1: ..."
  double seconds = 0;                 // first send to last result
  std::vector<double> latencies_s;    // per successful request
  uint64_t first_hop_bytes = 0;       // sum over requests
  uint64_t first_hop_raw_bytes = 0;
  double first_hop_max_error = 0;
  std::vector<StageStats> stages;     // from the timings each stage appends
  bool interrupted = false;
};

// Called with (index, outputs) in input order, once per successful request.
using ResultSink = std::function<Status(int, const std::vector<HostTensor>&)>;

class Streamer {
 public:
  explicit Streamer(zmq::context_t& ctx);
  // Binds the results socket at `bind` ("tcp://HOST:*" picks a port).
  Status Bind(const std::string& bind);
  // The endpoint the socket actually bound.
  const std::string& bound_endpoint() const { return bound_; }
  Result<StreamReport> Run(InputSource& inputs, const StreamOptions& options, const ResultSink& sink,
                           const std::atomic<bool>& stop, const std::function<void(int, int)>& progress);

 private:
  zmq::context_t& ctx_;
  std::unique_ptr<zmq::socket_t> results_;
  std::string bound_;
};

// Writes a request's outputs as DIR/NAME.out.npy (one tensor) or
// DIR/NAME.out.K.npy (element K of a tuple; None elements are skipped).
Status WriteOutputs(const std::string& dir, const std::string& name, const std::vector<HostTensor>& outputs);

}  // namespace tandem
