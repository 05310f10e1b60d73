// `serve`'s HTTP API (cpp-httplib), following the Open Inference Protocol
// (KServe v2 REST):
//
//   GET  /v2/health/live             200 while the process runs
//   GET  /v2/health/ready            200 while requests are taken, else 503
//   GET  /v2/models/NAME             model metadata (inputs, outputs)
//   GET  /v2/models/NAME/ready       as /v2/health/ready
//   POST /v2/models/NAME/infer       JSON tensors, or the binary tensor data
//                                    extension (Inference-Header-Content-Length);
//                                    with Content-Type application/x-npy the
//                                    body is one .npy (a model with one input)
//                                    and the answer is one .npy (?output=NAME
//                                    picks among several outputs)
//
// Errors are v2 error bodies ({"error": "..."}): 400 for a bad request
// (naming the input and what is wrong), 404 for another model name or path,
// 503 with Retry-After when the queue is full or the dispatcher is shutting
// down, 504 when the request's deadline passes before its result comes (the
// request still runs; its result is dropped), 500 when the pipeline fails
// the request.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "common/util/status.h"
#include "dispatcher/serving_queue.h"
#include "dispatcher/v2_protocol.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace tandem {

struct HttpApiOptions {
  // HOST:PORT to listen on (port 0: any free port). Default loopback only.
  std::string listen = "127.0.0.1:8000";
  // Seconds a request may wait for its result before the client gets 504.
  double request_timeout_s = 60;
  // Threads answering HTTP; each connection being served holds one, so it
  // bounds the clients served at once. Default 64.
  int threads = 64;
  // Largest request body (bytes). Default 256 MiB.
  uint64_t max_body_bytes = 256ull << 20;
  // When set, every request but GET /v2/health/live must carry
  // "Authorization: Bearer TOKEN" (else 401). Required for a non-loopback
  // listen address.
  std::string token;
  // PEM certificate chain and private key: HTTPS instead of HTTP.
  std::string tls_cert, tls_key;
};

class HttpApi {
 public:
  // `model` describes what is served; requests go into `queue`.
  HttpApi(V2Model model, ServingQueue& queue, HttpApiOptions options);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds (errors name the address) and serves on a thread of its own.
  Status Start();
  // The port bound (after Start).
  int port() const { return port_; }
  // Stops listening and waits for the requests being answered.
  void Stop();
  // Ready: requests are taken (the pipeline is deployed, not shutting down).
  void SetReady(bool ready) { ready_ = ready; }
  // The model generation that answered last, shown as the model's version.
  void SetGeneration(int generation) { generation_ = generation; }

 private:
  struct Impl;
  // POST /v2/models/NAME/infer.
  void Infer(const httplib::Request& req, httplib::Response& res);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<int> generation_{1};
};

}  // namespace tandem
