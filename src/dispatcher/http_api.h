// `serve`'s HTTP API (cpp-httplib), following the Open Inference Protocol
// (KServe v2 REST):
//
//   GET  /v2/health/live             200 while the process runs
//   GET  /v2/health/ready            200 while requests are taken, else 503
//   GET  /v2/models/NAME             model metadata (inputs, outputs)
//   GET  /v2/models/NAME/ready       as /v2/health/ready
//   GET  /metrics                    Prometheus text format (serve_metrics.h)
//   GET  /                           the status page (status_page.h; no token
//                                    needed: it holds no data)
//   GET  /status                     what the status page shows, as JSON
//   POST /v2/models/NAME/infer       JSON tensors, or the binary tensor data
//                                    extension (Inference-Header-Content-Length);
//                                    with Content-Type application/x-npy the
//                                    body is one .npy (a model with one input)
//                                    and the answer is one .npy (?output=NAME
//                                    picks among several outputs)
//
// Errors are v2 error bodies ({"error": "..."}): 400 for a bad request
// (naming the input and what is wrong), 404 for another model name or path,
// 411/413/415 for a body without a length, too large, or compressed, 503
// with Retry-After when the queue is full, the dispatcher is shutting down
// or stopped before running the request, 504 when the request's deadline
// passes before its result comes (withdrawn if it was not sent yet, else it
// runs and its result is dropped), 500 when the pipeline fails the request.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "common/util/status.h"
#include "dispatcher/serve_metrics.h"
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
  // Threads answering HTTP; each connection being served holds one (a
  // request waiting for its result too), so it bounds the clients served at
  // once. Default 96.
  int threads = 96;
  // Largest request body (bytes); a body must say its length, uncompressed
  // (else 411/415/413). Default 256 MiB; serve sets it from the model.
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
  // `model` describes what is served; requests go into `queue`; requests
  // are counted in `metrics`, which GET /metrics shows.
  HttpApi(V2Model model, ServingQueue& queue, ServeMetrics& metrics, HttpApiOptions options);
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
  // Whether the request carries the token (or needs none).
  bool Authorized(const httplib::Request& req) const;
  // POST /v2/models/NAME/infer.
  void Infer(const httplib::Request& req, httplib::Response& res);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<int> generation_{1};
};

}  // namespace tandem
