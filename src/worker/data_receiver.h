// The worker's receiving end of the data path: one thread reads the data
// socket, decodes each message (activation.h) and hands it to the deployment
// its model version names. Messages for no deployment here, or for another
// stage, are dropped and counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <zmq.hpp>

#include "common/util/log.h"
#include "worker/access.h"
#include "worker/pipeline_counters.h"
#include "worker/stage_pipeline.h"

namespace tandem {

// Reads the data socket on its own thread and routes every message to the
// deployment of its model version (`lookup`; null: none here, dropped).
class DataReceiver {
 public:
  using Lookup = std::function<std::shared_ptr<StagePipeline>(uint32_t model_version)>;
  // `pull` stays owned by the caller and must not be used by it between
  // Start() and Stop().
  // With `access` (a worker with keys), a message is taken only from the
  // dispatcher or the deployment's previous hop (its handshake's user id).
  DataReceiver(zmq::socket_t* pull, Lookup lookup, PipelineCounters* counters, uint64_t max_activation_bytes,
               const WorkerAccess* access = nullptr);
  ~DataReceiver();
  void Start();
  void Stop();

 private:
  void Loop();
  void HandleMessage(const zmq::message_t& msg);

  zmq::socket_t* pull_;
  Lookup lookup_;
  PipelineCounters* counters_;
  uint64_t max_activation_bytes_;
  const WorkerAccess* access_;  // null: nothing checked
  std::atomic<bool> stop_{false};
  std::thread thread_;
  LogLimiter drop_log_;  // a peer can make every message bad
};

}  // namespace tandem
