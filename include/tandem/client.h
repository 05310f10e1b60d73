// tandem's C++ client: send inference requests to a `tandem-dispatcher
// serve` over its ZeroMQ API (serve --zmq-listen) and get the answers back.
// For producers at a high rate (a camera, a robot's sensors): no HTTP per
// request, and many requests may be outstanding at once.
//
//   tandem::client::Client c("tcp://127.0.0.1:8001");
//   std::vector<tandem::client::Output> out = c.Infer({image});
//
// With CurveZMQ (a serve that has keys): give the server's public key and
// this client's secret key file (`tandem-dispatcher keygen`); the server lets
// in only the clients whose public key it lists (--zmq-client-keys).
//
// This header is the library's whole interface: it needs the C++17 standard
// library only. Link with -ltandem_client (and libzmq, liblz4, libzfp,
// libsodium through it when linking statically).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tandem {
namespace client {

// Element types; the numbers are the wire's.
enum class DType : uint8_t {
  kFloat32 = 1,
  kFloat64 = 2,
  kFloat16 = 3,
  kInt64 = 4,
  kInt32 = 5,
  kInt16 = 6,
  kInt8 = 7,
  kUInt8 = 8,
  kBool = 9,
  kBFloat16 = 10,
};

// A dense tensor: `data` holds the elements in C order, little-endian
// (numel * element size bytes).
struct Tensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  // A float32 tensor of `shape` holding `values` (numel of them).
  static Tensor Float32(std::vector<int64_t> shape, const float* values);
  // The elements as float32 (dtype must be kFloat32).
  const float* floats() const { return reinterpret_cast<const float*>(data.data()); }
  int64_t numel() const;
};

// One output of the model, named as the server's metadata names it
// ("output" for a model with one output, else "output_0", ...).
struct Output {
  std::string name;
  Tensor tensor;
};

// A failed request or a failed connection. status() follows HTTP's codes:
// 400 the request was wrong (the message says what), 503 the server could
// not take it now (queue full, starting or stopping: send it again later),
// 504 its deadline passed, 500 the model failed on it, 0 no answer came
// within the client's timeout (the server may be down or unreachable).
class Error : public std::runtime_error {
 public:
  Error(int status, uint64_t request_id, const std::string& message)
      : std::runtime_error(message), status_(status), request_id_(request_id) {}
  int status() const { return status_; }
  // The request it answers (0: none in particular).
  uint64_t request_id() const { return request_id_; }
  bool retryable() const { return status_ == 503; }

 private:
  int status_;
  uint64_t request_id_;
};

struct Options {
  // serve's --zmq-listen, tcp://HOST:PORT.
  std::string endpoint;
  // CurveZMQ: the server's public key (Z85 text, or a file holding it) and
  // this client's secret key file. Both empty: plain ZeroMQ (a loopback
  // serve without keys).
  std::string server_key;
  std::string secret_key_file;
  // Seconds to wait for an answer; also sent as the request's deadline, so
  // the server gives up on it first (504). Default 60.
  double timeout_s = 60;
};

// One connection to one server. Not thread-safe: use one Client per thread.
class Client {
 public:
  // Checks the options and reads the keys; connects in the background.
  // Throws Error (status 400) when an option or key file is wrong.
  explicit Client(Options options);
  // Plain ZeroMQ to `endpoint`, the other options at their defaults.
  explicit Client(const std::string& endpoint);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request (one tensor per model input, in order) and waits for
  // its answer. Throws Error. Requests sent with Send and not yet received
  // must not be outstanding.
  std::vector<Output> Infer(const std::vector<Tensor>& inputs);

  // Pipelining: Send queues a request and returns its id at once; Receive
  // waits for the next answer of any outstanding request (answers of one
  // client come in the order it sent them, but an error may overtake) and
  // returns it, or throws Error for that request (request_id() says which)
  // or for the timeout (status 0).
  struct Reply {
    uint64_t request_id = 0;
    int model_generation = 0;  // the model version that answered
    std::vector<Output> outputs;
  };
  uint64_t Send(const std::vector<Tensor>& inputs);
  Reply Receive();
  // Requests sent and not yet received.
  size_t outstanding() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace client
}  // namespace tandem
