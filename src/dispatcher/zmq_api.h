// `serve`'s ZeroMQ API, for producers at a high rate (a camera at 30 frames
// a second should not pay HTTP per frame): a ROUTER socket taking
// INFER_REQUEST messages (common/net/inference.h) from DEALER clients
// (include/tandem/client.h, clients/python/tandem_client.py) and answering
// each with INFER_REPLY or ERROR, same id. A client may have many requests
// outstanding; its answers come in the order it sent them.
//
// Requests share the ServingQueue with HTTP's (the same bound, fairness and
// answers-once), and count in the same metrics. Errors answer with ERROR:
// invalid argument (the message or a tensor is wrong: the text names the
// input), unavailable (queue full, the client's share used, not ready or
// shutting down: try again later), timeout (its deadline passed: withdrawn if
// not sent yet, else its result is dropped), internal (the model failed it).
//
// Security: with a key pair the socket is a CURVE server and only clients
// whose public key is in `client_keys` complete the handshake (ZAP); a
// client is then told apart by its key. Without keys, only loopback.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "common/net/zap.h"
#include "common/util/status.h"
#include "dispatcher/serve_metrics.h"
#include "dispatcher/serving_queue.h"
#include "dispatcher/v2_protocol.h"

namespace tandem {

struct ZmqApiOptions {
  // tcp://HOST:PORT to bind (port *: any free port).
  std::string listen;
  // Seconds a request may wait for its result; a client may ask for less.
  double request_timeout_s = 60;
  // The server's key pair; none: plain ZeroMQ, loopback addresses only.
  LinkKeys keys;
  // With keys: the public keys of the clients let in (at least one).
  std::set<std::string> client_keys;
};

class ZmqApi {
 public:
  ZmqApi(V2Model model, ServingQueue& queue, ServeMetrics& metrics, ZmqApiOptions options);
  ~ZmqApi();
  ZmqApi(const ZmqApi&) = delete;
  ZmqApi& operator=(const ZmqApi&) = delete;

  // Checks the options, binds (errors name the endpoint) and serves on a
  // thread of its own.
  Status Start();
  // The endpoint bound, with the port chosen (after Start).
  std::string endpoint() const { return endpoint_; }
  // Ready: requests are taken; else they are answered unavailable.
  void SetReady(bool ready) { ready_ = ready; }
  // Stops: requests still waiting for their answer get unavailable, and the
  // socket closes.
  void Stop();

 private:
  struct Impl;
  void Loop();
  std::unique_ptr<Impl> impl_;
  std::string endpoint_;
  std::thread thread_;
  std::atomic<bool> ready_{false}, stop_{false};
};

}  // namespace tandem
